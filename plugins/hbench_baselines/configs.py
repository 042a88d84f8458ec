"""Options of the built-in reference models: pydantic only, so listing them is cheap."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PriorConfig(BaseModel):
    """The class prior has no options: add-one smoothing is part of its definition."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NaiveBayesConfig(BaseModel):
    """Naive Bayes with additive smoothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    alpha: float = Field(
        1.0,
        gt=0,
        allow_inf_nan=False,
        description="additive (Laplace) smoothing of every count (1: add-one)",
    )


class BPModelConfig(BaseModel):
    """Exact belief propagation as a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    assume_filter: int | None = Field(
        None,
        ge=0,
        description="filter level BP assumes (default: the training data's level)",
    )
