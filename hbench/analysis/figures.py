"""Figures of a run: the learning dynamics, and what every figure of hbench shares.

Every figure is written twice, as PNG (to look at) and PDF (vector, for a paper), each
atomically (a temporary file in the same folder, renamed into place), so an interrupted write
never leaves half a picture. Every title says what the figure is of: model, suite, task, seed.

The dynamics, two panels per (seed, training level), against optimiser steps on a log axis
(the model's checkpoint labels; wall-clock time only for a model whose labels are not step
numbers): test accuracy at every test level with the in-sample curve highlighted, each level's
Bayes-optimal accuracy (BP) dashed in the same colour and chance dotted; and KL(BP_j || model)
for every j on the training level's data, where the paper's staircase (BP_l closest first, then
l-1, ..., finally BP_0) shows.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hbench.results import RunResult

#: The formats every figure is written in, the first one being what reports link to.
FORMATS = ("png", "pdf")
DPI = 130


def save_figure(figure: Any, path: str | Path) -> list[Path]:
    """Write ``figure`` as ``path`` with each suffix of `FORMATS`, atomically; close it.

    Returns the files written, PNG first. ``path``'s own suffix, if any, is replaced."""
    from hbench.analysis.common import pyplot
    from hbench.io import atomic_write

    path = Path(path)
    written = []
    try:
        for fmt in FORMATS:
            target = path.with_suffix(f".{fmt}")
            with atomic_write(target, field="figure") as handle:
                # A fixed date keeps PDFs byte-stable across runs of the same numbers.
                metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
                figure.savefig(handle, format=fmt, dpi=DPI, bbox_inches="tight", metadata=metadata)
            written.append(target)
    finally:
        pyplot().close(figure)
    return written


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
    """Write the figures of every dynamics series next to the result; returns the files."""
    series_list = result.extra.get("dynamics", [])
    if not series_list:
        return []
    written: list[Path] = []
    for series in series_list:
        figure = dynamics_figure(result, series)
        stem = f"{result_path.stem}_dynamics_s{series['seed']}_k{series['k_train']}"
        written += save_figure(figure, result_path.with_name(stem))
    return written


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
