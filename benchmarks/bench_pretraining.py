"""Does mlm pretraining lower the number of labelled sequences root classification needs?

Pretrains the transformer on mlm at filter level k (unlabelled sequences), then trains root
classifiers at the same level for a range of budgets P three ways: from scratch, from the
pretrained encoder with a new head only (frozen), and from it with everything trained
(fine-tuned). Every fit gets at least ``--min-steps`` steps, so small budgets are not simply
under-trained. Prints normalised root accuracy and KL to BP per (mode, P) and draws the curves.

    python benchmarks/bench_pretraining.py --out pretraining [--level 0] [--P 256,1024,4096]
    python benchmarks/bench_pretraining.py --out pretraining --plot-only   # redraw from results

Each run is an ordinary `hbench run` result under ``--out`` (pretraining in ``pretrain/``,
classifiers in ``root/``), so the numbers can be re-read with ``hbench.load_results``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

MODES = ("scratch", "frozen", "fine-tuned")


def hbench(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "hbench", "run", "--quiet", *args], check=True)


def run_study(out: Path, level: int, budgets: list[int], args: argparse.Namespace) -> None:
    checkpoint = out / "mlm.pt"
    common = ["--model", "transformer", "--train-filter", str(level)]
    common += ["--set", f"test_filters=[{level}]", "--set", "n_ood=0"]
    for option in args.model_arg:
        common += ["--model-arg", option]
    if not checkpoint.exists():
        hbench(
            *common,
            "--task", "mlm", "--set", f"P_mlm={args.pretrain_P}", "--out", str(out / "pretrain"),
            "--model-arg", f"epochs_mlm={args.pretrain_epochs}",
            "--model-arg", f"save={checkpoint}",
        )  # fmt: skip
    for mode in MODES:
        extra = [] if mode == "scratch" else ["--model-arg", f"init={checkpoint}"]
        if mode == "frozen":
            extra += ["--model-arg", "freeze_encoder=true"]
        for P in budgets:
            hbench(
                *common, "--task", "root", "--set", f"P={P}", "--out", str(out / "root"),
                "--model-arg", f"min_steps={args.min_steps}", *extra,
            )  # fmt: skip


def mode_of(settings: dict) -> str:
    if not settings.get("init"):
        return "scratch"
    return "frozen" if settings.get("freeze_encoder") else "fine-tuned"


def summarise(out: Path):
    """(mode, P) -> normalised accuracy and KL, one row per run, from the result files."""
    from hbench.results import read_result

    rows = []
    for file in sorted((out / "root").glob("*.json")):
        result = read_result(file)
        for cell in result.metrics:
            if cell.k_test == cell.k_train:
                rows.append(
                    {
                        "mode": mode_of(result.spec.model_settings),
                        "P": result.spec.suite["P"],
                        "norm_acc": (cell.acc - cell.chance) / (cell.acc_bp - cell.chance),
                        "kl_bp": cell.kl_bp,
                        "level": cell.k_train,
                    }
                )
    return rows


def report(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tabulate import tabulate

    rows = summarise(out)
    if not rows:
        sys.exit(f"no root results under {out / 'root'}")
    budgets = sorted({r["P"] for r in rows})
    by = {(r["mode"], r["P"]): r for r in rows}
    table = [
        [P, *(f"{by[m, P]['norm_acc']:.3f} / {by[m, P]['kl_bp']:.2f}" if (m, P) in by else "-"
              for m in MODES)]
        for P in budgets
    ]  # fmt: skip
    print(f"root classification at level {rows[0]['level']}: normalised accuracy / KL to BP (bits)")
    print(tabulate(table, headers=["P", *MODES], tablefmt="github", disable_numparse=True))
    figure, axis = plt.subplots(figsize=(5.5, 3.8))
    for mode in MODES:
        points = sorted((P, by[mode, P]["norm_acc"]) for P in budgets if (mode, P) in by)
        if points:
            axis.plot(*zip(*points, strict=True), marker="o", label=mode)
    axis.set_xscale("log", base=2)
    axis.axhline(1.0, color="grey", linestyle="--", linewidth=0.8)
    axis.set_xlabel("labelled training sequences P")
    axis.set_ylabel("normalised root accuracy")
    axis.set_title(f"mlm pretraining -> root, level {rows[0]['level']}")
    axis.legend()
    figure.tight_layout()
    path = out / "pretraining.png"
    figure.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--level", type=int, default=0)
    parser.add_argument("--P", default="256,1024,4096,16384", help="comma-separated budgets")
    parser.add_argument("--pretrain-P", type=int, default=1 << 15)
    parser.add_argument("--pretrain-epochs", type=int, default=30)
    parser.add_argument("--min-steps", type=int, default=3000)
    parser.add_argument(
        "--model-arg", action="append", default=[], help="KEY=VALUE for every run (repeatable)"
    )
    parser.add_argument("--plot-only", action="store_true")
    args = parser.parse_args()
    if not args.plot_only:
        budgets = [int(p) for p in args.P.split(",")]
        run_study(args.out, args.level, budgets, args)
    report(args.out)


if __name__ == "__main__":
    main()
