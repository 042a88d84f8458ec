"""Figures of a run: the learning dynamics, and what every figure of hbench shares.

Every figure is written twice, as PNG (to look at) and PDF (vector, for a paper), each
atomically (a temporary file in the same folder, renamed into place), so an interrupted write
never leaves half a picture. Every title says what the figure is of: model, suite, task, seed.

The dynamics, two panels per (seed, training level), against optimiser steps on a log axis
(the model's checkpoint labels; wall-clock time only for a model whose labels are not step
numbers): test accuracy at every test level with the in-sample curve highlighted, each level's
Bayes-optimal accuracy (BP) dashed in the same colour and chance dotted; and KL(BP_j || model)
for every j on the training level's data, where the paper's staircase (BP_l closest first, then
l-1, ..., finally BP_0) shows. ``hbench run`` writes a run's dynamics as one grid next to the
result (`dynamics_figures`): a column per training level, those two panels as two rows per
seed, axes shared, one colour per level and one legend.

Figures of several panels are grids laid out in rows (`grid_shape`, `panel_grid`, `model_grid`),
labelled on their edges (`label_edges`) and drawn with constrained layout so that a colour bar
(`figure.colorbar(..., ax=axes)`) sits beside the panels it belongs to and one legend
(`legend_below`) serves every panel. Every figure carries a caption,
a sentence saying what it shows: written into the files' metadata (PNG ``Description``, PDF
``Subject``), read back by `read_caption`, listed by the analyses' JSON reports (``captions``)
and printed under the figure in a reproduction's report.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hbench.results import RunResult

#: The formats every figure is written in, the first one being what reports link to.
FORMATS = ("png", "pdf")
DPI = 130


def save_figure(figure: Any, path: str | Path, caption: str = "") -> list[Path]:
    """Write ``figure`` as ``path`` with each suffix of `FORMATS`, atomically; close it.

    ``caption`` (what the figure shows, one or two sentences) goes into each file's metadata,
    where `read_caption` finds it. Returns the files written, PNG first. ``path``'s own suffix,
    if any, is replaced."""
    from hbench.analysis.common import pyplot
    from hbench.io import atomic_write

    path = Path(path)
    text = " ".join(caption.split()) or None
    written = []
    try:
        for fmt in FORMATS:
            target = path.with_suffix(f".{fmt}")
            with atomic_write(target, field="figure") as handle:
                # A fixed date keeps PDFs byte-stable across runs of the same numbers.
                if fmt == "pdf":
                    metadata = {"CreationDate": None, "Subject": text}
                else:
                    metadata = {"Software": None, "Description": text}
                figure.savefig(handle, format=fmt, dpi=DPI, bbox_inches="tight", metadata=metadata)
            written.append(target)
    finally:
        pyplot().close(figure)
    return written


def read_caption(path: str | Path) -> str:
    """The caption `save_figure` wrote into a figure (its PNG; a PDF's PNG sibling); "" for a
    file without one or one that cannot be read."""
    from PIL import Image, UnidentifiedImageError

    png = Path(path).with_suffix(".png")
    try:
        with Image.open(png) as image:
            return str(image.info.get("Description", ""))
    except (OSError, UnidentifiedImageError):
        return ""


def captions(paths: Sequence[Path]) -> dict[str, str]:
    """File name -> caption of every figure in ``paths`` (other files left out), for the JSON
    reports' ``captions``."""
    out = {}
    for path in paths:
        if path.suffix.lower() in (".png", ".pdf"):
            out[path.name] = read_caption(path)
    return out


def grid_shape(panels: int, max_columns: int = 3) -> tuple[int, int]:
    """(rows, columns) of a grid of ``panels``: as few rows as ``max_columns`` allows, the
    panels spread evenly over them (5 panels, 3 columns: 2 rows of 3)."""
    panels = max(1, panels)
    rows = math.ceil(panels / max_columns)
    return rows, math.ceil(panels / rows)


def panel_grid(
    plt: Any, panels: int, size: tuple[float, float] = (4.2, 3.3), below: float = 1.3
) -> tuple[Any, Any, list[tuple[int, int]]]:
    """A figure of ``panels`` panels in `grid_shape`, sharing both axes (one scale to compare
    them by), each ``size`` inches with ``below`` inches more for the legend under the grid.
    Returns (figure, axes, [(row, column) of each panel in order])."""
    rows, columns = grid_shape(panels)
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(size[0] * columns + 0.6, size[1] * rows + below),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    return figure, axes, [divmod(index, columns) for index in range(panels)]


def label_edges(axes: Any, where: Sequence[tuple[int, int]], xlabel: str, ylabel: str) -> None:
    """Axis labels on a grid's edges only: ``xlabel`` (and tick labels) under the lowest used
    panel of each column, ``ylabel`` beside the first column."""
    rows, columns = axes.shape
    for column in range(columns):
        used = [row for row, c in where if c == column]
        if not used:
            continue
        lowest = max(used)
        axes[lowest, column].set_xlabel(xlabel, fontsize=8)
        axes[lowest, column].xaxis.set_tick_params(labelbottom=True)
    for row in range(rows):
        axes[row, 0].set_ylabel(ylabel, fontsize=8)


def model_grid(keys: Sequence[tuple[int, int]], max_columns: int = 3) -> tuple[int, int, list]:
    """Where each (seed, training level) goes in a grid: with several seeds a row per seed and
    a column per level (reads like a table); with one seed the levels wrapped into
    `grid_shape` rows. Returns (rows, columns, [(row, column) per key])."""
    seeds = sorted({seed for seed, _ in keys})
    levels = sorted({k for _, k in keys})
    if len(seeds) > 1:
        where = [(seeds.index(seed), levels.index(k)) for seed, k in keys]
        return len(seeds), len(levels), where
    rows, columns = grid_shape(len(keys), max_columns)
    order = sorted(range(len(keys)), key=lambda i: keys[i][1])
    where = [(0, 0)] * len(keys)
    for place, index in enumerate(order):
        where[index] = divmod(place, columns)
    return rows, columns, where


def hide_unused(axes: Any, used: Sequence[tuple[int, int]]) -> None:
    """Switch off the panels of a grid that hold nothing."""
    taken = set(used)
    for (row, column), ax in np.ndenumerate(axes):
        if (row, column) not in taken:
            ax.set_axis_off()


def legend_below(figure: Any, handles: Sequence[Any], columns: int = 4) -> None:
    """One legend for every panel, under the grid (constrained layout makes room for it)."""
    seen: dict[str, Any] = {}
    for handle in handles:
        seen.setdefault(handle.get_label(), handle)
    figure.legend(
        handles=list(seen.values()),
        loc="outside lower center",
        ncol=min(columns, len(seen)) or 1,
        fontsize=8,
        frameon=False,
    )


def run_title(result: RunResult, seed: int | None = None, **more: Any) -> str:
    """'<model> on suite <suite>, task <task>, seed <s>' plus ``key=value`` for ``more``."""
    spec = result.spec
    model = spec.label or spec.model
    parts = [f"{model} on suite {spec.suite_name}, task {spec.task}"]
    if seed is not None:
        parts.append(f"seed {seed}")
    parts.extend(f"{key}={value}" for key, value in more.items())
    return ", ".join(parts)


def dynamics_figures(result: RunResult, result_path: Path) -> list[Path]:
    """Write the run's learning dynamics next to the result as one grid (`dynamics_grid`),
    ``<result>_dynamics.png`` and ``.pdf``; returns the files (none without dynamics)."""
    series_list = [s for s in result.extra.get("dynamics", []) if s.get("points")]
    if not series_list:
        return []
    figure = dynamics_grid(result, series_list)
    caption = dynamics_grid_caption(result, series_list)
    return save_figure(figure, result_path.with_name(f"{result_path.stem}_dynamics"), caption)


def dynamics_grid_caption(result: RunResult, series_list: Sequence[dict]) -> str:
    """What the grid of a run's learning dynamics shows, in words."""
    spec = result.spec
    seeds = sorted({int(s["seed"]) for s in series_list})
    levels = sorted({int(s["k_train"]) for s in series_list})
    x_axis = checkpoint_axis(series_list[0]["points"])[1]
    return (
        f"Learning dynamics of {spec.label or spec.model} (suite {spec.suite_name}, task"
        f" {spec.task}): a column per training level k = {', '.join(map(str, levels))}, two"
        f" rows per seed ({', '.join(map(str, seeds))}), against {x_axis} (log), axes shared."
        " Upper row: test accuracy at every test level (thick: in-sample), each level's"
        " Bayes-optimal (BP) accuracy dashed in its colour and chance dotted. Lower row:"
        " KL(BP_j || model) in bits per query on the training level's data, one line per oracle"
        " BP_j in the colour of level j; the lowest line is the oracle the model is closest to."
    )


def dynamics_grid(result: RunResult, series_list: Sequence[dict]) -> Any:
    """A run's learning dynamics in one grid: a column per training level, two rows per seed
    (accuracy per test level, then KL to each BP_j), x shared by every panel and y by every
    panel of a kind, one colour per level throughout (test level K and oracle BP_K alike),
    and one legend under the grid."""
    from matplotlib.lines import Line2D

    from hbench.analysis.common import pyplot

    plt = pyplot()
    seeds = sorted({int(s["seed"]) for s in series_list})
    trained = sorted({int(s["k_train"]) for s in series_list})
    levels = sorted(
        {int(k) for s in series_list for p in s["points"] for k in (*p["accuracy"], *p["kl"])}
    )
    colour = {k: f"C{i % 10}" for i, k in enumerate(levels)}
    rows, columns = 2 * len(seeds), len(trained)
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(max(3.3 * columns + 0.8, 6.5), 2.3 * rows + 1.0),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    for first in (0, 1):  # y shared by the panels of a kind: accuracy rows, KL rows
        for ax in axes[first::2].flat[1:]:
            ax.sharey(axes[first, 0])
    floor = min(
        (v for s in series_list for p in s["points"] for v in p["kl"].values() if v > 0),
        default=1e-6,
    )
    x_label = checkpoint_axis(series_list[0]["points"])[1]
    chance = None
    used: list[tuple[int, int]] = []
    for series in series_list:
        seed, k_train, points = int(series["seed"]), int(series["k_train"]), series["points"]
        row, column = 2 * seeds.index(seed), trained.index(k_train)
        used += [(row, column), (row + 1, column)]
        acc, kl = axes[row, column], axes[row + 1, column]
        x = checkpoint_axis(points)[0]
        cells = [m for m in result.metrics if m.seed == seed and m.k_train == k_train]
        bp = {int(m.k_test): m.acc_bp for m in cells if m.k_test != "ood" and m.acc_bp is not None}
        chance = cells[0].chance if cells else chance
        for k in points[0]["accuracy"]:
            own = int(k) == k_train
            acc.plot(
                x,
                [p["accuracy"][k] for p in points],
                color=colour[int(k)],
                marker=".",
                lw=2.4 if own else 1.0,
                alpha=1.0 if own else 0.7,
                zorder=3 if own else 2,
            )
            if int(k) in bp:
                acc.axhline(
                    bp[int(k)], color=colour[int(k)], linestyle="--", lw=1.2 if own else 0.7
                )
        if cells:
            acc.axhline(cells[0].chance, color="0.45", linestyle=":", lw=1.1)
        for j in points[0]["kl"]:
            own = int(j) == k_train
            kl.plot(
                x,
                [max(p["kl"][j], floor) for p in points],
                color=colour[int(j)],
                marker=".",
                lw=2.4 if own else 1.0,
                alpha=1.0 if own else 0.7,
            )
        if row == 0:
            acc.set_title(f"trained at k = {k_train}", fontsize=10)
        if column == 0:
            acc.set_ylabel(f"seed {seed}\ntest accuracy", fontsize=9)
            kl.set_ylabel(f"seed {seed}\nKL(BP_j || model), bits", fontsize=9)
    hide_unused(axes, used)
    for ax in axes.flat:
        ax.set_xscale("log")
        ax.grid(alpha=0.25, which="both")
        ax.tick_params(which="both", labelsize=8)
        _plain_numbers(ax.xaxis)
    for ax in axes[1::2].flat:
        ax.set_yscale("log")
        _plain_numbers(ax.yaxis)
    for ax in axes[-1]:
        ax.set_xlabel(x_label, fontsize=9)
    for ax in axes.flat:  # shared axes: tick labels on the outer panels only
        ax.label_outer(remove_inner_ticks=False)
    axes[0, 0].set_ylim(min(0.0, axes[0, 0].get_ylim()[0]), max(1.02, axes[0, 0].get_ylim()[1]))
    handles = [Line2D([], [], color=colour[k], lw=2, label=f"level {k}") for k in levels]
    handles += [
        Line2D([], [], color="0.3", lw=1.0, label="accuracy at test level K / KL to BP_j"),
        Line2D([], [], color="0.3", lw=2.4, label="in-sample / training level"),
        Line2D([], [], color="0.3", lw=1.0, linestyle="--", label="BP accuracy (reference)"),
    ]
    if chance is not None:
        handles.append(Line2D([], [], color="0.45", linestyle=":", label=chance_label(chance)))
    legend_below(figure, handles, columns=min(2 * columns + 1, 6))  # no wider than the grid
    figure.suptitle(f"learning dynamics: {run_title(result)}", fontsize=11)
    return figure


def dynamics_caption(result: RunResult, series: dict) -> str:
    """What a dynamics figure shows, in words."""
    spec = result.spec
    k_train = int(series["k_train"])
    x_axis = checkpoint_axis(series["points"])[1]
    return (
        f"Learning dynamics of {spec.label or spec.model} (suite {spec.suite_name}, task"
        f" {spec.task}, seed {series['seed']}) trained at filter level k = {k_train}, against"
        f" {x_axis} (log). Left: test accuracy at every test level (thick: in-sample), each"
        " level's Bayes-optimal (BP) accuracy dashed in its colour and chance dotted. Right:"
        f" KL(BP_j || model) in bits per query on level-{k_train} data, one line per oracle"
        " BP_j; the lowest line is the oracle the model is closest to at that step."
    )


def chance_label(chance: float) -> str:
    """The chance line's legend entry: 1/q for a symbol, 1/n_c for the root of the RHM, so it
    is written as the number it is, not as 1/q."""
    return f"chance 1/{round(1 / chance)} = {chance:g}"


def checkpoint_axis(points: Sequence[dict]) -> tuple[list[float], str]:
    """The x values of the checkpoints and their axis label: optimiser steps where every
    checkpoint label is a positive number (the transformer labels each with its step), else
    training seconds (evaluation excluded)."""
    labels = [p.get("label") for p in points]
    if all(isinstance(x, numbers.Real) and not isinstance(x, bool) and x > 0 for x in labels):
        return [float(x) for x in labels], "optimiser steps"
    seconds = [max(float(p["seconds"]), 1e-3) for p in points]
    return seconds, "training time (s, evaluation excluded)"


def dynamics_figure(result: RunResult, series: dict) -> Any:
    """The two-panel figure of one series (see the module's docstring)."""
    from matplotlib.lines import Line2D

    from hbench.analysis.common import pyplot

    plt = pyplot()
    points = series["points"]
    seed, k_train = series["seed"], int(series["k_train"])
    x, xlabel = checkpoint_axis(points)
    cells = [m for m in result.metrics if m.seed == seed and m.k_train == k_train]
    bp = {int(m.k_test): m.acc_bp for m in cells if m.k_test != "ood" and m.acc_bp is not None}
    chance = cells[0].chance if cells else None
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))

    handles = []
    for index, k in enumerate(points[0]["accuracy"]):
        color, own = f"C{index}", int(k) == k_train
        style = {"lw": 2.6, "alpha": 1.0, "zorder": 3} if own else {"lw": 1.2, "alpha": 0.75}
        label = f"k_test={k}" + (" (in-sample)" if own else "")
        (line,) = left.plot(
            x, [p["accuracy"][k] for p in points], color=color, label=label, marker=".", **style
        )
        handles.append(line)
        if int(k) in bp:
            left.axhline(bp[int(k)], color=color, linestyle="--", lw=1.3 if own else 0.8)
    handles.append(Line2D([], [], color="0.3", linestyle="--", lw=1, label="BP accuracy (colour)"))
    if chance is not None:
        left.axhline(chance, color="0.45", linestyle=":", lw=1.2)
        handles.append(Line2D([], [], color="0.45", linestyle=":", label=chance_label(chance)))
    left.set(xscale="log", xlabel=xlabel, ylabel="test accuracy", title="accuracy per test level")
    _legend_below(left, handles=handles)
    left.grid(alpha=0.25, which="both")
    left.set_ylim(min(0.0, left.get_ylim()[0]), max(1.02, left.get_ylim()[1]))

    floor = min((v for p in points for v in p["kl"].values() if v > 0), default=1e-6)
    for index, j in enumerate(points[0]["kl"]):
        own = int(j) == k_train
        right.plot(
            x,
            [max(p["kl"][j], floor) for p in points],
            color=f"C{index}",
            marker=".",
            lw=2.6 if own else 1.2,
            alpha=1.0 if own else 0.75,
            label=f"BP_{j}" + (" (training level)" if own else ""),
        )
    order = " > ".join(map(str, series.get("first_closest_order", [])))
    right.set(
        xscale="log",
        yscale="log",
        xlabel=xlabel,
        ylabel="KL(BP_j || model), bits per query",
        title=f"closeness to each BP_j on k={k_train} data (closest first: {order})",
    )
    _legend_below(right)
    for axis in (left.xaxis, right.xaxis, right.yaxis):
        _plain_numbers(axis)
    right.grid(alpha=0.25, which="both")
    figure.suptitle(f"learning dynamics: {run_title(result, seed, k_train=k_train)}", fontsize=11)
    figure.tight_layout()
    return figure


def _legend_below(ax: Any, **kwargs: Any) -> None:
    """The legend under the panel, so that it never hides a curve or a reference line."""
    ax.legend(
        fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False, **kwargs
    )


def _plain_numbers(axis: Any) -> None:
    """Tick labels of a log axis as plain numbers (0.2, 1, 100), not 2 x 10^-1; of the minor
    ticks only the 2s and 5s are labelled, so labels never crowd."""
    import math

    from matplotlib.ticker import FuncFormatter

    def minor(value: float, _position: int) -> str:
        digit = round(value / 10 ** math.floor(math.log10(value) + 1e-9))
        return f"{value:g}" if digit in (2, 5) else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))
