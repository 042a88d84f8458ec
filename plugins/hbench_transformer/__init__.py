"""The vanilla encoder-only transformer of the paper, as an hbench model plugin."""
