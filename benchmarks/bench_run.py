"""Whole runs as a user starts them: parallel fits, a busy machine, and the harness's overhead.

Three measurements, each side by side in one invocation so that the ratios hold on a machine
whose absolute speed moves from run to run:

- ``jobs``: ``hbench run`` with its default ``--jobs`` (fits in parallel, one thread each)
  against ``--jobs 1`` (the same spec, fits one after another), and whether their scores agree
  to the last digit (they must: each fit's thread count is part of the spec);
- ``load``: the same run on an idle machine and while ``--busy`` other processes keep every
  core busy, for today's thread budget and for the former behaviour (every library taking
  every core: ``--in-process --threads-per-fit <cores>``);
- ``overhead``: the share of a sequential run's wall time spent outside the model's fit and
  predict (data, oracle, scoring, worker start-up, writing).

    python benchmarks/bench_run.py jobs --suite smoke --model transformer
    python benchmarks/bench_run.py load --suite smoke --task mlm --busy 2
    python benchmarks/bench_run.py overhead --suite cpu --model transformer
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from _common import hbench_run, scores


@contextmanager
def busy(processes: int):
    """``processes`` other processes spinning on the CPU for the duration of the block."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(processes)
    ]
    try:
        time.sleep(1.0)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["jobs", "load", "overhead"])
    parser.add_argument("--model", default="transformer")
    parser.add_argument("--suite", default="smoke")
    parser.add_argument("--task", default="root")
    parser.add_argument("--busy", type=int, default=2, help="busy processes for `load`")
    args = parser.parse_args()
    base = ["--model", args.model, "--suite", args.suite, "--task", args.task]
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        if args.what == "jobs":
            parallel, a = hbench_run(base, out)
            sequential, b = hbench_run([*base, "--jobs", "1"], out)
            print(f"default --jobs: {parallel:.1f} s, --jobs 1: {sequential:.1f} s")
            print(
                f"speed-up {sequential / parallel:.2f}x; identical scores: {scores(a) == scores(b)}"
            )
            print(f"headline {a['headline']['normalised_accuracy']['mean']:.5f}")
        elif args.what == "load":
            old = [*base, "--in-process", "--threads-per-fit", str(cores), "--threads", str(cores)]
            idle_new, _ = hbench_run(base, out)
            idle_old, _ = hbench_run(old, out)
            with busy(args.busy):
                busy_new, _ = hbench_run(base, out)
                busy_old, _ = hbench_run(old, out)
            print(f"{args.busy} busy processes on {cores} cores")
            print(
                f"thread budget: idle {idle_new:.1f} s, busy {busy_new:.1f} s "
                f"({busy_new / idle_new:.2f}x)"
            )
            print(
                f"every core per library: idle {idle_old:.1f} s, busy {busy_old:.1f} s "
                f"({busy_old / idle_old:.2f}x)"
            )
        else:
            wall, result = hbench_run([*base, "--jobs", "1"], out)
            inside = sum(t["fit_s"] + t["predict_s"] for t in result["timings"])
            print(
                f"wall {wall:.1f} s (process), {result['wall_s']:.1f} s (run); fit+predict "
                f"{inside:.1f} s; outside {100 * (1 - inside / result['wall_s']):.1f}% of the run"
            )


if __name__ == "__main__":
    main()
