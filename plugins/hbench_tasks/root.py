"""Root classification: the model sees every leaf and gives P(root | leaves)."""

from __future__ import annotations

import numpy as np

from hbench.contracts import (
    WHOLE_SEQUENCE,
    GenerativeModel,
    Posteriors,
    Sample,
    TaskCapabilities,
    TaskData,
    TaskSpec,
)

from .common import as_index, oracle_sequences, padded, sample_inputs, sequence_length
from .configs import RootTaskConfig


class RootTask:
    """Root classification: the model sees every leaf and gives P(root | leaves).

    One query per sequence, at `WHOLE_SEQUENCE`, because the root is no input position. The
    oracle needs only its upward pass (``needs_leaf_posteriors = False``). Sequences of
    varying length are padded (`TaskSpec.pad_id`); the root spans each one's real symbols.
    """

    name = "root"
    capabilities = TaskCapabilities(asks_root=True)  # its classes are the grammar's n_c
    needs_leaf_posteriors = False

    def __init__(self, config: RootTaskConfig | None = None) -> None:
        self.config = config or RootTaskConfig()

    def spec(self, model: GenerativeModel) -> TaskSpec:
        q = int(model.q)
        spec = TaskSpec(task=self.name, q=q, length=sequence_length(model), vocab_size=q)
        return padded(spec, model)

    def make(self, sample: Sample, spec: TaskSpec, rng: np.random.Generator) -> TaskData:
        """Every leaf as input, the root as target; nothing random, so ``rng`` is unused."""
        inputs, lengths = sample_inputs(sample, spec)
        n = inputs.shape[0]
        return TaskData(
            inputs=inputs,
            query_rows=np.arange(n, dtype=np.int64),
            query_positions=np.full(n, WHOLE_SEQUENCE, dtype=np.int64),
            targets=np.asarray(sample.roots).astype(np.int64),
            lengths=lengths,
        )

    def oracle_leaves(self, data: TaskData, spec: TaskSpec) -> np.ndarray:
        """The inputs themselves: nothing is hidden from the model, so nothing from the oracle
        (`PAD` at the padding)."""
        if spec.pad_id is None:
            return data.inputs
        return oracle_sequences(data, spec)

    def oracle_answers(self, posteriors: Posteriors, data: TaskData) -> np.ndarray:
        return posteriors.root[as_index(data.query_rows)]
