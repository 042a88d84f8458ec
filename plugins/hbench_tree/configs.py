"""Options of the tree grammar, filter and oracle: pydantic only, so listing them is cheap."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from .grammar import AUTHORS_MAX_SEED, MAX_DEPTH

#: Most numbers the production tensors of one grammar may hold (8 bytes each): 2**28 is 2 GiB.
MAX_TENSOR_NUMBERS = 1 << 28


class HierarchicalGrammarConfig(BaseModel):
    """The paper's random tree grammar (binary, one shared tensor by default), or an explicit
    production tensor; ``arity``, ``per_level``, ``ambiguity`` and ``classes`` generalise it and
    default to the paper's grammar, bit for bit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: int | None = Field(
        None, ge=2, description="vocabulary size (default 4, or that of productions)"
    )
    depth: int = Field(4, ge=1, le=MAX_DEPTH, description="tree depth l: sequences of s**l leaves")
    sigma: float = Field(1.0, ge=0, allow_inf_nan=False, description="scale of the log-weights")
    seed: int = Field(0, ge=0, description="grammar seed (which random grammar)")
    productions: Path | None = Field(
        None, description=".npy tensor M[a, b, c] of shape (q, q, q) (q**(s+1) for arity s)"
    )
    root_prior: Path | None = Field(None, description=".npy root prior of shape (q,)")
    arity: int = Field(2, ge=2, description="children per node s: sequences of s**depth leaves")
    per_level: bool = Field(
        False, description="one production tensor per level (depth, q, ...) instead of one shared"
    )
    ambiguity: float = Field(
        0.0, ge=0, le=1, description="fraction of child tuples that a second parent also produces"
    )
    classes: int | None = Field(
        None, ge=1, description="root classes n_c <= q: the root is uniform on 0..n_c-1"
    )
    rng: Literal["numpy", "authors"] = Field(
        "numpy",
        description="how seed draws the grammar: numpy (default_rng), or authors (the paper"
        " authors' published generator, numpy's legacy RandomState: seed s is their tensor for"
        " seed s)",
    )

    @model_validator(mode="after")
    def _random_or_explicit(self) -> HierarchicalGrammarConfig:
        if self.productions is None:
            if self.q is None:
                object.__setattr__(self, "q", 4)
        elif {"sigma", "seed", "ambiguity"} & self.model_fields_set:
            raise ValueError(
                "sigma, seed and ambiguity draw a random grammar: leave them out with productions"
            )
        elif "rng" in self.model_fields_set:
            raise ValueError("rng draws a random grammar: leave it out with productions")
        if self.rng == "authors" and self.ambiguity:
            raise ValueError(
                f"ambiguity={self.ambiguity} and rng='authors' do not go together: the authors'"
                " generator draws unambiguous grammars only"
            )
        if self.rng == "authors" and self.seed > AUTHORS_MAX_SEED:
            raise ValueError(
                f"seed={self.seed} is too large for rng='authors': numpy's legacy RandomState"
                f" takes seeds 0..{AUTHORS_MAX_SEED}"
            )
        if self.classes is not None and self.root_prior is not None:
            raise ValueError("classes sets a uniform root prior: give classes or root_prior")
        if self.classes is not None and self.q is not None and self.classes > self.q:
            raise ValueError(f"classes={self.classes} is more than q={self.q}: n_c <= q")
        _check_size(self.q or 2, self.arity, self.depth if self.per_level else 1)
        return self

    @model_serializer(mode="wrap")
    def _dump(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """``rng`` only when it is not the default, so the recorded options of every grammar
        drawn before it existed stay what they were."""
        data = handler(self)
        if self.rng == "numpy":
            data.pop("rng", None)
        return data


def _check_size(q: int, arity: int, levels: int) -> None:
    """Dense production tensors hold q**(s+1) numbers per level: refuse absurd sizes early,
    before anything is drawn (the memory check proper runs when they are built)."""
    numbers = levels * q ** (arity + 1)
    if numbers > MAX_TENSOR_NUMBERS:
        raise ValueError(
            f"q={q}, arity={arity} need {numbers:.3g} production numbers over {levels} level(s):"
            f" at most {MAX_TENSOR_NUMBERS:.0e} (lower q, arity or use shared rules)"
        )


class RHMGrammarConfig(BaseModel):
    """The Random Hierarchy Model (Cagnetta, Petrini, Tomasini, Favero, Wyart, PRX 2024)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: int = Field(
        8,
        ge=2,
        validation_alias=AliasChoices("v", "q"),
        description="vocabulary size per level (q = v; --q works too)",
    )
    n_c: int = Field(8, ge=2, description="root classes n_c <= v")
    m: int = Field(4, ge=1, description="synonymous rules per symbol, m <= v**(s-1)")
    s: int = Field(2, ge=2, description="arity: sequences of s**depth leaves")
    depth: int = Field(3, ge=1, le=MAX_DEPTH, description="tree depth L")
    seed: int = Field(0, ge=0, description="grammar seed (which rules)")
    shared_rules: bool = Field(False, description="one rule set for all levels (as the paper)")

    @model_validator(mode="after")
    def _rules_fit(self) -> RHMGrammarConfig:
        if self.n_c > self.v:
            raise ValueError(f"n_c={self.n_c} is more than v={self.v}: at most v root classes")
        if self.m * self.v > self.v**self.s:
            raise ValueError(
                f"m={self.m} rules for each of v={self.v} symbols need {self.m * self.v} tuples,"
                f" more than the v**s={self.v**self.s} there are: m <= v**(s-1)"
                f"={self.v ** (self.s - 1)}"
            )
        _check_size(self.v, self.s, 1 if self.shared_rules else self.depth)
        return self

    @property
    def arity(self) -> int:
        """Children per node (the RHM's s), under the name hbench's size checks ask every
        grammar config for (`hbench.suites.Suite.arity`)."""
        return self.s


class HierarchicalFilterConfig(BaseModel):
    """Hierarchical filtering; the level k is given when the filter is applied."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BPConfig(BaseModel):
    """Exact belief propagation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workers: int | None = Field(None, ge=1, description="threads (default: one per core, up to 8)")
