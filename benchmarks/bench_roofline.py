"""How far sampling and BP are from what this machine can do, and what limits them.

Why: a throughput number alone does not say whether the code is near the machine's limit or
wasting it. This script measures the limits that matter here -- double-precision matmul GFLOP/s
(the arithmetic peak), memory bandwidth of a large copy (DRAM) and of an elementwise multiply at
growing working sets (caches), the fixed cost of one numpy call, and the rate of uniform random
numbers -- then times the BP contraction kernel alone and each stage end to end (one thread),
and sets the measured time per sequence against three floors:

* compute: flops per sequence (2 q^3 + q^2 per internal node and contraction: one per node up,
  two more down for full posteriors) at the single-core matmul peak; for sampling, one uniform
  random number per draw (root and internal nodes) at the generator's rate;
* traffic: bytes the numpy formulation moves per sequence (each temporary written once and read
  once, ~8 (2 q^2 + 6 q) bytes per node up, ~8 (4 q^2 + 20 q) more down, ~240 bytes per alias
  draw when sampling) at the elementwise bandwidth of a 12 MiB working set (in L3);
* output: the bytes returned per sequence, written once to DRAM (at half the copy bandwidth).

The fixed cost of a call on one sequence is shown too: about what the numpy calls of one chunk
cost whatever its size (plus per-call setup such as building alias tables).

    python benchmarks/bench_roofline.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from _common import OtherLoad, blas_threads, calibrate, measure, print_machine, write_json
from tabulate import tabulate

from hbench_tree.bp import BeliefPropagation
from hbench_tree.grammar import build_grammar

GB = 1e9
#: Bytes the sampler's ~15 numpy steps of one alias draw move (uniform, scaled, column, fraction,
#: flat index, two gathers, comparison, select, left/right lookups): about 30 x 8.
SAMPLER_BYTES_PER_DRAW = 240


def best_rate(fn, work: float, min_seconds: float = 0.2) -> float:
    """work / best seconds of fn(), repeating fn inside each timing to last min_seconds."""
    start = time.perf_counter()
    fn()
    inner = max(1, int(min_seconds / max(time.perf_counter() - start, 1e-7)))

    def repeat() -> None:
        for _ in range(inner):
            fn()  # the result is dropped at once, so its memory is reused by the next call

    return work * inner / measure(repeat, repeats=3, warm_up=False).best


def matmul_peak(size: int, threads: int) -> float:
    """GFLOP/s of a (size x size) float64 matmul with ``threads`` BLAS threads."""
    rng = np.random.default_rng(0)
    a, b = rng.random((size, size)), rng.random((size, size))
    out = np.empty_like(a)
    with blas_threads(threads):
        return best_rate(lambda: np.matmul(a, b, out=out), 2 * size**3) / GB


def copy_bandwidth(nbytes: int, threads: int) -> float:
    """GB/s (read + write) of copying a large array, split over ``threads`` threads."""
    src = np.ones(nbytes // 8)
    dst = np.zeros_like(src)  # touched: no page faults inside the timing
    parts = np.array_split(np.arange(src.size), threads)
    bounds = [(p[0], p[-1] + 1) for p in parts]
    with ThreadPoolExecutor(threads) as pool:

        def copy():
            list(pool.map(lambda b: np.copyto(dst[b[0] : b[1]], src[b[0] : b[1]]), bounds))

        return best_rate(copy, 2 * nbytes) / GB


def elementwise_bandwidth(array_bytes: int) -> float:
    """GB/s of c = a * b (3 arrays of ``array_bytes`` each), one thread."""
    a, b, c = (np.full(array_bytes // 8, 1.0) for _ in range(3))
    return best_rate(lambda: np.multiply(a, b, out=c), 3 * array_bytes) / GB


def call_overheads() -> dict:
    one, out = np.ones((1, 4, 1)), np.empty((1, 4, 1))
    return {
        "tiny ufunc (us)": 1e6 / best_rate(lambda: np.multiply(one, one, out=out), 1),
        "tiny reduction (us)": 1e6 / best_rate(lambda: one.sum(axis=1, keepdims=True), 1),
    }


def random_rate() -> float:
    """Uniform doubles per second from numpy's default generator, one thread."""
    rng = np.random.default_rng(0)
    return best_rate(lambda: rng.random(1 << 20), 1 << 20)


def contraction(q: int, seqs: int = 1 << 13, width: int = 8) -> dict:
    """One up step of BP on (width parents x seqs sequences), one thread: outer product of the
    two child messages, then the (q, q^2) @ (q^2, m) contraction, timed apart."""
    rng = np.random.default_rng(0)
    seqs = max(64, seqs * 16 // q**2)  # same temporary size for every q
    left, right = rng.random((width, q, seqs)), rng.random((width, q, seqs))
    kernel = rng.random((q, q * q))
    outer = (left[:, :, None, :] * right[:, None, :, :]).reshape(width, q * q, seqs)
    nodes = width * seqs
    with blas_threads(1):
        matmul = best_rate(lambda: np.matmul(kernel, outer), nodes)
    product = best_rate(lambda: left[:, :, None, :] * right[:, None, :, :], nodes)
    return {
        "q": q,
        "contraction GFLOP/s": matmul * 2 * q**3 / GB,
        "contraction ns/node": 1e9 / matmul,
        "outer product ns/node": 1e9 / product,
        "outer product GB/s": product * 8 * (q * q + 2 * q) / GB,
    }


def short_loops(q: int = 4, total: int = 1 << 16) -> list[dict]:
    """The outer product and the sum over symbols at a fixed size (total nodes x sequences) as
    the contiguous sequence axis m shrinks: a chunk of a deep tree holds few sequences."""
    rows = []
    for m in (8192, 1024, 128, 32):
        a = np.random.default_rng(0).random((total // m, q, m))
        product = best_rate(lambda a=a: a[:, :, None, :] * a[:, None, :, :], total)
        reduction = best_rate(lambda a=a: a.sum(axis=1, keepdims=True), total)
        rows.append(
            {
                "sequences per row (m)": m,
                "outer product ns/node": 1e9 / product,
                "sum over q ns/node": 1e9 / reduction,
            }
        )
    return rows


def stage_floors(q: int, depth: int, limits: dict, quick: bool) -> list[dict]:
    """Measured ns per sequence (one thread, k = 0) against the three floors."""
    model = build_grammar(q=q, depth=depth, sigma=1.0, seed=0)
    bp = BeliefPropagation(model)
    length, internal = model.length, model.length - 1
    leaves = model.sample(max(64, (1 << (21 if quick else 23)) // length), seed=1).leaves
    node_flops = 2 * q**3 + q * q
    up_bytes, down_bytes = 8 * (2 * q * q + 6 * q), 8 * (4 * q * q + 20 * q)
    stages = {
        # name: (fn(n), flops/seq, bytes/seq of the numpy formulation, output bytes/seq)
        "sampling": (
            lambda n: model.sample(n, seed=2, workers=1),
            0,
            None,
            length + 1,
        ),
        "root-only BP": (
            lambda n: bp.run(leaves[:n], full=False, workers=1),
            internal * node_flops,
            internal * up_bytes,
            8 * (q + 1),
        ),
        "full BP": (
            lambda n: bp.run(leaves[:n], full=True, workers=1),
            3 * internal * node_flops,
            internal * (up_bytes + down_bytes),
            8 * q * (2 * length - 1),
        ),
    }
    rows = []
    for name, (fn, flops, traffic, output) in stages.items():
        n = calibrate(fn, 0.1 if quick else 0.4, start=256, cap=leaves.shape[0])
        measured = measure(lambda fn=fn, n=n: fn(n), repeats=2 if quick else 3).best / n * 1e9
        one = measure(lambda fn=fn: fn(1), repeats=20).best * 1e6  # one sequence: fixed costs
        if name == "sampling":  # one uniform per draw: the root and every internal node
            floor_compute = (internal + 1) / limits["uniforms/s"] * 1e9
            traffic = (internal + 1) * SAMPLER_BYTES_PER_DRAW + output
        else:
            floor_compute = flops / (limits["peak GFLOP/s, 1 core"] * GB) * 1e9
        floor_traffic = traffic / (limits["in-L3 GB/s"] * GB) * 1e9
        floor_output = output / (limits["DRAM copy GB/s, 1 core"] / 2 * GB) * 1e9
        rows.append(
            {
                "q": q,
                "l": depth,
                "stage": name,
                "measured ns/seq": measured,
                "flops/seq": flops,
                "achieved GFLOP/s": flops / measured if flops else None,
                "compute floor ns": floor_compute,
                "bytes/seq (numpy)": traffic,
                "traffic floor ns": floor_traffic,
                "output floor ns (DRAM)": floor_output,
                "1-sequence call us": one,
                "% compute floor / measured": floor_compute / measured,
                "% traffic floor / measured": floor_traffic / measured,
            }
        )
        print(f"q={q} l={depth} {name}: {measured:,.0f} ns/seq", flush=True)
    return rows


def fmt(rows: list[dict]) -> list[dict]:
    def cell(key, value):
        if value is None:
            return "-"
        if key.startswith("%"):
            return f"{value:.0%}"
        if isinstance(value, float):
            return f"{value:,.3g}" if value < 100 else f"{value:,.0f}"
        return f"{value:,}" if isinstance(value, int) and value > 9999 else str(value)

    return [{k: cell(k, v) for k, v in row.items()} for row in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args()
    info = print_machine()
    load = OtherLoad()

    size = 2048 if args.quick else 4096
    limits = {
        "peak GFLOP/s, 1 core": matmul_peak(size, 1),
        "peak GFLOP/s, all cores": matmul_peak(size, info["cores"] or 1),
        "DRAM copy GB/s, 1 core": copy_bandwidth(1 << 29, 1),
        "DRAM copy GB/s, all cores": copy_bandwidth(1 << 29, info["cores"] or 1),
        "in-L3 GB/s": elementwise_bandwidth(4 << 20),  # 12 MiB working set
        "uniforms/s": random_rate(),
        **call_overheads(),
    }
    sweep = [
        {
            "array size": f"{size >> 10:,} KiB",
            "working set": f"{3 * size >> 10:,} KiB",
            "GB/s": elementwise_bandwidth(size),
        }
        for size in (32 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 32 << 20, 256 << 20)
    ]
    kernels = [contraction(q) for q in (2, 4, 8, 16)]
    loops = short_loops()
    stages = stage_floors(4, 4, limits, args.quick) + stage_floors(16, 8, limits, args.quick)

    print("\nMachine limits (float64)\n")
    print(tabulate(fmt([limits]), headers="keys", tablefmt="github", disable_numparse=True))
    print("\nElementwise multiply c = a * b, one thread (bytes counted: 3 x array size)\n")
    print(tabulate(fmt(sweep), headers="keys", tablefmt="github", disable_numparse=True))
    print(
        "\nBP up step alone at the shape of one chunk (8 parents x m sequences, temporaries "
        "of 8 MiB), one thread\n"
    )
    print(tabulate(fmt(kernels), headers="keys", tablefmt="github", disable_numparse=True))
    print("\nThe same passes at q = 4, fixed size, as the contiguous axis shrinks, one thread\n")
    print(tabulate(fmt(loops), headers="keys", tablefmt="github", disable_numparse=True))
    print(
        "\nStages end to end, k = 0, workers = 1, against the floors (floor / measured = share "
        "of the limit reached; '1-sequence call' = fixed cost of a call on one sequence)\n"
    )
    print(tabulate(fmt(stages), headers="keys", tablefmt="github", disable_numparse=True))
    info["during the run"] = load.report()
    print(f"\n{info['during the run']}")
    if args.json:
        write_json(
            args.json, info, limits=limits, sweep=sweep, kernels=kernels, loops=loops, stages=stages
        )


if __name__ == "__main__":
    main()
