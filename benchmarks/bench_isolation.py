"""What the model worker costs: ``hbench run`` isolated (the default) against ``--in-process``,
with each fit's worker forked from the run's template process (the default), in the sandbox
(bubblewrap, the default where it runs) and without it (``HBENCH_SANDBOX=0``), and with a
fresh interpreter per fit (``HBENCH_WORKER_TEMPLATE=0``, as before templates; ``--fresh``).

A registered model's fit and predict run in a worker process per fit (`hbench.run.worker`);
``--in-process`` keeps them in the command's own process (debugging only: leaderboards refuse
it). This script runs every mode side by side, interleaved repeat by repeat so that the ratios
hold on a machine whose speed drifts, for each model:

- ``template`` and ``fresh`` (default ``--jobs``: fits in parallel, one thread each) against
  ``--in-process`` (which always fits one at a time): what a user sees;
- ``template --jobs 1`` and ``fresh --jobs 1`` against ``--in-process``: the same sequence of
  fits, so the difference is the process boundary alone (a worker's start, the import of the
  model's module where no template did it, shipping the data and probabilities through the
  pipes), also given per fit.

It prints the median and best wall time of the command, the run's own ``wall_s``, the seconds
inside the model's fit and predict, the ratios, and whether the scores agree to the last digit.

    python benchmarks/bench_isolation.py                           # treenet and naive-bayes
    python benchmarks/bench_isolation.py --models naive-bayes --repeats 5 --suite smoke
    nice -n 10 python benchmarks/bench_isolation.py --models naive-bayes,transformer \\
        --model-arg transformer:epochs=5 --repeats 3

gave, on the shared 2-core machine (load average 12.9 at the start; other processes took 89%
of the cores throughout), median of 3 wall seconds of the command, smoke suite (4 fits), ratio
to ``--in-process`` measured in the same run:

    model          mode                 command s   run s   x in-process
    naive-bayes    in-process                8.62    0.49          1.00x
    naive-bayes    sandbox                  11.23    3.10          1.30x
    naive-bayes    template                 10.66    3.04          1.24x
    naive-bayes    sandbox --jobs 1         12.96    4.29          1.50x
    naive-bayes    template --jobs 1        12.13    3.24          1.41x
    transformer    in-process               28.41   17.53          1.00x
    transformer    sandbox                  32.56   25.32          1.15x
    transformer    template                 31.53   24.22          1.11x
    transformer    sandbox --jobs 1         31.90   24.90          1.12x
    transformer    template --jobs 1        29.34   23.42          1.03x

(``transformer`` with ``epochs=5``; ``template`` is the template without the sandbox,
``HBENCH_SANDBOX=0``). Scores agreed to the last digit in every mode and the audit was empty.
With ``--jobs 1`` the sandbox cost +0.26 s per fit for naive-bayes and +0.37 s for the
transformer against the template without it (mostly noise on a machine this busy).
benchmarks/README.md has the earlier comparison of the template with a fresh interpreter per
fit (3.4x for the transformer).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _common import hbench_run, load_average, scores

#: Set to "0", every fit's worker is a fresh interpreter (`hbench.run.worker.TEMPLATE_ENV`).
TEMPLATE_ENV = "HBENCH_WORKER_TEMPLATE"
FRESH = {TEMPLATE_ENV: "0"}
#: Set to "0", no fit runs in the sandbox (`hbench.run.worker.SANDBOX_ENV`).
SANDBOX_ENV = "HBENCH_SANDBOX"
BARE = {SANDBOX_ENV: "0"}

#: (label, extra ``hbench run`` options, environment) of the modes compared.
MODES = (
    ("in-process", ("--in-process",), {}),
    ("sandbox", (), {}),
    ("template", (), BARE),
    ("sandbox --jobs 1", ("--jobs", "1"), {}),
    ("template --jobs 1", ("--jobs", "1"), BARE),
)
#: With ``--fresh``: a fresh interpreter per fit, in the sandbox and without it.
FRESH_MODES = (
    ("fresh sandbox", (), FRESH),
    ("fresh", (), {**FRESH, **BARE}),
)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Run a block with ``values`` in the environment (the ``hbench run`` it starts inherits
    them), and the variables it replaced restored after."""
    saved = {name: os.environ.get(name) for name in [TEMPLATE_ENV, SANDBOX_ENV, *values]}
    os.environ.pop(TEMPLATE_ENV, None)
    os.environ.pop(SANDBOX_ENV, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cpu_busy() -> float:
    """CPU seconds all processes spent so far (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields)
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this script and every command it ran (the workers included)."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def row(label: str, runs: list[tuple[float, dict]]) -> dict:
    walls = [wall for wall, _ in runs]
    inside = [sum(t["fit_s"] + t["predict_s"] for t in r["timings"]) for _, r in runs]
    return {
        "mode": label,
        "median_s": statistics.median(walls),
        "best_s": min(walls),
        "run_wall_s": statistics.median(r["wall_s"] for _, r in runs),
        "fit_predict_s": statistics.median(inside),
        "fits": len(runs[0][1]["timings"]),
        "isolation": runs[0][1]["isolation"],
        "sandbox": runs[0][1].get("sandbox", {}).get("kind"),
        "audit": runs[0][1]["audit"],
        "scores": scores(runs[0][1]),
    }


def model_args(specs: list[str], model: str) -> list[str]:
    """The ``--model-arg`` options of ``model`` among ``MODEL:KEY=VALUE`` specifications."""
    args = []
    for spec in specs:
        name, _, setting = spec.partition(":")
        if name == model:
            args += ["--model-arg", setting]
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="treenet,naive-bayes")
    parser.add_argument("--suite", default="smoke")
    parser.add_argument("--task", default="root")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--model-arg",
        action="append",
        default=[],
        metavar="MODEL:KEY=VALUE",
        help="an option of one model, e.g. transformer:epochs=5 (repeatable)",
    )
    parser.add_argument("--json", dest="json_path", help="also write the numbers here")
    parser.add_argument(
        "--fresh", action="store_true", help="also a fresh interpreter per fit (slow for torch)"
    )
    args = parser.parse_args()
    modes = MODES + (FRESH_MODES if args.fresh else ())
    print(f"load average at start (1, 5, 15 min): {load_average()}")
    start = (time.perf_counter(), cpu_busy(), own_cpu())
    report = []
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        for model in args.models.split(","):
            base = ["--model", model, "--suite", args.suite, "--task", args.task]
            base += model_args(args.model_arg, model)
            hbench_run([*base, "--in-process"], out)  # warm the page cache and .pyc files
            runs: dict[str, list] = {label: [] for label, _, _ in modes}
            for _ in range(args.repeats):
                for label, extra, env in modes:
                    with environment(env):  # a folder of its own: no finished run reused
                        fresh = Path(tempfile.mkdtemp(dir=out))
                        runs[label].append(hbench_run([*base, *extra], fresh))
            rows = [row(label, runs[label]) for label, _, _ in modes]
            report.append({"model": model, "options": base, "rows": rows})
            by_mode = {r["mode"]: r for r in rows}
            reference = by_mode["in-process"]
            print(f"\nhbench run {' '.join(base)}")
            print(
                f"{'mode':<20} {'command s':>10} {'best s':>8} {'run s':>8} "
                f"{'fit+predict s':>14} {'x in-process':>13}  same scores  sandbox"
            )
            for r in rows:
                ratio = r["median_s"] / reference["median_s"]
                same = r["scores"] == reference["scores"]
                print(
                    f"{r['mode']:<20} {r['median_s']:>10.2f} {r['best_s']:>8.2f} "
                    f"{r['run_wall_s']:>8.2f} {r['fit_predict_s']:>14.2f} {ratio:>12.2f}x  "
                    f"{same!s:<11}  {r['sandbox']}"
                )
            fits = reference["fits"]
            for kind in ("sandbox", "template"):
                boundary = by_mode[f"{kind} --jobs 1"]["run_wall_s"] - reference["run_wall_s"]
                print(
                    f"process boundary, {kind} (--jobs 1): {boundary:+.2f} s per run, "
                    f"{boundary / fits:+.3f} s per fit over {fits} fits; "
                    f"audit: {by_mode[kind]['audit'] or 'empty'}"
                )
            cost = (
                by_mode["sandbox --jobs 1"]["run_wall_s"]
                - by_mode["template --jobs 1"]["run_wall_s"]
            )
            print(f"the sandbox's own cost (--jobs 1): {cost / fits:+.3f} s per fit")
    wall, busy, own = start
    wall = time.perf_counter() - wall
    other = (cpu_busy() - busy) - (own_cpu() - own)
    share = other / (wall * (os.cpu_count() or 1))
    print(f"\nother processes used {max(other, 0):.1f} CPU s ({max(share, 0):.0%} of the cores)")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json_path}")


if __name__ == "__main__":
    main()
