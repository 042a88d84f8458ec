"""A decoder-only (GPT) transformer as an hbench model plugin: `network.py` is the architecture
in one file, `model.py` trains it under the model contract, `configs.py` holds its options."""
