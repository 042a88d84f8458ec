"""The figures of a reproduction that no single analysis draws: the claims' own views of
runs and sweeps. Each is drawn with the project's figure helpers (`hbench.analysis.figures`,
PNG and PDF written atomically) into ``<folder>/figures/``; each function returns the PNG
paths relative to the folder, for the report. Each figure carries its caption (see
`hbench.analysis.figures.save_figure`), which the report prints under it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hbench.analysis.figures import save_figure
from hbench.reproduce.evidence import Evidence, cells

#: How the runs of claim 9 are named in its figure.
VARIANT_NAMES = {
    "root": "l layers, the authors' grammar seed 0",
    "fewer-layers": "fewer layers than l, the same budget",
    "other-grammar-1": "l layers, the authors' grammar seed 1",
    "other-grammar-15": "l layers, the authors' grammar seed 15",
}


def _png(ev: Evidence, written: list[Path]) -> list[str]:
    return [ev.relative(path) for path in written if path.suffix == ".png"]


def dynamics(ev: Evidence, run: str) -> list[str]:
    """The learning dynamics of the run's first seed at k_train = 0 (Fig. 4 and 5)."""
    from hbench.analysis.figures import dynamics_caption, dynamics_figure

    result = ev.result(run)
    series = [s for s in (result.extra.get("dynamics", []) if result else []) if s["k_train"] == 0]
    if not series:
        return []
    first = min(series, key=lambda s: s["seed"])
    figure = dynamics_figure(result, first)
    caption = dynamics_caption(result, first)
    return _png(ev, save_figure(figure, ev.figures / f"{run}_dynamics_k0", caption))


def accuracy_against_budget(ev: Evidence, folder: Path) -> list[str]:
    """Test accuracy against P per training level, BP's accuracy dashed (Fig. 3)."""
    from hbench.analysis.budget import accuracy_figure, collect

    if "accuracy_against_P" in ev.drawn:  # shared by claims 1 and 5: drawn once per report
        return ev.drawn["accuracy_against_P"]
    points = [p for p in collect(folder) if p.task == "root"]
    title = f"root accuracy against the training budget P, suite {ev.plan.suite}"
    target = ev.figures / "accuracy_against_P"
    drawn = _png(ev, accuracy_figure(points, target, title, lines="k_train")) if points else []
    ev.drawn["accuracy_against_P"] = drawn
    return drawn


def pretraining(ev: Evidence, points) -> list[str]:
    """Normalised root accuracy against labelled P: scratch, frozen, fine-tuned (Fig. 1(f))."""
    from hbench.analysis.budget import accuracy_figure

    if not points:
        return []
    title = (
        f"root accuracy against labelled sequences P, after mlm pretraining at k = 0"
        f" (suite {ev.plan.suite})"
    )
    return _png(ev, accuracy_figure(points, ev.figures / "pretraining", title, lines="label"))


def mismatch(ev: Evidence) -> list[str]:
    """Per task, each off-diagonal cell as a point: KL to BP_k_test against KL to BP_k_train.
    Points above the diagonal are closer to the training level's oracle (Fig. 4's reading)."""
    from matplotlib.lines import Line2D

    from hbench.analysis.common import pyplot
    from hbench.analysis.figures import legend_below

    runs = [(name, ev.result(name)) for name in ("root", "mlm")]
    runs = [(name, result) for name, result in runs if result is not None]
    if not runs:
        return []
    plt = pyplot()
    figure, axes = plt.subplots(
        1, len(runs), figsize=(4.4 * len(runs) + 0.4, 4.6), squeeze=False, layout="constrained"
    )
    handles: list = []
    for ax, (name, result) in zip(axes[0], runs, strict=True):
        table = cells(result)
        levels = sorted(result.spec.train_filters)
        top = 1e-6
        for index, k_train in enumerate(levels):
            xs, ys = [], []
            for (kt, ks), rows in table.items():
                if kt != k_train or ks == "ood" or ks == kt:
                    continue
                xs.append(float(np.mean([r.kl_bp_train for r in rows])))
                ys.append(float(np.mean([r.kl_bp for r in rows])))
            if xs:
                handles.append(
                    ax.scatter(xs, ys, color=f"C{index}", s=22, label=f"k_train={k_train}")
                )
                top = max(top, *xs, *ys)
        ax.plot([0, top * 1.05], [0, top * 1.05], color="0.3", linestyle="--", lw=1)
        ax.set(
            xlabel="KL(BP_k_train || model), bits per query",
            ylabel="KL(BP_k_test || model), bits per query",
            title=f"task {name}: off-diagonal cells",
            aspect="equal",
        )
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.25)
    handles.sort(key=lambda handle: handle.get_label())
    handles.append(
        Line2D([], [], color="0.3", linestyle="--", lw=1, label="equally close to both oracles")
    )
    legend_below(figure, handles, columns=6)
    spec = runs[0][1].spec
    figure.suptitle(
        f"which oracle the model implements: {spec.label or spec.model} on suite"
        f" {spec.suite_name}, mean over seeds {', '.join(map(str, spec.seeds))}",
        fontsize=10,
    )
    caption = (
        "Each cell off the diagonal of the k_train x k_test matrix (a model trained at one filter"
        " level and tested at another, mean over seeds) as a point: its KL divergence from the"
        " test level's optimal oracle BP_k_test (y) against that from its training level's"
        " oracle BP_k_train (x), one panel per task. Above the dashed diagonal the model is"
        " closer to BP_k_train: it implements the oracle of the data it was trained on."
    )
    return _png(ev, save_figure(figure, ev.figures / "mismatch", caption))


def variants(ev: Evidence, runs) -> list[str]:
    """In-sample normalised accuracy per level of several runs side by side (App. D)."""
    from hbench.analysis.common import pyplot
    from hbench.reproduce.evidence import norm_stat

    plt = pyplot()
    figure, ax = plt.subplots(figsize=(7.6, 4.2), layout="constrained")
    for index, (name, result) in enumerate(runs):
        table = cells(result)
        levels = sorted(result.spec.train_filters)
        stats = [norm_stat(table.get((k, k), [])) for k in levels]
        ax.errorbar(
            np.array(levels) + 0.06 * (index - (len(runs) - 1) / 2),
            [s.mean for s in stats],
            yerr=[0.0 if np.isnan(s.se) else s.se for s in stats],
            marker="o",
            capsize=3,
            label=VARIANT_NAMES.get(name, name),
        )
    ax.axhline(1.0, color="0.3", linestyle="--", lw=1, label="BP (exact inference)")
    ax.axhline(0.0, color="0.45", linestyle=":", lw=1, label="chance")
    ax.set(xlabel="filter level k (trained and tested)", ylabel="normalised accuracy")
    ax.set_xticks(range(ev.plan.depth + 1))
    ax.grid(alpha=0.25)
    handles, labels = ax.get_legend_handles_labels()  # the runs first, then BP and chance
    references = ("BP (exact inference)", "chance")
    order = sorted(range(len(labels)), key=lambda i: labels[i] in references)
    figure.legend(
        [handles[i] for i in order],
        [labels[i] for i in order],
        loc="outside right upper",
        fontsize=8,
    )
    ax.set_title(f"fewer layers and other grammars, suite {ev.plan.suite}", fontsize=10)
    caption = (
        "In-sample normalised accuracy (trained and tested at filter level k; 1: exact inference"
        " BP, 0: chance), mean ± standard error over seeds, of each variant of the network and"
        " grammar named in the legend."
    )
    return _png(ev, save_figure(figure, ev.figures / "variants", caption))
