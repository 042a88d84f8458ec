"""Options of the transformer: pydantic only (no torch), so `hbench list models` stays fast.

A preset names a whole configuration; any field given explicitly overrides it. `resolved()`
returns the concrete numbers the model trains with, and is what a result records.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hbench.contracts import ModelConfigCapabilities

#: Named configurations. `paper`: the paper's sizes (GPU). `cpu`: sized for a 2-core CPU by
#: measuring accuracy against training spent at k = 0, P = 2^14 (batch 128 at lr 3e-3 with
#: warm-up reached 0.90 of BP's 1.0 at 34 s and 0.98 at 56 s; batch 64 only 0.87 at 61 s;
#: d_model 64 0.69 at 50 s; a cosine decay over the same 30 epochs 0.87 against the constant
#: rate's 0.94): 30 epochs take about 46 s per training level there. See
#: benchmarks/README.md for the grid and the paper-size runs. mlm, with fresh masks every
#: epoch, is the other way round: 24 epochs with a cosine decay beat 30 at a constant rate at
#: every level but k = 2 (0.74, 0.78, 0.78, 0.94, 1.02 against 0.64, 0.63, 0.77, 0.85, 0.93).
#: root ends with `anneal` (the rate falls linearly to 0 over the last fifth of the steps) and
#: clips the gradient's norm to 1: at the constant rate a fit can collapse to chance (one of 25
#: fits of a 5-grammar official run, seed 1 at k = 4: normalised accuracy 0.001; replayed on its
#: grammar, -0.008 at the constant rate and 0.973 with anneal and clipping, and 0.755 against
#: 0.697 at k = 1), and on the public grammar anneal and clipping train better at every level
#: (main job: 0.968, 0.878, 0.896, 0.952, 0.982 at k = 0..4 against 0.939, 0.872, 0.890, 0.945,
#: 0.975). mlm keeps its cosine decay and no clipping (``clip_norm`` from a preset is root's).
PRESETS: dict[str, dict] = {
    "paper": {
        "d_model": 128,
        "n_layers": 4,
        "n_heads": 1,
        "d_ff": 2048,
        "dropout": 0.1,
        "lr": 1e-4,
        "batch_size": 32,
        "epochs": 200,
        "epochs_mlm": 2000,
        "warmup_steps": 0,
        "schedule": "constant",
        "schedule_mlm": "constant",
        "clip_norm": None,
        "precision": "fp32",
    },
    "cpu": {
        "d_model": 32,
        "n_layers": 4,
        "n_heads": 1,
        "d_ff": 128,
        "dropout": 0.0,
        "lr": 3e-3,
        "batch_size": 128,
        "epochs": 30,
        "epochs_mlm": 24,
        "warmup_steps": 200,
        "schedule": "anneal",
        "schedule_mlm": "cosine",
        "clip_norm": 1.0,
        "precision": "auto",
    },
}


#: More passes than anyone runs (the paper used at most 2000): a bound that turns a typo
#: (epochs=1e12) into a message instead of a run that never ends.
MAX_EPOCHS = 100_000


class TransformerConfig(BaseModel):
    """Encoder-only transformer of the paper (post-LayerNorm, sinusoidal positions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    capabilities: ClassVar[ModelConfigCapabilities] = ModelConfigCapabilities(
        check_task=True, estimated_bytes=True, variable_length=True
    )

    preset: Literal["cpu", "paper"] = Field("cpu", description="named sizes; fields override")
    d_model: int | None = Field(None, ge=1, description="width of token vectors")
    n_layers: int | None = Field(None, ge=1, description="encoder blocks")
    n_heads: int | None = Field(None, ge=1, description="attention heads (divides d_model)")
    d_ff: int | None = Field(None, ge=1, description="hidden width of the feed-forward layer")
    dropout: float | None = Field(None, ge=0, lt=1, description="dropout probability")
    lr: float | None = Field(None, gt=0, description="Adam learning rate")
    batch_size: int | None = Field(None, ge=1, description="sequences per step")
    epochs: int | None = Field(
        None, ge=1, le=MAX_EPOCHS, description="passes over the training set (root)"
    )
    epochs_mlm: int | None = Field(
        None, ge=1, le=MAX_EPOCHS, description="passes over the training set (mlm)"
    )
    warmup_steps: int | None = Field(None, ge=0, description="linear learning-rate warm-up")
    min_steps: int = Field(
        0, ge=0, description="train at least this many steps (more epochs for small budgets)"
    )
    schedule: Literal["constant", "cosine", "anneal"] | None = Field(
        None,
        description="learning rate after warm-up: constant, cosine decay to 0, or anneal "
        "(constant, then linear to 0 over the last fifth of the steps) (root)",
    )
    schedule_mlm: Literal["constant", "cosine", "anneal"] | None = Field(
        None, description="learning rate after warm-up for mlm"
    )
    clip_norm: float | None = Field(
        None,
        ge=0,
        description="clip the gradient's global norm to this before each step, 0 never "
        "(default: the preset's, for root only: 1.0 at cpu)",
    )
    pooling: Literal["flatten", "mean"] = Field("flatten", description="root head input")
    remask: bool = Field(
        True,
        description="mlm: draw fresh mask positions every epoch (as many per sequence as given)",
    )
    train_masks: int | None = Field(
        None,
        ge=1,
        description="mlm with remask: mask this many positions of every training sequence "
        "(default: as many as the task masked)",
    )
    precision: Literal["auto", "fp32", "bf16"] | None = Field(
        None,
        description="training arithmetic: bf16 mixed precision (autocast), fp32, or auto (bf16 "
        "where the device has native bf16 and the model is wide enough for it to pay)",
    )
    compile: bool = Field(
        False, description="torch.compile the training step (falls back to eager if it fails)"
    )
    init: Path | None = Field(None, description="start from this saved encoder (.pt)")
    freeze_encoder: bool = Field(False, description="with init: train only the new head")
    save: Path | None = Field(None, description="save the trained model here (.pt)")
    n_checkpoints: int = Field(0, ge=0, description="log-spaced checkpoint calls during fit")
    eval_batch_size: int | None = Field(
        None,
        ge=1,
        description="sequences per prediction batch (default: 256 on a CPU, 4096 on a GPU)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TransformerConfig:
        shape = self.resolved()
        if shape["d_model"] % shape["n_heads"]:
            raise ValueError(
                f"d_model={shape['d_model']} must be divisible by n_heads={shape['n_heads']}"
            )
        if self.train_masks is not None and not self.remask:
            raise ValueError("train_masks needs remask=true (masks drawn from complete sequences)")
        if self.freeze_encoder and self.init is None:
            raise ValueError("freeze_encoder=true needs init=<saved encoder>")
        return self

    def check_task(self, task: str, task_config: BaseModel) -> str | None:
        """Why the encoder cannot do a task (None: it can), asked before anything runs: it
        has a root head and a per-position head for masked leaves, nothing else."""
        if task not in ("root", "mlm"):
            return "the encoder has heads for root and mlm only (gpt does next-token)"
        return None

    def estimated_bytes(self, *, q: int, length: int, P: int) -> float:
        """Memory training needs, roughly: weights, gradients and Adam's two moments (16 bytes
        a parameter) and one batch's activations; hbench refuses a run that cannot fit before
        it starts (``d_model=100000`` is some 10^12 bytes, not an allocation failure later)."""
        shape = self.resolved()
        d, layers, d_ff = shape["d_model"], shape["n_layers"], shape["d_ff"]
        heads, batch = shape["n_heads"], shape["batch_size"]
        parameters = layers * (4 * d * d + 2 * d * d_ff + 9 * d) + (q + 2) * d + length * d * q
        activations = batch * layers * length * (12 * d + 2 * d_ff + 3 * heads * length)
        return 16.0 * parameters + 4.0 * 2 * activations

    def resolved(self) -> dict:
        """The preset with every explicitly given field applied."""
        values = dict(PRESETS[self.preset])
        for key in values:
            given = getattr(self, key)
            if given is not None:
                values[key] = given
        values.update(pooling=self.pooling)
        return values
