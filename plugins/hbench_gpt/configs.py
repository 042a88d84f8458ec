"""Options of the gpt model: pydantic only (no torch), so `hbench list models` stays fast.

A preset names a whole configuration, architecture and training; any field given explicitly
overrides it. `resolved()` returns the concrete numbers the model trains with, which a result
records.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hbench.contracts import ModelConfigCapabilities

#: Named configurations. `cpu`: sized for a 2-core CPU on the cpu suite's next-token task
#: (q = 4, 16 leaves, P = 2^14 sequences). `paper`: the encoder's paper sizes (d_model 128,
#: 4 layers, feed-forward 2048) as a decoder with 8 heads, for a GPU.
PRESETS: dict[str, dict] = {
    "cpu": {
        "d_model": 64,
        "n_layers": 4,
        "n_heads": 4,
        "d_ff": 256,
        "dropout": 0.0,
        "positions": "learned",
        "lr": 3e-3,
        "weight_decay": 0.01,
        "batch_size": 128,
        "epochs": 20,
        "warmup_steps": 100,
        "schedule": "cosine",
    },
    "paper": {
        "d_model": 128,
        "n_layers": 4,
        "n_heads": 8,
        "d_ff": 2048,
        "dropout": 0.1,
        "positions": "learned",
        "lr": 3e-4,
        "weight_decay": 0.1,
        "batch_size": 256,
        "epochs": 200,
        "warmup_steps": 1000,
        "schedule": "cosine",
    },
}

#: The options that decide the network's shape (the rest only decide how it trains).
ARCHITECTURE = ("d_model", "n_layers", "n_heads", "d_ff", "dropout", "positions")


#: More passes than anyone runs (the paper used at most 2000): a bound that turns a typo
#: (epochs=1e12) into a message instead of a run that never ends.
MAX_EPOCHS = 100_000


class GPTModelConfig(BaseModel):
    """Decoder-only transformer: causal self-attention, pre-LayerNorm blocks (nanoGPT)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: padded inputs: causal and padding masks, the length as an input (`hbench_gpt.network`)
    capabilities: ClassVar[ModelConfigCapabilities] = ModelConfigCapabilities(variable_length=True)

    preset: Literal["cpu", "paper"] = Field("cpu", description="named sizes; fields override")
    d_model: int | None = Field(None, ge=1, description="width of token vectors")
    n_layers: int | None = Field(None, ge=1, description="decoder blocks")
    n_heads: int | None = Field(None, ge=1, description="attention heads (divides d_model)")
    d_ff: int | None = Field(None, ge=1, description="hidden width of the feed-forward layer")
    dropout: float | None = Field(None, ge=0, lt=1, description="dropout probability")
    positions: Literal["learned", "sinusoidal"] | None = Field(
        None, description="position encoding: a learned table or the fixed sinusoids"
    )
    lr: float | None = Field(None, gt=0, description="AdamW peak learning rate")
    weight_decay: float | None = Field(None, ge=0, description="AdamW decoupled weight decay")
    batch_size: int | None = Field(None, ge=1, description="sequences per step")
    epochs: int | None = Field(
        None, ge=1, le=MAX_EPOCHS, description="passes over the training set"
    )
    warmup_steps: int | None = Field(None, ge=0, description="linear learning-rate warm-up")
    schedule: Literal["constant", "cosine"] | None = Field(
        None, description="learning rate after warm-up: constant, or cosine decay to 0"
    )
    min_steps: int = Field(
        0, ge=0, description="train at least this many steps (more epochs for small budgets)"
    )
    grad_clip: float = Field(1.0, ge=0, description="clip the gradient norm (0: never)")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32", description="bf16: mixed precision (autocast), for GPUs"
    )
    save: Path | None = Field(None, description="save the trained model here (.pt)")
    n_checkpoints: int = Field(0, ge=0, description="log-spaced checkpoint calls during fit")
    eval_batch_size: int | None = Field(
        None,
        ge=1,
        description="sequences per prediction batch (default: 256 on a CPU, 4096 on a GPU)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> GPTModelConfig:
        shape = self.resolved()
        if shape["d_model"] % shape["n_heads"]:
            raise ValueError(
                f"d_model={shape['d_model']} must be divisible by n_heads={shape['n_heads']}"
            )
        return self

    def resolved(self) -> dict:
        """The preset with every explicitly given field applied."""
        values = dict(PRESETS[self.preset])
        for key in values:
            given = getattr(self, key)
            if given is not None:
                values[key] = given
        return values
