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
* ``gen_fidelity``, the task's headline (`TaskCapabilities.headline`: what its leaderboards
  rank by), with its sampling standard error ``gen_fidelity_se``; see below.

**The headline.** A sampler must be judged on its whole law Q of sequences against the
grammar's P_k, not on its sequences one by one: a model that repeats the likeliest sequence
has the best mean log-likelihood and every sequence valid, yet its law is far from P_k. The
divergence KL(Q || P_k) needs the model's own probabilities of its sequences, which
``sample(n, rng)`` does not give, and the sequence space (q**L) is far too large to estimate
Q by counting. What the sequences do give, exactly, are two lower bounds on the total
variation TV(Q, P_k) = max over sets A of |Q(A) - P_k(A)|:

* A = the sequences P_k cannot produce: TV >= Q(A) = 1 - ``gen_valid`` (incoherence);
* a window's n-gram marginal: TV >= TV(Q_window, P_window) (a marginal is a function of the
  sequence, and no function increases total variation), hence TV >= ``gen_ngram_tv``, the
  mean over the windows, whose exact P_window the oracle gives (lack of diversity, wrong
  local statistics).

So D = max(1 - gen_valid, gen_ngram_tv) is a lower bound on TV(Q, P_k), 0 for an exact
sampler with infinitely many sequences, 1 for a law disjoint from the grammar's. With n
sequences the empirical n-gram law adds a positive bias (`gen_ngram_tv_ref`, the same
statistic of the grammar's own sequences, shows it), so the headline puts D on the scale of
the reference, as normalised accuracy puts accuracy on the scale of BP:

    gen_fidelity = (1 - D(model's sequences)) / (1 - D(reference)),

1 for a sampler that draws from P_k itself (the reference is such a sample, of the same size;
the ratio's bias is of the order of its squared relative error, below 1e-4 on the suites), 0
for one whose sequences the grammar can never produce (or whose n-gram laws are disjoint
from the grammar's), and above 1 only by sampling error. Its standard error is a bootstrap
over the sequences (`BOOTSTRAP` replicates resampling the model's and the reference's
sequences independently, a fixed generator: the same sequences give the same error).
Being a lower bound, it does not see a sampler that has the grammar's support and every
window's n-gram law yet weights whole sequences wrongly (beyond n symbols); ``gen_loglik``
against ``gen_loglik_ref``, shown beside it on the board, is what moves for such a sampler.

The scores of the training level's cell (k_test = k_train) say how well the model learned the
law it was trained on; the other cells say which level's law its sequences follow. Sequences
must have one length (a cfg with rules of one arity): the blocks and windows are aligned.
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from hbench.contracts import GenerativeModel, TaskCapabilities, TaskSpec

from .common import fixed_length_only
from .configs import GenerateTaskConfig, NextTokenTaskConfig
from .next_token import NextTokenTask

LN2 = math.log(2.0)
#: Bootstrap replicates behind ``gen_fidelity_se`` (its relative error about 1/sqrt(2 * 200)).
BOOTSTRAP = 200
#: The seed of the bootstrap's generator: a cell's error is a function of its sequences.
BOOTSTRAP_SEED = 0
#: The most (replicate, window, n-gram) counts held at once while bootstrapping.
BOOTSTRAP_CELLS = 1 << 22


def _mean_se(values: np.ndarray) -> tuple[float | None, float | None]:
    """Mean and its standard error (None for no values; the se needs two)."""
    if values.size == 0:
        return None, None
    se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else None
    return float(values.mean()), se


def distance_bound(
    valid: np.ndarray, grams: np.ndarray, exact: np.ndarray, weights: np.ndarray | None = None
) -> np.ndarray:
    """D = max(1 - share valid, mean over windows of the n-gram total variation) of a set of
    sequences, a lower bound on the total variation between their law and the grammar's (see
    the module docstring), for each of B weightings of the sequences at once.

    ``valid`` (n,) whether the grammar can produce each sequence; ``grams`` (n, windows) the
    index of its n-gram at each window start, ``exact`` (windows, q**n) the grammar's exact
    n-gram law there; ``weights`` (B, n) how often each sequence counts in each replicate
    (a bootstrap's multinomial counts, each row summing to n; None: once each). Returns (B,).
    """
    from scipy import sparse

    valid = np.asarray(valid, dtype=np.float64).reshape(-1)
    grams = np.asarray(grams, dtype=np.int64)
    exact = np.asarray(exact, dtype=np.float64)
    n, windows = grams.shape
    size = exact.shape[1]
    if valid.shape != (n,) or exact.shape[0] != windows or n == 0:
        raise ValueError(
            f"valid {valid.shape}, grams {grams.shape}, exact {exact.shape}: one value and one"
            " row of n-grams per sequence (at least one), one exact law per window"
        )
    w = np.ones((1, n)) if weights is None else np.asarray(weights, dtype=np.float64)
    total = w.sum(axis=1)  # n for a bootstrap replicate
    # counts of every (window, n-gram) in every replicate: one sparse product, no loop
    columns = (grams + np.arange(windows, dtype=np.int64)[None, :] * size).reshape(-1)
    rows = np.repeat(np.arange(n), windows)
    onehot = sparse.csr_matrix((np.ones(n * windows), (rows, columns)), shape=(n, windows * size))
    counts = np.asarray(onehot.T @ w.T).T.reshape(w.shape[0], windows, size)
    frequencies = counts / total[:, None, None]
    tv = 0.5 * np.abs(frequencies - exact[None]).sum(axis=2).mean(axis=1)
    return np.maximum(1.0 - (w @ valid) / total, tv)


def fidelity(
    model: SequenceScores, reference: SequenceScores, replicates: int = BOOTSTRAP
) -> tuple[float | None, float | None]:
    """``gen_fidelity`` = (1 - D(model)) / (1 - D(reference)) and its bootstrap standard
    error (`distance_bound`; the module docstring says why); (None, None) where the
    reference's D is 1 (the scale is undefined), the error None without two replicates."""
    d_model, d_reference = float(model.bound()[0]), float(reference.bound()[0])
    if d_reference >= 1.0:
        return None, None
    value = (1.0 - d_model) / (1.0 - d_reference)
    if replicates < 2:
        return value, None
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = []
    for scores in (model, reference):  # each set resampled on its own: they are independent
        n = scores.coherence.size
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=replicates)
        table = scores.exact.size if scores.exact is not None else 1
        step = max(1, BOOTSTRAP_CELLS // table)  # replicates per product: bounded memory
        draws.append(
            np.concatenate(
                [scores.bound(weights[i : i + step]) for i in range(0, replicates, step)]
            )
        )
    keep = draws[1] < 1.0
    ratios = (1.0 - draws[0][keep]) / (1.0 - draws[1][keep])
    se = float(ratios.std(ddof=1)) if ratios.size > 1 else None
    return value, se


@dataclass(frozen=True)
class SequenceScores:
    """The exact scores of one set of sequences under one grammar."""

    loglik: np.ndarray  # (n,) natural log P(x); -inf where the grammar cannot make x
    coherence: np.ndarray  # (n,) coherence depth in -1..depth
    tv: dict[int, np.ndarray]  # n-gram order -> (windows,) total variation at each window
    depth: int
    #: (n, windows) index of each sequence's n-gram at each window start (`ngram_index`) and
    #: (windows, q**n) their exact law, for the top order n: what `distance_bound` resamples
    grams: np.ndarray | None = None
    exact: np.ndarray | None = None

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

    def bound(self, weights: np.ndarray | None = None) -> np.ndarray:
        """`distance_bound` of these sequences (weighted by ``weights``)."""
        if self.grams is None or self.exact is None:
            raise ValueError("these scores keep no n-grams: scored without the top order")
        return distance_bound(self.coherence == self.depth, self.grams, self.exact, weights)

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

    @cached_property
    def fidelity(self) -> tuple[float | None, float | None]:
        """The headline and its standard error (`fidelity`), computed once per cell."""
        return fidelity(self.model, self.reference)

    def record(self) -> dict[str, Any]:
        """Everything, for the cell's ``task_metrics["generation"]``."""
        mine, theirs = self.model.summary(), self.reference.summary()
        value, se = self.fidelity
        return {
            "generation": {
                **mine,
                **{f"{key}_ref": value for key, value in theirs.items()},
                "ngram": self.ngram,
                "bound": float(self.model.bound()[0]),
                "bound_ref": float(self.reference.bound()[0]),
                "fidelity": value,
                "fidelity_se": se,
            }
        }


class GenerateTask(NextTokenTask):
    """Next-token training data (causal view); the model's own sequences scored exactly."""

    name = "generate"
    #: next-token's exact path and language-modelling scores, and the sequences' scores; its
    #: boards rank by the sequences' fidelity (the module docstring), not next-token accuracy
    capabilities = TaskCapabilities(
        exact_answers=True, metrics=True, generates=True, headline="gen_fidelity"
    )

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
        from hbench_tree.generation import (
            coherence,
            ngram_frequencies,
            ngram_index,
            total_variation,
        )

        depth, loglik = coherence(oracle, model, sequences)
        length = sequences.shape[1]
        tv = {}
        top = min(self.options.ngram, length)
        for n in range(1, top + 1):
            found = ngram_frequencies(sequences, n, int(model.q))
            tv[n] = total_variation(found, self.marginals(oracle, model, n))
        grams = ngram_index(sequences, top, int(model.q))
        exact = self.marginals(oracle, model, top)
        return SequenceScores(loglik, depth, tv, int(model.depth), grams, exact)

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


def gen_fidelity(inputs: Any) -> float | None:
    """The headline: (1 - D(model)) / (1 - D(reference)), D = max(1 - valid share, n-gram
    total variation), a lower bound on the total variation of the sequences' law from the
    grammar's; 1 for exact sampling, 0 for sequences the grammar cannot produce."""
    return _read(inputs, lambda s: s.fidelity[0])


def gen_fidelity_se(inputs: Any) -> float | None:
    """Bootstrap standard error of ``gen_fidelity`` over the drawn and reference sequences."""
    return _read(inputs, lambda s: s.fidelity[1])
