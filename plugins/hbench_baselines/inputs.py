"""What every numpy model here checks before it indexes a table with the harness's arrays.

A token or an answer out of range would index a table silently (numpy wraps negative
indices), so each is checked against the `TaskSpec` once, as one line naming the field. The
reference models (`models`) and tree-em (`tree_em`) share these; a numpy model of another
plugin may import them too.
"""

from __future__ import annotations

import numpy as np

from hbench.contracts import TaskData, TaskSpec
from hbench.errors import invalid


def as_index(values: np.ndarray) -> np.ndarray:
    """An int64 view (or copy) of index-like values."""
    return np.asarray(values).astype(np.int64, copy=False)


def training_targets(train: TaskData, spec: TaskSpec) -> np.ndarray:
    """The training answers, checked: a model must not index out of its tables."""
    if train.targets is None:
        raise invalid("train.targets", None, "the answers of the training queries")
    targets = as_index(train.targets)
    if targets.shape != (train.n_queries,):
        raise invalid("train.targets", f"array of shape {targets.shape}", "one per query")
    if targets.size and (targets.min() < 0 or targets.max() >= spec.q):
        bad = targets.min() if targets.min() < 0 else targets.max()
        raise invalid("train.targets", int(bad), f"classes in [0, {spec.q})")
    return targets


def input_tokens(data: TaskData, spec: TaskSpec) -> np.ndarray:
    """The input tokens, checked against the spec (a token indexes a table)."""
    inputs = as_index(data.inputs)
    if inputs.ndim != 2 or inputs.shape[1] != spec.length:
        raise invalid("inputs", f"array of shape {inputs.shape}", f"shape (n, {spec.length})")
    if inputs.size and (inputs.min() < 0 or inputs.max() >= spec.vocab_size):
        bad = inputs.min() if inputs.min() < 0 else inputs.max()
        raise invalid("inputs", int(bad), f"tokens in [0, {spec.vocab_size})")
    return inputs


def unfitted(name: str) -> RuntimeError:
    """The error of ``predict`` before ``fit``, naming the model."""
    return RuntimeError(f"model {name!r}: predict() called before fit()")
