"""Options of `lcn` and `torch-module`: pydantic only (no torch), so `hbench list models` stays
fast and a bad option is one line before anything runs.

Both train with the same loop (`training.py`), so they share `TrainingOptions`; each adds what
builds its network.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hbench.contracts import ModelConfigCapabilities

#: More passes than anyone runs: a bound that turns a typo (epochs=1e12) into a message.
MAX_EPOCHS = 100_000

#: ``package.module:Class`` (dotted import path) or ``path/to/file.py:Class``.
_IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


class TrainingOptions(BaseModel):
    """How a network is trained: AdamW on the cross-entropy of the training queries, a linear
    warm-up and a schedule, optional bf16 arithmetic, log-spaced checkpoints."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: float = Field(1e-3, gt=0, allow_inf_nan=False, description="AdamW learning rate")
    batch_size: int = Field(128, ge=1, description="sequences per step")
    epochs: int = Field(20, ge=1, le=MAX_EPOCHS, description="passes over the training set")
    min_steps: int = Field(
        0, ge=0, description="train at least this many steps (more epochs for small budgets)"
    )
    weight_decay: float = Field(
        0.0, ge=0, allow_inf_nan=False, description="AdamW's decoupled weight decay"
    )
    warmup_steps: int = Field(0, ge=0, description="linear learning-rate warm-up")
    schedule: Literal["constant", "cosine", "anneal"] = Field(
        "cosine",
        description="learning rate after warm-up: constant, cosine decay to 0, or anneal "
        "(constant, then linear to 0 over the last fifth of the steps)",
    )
    clip_norm: float | None = Field(
        None, gt=0, description="clip the gradient's global norm to this before each step"
    )
    precision: Literal["auto", "fp32", "bf16"] = Field(
        "auto",
        description="training arithmetic: bf16 mixed precision (autocast), fp32, or auto (bf16 "
        "on a GPU with bf16, fp32 on a CPU, where small networks train faster in fp32)",
    )
    n_checkpoints: int = Field(0, ge=0, description="log-spaced checkpoint calls during fit")
    eval_batch_size: int | None = Field(
        None,
        ge=1,
        description="sequences per prediction batch (default: 256 on a CPU, 4096 on a GPU)",
    )


class LCNConfig(TrainingOptions):
    """The network of the RHM sample-complexity papers: L layers whose filters each see
    ``arity`` adjacent positions with stride ``arity``, so that after L = log_arity(length)
    layers one position remains, then a linear readout.

    The defaults are sized for a 2-core CPU: on rhm-cpu (P = 2^14, length 16, q = 8) trained
    at level 0, width 64 and 10 epochs reach BP's accuracy (`hbench run`, seed 0: normalised
    accuracy 0.996 unshared, 1.000 shared; KL to BP 0.032 and 0.004 bits) in 2-3 s a fit on
    one idle core (15-25 s on a heavily shared machine); width 128 gains little (1.000
    unshared) for 1.4x the time."""

    capabilities: ClassVar[ModelConfigCapabilities] = ModelConfigCapabilities(
        check_task=True, estimated_bytes=True
    )

    arity: int = Field(
        2, ge=2, description="the tree's arity s: filter size and stride; length = s**layers"
    )
    width: int = Field(64, ge=1, description="channels H of every layer")
    shared: bool = Field(
        False,
        description="one filter per layer at every patch (the convolutional network); false: "
        "a filter of its own at every patch (locally connected)",
    )
    embedding: Literal["onehot", "learned"] = Field(
        "onehot", description="input: one-hot of the symbols, or a learned embedding"
    )
    embedding_dim: int | None = Field(
        None, ge=1, description="size of a learned embedding (default: width)"
    )
    init_scale: float = Field(
        1.0,
        gt=0,
        allow_inf_nan=False,
        description="multiplies every initial weight (1: He initialisation of the ReLU layers,"
        " standard deviation 1/sqrt(fan-in) of the readout)",
    )
    lr: float = Field(3e-3, gt=0, allow_inf_nan=False, description="AdamW learning rate")
    epochs: int = Field(10, ge=1, le=MAX_EPOCHS, description="passes over the training set")

    def check_task(self, task: str, task_config: BaseModel) -> str | None:
        """Why the network cannot do a task (None: it can): its layers end in one position,
        the root, and it has no per-position readout."""
        if task != "root":
            return "its layers end in one position (the root); it answers the task root only"
        return None

    def estimated_bytes(self, *, q: int, length: int, P: int) -> float:
        """Memory training needs, roughly: weights, gradients and AdamW's two moments (16
        bytes a parameter) and one batch's activations, so ``width=10**6`` is refused before
        it starts."""
        layers = max(1, round(math.log(max(length, 2)) / math.log(self.arity)))
        width, channels = self.width, q + 1
        if self.embedding == "learned":
            channels = self.embedding_dim or width
        parameters, positions = (q + 1) * channels, length
        for _ in range(layers):
            positions = max(1, positions // self.arity)
            filters = 1 if self.shared else positions
            parameters += filters * (channels * self.arity + 1) * width
            channels = width
        parameters += (width + 1) * q
        activations = self.batch_size * (length * channels + 2 * length * width)
        return 16.0 * parameters + 4.0 * 2 * activations


class TorchModuleOptions(TrainingOptions):
    """Training options of a user's ``nn.Module``, and the keyword arguments it is built with."""

    module_args: dict[str, Any] = Field(
        default_factory=dict,
        description="keyword arguments of the module's class (a JSON object), besides those "
        "hbench passes from the task (vocab_size, length, q, task, mask_id: whichever the "
        "constructor names)",
    )


class TorchModuleConfig(TorchModuleOptions):
    """Any ``torch.nn.Module`` that maps token ids (batch, length) int64 to logits: (batch, q)
    for questions about a whole sequence (root), (batch, length, q) for questions about a
    position (mlm, next-token), trained by hbench's loop."""

    module: str = Field(
        description="the module's class: package.module:Class (importable where the model "
        "runs) or path/to/file.py:Class"
    )

    @field_validator("module")
    @classmethod
    def _import_path(cls, value: str) -> str:
        """``where:Class`` with a dotted import path or an existing .py file; a file becomes
        an absolute path, so that the worker (another folder) finds it and its sandbox binds
        it."""
        where, colon, name = value.rpartition(":")
        if not colon or not where or not _NAME.match(name):
            raise ValueError("must be package.module:Class or path/to/file.py:Class")
        if where.endswith(".py"):
            path = Path(where).expanduser()
            if not path.is_file():
                raise ValueError(f"names no file {where} (path/to/file.py:Class)")
            return f"{path.resolve()}:{name}"
        if not _IMPORT_PATH.match(where):
            raise ValueError("must be package.module:Class or path/to/file.py:Class")
        return value
