"""Helpers every built-in task shares: the leaves of a sample, index arrays, the length."""

from __future__ import annotations

import numpy as np

from hbench.contracts import GenerativeModel, Sample, grammar_capabilities
from hbench.errors import invalid


def leaves_of(sample: Sample) -> np.ndarray:
    """The sample's leaves as a fresh int64 array (samplers store small ints; models index)."""
    leaves = np.asarray(sample.leaves)
    if leaves.ndim != 2:
        raise invalid("sample.leaves", f"array of shape {leaves.shape}", "shape (n, length)")
    return leaves.astype(np.int64)


def as_index(values: np.ndarray) -> np.ndarray:
    """An int64 view (or copy) of index-like values."""
    return np.asarray(values).astype(np.int64, copy=False)


def sequence_length(model: GenerativeModel) -> int:
    """Leaves per sequence: arity**depth, of the arity the model declares (2 by default,
    the binary tree of the protocol)."""
    return grammar_capabilities(model).length(model.depth)


def check_symbols(inputs: np.ndarray, q: int) -> None:
    """Leaves must be symbols in [0, q) before a task adds its own tokens (the mask is q)."""
    if inputs.size and (inputs.min() < 0 or inputs.max() >= q):
        bad = inputs.min() if inputs.min() < 0 else inputs.max()
        raise invalid("sample.leaves", int(bad), f"symbols in [0, {q}) for the spec'd q={q}")
