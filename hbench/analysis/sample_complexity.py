"""Sample complexity: normalised accuracy against the training budget P, and P*.

From the results of a sweep over P, for every model, task and training filter level k: the
in-sample normalised accuracy (acc - 1/q) / (acc_bp - 1/q) at each P, as mean ± standard error
over seeds, and P* = the smallest P whose mean reaches a target (default 0.95), interpolated
linearly in log P between the last budget below the target and the first at or above it. The
paper reports that P* grows as the data keep more hierarchy (smaller k) and that MLM
pretraining lowers it; this is the table and the figure that show it.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hbench.errors import UsageError, invalid

HELP = "normalised accuracy against the budget P per model and level, and P* (from a sweep)"

#: Suite fields that a sample-complexity sweep varies or that do not split curves.
_NOT_A_VARIANT = {"name", "description", "P", "P_mlm", "seeds", "train_filters", "task"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "sweep_dir", metavar="SWEEP_DIR", help="a sweep's output folder (or any results folder)"
    )
    parser.add_argument(
        "--target",
        type=float,
        default=0.95,
        help="normalised accuracy that defines P* (default %(default)s)",
    )
    parser.add_argument("--out", help="the PNG to write (default: SWEEP_DIR/sample-complexity.png)")
    parser.add_argument(
        "--json", action="store_true", help="print the curves and the figure's path as JSON"
    )


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
        budget = spec.suite.get("P_mlm") if spec.task == "mlm" else None
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


def render_figure(curves: list[Curve], target: float, path: Path) -> Path:
    """One panel per model (and task, variant): a line per training level, error bars = s.e."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hbench.io import atomic_write

    panels: dict[str, list[Curve]] = defaultdict(list)
    for curve in curves:
        panels[_name(curve)].append(curve)
    width = len(panels)
    figure, axes = plt.subplots(1, width, figsize=(4.6 * width, 4.0), squeeze=False)
    levels = sorted({curve.k_train for curve in curves})
    for axis, (name, group) in zip(axes[0], panels.items(), strict=True):
        for curve in group:
            color = f"C{levels.index(curve.k_train)}"
            axis.errorbar(
                curve.budgets,
                curve.mean,
                yerr=curve.stderr,
                color=color,
                marker="o",
                ms=3,
                capsize=2,
                label=f"k={curve.k_train}",
            )
            p_star, _ = curve.p_star(target)
            if p_star is not None:
                axis.axvline(p_star, color=color, linestyle=":", lw=0.8)
        axis.axhline(target, color="grey", linestyle="--", lw=0.8)
        axis.set(
            xscale="log",
            xlabel="training budget P",
            ylabel="normalised accuracy (in-sample)",
            title=name,
            ylim=(min(0.0, *(min(c.mean) for c in group)) - 0.02, 1.05),
        )
        axis.set_xscale("log", base=2)
        axis.legend(fontsize=8, title="k_train", title_fontsize=8)
    figure.suptitle(
        f"normalised accuracy against P (mean ± s.e. over seeds);"
        f" dashed: target {target:g}, dotted: P*"
    )
    figure.tight_layout()
    with atomic_write(path, "wb", field="--out") as handle:
        figure.savefig(handle, format="png", dpi=110)
    plt.close(figure)
    return path


def run(args: argparse.Namespace) -> int:
    if not 0 < args.target <= 1.5 or math.isnan(args.target):
        raise invalid("--target", args.target, "a normalised accuracy in (0, 1.5], e.g. 0.95")
    out = Path(args.out) if args.out else Path(args.sweep_dir) / "sample-complexity.png"
    if out.suffix.lower() != ".png":
        raise invalid("--out", str(out), "a file name ending in .png")
    curves = collect_curves(args.sweep_dir)
    if not args.json:
        print(
            f"normalised accuracy (in-sample, mean ± s.e. over seeds) against P;"
            f" P* = smallest P reaching {args.target:g}, interpolated on log P"
        )
        print(render_table(curves, args.target))
    path = render_figure(curves, args.target, out)
    if args.json:
        curves_json = [curve.to_json(args.target) for curve in curves]
        data = {"analysis": "sample-complexity", "figure": str(path), "curves": curves_json}
        print(json.dumps(data, indent=2))
    else:
        print(f"wrote {path}")
    return 0
