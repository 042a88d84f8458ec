"""PNG figures of a run's learning dynamics, written next to its result file.

Two pictures per training level: accuracy against training time for every test level, with
BP's accuracy as dashed lines; and KL(BP_j || model) for every j against training time on log
axes, where the paper's staircase (short-range correlations learned first) shows.
"""

from __future__ import annotations

from pathlib import Path

from hbench.results import RunResult


def dynamics_figures(result: RunResult, result_path: Path) -> list[Path]:
    """Write the figures of every dynamics series; returns the files written."""
    series_list = result.extra.get("dynamics", [])
    if not series_list:
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bp_accuracy = {(m.seed, m.k_test): m.acc_bp for m in result.metrics if m.k_test != "ood"}
    written = []
    for series in series_list:
        points = series["points"]
        seconds = [max(p["seconds"], 1e-3) for p in points]
        seed, k_train = series["seed"], series["k_train"]
        figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
        for index, k in enumerate(points[0]["accuracy"]):
            color = f"C{index}"
            left.plot(seconds, [p["accuracy"][k] for p in points], color=color, label=f"k={k}")
            if (seed, int(k)) in bp_accuracy:
                left.axhline(bp_accuracy[(seed, int(k))], color=color, linestyle="--", lw=0.8)
        left.set(
            xscale="log",
            xlabel="training time (s)",
            ylabel="test accuracy",
            title=f"accuracy per test level (dashed: BP), trained at k={k_train}",
        )
        left.legend(fontsize=8)
        for index, j in enumerate(points[0]["kl"]):
            right.plot(seconds, [p["kl"][j] for p in points], color=f"C{index}", label=f"BP_{j}")
        right.set(
            xscale="log",
            yscale="log",
            xlabel="training time (s)",
            ylabel="KL(BP_j || model), bits",
            title=f"closeness to each BP_j on k={k_train} data; first closest: "
            f"{series['first_closest_order']}",
        )
        right.legend(fontsize=8)
        figure.tight_layout()
        path = result_path.with_name(f"{result_path.stem}_dynamics_s{seed}_k{k_train}.png")
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
