"""Accuracy against the training budget P, with the Bayes-optimal accuracy as reference lines.

The paper's Fig. 3 plots the test accuracy of models trained on P sequences against P, with
BP's accuracy of each filter level as a horizontal line the curves should reach; its Fig. 1(f)
compares curves of the same kind for classifiers trained from scratch and from a pretrained
encoder. This module reads such a sweep's results (in-sample cells only: k_test = k_train)
into points with their uncertainty, mean ± standard error over seeds, or with one seed the
binomial standard error of the test set, and draws them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hbench.analysis.report import Report


@dataclass(frozen=True)
class BudgetPoint:
    """One (label, task, training level, P): accuracy and normalised accuracy over seeds."""

    label: str
    task: str
    k_train: int
    P: int
    seeds: int
    acc: float
    acc_se: float
    acc_bp: float
    chance: float
    norm: float
    norm_se: float


def binomial_se(p: float, n: int) -> float:
    """Standard error of a proportion ``p`` measured on ``n`` independent questions."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else float("nan")


def mean_se(values: Sequence[float], fallback: float) -> float:
    """Standard error of the mean over seeds; ``fallback`` (a binomial error) with one seed."""
    values = np.asarray(values, dtype=float)
    if values.size > 1:
        return float(values.std(ddof=1) / math.sqrt(values.size))
    return fallback


def collect(folder: str | Path) -> list[BudgetPoint]:
    """The in-sample points of every result under ``folder`` (a sweep's ``results``)."""
    import warnings

    from hbench.results.table import load_results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = load_results(folder)
    table = table[(table["k_test"].astype(str) == table["k_train"].astype(str))]
    table = table[table["acc"].notna()]
    points = []
    for (label, task, k, P), group in table.groupby(["label", "task", "k_train", "P"]):
        acc, acc_bp = float(group["acc"].mean()), float(group["acc_bp"].mean())
        chance = float(group["chance"].iloc[0])
        n = int(group["n_queries"].iloc[0])
        acc_se = mean_se(group["acc"], binomial_se(acc, n))
        scale = acc_bp - chance
        norm = (acc - chance) / scale if scale > 0 else float("nan")
        norm_se = mean_se(group["normalised_accuracy"], acc_se / scale if scale > 0 else 0.0)
        points.append(
            BudgetPoint(
                str(label),
                str(task),
                int(k),
                int(P),
                len(group),
                acc,
                acc_se,
                acc_bp,
                chance,
                norm,
                norm_se,
            )
        )
    return sorted(points, key=lambda p: (p.label, p.task, p.k_train, p.P))


def accuracy_figure(
    points: Sequence[BudgetPoint], path: Path, title: str, *, lines: str = "k_train"
) -> list[Path]:
    """Test accuracy against P (log), mean ± s.e.; dashed: BP's accuracy, dotted: chance.

    ``lines="k_train"``: one panel per label, a curve per training level (Fig. 3);
    ``lines="label"``: one panel per training level, a curve per label (Fig. 1(f)). Panels
    wrapped in rows, sharing their axes, with one legend under the grid."""
    from matplotlib.lines import Line2D

    from hbench.analysis.common import pyplot
    from hbench.analysis.figures import (
        chance_label,
        hide_unused,
        label_edges,
        legend_below,
        panel_grid,
        save_figure,
    )

    plt = pyplot()
    panel_key = "label" if lines == "k_train" else "k_train"
    panels = sorted({getattr(p, panel_key) for p in points}, key=str)
    figure, axes, where = panel_grid(plt, len(panels))
    curves = sorted({getattr(p, lines) for p in points}, key=str)
    handles, chances = [], []
    for panel, (row, column) in zip(panels, where, strict=True):
        ax = axes[row, column]
        mine = [p for p in points if getattr(p, panel_key) == panel]
        for index, curve in enumerate(curves):
            these = sorted((p for p in mine if getattr(p, lines) == curve), key=lambda p: p.P)
            if not these:
                continue
            color = f"C{index}"
            name = f"k_train={curve}" if lines == "k_train" else str(curve)
            handle = ax.errorbar(
                [p.P for p in these],
                [p.acc for p in these],
                yerr=[p.acc_se for p in these],
                color=color,
                marker="o",
                ms=3,
                capsize=2,
                label=name,
            )
            handles.append(handle)
            if lines == "k_train":
                ax.axhline(these[-1].acc_bp, color=color, linestyle="--", lw=0.9)
        if lines != "k_train":
            ax.axhline(mine[0].acc_bp, color="0.2", linestyle="--", lw=1.0)
        ax.axhline(mine[0].chance, color="0.45", linestyle=":", lw=1.0)
        chances.append(
            Line2D([], [], color="0.45", linestyle=":", label=chance_label(mine[0].chance))
        )
        ax.set_xscale("log", base=2)
        heading = str(panel) if lines == "k_train" else f"k_train = {panel}"
        ax.set_title(heading, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.25, which="both")
    hide_unused(axes, where)
    label_edges(axes, where, "training budget P (sequences)", "test accuracy (in-sample)")
    what = "colour of its level" if lines == "k_train" else "grey"
    bp = Line2D([], [], color="0.3", linestyle="--", label=f"BP accuracy ({what})")
    legend_below(figure, [*handles, bp, *chances], columns=6)
    figure.suptitle(title, fontsize=10)
    per = "model, a curve per training level" if lines == "k_train" else "training level"
    caption = (
        f"{title}: in-sample test accuracy (trained and tested at the same filter level k)"
        f" against the number of training sequences P (log scale), mean ± standard error over"
        f" seeds, one panel per {per}; dashed: the Bayes-optimal (BP) accuracy, dotted: chance."
    )
    return save_figure(figure, path, caption)


# --- the analysis ------------------------------------------------------------------------------


class BudgetOptions(BaseModel):
    """Options of the budget analysis."""

    model_config = ConfigDict(extra="forbid")

    lines: Literal["k_train", "label"] = Field(
        "k_train",
        description="a curve per training level in a panel per model (k_train), or a curve"
        " per model in a panel per training level (label)",
    )


class BudgetReport(BaseModel):
    """The in-sample points of a sweep over P: accuracy and normalised accuracy per budget."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    analysis: str = "budget"
    folder: str
    points: list[dict[str, Any]]
    figures: list[str]
    captions: dict[str, str] = Field(default_factory=dict)  # figure file -> what it shows


def report(source: str | Path, options: BudgetOptions | None = None) -> Report[BudgetReport]:
    """Test accuracy against P from every result under the sweep folder ``source``; written
    as ``budget.png`` (and ``.json``) there unless ``out`` names the PNG."""
    from dataclasses import asdict

    from hbench.analysis.figures import captions
    from hbench.errors import UsageError, invalid
    from hbench.io import write_json

    options = options or BudgetOptions()
    folder = Path(source)
    if not folder.is_dir():
        raise invalid("SWEEP_DIR", str(folder), "an existing sweep output folder")
    results = folder / "results" if (folder / "results").is_dir() else folder
    points = collect(results)
    if not points:
        raise UsageError(f"SWEEP_DIR={str(source)!r} holds no in-sample results")
    numbers = BudgetReport(
        folder=str(folder), points=[asdict(point) for point in points], figures=[]
    )
    rows = [
        f"{p.label} ({p.task}) k={p.k_train} P={p.P}: acc {p.acc:.3f} ± {p.acc_se:.3f}"
        f" (BP {p.acc_bp:.3f}), normalised {p.norm:.3f} ± {p.norm_se:.3f}"
        for p in points
    ]

    def write(report: Report[BudgetReport], out: str | Path | None) -> list[Path]:
        png = Path(out) if out else folder / "budget.png"
        if png.suffix.lower() != ".png":
            raise invalid("--out", str(png), "a file name ending in .png")
        title = f"test accuracy against the budget P ({folder.name})"
        figures = accuracy_figure(points, png, title, lines=options.lines)
        report.numbers.figures = [figure.name for figure in figures]
        report.numbers.captions = captions(figures)
        data = report.numbers.model_dump(mode="json")
        return [write_json(png.with_suffix(".json"), data, field="--out"), *figures]

    return Report("budget", folder, numbers, text="\n".join(rows), writer=write)
