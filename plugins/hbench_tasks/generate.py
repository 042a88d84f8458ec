"""Generation: the model draws sequences, and hbench judges them against the grammar exactly.

A model learns from P sequences as for ``next-token`` (causal view: the same training data,
test questions and exact answers, so its next-token scores are recorded too), and must also
draw sequences of its own: ``sample(n, rng)`` (`hbench.contracts.ModelCapabilities.sample`).
After each fit the harness asks it for ``samples`` sequences (at most the suite's ``n_test``)
and scores them at every test level k against the grammar filtered at k, next to as many of
that level's own test sequences, the *reference*, scored the same way:

* ``gen_loglik``: the mean exact log-likelihood log2 P_k(x) of the sequences, in bits per
  sequence, over those the grammar can produce, with its standard error ``gen_loglik_se``;
  ``gen_loglik_ref`` is the same for the reference: minus the grammar's entropy, estimated. A
  model that draws from the grammar's law scores the same in expectation; one that draws the
  likeliest sequences only scores higher, one that draws noise lower.
* ``gen_valid``: the share of sequences the grammar can produce at all (P_k(x) > 0).
* ``gen_coherence``: how far up the tree the sequences parse: each sequence's coherence depth
  c(x) in -1..depth is the largest d at which every aligned block of arity**d leaves has
  positive marginal probability under the grammar, i.e. is derived by some symbol the grammar
  can put at the root of that block's subtree (`hbench_tree.generation`); the metric is the
  mean of (c(x) + 1) / (depth + 1), 1 for sequences the grammar can produce. The share of
  sequences that parse at each depth d = 0..depth is recorded in the cell's
  ``task_metrics["generation"]["coherent"]`` (the reference's in ``coherent_ref``).
* ``gen_ngram_tv``: the total variation between the empirical law of the n-gram at each window
  start i (positions aligned: window i is the same leaves in every sequence) and the exact
  marginal P_k(x_i .. x_{i+n-1}), averaged over the windows, for n = ``ngram``;
  ``gen_ngram_tv_ref`` is the same for the reference, the floor that finite samples leave.
  Every order 1..ngram is in ``task_metrics``.

The scores of the training level's cell (k_test = k_train) say how well the model learned the
law it was trained on; the other cells say which level's law its sequences follow. Sequences
must have one length (a cfg with rules of one arity): the blocks and windows are aligned.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from hbench.contracts import GenerativeModel, TaskCapabilities, TaskSpec

from .common import fixed_length_only
from .configs import GenerateTaskConfig, NextTokenTaskConfig
from .next_token import NextTokenTask

LN2 = math.log(2.0)


def _mean_se(values: np.ndarray) -> tuple[float | None, float | None]:
    """Mean and its standard error (None for no values; the se needs two)."""
    if values.size == 0:
        return None, None
    se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else None
    return float(values.mean()), se


@dataclass(frozen=True)
class SequenceScores:
    """The exact scores of one set of sequences under one grammar."""

    loglik: np.ndarray  # (n,) natural log P(x); -inf where the grammar cannot make x
    coherence: np.ndarray  # (n,) coherence depth in -1..depth
    tv: dict[int, np.ndarray]  # n-gram order -> (windows,) total variation at each window
    depth: int

    @property
    def bits(self) -> np.ndarray:
        """log2 P(x) of the sequences the grammar can produce."""
        finite = self.loglik[np.isfinite(self.loglik)]
        return finite / LN2

    @property
    def valid(self) -> float:
        """Share the grammar can produce: those that parse at the top depth."""
        return float(np.mean(self.coherence == self.depth))

    @property
    def coherence_score(self) -> float:
        """Mean share of the depths 0..depth at which a sequence parses: 1 for the
        grammar's own, 0 for sequences with a symbol it never puts where it stands."""
        return float(np.mean((self.coherence + 1) / (self.depth + 1)))

    def coherent(self) -> list[float]:
        """Share of the sequences that parse at each depth d = 0..depth."""
        return [float(np.mean(self.coherence >= d)) for d in range(self.depth + 1)]

    def summary(self) -> dict[str, Any]:
        mean, se = _mean_se(self.bits)
        return {
            "n": int(self.loglik.size),
            "loglik_bits": mean,
            "loglik_bits_se": se,
            "valid": self.valid,
            "coherence": self.coherence_score,
            "coherent": self.coherent(),
            "ngram_tv": {str(n): float(values.mean()) for n, values in self.tv.items()},
        }


@dataclass(frozen=True)
class GenerationScores:
    """A model's sequences and the reference's, scored at one test level; what the registered
    ``gen_*`` metrics read (`hbench.metrics.MetricInputs.samples`)."""

    model: SequenceScores
    reference: SequenceScores
    ngram: int

    def record(self) -> dict[str, Any]:
        """Everything, for the cell's ``task_metrics["generation"]``."""
        mine, theirs = self.model.summary(), self.reference.summary()
        return {
            "generation": {
                **mine,
                **{f"{key}_ref": value for key, value in theirs.items()},
                "ngram": self.ngram,
            }
        }


class GenerateTask(NextTokenTask):
    """Next-token training data (causal view); the model's own sequences scored exactly."""

    name = "generate"
    #: next-token's exact path and language-modelling scores, and the sequences' scores
    capabilities = TaskCapabilities(exact_answers=True, metrics=True, generates=True)

    def __init__(self, config: GenerateTaskConfig | None = None) -> None:
        super().__init__(NextTokenTaskConfig(view="causal"))
        self.options = config or GenerateTaskConfig()
        self._lock = threading.Lock()
        self._exact: dict[tuple[int, int], tuple[Any, np.ndarray]] = {}
        self._references: dict[tuple[int, str], tuple[Any, SequenceScores]] = {}

    def spec(self, model: GenerativeModel) -> TaskSpec:
        from hbench_tree.generation import check_order

        fixed_length_only(self.name, model, "blocks and n-gram windows are aligned positions")
        spec = super().spec(model)
        check_order(min(self.options.ngram, spec.length), spec.q, spec.length)
        return spec

    def n_samples(self, n_test: int) -> int:
        """Sequences the model draws after each fit: ``samples``, at most the test set's."""
        return max(1, min(int(self.options.samples), int(n_test)))

    def marginals(self, oracle: Any, model: GenerativeModel, n: int) -> np.ndarray:
        """The exact n-gram marginals of ``model`` (cached per grammar object and order)."""
        from hbench_tree.generation import ngram_marginals

        key = (id(model), n)
        with self._lock:
            if key in self._exact and self._exact[key][0] is model:
                return self._exact[key][1]
        exact = ngram_marginals(oracle, model, n)
        with self._lock:
            self._exact[key] = (model, exact)  # the grammar kept alive: its id stays its own
        return exact

    def _score(self, oracle: Any, model: GenerativeModel, sequences: np.ndarray) -> SequenceScores:
        from hbench_tree.generation import coherence, ngram_frequencies, total_variation

        depth, loglik = coherence(oracle, model, sequences)
        length = sequences.shape[1]
        tv = {}
        for n in range(1, min(self.options.ngram, length) + 1):
            found = ngram_frequencies(sequences, n, int(model.q))
            tv[n] = total_variation(found, self.marginals(oracle, model, n))
        return SequenceScores(loglik, depth, tv, int(model.depth))

    def _reference(
        self, oracle: Any, model: GenerativeModel, reference: np.ndarray
    ) -> SequenceScores:
        """The reference's scores, computed once per grammar and reference sequences (every
        training level's cell at one test level shares them)."""
        digest = hashlib.sha1(np.ascontiguousarray(reference, dtype=np.int64)).hexdigest()
        key = (id(model), digest)
        with self._lock:
            found = self._references.get(key)
        if found is not None and found[0] is model:
            return found[1]
        scores = self._score(oracle, model, reference)
        with self._lock:
            self._references[key] = (model, scores)
        return scores

    def score_samples(
        self,
        oracle: Any,
        model: GenerativeModel,
        samples: np.ndarray,
        reference: np.ndarray,
        spec: TaskSpec,
    ) -> GenerationScores:
        """The model's sequences and the grammar's own (``reference``), scored under ``model``
        (the grammar of one test level) by ``oracle``; see the module docstring."""
        mine = self._score(oracle, model, np.asarray(samples, dtype=np.int64))
        theirs = self._reference(oracle, model, np.asarray(reference, dtype=np.int64))
        return GenerationScores(mine, theirs, min(self.options.ngram, spec.length))


# --- the registered metrics (`hbench.metrics`): None outside a generating task's cells ---------


def _read(inputs: Any, value: Any) -> float | None:
    scores = getattr(inputs, "samples", None)
    if not isinstance(scores, GenerationScores):
        return None
    out = value(scores)
    return None if out is None or not math.isfinite(out) else float(out)


def gen_loglik(inputs: Any) -> float | None:
    """Mean log2 P(x) of the model's sequences the grammar can produce, bits per sequence."""
    return _read(inputs, lambda s: _mean_se(s.model.bits)[0])


def gen_loglik_se(inputs: Any) -> float | None:
    """Standard error of ``gen_loglik``."""
    return _read(inputs, lambda s: _mean_se(s.model.bits)[1])


def gen_loglik_ref(inputs: Any) -> float | None:
    """Mean log2 P(x) of the grammar's own sequences: minus its entropy per sequence."""
    return _read(inputs, lambda s: _mean_se(s.reference.bits)[0])


def gen_valid(inputs: Any) -> float | None:
    """Share of the model's sequences that the grammar can produce."""
    return _read(inputs, lambda s: s.model.valid)


def gen_coherence(inputs: Any) -> float | None:
    """Mean (c(x) + 1) / (depth + 1) of the model's sequences (c: the coherence depth)."""
    return _read(inputs, lambda s: s.model.coherence_score)


def gen_ngram_tv(inputs: Any) -> float | None:
    """Mean over windows of the total variation of the model's n-gram law from the exact."""
    return _read(inputs, lambda s: float(s.model.tv[s.ngram].mean()))


def gen_ngram_tv_ref(inputs: Any) -> float | None:
    """The same for the grammar's own sequences: the floor of finite samples."""
    return _read(inputs, lambda s: float(s.reference.tv[s.ngram].mean()))
