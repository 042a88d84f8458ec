"""How a torch model's logits become its queries' answers: the old scan against the binary search.

`hbench_torch.training.query_probabilities` picks each evaluation batch's queries by a binary
search in the (ascending) query rows. The code it replaced tested every query against every
batch, a cost of m x m / batch comparisons that grows with the square of the test set: at the
cpu suites' largest test sets (over a million sequences at k = 4) it took seconds per level
and fit. Both are timed side by side in one process, on the same logits, and checked equal.

    python benchmarks/bench_query_answers.py [--n 524288] [--repeats 3]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _common import measure, print_machine

from hbench_torch.training import query_probabilities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1 << 19, help="queries, one per row")
    parser.add_argument("--batch", type=int, default=256, help="the cpu evaluation batch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    n, length, q, size = args.n, 16, 4, args.batch
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(size, length, q, generator=generator)  # reused for every batch
    rows = np.arange(n)
    positions = np.random.default_rng(0).integers(0, length, n)

    def batches():
        for start in range(0, n, size):
            yield start, min(start + size, n), logits[: min(start + size, n) - start]

    def scan() -> np.ndarray:
        r, p, out = torch.as_tensor(rows), torch.as_tensor(positions), []
        for start, stop, block in batches():
            mine = (r >= start) & (r < stop)
            out.append(torch.softmax(block[r[mine] - start, p[mine]].double(), dim=-1))
        probabilities = torch.cat(out).numpy()
        return probabilities / probabilities.sum(axis=1, keepdims=True)

    def search() -> np.ndarray:
        return query_probabilities(
            lambda start, stop: logits[: stop - start], n, size, rows, positions
        )

    np.testing.assert_array_equal(scan(), search())
    print_machine()
    print(f"{n:,} queries (one per row, a position each), batches of {size}, one thread")
    timings = {name: measure(f, args.repeats) for name, f in (("scan", scan), ("search", search))}
    for name, timing in timings.items():
        print(f"  {name:<8} best {timing.best:7.3f} s  median {timing.median:7.3f} s")
    print(f"  scan / search: {timings['scan'].best / timings['search'].best:.1f}x")


if __name__ == "__main__":
    main()
