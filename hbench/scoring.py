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
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from hbench import stats
from hbench.errors import PluginError
from hbench.metrics import MetricInputs

#: Model probabilities are raised to at least this before taking logarithms. A model that puts
#: exactly 0 where the oracle puts mass would otherwise score an infinite KL divergence, and a
#: single such query would make the mean over thousands of queries infinite, hiding every other
#: difference between models. With the floor one such query costs at most
#: ``-log2(1e-12)`` ≈ 39.9 bits: heavily penalised, yet still averaged like any other.
PROBABILITY_FLOOR = 1e-12

#: How far a row of a model's probabilities may sum from 1 (float32 softmax over large q
#: drifts by ~1e-6; anything beyond 1e-4 is a model that forgot to normalise).
SUM_TOLERANCE = 1e-4


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


# --- the built-in metrics, per query (registered by the exact oracle's plugin) -------------------


def _hits(probabilities: np.ndarray, targets: np.ndarray | None) -> np.ndarray | None:
    return None if targets is None else probabilities.argmax(axis=1) == targets


def accuracy(inputs: MetricInputs) -> np.ndarray | None:
    """Whether the model's most probable class is the true one (None without targets)."""
    return _hits(inputs.model, inputs.targets)


def accuracy_bp(inputs: MetricInputs) -> np.ndarray | None:
    """Whether the exact answer of the test level (Bayes-optimal) picks the true class."""
    return _hits(inputs.bp_test, inputs.targets)


def accuracy_bp_train(inputs: MetricInputs) -> np.ndarray | None:
    """Whether the exact answer of the training level picks the true class."""
    return _hits(inputs.bp_train, inputs.targets)


def divergence_bp(inputs: MetricInputs) -> np.ndarray:
    """KL(BP of the test level || model) in bits per query."""
    return kl_bits(inputs.bp_test, inputs.model)


def divergence_bp_train(inputs: MetricInputs) -> np.ndarray:
    """KL(BP of the training level || model) in bits per query."""
    return kl_bits(inputs.bp_train, inputs.model)


#: Relative tolerance within which two of BP's probabilities count as the same maximum. Exact
#: inference ties classes whenever the grammar is symmetric in them (on the RHM, where every rule
#: is equally likely, a quarter of the root posteriors at k = 1 have several maxima); floating
#: point sums in different orders leave such ties differing in the last bits (~1e-16 relative),
#: never near 1e-12, while a real preference of BP is orders of magnitude larger.
TIE_RTOL = 1e-12


def tied_maxima(p: np.ndarray) -> np.ndarray:
    """(m, q) -> (m, q) bool: the classes whose probability is within `TIE_RTOL` (relative) of
    the row's maximum, i.e. every answer that is as good as the argmax under ``p``."""
    p = np.asarray(p, dtype=np.float64)
    top = p.max(axis=1, keepdims=True)
    return p >= top * (1.0 - TIE_RTOL)


def _agrees(model: np.ndarray, oracle: np.ndarray) -> np.ndarray:
    choice = model.argmax(axis=1)
    return tied_maxima(oracle)[np.arange(choice.size), choice]


def agreement(inputs: MetricInputs) -> np.ndarray:
    """Whether the model's argmax is one of the test level's exact answer's maxima (any of its
    tied maxima counts: an equally optimal answer is not a disagreement; see `TIE_RTOL`)."""
    return _agrees(inputs.model, inputs.bp_test)


def agreement_train(inputs: MetricInputs) -> np.ndarray:
    """Whether the model's argmax is one of the training level's exact answer's maxima."""
    return _agrees(inputs.model, inputs.bp_train)


def expected_accuracy(inputs: MetricInputs) -> np.ndarray:
    """BP_k_test's probability of the model's argmax: the accuracy the model's choice has in
    expectation over the answers the data allow (Bayes-optimal: the mean of BP's maxima). Unlike
    ``agree`` it has no tie to break, and unlike ``acc`` no sampling noise from the targets; it
    needs no targets, so it is defined on random sequences too."""
    choice = inputs.model.argmax(axis=1)
    return inputs.bp_test[np.arange(choice.size), choice]


#: The built-in metrics: name -> (per-query function, direction, description). A result
#: records each as the `hbench.results.LevelMetrics` field of that name (the mean over the
#: cell's queries); `score_queries` computes them all.
BUILTIN_METRICS: dict[str, tuple[Callable[[MetricInputs], Any], str, str]] = {
    "acc": (accuracy, "higher", "accuracy: the model's argmax is the true class"),
    "acc_bp": (accuracy_bp, "higher", "accuracy of BP at the test level (Bayes-optimal)"),
    "acc_bp_train": (accuracy_bp_train, "higher", "accuracy of BP at the training level"),
    "kl_bp": (divergence_bp, "lower", "KL(BP_k_test || model), bits per query"),
    "kl_bp_train": (divergence_bp_train, "lower", "KL(BP_k_train || model), bits per query"),
    "agree": (
        agreement,
        "higher",
        "share of queries where the model's argmax is one of BP_k_test's (tied) maxima",
    ),
    "agree_train": (agreement_train, "higher", "the same against BP_k_train"),
    "acc_exp": (
        expected_accuracy,
        "higher",
        "expected accuracy of the model's argmax under BP_k_test (mean p_BP at the choice)",
    ),
}

#: The built-in metrics a result records as fields of `hbench.results.LevelMetrics`; the others
#: (``acc_exp``, added later) are recorded under the cell's ``scores`` like any registered
#: metric, so that files written before them stay valid.
FIELD_METRICS = ("acc", "acc_bp", "acc_bp_train", "kl_bp", "kl_bp_train", "agree", "agree_train")


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
    the accuracies are None). A model's argmax ties resolve to the lowest class, so a cell's
    scores are deterministic; it agrees with BP where it is any of BP's tied maxima
    (`tied_maxima`). ``chance`` is the task's chance level
    (`chance_level`: 1/n_c for the root of a grammar with n_c root classes), recorded as is;
    None means 1/q.

    Returns exactly the metric fields of `hbench.results.LevelMetrics`: ``acc``, ``acc_bp``,
    ``acc_bp_train`` (float or None), ``chance``, ``kl_bp``, ``kl_bp_train`` (mean bits per
    query), ``agree``, ``agree_train`` (floats) and ``n_queries`` (int), and the test set's
    standard errors of the cell (`cell_errors`): ``acc_se``, ``normalised_accuracy_se``,
    ``kl_bp_se`` (None where undefined).
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

    chance = 1.0 / q if chance is None else float(chance)
    inputs = MetricInputs(model, bp_test, bp_train, targets, q, chance)
    per_query = {name: BUILTIN_METRICS[name][0](inputs) for name in FIELD_METRICS}
    scores: dict[str, Any] = {
        name: None if values is None else float(np.mean(values))
        for name, values in per_query.items()
    }
    errors = cell_errors(per_query["acc"], per_query["acc_bp"], per_query["kl_bp"], chance)
    return {**scores, "chance": chance, "n_queries": int(m), **errors}


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def cell_errors(
    model_correct: np.ndarray | None,
    bp_correct: np.ndarray | None,
    kl: np.ndarray,
    chance: float,
) -> dict[str, float | None]:
    """A cell's test-set standard errors from its per-query values (`hbench.stats`): of the
    accuracy (binomial), of the normalised accuracy (delta method with the covariance of the
    model's and BP's correctness on the same queries) and of the mean KL from BP. The
    accuracies' are None without targets, any is None where undefined (one query; BP at
    chance)."""
    kl = np.asarray(kl, dtype=np.float64)
    out: dict[str, float | None] = {
        "acc_se": None,
        "normalised_accuracy_se": None,
        "kl_bp_se": _finite_or_none(stats.mean_se(kl)),
    }
    if model_correct is not None and bp_correct is not None:
        a = np.asarray(model_correct, dtype=np.float64)
        out["acc_se"] = stats.binomial_se(float(a.mean()), int(a.size))
        out["normalised_accuracy_se"] = _finite_or_none(
            stats.normalised_accuracy_se(a, bp_correct, chance)
        )
    return out


def score_random(
    model: np.ndarray,
    bp_train: np.ndarray,
    q: int,
    chance: float | None,
    possible: np.ndarray,
    query_rows: np.ndarray,
    k_train: int,
) -> dict[str, Any]:
    """The "ood" cell (uniformly random sequences), scored on the sequences the grammar of the
    training level can produce only.

    On an impossible sequence (log-likelihood -inf under BP of the training level) BP's answer
    is uniform by convention, not an inference: divergence from or agreement with it measures
    the distance to uniform, which a model that knows nothing wins. ``possible`` is (n,) per
    sequence, ``query_rows`` the (m,) sequence of each query. Records ``possible`` (the share of
    the random sequences that are possible) and, where none is, every metric as None with the
    reason (``na_reason``)."""
    possible = np.asarray(possible, dtype=bool).reshape(-1)
    keep = possible[np.asarray(query_rows, dtype=np.int64)]
    share = float(possible.mean()) if possible.size else 0.0
    chance_value = 1.0 / q if chance is None else float(chance)
    if not keep.any():
        empty: dict[str, Any] = dict.fromkeys(FIELD_METRICS)
        errors = dict.fromkeys(("acc_se", "normalised_accuracy_se", "kl_bp_se"))
        reason = f"no random sequence is possible under the grammar at k={k_train}"
        return {
            **empty,
            **errors,
            "chance": chance_value,
            "n_queries": 0,
            "possible": share,
            "na_reason": reason,
        }
    model = np.asarray(model, dtype=np.float64)[keep]
    bp_train = np.asarray(bp_train, dtype=np.float64)[keep]
    scores = score_queries(model, bp_train, bp_train, None, q, chance)
    return {**scores, "possible": share, "na_reason": None}


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


def _optional(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


def _summary(per_seed: list[float], test_se: list[float | None]) -> dict[str, Any]:
    """`hbench.stats.estimate` over seeds as the headline records it: ``mean``, ``stderr`` (the
    standard error by the module's max rule, kept under its old name), ``se`` (the same),
    ``se_seeds``, ``se_test``, ``low``/``high`` (the 95% interval), ``dof`` (n - 1 where the
    seeds decided; NaN where the test set did, whose normal quantile has infinite degrees of
    freedom, as JSON has no infinity), ``source`` ("seeds", "test set" or "none") and
    ``per_seed``. The test-set errors count only where every seed has one; NaN values (BP at
    chance) give NaN throughout."""
    values = [float(v) for v in per_seed]
    known = [e for e in test_se if e is not None and math.isfinite(e)]
    errors = known if len(known) == len(values) and values else None
    if not values or not all(math.isfinite(v) for v in values):
        mean = float(np.mean(values)) if values else math.nan
        summary = stats.Estimate(
            mean, math.nan, math.nan, math.nan, len(values), math.nan, math.nan, math.nan,
            tuple(values),
        ).as_dict()  # fmt: skip
    else:
        summary = stats.estimate(values, errors).as_dict()
    if math.isinf(summary["dof"]):  # JSON has no infinity; ``source`` "test set" says it
        summary["dof"] = math.nan
    return {"stderr": summary["se"], **summary}


def _seed_error(errors: list[float | None]) -> float | None:
    """A seed's headline test-set error: the mean over its levels has sqrt(sum se^2) / n."""
    if not errors or any(e is None or not math.isfinite(e) for e in errors):
        return None
    return math.sqrt(sum(float(e) ** 2 for e in errors)) / len(errors)  # type: ignore[arg-type]


def headline(rows: Iterable[Mapping[str, Any] | Any]) -> dict[str, dict[str, Any]]:
    """The run's two headline numbers: in-sample normalised accuracy and KL from BP.

    In-sample cells are those tested at their own training level (k_test == k_train; "ood"
    never is). Each seed's value is the mean over its in-sample levels, with the test-set
    standard error sqrt(sum of its levels' se^2) / n_levels (the cells' ``normalised_accuracy_se``
    and ``kl_bp_se``), and the headline is `hbench.stats.estimate` over seeds: the mean with the
    larger of the between-seed and the test-set standard error, its interval and where its error
    came from (`_summary`), so that one seed or two equal seeds still carry the test set's
    error, never 0.

    Rows are mappings or objects (e.g. `LevelMetrics`) with seed, k_train, k_test, acc,
    acc_bp, chance and kl_bp (the errors optional). Per-seed values are listed in ascending seed
    order. A seed lacking an in-sample level that another seed has is an error (ValueError),
    never silently averaged over fewer cells, which would compare seeds on different levels.
    With no in-sample cells at all (training and test levels disjoint) every value is NaN.
    """
    cells: dict[int, dict[int, tuple[float, float, float | None, float | None]]] = {}
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
        cells[seed][level] = (
            score,
            float(_field(row, "kl_bp")),
            _optional(row, "normalised_accuracy_se"),
            _optional(row, "kl_bp_se"),
        )

    order = _levels_of_every_seed(cells)
    if not order:
        return {"normalised_accuracy": _summary([], []), "kl_bp": _summary([], [])}
    seeds = sorted(cells)
    summaries = {}
    for index, name in ((0, "normalised_accuracy"), (1, "kl_bp")):
        values = [float(np.mean([cells[s][k][index] for k in order])) for s in seeds]
        errors = [_seed_error([cells[s][k][index + 2] for k in order]) for s in seeds]
        summaries[name] = _summary(values, errors)
    return summaries


def _levels_of_every_seed(cells: Mapping[int, Mapping[int, Any]]) -> list[int]:
    """The in-sample levels of ``cells`` (seed -> level -> values), ascending, after checking
    that every seed has every one of them: a headline never averages a seed over fewer cells
    than another (ValueError naming the seed and its missing levels)."""
    levels = set().union(*(set(by_level) for by_level in cells.values())) if cells else set()
    for seed, by_level in sorted(cells.items()):
        missing = sorted(levels - set(by_level))
        if missing:
            raise ValueError(
                f"seed {seed} lacks in-sample level(s) {missing} that other seeds have;"
                " the headline never averages over missing cells"
            )
    return sorted(levels)


def metric_per_seed(
    rows: Iterable[Mapping[str, Any] | Any], name: str
) -> tuple[list[int], list[float], list[float | None]]:
    """A registered metric's per-seed headline values: ``(seeds, values, errors)``, seeds in
    ascending order, each value the mean of the cells' ``scores[name]`` over the seed's
    in-sample levels (k_test == k_train) and its test-set error sqrt(sum of the levels'
    ``scores[name + "_se"]`` squared) / n_levels (None where a level's is unknown). A seed
    lacking a level another has, or an in-sample cell without the metric, is a ValueError:
    never averaged over fewer cells. No in-sample cells: three empty lists."""
    cells: dict[int, dict[int, tuple[float, float | None]]] = {}
    for row in rows:
        seed = int(_field(row, "seed"))
        cells.setdefault(seed, {})
        k_train, k_test = _field(row, "k_train"), _field(row, "k_test")
        if not (_is_level(k_test) and _is_level(k_train) and int(k_test) == int(k_train)):
            continue
        scores = _optional(row, "scores") or {}
        value = scores.get(name)
        if value is None:
            raise ValueError(f"seed {seed}, in-sample level {int(k_test)} has no {name}")
        if int(k_test) in cells[seed]:
            raise ValueError(f"two rows for seed {seed} at in-sample level {int(k_test)}")
        cells[seed][int(k_test)] = (float(value), scores.get(f"{name}_se"))
    order = _levels_of_every_seed(cells)
    if not order:
        return [], [], []
    seeds = sorted(cells)
    values = [float(np.mean([cells[s][k][0] for k in order])) for s in seeds]
    errors = [_seed_error([cells[s][k][1] for k in order]) for s in seeds]
    return seeds, values, errors


def metric_headline(rows: Iterable[Mapping[str, Any] | Any], name: str) -> dict[str, Any]:
    """A task's declared headline (`hbench.contracts.TaskCapabilities.headline`): the registered
    metric ``name`` over the in-sample cells, summarised as `headline` summarises normalised
    accuracy: `hbench.stats.estimate` over the seeds' values of `metric_per_seed` (the mean
    with the larger of the between-seed and the test-set standard error; `_summary`)."""
    _, values, errors = metric_per_seed(rows, name)
    return _summary(values, errors)


def headline_line(summary: Mapping[str, Any], digits: int = 3) -> str:
    """One headline number as printed: ``0.812 ± 0.012 (seeds)``, the mean with its standard
    error and the source that decided it; the mean alone where there is no error."""
    mean, se = summary.get("mean"), summary.get("se", summary.get("stderr"))
    if mean is None or not math.isfinite(mean):
        return "n/a"
    if se is None or not math.isfinite(se):
        return f"{mean:.{digits}f}"
    source = summary.get("source") or "seeds"
    return f"{mean:.{digits}f} ± {se:.{digits}f} ({source})"


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
