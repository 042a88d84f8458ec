"""A layered probabilistic context-free grammar, its seeded construction and its batched sampler.

The grammar has levels 0..L of symbols, n_d symbols at level d: the root level (usually one
symbol), non-terminal levels, and the terminal vocabulary of q = n_L symbols. Each non-terminal
of level d has a few rules whose right-hand sides are 2 or 3 symbols of level d + 1, each rule
with a probability (the rules of a symbol sum to 1). A derivation rewrites the root level by
level down to the terminals, so a sequence's length is the product of the chosen arities along
its tree: sequences vary in length, and the same string may have several parses (two symbols may
share a right-hand side, and a span may be cut in several ways), which is what sets a
context-free grammar apart from the fixed trees of ``hierarchical`` and ``rhm``.

This is the layered family of Allen-Zhu & Li's cfg3 grammars ("Physics of Language Models,
Part 1", 2023): symbols per level, rules of 2 or 3 symbols, depth L. Construction is seeded:
every random choice comes from one numpy Generator of ``seed``.

Sampling is batched array code over the sequences, level by level (never a loop per sequence):
each level draws one rule per node from the rule tables of its symbols, and the children are
scattered to their places by a cumulative sum of the arities. Sequences are padded with
`hbench.contracts.PAD` after their end up to the grammar's longest sequence, and their lengths
are returned in `Sample.lengths`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hbench.contracts import PAD, GrammarCapabilities, Sample, SeedLike
from hbench.errors import UsageError, invalid
from hbench.memory import check_fits

#: Sequences per sampling block: each block has its own random stream spawned from the seed,
#: so the output depends on (grammar, n, seed) only.
BLOCK = 1 << 12


@dataclass(frozen=True)
class LevelRules:
    """The rules of the parents at one level d: rule r rewrites ``parent[r]`` into
    ``children[r, :arity[r]]`` (symbols of level d + 1) with probability ``probability[r]``."""

    parent: np.ndarray  # (R,) int
    children: np.ndarray  # (R, 3) int, -1 beyond the arity
    arity: np.ndarray  # (R,) int, 2 or 3
    probability: np.ndarray  # (R,) float, summing to 1 over the rules of each parent


@dataclass(frozen=True, eq=False)
class CFGrammar:
    """A layered PCFG: ``symbols[d]`` symbols at level d, ``rules[d]`` the rules of level d's
    parents, a prior over the root level's symbols. Immutable; built by `build_cfg` or from
    explicit rules (tests)."""

    symbols: tuple[int, ...]
    rules: tuple[LevelRules, ...]
    root_prior: np.ndarray
    arities: tuple[int, ...] = ()
    """The right-hand-side lengths the rules were drawn from (`build_cfg`'s ``arities``); empty:
    those the rules have. They, not the draw, decide the grammar's shape as a task sees it
    (`arity`, `variable_length`), so that every grammar of one config (one per seed in an
    official run) has the same: a draw without ternary rules still pads to 3**depth."""

    def __post_init__(self) -> None:
        symbols = tuple(int(n) for n in self.symbols)
        if len(symbols) < 2 or any(n < 1 for n in symbols):
            raise invalid("symbols", list(symbols), "at least two levels of >= 1 symbols each")
        if len(self.rules) != len(symbols) - 1:
            raise invalid("rules", f"{len(self.rules)} levels", f"{len(symbols) - 1} (depth)")
        for d, level in enumerate(self.rules):
            parents, children = symbols[d], symbols[d + 1]
            arity = np.asarray(level.arity)
            if np.any((arity < 2) | (arity > 3)):
                raise invalid(f"rules[{d}].arity", arity.tolist(), "2 or 3 children per rule")
            used = np.arange(3)[None, :] < arity[:, None]
            kids = np.asarray(level.children)
            if np.any(used & ((kids < 0) | (kids >= children))):
                raise invalid(f"rules[{d}].children", kids.tolist(), f"symbols in [0, {children})")
            totals = np.bincount(level.parent, weights=level.probability, minlength=parents)
            if totals.shape[0] != parents or np.any(np.abs(totals - 1) > 1e-9):
                raise invalid(
                    f"rules[{d}]", totals.tolist(), "each parent's rule probabilities sum to 1"
                )
        prior = np.asarray(self.root_prior, dtype=np.float64)
        if prior.shape != (symbols[0],) or abs(prior.sum() - 1) > 1e-9 or np.any(prior < 0):
            raise invalid("root_prior", prior.tolist(), f"a distribution over {symbols[0]} roots")
        drawn = {int(a) for level in self.rules for a in np.unique(level.arity)}
        arities = tuple(sorted({int(a) for a in self.arities} | drawn))
        if any(a not in (2, 3) for a in arities):
            raise invalid("arities", list(self.arities), "right-hand-side lengths 2 and/or 3")
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "root_prior", prior)
        object.__setattr__(self, "arities", arities)

    # --- shape ------------------------------------------------------------------------------

    @property
    def q(self) -> int:
        """The terminal vocabulary: the symbols of the last level."""
        return self.symbols[-1]

    @property
    def depth(self) -> int:
        """Levels of rules L: the leaves are the symbols of level L."""
        return len(self.symbols) - 1

    @property
    def filter_level(self) -> int:
        """Always 0: a cfg is never filtered (see `hbench_cfg.factories.CFGFilter`)."""
        return 0

    @property
    def classes(self) -> int:
        """Root classes n_c: the symbols of the root level."""
        return self.symbols[0]

    @property
    def arity(self) -> int:
        """The longest right-hand side (of `arities`): sequences hold at most arity**depth
        symbols."""
        return max(self.arities)

    @property
    def variable_length(self) -> bool:
        """Whether sequences vary in length: rules of both 2 and 3 symbols (`arities`)."""
        return len(self.arities) > 1

    @property
    def capabilities(self) -> GrammarCapabilities:
        """The longest right-hand side as the arity (``arity**depth`` bounds every length and
        is the length when every rule is binary, or every rule ternary), the root level's
        symbols as the root classes, never filtered; variable lengths with rules of 2 and 3
        symbols."""
        return GrammarCapabilities(
            arity=self.arity,
            classes=min(self.classes, self.q),
            filter_level=0,
            variable_length=self.variable_length,
        )

    @cached_property
    def widths(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """For each level d, the shortest and longest yield of each of its symbols (two (n_d,)
        int arrays); the terminal level yields 1. A symbol without rules cannot occur."""
        out: list[tuple[np.ndarray, np.ndarray]] = [
            (np.ones(self.q, dtype=np.int64), np.ones(self.q, dtype=np.int64))
        ]
        for d in range(self.depth - 1, -1, -1):
            low, high = out[0]
            level = self.rules[d]
            kids = np.where(level.children >= 0, level.children, 0)
            used = np.arange(3)[None, :] < level.arity[:, None]
            rule_low = np.where(used, low[kids], 0).sum(axis=1)
            rule_high = np.where(used, high[kids], 0).sum(axis=1)
            n = self.symbols[d]
            sym_low = np.full(n, np.iinfo(np.int64).max)
            sym_high = np.zeros(n, dtype=np.int64)
            np.minimum.at(sym_low, level.parent, rule_low)
            np.maximum.at(sym_high, level.parent, rule_high)
            out.insert(0, (sym_low, sym_high))
        return tuple(out)

    def width_range(self, d: int) -> tuple[int, int]:
        """The shortest and longest yield of any symbol of level d."""
        low, high = self.widths[d]
        return int(low.min()), int(high.max())

    @property
    def length(self) -> int:
        """The width of every leaf array: arity**depth, the longest sequence that rules of
        the grammar's arity could make (`max_length` is the longest it does make)."""
        return self.arity**self.depth

    @property
    def max_length(self) -> int:
        """The longest sequence the grammar produces."""
        _, high = self.widths[0]
        return int(high[self.root_prior > 0].max())

    @property
    def min_length(self) -> int:
        """The shortest sequence the grammar produces."""
        low, _ = self.widths[0]
        return int(low[self.root_prior > 0].min())

    @cached_property
    def max_nodes(self) -> tuple[int, ...]:
        """An upper bound on the nodes at each level over all derivations (level 0: 1): the
        width of the sampler's arrays of that level."""
        counts = [1]
        for level in self.rules:
            counts.append(counts[-1] * int(level.arity.max()))
        return tuple(counts)

    # --- rule tensors -----------------------------------------------------------------------

    def binary(self, d: int) -> np.ndarray:
        """B_d[a, b, c] = P(a -> b c) for the parents at level d, shape (n_d, n, n)."""
        level, n = self.rules[d], self.symbols[d + 1]
        out = np.zeros((self.symbols[d], n, n))
        two = level.arity == 2
        np.add.at(
            out,
            (level.parent[two], level.children[two, 0], level.children[two, 1]),
            level.probability[two],
        )
        return out

    def ternary(self, d: int) -> np.ndarray:
        """T_d[a, b, c, e] = P(a -> b c e) for the parents at level d, shape (n_d, n, n, n)."""
        level, n = self.rules[d], self.symbols[d + 1]
        out = np.zeros((self.symbols[d], n, n, n))
        three = level.arity == 3
        kids = level.children[three]
        np.add.at(
            out, (level.parent[three], kids[:, 0], kids[:, 1], kids[:, 2]), level.probability[three]
        )
        return out

    @cached_property
    def rule_tables(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """For each level: (rule index (n_d, r_max), cumulative probability (n_d, r_max)), the
        rules of each parent in order (padded with its last rule and cumulative 1), for the
        sampler's inverse-CDF draw."""
        out = []
        for d, level in enumerate(self.rules):
            n = self.symbols[d]
            order = np.argsort(level.parent, kind="stable")
            counts = np.bincount(level.parent, minlength=n)
            r_max = int(counts.max())
            first = np.concatenate([[0], np.cumsum(counts)[:-1]])
            slot = np.arange(r_max)[None, :]
            take = first[:, None] + np.minimum(slot, counts[:, None] - 1)
            index = order[take]
            cumulative = np.cumsum(np.where(slot < counts[:, None], level.probability[index], 0), 1)
            cumulative[:, -1] = 1.0  # rounding: the last slot catches every uniform
            out.append((index, cumulative))
        return tuple(out)

    def describe(self) -> dict:
        """The parameters that identify this grammar, for metadata."""
        return {
            "q": self.q,
            "depth": self.depth,
            "symbols": list(self.symbols),
            "rules": [int(level.parent.shape[0]) for level in self.rules],
            "length": self.length,
            "min_length": self.min_length,
            "max_length": self.max_length,
        }

    def filtered(self, level: int) -> CFGrammar:
        """Level 0 only: see `hbench_cfg.factories.CFGFilter`."""
        if level != 0:
            raise UsageError(
                f"filter level {level} is invalid for grammar 'cfg': only level 0 (the grammar"
                " itself); use --set train_filters=[0] --set test_filters=[0]"
            )
        return self

    def sample(self, n: int, seed: SeedLike, *, internal: bool = False) -> Sample:
        """Draw n sequences; see `sample`."""
        return sample(self, n, seed, internal=internal)


# --- construction ---------------------------------------------------------------------------


def draw_rules(
    rng: np.random.Generator,
    parents: int,
    children: int,
    rules: int,
    max_rules: int,
    arities: Sequence[int],
    sigma: float,
) -> LevelRules:
    """Each parent draws its number of rules uniformly in [rules, max_rules], then that many
    distinct right-hand sides (arity uniform over ``arities``, symbols uniform), weighted by
    softmax(sigma * N(0, 1)) (uniform at sigma = 0). Different parents may share a
    right-hand side: the grammar is ambiguous, as cfg3's are."""
    parent, kids, arity, probability = [], [], [], []
    for a in range(parents):  # construction only: a loop over the grammar's symbols
        count = int(rng.integers(rules, max_rules + 1))
        seen: set[tuple[int, ...]] = set()
        while len(seen) < count:
            k = int(arities[int(rng.integers(len(arities)))])
            rhs = tuple(int(b) for b in rng.integers(children, size=k))
            if rhs in seen:
                continue
            seen.add(rhs)
            parent.append(a)
            kids.append(rhs + (-1,) * (3 - k))
            arity.append(k)
        logits = sigma * rng.standard_normal(count)
        weights = np.exp(logits - logits.max())
        probability.extend(weights / weights.sum())
    return LevelRules(
        parent=np.asarray(parent, dtype=np.int64),
        children=np.asarray(kids, dtype=np.int64),
        arity=np.asarray(arity, dtype=np.int64),
        probability=np.asarray(probability, dtype=np.float64),
    )


def build_cfg(
    symbols: Sequence[int],
    *,
    rules: int = 2,
    max_rules: int | None = 3,
    arities: Sequence[int] = (2, 3),
    sigma: float = 0.0,
    seed: int = 0,
) -> CFGrammar:
    """A random layered PCFG with ``symbols[d]`` symbols at level d (root level first), drawn
    level by level from ``np.random.default_rng(seed)``; the root prior is uniform."""
    rng = np.random.default_rng(seed)
    most = rules if max_rules is None else max_rules
    levels = tuple(
        draw_rules(rng, symbols[d], symbols[d + 1], rules, most, arities, sigma)
        for d in range(len(symbols) - 1)
    )
    prior = np.full(symbols[0], 1.0 / symbols[0])
    return CFGrammar(tuple(symbols), levels, prior, tuple(int(a) for a in arities))


# --- sampling -------------------------------------------------------------------------------


def _seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(seed.integers(0, 2**63, size=4).tolist())
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise invalid("seed", seed, "a non-negative integer")
    return np.random.SeedSequence(int(seed))


def _expand(
    grammar: CFGrammar, d: int, nodes: np.ndarray, rng: np.random.Generator, width: int
) -> np.ndarray:
    """One level of every derivation of a block at once: a rule per node (inverse CDF on the
    parent's rule table), children scattered after the cumulative arity of their row."""
    index, cumulative = grammar.rule_tables[d]
    level = grammar.rules[d]
    valid = nodes >= 0
    parents = np.where(valid, nodes, 0)
    u = rng.random(nodes.shape)
    slot = (u[..., None] >= cumulative[parents]).sum(axis=-1)
    slot = np.minimum(slot, cumulative.shape[1] - 1)
    rule = index[parents, slot]
    arity = np.where(valid, level.arity[rule], 0)
    offset = np.cumsum(arity, axis=1) - arity
    out = np.full((nodes.shape[0], width), PAD, dtype=np.int64)
    for j in range(3):  # over the child slots of a rule, not over sequences or nodes
        rows, cols = np.nonzero(j < arity)
        out[rows, offset[rows, cols] + j] = level.children[rule[rows, cols], j]
    return out


def sample(grammar: CFGrammar, n: int, seed: SeedLike, *, internal: bool = False) -> Sample:
    """Draw n sequences: roots, leaves padded with `PAD` to ``grammar.length`` (arity**depth),
    their lengths, and with ``internal`` the symbols of every level 0 < d < depth, each (n,
    most nodes at d), padded with `PAD` (left to right, as the tree's nodes of that level).

    Same (grammar, n, seed) gives the same arrays."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise invalid("n", n, "a non-negative integer")
    n = int(n)
    widths = grammar.max_nodes
    per_sequence = sum(widths[1:]) if internal else widths[-1]
    check_fits(n * (per_sequence + 2) * 8, f"sampling n={n} sequences of grammar 'cfg'")
    dtype = np.int8 if grammar.q <= 127 and max(grammar.symbols) <= 127 else np.int64
    roots = np.empty(n, dtype=dtype)
    leaves = np.full((n, grammar.length), PAD, dtype=dtype)
    nodes = {d: np.full((n, widths[d]), PAD, dtype=dtype) for d in range(1, grammar.depth)}
    starts = range(0, n, BLOCK)
    seeds = _seed_sequence(seed).spawn(len(starts))
    root_table = np.cumsum(grammar.root_prior)
    root_table[-1] = 1.0
    for start, block_seed in zip(starts, seeds, strict=True):  # fixed blocks, not sequences
        stop = min(start + BLOCK, n)
        rng = np.random.Generator(np.random.PCG64(block_seed))
        level = np.minimum(
            (rng.random(stop - start)[:, None] >= root_table).sum(axis=1), grammar.symbols[0] - 1
        )[:, None]
        roots[start:stop] = level[:, 0]
        for d in range(grammar.depth):
            level = _expand(grammar, d, level, rng, widths[d + 1])
            if internal and d + 1 < grammar.depth:
                nodes[d + 1][start:stop] = level
        leaves[start:stop, : level.shape[1]] = level
    lengths = (leaves != PAD).sum(axis=1).astype(np.int64)
    return Sample(roots=roots, leaves=leaves, nodes=nodes if internal else {}, lengths=lengths)
