"""What hbench's torch models share: seeding, the learning-rate schedule, checkpoint steps,
prediction batches, the epoch loop, and the sinusoidal position table.

A library of helpers, registered as no plugin: the encoder (``hbench_transformer``) and the
decoder (``hbench_gpt``) both import it, and neither imports the other. A third-party torch
model may use it too (``pip install 'hbench[torch]'``); it imports torch.
"""
