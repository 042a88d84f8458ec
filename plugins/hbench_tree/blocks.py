"""Work on blocks of sequences, on a thread pool when it helps: sampling
(`hbench_tree.grammar.sample`) and belief propagation (`hbench_tree.bp`) split their rows into
fixed blocks, each written to its own slice of the output, so results never depend on how many
threads filled them. numpy releases the GIL inside each block's array work; the BLAS under it
is held to each thread's share of the process's thread budget, or the pool's threads times
BLAS's threads would oversubscribe the cores."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed

from hbench.run.threads import blas_limited, thread_budget


def default_workers() -> int:
    """One thread per core of the process's thread budget (`hbench.run.threads`), up to 8:
    numpy releases the GIL inside each block's array work."""
    return max(1, min(8, thread_budget()))


def run_blocks(
    work: Callable[..., None],
    jobs: Sequence[tuple],
    workers: int | None,
    progress: Callable[[int], None] | None,
    warm_up: Callable[[], None] | None = None,
) -> None:
    """Run ``work(*job)`` for every job, on a thread pool when it helps; each job writes its
    own slice of the output (its 3rd and 4th items are the start and stop rows)."""
    workers = default_workers() if workers is None else workers
    advance = progress or (lambda count: None)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            work(*job)
            advance(job[3] - job[2])
        return
    if warm_up is not None:
        warm_up()
    size = min(workers, len(jobs))
    with blas_limited(thread_budget() // size), ThreadPoolExecutor(max_workers=size) as pool:
        futures = {pool.submit(work, *job): job for job in jobs}
        try:
            for future in as_completed(futures):
                future.result()
                job = futures[future]
                advance(job[3] - job[2])
        except BaseException:
            for future in futures:
                future.cancel()
            raise
