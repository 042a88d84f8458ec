"""Next-token prediction: at every position i, P(x_i | x_0 .. x_{i-1}).

The autoregressive question of decoder-only language models (Cagnetta & Wyart, NeurIPS 2024,
on the Random Hierarchy Model). Its exact answer is BP with the prefix observed and the suffix
summed out. Two views of the same questions, both within the unchanged model contract:

* ``view="causal"`` (default): the inputs are the whole sequences and every position is asked
  (query (row, i) for i = 0..L-1, target x_i). The model *promises* to answer query i from
  x_0..x_{i-1} alone, as a decoder with a causal attention mask does; the inputs do not enforce
  it, so a model that peeks at x_i scores perfectly and means nothing. `causality_gap` measures
  the promise: it changes every row's suffix and reports how far the answers move.
* ``view="masked"``: row s * L + i is sequence s with positions i.. replaced by the mask token
  q, and asks position i only: nothing the model must not use is in its input, so any model
  (an encoder, naive Bayes) can be scored honestly, at L rows per sequence.

Both views ask the same questions in the same order (sequence by sequence, positions
ascending) and their oracle answers are identical. `next_token_metrics` turns per-query
probabilities into the language-modelling numbers: cross-entropy, exact conditional entropy,
excess loss (the KL) and perplexities, per position and averaged.

Sequences of varying length (`TaskSpec.pad_id`, a context-free grammar) are asked at their real
positions only, in the causal view: query (row, i) for i < the row's length, whose exact answer
is P(x_i | x_<i, the length), the length being the model's to see (`TaskData.lengths`, and the
padding after the end). The masked view needs sequences of one length and refuses others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from hbench.contracts import (
    MASKED,
    PAD,
    GenerativeModel,
    Posteriors,
    Sample,
    TaskCapabilities,
    TaskData,
    TaskSpec,
)
from hbench.errors import UsageError, invalid

from .common import (
    as_index,
    check_symbols,
    leaves_of,
    oracle_sequences,
    padded,
    sample_inputs,
    sequence_length,
    varies,
)
from .configs import NextTokenTaskConfig


def prefix_leaves(sequences: np.ndarray) -> np.ndarray:
    """(n, L) -> (n * L, L): row s * L + i is sequence s with positions >= i masked (-1);
    padding (`PAD`) stays, so that the length is known."""
    n, length = sequences.shape
    rows = np.repeat(np.asarray(sequences, dtype=np.int64), length, axis=0)
    hidden = np.arange(length)[None, :] >= np.arange(length)[:, None]  # (i, j): j >= i
    rows[np.tile(hidden, (n, 1)) & (rows != PAD)] = MASKED
    return rows


class NextTokenTask:
    """Next-token prediction; see the module docstring for the two views."""

    name = "next-token"
    needs_leaf_posteriors = True
    #: a one-pass exact path for all positions, and language-modelling scores
    capabilities = TaskCapabilities(exact_answers=True, metrics=True)

    def __init__(self, config: NextTokenTaskConfig | None = None) -> None:
        self.config = config or NextTokenTaskConfig()

    @property
    def masked(self) -> bool:
        return self.config.view == "masked"

    def spec(self, model: GenerativeModel) -> TaskSpec:
        """q classes; the masked view adds the mask token q."""
        q, length = int(model.q), sequence_length(model)
        if self.masked:
            if varies(model):
                raise UsageError(
                    "task 'next-token' with view='masked' needs sequences of one length, and"
                    " this grammar's vary: use view='causal'"
                )
            return TaskSpec(task=self.name, q=q, length=length, vocab_size=q + 1, mask_id=q)
        return padded(TaskSpec(task=self.name, q=q, length=length, vocab_size=q), model)

    def make(self, sample: Sample, spec: TaskSpec, rng: np.random.Generator) -> TaskData:
        """Every position of every sequence asked (every real one, where lengths vary);
        nothing random, so ``rng`` is unused."""
        if spec.pad_id is not None:
            inputs, lengths = sample_inputs(sample, spec)
            rows, positions = np.nonzero(np.arange(inputs.shape[1])[None, :] < lengths[:, None])
            return TaskData(
                inputs, as_index(rows), as_index(positions), inputs[rows, positions], None, lengths
            )
        leaves = leaves_of(sample)
        check_symbols(leaves, spec.q)
        n, length = leaves.shape
        positions = np.tile(np.arange(length, dtype=np.int64), n)
        targets = leaves.reshape(-1)
        if not self.masked:
            rows = np.repeat(np.arange(n, dtype=np.int64), length)
            return TaskData(leaves, rows, positions, targets)
        inputs = prefix_leaves(leaves)
        inputs[inputs == MASKED] = spec.mask_id
        return TaskData(inputs, np.arange(n * length, dtype=np.int64), positions, targets)

    def oracle_leaves(self, data: TaskData, spec: TaskSpec) -> np.ndarray:
        """One oracle row per query, the prefix observed and the rest masked (-1): (m, L).

        Query k of the data is answered by row k (see `oracle_answers`)."""
        if self.masked:
            leaves = data.inputs.astype(np.int64, copy=True)
            leaves[leaves == spec.mask_id] = MASKED
            return leaves[as_index(data.query_rows)]
        return prefix_leaves(oracle_sequences(data, spec))[self._query_slots(data)]

    def oracle_answers(self, posteriors: Posteriors, data: TaskData) -> np.ndarray:
        """Query k's answer: P(x_i | x_<i) from row k of the oracle's posteriors."""
        if posteriors.leaves is None:
            raise ValueError(
                "task 'next-token' needs leaf posteriors: call the oracle with full=True"
            )
        positions = as_index(data.query_positions)
        return posteriors.leaves[np.arange(positions.shape[0]), positions]

    @staticmethod
    def _query_slots(data: TaskData) -> np.ndarray:
        """Index of each query in the (n * L) grid of (sequence, position) pairs."""
        length = data.inputs.shape[1]
        return as_index(data.query_rows) * length + as_index(data.query_positions)

    def sequences(self, data: TaskData, spec: TaskSpec) -> np.ndarray:
        """The (n, L) sequences the queries are about (for an oracle that answers every
        position of whole sequences at once). In the masked view a sequence is rebuilt from
        its prefix rows: the last position of row s * L + L - 1 is unseen and irrelevant, as
        no query conditions on it; it is set to 0."""
        if not self.masked:
            return oracle_sequences(data, spec) if spec.pad_id is not None else data.inputs
        n_rows, length = data.inputs.shape
        if n_rows % length:
            raise invalid(
                "inputs", f"{n_rows} rows", f"a multiple of L={length} (one row per position)"
            )
        last = data.inputs[length - 1 :: length].astype(np.int64, copy=True)
        last[last == spec.mask_id] = 0
        return last

    def exact_answers(
        self, oracle: Any, model: GenerativeModel, data: TaskData, spec: TaskSpec
    ) -> np.ndarray:
        """(m, q) exact answers for every query of ``data``, from the oracle at ``model``.

        With an oracle that answers every position of whole sequences at once
        (``oracle.next_token(model, sequences)``), one pass per sequence; otherwise one
        masked BP pass per query (`oracle_leaves`), the slow and obviously exact way, which
        any oracle with ``posteriors`` supports."""
        next_token = getattr(oracle, "next_token", None)
        if not callable(next_token):
            post = oracle.posteriors(model, self.oracle_leaves(data, spec), full=True)
            return self.oracle_answers(post, data)
        answers = next_token_probabilities(next_token(model, self.sequences(data, spec)))
        # the masked view's row s * L + i asks position i of sequence s: slot s * L + i too
        slots = as_index(data.query_rows) if self.masked else self._query_slots(data)
        return answers.reshape(-1, answers.shape[-1])[slots]

    def metrics(
        self, probs: np.ndarray, oracle: np.ndarray, data: TaskData, spec: TaskSpec
    ) -> dict[str, Any]:
        """The language-modelling scores the harness records next to accuracy and KL
        (`next_token_metrics`: cross-entropy, exact entropy, excess loss, perplexities)."""
        return next_token_metrics(
            probs, oracle, data.targets, data.query_positions, length=spec.length
        )


def next_token_probabilities(result: Any) -> np.ndarray:
    """The (n, L, q) probabilities out of whatever an oracle's ``next_token`` returns."""
    for name in ("probabilities", "probs", "leaves"):
        if hasattr(result, name):
            return np.asarray(getattr(result, name))
    if isinstance(result, tuple):
        return np.asarray(result[0])
    return np.asarray(result)


# --- metrics -------------------------------------------------------------------------------------


def _per_position(values: np.ndarray, positions: np.ndarray, length: int) -> list[float | None]:
    counts = np.bincount(positions, minlength=length)
    sums = np.bincount(positions, weights=values, minlength=length)
    return [float(s / c) if c else None for s, c in zip(sums, counts, strict=True)]


def next_token_metrics(
    probs: np.ndarray,
    oracle: np.ndarray,
    targets: np.ndarray | None,
    positions: np.ndarray,
    length: int | None = None,
) -> dict[str, Any]:
    """Language-modelling scores of next-token answers, in bits, per position and averaged.

    ``probs`` and ``oracle`` are the model's and the exact (BP) probabilities (m, q) of the same
    m queries, ``positions`` (m,) the position each asks, ``targets`` (m,) the true next
    symbols or None (random sequences: no truth, only the entropy and the excess loss mean
    something there). Returns:

    - ``cross_entropy``: the model's log-loss -log2 p(x_i), the loss a language model trains on;
    - ``cross_entropy_bp``: the same for the exact answer (its expectation is ``entropy``);
    - ``entropy``: the exact conditional entropy H(X_i | X_<i), the mean entropy of the oracle's
      answer over the sampled prefixes: the floor no model can beat in expectation;
    - ``excess``: the mean KL(BP || model), the model's excess loss in bits per token
      (the expected cross-entropy minus the entropy, without the sampling noise of the targets);
    - ``perplexity`` = 2^cross_entropy and ``perplexity_bp`` = 2^entropy (the exact one);

    each as its mean over every query (``mean``) and per position (``per_position``, a list of
    ``length`` values; None for a position never asked). Model probabilities are floored at
    `hbench.scoring.PROBABILITY_FLOOR`, as the harness's KL is.
    """
    from hbench.scoring import PROBABILITY_FLOOR, kl_bits

    probs = np.asarray(probs, dtype=np.float64)
    oracle = np.asarray(oracle, dtype=np.float64)
    positions = as_index(positions)
    m = probs.shape[0] if probs.ndim == 2 else -1
    if probs.ndim != 2 or oracle.shape != probs.shape or positions.shape != (m,):
        raise ValueError(
            f"probs {probs.shape}, oracle {oracle.shape} and positions {positions.shape}"
            " must be (m, q), (m, q) and (m,)"
        )
    if m == 0:
        raise ValueError("no queries to score: a mean over zero queries is undefined")
    if positions.min() < 0:
        raise ValueError("next-token queries are about positions >= 0")
    length = int(positions.max()) + 1 if length is None else int(length)
    per_query: dict[str, np.ndarray] = {}
    safe = np.where(oracle > 0, oracle, 1.0)
    per_query["entropy"] = -np.sum(oracle * np.log2(safe), axis=1)
    per_query["excess"] = kl_bits(oracle, probs)
    if targets is not None:
        targets = as_index(targets)
        if targets.shape != (m,):
            raise ValueError(f"targets has shape {targets.shape}, expected ({m},)")
        rows = np.arange(m)
        per_query["cross_entropy"] = -np.log2(np.maximum(probs[rows, targets], PROBABILITY_FLOOR))
        bp = np.maximum(oracle[rows, targets], PROBABILITY_FLOOR)
        per_query["cross_entropy_bp"] = -np.log2(bp)
    mean = {name: float(values.mean()) for name, values in per_query.items()}
    per_position = {
        name: _per_position(values, positions, length) for name, values in per_query.items()
    }
    for source, name in (("cross_entropy", "perplexity"), ("entropy", "perplexity_bp")):
        if source in mean:
            mean[name] = float(2.0 ** mean[source])
            values = per_position[source]
            per_position[name] = [None if v is None else float(2.0**v) for v in values]
    for name in ("cross_entropy", "cross_entropy_bp", "perplexity"):
        mean.setdefault(name, None)
        per_position.setdefault(name, [None] * length)
    return {"mean": mean, "per_position": per_position, "n_queries": int(m), "length": length}


# --- the causal promise --------------------------------------------------------------------------


def causality_gap(
    predict: Callable[[TaskData], np.ndarray],
    data: TaskData,
    q: int,
    rng: np.random.Generator,
) -> float:
    """How far a model's next-token answers move when the future changes: 0 for a causal model.

    For causal-view ``data`` (whole sequences, every position asked), every row gets a cut c
    drawn uniformly and its positions >= c redrawn uniformly at random; the answers to the
    queries at positions <= c must not change, since they condition on x_<c at most. Returns
    the largest absolute change of a probability among those queries (one extra prediction).
    """
    inputs = data.inputs
    n, length = inputs.shape
    cut = rng.integers(0, length, size=n)
    future = (np.arange(length)[None, :] >= cut[:, None]) & data.real_positions()
    changed = np.where(future, rng.integers(0, q, size=inputs.shape), inputs)
    before = np.asarray(predict(data.without_targets()))
    changed_data = TaskData(changed, data.query_rows, data.query_positions, lengths=data.lengths)
    after = np.asarray(predict(changed_data))
    asked = as_index(data.query_positions) <= cut[as_index(data.query_rows)]
    return float(np.abs(after[asked] - before[asked]).max(initial=0.0))
