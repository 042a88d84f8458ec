"""How the cost per sequence grows with depth l and vocabulary q, and whether memory stays bounded.

Why: exact BP on a binary tree does a q x q^2 contraction at each of the 2^l - 1 internal nodes,
so its cost per sequence should grow as 2^l q^3 (sampling, one O(1) alias draw per node, as 2^l),
and since sequences are processed in chunks its working memory should not grow with n. This
script checks both claims:

* time: l = 4..12 at q = 4 and q = 2, 4, 8, 16 at l = 8, for sampling, root-only BP and full
  BP, with n chosen so that each measurement takes ~0.5 s (``--quick``: ~0.15 s). It prints ns
  per sequence, per (sequence x leaf) and per (sequence x leaf x q^3): a flat column means the
  cost grows as that product.
* memory: the peak traced by ``tracemalloc`` (numpy reports its buffers to it) during one call
  at growing n, minus the arrays the call returns. Bounded working memory means that
  difference stays flat as n grows tenfold.

    python benchmarks/bench_scaling.py [--quick] [--workers N] [--json PATH]
"""

from __future__ import annotations

import argparse
import tracemalloc
from dataclasses import fields, is_dataclass

import numpy as np
from _common import OtherLoad, calibrate, measure, print_machine, write_json
from tabulate import tabulate

from hbench.memory import format_bytes
from hbench_tree.bp import BeliefPropagation
from hbench_tree.grammar import build_grammar

STAGES = ("sampling", "root-only BP", "full BP")


def output_bytes(result) -> int:
    """Bytes of every array in a Sample or Posteriors (the output the caller asked for)."""
    total = 0
    for f in fields(result):
        value = getattr(result, f.name)
        arrays = value.values() if isinstance(value, dict) else [value]
        total += sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))
    return total


def stage_call(stage: str, model, bp, leaves, workers):
    """fn(n) running ``stage`` on n sequences."""
    if stage == "sampling":
        return lambda n: model.sample(n, seed=3, workers=workers)
    full = stage == "full BP"
    return lambda n: bp.run(leaves[:n], full=full, workers=workers)


def time_point(q: int, depth: int, target_s: float, repeats: int, workers) -> list[dict]:
    """One row per stage for the model (q, depth), unfiltered."""
    model = build_grammar(q=q, depth=depth, sigma=1.0, seed=0)
    bp = BeliefPropagation(model)
    caps = {
        "sampling": (1 << 27) // model.length,  # at most 128 MiB of int8 leaves
        "root-only BP": (1 << 27) // model.length,
        "full BP": (1 << 28) // (model.length * q * 8),  # leaf posteriors at most 256 MiB
    }
    leaves = model.sample(caps["root-only BP"], seed=4).leaves
    rows = []
    for stage in STAGES:
        fn = stage_call(stage, model, bp, leaves, workers)
        cap = caps[stage]
        n = calibrate(fn, target_s, start=max(1, 4096 >> depth), cap=cap)
        timing = measure(lambda fn=fn, n=n: fn(n), repeats)
        ns = timing.best / n * 1e9
        rows.append(
            {
                "q": q,
                "l": depth,
                "stage": stage,
                "n": n,
                "ns/seq": ns,
                "ns/(seq*leaf)": ns / model.length,
                "ns/(seq*leaf*q^3)": ns / model.length / q**3,
                "sys share": timing.system_share,
            }
        )
        print(f"q={q} l={depth} {stage}: n={n:,} {ns:,.0f} ns/seq", flush=True)
    return rows


def peak_working_memory(fn, n: int) -> tuple[int, int]:
    """(peak traced bytes during fn(n), bytes of the arrays it returned)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result = fn(n)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    out = output_bytes(result) if is_dataclass(result) else 0
    return peak, out


def memory_points(depth: int, sizes: dict[str, list[int]], workers) -> list[dict]:
    model = build_grammar(q=4, depth=depth, sigma=1.0, seed=0)
    bp = BeliefPropagation(model)
    leaves = model.sample(max(max(ns) for ns in sizes.values()), seed=5).leaves
    rows = []
    for stage, ns in sizes.items():
        fn = stage_call(stage, model, bp, leaves, workers)
        for n in ns:
            peak, out = peak_working_memory(fn, n)
            rows.append(
                {
                    "stage": stage,
                    "l": depth,
                    "n": n,
                    "input": format_bytes(0 if stage == "sampling" else leaves[:n].nbytes),
                    "output": format_bytes(out),
                    "peak traced": format_bytes(peak),
                    "working = peak - output": format_bytes(peak - out),
                    "working per sequence": f"{(peak - out) / n:,.0f} B",
                    "_working_bytes": peak - out,
                }
            )
            print(f"{stage} l={depth} n={n:,}: working {format_bytes(peak - out)}", flush=True)
    return rows


def show(title: str, rows: list[dict]) -> None:
    print(f"\n{title}\n")
    table = []
    for row in rows:
        shown = {}
        for key, value in row.items():
            if key.startswith("_"):
                continue
            if key == "sys share":
                value = f"{value:.0%}"
            elif key.startswith("ns/("):
                value = f"{value:.3g}"
            elif isinstance(value, float):
                value = f"{value:,.0f}"
            elif key == "n":
                value = f"{value:,}"
            shown[key] = value
        table.append(shown)
    print(tabulate(table, headers="keys", tablefmt="github", disable_numparse=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter measurements, smaller n")
    parser.add_argument(
        "--workers", type=int, default=1, help="threads (default 1: the cost model is per core)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    target_s, repeats = (0.15, 2) if args.quick else (0.5, 3)

    info = print_machine()
    load = OtherLoad()
    depth_rows, q_rows = [], []
    for depth in range(4, 13):
        depth_rows += time_point(4, depth, target_s, repeats, args.workers)
    for q in (2, 4, 8, 16):
        q_rows += time_point(q, 8, target_s, repeats, args.workers)
    big = 10**5 if args.quick else 10**6
    memory_rows = memory_points(
        10,
        {
            "sampling": [big // 10, big],
            "root-only BP": [big // 10, big],
            "full BP": [big // 1000, big // 100],
        },
        workers=None,
    )

    note = f"workers={args.workers}, best of {repeats}, n chosen for ~{target_s} s per call"
    show(f"Depth sweep, q=4, k=0 ({note})", depth_rows)
    show(f"Vocabulary sweep, l=8, k=0 ({note})", q_rows)
    show(
        "Peak traced memory (tracemalloc) of one call at q=4, l=10, default workers; "
        "input = the int8 leaves passed in (allocated before tracing)",
        memory_rows,
    )
    info["during the run"] = load.report()
    print(f"\n{info['during the run']}")
    if args.json:
        write_json(args.json, info, depth=depth_rows, vocabulary=q_rows, memory=memory_rows)


if __name__ == "__main__":
    main()
