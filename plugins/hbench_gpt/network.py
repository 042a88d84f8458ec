"""A decoder-only transformer (GPT) in one readable file, after nanoGPT's model.py.

    tokens (B, T) -> token embedding + positions (learned or sinusoidal)    (B, T, C)
                  -> n_layers x [x = x + attn(LN(x)); x = x + mlp(LN(x))]     (B, T, C)
                  -> final LayerNorm                                         (B, T, C)
                  -> a head, by `readout`:
                     "next":      linear per token           -> (B, T, q) next-symbol logits
                     "sequence":  linear at the last token   -> (B, q)    e.g. the root
                     "positions": linear at the last token   -> (B, L, q) one answer per leaf

Causal self-attention: token t attends to tokens 0..t only, so the output at t is a function of
the prefix. The model plugin prepends a start token (BOS) so that the output at t predicts
symbol t from symbols 0..t-1; a question about the whole sequence (its root, every leaf's
ancestor) is read at the last token, the only one that has seen every symbol. Attention is
written out, not delegated, when its weights are asked for (analyses); otherwise the fused
kernel runs.

Sequences of varying length come with their ``lengths`` (B,): attention is causal and masks
the padding as keys, a whole-sequence question is read at each sequence's last real token, and
with ``GPTConfig.lengths`` a learned embedding of the length is added at every position, since
the exact next-symbol answers of such sequences are given their length (it is an input, like
the padding, not a symbol that follows).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hbench_torch.layers import sinusoidal_positions

READOUTS = ("next", "sequence", "positions")


@dataclass(frozen=True)
class GPTConfig:
    """The network's shape. `preset` gives the named sizes (see `hbench_gpt.configs.PRESETS`)."""

    vocab_size: int  # input tokens, the start token included
    block_size: int  # the longest input (the start token included)
    n_classes: int  # q: every answer is a distribution over q symbols
    length: int  # leaves per sequence (answers per row of the "positions" head)
    readout: str = "next"  # "next", "sequence" or "positions" (see the module docstring)
    d_model: int = 64
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 256
    dropout: float = 0.0
    positions: str = "learned"  # "learned" or "sinusoidal"
    lengths: bool = False  # sequences vary in length: a learned embedding of it as an input

    @classmethod
    def preset(cls, name: str, **fields) -> GPTConfig:
        from .configs import ARCHITECTURE, PRESETS

        sizes = {key: PRESETS[name][key] for key in ARCHITECTURE}
        return cls(**{**sizes, **fields})

    def as_dict(self) -> dict:
        return asdict(self)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.n_heads, self.dropout = config.n_heads, config.dropout
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model)
        self.proj = nn.Linear(config.d_model, config.d_model)
        self.resid_drop = nn.Dropout(config.dropout)
        mask = torch.tril(torch.ones(config.block_size, config.block_size, dtype=torch.bool))
        self.register_buffer("causal", mask, persistent=False)  # (block, block)

    def forward(
        self, x: torch.Tensor, need_weights: bool = False, keep: torch.Tensor | None = None
    ):
        """``keep`` (B, T) bool: the real tokens, the only keys attended to besides the causal
        mask (None: all)."""
        B, T, C = x.shape
        H, D = self.n_heads, C // self.n_heads
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        p = self.dropout if self.training else 0.0
        allowed = self.causal[:T, :T]  # (T, T), or (B, 1, T, T) with the padding masked
        if keep is not None:  # the start token is real, so no row is left without a key
            allowed = allowed[None, None] & keep[:, None, None, :]
        if need_weights:  # (B, H, T, T) explicitly, for analyses
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(D)
            scores = scores.masked_fill(~allowed, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            y = F.dropout(weights, p, self.training) @ v
        elif keep is None:
            weights = None
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            weights = None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.resid_drop(self.proj(y)), weights


class MLP(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.up = nn.Linear(config.d_model, config.d_ff)
        self.down = nn.Linear(config.d_ff, config.d_model)
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.down(F.gelu(self.up(x))))  # (B, T, C)


class Block(nn.Module):
    """Pre-LayerNorm: each sublayer reads a normalised copy and adds to the residual stream."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.d_model)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.d_model)
        self.mlp = MLP(config)

    def forward(
        self, x: torch.Tensor, need_weights: bool = False, keep: torch.Tensor | None = None
    ):
        attended, weights = self.attn(self.ln_1(x), need_weights, keep)
        x = x + attended
        x = x + self.mlp(self.ln_2(x))
        return x, weights


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if config.readout not in READOUTS:
            raise ValueError(f"readout {config.readout!r}: expected one of {READOUTS}")
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        if config.positions == "learned":
            self.pos_emb = nn.Parameter(torch.zeros(config.block_size, config.d_model))
            nn.init.normal_(self.pos_emb, std=0.02)
        else:
            table = sinusoidal_positions(config.block_size, config.d_model)
            self.register_buffer("pos_emb", table, persistent=False)
        if config.lengths:  # a length is at most block_size - 1 symbols
            self.len_emb = nn.Embedding(config.block_size, config.d_model)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        outputs = config.n_classes * (config.length if config.readout == "positions" else 1)
        self.head = nn.Linear(config.d_model, outputs)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2: scaled init of residual projections
            if name.endswith(("proj.weight", "down.weight")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layers))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def body(
        self,
        tokens: torch.Tensor,
        need_weights: bool = False,
        keep_hidden: bool = False,
        lengths: torch.Tensor | None = None,
    ):
        """Final token vectors (B, T, C) after the last LayerNorm; with the flags also every
        layer's attention weights (B, H, T, T) and residual stream (the embedding is layer 0).
        ``lengths`` (B,): the symbols of padded sequences (the start token and that many
        symbols are real), needed when the config has ``lengths``."""
        steps = tokens.shape[1]
        if steps > self.config.block_size:
            raise ValueError(f"{steps} tokens, but the block size is {self.config.block_size}")
        if self.config.lengths and lengths is None:
            raise ValueError("this network takes padded sequences: give their lengths")
        x = self.tok_emb(tokens) + self.pos_emb[:steps]  # (B, T, C)
        keep = None
        if lengths is not None:
            keep = torch.arange(steps, device=tokens.device) <= lengths[:, None]
            if self.config.lengths:
                x = x + self.len_emb(lengths)[:, None, :]
        x = self.drop(x)
        hidden, attention = ([x] if keep_hidden else []), []
        for block in self.blocks:
            x, weights = block(x, need_weights, keep)
            if need_weights:
                attention.append(weights)
            if keep_hidden:
                hidden.append(x)
        return self.ln_f(x), attention, hidden

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits: (B, T, q) for "next", (B, q) for "sequence", (B, L, q) for "positions";
        ``lengths``: see `body` (a whole-sequence answer is read at the last real symbol)."""
        x, _, _ = self.body(tokens, lengths=lengths)
        if self.config.readout == "next":
            return self.head(x)  # (B, T, q)
        if lengths is None:
            last = self.head(x[:, -1])  # (B, q) or (B, L * q)
        else:  # the start token is at 0, symbol i at i + 1
            last = self.head(x[torch.arange(x.shape[0], device=x.device), lengths])
        if self.config.readout == "sequence":
            return last
        return last.view(-1, self.config.length, self.config.n_classes)  # (B, L, q)
