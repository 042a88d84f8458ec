"""Two torch models as an hbench plugin: `lcn`, the locally connected (and the weight-shared
convolutional) network of the Random Hierarchy Model's sample-complexity papers, and
`torch-module`, which trains any ``torch.nn.Module`` from token ids to logits.

`configs.py` holds their options (pydantic only, no torch, so listing models stays fast),
`training.py` the training loop both share, `lcn.py` and `torch_module.py` the models.
"""
