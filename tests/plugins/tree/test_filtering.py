"""Hierarchical filtering keeps each block's exact law and cuts cross-block dependence.

At level k the leaves form s**k blocks of s**(l - k) consecutive leaves (arity s). Exactly (by
enumeration): every block's joint law is the one it has in the full model, and given the root
the blocks are independent, which they are not in the full model. Empirically: the sampler
shows the same, and the mutual information between blocks vanishes given the root.
"""

from __future__ import annotations

import numpy as np
import pytest
from brute_force import joint_table
from small_trees import random_ambiguous_model, random_general_model

from hbench_tree.grammar import build_grammar
from hbench_tree.rhm import build_rhm

MODELS = [
    pytest.param(build_grammar(q=2, depth=3, sigma=1.5, seed=7), id="paper-q2-l3"),
    pytest.param(build_grammar(q=3, depth=2, sigma=1.5, seed=7), id="paper-q3-l2"),
    pytest.param(random_ambiguous_model(2, 3, seed=5), id="ambiguous-q2-l3"),
    pytest.param(random_general_model(2, 2, 3, seed=8, classes=1), id="levels-arity3-q2-l2"),
    pytest.param(random_general_model(2, 3, 2, seed=9), id="levels-q2-l3"),
    pytest.param(build_rhm(v=3, n_c=2, m=2, s=2, depth=2, seed=3), id="rhm-v3-l2"),
]


def _law(model, k):
    """(roots, leaves, probabilities) of the model filtered at k, by enumeration."""
    roots, nodes, p = joint_table(
        model.productions,
        model.root_prior,
        model.depth,
        k,
        arity=model.arity,
        per_level=model.per_level,
    )
    return roots, nodes[model.depth], p


def _marginal(keys: np.ndarray, p: np.ndarray) -> dict[tuple, float]:
    law: dict[tuple, float] = {}
    for key, prob in zip(map(tuple, keys), p, strict=True):
        law[key] = law.get(key, 0.0) + prob
    return law


def _blocks(leaves: np.ndarray, k: int, arity: int = 2) -> list[np.ndarray]:
    return np.split(leaves, arity**k, axis=1)


@pytest.mark.parametrize("model", MODELS)
def test_each_block_keeps_its_exact_joint_law(model):
    _, full_leaves, full_p = _law(model, 0)
    for k in range(1, model.depth + 1):
        _, leaves, p = _law(model, k)
        for b, (block, full_block) in enumerate(
            zip(_blocks(leaves, k, model.arity), _blocks(full_leaves, k, model.arity), strict=True)
        ):
            got, want = _marginal(block, p), _marginal(full_block, full_p)
            assert set(got) == set(want), (k, b)
            for key, value in want.items():
                assert got[key] == pytest.approx(value, abs=1e-12), (k, b, key)


@pytest.mark.parametrize("model", MODELS)
def test_blocks_are_independent_given_the_root(model):
    for k in range(1, model.depth + 1):
        roots, leaves, p = _law(model, k)
        joint = _marginal(np.column_stack([roots, leaves]), p)
        per_root = _marginal(roots[:, None], p)
        blocks = _blocks(leaves, k, model.arity)
        block_laws = [_marginal(np.column_stack([roots, blk]), p) for blk in blocks]
        for key, prob in joint.items():
            root, rest = key[0], np.array(key[1:])
            product = per_root[(root,)]
            for law, blk in zip(block_laws, np.split(rest, model.arity**k), strict=True):
                product *= law[(root, *blk)] / per_root[(root,)]
            assert prob == pytest.approx(product, abs=1e-12)


def _conditional_mutual_information(roots, first, second, p) -> float:
    """I(first block; second block | root), in nats, from an exact or empirical law."""
    joint = _marginal(np.column_stack([roots, first, second]), p)
    with_first = _marginal(np.column_stack([roots, first]), p)
    with_second = _marginal(np.column_stack([roots, second]), p)
    per_root = _marginal(roots[:, None], p)
    width = first.shape[1]
    total = 0.0
    for key, prob in joint.items():
        r, a, b = key[0], key[1 : 1 + width], key[1 + width :]
        total += prob * np.log(prob * per_root[(r,)] / (with_first[(r, *a)] * with_second[(r, *b)]))
    return total


@pytest.mark.parametrize("model", MODELS)
def test_halves_are_conditionally_independent_once_filtered(model):
    roots, leaves, p = _law(model, 1)
    first, second = np.split(leaves, model.arity, axis=1)[:2]
    assert abs(_conditional_mutual_information(roots, first, second, p)) < 1e-12


@pytest.mark.parametrize("q", [3, 4])
def test_full_model_halves_depend_on_each_other_beyond_the_root(q):
    """The filter removes something real: in the paper's unambiguous grammar the leaves fix
    the depth-1 pair, whose two nodes are dependent given the root."""
    model = build_grammar(q=q, depth=2, sigma=1.0, seed=0)
    roots, leaves, p = _law(model, 0)
    left, right = np.split(leaves, 2, axis=1)
    assert _conditional_mutual_information(roots, left, right, p) > 1e-2


def test_sampled_blocks_are_independent_given_the_root():
    """Empirical check at q=4, l=4, k=3: the mutual information between the first two blocks
    (leaf pairs) given the root is at the bias level of the plug-in estimator, far below the
    full model's, where the two pairs share their parent at depth 2."""
    model = build_grammar(q=4, depth=4, seed=0)
    n = 100_000
    infos = {}
    for k in (0, 3):
        sample = model.filtered(k).sample(n, 3)
        blocks = np.split(sample.leaves, 8, axis=1)
        weights = np.full(n, 1 / n)
        infos[k] = _conditional_mutual_information(sample.roots, blocks[0], blocks[1], weights)
    # plug-in bias: about 4 * 15 * 15 / (2 n) = 0.0045 nats; the full model's value is > 0.1
    assert infos[3] < 0.01 < 0.1 < infos[0]
