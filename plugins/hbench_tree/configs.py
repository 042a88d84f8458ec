"""Options of the tree grammar, filter and oracle: pydantic only, so listing them is cheap."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .grammar import MAX_DEPTH


class HierarchicalGrammarConfig(BaseModel):
    """The paper's random binary tree grammar, or an explicit production tensor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: int | None = Field(
        None, ge=2, description="vocabulary size (default 4, or that of productions)"
    )
    depth: int = Field(4, ge=1, le=MAX_DEPTH, description="tree depth l: sequences of 2**l leaves")
    sigma: float = Field(1.0, ge=0, allow_inf_nan=False, description="scale of the log-weights")
    seed: int = Field(0, ge=0, description="grammar seed (which random grammar)")
    productions: Path | None = Field(None, description=".npy tensor M[a, b, c] of shape (q, q, q)")
    root_prior: Path | None = Field(None, description=".npy root prior of shape (q,)")

    @model_validator(mode="after")
    def _random_or_explicit(self) -> HierarchicalGrammarConfig:
        if self.productions is None:
            if self.q is None:
                object.__setattr__(self, "q", 4)
        elif {"sigma", "seed"} & self.model_fields_set:
            raise ValueError(
                "sigma and seed draw a random grammar: leave them out with productions"
            )
        return self


class HierarchicalFilterConfig(BaseModel):
    """Hierarchical filtering; the level k is given when the filter is applied."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BPConfig(BaseModel):
    """Exact belief propagation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workers: int | None = Field(None, ge=1, description="threads (default: one per core, up to 8)")
