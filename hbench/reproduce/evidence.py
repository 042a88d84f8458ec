"""What the claims are judged on: the finished parts of a reproduction folder, read back.

Every number comes from files the parts wrote (run results, sweep results, analysis
reports), so a report can be rebuilt from a folder at any time, and a claim whose part is
missing says so instead of failing.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hbench import stats
from hbench.reproduce.plan import Plan
from hbench.results import LevelMetrics, RunResult, read_result

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive at this scale"
#: A claim about a trained model whose deciding quantity is still moving: never "does not hold".
LEARNING = "inconclusive: still learning"
VERDICTS = (HOLDS, FAILS, LEARNING, INCONCLUSIVE)

#: A model is still learning when its KL (or the claim's deciding quantity) still falls, over the
#: last decade of training steps (mean over seeds of each seed's least-squares slope on log10
#: of the step), by at least MIN_FALL bits per decade of steps and either by FALL_SHARE of its
#: final value (another decade of training would remove a fifth of what is left) or by
#: MOVE_MAX bits (as much as claim 1's whole tolerance on KL) per decade.
FALL_SHARE, MIN_FALL, MOVE_MAX = 0.2, 0.002, 0.05
#: The checkpoints a slope is fitted on: those of the last decade of steps, at least this many.
MIN_TREND_POINTS = 3


@dataclass(frozen=True)
class Verdict:
    """One verdict of a claim, about one task (or one part of the claim): what was judged, the
    verdict, why, and the numbers that decided it with their uncertainty."""

    task: str
    verdict: str
    reason: str
    deciding: str = ""


@dataclass(frozen=True)
class Stat:
    """A mean over seeds with its uncertainty by `hbench.stats.estimate`: the larger of the
    between-seed and the test-set standard error (``kind`` says which decided: "seeds", "test
    set", or "none" without either), its (1 - ALPHA) interval ``low``..``high`` (t-quantile on
    n - 1 degrees of freedom for the seeds, normal for the test set), and the per-seed values
    and test-set errors it came from, for `hbench.stats.compare`."""

    mean: float
    se: float
    n: int
    kind: str  # "seeds", "test set" or "none"
    low: float = math.nan
    high: float = math.nan
    values: tuple[float, ...] = ()
    test_se: tuple[float, ...] | None = None

    def text(self, digits: int = 3) -> str:
        if math.isnan(self.mean):
            return "n/a"
        if self.kind == "none" or math.isnan(self.se):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.se:.{digits}f}"

    def below(self, bound: float) -> bool:
        """Whether the whole interval lies below ``bound`` (a threshold missed beyond the
        uncertainty); never without an error."""
        return not math.isnan(self.high) and self.high < bound

    def above(self, bound: float) -> bool:
        """Whether the whole interval lies above ``bound``."""
        return not math.isnan(self.low) and self.low > bound


def over_seeds(
    values: Sequence[float | None], test_se: Sequence[float | None] | None = None
) -> Stat:
    """Mean and uncertainty over seeds (`hbench.stats.estimate`); ``test_se[i]`` is seed i's
    own test-set standard error (None where unknown: then the seeds alone speak). Seeds whose
    value is missing are left out with their error."""
    pairs = [
        (float(v), None if test_se is None else test_se[i])
        for i, v in enumerate(values)
        if v is not None and not math.isnan(v)
    ]
    if not pairs:
        return Stat(math.nan, math.nan, 0, "none")
    kept = [v for v, _ in pairs]
    errors = [e for _, e in pairs]
    known = all(e is not None and math.isfinite(e) for e in errors) and test_se is not None
    est = stats.estimate(kept, errors if known else None)
    return Stat(
        est.mean, est.se, est.n, est.source, est.low, est.high, est.values,
        tuple(float(e) for e in errors) if known else None,  # type: ignore[arg-type]
    )  # fmt: skip


def better(a: Stat, b: Stat, *, paired: bool = False) -> int:
    """+1 when ``a`` is significantly larger than ``b``, -1 when smaller, 0 when the statistics
    do not separate them (`hbench.stats.compare`; ``paired``: the same seeds and grammars)."""
    if not a.values or not b.values:
        return 0
    if paired and len(a.values) != len(b.values):
        paired = False
    return stats.compare(
        a.values, b.values, a_test_se=a.test_se, b_test_se=b.test_se, paired=paired
    ).better


@dataclass(frozen=True)
class Trend:
    """How a model's deciding quantity moved over its last decade of training steps: its
    final value and its slope per decade of steps, each a `Stat` over seeds (a seed's slope
    with its least-squares standard error as its own error; the final value is shown without
    one: a checkpoint records no test-set error, and equal seeds are no measure of it)."""

    quantity: str  # what was followed, e.g. "KL(BP_0 || model)"
    final: Stat
    slope: Stat
    first_step: int  # the window's first and last checkpoints, in steps
    last_step: int

    @property
    def falling(self) -> bool:
        """Whether the quantity still falls (see `FALL_SHARE`, `MIN_FALL`, `MOVE_MAX`)."""
        if math.isnan(self.slope.mean) or math.isnan(self.final.mean):
            return False
        fall = -self.slope.mean
        return fall >= MIN_FALL and (fall >= FALL_SHARE * abs(self.final.mean) or fall >= MOVE_MAX)

    def text(self) -> str:
        return (
            f"{self.quantity} {self.final.mean:.4f} bits at the end, changing"
            f" {self.slope.text(4)} bits per decade of steps (steps"
            f" {self.first_step:,}..{self.last_step:,})"
        )


def slope_per_decade(steps: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """(slope, its standard error) of ``values`` against log10(``steps``) by least squares over
    the checkpoints of the last decade of steps (at least `MIN_TREND_POINTS`); the error is NaN
    with fewer than three points."""
    import numpy as np

    x = np.log10(np.asarray(steps, dtype=np.float64))
    y = np.asarray(values, dtype=np.float64)
    window = x >= x[-1] - 1.0
    if window.sum() < MIN_TREND_POINTS:
        window = np.arange(x.size) >= x.size - MIN_TREND_POINTS
    x, y = x[window], y[window]
    if x.size < 2 or np.ptp(x) == 0:
        return math.nan, math.nan
    xc = x - x.mean()
    slope = float((xc * (y - y.mean())).sum() / (xc**2).sum())
    if x.size < 3:
        return slope, math.nan
    residual = y - y.mean() - slope * xc
    se = math.sqrt(float((residual**2).sum()) / (x.size - 2) / float((xc**2).sum()))
    return slope, se


def trend(series: Sequence[dict[str, Any]], level: int | str, k_train: int) -> Trend | None:
    """The trend of KL(BP_level || model) of the fits trained at ``k_train`` in a run's learning
    dynamics (``series``: the run's ``extra["dynamics"]``, from any number of runs); None
    without checkpoints."""
    slopes, errors, finals, first, last = [], [], [], [], []
    for s in series:
        if int(s["k_train"]) != k_train:
            continue
        points = [p for p in s["points"] if str(level) in p.get("kl", {})]
        if len(points) < 2:
            continue
        steps = [float(p["label"]) for p in points]
        values = [float(p["kl"][str(level)]) for p in points]
        slope, se = slope_per_decade(steps, values)
        if math.isnan(slope):
            continue
        slopes.append(slope)
        errors.append(se if math.isfinite(se) else None)
        finals.append(values[-1])
        window = [t for t in steps if math.log10(t) >= math.log10(steps[-1]) - 1.0]
        first.append(int(window[0] if len(window) >= MIN_TREND_POINTS else steps[-3:][0]))
        last.append(int(steps[-1]))
    if not slopes:
        return None
    known = all(e is not None for e in errors)
    return Trend(
        f"KL(BP_{level} || model)",
        over_seeds(finals),
        over_seeds(slopes, errors if known else None),
        min(first),
        max(last),
    )


def cells(result: RunResult) -> dict[tuple[int, int | str], list[LevelMetrics]]:
    """(k_train, k_test) -> the cell of every seed."""
    out: dict[tuple[int, int | str], list[LevelMetrics]] = defaultdict(list)
    for row in result.metrics:
        out[(row.k_train, row.k_test)].append(row)
    return out


def norm_stat(rows: Sequence[LevelMetrics]) -> Stat:
    """Normalised accuracy of a cell over seeds, each seed with its test-set error (the cell's
    ``normalised_accuracy_se``)."""
    values, errors = [], []
    for row in rows:
        scale = (row.acc_bp or 0.0) - row.chance
        if row.acc is None or scale <= 0:
            continue
        values.append((row.acc - row.chance) / scale)
        errors.append(row.normalised_accuracy_se)
    return over_seeds(values, errors)


def _test_se(row: LevelMetrics, name: str) -> float | None:
    """A cell's test-set error of metric ``name``: recorded (acc, kl_bp), binomial for the
    other shares (each query counts once), unknown otherwise."""
    value = getattr(row, name)
    if value is None:
        return None
    if name == "acc":
        return row.acc_se
    if name == "kl_bp":
        return row.kl_bp_se
    if name.startswith(("acc", "agree")) and row.n_queries > 0:
        return stats.binomial_se(float(value), row.n_queries)
    return None


def metric_stat(rows: Sequence[LevelMetrics], name: str) -> Stat:
    """A metric of a cell over seeds, each seed with its test-set error where known."""
    return over_seeds([getattr(row, name) for row in rows], [_test_se(r, name) for r in rows])


def in_sample_norm(result: RunResult) -> float:
    """Mean in-sample normalised accuracy of a run (what gates claims about trained models)."""
    value = result.headline.get("normalised_accuracy", {}).get("mean")
    return float(value) if value is not None else float("nan")


@dataclass
class Evidence:
    """The reproduction folder's finished parts, read on demand (and cached)."""

    out: Path
    plan: Plan
    drawn: dict[str, list[str]] = field(default_factory=dict)  # figures already drawn
    _results: dict[str, RunResult | None] = field(default_factory=dict)

    @property
    def figures(self) -> Path:
        return self.out / "figures"

    def run_path(self, name: str) -> Path:
        return self.out / "runs" / f"{name}.json"

    def result(self, name: str) -> RunResult | None:
        if name not in self._results:
            path = self.run_path(name)
            self._results[name] = read_result(path) if path.is_file() else None
        return self._results[name]

    def report(self, run: str, analysis: str) -> dict[str, Any] | None:
        path = self.out / "analyses" / f"{run}_{analysis}.json"
        if not path.is_file():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def analysis_figure(self, run: str, analysis: str, suffix: str = "") -> str | None:
        path = self.out / "analyses" / f"{run}_{analysis}{suffix}.png"
        return self.relative(path) if path.is_file() else None

    def sweep_results(self, sweep: str, stage: int = -1) -> Path | None:
        """The results folder of a sweep part's stage (the last by default), if it has any."""
        from hbench.reproduce.sweeps import results_folder

        part = next((p for p in self.plan.sweeps if p.name == sweep), None)
        if part is None:
            return None
        folder = results_folder(part.stages[stage], part.root, self.out / "sweeps" / sweep)
        return folder if folder.is_dir() and any(folder.glob("*.json")) else None

    def relative(self, path: Path) -> str:
        return path.relative_to(self.out).as_posix()
