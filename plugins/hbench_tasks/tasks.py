"""The built-in tasks: which questions are asked about a sampled tree, and which exact posterior
answers each one.

Both tasks are stateless: everything they need about the grammar (q, the mask token) comes in
the `TaskSpec` they made with `spec`.
"""

from __future__ import annotations

import numpy as np

from hbench.contracts import (
    MASKED,
    WHOLE_SEQUENCE,
    GenerativeModel,
    Posteriors,
    Sample,
    TaskData,
    TaskSpec,
)
from hbench.errors import invalid

from .configs import MLMTaskConfig, RootTaskConfig

__all__ = ["MLMTask", "RootTask"]


def _leaves(sample: Sample) -> np.ndarray:
    """The sample's leaves as a fresh int64 array (samplers store small ints; models index)."""
    leaves = np.asarray(sample.leaves)
    if leaves.ndim != 2:
        raise invalid("sample.leaves", f"array of shape {leaves.shape}", "shape (n, length)")
    return leaves.astype(np.int64)


def _index(values: np.ndarray) -> np.ndarray:
    return np.asarray(values).astype(np.int64, copy=False)


class RootTask:
    """Root classification: the model sees every leaf and gives P(root | leaves).

    One query per sequence, at `WHOLE_SEQUENCE`, because the root is no input position. The
    oracle needs only its upward pass (``needs_leaf_posteriors = False``).
    """

    name = "root"
    needs_leaf_posteriors = False

    def __init__(self, config: RootTaskConfig | None = None) -> None:
        self.config = config or RootTaskConfig()

    def spec(self, model: GenerativeModel) -> TaskSpec:
        q = int(model.q)
        return TaskSpec(task=self.name, q=q, length=1 << int(model.depth), vocab_size=q)

    def make(self, sample: Sample, spec: TaskSpec, rng: np.random.Generator) -> TaskData:
        """Every leaf as input, the root as target; nothing random, so ``rng`` is unused."""
        inputs = _leaves(sample)
        n = inputs.shape[0]
        return TaskData(
            inputs=inputs,
            query_rows=np.arange(n, dtype=np.int64),
            query_positions=np.full(n, WHOLE_SEQUENCE, dtype=np.int64),
            targets=np.asarray(sample.roots).astype(np.int64),
        )

    def oracle_leaves(self, data: TaskData, spec: TaskSpec) -> np.ndarray:
        """The inputs themselves: nothing is hidden from the model, so nothing from the oracle."""
        return data.inputs

    def oracle_answers(self, posteriors: Posteriors, data: TaskData) -> np.ndarray:
        return posteriors.root[_index(data.query_rows)]


class MLMTask:
    """Masked leaf prediction: some leaves are replaced by the mask token q, and the model gives
    P(x_i | the unmasked leaves) at each masked position i.

    By default exactly one uniformly chosen leaf per sequence is masked (the same draw as
    ``hbench oracle-table --task mlm`` makes from the same generator); with ``mask_rate`` each
    leaf is masked independently, and a sequence left without a mask gets one uniformly chosen
    leaf masked, so that every sequence asks at least one question.
    """

    name = "mlm"
    needs_leaf_posteriors = True

    def __init__(self, config: MLMTaskConfig | None = None) -> None:
        self.config = config or MLMTaskConfig()

    def spec(self, model: GenerativeModel) -> TaskSpec:
        """The spec of ``model``: q classes, and q itself as the mask token."""
        q = int(model.q)
        return TaskSpec(
            task=self.name, q=q, length=1 << int(model.depth), vocab_size=q + 1, mask_id=q
        )

    def make(self, sample: Sample, spec: TaskSpec, rng: np.random.Generator) -> TaskData:
        """Masks drawn from ``rng`` only; queries in row-major order of the mask (np.nonzero),
        which is the order `TaskData` requires: rows ascending, positions ascending."""
        mask_id = spec.mask_id
        inputs = _leaves(sample)
        if inputs.size and (inputs.min() < 0 or inputs.max() >= mask_id):
            bad = inputs.min() if inputs.min() < 0 else inputs.max()
            raise invalid(
                "sample.leaves", int(bad), f"symbols in [0, {mask_id}) for the spec'd q={mask_id}"
            )
        mask = self._draw_mask(*inputs.shape, rng)
        rows, positions = np.nonzero(mask)
        targets = inputs[rows, positions]
        inputs[mask] = mask_id
        return TaskData(
            inputs=inputs,
            query_rows=_index(rows),
            query_positions=_index(positions),
            targets=targets,
        )

    def _draw_mask(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """(n, length) bool, at least one True per row."""
        rate = self.config.mask_rate
        if rate is None:
            mask = np.zeros((n, length), dtype=bool)
            mask[np.arange(n), rng.integers(0, length, size=n)] = True
            return mask
        mask = rng.random((n, length)) < rate
        fallback = rng.integers(0, length, size=n)  # drawn for every row: rng use fixed by n
        empty = np.flatnonzero(~mask.any(axis=1))
        mask[empty, fallback[empty]] = True
        return mask

    def oracle_leaves(self, data: TaskData, spec: TaskSpec) -> np.ndarray:
        """The inputs with -1 wherever the model sees the mask token."""
        leaves = data.inputs.astype(np.int64, copy=True)
        leaves[leaves == spec.mask_id] = MASKED
        return leaves

    def oracle_answers(self, posteriors: Posteriors, data: TaskData) -> np.ndarray:
        if posteriors.leaves is None:
            raise ValueError("task 'mlm' needs leaf posteriors: call the oracle with full=True")
        return posteriors.leaves[_index(data.query_rows), _index(data.query_positions)]
