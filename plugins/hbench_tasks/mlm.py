"""Masked leaf prediction, one leaf or contiguous spans of leaves at a time.

A span asks more of a model than a single leaf: the leaves of a block are correlated through
their common ancestors, and none of them is seen, so the model must infer those ancestors from
the leaves around the block. The answer to every masked leaf is its joint-evidence posterior
P(x_i | every unmasked leaf), which is what BP gives with -1 at the masked leaves (the other
masked leaves of its block are summed out, not guessed).
"""

from __future__ import annotations

import numpy as np

from hbench.contracts import MASKED, GenerativeModel, Posteriors, Sample, TaskData, TaskSpec
from hbench.errors import invalid

from .common import (
    as_index,
    check_symbols,
    leaves_of,
    oracle_sequences,
    padded,
    sample_inputs,
    sequence_length,
)
from .configs import MLMTaskConfig


class MLMTask:
    """Masked leaf prediction: some leaves are replaced by the mask token q, and the model gives
    P(x_i | the unmasked leaves) at each masked position i.

    Masks come in blocks of ``span`` contiguous leaves (1 by default: single leaves). By
    default exactly one block per sequence is masked, its start uniform over the L - span + 1
    places it fits (with span 1, the same draw as ``hbench oracle-table --task mlm`` makes from
    the same generator). With ``mask_rate`` r, every place starts a block independently with
    probability r / span, so that a fraction r of the leaves is masked, less where blocks
    overlap or meet the end of the sequence (exactly r for span 1); a sequence left without a
    block gets one uniformly placed block, so that every sequence asks at least one question.

    Sequences of varying length (`TaskSpec.pad_id`) are masked within their real symbols only:
    L is each sequence's own length, and a span longer than a sequence is refused.
    """

    name = "mlm"
    needs_leaf_posteriors = True

    def __init__(self, config: MLMTaskConfig | None = None) -> None:
        self.config = config or MLMTaskConfig()

    def spec(self, model: GenerativeModel) -> TaskSpec:
        """The spec of ``model``: q classes, and q itself as the mask token."""
        q, length = int(model.q), sequence_length(model)
        self._check_span(length)
        spec = TaskSpec(task=self.name, q=q, length=length, vocab_size=q + 1, mask_id=q)
        return padded(spec, model)

    def _check_span(self, length: int) -> None:
        if self.config.span > length:
            raise invalid(
                "span", self.config.span, f"a block length in [1, {length}] (the sequence length)"
            )

    def make(self, sample: Sample, spec: TaskSpec, rng: np.random.Generator) -> TaskData:
        """Masks drawn from ``rng`` only; queries in row-major order of the mask (np.nonzero),
        which is the order `TaskData` requires: rows ascending, positions ascending."""
        mask_id = spec.mask_id
        if spec.pad_id is not None:
            inputs, lengths = sample_inputs(sample, spec)
            mask = self._draw_padded_mask(lengths, inputs.shape[1], rng)
        else:
            inputs, lengths = leaves_of(sample), None
            check_symbols(inputs, mask_id)
            self._check_span(inputs.shape[1])
            mask = self._draw_mask(*inputs.shape, rng)
        rows, positions = np.nonzero(mask)
        targets = inputs[rows, positions]
        inputs[mask] = mask_id
        return TaskData(
            inputs=inputs,
            query_rows=as_index(rows),
            query_positions=as_index(positions),
            targets=targets,
            lengths=lengths,
        )

    def _draw_mask(self, n: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """(n, length) bool, at least one block per row."""
        rate, span = self.config.mask_rate, self.config.span
        places = length - span + 1  # where a block can start
        if rate is None:
            starts = np.zeros((n, places), dtype=bool)
            starts[np.arange(n), rng.integers(0, places, size=n)] = True
        else:
            starts = rng.random((n, places)) < rate / span
            fallback = rng.integers(0, places, size=n)  # drawn for every row: rng use fixed by n
            empty = np.flatnonzero(~starts.any(axis=1))
            starts[empty, fallback[empty]] = True
        if span == 1:
            return starts
        mask = np.zeros((n, length), dtype=bool)
        for offset in range(span):  # a loop over the block's leaves, not over sequences
            mask[:, offset : offset + places] |= starts
        return mask

    def _draw_padded_mask(
        self, lengths: np.ndarray, width: int, rng: np.random.Generator
    ) -> np.ndarray:
        """(n, width) bool within each row's real symbols, at least one block per row: the
        draws of `_draw_mask` with each row's own number of places."""
        rate, span = self.config.mask_rate, self.config.span
        if lengths.size and lengths.min() < span:
            shortest = int(lengths.min())
            allowed = f"a block length in [1, {shortest}] (the shortest sequence)"
            raise invalid("span", span, allowed)
        n = lengths.shape[0]
        places = lengths - span + 1  # (n,): where a block can start in each row
        fits = np.arange(width - span + 1)[None, :] < places[:, None]
        if rate is None:
            starts = np.zeros(fits.shape, dtype=bool)
            starts[np.arange(n), rng.integers(0, places)] = True
        else:
            starts = (rng.random(fits.shape) < rate / span) & fits
            fallback = rng.integers(0, places)  # drawn for every row: rng use fixed by n
            empty = np.flatnonzero(~starts.any(axis=1))
            starts[empty, fallback[empty]] = True
        mask = np.zeros((n, width), dtype=bool)
        for offset in range(span):  # a loop over the block's leaves, not over sequences
            mask[:, offset : offset + starts.shape[1]] |= starts
        return mask

    def oracle_leaves(self, data: TaskData, spec: TaskSpec) -> np.ndarray:
        """The inputs with -1 wherever the model sees the mask token (`PAD` at padding)."""
        leaves = oracle_sequences(data, spec)
        leaves[leaves == spec.mask_id] = MASKED
        return leaves

    def oracle_answers(self, posteriors: Posteriors, data: TaskData) -> np.ndarray:
        if posteriors.leaves is None:
            raise ValueError("task 'mlm' needs leaf posteriors: call the oracle with full=True")
        return posteriors.leaves[as_index(data.query_rows), as_index(data.query_positions)]
