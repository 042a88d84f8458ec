"""The small trees every exactness test enumerates: paper-style, ambiguous and sparse binary
grammars, and the general families: arity 3, one tensor per level with n_c < q root classes,
the Random Hierarchy Model (per-level and shared rules, arity 2 and 3), and the paper's grammar
with ambiguous tuples."""

from __future__ import annotations

import numpy as np
import pytest

from hbench_tree.grammar import TreeGrammar, build_grammar
from hbench_tree.rhm import build_rhm


def random_ambiguous_model(q: int, depth: int, seed: int, sparsity: float = 0.0) -> TreeGrammar:
    """A dense (every pair has several parents) tensor with a non-uniform prior.

    With ``sparsity`` > 0 some productions are zero, so some strings are impossible.
    """
    rng = np.random.default_rng(seed)
    productions = rng.random((q, q, q))
    productions[rng.random((q, q, q)) < sparsity] = 0.0
    productions[:, 0, 0] += 1e-3  # every parent keeps at least one production
    productions /= productions.sum(axis=(1, 2), keepdims=True)
    prior = rng.random(q) + 0.1
    return TreeGrammar(productions, prior / prior.sum(), depth)


SMALL_TREES = [(3, 2), (2, 3)]


def random_general_model(
    q: int, depth: int, arity: int, seed: int, classes: int | None = None
) -> TreeGrammar:
    """Dense, different tensors at every level, some zeros, a non-uniform prior on n_c classes."""
    rng = np.random.default_rng(seed)
    productions = rng.random((depth,) + (q,) * (arity + 1))
    productions[rng.random(productions.shape) < 0.3] = 0.0
    productions[(slice(None), slice(None)) + (0,) * arity] += 1e-3
    productions /= productions.sum(axis=tuple(range(2, arity + 2)), keepdims=True)
    classes = q if classes is None else classes
    prior = np.zeros(q)
    prior[:classes] = rng.random(classes) + 0.1
    return TreeGrammar(
        productions, prior / prior.sum(), depth, arity=arity, per_level=True, classes=classes
    )


def general_models() -> list[tuple[str, TreeGrammar]]:
    """The families beyond the paper's binary shared grammar, on trees small enough to
    enumerate."""
    return [
        ("arity3-q2-l2", build_grammar(q=2, depth=2, arity=3, sigma=1.0, seed=3)),
        ("levels-arity3-q2-l2-nc1", random_general_model(2, 2, 3, seed=5, classes=1)),
        ("levels-q3-l2-nc2", random_general_model(3, 2, 2, seed=6, classes=2)),
        ("levels-q2-l3", random_general_model(2, 3, 2, seed=7)),
        ("rhm-v3-m2-s2-l2", build_rhm(v=3, n_c=2, m=2, s=2, depth=2, seed=1)),
        ("rhm-v2-m3-s3-l2", build_rhm(v=2, n_c=2, m=3, s=3, depth=2, seed=2)),
        ("rhm-shared-v2-m2-s2-l3", build_rhm(v=2, n_c=2, m=2, s=2, depth=3, shared_rules=True)),
        ("paper-ambiguity-q3-l2", build_grammar(q=3, depth=2, sigma=1.0, seed=4, ambiguity=0.5)),
    ]


def small_models(general: bool = False) -> list[tuple[str, TreeGrammar]]:
    """Paper-style and ambiguous binary models on the small trees, unfiltered; with
    ``general`` also the general families (give their ``arity`` and ``per_level`` to the
    brute-force reference: `brute_force.grammar_args`)."""
    models = []
    for q, depth in SMALL_TREES:
        models.append((f"paper-q{q}-l{depth}", build_grammar(q=q, depth=depth, sigma=1.5, seed=7)))
        models.append((f"ambiguous-q{q}-l{depth}", random_ambiguous_model(q, depth, seed=q)))
        models.append(
            (f"sparse-q{q}-l{depth}", random_ambiguous_model(q, depth, seed=10 + q, sparsity=0.6))
        )
    return models + general_models() if general else models


def every_filter_level(general: bool = False) -> list:
    """(id, model filtered at k) for every small model (and with ``general`` every general
    family) and every k."""
    return [
        pytest.param(model.filtered(k), id=f"{name}-k{k}")
        for name, model in small_models(general)
        for k in range(model.depth + 1)
    ]
