"""Tree grammars and their hierarchical filtering, as one immutable object.

A `TreeGrammar` has an arity s >= 2 (every internal node has s ordered children, so sequences
have s**l leaves at depth l), production tensors M_d[a, b_1, ..., b_s] = P(children = (b_1, ...,
b_s) | parent = a) for the parents at each depth d (one tensor shared by all levels, as in the
paper, or one per level), a root prior over n_c <= q root classes (the root takes values in
0..n_c-1) and a filter level k. At k = 0 it is the full grammar. At k > 0 the s**k nodes at depth
k are drawn independently given the root, node j from the row of T_j = M_0^{(i_1)} ...
M_{k-1}^{(i_k)}, the product of the per-level, per-child-position marginal matrices
M_d^{(i)}[a, b] = P(child i = b | parent = a) along the root-to-j path (i_1 ... i_k are the base-s
digits of j, most significant first); below depth k the tree grows with M_d as usual.

The paper's grammar is the binary case (s = 2) with one shared tensor and a uniform prior over
all q symbols; its marginals M^L = M^{(0)} and M^R = M^{(1)} keep their names.

Node j at depth d has children s*j, ..., s*j + s - 1 at depth d + 1; leaves are ordered left to
right.

Sampling (`sample`, `TreeGrammar.sample`) is batched and seedable. Each level is one vectorised
step over all sequences of a block: the root from the prior, the s**k filtered nodes from their
path transitions given the root, then every node's ordered child tuple from its level's M, all
with alias tables (O(1) per draw, whatever q and s). Sequences are processed in blocks of a
fixed size that depends only on the tree's shape, each block with its own random stream spawned
from the seed, so the output depends on (model, n, seed) alone: not on the machine, the memory,
or how many threads filled the blocks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from hbench.contracts import GrammarCapabilities, Sample, SeedLike
from hbench.errors import UsageError, invalid
from hbench.io import load_npy
from hbench.memory import check_fits, format_bytes

from .alias import AliasTable
from .blocks import default_workers, run_blocks

#: Tolerance on the normalisation of a user-given production tensor or root prior.
NORMALISATION_TOLERANCE = 1e-6
#: Sums this close to 1 are rounding, not a different distribution: the array is kept as given.
ROUNDING = 1e-12
#: Deepest tree hbench accepts at all; memory checks usually refuse far earlier.
MAX_DEPTH = 30


def symbol_dtype(q: int) -> np.dtype:
    """The smallest signed integer type that holds symbols 0..q-1 and the mask -1."""
    for dtype in (np.int8, np.int16, np.int32):
        if q <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def _check_random_options(q, sigma, arity: int, ambiguity: float) -> None:
    if not isinstance(q, int | np.integer) or q < 2:
        raise invalid("q", q, "an integer >= 2")
    if not np.isfinite(sigma) or sigma < 0:
        raise invalid("sigma", sigma, "a finite number >= 0")
    if isinstance(arity, bool) or not isinstance(arity, int | np.integer) or arity < 2:
        raise invalid("arity", arity, "an integer >= 2")
    if not 0 <= ambiguity <= 1:
        raise invalid("ambiguity", ambiguity, "a number in [0, 1]")


#: The random streams a random grammar's seed can be drawn with (see `grammar_stream`).
GRAMMAR_RNGS = ("numpy", "authors")
#: Seeds numpy's legacy RandomState takes (the ``authors`` stream): 0 .. 2**32 - 1.
AUTHORS_MAX_SEED = 2**32 - 1


def grammar_stream(
    rng: str, seed: int, ambiguity: float = 0.0
) -> np.random.Generator | np.random.RandomState:
    """The random stream a random grammar of seed ``seed`` is drawn from.

    ``numpy`` (hbench's own grammars): ``np.random.default_rng(seed)``. ``authors``: the law of
    the paper authors' published generator (``get_M`` of scripts/gen_filtered_hierarchical_data.py
    in github.com/emanuele-moscato/tree-language, run after ``np.random.seed(seed)``): numpy's
    legacy MT19937 ``RandomState(seed)``; it lists the q**2 ordered pairs (b, c) b-major,
    shuffles them (Fisher-Yates), deals positions a*q .. a*q + q - 1 to parent a, draws one
    sigma * N(0, 1) log-weight per dealt pair, parent 0's first, and softmax-normalises each
    parent's. `_draw_productions` does exactly that with a RandomState: its ``permutation`` is
    the same shuffle of arange(q**2), its ``standard_normal`` the same legacy polar draws as
    repeated ``randn()``. numpy freezes the RandomState streams (NEP 19), so seed s gives the
    authors' tensor for seed s on any numpy. Their root is uniform, as hbench's default prior.
    Beyond their binary shared grammar the same law deals the q**s tuples of arity s, and one
    tensor per level is drawn after the other from the one stream. They draw only unambiguous
    grammars, so ``ambiguity`` must be 0 there.
    """
    if rng not in GRAMMAR_RNGS:
        raise invalid("rng", rng, f"one of {', '.join(GRAMMAR_RNGS)}")
    if rng == "numpy":
        return np.random.default_rng(seed)
    if ambiguity:
        raise invalid(
            "ambiguity", ambiguity, "0 with rng='authors' (the authors draw unambiguous grammars)"
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise invalid("seed", seed, f"an integer in [0, {AUTHORS_MAX_SEED}] with rng='authors'")
    if not 0 <= seed <= AUTHORS_MAX_SEED:
        raise invalid("seed", seed, f"an integer in [0, {AUTHORS_MAX_SEED}] with rng='authors'")
    return np.random.RandomState(int(seed))


def _draw_productions(
    rng: np.random.Generator | np.random.RandomState,
    q: int,
    sigma: float,
    arity: int,
    ambiguity: float,
) -> np.ndarray:
    """One tensor of the paper's random grammar (see `random_productions`), from ``rng``: a
    Generator, or for the ``authors`` law (unambiguous only) a legacy RandomState."""
    tuples = q**arity
    owned = rng.permutation(tuples).reshape(q, -1)  # owned[a] = flat child tuples of parent a
    logits = sigma * rng.standard_normal((q, tuples // q))
    productions = np.zeros((q, tuples))
    if not ambiguity:
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        productions[np.arange(q)[:, None], owned] = weights
        return productions.reshape((q,) * (arity + 1))
    # Drawn after the unambiguous grammar, so the owners and their weights stay those of
    # ambiguity 0: a shared tuple keeps its owner and gains one other parent.
    shared = rng.choice(tuples, size=round(ambiguity * tuples), replace=False)
    owner = np.empty(tuples, dtype=np.intp)
    owner[owned] = np.arange(q)[:, None]
    extra = (owner[shared] + rng.integers(1, q, size=shared.size)) % q
    extra_logits = sigma * rng.standard_normal(shared.size)
    all_logits = np.full((q, tuples), -np.inf)
    all_logits[np.arange(q)[:, None], owned] = logits
    all_logits[extra, shared] = extra_logits
    weights = np.exp(all_logits - all_logits.max(axis=1, keepdims=True))
    productions[:] = weights / weights.sum(axis=1, keepdims=True)
    return productions.reshape((q,) * (arity + 1))


def random_productions(
    q: int,
    sigma: float,
    seed: int,
    *,
    arity: int = 2,
    ambiguity: float = 0.0,
    rng: str = "numpy",
) -> np.ndarray:
    """The paper's random grammar: each ordered child tuple has exactly one parent.

    The q**s tuples (b_1, ..., b_s) are dealt to the q parents by a random permutation,
    q**(s-1) tuples each, and parent a weighs its tuples by softmax(sigma * N(0, 1)). The grammar
    is unambiguous, so the leaves determine the whole tree at k = 0.

    ``ambiguity`` in [0, 1] is the fraction of the tuples shared by two parents: that many
    tuples, drawn uniformly, are also produced by one other parent (uniform among the q - 1
    others), each with a fresh weight softmax-normalised with the parent's own ones. Then the
    root is no longer a function of the leaves at k = 0. Its draws come after those of the
    unambiguous grammar, so ambiguity 0 gives today's tensor bit for bit.

    ``rng`` says how the seed draws (`grammar_stream`): ``numpy`` (default_rng), or ``authors``
    for the tensor the paper authors' generator builds for that seed.
    """
    _check_random_options(q, sigma, arity, ambiguity)
    stream = grammar_stream(rng, seed, ambiguity)
    check_fits(q ** (arity + 1) * 8 * 3, f"a production tensor of q={q}, arity={arity}")
    return _draw_productions(stream, q, sigma, arity, ambiguity)


def random_level_productions(
    q: int,
    sigma: float,
    seed: int,
    depth: int,
    *,
    arity: int = 2,
    ambiguity: float = 0.0,
    rng: str = "numpy",
) -> np.ndarray:
    """One random tensor per level, (depth, q, ..., q), drawn one after the other from one
    stream: level 0 is `random_productions` of the same arguments."""
    _check_random_options(q, sigma, arity, ambiguity)
    stream = grammar_stream(rng, seed, ambiguity)
    check_fits(
        depth * q ** (arity + 1) * 8 * 3, f"{depth} production tensors of q={q}, arity={arity}"
    )
    return np.stack([_draw_productions(stream, q, sigma, arity, ambiguity) for _ in range(depth)])


def _shape_text(arity: int, per_level: bool) -> str:
    return "(" + ", ".join((["depth"] if per_level else []) + ["q"] * (arity + 1)) + ")"


def check_productions(
    productions: np.ndarray,
    field: str = "productions",
    *,
    arity: int = 2,
    per_level: bool = False,
) -> np.ndarray:
    """Validate production tensors and return them as exactly normalised float64.

    Shape (q,) * (arity + 1) for one tensor shared by all levels; with ``per_level``, one per
    level stacked on a first axis: (depth, q, ..., q) (the depth is checked by `TreeGrammar`).
    """
    arr = np.asarray(productions)
    lead = 1 if per_level else 0
    expected = f"shape {_shape_text(arity, per_level)} with q >= 2"
    if arr.ndim != arity + 1 + lead or len(set(arr.shape[lead:])) != 1:
        raise invalid(field, f"array of shape {arr.shape}", expected)
    if arr.shape[-1] < 2 or (per_level and arr.shape[0] < 1):
        raise invalid(field, f"array of shape {arr.shape}", "q >= 2")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise invalid(field, f"array of dtype {arr.dtype}", "a real numeric array")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise invalid(field, "array with non-finite entries", "finite probabilities")
    if np.any(arr < 0):
        where = ", ".join(str(i) for i in np.argwhere(arr < 0)[0])
        raise invalid(
            f"{field}[{where}]", float(arr[tuple(np.argwhere(arr < 0)[0])]), "non-negative values"
        )
    children = tuple(range(lead + 1, arr.ndim))
    totals = arr.sum(axis=children)
    bad = np.argwhere(np.abs(totals - 1) > NORMALISATION_TOLERANCE)
    if bad.size:
        where = ", ".join(str(i) for i in bad[0])
        raise invalid(
            f"sum of {field}[{where}]",
            float(totals[tuple(bad[0])]),
            f"each parent's productions must sum to 1 (within {NORMALISATION_TOLERANCE:g})",
        )
    if np.all(np.abs(totals - 1.0) <= ROUNDING):  # keep the bits: filtered() must not drift
        return arr
    return arr / totals.reshape(totals.shape + (1,) * arity)


def check_root_prior(prior: np.ndarray, q: int, field: str = "root_prior") -> np.ndarray:
    """Validate a root prior of length q and return it exactly normalised."""
    arr = np.asarray(prior)
    if arr.shape != (q,):
        raise invalid(field, f"array of shape {arr.shape}", f"shape ({q},) to match q={q}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise invalid(field, arr.tolist(), "finite, non-negative probabilities")
    total = arr.sum()
    if abs(total - 1) > NORMALISATION_TOLERANCE:
        raise invalid(f"sum of {field}", float(total), "1")
    return arr if abs(total - 1.0) <= ROUNDING else arr / total


def _check_classes(classes: int | None, q: int) -> int:
    """n_c, the number of root classes: an integer in [1, q] (None: q)."""
    if classes is None:
        return q
    if isinstance(classes, bool) or not isinstance(classes, int | np.integer):
        raise invalid("classes", classes, f"an integer in [1, {q}] (q)")
    if not 1 <= classes <= q:
        raise invalid("classes", classes, f"an integer in [1, {q}] (q)")
    return int(classes)


def class_prior(q: int, classes: int | None = None) -> np.ndarray:
    """The uniform root prior over the first ``classes`` symbols (all q by default)."""
    classes = _check_classes(classes, q)
    prior = np.zeros(q)
    prior[:classes] = 1.0 / classes
    return prior


@dataclass(frozen=True, eq=False)
class TreeGrammar:
    """A (possibly filtered) tree grammar of arity s: everything needed to sample and infer.

    ``productions`` is one tensor (q,) * (s + 1) shared by every level, or with ``per_level``
    a stack (depth, q, ..., q), level d for the parents at depth d. ``classes`` (n_c, default
    q) declares the root's label set 0..n_c-1; the prior must put no mass beyond it.
    """

    productions: np.ndarray
    root_prior: np.ndarray
    depth: int
    filter_level: int = 0
    arity: int = 2
    per_level: bool = False
    classes: int | None = None

    def __post_init__(self) -> None:
        arity = self.arity
        if isinstance(arity, bool) or not isinstance(arity, int | np.integer) or arity < 2:
            raise invalid("arity", arity, "an integer >= 2")
        if not isinstance(self.depth, int | np.integer) or not 1 <= self.depth <= MAX_DEPTH:
            raise invalid("depth", self.depth, f"an integer in [1, {MAX_DEPTH}]")
        productions = check_productions(
            self.productions, arity=int(arity), per_level=bool(self.per_level)
        )
        if self.per_level and productions.shape[0] != self.depth:
            raise invalid(
                "productions",
                f"array of shape {productions.shape}",
                f"one tensor per level: a first axis of length {self.depth} (depth)",
            )
        q = productions.shape[-1]
        prior = check_root_prior(self.root_prior, q)
        classes = _check_classes(self.classes, q)
        if np.any(prior[classes:] > 0):
            raise invalid("root_prior", prior.tolist(), f"zero beyond the {classes} root classes")
        if not isinstance(self.filter_level, int | np.integer) or not (
            0 <= self.filter_level <= self.depth
        ):
            raise invalid("filter", self.filter_level, f"an integer in [0, {self.depth}] (depth)")
        for array in (productions, prior):
            array.setflags(write=False)
        object.__setattr__(self, "productions", productions)
        object.__setattr__(self, "root_prior", prior)
        object.__setattr__(self, "depth", int(self.depth))
        object.__setattr__(self, "filter_level", int(self.filter_level))
        object.__setattr__(self, "arity", int(arity))
        object.__setattr__(self, "per_level", bool(self.per_level))
        object.__setattr__(self, "classes", int(classes))
        if self.filter_level:
            tables = self.filter_level_nodes * q * q * 8 * 3  # transitions + alias tables
            check_fits(tables, f"filter tables for filter={self.filter_level}, q={q}")

    @property
    def q(self) -> int:
        return int(self.productions.shape[-1])

    @property
    def length(self) -> int:
        """Number of leaves, arity**depth."""
        return self.arity**self.depth

    @property
    def capabilities(self) -> GrammarCapabilities:
        """Its arity, root classes and filter level, as hbench reads them."""
        return GrammarCapabilities(
            arity=self.arity, classes=self.classes, filter_level=self.filter_level
        )

    @property
    def filter_level_nodes(self) -> int:
        """Number of nodes drawn independently given the root: s**k (1 when unfiltered)."""
        return self.arity**self.filter_level

    @property
    def symbol_dtype(self) -> np.dtype:
        return symbol_dtype(self.q)

    def filtered(self, level: int) -> TreeGrammar:
        """The same grammar filtered at ``level`` (0 <= level <= depth), sharing its arrays."""
        return dataclasses.replace(self, filter_level=level)

    def level_productions(self, d: int) -> np.ndarray:
        """The production tensor of the parents at depth d (0 <= d < depth)."""
        return self.productions[d] if self.per_level else self.productions

    @cached_property
    def child_marginals(self) -> np.ndarray:
        """M_d^{(i)}[a, b] = P(child i = b | parent = a): shape (levels, s, q, q), with one
        level when the tensor is shared."""
        tensors = self.productions if self.per_level else self.productions[None]
        axes = range(1, self.arity + 1)
        return np.stack(
            [
                np.stack([m.sum(axis=tuple(j for j in axes if j != i)) for i in axes])
                for m in tensors
            ]
        )

    def marginal(self, d: int, i: int) -> np.ndarray:
        """M_d^{(i)}: the law of child i given the parent, for the parents at depth d."""
        return self.child_marginals[d if self.per_level else 0, i]

    @property
    def left_marginal(self) -> np.ndarray:
        """M^L[a, b] = P(left child = b | parent = a) (first child, top level)."""
        return self.marginal(0, 0)

    @property
    def right_marginal(self) -> np.ndarray:
        """M^R[a, c] = P(right child = c | parent = a) (last child, top level)."""
        return self.marginal(0, self.arity - 1)

    @cached_property
    def path_transitions(self) -> np.ndarray:
        """T[j, a, b] = P(node j at depth k = b | root = a), shape (s**k, q, q).

        Built level by level (one matmul per level and child position, not per node): the
        children of a path product T are T @ M_d^{(i)}.
        """
        transitions = np.eye(self.q)[None]
        for d in range(self.filter_level):
            children = [transitions @ self.marginal(d, i) for i in range(self.arity)]
            transitions = np.stack(children, axis=1).reshape(-1, self.q, self.q)
        return transitions

    @cached_property
    def sampling_tables(self) -> SamplingTables:
        """The sampler's alias tables for this model, built on first use."""
        return SamplingTables(self)

    def describe(self) -> dict:
        """The parameters that identify this model, for metadata (the structure beyond the
        paper's binary shared grammar over every class only when it differs)."""
        out = {
            "q": self.q,
            "depth": self.depth,
            "filter": self.filter_level,
            "length": self.length,
        }
        if self.arity != 2:
            out["arity"] = self.arity
        if self.per_level:
            out["per_level"] = True
        if self.classes != self.q:
            out["classes"] = self.classes
        return out

    def sample(
        self, n: int, seed, *, internal: bool = False, workers: int | None = None, progress=None
    ):
        """Draw n sequences; see `sample`."""
        return sample(self, n, seed, internal=internal, workers=workers, progress=progress)


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


def build_grammar(
    *,
    depth: int,
    q: int | None = None,
    sigma: float = 1.0,
    seed: int = 0,
    productions: np.ndarray | str | Path | None = None,
    root_prior: np.ndarray | str | Path | None = None,
    arity: int = 2,
    per_level: bool = False,
    ambiguity: float = 0.0,
    classes: int | None = None,
    rng: str = "numpy",
) -> TreeGrammar:
    """A model from the paper's random grammar or from an explicit tensor (and prior).

    ``arity``, ``per_level`` (one random tensor per level, or an explicit (depth, q, ..., q)
    stack), ``ambiguity`` (see `random_productions`) and ``classes`` (a uniform prior over the
    first n_c symbols) generalise it; their defaults give the paper's grammar. ``rng``
    ``authors`` draws the seed's tensor as the paper authors' generator does (`grammar_stream`).
    """
    if productions is not None:
        if isinstance(productions, str | Path):
            productions = load_npy(productions, "--productions")
        productions = check_productions(productions, arity=arity, per_level=per_level)
        if q is not None and q != productions.shape[-1]:
            raise invalid("q", q, f"the q of the productions tensor ({productions.shape[-1]})")
        q = productions.shape[-1]
    else:
        if q is None:
            raise UsageError("q is required unless a productions tensor is given")
        if per_level:
            if not isinstance(depth, int | np.integer) or not 1 <= depth <= MAX_DEPTH:
                raise invalid("depth", depth, f"an integer in [1, {MAX_DEPTH}]")
            productions = random_level_productions(
                q, sigma, seed, depth, arity=arity, ambiguity=ambiguity, rng=rng
            )
        else:
            productions = random_productions(
                q, sigma, seed, arity=arity, ambiguity=ambiguity, rng=rng
            )
    if root_prior is None:
        root_prior = np.full(q, 1.0 / q) if classes is None else class_prior(q, classes)
    elif isinstance(root_prior, str | Path):
        root_prior = load_npy(root_prior, "--root-prior")
    return TreeGrammar(
        productions, root_prior, depth, arity=arity, per_level=per_level, classes=classes
    )


__all__ = [
    "MAX_DEPTH",
    "TreeGrammar",
    "build_grammar",
    "check_productions",
    "check_root_prior",
    "class_prior",
    "format_bytes",
    "grammar_stream",
    "random_level_productions",
    "random_productions",
    "symbol_dtype",
]
