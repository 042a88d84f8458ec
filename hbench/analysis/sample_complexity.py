"""Sample complexity: normalised accuracy against the training budget P, and P*.

From the results of a sweep over P, for every model, task and training filter level k: the
in-sample normalised accuracy (acc - 1/q) / (acc_bp - 1/q) at each P, as mean ± standard error
over seeds, and P* = the smallest P whose mean reaches a target (default 0.95), interpolated
linearly in log P between the last budget below the target and the first at or above it. The
paper reports that P* grows as the data keep more hierarchy (smaller k) and that MLM
pretraining lowers it; this is the table and the figure that show it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hbench.analysis.report import Report
from hbench.errors import UsageError, invalid
from hbench.io import write_json

HELP = "normalised accuracy against the budget P per model and level, and P* (from a sweep)"

#: Suite fields that a sample-complexity sweep varies or that do not split curves.
_NOT_A_VARIANT = {
    "name",
    "description",
    "P",
    "P_mlm",
    "budgets",
    "seeds",
    "train_filters",
    "task",
}


@dataclass
class Curve:
    """One model's normalised accuracy against P at one training level."""

    model: str
    task: str
    variant: str  # other suite fields that differ between results ("" if none)
    k_train: int
    budgets: list[int]
    mean: list[float]
    stderr: list[float]
    seeds: list[int]  # how many seeds each point averages

    def p_star(self, target: float) -> tuple[float | None, str]:
        """(P*, how it was found): interpolated on log P at the first crossing of ``target``."""
        for index, value in enumerate(self.mean):
            if value >= target:
                if index == 0:
                    return float(self.budgets[0]), "at or below the smallest P"
                lo, hi = self.mean[index - 1], value
                x0, x1 = math.log(self.budgets[index - 1]), math.log(self.budgets[index])
                share = (target - lo) / (hi - lo) if hi > lo else 1.0
                return float(math.exp(x0 + share * (x1 - x0))), "interpolated"
        return None, "not reached"

    def to_json(self, target: float) -> dict[str, Any]:
        p_star, how = self.p_star(target)
        return {
            "model": self.model,
            "task": self.task,
            "variant": self.variant,
            "k_train": self.k_train,
            "P": self.budgets,
            "mean": self.mean,
            "stderr": self.stderr,
            "n_seeds": self.seeds,
            "target": target,
            "P_star": p_star,
            "P_star_how": how,
        }


def _results_folder(path: Path) -> Path:
    if not path.exists():
        raise invalid("SWEEP_DIR", str(path), "an existing sweep output folder")
    inner = path / "results"
    return inner if inner.is_dir() else path


def _variants(suites: list[dict[str, Any]]) -> list[str]:
    """For each suite: the fields (other than the swept ones) in which the suites differ."""
    keys = sorted({key for suite in suites for key in suite} - _NOT_A_VARIANT)
    varying = [k for k in keys if len({json.dumps(s.get(k), sort_keys=True) for s in suites}) > 1]
    return [", ".join(f"{k}={suite.get(k)}" for k in varying) for suite in suites]


def collect_curves(path: str | Path) -> list[Curve]:
    """Read every result under the folder into curves (one per model, task, variant, k)."""
    from hbench.results import read_result
    from hbench.results.table import find_result_files
    from hbench.scoring import normalised_accuracy

    folder = _results_folder(Path(path))
    results = [read_result(file) for file in find_result_files(folder)]
    if not results:
        raise UsageError(f"SWEEP_DIR={str(path)!r} holds no result files")
    variants = _variants([r.spec.suite for r in results])
    points: dict[tuple, dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for result, variant in zip(results, variants, strict=True):
        spec = result.spec
        cell = result.extra.get("cell") or {}
        label = cell.get("label") or spec.model
        budget = (spec.suite.get("budgets") or {}).get(spec.task)
        budget = int(budget or spec.suite["P"])
        for row in result.metrics:
            if row.k_test != row.k_train or row.acc is None or row.acc_bp is None:
                continue
            value = normalised_accuracy(row.acc, row.acc_bp, row.chance)
            if math.isnan(value):
                continue
            point = points[(label, spec.task, variant, row.k_train)][budget]
            if row.seed in point:
                raise UsageError(
                    f"SWEEP_DIR={str(path)!r} holds two results for {label} ({spec.task})"
                    f" P={budget} k={row.k_train} seed={row.seed}; runs with different"
                    " options need different labels"
                )
            point[row.seed] = value
    curves = []
    for (label, task, variant, k_train), by_budget in sorted(points.items()):
        budgets = sorted(by_budget)
        means, errors, counts = [], [], []
        for budget in budgets:
            values = np.array(list(by_budget[budget].values()), dtype=float)
            means.append(float(values.mean()))
            errors.append(
                float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0
            )
            counts.append(int(values.size))
        curves.append(Curve(label, task, variant, k_train, budgets, means, errors, counts))
    return curves


def _name(curve: Curve) -> str:
    extra = f" [{curve.variant}]" if curve.variant else ""
    return f"{curve.model} ({curve.task}){extra}"


def _budget(value: float) -> str:
    exponent = math.log2(value)
    return f"2^{exponent:.0f}" if abs(exponent - round(exponent)) < 1e-9 else f"2^{exponent:.2f}"


def render_table(curves: list[Curve], target: float) -> str:
    """One row per curve: mean ± s.e. at every P, and P*."""
    from tabulate import tabulate

    budgets = sorted({b for curve in curves for b in curve.budgets})
    rows = []
    for curve in curves:
        cells = {
            b: f"{m:.3f} ± {s:.3f}"
            for b, m, s in zip(curve.budgets, curve.mean, curve.stderr, strict=True)
        }
        p_star, how = curve.p_star(target)
        if p_star is None:
            star = f"> {_budget(curve.budgets[-1])}"
        elif how == "interpolated":
            star = f"{p_star:,.0f} ({_budget(p_star)})"
        else:
            star = f"<= {_budget(p_star)}"
        rows.append([_name(curve), curve.k_train, *(cells.get(b, "-") for b in budgets), star])
    headers = ["model", "k_train", *(f"P={_budget(b)}" for b in budgets), f"P* ({target:g})"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def render_figure(curves: list[Curve], target: float, path: Path) -> list[Path]:
    """One panel per model (and task, variant), wrapped in rows: a line per training level,
    error bars = s.e., the target dashed and each curve's P* dotted in its colour; one legend
    under the grid. PNG and PDF; returns both, PNG first."""
    from matplotlib.lines import Line2D

    from hbench.analysis.common import pyplot
    from hbench.analysis.figures import (
        hide_unused,
        label_edges,
        legend_below,
        panel_grid,
        save_figure,
    )

    plt = pyplot()
    panels: dict[str, list[Curve]] = defaultdict(list)
    for curve in curves:
        panels[_name(curve)].append(curve)
    figure, axes, where = panel_grid(plt, len(panels))
    levels = sorted({curve.k_train for curve in curves})
    low = min(0.0, *(min(c.mean) for c in curves)) - 0.02
    handles = []
    for (name, group), (row, column) in zip(panels.items(), where, strict=True):
        axis = axes[row, column]
        for curve in group:
            color = f"C{levels.index(curve.k_train)}"
            handles.append(
                axis.errorbar(
                    curve.budgets,
                    curve.mean,
                    yerr=curve.stderr,
                    color=color,
                    marker="o",
                    ms=3,
                    capsize=2,
                    label=f"k_train={curve.k_train}",
                )
            )
            p_star, _ = curve.p_star(target)
            if p_star is not None:
                axis.axvline(p_star, color=color, linestyle=":", lw=0.9)
        axis.axhline(target, color="grey", linestyle="--", lw=0.9)
        axis.set_xscale("log", base=2)
        axis.set_ylim(low, 1.05)
        axis.set_title(name, fontsize=9)
        axis.tick_params(labelsize=8)
        axis.grid(alpha=0.25, which="both")
    hide_unused(axes, where)
    label_edges(axes, where, "training budget P (sequences)", "normalised accuracy (in-sample)")
    handles.sort(key=lambda handle: handle.get_label())
    handles.append(Line2D([], [], color="grey", linestyle="--", label=f"target {target:g}"))
    handles.append(Line2D([], [], color="0.3", linestyle=":", label="P* (colour of its level)"))
    legend_below(figure, handles, columns=6)
    figure.suptitle("normalised accuracy against the training budget P", fontsize=10)
    caption = (
        "Normalised accuracy (0: chance, 1: exact inference) of each model trained and tested at"
        " filter level k, against the number of training sequences P (log scale), mean ±"
        " standard error over seeds, one panel per model and a line per level; dashed: the"
        f" target {target:g}, dotted: P*, the smallest budget that reaches it (interpolated"
        " on log P)."
    )
    return save_figure(figure, path, caption)


class SampleComplexityOptions(BaseModel):
    """Options of the sample-complexity analysis."""

    model_config = ConfigDict(extra="forbid")

    target: float = Field(0.95, description="normalised accuracy that defines P*")


class SampleComplexityReport(BaseModel):
    """The curves of a sweep's results and P* at the target."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    analysis: str = "sample-complexity"
    folder: str
    target: float
    curves: list[dict[str, Any]]
    figures: list[str]
    captions: dict[str, str] = Field(default_factory=dict)  # figure file -> what it shows


def report(
    source: str | Path, options: SampleComplexityOptions | None = None
) -> Report[SampleComplexityReport]:
    """The curves of every result under the sweep folder ``source``; written as
    ``sample-complexity.png`` (and ``.json``) there unless ``out`` names the PNG."""
    options = options or SampleComplexityOptions()
    target = options.target
    if not 0 < target <= 1.5 or math.isnan(target):
        raise invalid("--target", target, "a normalised accuracy in (0, 1.5], e.g. 0.95")
    curves = collect_curves(source)
    numbers = SampleComplexityReport(
        folder=str(source),
        target=target,
        curves=[curve.to_json(target) for curve in curves],
        figures=[],
    )
    text = (
        f"normalised accuracy (in-sample, mean ± s.e. over seeds) against P;"
        f" P* = smallest P reaching {target:g}, interpolated on log P\n"
        + render_table(curves, target)
    )

    def write(report: Report[SampleComplexityReport], out: str | Path | None) -> list[Path]:
        png = Path(out) if out else Path(source) / "sample-complexity.png"
        if png.suffix.lower() != ".png":
            raise invalid("--out", str(png), "a file name ending in .png")
        from hbench.analysis.figures import captions

        figures = render_figure(curves, target, png)
        report.numbers.figures = [figure.name for figure in figures]
        report.numbers.captions = captions(figures)
        data = report.numbers.model_dump(mode="json")
        return [write_json(png.with_suffix(".json"), data, field="--out"), *figures]

    def summarize(report: Report[SampleComplexityReport], files: list[Path]) -> dict[str, Any]:
        figure = str(files[1]) if len(files) > 1 else None
        return {"analysis": "sample-complexity", "figure": figure, "curves": numbers.curves}

    return Report(
        "sample-complexity", Path(source), numbers, text=text, writer=write, summarize=summarize
    )
