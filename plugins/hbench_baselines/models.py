"""The built-in reference models: where a learner's score sits between the floor and the ceiling.

`PriorModel` ignores the input, so any model that learned something beats it. `NaiveBayesModel`
learns from the training data alone and treats the tokens as independent given the answer: at
filter level k = depth the leaves *are* independent given the root, so there it is the exact
root classifier and approaches BP with enough data, while below that level the gap to BP shows
what the tree's correlations are worth. `BPModel` is exact inference on the grammar it is handed
through `PrivilegedAccess`: the ceiling, never learned.
"""

from __future__ import annotations

import numpy as np

from hbench.contracts import (
    WHOLE_SEQUENCE,
    FitCallbacks,
    ModelCapabilities,
    TaskData,
    TaskSpec,
    exact_answers,
)
from hbench.errors import PluginError, invalid

from .configs import BPModelConfig, NaiveBayesConfig, PriorConfig
from .inputs import as_index, input_tokens, training_targets, unfitted

__all__ = ["BPModel", "NaiveBayesModel", "PriorModel"]

#: Numbers (tokens x classes) per block of queries, so working memory does not grow with P.
BLOCK_NUMBERS = 1 << 22


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(scores)
    return probs / probs.sum(axis=1, keepdims=True)


class PriorModel:
    """P(class) from the training targets, add-one smoothed, for every query alike.

    The floor: it uses no input at all. Smoothing keeps a class never seen in training at a
    finite log-loss. Its sequences (`sample`, task ``generate``) are the same law at every
    position, independently: the unigram floor of generation.
    """

    capabilities = ModelCapabilities(sample=True)

    def __init__(self, config: PriorConfig | None = None) -> None:
        self.config = config or PriorConfig()
        self.probs: np.ndarray | None = None
        self.length: int | None = None

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        counts = np.bincount(training_targets(train, spec), minlength=spec.q) + 1.0
        self.probs = counts / counts.sum()
        self.length = spec.length

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, length) symbols drawn independently from the class frequencies."""
        if self.probs is None or self.length is None:
            raise unfitted("prior")
        return rng.choice(self.probs.size, size=(int(n), self.length), p=self.probs)

    def predict(self, data: TaskData) -> np.ndarray:
        if self.probs is None:
            raise unfitted("prior")
        return np.tile(self.probs, (data.n_queries, 1))

    def num_parameters(self) -> int:
        """The q class frequencies estimated from the training targets."""
        if self.probs is None:
            raise unfitted("prior")
        return int(self.probs.size)


class NaiveBayesModel:
    """Naive Bayes per query position, with the answer as the class and every other observed
    token as a feature: P(c | x) ∝ P(c) * prod_{j != p, x_j observed} P(x_j | c).

    One table per query position p (all of them at `WHOLE_SEQUENCE` for ``root``) holds counts
    of (class c, position j, symbol s), gathered from the training queries, whose answers are
    the only true symbols a masked sequence reveals. Mask tokens are not features: they say
    nothing about the answer. Every count is smoothed by ``alpha``; a position never asked in
    training falls back to the uniform distribution. Counting is one `np.bincount` per block of
    queries and prediction one gather, never a loop per sequence.
    """

    def __init__(self, config: NaiveBayesConfig | None = None) -> None:
        self.config = config or NaiveBayesConfig()
        self.spec: TaskSpec | None = None
        self._slot_of: np.ndarray | None = None  # (length + 1,) query position -> table
        self._log_prior: np.ndarray | None = None  # (tables, q)
        self._log_likelihood: np.ndarray | None = None  # (tables, length, vocab, q)

    def _slots(self, positions: np.ndarray, spec: TaskSpec) -> np.ndarray:
        """Query positions as keys in [0, length]: `WHOLE_SEQUENCE` is key ``length``."""
        if positions.size and (positions.min() < WHOLE_SEQUENCE or positions.max() >= spec.length):
            bad = positions.min() if positions.min() < WHOLE_SEQUENCE else positions.max()
            raise invalid(
                "query_positions", int(bad), f"positions in [0, {spec.length}) or -1 (whole)"
            )
        return np.where(positions == WHOLE_SEQUENCE, spec.length, positions)

    @staticmethod
    def _observed(tokens: np.ndarray, positions: np.ndarray, spec: TaskSpec) -> np.ndarray:
        """(m, length) bool: the features of each query, i.e. tokens that are neither the
        query's own position nor a mask."""
        observed = np.arange(spec.length)[None, :] != positions[:, None]
        if spec.mask_id is not None:
            observed &= tokens != spec.mask_id
        return observed

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        targets = training_targets(train, spec)
        inputs = input_tokens(train, spec)
        rows, positions = as_index(train.query_rows), as_index(train.query_positions)
        length, vocab, q, alpha = spec.length, spec.vocab_size, spec.q, self.config.alpha
        keys = self._slots(positions, spec)
        seen = np.unique(keys)
        tables = seen.size + 1  # the last table stays empty: positions never asked in training
        slot_of = np.full(length + 1, seen.size, dtype=np.int64)
        slot_of[seen] = np.arange(seen.size)
        slots = slot_of[keys]

        class_counts = np.bincount(slots * q + targets, minlength=tables * q).reshape(tables, q)
        size = tables * length * vocab * q
        counts = np.zeros(size)
        block = max(1, BLOCK_NUMBERS // (length * q))
        total = targets.size
        for start in range(0, total, block):
            stop = min(start + block, total)
            tokens = inputs[rows[start:stop]]
            observed = self._observed(tokens, positions[start:stop], spec)
            flat = slots[start:stop, None] * length + np.arange(length)
            flat = (flat * vocab + tokens) * q + targets[start:stop, None]
            counts += np.bincount(flat[observed], minlength=size)
            callbacks.progress(stop, total, "query")
        counts = counts.reshape(tables, length, vocab, q)

        symbols = np.ones(vocab, dtype=bool)
        if spec.mask_id is not None:
            symbols[spec.mask_id] = False
        # Given class c at table t, position j was observed sum_s counts[t, j, s, c] times.
        seen_counts = counts.sum(axis=2, keepdims=True)
        log_likelihood = np.log(counts + alpha) - np.log(seen_counts + alpha * symbols.sum())
        log_likelihood[:, :, ~symbols, :] = 0.0  # never a feature; keeps the gather finite
        self._log_likelihood = log_likelihood
        self._log_prior = np.log(class_counts + alpha) - np.log(
            class_counts.sum(axis=1, keepdims=True) + alpha * q
        )
        self._slot_of = slot_of
        self.spec = spec

    def predict(self, data: TaskData) -> np.ndarray:
        spec = self.spec
        if spec is None or self._log_likelihood is None or self._log_prior is None:
            raise unfitted("naive-bayes")
        inputs = input_tokens(data, spec)
        rows, positions = as_index(data.query_rows), as_index(data.query_positions)
        slots = self._slot_of[self._slots(positions, spec)]
        out = np.empty((rows.size, spec.q))
        block = max(1, BLOCK_NUMBERS // (spec.length * spec.q))
        columns = np.arange(spec.length)[None, :]
        for start in range(0, rows.size, block):
            stop = min(start + block, rows.size)
            tokens = inputs[rows[start:stop]]
            observed = self._observed(tokens, positions[start:stop], spec)
            table = slots[start:stop, None]
            gathered = self._log_likelihood[table, columns, tokens]  # (m, length, q)
            scores = self._log_prior[slots[start:stop]] + np.einsum(
                "mjc,mj->mc", gathered, observed.astype(np.float64)
            )
            out[start:stop] = _softmax(scores)
        return out

    def num_parameters(self) -> int:
        """Estimated numbers: class priors and P(symbol | class) of every table and position
        (the mask token is never a feature, so it has none)."""
        if self._log_prior is None or self._log_likelihood is None or self.spec is None:
            raise unfitted("naive-bayes")
        tables, length, _, q = self._log_likelihood.shape
        return int(self._log_prior.size + tables * length * self.spec.q * q)


class BPModel:
    """Exact BP of the grammar filtered at the training level (or at ``assume_filter``).

    The reference row of every table: what a perfect learner of the training distribution would
    answer. It reads the grammar from `FitCallbacks.privileged`, which the harness fills only for
    models registered with ``privileged=True``, and never looks at the training data. With
    ``assume_filter`` it is the mismatched oracle BP_J: exact for level J whatever it trains on.
    Its sequences (`sample`, task ``generate``) are the grammar's own, drawn by its sampler at
    that level: the ceiling of generation.
    """

    name = "bp"
    capabilities = ModelCapabilities(sample=True)

    def __init__(self, config: BPModelConfig | None = None) -> None:
        self.config = config or BPModelConfig()
        self.model = None
        self.oracle = None
        self.task = None
        self.level: int | None = None

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        access = getattr(callbacks, "privileged", None)
        if access is None:
            raise PluginError(
                f"model {self.name!r} needs the grammar: the harness gives it only to models"
                " registered with privileged=True (callbacks.privileged is None)"
            )
        depth = int(access.grammar.depth)
        level = self.config.assume_filter
        if level is None:
            level = int(access.train_level)
        elif level > depth:
            raise invalid("assume_filter", level, f"a filter level in [0, {depth}] (the depth)")
        self.model = access.filter.apply(access.grammar, level)
        self.oracle, self.task, self.level, self.spec = access.oracle, access.task, level, spec

    def predict(self, data: TaskData) -> np.ndarray:
        if self.model is None:
            raise unfitted(self.name)
        # as the harness computes BP's answers (next-token: one pass for every position)
        answers = exact_answers(self.task, self.oracle, self.model, data, self.spec)
        return np.asarray(answers, dtype=np.float64)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, length) sequences of the grammar at the model's level, from its own sampler."""
        if self.model is None:
            raise unfitted(self.name)
        return np.asarray(self.model.sample(int(n), rng).leaves).astype(np.int64)
