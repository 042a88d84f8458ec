"""How a model's answers are scored against the exact (belief-propagation) oracle.

Accuracy alone cannot tell a model that learned the exact inference algorithm from one that is
merely good: on ambiguous questions even the Bayes-optimal answer is often wrong. So every
answer is also compared with the oracle's full posterior: the KL divergence from it (in bits)
and how often the two pick the same class. Each is measured against two oracles: BP at the
test level (Bayes-optimal for the test data) and BP at the training level (the possibly
mismatched algorithm a model trained there may have learned).

Everything here is a pure function of arrays, so the scores of a run can be recomputed from
stored predictions without the harness.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from hbench.errors import PluginError

#: Model probabilities are raised to at least this before taking logarithms. A model that puts
#: exactly 0 where the oracle puts mass would otherwise score an infinite KL divergence, and a
#: single such query would make the mean over thousands of queries infinite, hiding every other
#: difference between models. With the floor one such query costs at most
#: ``-log2(1e-12)`` ≈ 39.9 bits: heavily penalised, yet still averaged like any other.
PROBABILITY_FLOOR = 1e-12

#: How far a row of a model's probabilities may sum from 1 (float32 softmax over large q
#: drifts by ~1e-6; anything beyond 1e-4 is a model that forgot to normalise).
SUM_TOLERANCE = 1e-4


def _argmax_rate(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a == b))


def kl_bits(p: np.ndarray, model: np.ndarray) -> np.ndarray:
    """KL(p || model) in bits for every row: (m, q), (m, q) -> (m,).

    Terms with p = 0 contribute 0 (the limit p log p -> 0), and model probabilities are floored
    at `PROBABILITY_FLOOR`, so the result is always finite.
    """
    p = np.asarray(p, dtype=np.float64)
    floored = np.maximum(np.asarray(model, dtype=np.float64), PROBABILITY_FLOOR)
    safe_p = np.where(p > 0, p, 1.0)  # log2(1) = 0, and the factor p = 0 kills the term anyway
    return np.sum(p * (np.log2(safe_p) - np.log2(floored)), axis=1)


#: The task whose answer is the root: the only one whose classes are the grammar's n_c root
#: classes rather than its q symbols, unless a task says otherwise (`asks_root`).
ROOT_TASK = "root"


def asks_root(task: object, name: str) -> bool:
    """Whether every answer of ``task`` (a task plugin's object, registered as ``name``) is the
    root, so that its classes are the grammar's n_c: the task's own ``asks_root`` where it has
    one (``ancestor`` at depth 0 asks the root at every leaf), else whether it is ``root``."""
    return bool(getattr(task, "asks_root", name == ROOT_TASK))


def chance_level(root: bool, q: int, classes: int | None = None) -> float:
    """The accuracy that counts as chance (0 on the normalised scale) for a task whose answers
    are the root (``root``) or symbols, on a grammar of ``q`` symbols whose root takes
    ``classes`` values (n_c; None: q).

    Chance is what a model that knows only which classes exist scores by guessing among
    them: 1/q where the answer is a symbol (a leaf, the next token), but 1/n_c for the root,
    which takes only n_c < q values in the RHM or with ``classes``. Measured from 1/q there,
    a model that learned nothing but the root prior would score above 0.
    """
    if root and classes is not None:
        if not 1 <= classes <= q:
            raise ValueError(f"classes={classes!r} is invalid: root classes in [1, {q}] (q)")
        return 1.0 / classes
    return 1.0 / q


def score_queries(
    model: np.ndarray,
    bp_test: np.ndarray,
    bp_train: np.ndarray,
    targets: np.ndarray | None,
    q: int,
    chance: float | None = None,
) -> dict[str, Any]:
    """Every metric of one (seed, k_train, k_test) cell, from per-query probabilities.

    ``model``, ``bp_test`` and ``bp_train`` are (m, q) probabilities for the same m queries;
    ``targets`` the (m,) true classes, or None where there is no truth (uniformly random "ood"
    sequences: only agreement with and divergence from the oracles mean anything there, and
    the accuracies are None). Argmax ties resolve to the lowest class for model and oracle
    alike, so a cell's scores are deterministic. ``chance`` is the task's chance level
    (`chance_level`: 1/n_c for the root of a grammar with n_c root classes), recorded as is;
    None means 1/q.

    Returns exactly the metric fields of `hbench.results.LevelMetrics`: ``acc``, ``acc_bp``,
    ``acc_bp_train`` (float or None), ``chance``, ``kl_bp``, ``kl_bp_train`` (mean bits per
    query), ``agree``, ``agree_train`` (floats) and ``n_queries`` (int).
    """
    model = np.asarray(model, dtype=np.float64)
    bp_test = np.asarray(bp_test, dtype=np.float64)
    bp_train = np.asarray(bp_train, dtype=np.float64)
    m = model.shape[0] if model.ndim == 2 else -1
    for name, array in (("model", model), ("bp_test", bp_test), ("bp_train", bp_train)):
        if array.shape != (m, q):
            raise ValueError(f"{name} has shape {array.shape}, expected ({m}, {q}) like model")
    if m == 0:
        raise ValueError("no queries to score: a mean over zero queries is undefined")
    if targets is not None:
        targets = np.asarray(targets)
        if targets.shape != (m,):
            raise ValueError(f"targets has shape {targets.shape}, expected ({m},)")

    guess = model.argmax(axis=1)
    guess_test = bp_test.argmax(axis=1)
    guess_train = bp_train.argmax(axis=1)
    if targets is None:
        acc = acc_bp = acc_bp_train = None
    else:
        acc = _argmax_rate(guess, targets)
        acc_bp = _argmax_rate(guess_test, targets)
        acc_bp_train = _argmax_rate(guess_train, targets)
    return {
        "acc": acc,
        "acc_bp": acc_bp,
        "acc_bp_train": acc_bp_train,
        "chance": 1.0 / q if chance is None else float(chance),
        "kl_bp": float(np.mean(kl_bits(bp_test, model))),
        "kl_bp_train": float(np.mean(kl_bits(bp_train, model))),
        "agree": _argmax_rate(guess, guess_test),
        "agree_train": _argmax_rate(guess, guess_train),
        "n_queries": int(m),
    }


def normalised_accuracy(acc: float, acc_bp: float, chance: float) -> float:
    """Accuracy on the scale chance = 0, Bayes-optimal (BP) = 1.

    Raw accuracies are not comparable across filter levels, whose Bayes-optimal accuracy
    differs; this is. NaN when BP itself is at chance (the scale is undefined there). Note the
    scale is noisy when ``acc_bp`` is close to ``chance``: the denominator is small.
    """
    denominator = acc_bp - chance
    if denominator == 0:
        return math.nan
    return float((acc - chance) / denominator)


def _field(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, Mapping) else getattr(row, name)


def _is_level(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _summary(per_seed: list[float]) -> dict[str, Any]:
    values = np.asarray(per_seed, dtype=np.float64)
    if values.size == 0:
        return {"mean": math.nan, "stderr": math.nan, "per_seed": []}
    stderr = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0
    return {"mean": float(values.mean()), "stderr": stderr, "per_seed": values.tolist()}


def headline(rows: Iterable[Mapping[str, Any] | Any]) -> dict[str, dict[str, Any]]:
    """The run's two headline numbers: in-sample normalised accuracy and KL from BP.

    In-sample cells are those tested at their own training level (k_test == k_train; "ood"
    never is). Each seed's value is the mean over its in-sample levels, and the headline is the
    mean over seeds with its standard error (std with ddof=1 over sqrt(n_seeds); 0.0 for one
    seed), so the error bar reflects seed-to-seed variation, not the number of levels.

    Rows are mappings or objects (e.g. `LevelMetrics`) with seed, k_train, k_test, acc,
    acc_bp, chance and kl_bp. Per-seed values are listed in ascending seed order. A seed
    lacking an in-sample level that another seed has is an error (ValueError), never silently
    averaged over fewer cells, which would compare seeds on different levels. With no in-sample
    cells at all (training and test levels disjoint) every value is NaN.
    """
    cells: dict[int, dict[int, tuple[float, float]]] = {}
    for row in rows:
        seed = int(_field(row, "seed"))
        cells.setdefault(seed, {})
        k_train, k_test = _field(row, "k_train"), _field(row, "k_test")
        if not (_is_level(k_test) and _is_level(k_train) and int(k_test) == int(k_train)):
            continue
        level = int(k_test)
        if level in cells[seed]:
            raise ValueError(f"two rows for seed {seed} at in-sample level {level}")
        acc, acc_bp = _field(row, "acc"), _field(row, "acc_bp")
        if acc is None or acc_bp is None:
            raise ValueError(f"seed {seed}, in-sample level {level} has no accuracy")
        score = normalised_accuracy(acc, acc_bp, _field(row, "chance"))
        cells[seed][level] = (score, float(_field(row, "kl_bp")))

    levels = set().union(*(set(by_level) for by_level in cells.values())) if cells else set()
    if not levels:
        return {"normalised_accuracy": _summary([]), "kl_bp": _summary([])}
    for seed, by_level in sorted(cells.items()):
        missing = sorted(levels - set(by_level))
        if missing:
            raise ValueError(
                f"seed {seed} lacks in-sample level(s) {missing} that other seeds have;"
                " the headline never averages over missing cells"
            )
    seeds = sorted(cells)
    accuracy = [float(np.mean([cells[s][k][0] for k in sorted(levels)])) for s in seeds]
    kl = [float(np.mean([cells[s][k][1] for k in sorted(levels)])) for s in seeds]
    return {"normalised_accuracy": _summary(accuracy), "kl_bp": _summary(kl)}


def validate_probabilities(probs: Any, n_queries: int, q: int, who: str) -> np.ndarray:
    """A model's answers as a float64 (n_queries, q) array, or a `PluginError` naming ``who``.

    Checked here, once, so that a broken model is reported as its own fault with the first
    offending row, instead of surfacing later as a NaN score or a numpy error in the scoring.
    """
    try:
        array = np.asarray(probs)
    except Exception as exc:  # e.g. a CUDA tensor, which numpy cannot read
        raise PluginError(
            f"{who} returned {type(probs).__name__}, which is not convertible to a numpy"
            f" array: {exc}"
        ) from None
    expected = (n_queries, q)
    if array.shape != expected:
        raise PluginError(
            f"{who} returned probabilities of shape {array.shape}; expected {expected}:"
            f" one row of q={q} probabilities for each of the {n_queries} queries"
        )
    if array.dtype.kind not in "biuf":
        raise PluginError(f"{who} returned an array of dtype {array.dtype}; expected floats")
    array = np.ascontiguousarray(array, dtype=np.float64)
    finite = np.isfinite(array)
    if not finite.all():
        row, col = np.argwhere(~finite)[0]
        raise PluginError(
            f"{who} returned a non-finite probability {array[row, col]} at row {row}, class {col}"
        )
    negative = array < 0
    if negative.any():
        row, col = np.argwhere(negative)[0]
        raise PluginError(
            f"{who} returned a negative probability {array[row, col]:g} at row {row}, class {col}"
        )
    sums = array.sum(axis=1)
    bad = np.abs(sums - 1.0) > SUM_TOLERANCE
    if bad.any():
        row = int(np.argmax(bad))
        raise PluginError(
            f"{who} returned probabilities that do not sum to 1: row {row} sums to"
            f" {sums[row]:.6g} (tolerance {SUM_TOLERANCE:g}); {int(bad.sum())} of"
            f" {n_queries} rows are off"
        )
    return array
