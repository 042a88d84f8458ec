"""Options of the tree network: pydantic only (no torch), so listing models stays fast."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TreeNetConfig(BaseModel):
    """A tree-shaped sum-product network trained on the task's cross-entropy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channels: int | None = Field(
        None, ge=1, le=64, description="latent states per node (default 2q; q suffices to be exact)"
    )
    share: Literal["node", "level", "all"] = Field(
        "node", description="one merge table per node, per level, or for the whole tree"
    )
    epochs: int = Field(10, ge=1, description="passes over the training set")
    batch_size: int = Field(256, ge=1, description="sequences per step")
    lr: float = Field(0.05, gt=0, allow_inf_nan=False, description="Adam learning rate")
    init_scale: float = Field(
        1.0, ge=0, allow_inf_nan=False, description="std of the initial table logits"
    )
