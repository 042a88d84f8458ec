"""Options of the built-in tasks: pydantic only, so listing them is cheap."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RootTaskConfig(BaseModel):
    """Root classification has no options: every leaf is seen, the root is asked."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class MLMTaskConfig(BaseModel):
    """Masked leaf prediction."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mask_rate: float | None = Field(
        None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description=(
            "expected fraction of leaves masked, at least one block per sequence"
            " (default: exactly one uniformly placed block per sequence)"
        ),
    )
    span: int = Field(
        1,
        ge=1,
        description="leaves per masked block: contiguous spans of this many leaves (1: single)",
    )


class AncestorTaskConfig(BaseModel):
    """The ancestor of every leaf at one depth of the tree."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    depth: int = Field(
        1,
        ge=0,
        description=(
            "depth d of the asked ancestors: 0 (the root) to depth - 1 (the leaves' parents);"
            " filter levels above d have no nodes at depth d"
        ),
    )


class NextTokenTaskConfig(BaseModel):
    """Next-token prediction: P(x_i | x_0 .. x_{i-1}) at every position i."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    view: Literal["causal", "masked"] = Field(
        "causal",
        description=(
            "causal: whole sequences in, a query at every position, the model promises to use"
            " only the prefix (decoder-only models); masked: one row per position with the"
            " position and everything after it masked (any model)"
        ),
    )


class DenoiseTaskConfig(BaseModel):
    """Denoising: the leaves pass through a q-ary symmetric channel before the model sees them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epsilon: float = Field(
        0.1,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="channel noise: a leaf is replaced by one of the q - 1 other symbols with"
        " probability epsilon, in [0, 1 - 1/q] (1 - 1/q: the output is independent of the input)",
    )
    target: Literal["leaves", "root"] = Field(
        "leaves", description="leaves: every clean leaf is asked; root: the root is asked"
    )


class GenerateTaskConfig(BaseModel):
    """Generation: trained as next-token (causal), then the model's own sequences are scored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    samples: int = Field(
        4096,
        ge=1,
        le=1 << 20,
        description="sequences the model draws after each fit (at most the suite's n_test)",
    )
    ngram: int = Field(
        3, ge=1, le=6, description="order n of the n-gram laws compared (orders 1..n recorded)"
    )
