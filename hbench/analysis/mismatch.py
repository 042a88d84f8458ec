"""``hbench analyze mismatch RESULT``: does a model trained at k_train implement BP_{k_train}?

A run scores every model on the test sets of every filter level k_test against two oracles:
BP_{k_test}, the Bayes-optimal answer on that data, and BP_{k_train}, the exact inference of
the distribution the model was trained on, now applied to data it was not trained on. This
analysis lays those numbers out as k_train x k_test matrices (means over seeds; nothing is
retrained or re-predicted): the model's accuracy next to BP_{k_train}'s and BP_{k_test}'s, and
KL(BP || model) to each.

The paper's claim to test: a model trained at k_train tracks BP_{k_train} on every test level
(the off-diagonal cells: KL to BP_{k_train} below KL to BP_{k_test}, and accuracy close to
BP_{k_train}'s rather than to the optimal BP_{k_test}'s), and it still matches BP_{k_train} on
uniformly random sequences (the ``ood`` column). Off the diagonal the two oracles can agree
closely (e.g. k_train = 0 on data of level 1); the counts below report every cell anyway.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hbench.analysis import common
from hbench.analysis.report import Report, skipped
from hbench.results import RunResult

HELP = "accuracy and KL of a model against BP_k_train and BP_k_test, k_train x k_test"

#: The per-cell metrics of a result this analysis reads.
FIELDS = ("acc", "acc_bp", "acc_bp_train", "kl_bp", "kl_bp_train", "agree", "agree_train")


class OodRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k_train: int
    kl_bp_train: float  # KL(BP_k_train || model) on uniformly random sequences, bits
    agree_train: float  # share of those where the model's argmax is BP_k_train's


class Tracking(BaseModel):
    """Over the off-diagonal cells (k_train != k_test): which oracle the model is closer to."""

    model_config = ConfigDict(extra="forbid")

    cells: int
    kl_closer_to_train: int  # KL(BP_k_train || model) < KL(BP_k_test || model)
    acc_closer_to_train: int  # |acc - acc(BP_k_train)| < |acc - acc(BP_k_test)|


class MismatchReport(BaseModel):
    """Matrices are indexed [i][j] = (k_train = train_levels[i], k_test = test_levels[j])."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = common.REPORT_VERSION
    analysis: str = "mismatch"
    result: str
    model: str
    seeds: list[int]
    chance: float
    train_levels: list[int]
    test_levels: list[int]
    acc: list[list[float]]
    acc_bp_train: list[list[float]]  # BP_k_train on data of k_test: the mismatched oracle
    acc_bp_test: list[list[float]]  # BP_k_test: Bayes-optimal (the same in every row)
    kl_bp_train: list[list[float]]
    kl_bp_test: list[list[float]]
    agree_train: list[list[float]]
    ood: list[OodRow]
    tracking: Tracking
    figures: list[str]
    captions: dict[str, str] = Field(default_factory=dict)  # figure file -> what it shows


def matrices(result: RunResult) -> MismatchReport:
    """The report's numbers from a result's metrics, averaged over seeds."""
    cells: dict[tuple, list] = defaultdict(list)
    for row in result.metrics:
        cells[(row.k_train, row.k_test)].append(row)
    train_levels = sorted({k for k, _ in cells})
    test_levels = sorted({k for _, k in cells if k != "ood"})

    def mean(k_train, k_test, name) -> float:
        values = [getattr(r, name) for r in cells.get((k_train, k_test), [])]
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else float("nan")

    def grid(name: str) -> list[list[float]]:
        return [[mean(i, j, name) for j in test_levels] for i in train_levels]

    acc, acc_train, acc_test = grid("acc"), grid("acc_bp_train"), grid("acc_bp")
    kl_train, kl_test = grid("kl_bp_train"), grid("kl_bp")
    off = [
        (a, b)
        for a, i in enumerate(train_levels)
        for b, j in enumerate(test_levels)
        if i != j and not np.isnan(acc[a][b])
    ]
    tracking = Tracking(
        cells=len(off),
        kl_closer_to_train=sum(kl_train[a][b] < kl_test[a][b] for a, b in off),
        acc_closer_to_train=sum(
            abs(acc[a][b] - acc_train[a][b]) < abs(acc[a][b] - acc_test[a][b]) for a, b in off
        ),
    )
    ood = [
        OodRow(
            k_train=i,
            kl_bp_train=mean(i, "ood", "kl_bp_train"),
            agree_train=mean(i, "ood", "agree_train"),
        )
        for i in train_levels
        if (i, "ood") in cells
    ]
    return MismatchReport(
        result="",
        model=result.spec.model,
        seeds=list(result.spec.seeds),
        chance=result.metrics[0].chance if result.metrics else float("nan"),
        train_levels=train_levels,
        test_levels=test_levels,
        acc=acc,
        acc_bp_train=acc_train,
        acc_bp_test=acc_test,
        kl_bp_train=kl_train,
        kl_bp_test=kl_test,
        agree_train=grid("agree_train"),
        ood=ood,
        tracking=tracking,
        figures=[],
    )


# --- the analysis ------------------------------------------------------------------------------


class MismatchOptions(BaseModel):
    """The mismatch analysis takes no options: it reads the result's scores only."""

    model_config = ConfigDict(extra="forbid")


def report(source: str | Path, options: MismatchOptions | None = None) -> Report[MismatchReport]:
    """The k_train x k_test matrices of the result file ``source`` (nothing is retrained)."""
    from hbench.results import read_result

    path = Path(source)
    numbers = matrices(read_result(path))
    if not numbers.acc:
        return skipped("mismatch", path, "the result has no scored cells")
    numbers.result = str(path)
    writer = common.run_writer("mismatch", _draw)
    return Report("mismatch", path, numbers, text=table(numbers), writer=writer)


def _draw(report: Report[MismatchReport], base: Path) -> list[Path]:
    from hbench.analysis.figures import captions

    figures = figure_of(report.numbers, base.with_name(base.name + ".png"))
    report.numbers.figures = [figure.name for figure in figures]
    report.numbers.captions = captions(figures)
    return figures


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if np.isnan(value) else f"{value:.{digits}f}"


def table(report: MismatchReport) -> str:
    """Two k_train x k_test matrices and the ood column, then the tracking counts."""
    from tabulate import tabulate

    headers = ["k_train \\ k_test", *map(str, report.test_levels)]
    acc_rows, kl_rows = [], []
    for a, i in enumerate(report.train_levels):
        acc_rows.append(
            [
                str(i),
                *(
                    f"{_fmt(report.acc[a][b])} ({_fmt(report.acc_bp_train[a][b])}"
                    f" / {_fmt(report.acc_bp_test[a][b])})"
                    for b in range(len(report.test_levels))
                ),
            ]
        )
        kl_rows.append(
            [
                str(i),
                *(
                    f"{_fmt(report.kl_bp_train[a][b])} / {_fmt(report.kl_bp_test[a][b])}"
                    for b in range(len(report.test_levels))
                ),
            ]
        )
    ood = {row.k_train: row for row in report.ood}
    if ood:
        headers.append("ood")
        for a, i in enumerate(report.train_levels):
            row = ood.get(i)
            acc_rows[a].append(f"agree {_fmt(row.agree_train)}" if row else "-")
            kl_rows[a].append(f"{_fmt(row.kl_bp_train)} / -" if row else "-")
    t = report.tracking
    lines = [
        f"accuracy of model {report.model!r} (BP_k_train / BP_k_test), chance {report.chance:.3f}",
        tabulate(acc_rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        "KL(BP_k_train || model) / KL(BP_k_test || model), bits per query"
        + ("; ood: KL to BP_k_train" if ood else ""),
        tabulate(kl_rows, headers=headers, tablefmt="github", disable_numparse=True),
        "",
        f"off the diagonal ({t.cells} cells): closer to BP_k_train than to BP_k_test in KL in"
        f" {t.kl_closer_to_train}, in accuracy in {t.acc_closer_to_train}",
    ]
    return "\n".join(lines)


def figure_of(report: MismatchReport, path) -> list[Path]:
    """Top: accuracy of the model, of BP_k_train and of BP_k_test, on one colour scale (chance
    to 1) with one colour bar; bottom: KL to BP_k_train and to BP_k_test on one scale with one
    colour bar, and the KL to BP_k_train on random sequences. PNG and PDF; returns both."""
    from hbench.analysis.figures import save_figure

    plt = common.pyplot()
    figure = plt.figure(figsize=(12, 7.4), layout="constrained")
    top, bottom = figure.subfigures(2, 1)
    kl_part, ood_part = bottom.subfigures(1, 2, width_ratios=[2.25, 1])
    axes_rows = [top.subplots(1, 3), kl_part.subplots(1, 2)]
    parts = [top, kl_part]
    ticks_x = [str(k) for k in report.test_levels]
    ticks_y = [str(k) for k in report.train_levels]
    kl_top = np.nanmax(np.array(report.kl_bp_train + report.kl_bp_test, dtype=float))
    kl_top = kl_top if np.isfinite(kl_top) and kl_top > 0 else 1.0
    rows = [
        (
            [
                (report.acc, "accuracy of the model"),
                (report.acc_bp_train, "accuracy of BP_k_train"),
                (report.acc_bp_test, "accuracy of BP_k_test (optimal)"),
            ],
            "viridis",
            (report.chance, 1),
            f"accuracy (chance = {report.chance:g})",
        ),
        (
            [
                (report.kl_bp_train, "KL(BP_k_train || model)"),
                (report.kl_bp_test, "KL(BP_k_test || model)"),
            ],
            "magma_r",
            (0, kl_top),
            "KL, bits per query",
        ),
    ]
    for row, (panels, cmap, (low, high), label) in enumerate(rows):
        image = None
        for column, (grid, title) in enumerate(panels):
            ax = axes_rows[row][column]
            values = np.array(grid, dtype=float)
            image = ax.imshow(values, cmap=cmap, vmin=low, vmax=high)
            common.annotate(ax, image, values, fontsize=8)
            ax.set_xticks(range(len(ticks_x)), ticks_x)
            ax.set_yticks(range(len(ticks_y)), ticks_y)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("k_test (test level)", fontsize=9)
            if column == 0:
                ax.set_ylabel("k_train (training level)", fontsize=9)
        parts[row].colorbar(image, ax=list(axes_rows[row]), shrink=0.9, label=label)
    ax = ood_part.subplots()
    if report.ood:
        ax.bar([str(r.k_train) for r in report.ood], [r.kl_bp_train for r in report.ood])
        ax.set_xlabel("k_train (training level)", fontsize=9)
        ax.set_ylabel("KL(BP_k_train || model), bits", fontsize=9)
        ax.set_title("uniformly random sequences (ood)", fontsize=10)
        ax.grid(alpha=0.25, axis="y")
    else:
        ax.set_axis_off()
    t = report.tracking
    figure.suptitle(
        f"{report.model}: trained at k_train, tested at k_test; off-diagonal cells closer to"
        f" BP_k_train in KL: {t.kl_closer_to_train}/{t.cells}",
        fontsize=11,
    )
    caption = (
        f"Model {report.model} trained at filter level k_train (rows) and tested on data of level"
        " k_test (columns), mean over seeds. Top: accuracy of the model, of the oracle of its"
        " training level (BP_k_train) and of the optimal oracle of the test level (BP_k_test),"
        f" on one colour scale from chance ({report.chance:g}) to 1. Bottom: KL divergence in"
        " bits per query from each oracle to the model (lower: closer), on one scale, and on"
        " uniformly random sequences (ood) the KL from BP_k_train."
    )
    return save_figure(figure, path, caption)
