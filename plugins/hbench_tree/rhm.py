"""The Random Hierarchy Model (Cagnetta, Petrini, Tomasini, Favero, Wyart, PRX 2024).

A tree of arity s and depth L over a vocabulary of v symbols per level: the root is one of n_c
classes; every symbol has m synonymous production rules, each an s-tuple of symbols of the level
below, chosen uniformly. The rules of a level are drawn without replacement: each of the v**s
tuples is used by at most one symbol, so the grammar is unambiguous (the leaves determine the
tree) and its sample complexity grows like n_c m**L. Rules are drawn anew for every level, or
once for all levels with ``shared_rules`` (the paper-style single tensor).

Here it is a `TreeGrammar` with q = v: the rules of level d are a tensor M_d[a, b_1, ..., b_s]
= 1/m on symbol a's m tuples, and the root prior is uniform over symbols 0..n_c-1. The top
level's tensor holds rules for all v symbols; only the first n_c are ever used, which has the
law of drawing n_c symbols' rules (the first n_c rows of a draw without replacement).
"""

from __future__ import annotations

import numpy as np

from hbench.errors import invalid
from hbench.memory import check_fits

from .grammar import MAX_DEPTH, TreeGrammar, class_prior


def _is_int(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | np.integer)


def check_rhm(v: int, n_c: int, m: int, s: int, depth: int) -> None:
    """Every parameter and their combination, one line naming the field, before any drawing."""
    if not _is_int(v) or v < 2:
        raise invalid("v", v, "an integer >= 2 (symbols per level)")
    if not _is_int(s) or s < 2:
        raise invalid("s", s, "an integer >= 2 (the arity)")
    if not _is_int(depth) or not 1 <= depth <= MAX_DEPTH:
        raise invalid("depth", depth, f"an integer in [1, {MAX_DEPTH}]")
    if not _is_int(n_c) or not 2 <= n_c <= v:
        raise invalid("n_c", n_c, f"an integer in [2, {v}] (at most v={v} root classes)")
    tuples = v**s
    if not _is_int(m) or not 1 <= m <= tuples // v:
        raise invalid(
            "m",
            m,
            f"an integer in [1, {tuples // v}]: v*m rules must fit in the v**s={tuples} tuples"
            f" (m <= v**(s-1) for v={v}, s={s})",
        )


def rhm_rules(v: int, m: int, s: int, levels: int, seed: int) -> np.ndarray:
    """Rule tensors (levels, v, ..., v): level d from its own permutation of the v**s tuples,
    symbol a taking tuples a*m .. a*m + m - 1 of it, each with weight 1/m."""
    rng = np.random.default_rng(seed)
    tuples = v**s
    rules = np.zeros((levels, v, tuples))
    for d in range(levels):  # over levels, not nodes: one vectorised draw each
        chosen = rng.permutation(tuples)[: v * m].reshape(v, m)
        rules[d, np.arange(v)[:, None], chosen] = 1.0 / m
    return rules.reshape((levels,) + (v,) * (s + 1))


def build_rhm(
    *,
    v: int = 8,
    n_c: int = 8,
    m: int = 4,
    s: int = 2,
    depth: int = 3,
    seed: int = 0,
    shared_rules: bool = False,
) -> TreeGrammar:
    """The Random Hierarchy Model as a `TreeGrammar` (q = v, arity s, n_c root classes)."""
    check_rhm(v, n_c, m, s, depth)
    if isinstance(seed, bool) or not _is_int(seed) or seed < 0:
        raise invalid("seed", seed, "a non-negative integer")
    levels = 1 if shared_rules else depth
    check_fits(levels * v ** (s + 1) * 8 * 3, f"rules of v={v}, s={s} over {levels} level(s)")
    rules = rhm_rules(v, m, s, levels, seed)
    return TreeGrammar(
        rules[0] if shared_rules else rules,
        class_prior(v, n_c),
        depth,
        arity=s,
        per_level=not shared_rules,
        classes=n_c,
    )


__all__ = ["build_rhm", "check_rhm", "rhm_rules"]
