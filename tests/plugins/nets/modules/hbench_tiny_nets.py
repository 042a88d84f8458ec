"""Plain torch modules, as a researcher writes them, for the `torch-module` model's tests: no
hbench import. The tests put this folder on ``sys.path`` and ``PYTHONPATH``, so that a worker
process imports them by name (``module=hbench_tiny_nets:BagOfTokens``)."""

from __future__ import annotations

import torch


class FlatMLP(torch.nn.Module):
    """Root logits (batch, q) from the concatenated token embeddings through one hidden layer."""

    def __init__(self, vocab_size: int, length: int, q: int, width: int = 32) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, 4)
        self.hidden = torch.nn.Linear(4 * length, width)
        self.out = torch.nn.Linear(width, q)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(torch.relu(self.hidden(self.embed(tokens).flatten(1))))


class PerPosition(torch.nn.Module):
    """Logits at every position (batch, length, q), for mlm: a small MLP over the sequence."""

    def __init__(self, vocab_size: int, length: int, q: int) -> None:
        super().__init__()
        self.length, self.q = length, q
        self.embed = torch.nn.Embedding(vocab_size, 8)
        self.mix = torch.nn.Linear(8 * length, length * q)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        flat = self.embed(tokens).flatten(1)
        return self.mix(flat).view(-1, self.length, self.q)


class WrongShape(torch.nn.Module):
    """Answers one logit too many: the shape check's example."""

    def __init__(self, vocab_size: int, q: int) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(vocab_size, q + 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embed(tokens).mean(dim=1)
