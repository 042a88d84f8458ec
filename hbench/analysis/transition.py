"""The reconstruction transition of denoising: accuracy against the channel noise epsilon.

The diffusion papers of Sclocchi, Favero and Wyart find that the root of a hierarchical tree
is recovered from noisy leaves almost surely below a critical noise and not above it, the
change getting sharper as the tree gets deeper. A sweep of the ``denoise`` task over
``task_args.epsilon`` and ``depth`` (the built-in ``denoise-transition``) measures it; this
analysis reads that sweep's results (in-sample cells, k_test = k_train) into points, mean ±
standard error over seeds (the binomial error of the test set with one seed), tabulates the
accuracy at each depth (rows) and epsilon (columns), and draws it: one panel per model and
filter level, one curve per depth, BP's accuracy dashed where the model is not BP.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hbench.analysis.budget import binomial_se, mean_se
from hbench.analysis.report import Report
from hbench.errors import UsageError, invalid


@dataclass(frozen=True)
class TransitionPoint:
    """One (label, target, filter level, depth, epsilon): accuracies over seeds."""

    label: str
    target: str
    k: int
    depth: int
    epsilon: float
    seeds: int
    acc: float
    acc_se: float
    acc_bp: float
    chance: float


class TransitionOptions(BaseModel):
    """The transition analysis has no options: every depth, epsilon and level is shown."""

    model_config = ConfigDict(extra="forbid")


class TransitionReport(BaseModel):
    """The in-sample points of a denoise sweep over epsilon (and depth)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    analysis: str = "transition"
    folder: str
    points: list[dict[str, Any]]
    figures: list[str]
    captions: dict[str, str] = Field(default_factory=dict)  # figure file -> what it shows


def collect(folder: str | Path) -> list[TransitionPoint]:
    """The in-sample points of every denoise result under ``folder`` (a sweep's results);
    other tasks' results are left out."""
    from hbench.results.files import read_result
    from hbench.results.rows import result_rows
    from hbench.results.table import find_result_files, looks_like_a_result

    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for file in find_result_files(Path(folder)):
        if not looks_like_a_result(file):
            continue
        result = read_result(file)
        spec = result.spec
        if spec.task != "denoise" or "epsilon" not in spec.task_config:
            continue
        target = str(spec.task_config.get("target", "leaves"))
        for row in result_rows(result, file.stem):
            if str(row["k_test"]) != str(row["k_train"]) or row.get("acc") is None:
                continue
            key = (
                str(row["label"]),
                target,
                int(row["k_train"]),
                int(spec.suite["depth"]),
                float(spec.task_config["epsilon"]),
            )
            groups[key].append(row)
    points = []
    for (label, target, k, depth, epsilon), rows in sorted(groups.items()):
        accs = [float(row["acc"]) for row in rows]
        acc = sum(accs) / len(accs)
        n = int(rows[0]["n_queries"])
        points.append(
            TransitionPoint(
                label,
                target,
                k,
                depth,
                epsilon,
                len(rows),
                acc,
                mean_se(accs, binomial_se(acc, n)),
                sum(float(row["acc_bp"]) for row in rows) / len(rows),
                float(rows[0]["chance"]),
            )
        )
    return points


def table_text(points: Sequence[TransitionPoint]) -> str:
    """One table per (label, target, level): depth (rows) x epsilon (columns), accuracy."""
    from tabulate import tabulate

    blocks = []
    panels = sorted({(p.label, p.target, p.k) for p in points})
    for label, target, k in panels:
        mine = [p for p in points if (p.label, p.target, p.k) == (label, target, k)]
        epsilons = sorted({p.epsilon for p in mine})
        rows = []
        for depth in sorted({p.depth for p in mine}):
            value = {p.epsilon: p.acc for p in mine if p.depth == depth}
            cells = [f"{value[e]:.3f}" if e in value else "" for e in epsilons]
            rows.append([depth, *cells])
        title = (
            f"{label}: accuracy of the {target} (filter level {k}; chance"
            f" {mine[0].chance:.3f}), depth (rows) against epsilon (columns)"
        )
        headers = ["depth \\ epsilon", *(f"{e:g}" for e in epsilons)]
        blocks.append(title + "\n" + tabulate(rows, headers=headers, tablefmt="github"))
    return "\n\n".join(blocks)


def transition_figure(points: Sequence[TransitionPoint], path: Path, title: str) -> list[Path]:
    """Accuracy against epsilon, mean ± s.e., a curve per depth in a panel per (label,
    target, level); dashed: BP's accuracy where the label is not BP's; dotted: chance."""
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
    panels = sorted({(p.label, p.target, p.k) for p in points})
    depths = sorted({p.depth for p in points})
    figure, axes, where = panel_grid(plt, len(panels))
    handles: dict[int, Any] = {}
    dashed = False
    for (label, target, k), (row, column) in zip(panels, where, strict=True):
        ax = axes[row, column]
        mine = [p for p in points if (p.label, p.target, p.k) == (label, target, k)]
        for index, depth in enumerate(depths):
            these = sorted((p for p in mine if p.depth == depth), key=lambda p: p.epsilon)
            if not these:
                continue
            color = f"C{index}"
            handles[depth] = ax.errorbar(
                [p.epsilon for p in these],
                [p.acc for p in these],
                yerr=[p.acc_se for p in these],
                color=color,
                marker="o",
                ms=3,
                capsize=2,
                label=f"depth {depth}",
            )
            if any(abs(p.acc - p.acc_bp) > 1e-12 for p in these):
                dashed = True
                ax.plot(
                    [p.epsilon for p in these],
                    [p.acc_bp for p in these],
                    color=color,
                    linestyle="--",
                    lw=0.9,
                )
        ax.axhline(mine[0].chance, color="0.45", linestyle=":", lw=1.0)
        ax.set_title(f"{label}: the {target}, k = {k}", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.25)
    hide_unused(axes, where)
    label_edges(axes, where, "channel noise epsilon", "test accuracy (in-sample)")
    extra = [Line2D([], [], color="0.45", linestyle=":", label=chance_label(points[0].chance))]
    if dashed:
        bp = Line2D([], [], color="0.3", linestyle="--", label="BP's accuracy (its depth's colour)")
        extra.insert(0, bp)
    legend_below(figure, [handles[d] for d in depths if d in handles] + extra, columns=6)
    figure.suptitle(title, fontsize=10)
    caption = (
        f"{title}: in-sample test accuracy (trained and tested at the same filter level k)"
        " against the noise epsilon of the q-ary symmetric channel the leaves pass through,"
        " mean ± standard error over seeds (grammars), a curve per tree depth; dashed: the"
        " Bayes-optimal (BP) accuracy where the model is not BP, dotted: chance."
    )
    return save_figure(figure, path, caption)


def report(
    source: str | Path, options: TransitionOptions | None = None
) -> Report[TransitionReport]:
    """Accuracy against epsilon from every denoise result under the sweep folder ``source``;
    written as ``transition.png`` (and ``.json``) there unless ``out`` names the PNG."""
    from hbench.analysis.figures import captions
    from hbench.io import write_json

    folder = Path(source)
    if not folder.is_dir():
        raise invalid("SWEEP_DIR", str(folder), "an existing sweep output folder")
    results = folder / "results" if (folder / "results").is_dir() else folder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        points = collect(results)
    if not points:
        raise UsageError(
            f"SWEEP_DIR={str(source)!r} holds no in-sample results of task denoise"
            " (a sweep over task_args.epsilon, e.g. `hbench sweep denoise-transition`)"
        )
    numbers = TransitionReport(
        folder=str(folder), points=[asdict(point) for point in points], figures=[]
    )

    def write(report: Report[TransitionReport], out: str | Path | None) -> list[Path]:
        png = Path(out) if out else folder / "transition.png"
        if png.suffix.lower() != ".png":
            raise invalid("--out", str(png), "a file name ending in .png")
        title = f"denoising: accuracy against the channel noise ({folder.name})"
        figures = transition_figure(points, png, title)
        report.numbers.figures = [figure.name for figure in figures]
        report.numbers.captions = captions(figures)
        data = report.numbers.model_dump(mode="json")
        return [write_json(png.with_suffix(".json"), data, field="--out"), *figures]

    return Report("transition", folder, numbers, text=table_text(points), writer=write)
