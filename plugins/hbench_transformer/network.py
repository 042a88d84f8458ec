"""The encoder-only transformer of the paper, in one readable file.

    tokens (B, L) -> embedding + sinusoidal positions (B, L, d)
                  -> n_layers x [x = LN(x + attention(x)); x = LN(x + feed_forward(x))]
                  -> root head: flatten (B, L*d) or mean (B, d) -> linear -> (B, q) logits
                  -> mlm head: linear per token -> (B, L, q) logits

Post-LayerNorm blocks, single-head attention by default, ReLU feed-forward, dropout, as in
Garnier-Brun et al. (ICML 2025). Attention is written out, not delegated, so that its weights
can be returned for analysis; the fast fused kernel is used when they are not asked for.

Sequences of varying length come with ``keep`` (B, L), True at the real tokens: attention
ignores the padding as keys (a key padding mask), the root head pools over the real tokens
only (the mean over them; flatten zeroes the padding's vectors), and a batch may be cut to its
longest sequence (L below the full length: the flatten head sees zeros beyond it), so that a
sequence's answers do not depend on what it is batched with.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from hbench_torch.layers import sinusoidal_positions

from .acceleration import Dropout, dropout


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads, self.dropout = n_heads, dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(
        self, x: torch.Tensor, need_weights: bool = False, keep: torch.Tensor | None = None
    ):
        """``keep`` (B, L) bool: the real tokens, the only keys attended to (None: all)."""
        batch, length, d_model = x.shape
        heads, d_head = self.n_heads, d_model // self.n_heads
        q, k, v = self.qkv(x).split(d_model, dim=2)
        q, k, v = (t.view(batch, length, heads, d_head).transpose(1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        keys = None if keep is None else keep[:, None, None, :]  # (B, 1, 1, L)
        if need_weights or (p > 0 and x.device.type == "cpu"):  # (B, H, L, L) explicitly:
            # for analyses, and on a CPU for the cheaper dropout (its fused kernel has none)
            scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)
            if keys is not None:
                scores = scores.masked_fill(~keys, float("-inf"))
            weights = torch.softmax(scores, dim=-1, dtype=torch.float32)  # fp32 under bf16 too
            y = dropout(weights, p, self.training).to(v.dtype) @ v
            weights = weights if need_weights else None
        else:
            weights = None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=keys, dropout_p=p)
        y = y.transpose(1, 2).reshape(batch, length, d_model)
        return self.out(y), weights


class Block(nn.Module):
    """Post-LayerNorm encoder block, as in the original transformer and the paper."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.attention = SelfAttention(d_model, n_heads, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model)
        )
        self.norm2 = nn.LayerNorm(d_model)
        self.drop = Dropout(dropout)

    def forward(
        self, x: torch.Tensor, need_weights: bool = False, keep: torch.Tensor | None = None
    ):
        attended, weights = self.attention(x, need_weights, keep)
        x = self.norm1(x + self.drop(attended))
        x = self.norm2(x + self.drop(self.feed_forward(x)))
        return x, weights


class Encoder(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        length: int,
        d_model: int,
        n_layers: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, d_model)
        self.register_buffer("positions", sinusoidal_positions(length, d_model), persistent=False)
        self.drop = Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, dropout) for _ in range(n_layers))

    def forward(
        self,
        tokens: torch.Tensor,
        need_weights: bool = False,
        keep_hidden: bool = False,
        keep: torch.Tensor | None = None,
    ):
        """Final token vectors (B, L, d); with the flags also every layer's attention weights
        (B, H, L, L) and hidden states (the embedding output is layer 0). ``keep`` (B, L):
        the real tokens of padded sequences (None: every token is real)."""
        x = self.drop(self.embedding(tokens) + self.positions[: tokens.shape[1]])
        hidden, attention = ([x] if keep_hidden else []), []
        for block in self.blocks:
            x, weights = block(x, need_weights, keep)
            if need_weights:
                attention.append(weights)
            if keep_hidden:
                hidden.append(x)
        return x, attention, hidden


class Transformer(nn.Module):
    """Encoder plus the task's head: (B, q) logits for root, (B, L, q) for mlm."""

    def __init__(
        self,
        *,
        task: str,
        q: int,
        vocab_size: int,
        length: int,
        d_model: int,
        n_layers: int,
        n_heads: int,
        d_ff: int,
        dropout: float,
        pooling: str = "flatten",
    ) -> None:
        super().__init__()
        self.task, self.pooling, self.length = task, pooling, length
        self.encoder = Encoder(vocab_size, length, d_model, n_layers, n_heads, d_ff, dropout)
        if task == "mlm":
            self.head = nn.Linear(d_model, q)
        elif pooling == "flatten":
            self.head = nn.Linear(length * d_model, q)
        else:
            self.head = nn.Linear(d_model, q)

    def forward(self, tokens: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of ``tokens`` (B, L); ``keep`` (B, L) marks the real tokens of padded
        sequences (None: all real), L may be below the full length for such a batch."""
        x, _, _ = self.encoder(tokens, keep=keep)
        if self.task == "mlm":
            return self.head(x)
        if keep is None:
            pooled = x.flatten(1) if self.pooling == "flatten" else x.mean(dim=1)
            return self.head(pooled)
        real = keep[:, :, None].to(x.dtype)
        if self.pooling == "mean":
            return self.head((x * real).sum(dim=1) / real.sum(dim=1))
        x = F.pad(x * real, (0, 0, 0, self.length - x.shape[1]))  # zeros to the full length
        return self.head(x.flatten(1))
