"""Network pieces both torch models use."""

from __future__ import annotations

import math

import torch


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """(length, d_model): the fixed encoding of Vaswani et al., added to the embeddings."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(1e4) / d_model)
    )
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: d_model // 2])
    return table
