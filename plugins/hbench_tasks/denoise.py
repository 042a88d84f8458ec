"""Denoising: the leaves pass through a q-ary symmetric channel; the model recovers the clean
leaves, or the root, from the noisy sequence.

Each leaf x_i is kept with probability 1 - epsilon and otherwise replaced by one of the q - 1
other symbols, uniformly: P(y_i = b | x_i = a) = 1 - epsilon if b = a, else epsilon / (q - 1),
independently across leaves. At epsilon = 0 the input is the clean sequence; at
epsilon = 1 - 1/q the output is uniform whatever the input, and nothing can be recovered. In
between, the exact posterior of the root given the noisy leaves goes through the
reconstruction transition that the diffusion papers of Sclocchi, Favero and Wyart study on
the Random Hierarchy Model: the root is recovered almost surely below a critical noise and
not above it, as the tree gets deeper. A sweep over ``epsilon`` shows it (`hbench oracle-table`
or a sweep file).

The exact answers are belief propagation with *soft* leaf evidence: leaf i's message is the
channel's column for the received symbol, P(y_i | x_i = a) over a
(`hbench_tree.bp.soft_evidence`). They cannot be written as hard leaves with masks, so the
task declares its own exact path (`DenoiseTask.exact_answers`) and needs an oracle that
offers BP's engine (``bp``).
"""

from __future__ import annotations

from typing import Any

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
from hbench.errors import UsageError, invalid

from .common import as_index, check_symbols, fixed_length_only, leaves_of, sequence_length
from .configs import DenoiseTaskConfig

#: Rounding allowed on epsilon's upper bound 1 - 1/q (a decimal given for it).
EPSILON_TOLERANCE = 1e-9


def channel(q: int, epsilon: float) -> np.ndarray:
    """C[a, b] = P(y = b | x = a) of the q-ary symmetric channel with noise epsilon."""
    off = epsilon / (q - 1)
    return np.full((q, q), off) + np.eye(q) * (1.0 - epsilon - off)


def likelihoods(noisy: np.ndarray, q: int, epsilon: float) -> np.ndarray:
    """(n, L, q) soft leaf evidence of noisy sequences (n, L): P(y_i | x_i = a) over a."""
    return np.take(channel(q, epsilon).T, as_index(noisy), axis=0)


class DenoiseTask:
    """Denoising through a q-ary symmetric channel; see the module docstring.

    ``target="leaves"``: one query per leaf, row by row, positions ascending, the clean leaf
    as the answer. ``target="root"``: one query per sequence at `WHOLE_SEQUENCE`, the root as
    the answer (its chance level is 1/n_c, as for ``root``).
    """

    name = "denoise"

    def __init__(self, config: DenoiseTaskConfig | None = None) -> None:
        self.config = config or DenoiseTaskConfig()

    @property
    def asks_root(self) -> bool:
        return self.config.target == "root"

    @property
    def capabilities(self) -> TaskCapabilities:
        """Its own exact path (soft evidence); the root's classes when the root is asked."""
        return TaskCapabilities(asks_root=self.asks_root, exact_answers=True)

    @property
    def needs_leaf_posteriors(self) -> bool:
        return not self.asks_root

    def check_epsilon(self, q: int) -> None:
        """epsilon in [0, 1 - 1/q]: beyond it the channel favours the wrong symbols."""
        top = 1.0 - 1.0 / q
        if self.config.epsilon > top + EPSILON_TOLERANCE:
            raise invalid("epsilon", self.config.epsilon, f"a noise in [0, {top:.6g}] (1 - 1/q)")

    def spec(self, model: GenerativeModel) -> TaskSpec:
        q = int(model.q)
        fixed_length_only(self.name, model, "its exact answers are BP's, on a fixed tree")
        self.check_epsilon(q)
        return TaskSpec(task=self.name, q=q, length=sequence_length(model), vocab_size=q)

    def make(self, sample: Sample, spec: TaskSpec, rng: np.random.Generator) -> TaskData:
        """The noisy leaves as inputs (noise drawn from ``rng`` only: which leaves flip, then
        what each flipped leaf becomes, for every leaf), the clean leaves or the roots as
        targets."""
        q = spec.q
        self.check_epsilon(q)
        clean = leaves_of(sample)
        check_symbols(clean, q)
        n, length = clean.shape
        flip = rng.random(clean.shape) < self.config.epsilon
        shift = rng.integers(1, q, size=clean.shape)  # one of the q - 1 other symbols
        noisy = np.where(flip, (clean + shift) % q, clean)
        if self.asks_root:
            return TaskData(
                inputs=noisy,
                query_rows=np.arange(n, dtype=np.int64),
                query_positions=np.full(n, WHOLE_SEQUENCE, dtype=np.int64),
                targets=np.asarray(sample.roots).astype(np.int64),
            )
        return TaskData(
            inputs=noisy,
            query_rows=np.repeat(np.arange(n, dtype=np.int64), length),
            query_positions=np.tile(np.arange(length, dtype=np.int64), n),
            targets=clean.reshape(-1),
        )

    def oracle_leaves(self, data: TaskData, spec: TaskSpec) -> np.ndarray:
        """Soft evidence has no hard-leaf form: the exact answers come from `exact_answers`."""
        raise UsageError(
            "task 'denoise' conditions on soft leaf evidence (the noisy channel), which hard"
            " leaves with masks cannot express: its answers come from its exact_answers"
        )

    def oracle_answers(self, posteriors: Posteriors, data: TaskData) -> np.ndarray:
        """Query k's answer from soft-evidence posteriors of the rows of ``data``."""
        rows = as_index(data.query_rows)
        if self.asks_root:
            return posteriors.root[rows]
        if posteriors.leaves is None:
            raise ValueError("task 'denoise' (target=leaves) needs the clean leaves' posteriors")
        return posteriors.leaves[rows, as_index(data.query_positions)]

    def exact_answers(
        self, oracle: Any, model: GenerativeModel, data: TaskData, spec: TaskSpec
    ) -> np.ndarray:
        """(m, q): BP with the channel's likelihoods as leaf evidence, at ``model`` (any filter
        level). The oracle must offer BP's engine (``oracle.engine(model)``, as ``bp`` does)."""
        from hbench_tree.bp import BeliefPropagation, soft_evidence

        engine = getattr(oracle, "engine", None)
        bp = engine(model) if callable(engine) else None
        if not isinstance(bp, BeliefPropagation):
            raise UsageError(
                f"task 'denoise' needs an oracle with soft leaf evidence ('bp'), not"
                f" {type(oracle).__name__}"
            )
        evidence = likelihoods(data.inputs, spec.q, self.config.epsilon)
        workers = getattr(getattr(oracle, "config", None), "workers", None)
        posteriors = soft_evidence(bp, evidence, full=not self.asks_root, workers=workers)
        return self.oracle_answers(posteriors, data)
