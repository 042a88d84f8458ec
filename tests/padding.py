"""Shared by the padding-invariance tests of the torch models: padded task data of a small
variable-length cfg, and the check that a model's answers for a sequence do not depend on what
it is batched with or on what the padding holds."""

from __future__ import annotations

import numpy as np

from hbench.contracts import TaskData, TaskSpec
from hbench.registry.registry import get_registry
from hbench_cfg.grammar import build_cfg


def padded_task(name: str, n: int, seed: int, **options) -> tuple[TaskSpec, TaskData]:
    """``n`` questions of task ``name`` about a cfg whose sequences are 4 to 9 symbols long."""
    grammar = build_cfg([2, 3, 3], rules=2, max_rules=3, arities=[2, 3], seed=1)
    task = get_registry().get("task", name).create(options)
    spec = task.spec(grammar)
    data = task.make(grammar.sample(n, seed), spec, np.random.default_rng(seed))
    assert spec.pad_id is not None and data.lengths.min() < data.lengths.max()
    return spec, data


def rows(data: TaskData, keep: np.ndarray) -> TaskData:
    """The sequences ``keep`` of ``data`` with their queries, in order."""
    asked = np.isin(data.query_rows, keep)
    renumber = np.full(len(data), -1)
    renumber[keep] = np.arange(keep.size)
    return TaskData(
        data.inputs[keep],
        renumber[data.query_rows[asked]],
        data.query_positions[asked],
        lengths=data.lengths[keep],
    )


def assert_padding_invariant(model, data: TaskData, spec: TaskSpec) -> None:
    """Each short sequence's answers alone (its batch cut to its own length) equal its answers
    in a batch with longer padded ones, and neither depends on the padding's tokens."""
    data = data.without_targets()
    together = model.predict(data)
    rng = np.random.default_rng(0)
    noisy_inputs = np.where(
        data.real_positions(), data.inputs, rng.integers(0, spec.q, data.inputs.shape)
    )
    noisy = TaskData(noisy_inputs, data.query_rows, data.query_positions, lengths=data.lengths)
    np.testing.assert_allclose(model.predict(noisy), together, atol=1e-5)
    shortest = np.flatnonzero(data.lengths < data.lengths.max())[:5]
    assert shortest.size
    for r in shortest:
        alone = model.predict(rows(data, np.array([r])))
        np.testing.assert_allclose(alone, together[data.query_rows == r], atol=1e-5)
