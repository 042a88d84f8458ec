"""The statistics every compared number goes through: its uncertainty, and when one result beats
another.

A number on a board or in a verdict is a mean over seeds (each seed draws its own grammar in an
official run) of values measured on a finite test set. Two sources of error add up:

- the *test set*: each seed's value is itself an estimate from m test queries (a binomial error for
  an accuracy, the spread of per-query KL over sqrt(m) for a divergence);
- the *seeds/grammars*: seeds differ in their grammar and their training, which the sample
  standard deviation over seeds measures.

The spread over seeds already contains the test-set error in expectation, but with two or three
seeds it is itself very noisy (two equal numbers give 0). So the rule here is explicit:

    se = max(s / sqrt(n), sqrt(sum_i se_i^2) / n)

the larger of the between-seed standard error (``s`` the standard deviation with ddof 1 over the
``n`` seeds) and the standard error that the test sets alone imply for the mean. Intervals use the
t-quantile with n - 1 degrees of freedom when the seeds decide the error, and the normal quantile
when the test sets do (their error is known, not estimated from n values).

"A is better than B" is one rule (`compare`): a paired t-test on the per-seed differences when the
two results share their seeds and grammars (the same grammar seeds, as for analyses of one run),
Welch's t-test otherwise (official rows never share grammars); each with the test-set floor above.
A difference counts when its two-sided p-value is below ``alpha`` (0.05). Ranks (`ranks`) number a
row by how many rows beat it by that rule, so rows that the statistics do not separate share a
rank range ("2-3").
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Two-sided significance level of every "better than" and the coverage (1 - ALPHA) of intervals.
ALPHA = 0.05
#: The fewest seeds (grammar draws, in an official run) a leaderboard ranks: one seed hides the
#: spread between training runs, and three cannot separate most neighbouring rows. Also the
#: number of seeds of ``hbench run --official`` without ``--seeds``.
MIN_SEEDS = 5

#: How far below its row's median a seed must lie, in robust standard deviations (1.4826 MAD, or
#: the seeds' test-set error where that is larger), to be marked as a failed fit (`outliers`).
OUTLIER_SCALE = 4.0


@dataclass(frozen=True)
class Estimate:
    """A mean with its uncertainty (see the module docstring for the rule).

    ``se`` is the standard error used; ``se_seeds`` the between-seed one (NaN for one seed),
    ``se_test`` the one the test sets imply (NaN where not given); ``dof`` the degrees of freedom
    of ``se`` (n - 1 when the seeds decided, infinite when the test sets did); ``low``/``high`` the
    (1 - alpha) interval; ``values`` the per-seed values in the order given."""

    mean: float
    se: float
    se_seeds: float
    se_test: float
    n: int
    dof: float
    low: float
    high: float
    values: tuple[float, ...]

    @property
    def source(self) -> str:
        """Which error decided ``se``: "seeds" or "test set" (or "none" without either)."""
        if math.isnan(self.se):
            return "none"
        return "test set" if math.isinf(self.dof) else "seeds"

    def as_dict(self) -> dict[str, object]:
        return {
            "mean": self.mean,
            "se": self.se,
            "se_seeds": self.se_seeds,
            "se_test": self.se_test,
            "n": self.n,
            "dof": self.dof,
            "low": self.low,
            "high": self.high,
            "source": self.source,
            "per_seed": list(self.values),
        }


def quantile(dof: float, alpha: float = ALPHA) -> float:
    """The two-sided (1 - alpha) quantile: Student's t with ``dof`` degrees of freedom, the normal
    one for infinite ``dof``."""
    from scipy import stats as distributions  # here, not at import: the CLI starts without it

    if math.isinf(dof):
        return float(distributions.norm.ppf(1 - alpha / 2))
    return float(distributions.t.ppf(1 - alpha / 2, dof))


def _array(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds a non-finite value: {array.tolist()}")
    return array


def mean_test_se(test_se: Sequence[float] | np.ndarray | None, n: int) -> float:
    """The standard error of a mean of n values whose own test-set errors are ``test_se``:
    sqrt(sum of squares) / n (the seeds' test sets are independent)."""
    if test_se is None:
        return math.nan
    errors = _array(test_se, "test_se")
    if errors.size != n:
        raise ValueError(f"test_se has {errors.size} values for {n} seeds")
    if np.any(errors < 0):
        raise ValueError(f"test_se holds a negative standard error: {errors.tolist()}")
    return float(math.sqrt(float(np.sum(errors**2))) / n)


def estimate(
    values: Sequence[float] | np.ndarray,
    test_se: Sequence[float] | np.ndarray | None = None,
    *,
    alpha: float = ALPHA,
) -> Estimate:
    """The mean of per-seed ``values`` with the larger of the between-seed and the test-set
    standard error, and its (1 - alpha) interval.

    ``test_se[i]`` is seed i's own standard error from its test set (None: unknown; then only
    the seeds speak, and one seed has no error at all: NaN, never 0)."""
    x = _array(values, "values")
    n = int(x.size)
    if n == 0:
        nan = math.nan
        return Estimate(nan, nan, nan, nan, 0, nan, nan, nan, ())
    mean = float(x.mean())
    se_seeds = float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    se_test = mean_test_se(test_se, n)
    if math.isnan(se_seeds) and math.isnan(se_test):
        se, dof = math.nan, math.nan
    elif math.isnan(se_test) or (not math.isnan(se_seeds) and se_seeds >= se_test):
        se, dof = se_seeds, float(n - 1)
    else:
        se, dof = se_test, math.inf
    if math.isnan(se):
        low = high = math.nan
    else:
        half = quantile(dof, alpha) * se
        low, high = mean - half, mean + half
    return Estimate(mean, se, se_seeds, se_test, n, dof, low, high, tuple(x.tolist()))


def binomial_se(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` measured on ``n`` independent trials."""
    if n <= 0:
        raise ValueError(f"n={n} trials: a proportion needs at least one")
    return math.sqrt(max(p * (1.0 - p), 0.0) / n)


def mean_se(per_query: Sequence[float] | np.ndarray) -> float:
    """Standard error of the mean of per-query values (a mean KL over the test queries)."""
    x = _array(per_query, "per_query")
    if x.size < 2:
        return math.nan
    return float(x.std(ddof=1) / math.sqrt(x.size))


def normalised_accuracy_se(
    model_correct: Sequence[bool] | np.ndarray,
    bp_correct: Sequence[bool] | np.ndarray,
    chance: float,
) -> float:
    """Test-set standard error of (acc - chance) / (acc_bp - chance), from each query's
    correctness for the model and for BP on the same queries.

    By the delta method with the covariance of the two indicators (model and BP are right on
    largely the same queries, which shrinks the error): with A, B the two accuracies and
    D = B - chance,

        var = [var(a) / D^2 + (A - chance)^2 var(b) / D^4 - 2 (A - chance) cov(a, b) / D^3] / m.

    NaN where BP is at chance (the scale is undefined there)."""
    a = np.asarray(model_correct, dtype=np.float64).reshape(-1)
    b = np.asarray(bp_correct, dtype=np.float64).reshape(-1)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"model_correct {a.shape} and bp_correct {b.shape}: one per query")
    m = a.size
    big_a, big_b = float(a.mean()), float(b.mean())
    d = big_b - chance
    if d == 0:
        return math.nan
    var_a = float(np.mean((a - big_a) ** 2))
    var_b = float(np.mean((b - big_b) ** 2))
    cov = float(np.mean((a - big_a) * (b - big_b)))
    excess = big_a - chance
    var = var_a / d**2 + excess**2 * var_b / d**4 - 2.0 * excess * cov / d**3
    return math.sqrt(max(var, 0.0) / m)


def normalised_accuracy_se_bound(acc: float, acc_bp: float, chance: float, m: int) -> float:
    """The test-set standard error of normalised accuracy from the two accuracies alone (old
    result files keep no per-query correctness): the delta method with the covariance taken as
    0, an upper bound wherever model and BP are right on overlapping queries (cov >= 0)."""
    d = acc_bp - chance
    if d == 0 or m <= 0:
        return math.nan
    excess = acc - chance
    var = acc * (1 - acc) / d**2 + excess**2 * acc_bp * (1 - acc_bp) / d**4
    return math.sqrt(max(var, 0.0) / m)


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b`` by the one rule (see `compare`). ``better`` is +1 when a is
    significantly larger, -1 when b is, 0 when the statistics do not separate them."""

    difference: float
    se: float
    dof: float
    p_value: float
    test: str
    better: int

    @property
    def separated(self) -> bool:
        return self.better != 0


def _p_value(t: float, dof: float) -> float:
    from scipy import stats as distributions

    if math.isinf(dof):
        return float(2 * distributions.norm.sf(abs(t)))
    return float(2 * distributions.t.sf(abs(t), dof))


def compare(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    a_test_se: Sequence[float] | np.ndarray | None = None,
    b_test_se: Sequence[float] | np.ndarray | None = None,
    paired: bool = False,
    alpha: float = ALPHA,
) -> Comparison:
    """Whether per-seed values ``a`` beat ``b`` (higher is better; negate for a divergence).

    ``paired``: the two share their seeds and grammars, value i of each on the same grammar, so
    the test is a paired t-test on the differences (n - 1 degrees of freedom); otherwise Welch's
    t-test (Welch-Satterthwaite degrees of freedom). Either way the standard error is at least
    the one the test sets imply (the module's rule); when that floor decides, the normal
    quantile applies. With one seed on a side and no test-set error there is nothing to test:
    ``better`` is 0 and the p-value NaN."""
    x, y = _array(a, "a"), _array(b, "b")
    if x.size == 0 or y.size == 0:
        raise ValueError("compare needs at least one value on each side")
    if paired:
        if x.size != y.size:
            raise ValueError(
                f"a paired comparison needs as many values on each side: {x.size}, {y.size}"
            )
        floor_a = mean_test_se(a_test_se, x.size)
        floor_b = mean_test_se(b_test_se, y.size)
        floor = math.hypot(floor_a, floor_b) if not math.isnan(floor_a + floor_b) else math.nan
        diff = x - y
        se_seeds = float(diff.std(ddof=1) / math.sqrt(diff.size)) if diff.size > 1 else math.nan
        dof_seeds = float(diff.size - 1)
        test = "paired t"
    else:
        ea = estimate(x, a_test_se, alpha=alpha)
        eb = estimate(y, b_test_se, alpha=alpha)
        floor = (
            math.hypot(ea.se_test, eb.se_test)
            if not math.isnan(ea.se_test + eb.se_test)
            else math.nan
        )
        if x.size > 1 and y.size > 1:
            va, vb = ea.se_seeds**2, eb.se_seeds**2
            se_seeds = math.sqrt(va + vb)
            denominator = (va**2 / (x.size - 1)) + (vb**2 / (y.size - 1))
            dof_seeds = (va + vb) ** 2 / denominator if denominator > 0 else math.inf
        else:
            se_seeds, dof_seeds = math.nan, math.nan
        test = "Welch t"
    difference = float(x.mean() - y.mean())
    if math.isnan(se_seeds) and math.isnan(floor):
        return Comparison(difference, math.nan, math.nan, math.nan, test, 0)
    if math.isnan(floor) or (not math.isnan(se_seeds) and se_seeds >= floor):
        se, dof = se_seeds, dof_seeds
    else:
        se, dof = floor, math.inf
    # se 0: every seed alike and no test-set error given, so any difference is exact
    p = (0.0 if difference != 0 else 1.0) if se == 0 else _p_value(difference / se, dof)
    better = 0
    if p < alpha and difference != 0:
        better = 1 if difference > 0 else -1
    return Comparison(difference, se, dof, p, test, better)


def consistent(a: Estimate, b: Estimate, *, alpha: float = 0.01) -> bool:
    """Whether two estimates of the same quantity agree: ``|a - b|`` within the (1 - alpha)
    quantile times their combined standard error (a re-run checked against its claim). Both
    errors must be known: an estimate without one cannot be confirmed."""
    if math.isnan(a.se) or math.isnan(b.se):
        return False
    dof = min(a.dof, b.dof)
    return abs(a.mean - b.mean) <= quantile(dof, alpha) * math.hypot(a.se, b.se)


@dataclass(frozen=True)
class Rank:
    """A row's place: ``best`` is 1 + the number of rows that beat it significantly, ``worst`` the
    number of rows minus those it beats significantly; ``label`` is "2" or "2-3"."""

    best: int
    worst: int

    @property
    def label(self) -> str:
        return str(self.best) if self.best == self.worst else f"{self.best}-{self.worst}"


def ranks(
    rows: Mapping[str, Sequence[float]],
    test_se: Mapping[str, Sequence[float] | None] | None = None,
    *,
    higher_is_better: bool = True,
    paired: bool = False,
    alpha: float = ALPHA,
) -> dict[str, Rank]:
    """Every row's rank range by `compare`: rows the statistics do not separate share ranks.

    ``rows`` maps a row's key to its per-seed values (``test_se`` to their test-set errors).
    Pairwise tests at ``alpha`` each, not corrected for the number of pairs: a board of r rows
    makes r(r - 1)/2 of them, so an occasional split between close rows is expected; the
    per-seed points shown beside each interval let a reader judge."""
    keys = list(rows)
    sign = 1.0 if higher_is_better else -1.0
    errors = test_se or {}
    beaten_by = dict.fromkeys(keys, 0)
    beats = dict.fromkeys(keys, 0)
    for i, first in enumerate(keys):
        for second in keys[i + 1 :]:
            result = compare(
                sign * np.asarray(rows[first], dtype=np.float64),
                sign * np.asarray(rows[second], dtype=np.float64),
                a_test_se=errors.get(first),
                b_test_se=errors.get(second),
                paired=paired,
                alpha=alpha,
            )
            if result.better > 0:
                beats[first] += 1
                beaten_by[second] += 1
            elif result.better < 0:
                beats[second] += 1
                beaten_by[first] += 1
    total = len(keys)
    return {key: Rank(1 + beaten_by[key], total - beats[key]) for key in keys}


def outliers(
    values: Sequence[float] | np.ndarray,
    test_se: Sequence[float] | np.ndarray | None = None,
    *,
    higher_is_better: bool = True,
    scale: float = OUTLIER_SCALE,
) -> list[int]:
    """Indices of seeds far on the wrong side of the row's median: more than ``scale`` robust
    standard deviations (1.4826 times the median absolute deviation, or the seed's own test-set
    error where that is larger). Such a seed is a fit that failed (trained to chance, diverged);
    it stays in the mean and is marked where shown. Needs three seeds (a median of two is their
    mean)."""
    x = _array(values, "values")
    if x.size < 3:
        return []
    sign = 1.0 if higher_is_better else -1.0
    median = float(np.median(x))
    spread = 1.4826 * float(np.median(np.abs(x - median)))
    errors = np.zeros_like(x) if test_se is None else _array(test_se, "test_se")
    marked = []
    for i, value in enumerate(x):
        width = max(spread, float(errors[i]))
        shortfall = sign * (median - value)
        if width == 0:
            if shortfall > 0 and np.count_nonzero(x == median) >= x.size - 1:
                marked.append(i)  # every other seed equal: any shortfall stands out
            continue
        if shortfall > scale * width:
            marked.append(i)
    return marked


__all__ = [
    "ALPHA",
    "MIN_SEEDS",
    "OUTLIER_SCALE",
    "Comparison",
    "Estimate",
    "Rank",
    "binomial_se",
    "compare",
    "consistent",
    "estimate",
    "mean_se",
    "normalised_accuracy_se",
    "normalised_accuracy_se_bound",
    "outliers",
    "quantile",
    "ranks",
]
