"""Sequences per second of the cfg grammar's sampler and its inside-outside oracle.

Why: the cfg's exact oracle must score a cpu suite of 2^14 training sequences of length up to
64 in seconds. This script measures, for three grammars (binary rules at lengths 32 and 64, and
rules of 2 or 3 symbols at depth 4, lengths 16 to 81), the best of a few repeats of n = 2^14
after a warm-up call: sampling, the inside pass alone (root and log-likelihood: ``full=False``),
inside and outside with 15% of the symbols masked (leaf posteriors: ``full=True``) and the
next-token posteriors of every position (one inside and one left-context pass), on one thread
and with the default thread pool.

    python benchmarks/bench_cfg.py
    python benchmarks/bench_cfg.py --n 4096 --repeats 1 --json out.json
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import OtherLoad, measure, print_machine, write_json
from tabulate import tabulate

from hbench_cfg.grammar import build_cfg
from hbench_cfg.inside_outside import CFGInference

GRAMMARS = {
    "binary, depth 5 (length 32)": ([1, 3, 3, 3, 3, 3], [2]),
    "binary, depth 6 (length 64)": ([1, 3, 3, 3, 3, 3, 3], [2]),
    "2 or 3 symbols, depth 4 (16-81)": ([1, 3, 3, 3, 3], [2, 3]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1 << 14)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="write the numbers here")
    args = parser.parse_args()
    info = print_machine()
    load = OtherLoad()
    rows = []
    for label, (symbols, arities) in GRAMMARS.items():
        grammar = build_cfg(symbols, arities=arities, seed=0)
        sample = grammar.sample(args.n, seed=0)
        masked = sample.leaves.astype(np.int64)
        hide = (np.random.default_rng(0).random(masked.shape) < 0.15) & (masked >= 0)
        masked[hide] = -1
        lengths = (
            f"{sample.lengths.min()}-{sample.lengths.max()} (mean {sample.lengths.mean():.0f})"
        )
        for workers in (1, None):
            oracle = CFGInference(grammar, workers=workers)
            stages = {
                "sampling": lambda g=grammar: g.sample(args.n, seed=1),
                "inside (root, loglik)": lambda o=oracle, s=sample: o.posteriors(
                    s.leaves, full=False
                ),
                "inside-outside (leaves)": lambda o=oracle, m=masked: o.posteriors(m),
                "next-token (every position)": lambda o=oracle, s=sample: o.next_token(s.leaves),
            }
            for stage, fn in stages.items():
                timing = measure(fn, args.repeats)
                rows.append(
                    {
                        "grammar": label,
                        "lengths": lengths,
                        "workers": workers or "default",
                        "stage": stage,
                        "seconds": round(timing.best, 3),
                        "sequences/s": round(args.n / timing.best),
                    }
                )
                print(tabulate([rows[-1]], headers="keys"), flush=True)
    print()
    print(tabulate(rows, headers="keys"))
    print(load.report())
    if args.json:
        write_json(args.json, info, rows=rows)


if __name__ == "__main__":
    main()
