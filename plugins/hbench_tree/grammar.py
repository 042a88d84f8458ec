"""The tree model of the paper and its hierarchical filtering, as one immutable object.

A `TreeGrammar` is a production tensor M[a, b, c] = P(left = b, right = c | parent = a) shared by
all levels, a root prior, a depth l (sequences of 2**l leaves) and a filter level k. At k = 0 it
is the full grammar. At k > 0 the 2**k nodes at depth k are drawn independently given the root,
node j from the row of T_j = M^{s_1} ... M^{s_k}, the product of the left/right marginal matrices
M^L = sum_c M[:, :, c] and M^R = sum_b M[:, b, :] along the root-to-j path (s_i is bit i of j,
most significant first, 0 = left); below depth k the tree grows with M as usual.

Node j at depth d has children 2j and 2j + 1 at depth d + 1; leaves are ordered left to right.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from hbench.errors import UsageError, invalid
from hbench.io import load_npy
from hbench.run.memory import check_fits, format_bytes

#: Tolerance on the normalisation of a user-given production tensor or root prior.
NORMALISATION_TOLERANCE = 1e-6
#: Sums this close to 1 are rounding, not a different distribution: the array is kept as given.
ROUNDING = 1e-12
#: Deepest tree hbench accepts at all; memory checks usually refuse far earlier.
MAX_DEPTH = 30


def symbol_dtype(q: int) -> np.dtype:
    """The smallest signed integer type that holds symbols 0..q-1 and the mask -1."""
    for dtype in (np.int8, np.int16, np.int32):
        if q <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def random_productions(q: int, sigma: float, seed: int) -> np.ndarray:
    """The paper's random grammar: each ordered child pair has exactly one parent.

    The q**2 pairs (b, c) are dealt to the q parents by a random permutation, q pairs each, and
    parent a weighs its pairs by softmax(sigma * N(0, 1)). The grammar is unambiguous, so the
    leaves determine the whole tree at k = 0.
    """
    if not isinstance(q, int | np.integer) or q < 2:
        raise invalid("q", q, "an integer >= 2")
    if not np.isfinite(sigma) or sigma < 0:
        raise invalid("sigma", sigma, "a finite number >= 0")
    rng = np.random.default_rng(seed)
    pairs = rng.permutation(q * q).reshape(q, q)  # pairs[a] = flat indices b*q + c of parent a
    logits = sigma * rng.standard_normal((q, q))
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    productions = np.zeros((q, q * q))
    productions[np.arange(q)[:, None], pairs] = weights
    return productions.reshape(q, q, q)


def check_productions(productions: np.ndarray, field: str = "productions") -> np.ndarray:
    """Validate a (q, q, q) production tensor and return it as exactly normalised float64."""
    arr = np.asarray(productions)
    if arr.ndim != 3 or len(set(arr.shape)) != 1:
        raise invalid(field, f"array of shape {arr.shape}", "shape (q, q, q) with q >= 2")
    if arr.shape[0] < 2:
        raise invalid(field, f"array of shape {arr.shape}", "q >= 2")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise invalid(field, f"array of dtype {arr.dtype}", "a real numeric array")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise invalid(field, "array with non-finite entries", "finite probabilities")
    if np.any(arr < 0):
        a, b, c = np.argwhere(arr < 0)[0]
        raise invalid(f"{field}[{a}, {b}, {c}]", float(arr[a, b, c]), "non-negative values")
    totals = arr.sum(axis=(1, 2))
    bad = np.flatnonzero(np.abs(totals - 1) > NORMALISATION_TOLERANCE)
    if bad.size:
        a = int(bad[0])
        raise invalid(
            f"sum of {field}[{a}]",
            float(totals[a]),
            f"each parent's productions must sum to 1 (within {NORMALISATION_TOLERANCE:g})",
        )
    if np.all(np.abs(totals - 1.0) <= ROUNDING):  # keep the bits: filtered() must not drift
        return arr
    return arr / totals[:, None, None]


def check_root_prior(prior: np.ndarray, q: int, field: str = "root_prior") -> np.ndarray:
    """Validate a root prior of length q and return it exactly normalised."""
    arr = np.asarray(prior)
    if arr.shape != (q,):
        raise invalid(field, f"array of shape {arr.shape}", f"shape ({q},) to match q={q}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise invalid(field, arr.tolist(), "finite, non-negative probabilities")
    total = arr.sum()
    if abs(total - 1) > NORMALISATION_TOLERANCE:
        raise invalid(f"sum of {field}", float(total), "1")
    return arr if abs(total - 1.0) <= ROUNDING else arr / total


@dataclass(frozen=True, eq=False)
class TreeGrammar:
    """A (possibly filtered) binary tree grammar: everything needed to sample and to infer."""

    productions: np.ndarray
    root_prior: np.ndarray
    depth: int
    filter_level: int = 0

    def __post_init__(self) -> None:
        productions = check_productions(self.productions)
        q = productions.shape[0]
        prior = check_root_prior(self.root_prior, q)
        if not isinstance(self.depth, int | np.integer) or not 1 <= self.depth <= MAX_DEPTH:
            raise invalid("depth", self.depth, f"an integer in [1, {MAX_DEPTH}]")
        if not isinstance(self.filter_level, int | np.integer) or not (
            0 <= self.filter_level <= self.depth
        ):
            raise invalid("filter", self.filter_level, f"an integer in [0, {self.depth}] (depth)")
        for array in (productions, prior):
            array.setflags(write=False)
        object.__setattr__(self, "productions", productions)
        object.__setattr__(self, "root_prior", prior)
        object.__setattr__(self, "depth", int(self.depth))
        object.__setattr__(self, "filter_level", int(self.filter_level))
        if self.filter_level:
            tables = self.filter_level_nodes * q * q * 8 * 3  # transitions + alias tables
            check_fits(tables, f"filter tables for filter={self.filter_level}, q={q}")

    @property
    def q(self) -> int:
        return int(self.productions.shape[0])

    @property
    def length(self) -> int:
        """Number of leaves, 2**depth."""
        return 1 << self.depth

    @property
    def filter_level_nodes(self) -> int:
        """Number of nodes drawn independently given the root: 2**k (1 when unfiltered)."""
        return 1 << self.filter_level

    @property
    def symbol_dtype(self) -> np.dtype:
        return symbol_dtype(self.q)

    def filtered(self, level: int) -> TreeGrammar:
        """The same grammar filtered at ``level`` (0 <= level <= depth), sharing its arrays."""
        return dataclasses.replace(self, filter_level=level)

    @cached_property
    def left_marginal(self) -> np.ndarray:
        """M^L[a, b] = P(left child = b | parent = a)."""
        return self.productions.sum(axis=2)

    @cached_property
    def right_marginal(self) -> np.ndarray:
        """M^R[a, c] = P(right child = c | parent = a)."""
        return self.productions.sum(axis=1)

    @cached_property
    def path_transitions(self) -> np.ndarray:
        """T[j, a, b] = P(node j at depth k = b | root = a), shape (2**k, q, q).

        Built level by level (one matmul per level, not per node): the children of a path
        product T are T @ M^L and T @ M^R.
        """
        transitions = np.eye(self.q)[None]
        for _ in range(self.filter_level):
            left = transitions @ self.left_marginal
            right = transitions @ self.right_marginal
            transitions = np.stack([left, right], axis=1).reshape(-1, self.q, self.q)
        return transitions

    @cached_property
    def sampling_tables(self):
        """The sampler's alias tables for this model, built on first use."""
        from .sampler import SamplingTables

        return SamplingTables(self)

    def describe(self) -> dict:
        """The parameters that identify this model, for metadata."""
        return {
            "q": self.q,
            "depth": self.depth,
            "filter": self.filter_level,
            "length": self.length,
        }

    def sample(
        self, n: int, seed, *, internal: bool = False, workers: int | None = None, progress=None
    ):
        """Draw n sequences; see `hbench_tree.sampler.sample`."""
        from .sampler import sample

        return sample(self, n, seed, internal=internal, workers=workers, progress=progress)


def build_grammar(
    *,
    depth: int,
    q: int | None = None,
    sigma: float = 1.0,
    seed: int = 0,
    productions: np.ndarray | str | Path | None = None,
    root_prior: np.ndarray | str | Path | None = None,
) -> TreeGrammar:
    """A model from the paper's random grammar or from an explicit tensor (and prior)."""
    if productions is not None:
        if isinstance(productions, str | Path):
            productions = load_npy(productions, "--productions")
        productions = check_productions(productions)
        if q is not None and q != productions.shape[0]:
            raise invalid("q", q, f"the q of the productions tensor ({productions.shape[0]})")
        q = productions.shape[0]
    else:
        if q is None:
            raise UsageError("q is required unless a productions tensor is given")
        productions = random_productions(q, sigma, seed)
    if root_prior is None:
        root_prior = np.full(q, 1.0 / q)
    elif isinstance(root_prior, str | Path):
        root_prior = load_npy(root_prior, "--root-prior")
    return TreeGrammar(productions, root_prior, depth)


__all__ = [
    "MAX_DEPTH",
    "TreeGrammar",
    "build_grammar",
    "check_productions",
    "check_root_prior",
    "format_bytes",
    "random_productions",
    "symbol_dtype",
]
