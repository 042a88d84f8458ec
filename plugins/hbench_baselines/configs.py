"""Options of the built-in reference models: pydantic only, so listing them is cheap."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from hbench.contracts import ModelConfigCapabilities

#: Tasks tree-em reads training evidence for and answers (see `hbench_baselines.tree_em`).
TREE_EM_TASKS = ("root", "mlm", "next-token")


def _view(task_config: BaseModel) -> str | None:
    return getattr(task_config, "view", None)


class PriorConfig(BaseModel):
    """The class prior has no options: add-one smoothing is part of its definition."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: it reads no input, so sequences of any length
    capabilities: ClassVar[ModelConfigCapabilities] = ModelConfigCapabilities(variable_length=True)


class NaiveBayesConfig(BaseModel):
    """Naive Bayes with additive smoothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: the padding token is one more feature value per position: it says the length
    capabilities: ClassVar[ModelConfigCapabilities] = ModelConfigCapabilities(
        check_task=True, variable_length=True
    )

    alpha: float = Field(
        1.0,
        gt=0,
        allow_inf_nan=False,
        description="additive (Laplace) smoothing of every count (1: add-one)",
    )

    def check_task(self, task: str, task_config: BaseModel) -> str | None:
        """Why naive Bayes cannot do a task (None: it can): every unmasked token is a
        feature, so in next-token's causal view it would read the very symbol it is asked."""
        if task == "next-token" and _view(task_config) == "causal":
            return (
                "naive Bayes reads every token it is given, and the causal view gives it the"
                " answers; use the task option view=masked"
            )
        return None


class BPModelConfig(BaseModel):
    """Exact belief propagation as a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: the oracle's own answers, which take each sequence at its length
    capabilities: ClassVar[ModelConfigCapabilities] = ModelConfigCapabilities(variable_length=True)

    assume_filter: int | None = Field(
        None,
        ge=0,
        description="filter level BP assumes (default: the training data's level)",
    )


class TreeEMConfig(BaseModel):
    """Expectation-maximisation of a tree grammar of known shape (arity, depth)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    capabilities: ClassVar[ModelConfigCapabilities] = ModelConfigCapabilities(check_task=True)

    arity: int = Field(
        2, ge=2, description="children per node s; the depth is log_s of the sequence length"
    )
    per_level: bool = Field(
        True, description="one production tensor per level (false: one shared by all levels)"
    )
    iterations: int = Field(200, ge=1, description="most EM iterations per restart")
    tolerance: float = Field(
        1e-6,
        ge=0,
        allow_inf_nan=False,
        description="stop when the log-likelihood improves by less than this fraction",
    )
    restarts: int = Field(
        4,
        ge=1,
        description="random starts, each run 20 EM iterations; the most likely one goes on",
    )
    smoothing: float = Field(
        0.01,
        ge=0,
        allow_inf_nan=False,
        description="Dirichlet pseudo-count added to every production and root count",
    )

    def check_task(self, task: str, task_config: BaseModel) -> str | None:
        """Why tree-em cannot do a task (None: it can): it reads training evidence and
        answers for root, mlm and next-token only (both views)."""
        if task not in TREE_EM_TASKS:
            return f"tree-em answers the tasks {', '.join(TREE_EM_TASKS)}"
        return None
