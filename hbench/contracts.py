"""The data that flows between plugins: samples from a generator and posteriors from an oracle.

These are plain frozen dataclasses of numpy arrays, so any grammar, filter or oracle plugin can
produce and consume them without importing another plugin. The protocols say what the harness
calls; a plugin satisfies them structurally, no base class needed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

#: Marks a masked (unobserved) leaf in a leaf array given to an oracle.
MASKED = -1

SeedLike = int | np.random.SeedSequence | np.random.Generator


@dataclass(frozen=True)
class Sample:
    """n sequences drawn from a generative tree model.

    Symbols are small signed integers (int8 when q <= 127) to keep big samples small; cast with
    ``.astype(np.int64)`` before using them as indices in torch.
    """

    roots: np.ndarray  # (n,) the root symbol: the label of root classification
    leaves: np.ndarray  # (n, 2**depth) the sequence itself, left to right
    nodes: Mapping[int, np.ndarray] = field(default_factory=dict)
    """Internal nodes by depth d (0 < d < depth), each (n, 2**d); only the depths the model
    actually samples (a model filtered at level k has none above depth k). Empty when not asked."""

    def __len__(self) -> int:
        return int(self.roots.shape[0])


@dataclass(frozen=True)
class Posteriors:
    """Exact posteriors for a batch of partially observed leaf sequences.

    Rows whose observed leaves are impossible under the model have ``loglik == -inf``; their
    posteriors are undefined and set to uniform, so downstream metrics stay finite.
    """

    root: np.ndarray  # (n, q) P(root | observed leaves)
    loglik: np.ndarray  # (n,) natural log of P(observed leaves), masked leaves summed out
    leaves: np.ndarray | None = None
    """(n, 2**depth, q) P(x_i | observed leaves): one-hot at observed leaves."""
    leave_one_out: np.ndarray | None = None
    """(n, 2**depth, q) P(x_i | every other observed leaf): equals ``leaves`` at masked leaves.
    Computed only when asked for."""
    nodes: Mapping[int, np.ndarray] = field(default_factory=dict)
    """Internal nodes by depth d (0 < d < depth, d >= filter level): (n, 2**d, q)."""


@runtime_checkable
class GenerativeModel(Protocol):
    """A distribution over leaf sequences of length 2**depth over q symbols."""

    @property
    def q(self) -> int: ...

    @property
    def depth(self) -> int: ...

    def sample(self, n: int, seed: SeedLike, *, internal: bool = False) -> Sample: ...


@runtime_checkable
class Filter(Protocol):
    """Turns a grammar's model into the model filtered at a level (0 = unchanged)."""

    def apply(self, model: GenerativeModel, level: int) -> GenerativeModel: ...


@runtime_checkable
class Oracle(Protocol):
    """Exact (or reference) inference for the models it understands."""

    def posteriors(
        self,
        model: GenerativeModel,
        leaves: np.ndarray,
        *,
        full: bool = True,
        leave_one_out: bool = False,
    ) -> Posteriors:
        """Root posterior and log-likelihood; with ``full`` also leaf and internal-node
        posteriors; with ``leave_one_out`` also P(x_i | every other observed leaf)."""
        ...
