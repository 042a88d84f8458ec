"""Batched, seedable sampling from a (filtered) tree model.

Each level is one vectorised step over all sequences of a block: the root from the prior, the
s**k filtered nodes from their path transitions given the root, then every node's ordered child
tuple from its level's M, all with alias tables (O(1) per draw, whatever q and s). Sequences
are processed in blocks of a fixed size that depends only on the tree's shape, each block with
its own random stream spawned from the seed, so the output depends on (model, n, seed) alone:
not on the machine, the memory, or how many threads filled the blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hbench.contracts import Sample, SeedLike
from hbench.errors import invalid
from hbench.run.memory import check_fits

from .alias import AliasTable
from .grammar import TreeGrammar

#: Nodes per block: large enough to amortise numpy's per-call cost, small enough for the cache.
BLOCK_NODES = 1 << 18


def seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    """Normalise an int, SeedSequence or Generator into the SeedSequence blocks spawn from."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(seed.integers(0, 2**63, size=4).tolist())
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise invalid("seed", seed, "a non-negative integer")
    return np.random.SeedSequence(int(seed))


def block_size(depth: int, arity: int = 2) -> int:
    """Sequences per block; a function of the tree's shape only, so results never depend on
    hardware."""
    return max(1, BLOCK_NODES // arity**depth)


def default_workers() -> int:
    """One thread per core of the process's thread budget (`hbench.run.threads`), up to 8:
    numpy releases the GIL inside each block's array work."""
    from hbench.run.threads import thread_budget

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
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
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


@dataclass(frozen=True, eq=False)
class SamplingTables:
    """Alias tables of one model, built once per model (see `TreeGrammar.sampling_tables`) and
    reused by every block of every call: a training loop drawing small batches must not
    rebuild them each time."""

    model: TreeGrammar

    @cached_property
    def root(self) -> AliasTable:
        return AliasTable.build(self.model.root_prior[None])

    @cached_property
    def filtered(self) -> AliasTable:
        # row j * q + a: the law of filtered node j given root a
        return AliasTable.build(self.model.path_transitions.reshape(-1, self.model.q))

    @cached_property
    def tuples(self) -> AliasTable:
        # row a (row d * q + a with one tensor per level): the law of the ordered child tuple
        # (b_1, ..., b_s), flattened as b_1 * q**(s-1) + ... + b_s
        model = self.model
        rows = model.q * (model.depth if model.per_level else 1)
        return AliasTable.build(model.productions.reshape(rows, -1))

    def warm_up(self) -> None:
        """Build every table before threads share them (cached_property is not thread-safe)."""
        _ = self.root, self.tuples, self.digits
        if self.model.filter_level:
            _ = self.filtered

    @cached_property
    def digits(self) -> tuple[np.ndarray, ...]:
        """Child i of every flat tuple index: its base-q digit i, most significant first."""
        q, s, dtype = self.model.q, self.model.arity, self.model.symbol_dtype
        flat = np.arange(q**s)
        return tuple((flat // q ** (s - 1 - i) % q).astype(dtype) for i in range(s))


def _fill_block(
    tables: SamplingTables, out: Sample, start: int, stop: int, seed: np.random.SeedSequence
) -> None:
    model = tables.model
    rng = np.random.Generator(np.random.PCG64(seed))
    m, q, k, s = stop - start, model.q, model.filter_level, model.arity
    dtype = model.symbol_dtype
    nodes = tables.root.draw(np.zeros(m, dtype=np.intp), rng.random(m))
    out.roots[start:stop] = nodes
    nodes = nodes[:, None]
    if k:
        width = model.filter_level_nodes
        rows = np.arange(width, dtype=np.intp)[None, :] * q + nodes
        nodes = tables.filtered.draw(rows, rng.random((m, width)))
    digits = tables.digits
    for d in range(k, model.depth):
        if d and d in out.nodes:
            out.nodes[d][start:stop] = nodes
        rows = nodes + np.intp(d * q) if model.per_level else nodes
        flat = tables.tuples.draw(rows, rng.random(nodes.shape))
        children = np.empty((m, s * nodes.shape[1]), dtype=dtype)
        for i, digit in enumerate(digits):
            children[:, i::s] = digit[flat]
        nodes = children
    out.leaves[start:stop] = nodes


def sample(
    model: TreeGrammar,
    n: int,
    seed: SeedLike,
    *,
    internal: bool = False,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Sample:
    """Draw n sequences (roots, leaves, and with ``internal`` every sampled internal level).

    Same (model, n, seed) gives the same arrays, whatever ``workers``. ``progress`` is called
    with the number of sequences of each finished block.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise invalid("n", n, "a non-negative integer")
    n = int(n)
    dtype = model.symbol_dtype
    depths = range(max(model.filter_level, 1), model.depth) if internal else range(0)
    per_sequence = model.length + 1 + sum(model.arity**d for d in depths)
    block = block_size(model.depth, model.arity)
    workers = default_workers() if workers is None else workers
    # per block in flight: uniforms and indices (8 bytes each) for two levels of nodes
    working = min(workers, -(-n // block)) * block * model.length * 2 * 3 * 8
    check_fits(
        n * per_sequence * dtype.itemsize + working,
        f"sampling n={n} sequences of depth {model.depth}",
    )
    out = Sample(
        roots=np.empty(n, dtype=dtype),
        leaves=np.empty((n, model.length), dtype=dtype),
        nodes={d: np.empty((n, model.arity**d), dtype=dtype) for d in depths},
    )
    starts = range(0, n, block)
    seeds = seed_sequence(seed).spawn(len(starts))
    tables = model.sampling_tables
    jobs = [(tables, out, s, min(s + block, n), ss) for s, ss in zip(starts, seeds, strict=True)]
    run_blocks(_fill_block, jobs, workers, progress, warm_up=tables.warm_up)
    return out
