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

import numpy as np

from hbench.analysis.budget import binomial_se
from hbench.reproduce.plan import Plan
from hbench.results import LevelMetrics, RunResult, read_result

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive at this scale"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE)


@dataclass(frozen=True)
class Stat:
    """A mean with its standard error: over seeds from two seeds on, else the binomial error
    of the test set (``kind`` says which)."""

    mean: float
    se: float
    n: int
    kind: str  # "seeds" or "binomial" or "none"

    def text(self, digits: int = 3) -> str:
        if math.isnan(self.mean):
            return "n/a"
        if self.kind == "none" or math.isnan(self.se):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.se:.{digits}f}"


def over_seeds(values: Sequence[float], binomial: float | None = None) -> Stat:
    """Mean ± s.e. over seeds; with one seed ``binomial`` as the error (if given)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return Stat(float("nan"), float("nan"), 0, "none")
    array = np.asarray(values, dtype=float)
    if array.size > 1:
        return Stat(float(array.mean()), float(array.std(ddof=1) / math.sqrt(array.size)),
                    array.size, "seeds")  # fmt: skip
    if binomial is None:
        return Stat(float(array[0]), float("nan"), 1, "none")
    return Stat(float(array[0]), binomial, 1, "binomial")


def cells(result: RunResult) -> dict[tuple[int, int | str], list[LevelMetrics]]:
    """(k_train, k_test) -> the cell of every seed."""
    out: dict[tuple[int, int | str], list[LevelMetrics]] = defaultdict(list)
    for row in result.metrics:
        out[(row.k_train, row.k_test)].append(row)
    return out


def norm_stat(rows: Sequence[LevelMetrics]) -> Stat:
    """Normalised accuracy of a cell over seeds (binomial error with one seed)."""
    values, errors = [], []
    for row in rows:
        scale = (row.acc_bp or 0.0) - row.chance
        if row.acc is None or scale <= 0:
            continue
        values.append((row.acc - row.chance) / scale)
        errors.append(binomial_se(row.acc, row.n_queries) / scale)
    return over_seeds(values, errors[0] if errors else None)


def metric_stat(rows: Sequence[LevelMetrics], name: str) -> Stat:
    """A metric of a cell over seeds; accuracies with one seed get their binomial error."""
    values = [getattr(row, name) for row in rows]
    binomial = None
    if name.startswith("acc") or name.startswith("agree"):
        first = next((v for v in values if v is not None), None)
        if first is not None:
            binomial = binomial_se(first, rows[0].n_queries)
    return over_seeds(values, binomial)


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
