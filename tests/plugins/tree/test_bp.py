"""BP against brute-force enumeration, to 1e-10, for every filter level of small trees."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from brute_force import grammar_args, leaf_law, posteriors
from small_trees import every_filter_level, random_ambiguous_model

from hbench.errors import UsageError
from hbench_tree.bp import BeliefPropagation
from hbench_tree.grammar import build_grammar

TOLERANCE = 1e-10


def _queries(model, rng) -> np.ndarray:
    """All-observed, all-masked, one-masked and random partial masks."""
    length, q = model.length, model.q
    full = rng.integers(0, q, size=(4, length))
    partial = rng.integers(0, q, size=(6, length))
    partial[rng.random(partial.shape) < 0.4] = -1
    single = rng.integers(0, q, size=(3, length))
    single[np.arange(3), rng.integers(0, length, size=3)] = -1
    return np.vstack([full, partial, single, -np.ones((1, length), dtype=int)])


@pytest.mark.parametrize("model", every_filter_level(general=True))
def test_bp_matches_enumeration(model):
    rng = np.random.default_rng(model.q * 100 + model.filter_level)
    leaves = _queries(model, rng)
    post = BeliefPropagation(model).run(leaves, leave_one_out=True)
    default = BeliefPropagation(model).run(leaves)  # leaf step only where a leaf is masked
    assert default.leave_one_out is None
    np.testing.assert_allclose(default.leaves, post.leaves, rtol=0, atol=TOLERANCE)
    for depth in post.nodes:
        np.testing.assert_array_equal(default.nodes[depth], post.nodes[depth])
    for i, row in enumerate(leaves):
        args, structure = grammar_args(model)
        root, leaf, loo, nodes, loglik = posteriors(*args, list(row), **structure)
        if np.isinf(loglik):
            assert post.loglik[i] == -np.inf
            np.testing.assert_array_equal(post.root[i], 1 / model.q)
            possible = loo.sum(axis=1) > 0  # leaving a leaf out can make the rest possible
            np.testing.assert_allclose(
                post.leave_one_out[i][possible], loo[possible], atol=TOLERANCE
            )
            np.testing.assert_array_equal(post.leave_one_out[i][~possible], 1 / model.q)
            continue
        np.testing.assert_allclose(post.loglik[i], loglik, rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(post.root[i], root, rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(post.leaves[i], leaf, rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(post.leave_one_out[i], loo, rtol=0, atol=TOLERANCE)
        assert set(post.nodes) == set(nodes)
        for depth, expected in nodes.items():
            np.testing.assert_allclose(post.nodes[depth][i], expected, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("model", every_filter_level(general=True))
def test_likelihood_of_every_string_sums_to_one(model):
    strings = np.array(list(itertools.product(range(model.q), repeat=model.length)))
    loglik = BeliefPropagation(model).run(strings, full=False).loglik
    args, structure = grammar_args(model)
    law = leaf_law(*args, **structure)
    expected = np.array([law.get(tuple(s), 0.0) for s in strings])
    np.testing.assert_allclose(np.exp(loglik), expected, rtol=0, atol=TOLERANCE)
    assert np.exp(loglik).sum() == pytest.approx(1.0, abs=TOLERANCE)


def test_root_only_equals_full_pass():
    model = build_grammar(q=5, depth=5, sigma=2.0, seed=1).filtered(2)
    leaves = model.sample(300, 0).leaves.astype(np.int64)
    leaves[::3, 5] = -1
    bp = BeliefPropagation(model)
    full, root_only = bp.run(leaves), bp.run(leaves, full=False)
    np.testing.assert_array_equal(full.root, root_only.root)
    np.testing.assert_array_equal(full.loglik, root_only.loglik)
    assert root_only.leaves is None and root_only.nodes == {}


def test_chunks_and_threads_do_not_change_results(monkeypatch):
    import hbench_tree.bp as bp_module

    model = build_grammar(q=4, depth=4, seed=2).filtered(1)
    leaves = model.sample(1000, 3).leaves
    reference = BeliefPropagation(model).run(leaves, workers=1)
    monkeypatch.setattr(bp_module, "CHUNK_LEAVES", 16 * 7)
    chunked = BeliefPropagation(model).run(leaves, workers=3)
    np.testing.assert_allclose(chunked.leaves, reference.leaves, rtol=0, atol=1e-15)
    np.testing.assert_allclose(chunked.loglik, reference.loglik, rtol=1e-15, atol=0)


def test_impossible_evidence_gives_minus_infinity_and_uniform_posteriors():
    productions = np.zeros((2, 2, 2))
    productions[0, 0, 0] = 1.0  # parent 0 only makes (0, 0)
    productions[1, 1, 1] = 1.0  # parent 1 only makes (1, 1)
    model = build_grammar(productions=productions, depth=2)
    post = BeliefPropagation(model).run(np.array([[0, 1, 0, 0], [1, 1, 1, 1]]), leave_one_out=True)
    assert post.loglik[0] == -np.inf
    np.testing.assert_array_equal(post.root[0], [0.5, 0.5])
    np.testing.assert_array_equal(post.leaves[0], np.full((4, 2), 0.5))
    # Leaving out leaf 1 makes the rest possible (all zeros); leaving out any other does not.
    expected_loo = [[0.5, 0.5], [1.0, 0.0], [0.5, 0.5], [0.5, 0.5]]
    np.testing.assert_array_equal(post.leave_one_out[0], expected_loo)
    masked = BeliefPropagation(model).run(np.array([[0, 1, -1, 0]]))
    assert masked.loglik[0] == -np.inf
    np.testing.assert_array_equal(masked.leaves[0], np.full((4, 2), 0.5))
    assert np.isfinite(post.loglik[1])


def test_stays_finite_at_depth_16():
    model = build_grammar(q=4, depth=16, seed=0)
    for k in (0, 16):
        filtered = model.filtered(k)
        leaves = filtered.sample(3, 0).leaves.astype(np.int64)
        leaves[:, ::7] = -1
        post = BeliefPropagation(filtered).run(leaves)
        assert np.all(np.isfinite(post.loglik)) and np.all(post.loglik < -1000)
        np.testing.assert_allclose(post.root.sum(axis=1), 1.0)
        np.testing.assert_allclose(post.leaves.sum(axis=2), 1.0)


def test_unambiguous_grammar_recovers_the_root_at_k0():
    model = build_grammar(q=4, depth=4, seed=0)
    sample = model.sample(2000, 1)
    post = BeliefPropagation(model).run(sample.leaves, full=False)
    np.testing.assert_array_equal(post.root.argmax(axis=1), sample.roots)
    np.testing.assert_allclose(post.root.max(axis=1), 1.0)


@pytest.mark.parametrize(
    ("leaves", "message"),
    [
        (np.zeros((2, 5), dtype=int), "shape (n, 4)"),
        (np.array([[0, 1, 3, 0]]), "leaves[0, 2]=3 is invalid"),
        (np.array([[0, -2, 1, 0]]), "leaves[0, 1]=-2 is invalid"),
        (np.array([[0.5, 1, 0, 0]]), "integer symbols"),
    ],
)
def test_bad_leaves_are_refused(leaves, message):
    model = random_ambiguous_model(3, 2, seed=0)
    with pytest.raises(UsageError, match=__import__("re").escape(message)):
        BeliefPropagation(model).run(leaves)
