"""Sequences per second of sampling, root-only BP and full posteriors at q = 4, l = 4.

Why: the project states its speed as throughput targets on a 2-core machine (sampling and
root-only BP >= 2,000,000 sequences/s, full posteriors >= 1,000,000 sequences/s) against the
paper authors' public code (about 5,000 sequences/s sampling and 1,000 sequences/s root-only BP
per process). This script measures exactly those numbers, for filter levels k = 0, 2, 4, on one
thread and with the default thread pool, as the best of several repeats of n = 10^6 after a
warm-up call, and says which targets are met.

    python benchmarks/bench_throughput.py                  # as the library runs by default
    python benchmarks/bench_throughput.py --blas-threads 1 # BLAS single-threaded in each worker
    python benchmarks/bench_throughput.py --json out.json
"""

from __future__ import annotations

import argparse

from _common import OtherLoad, blas_threads, measure, print_machine, write_json
from tabulate import tabulate

from hbench_tree.bp import BeliefPropagation
from hbench_tree.grammar import build_grammar

TARGETS = {"sampling": 2_000_000, "root-only BP": 2_000_000, "full BP": 1_000_000}
REFERENCE = {"sampling": 5_000, "root-only BP": 1_000}  # the paper authors' code, per process


def stages(model, n: int, workers: int | None):
    """(name, callable) for each stage, on the same n sequences."""
    leaves = model.sample(n, seed=1).leaves
    bp = BeliefPropagation(model)
    return [
        ("sampling", lambda: model.sample(n, seed=2, workers=workers)),
        ("root-only BP", lambda: bp.run(leaves, full=False, workers=workers)),
        ("full BP", lambda: bp.run(leaves, full=True, workers=workers)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="sequences per call")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--filters", type=int, nargs="+", default=[0, 2, 4])
    parser.add_argument("--q", type=int, default=4)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument(
        "--blas-threads", type=int, default=None, help="limit BLAS threads (default: untouched)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()

    info = print_machine()
    load = OtherLoad()
    base = build_grammar(q=args.q, depth=args.depth, sigma=1.0, seed=0)
    rows = []
    with blas_threads(args.blas_threads):
        for k in args.filters:
            model = base.filtered(k)
            for workers in (1, None):
                for name, fn in stages(model, args.n, workers):
                    timing = measure(fn, args.repeats)
                    rate = args.n / timing.best
                    reference = REFERENCE.get(name)
                    rows.append(
                        {
                            "k": k,
                            "workers": workers or "default",
                            "stage": name,
                            "seq/s": rate,
                            "ns/seq": 1e9 / rate,
                            "median seq/s": args.n / timing.median,
                            "target": TARGETS[name],
                            "meets target": rate >= TARGETS[name],
                            "x reference": rate / reference if reference else None,
                            "sys share": timing.system_share,
                        }
                    )
                    print(f"k={k} workers={workers or 'default'} {name}: {rate:,.0f} seq/s")

    print(
        f"\nq={args.q}, l={args.depth}, n={args.n:,}, best of {args.repeats} after a warm-up; "
        f"BLAS threads: {args.blas_threads or 'default'}; 'sys share' = kernel share of CPU "
        "time (page faults of fresh output arrays)\n"
    )
    table = [
        {
            **row,
            "seq/s": f"{row['seq/s']:,.0f}",
            "ns/seq": f"{row['ns/seq']:.0f}",
            "median seq/s": f"{row['median seq/s']:,.0f}",
            "target": f"{row['target']:,}",
            "meets target": "yes" if row["meets target"] else "NO",
            "x reference": f"{row['x reference']:,.0f}x" if row["x reference"] else "-",
            "sys share": f"{row['sys share']:.0%}",
        }
        for row in rows
    ]
    print(tabulate(table, headers="keys", tablefmt="github", disable_numparse=True))
    info["during the run"] = load.report()
    print(f"\n{info['during the run']}")
    if args.json:
        write_json(args.json, info, settings=vars(args), results=rows)


if __name__ == "__main__":
    main()
