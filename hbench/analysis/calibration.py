"""``hbench analyze calibration RESULT``: are the model's probabilities BP's probabilities?

Accuracy only checks the argmax. The paper's stronger claim (Fig. 1(b)) is that a trained
transformer outputs BP's *marginals*: for every query and every symbol, the model's probability
equals the exact posterior's. This analysis runs each trained model of a run on fresh test
sequences of its training level, asks the exact oracle BP_k_train about the same questions,
and compares the two probability vectors entry by entry: the mean absolute difference, a
binned curve (mean model probability per bin of BP probability; the diagonal is perfect), and
a scatter of a subsample. A model that is right about the argmax but over- or under-confident
shows up here and not in the accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hbench.analysis import common
from hbench.analysis.report import Report, skipped
from hbench.contracts import exact_answers

HELP = "model probabilities against BP's, entry by entry: calibration scatter and binned curve"
PURPOSE = 3  # seed stream of the calibration data (see `common.Run.sample`)
BINS = 20
#: Points kept for the scatter, per model (the binned curve uses every entry).
SCATTER_POINTS = 3000


class ModelCalibration(BaseModel):
    """One trained model: its probabilities against BP_k_train's on fresh data."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    k_train: int
    data_level: int
    n_queries: int
    acc: float  # the model's argmax accuracy on these questions
    acc_bp: float  # BP_k_train's
    mean_abs_diff: float  # mean over queries and symbols of |p_model - p_BP|
    kl_bits: float  # mean KL(BP || model) in bits per query
    bin_edges: list[float]  # BINS + 1 edges on the BP probability
    bin_model: list[float | None]  # mean model probability of the entries in each bin
    bin_bp: list[float | None]  # mean BP probability of the entries in each bin
    bin_count: list[int]
    scatter_bp: list[float]  # a subsample of entries, for the scatter
    scatter_model: list[float]


class CalibrationReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = common.REPORT_VERSION
    analysis: str = "calibration"
    result: str
    model: str
    task: str
    sequences: int
    models: list[ModelCalibration]
    figures: list[str]
    captions: dict[str, str] = Field(default_factory=dict)  # figure file -> what it shows


def oracle_answers(run: common.Run, level: int, data) -> np.ndarray:
    """BP_level's probabilities for the questions of ``data`` (as the harness computes them)."""
    return exact_answers(run.task, run.oracle, run.level(level), data, run.spec)


def compare(model: np.ndarray, bp: np.ndarray, targets: np.ndarray, seed: int) -> dict[str, object]:
    """The numbers of `ModelCalibration` (without seed and levels) from (m, q) probabilities."""
    from hbench.scoring import kl_bits

    model = np.asarray(model, dtype=np.float64)
    bp = np.asarray(bp, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, BINS + 1)
    flat_bp, flat_model = bp.reshape(-1), model.reshape(-1)
    which = np.clip(np.digitize(flat_bp, edges) - 1, 0, BINS - 1)
    count = np.bincount(which, minlength=BINS)
    sum_model = np.bincount(which, weights=flat_model, minlength=BINS)
    sum_bp = np.bincount(which, weights=flat_bp, minlength=BINS)
    rng = np.random.default_rng(seed)
    keep = rng.choice(flat_bp.size, size=min(SCATTER_POINTS, flat_bp.size), replace=False)
    return {
        "n_queries": int(model.shape[0]),
        "acc": float(np.mean(model.argmax(axis=1) == targets)),
        "acc_bp": float(np.mean(bp.argmax(axis=1) == targets)),
        "mean_abs_diff": float(np.abs(model - bp).mean()),
        "kl_bits": float(kl_bits(bp, model).mean()),
        "bin_edges": edges.tolist(),
        "bin_model": [float(s / c) if c else None for s, c in zip(sum_model, count, strict=True)],
        "bin_bp": [float(s / c) if c else None for s, c in zip(sum_bp, count, strict=True)],
        "bin_count": count.astype(int).tolist(),
        "scatter_bp": np.round(flat_bp[keep], 5).tolist(),
        "scatter_model": np.round(flat_model[keep], 5).tolist(),
    }


def analyze(
    run: common.Run, models: Sequence[common.TrainedModel], *, sequences: int
) -> list[ModelCalibration]:
    """Every trained model against BP of its training level, on fresh sequences of that level."""
    entries = []
    for trained in models:
        _, data = run.sample(sequences, trained.seed, trained.k_train, PURPOSE)
        predicted = np.asarray(trained.model.predict(data.without_targets()))
        bp = oracle_answers(run, trained.k_train, data)
        numbers = compare(predicted, bp, data.targets, trained.seed)
        entries.append(
            ModelCalibration(
                seed=trained.seed, k_train=trained.k_train, data_level=trained.k_train, **numbers
            )
        )
    return entries


def figure(report: CalibrationReport, path, title: str = "") -> list[Path]:
    """One panel per training level (the first seed's model), wrapped in rows: the scatter of
    model against BP probabilities, the binned means on top, the diagonal dashed; one legend
    under the grid."""
    from matplotlib.lines import Line2D

    from hbench.analysis.figures import (
        hide_unused,
        label_edges,
        legend_below,
        panel_grid,
        save_figure,
    )

    plt = common.pyplot()
    first_seed = min(entry.seed for entry in report.models)
    entries = sorted((e for e in report.models if e.seed == first_seed), key=lambda e: e.k_train)
    figure, axes, where = panel_grid(plt, len(entries), size=(2.9, 2.9), below=1.2)
    for entry, (row, column) in zip(entries, where, strict=True):
        ax = axes[row, column]
        ax.scatter(entry.scatter_bp, entry.scatter_model, s=2, alpha=0.25, color="C0", lw=0)
        binned = [
            (b, m) for b, m in zip(entry.bin_bp, entry.bin_model, strict=True) if b is not None
        ]
        if binned:
            xs, ys = zip(*binned, strict=True)
            ax.plot(xs, ys, color="C3", marker="o", ms=3, lw=1.4)
        ax.plot([0, 1], [0, 1], color="0.3", linestyle="--", lw=1)
        ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), aspect="equal")
        ax.set_xticks([0, 0.5, 1], ["0", "0.5", "1"])
        ax.set_yticks([0, 0.5, 1], ["0", "0.5", "1"])
        ax.set_title(f"k_train = {entry.k_train}: |diff| {entry.mean_abs_diff:.3f}", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.25)
    hide_unused(axes, where)
    label_edges(axes, where, "BP_k_train probability", "model probability")
    legend_below(
        figure,
        [
            Line2D([], [], color="C0", marker="o", ms=3, lw=0, alpha=0.5, label="one entry"),
            Line2D([], [], color="C3", marker="o", ms=3, lw=1.4, label="binned mean"),
            Line2D([], [], color="0.3", linestyle="--", lw=1, label="model = BP"),
        ],
    )
    figure.suptitle(
        f"calibration against exact inference ({report.task}): {title}, seed {first_seed}",
        fontsize=10,
    )
    caption = (
        f"Probabilities of {title} (seed {first_seed}) against those of exact inference (BP) of"
        f" its training level, entry by entry on {report.sequences} fresh test sequences, one"
        " panel per training level k: a point per entry, the mean of the model's probability in"
        " bins of BP's (red) and the diagonal model = BP (dashed); |diff| is the mean absolute"
        " difference."
    )
    return save_figure(figure, path, caption)


# --- the analysis ------------------------------------------------------------------------------


class CalibrationOptions(BaseModel):
    """Options of the calibration analysis."""

    model_config = ConfigDict(extra="forbid")

    device: Literal["auto", "cpu", "cuda"] = Field("cpu", description="where models run")
    sequences: int = Field(4096, description="fresh test sequences per trained model")


def report(
    source: str | Path | common.Run, options: CalibrationOptions | None = None
) -> Report[CalibrationReport]:
    """Every kept model's probabilities against BP's on fresh test sequences (skipped, with
    the reason, for a run that kept no models)."""
    from hbench.analysis.figures import run_title
    from hbench.run.devices import resolve_device

    options = options or CalibrationOptions()
    common.check_count(options.sequences, "--sequences")
    loaded = common.as_run(source)
    try:
        models = loaded.trained_models("predict", resolve_device(options.device))
    except common.Skip as reason:
        return skipped("calibration", loaded.path, reason)
    numbers = CalibrationReport(
        result=str(loaded.path),
        model=loaded.model_name,
        task=loaded.result.spec.task,
        sequences=options.sequences,
        models=analyze(loaded, models, sequences=options.sequences),
        figures=[],
    )
    title = run_title(loaded.result)

    def draw(report: Report[CalibrationReport], base: Path) -> list[Path]:
        from hbench.analysis.figures import captions

        figures = figure(report.numbers, base.with_name(base.name + ".png"), title)
        report.numbers.figures = [f.name for f in figures]
        report.numbers.captions = captions(figures)
        return figures

    writer = common.run_writer("calibration", draw)
    return Report("calibration", loaded.path, numbers, text=table(numbers), writer=writer)


def table(report: CalibrationReport) -> str:
    from tabulate import tabulate

    rows = [
        [
            e.seed,
            e.k_train,
            f"{e.acc:.4f}",
            f"{e.acc_bp:.4f}",
            f"{e.mean_abs_diff:.4f}",
            f"{e.kl_bits:.4f}",
        ]
        for e in report.models
    ]
    headers = ["seed", "k_train", "acc", "acc_bp", "mean |p - p_BP|", "KL (bits)"]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
