"""The small trees every exactness test enumerates: paper-style and ambiguous grammars."""

from __future__ import annotations

import numpy as np
import pytest

from hbench_tree.grammar import TreeGrammar, build_grammar


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


def small_models() -> list[tuple[str, TreeGrammar]]:
    """Paper-style and ambiguous models on the small trees, unfiltered."""
    models = []
    for q, depth in SMALL_TREES:
        models.append((f"paper-q{q}-l{depth}", build_grammar(q=q, depth=depth, sigma=1.5, seed=7)))
        models.append((f"ambiguous-q{q}-l{depth}", random_ambiguous_model(q, depth, seed=q)))
        models.append(
            (f"sparse-q{q}-l{depth}", random_ambiguous_model(q, depth, seed=10 + q, sparsity=0.6))
        )
    return models


def every_filter_level() -> list:
    """(id, model filtered at k) for every small model and every k."""
    return [
        pytest.param(model.filtered(k), id=f"{name}-k{k}")
        for name, model in small_models()
        for k in range(model.depth + 1)
    ]
