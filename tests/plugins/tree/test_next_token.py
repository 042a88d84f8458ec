"""The next-token oracle against brute-force enumeration and against L masked BP passes."""

from __future__ import annotations

import numpy as np
import pytest
from brute_force import grammar_args
from brute_force import next_token as brute_next_token
from small_trees import every_filter_level

from hbench.registry.registry import get_registry
from hbench_tree.bp import BeliefPropagation, NextToken
from hbench_tree.grammar import build_grammar
from hbench_tree.rhm import build_rhm

TOLERANCE = 1e-10


def _sequences(model, rng) -> np.ndarray:
    """Sampled sequences, uniformly random ones (often impossible), and a few with masks."""
    sampled = model.sample(6, int(rng.integers(1 << 30))).leaves.astype(np.int64)
    random = rng.integers(0, model.q, size=(4, model.length))
    masked = sampled[:3].copy()
    masked[rng.random(masked.shape) < 0.3] = -1
    return np.vstack([sampled, random, masked])


@pytest.mark.parametrize("model", every_filter_level(general=True))
def test_next_token_matches_enumeration(model):
    rng = np.random.default_rng(model.length * 10 + model.filter_level)
    leaves = _sequences(model, rng)
    got = BeliefPropagation(model).next_token(leaves)
    assert isinstance(got, NextToken)
    assert got.probabilities.shape == (leaves.shape[0], model.length, model.q)
    args, structure = grammar_args(model)
    for row, sequence in enumerate(leaves):
        probabilities, logs = brute_next_token(*args, sequence, **structure)
        np.testing.assert_allclose(got.probabilities[row], probabilities, rtol=0, atol=TOLERANCE)
        finite = np.isfinite(logs)
        np.testing.assert_array_equal(np.isfinite(got.log_probabilities[row]), finite)
        np.testing.assert_allclose(
            got.log_probabilities[row][finite], logs[finite], rtol=0, atol=TOLERANCE
        )


MODELS = [
    pytest.param(build_grammar(q=4, depth=4, seed=0), id="paper-q4-l4"),
    pytest.param(build_grammar(q=3, depth=3, seed=1, arity=3, per_level=True), id="arity3"),
    pytest.param(build_rhm(v=6, n_c=3, m=3, s=2, depth=4, seed=2), id="rhm"),
    pytest.param(build_grammar(q=4, depth=4, seed=3, ambiguity=0.5), id="ambiguous"),
]


@pytest.mark.parametrize("base", MODELS)
def test_next_token_equals_masked_passes_and_sums_to_the_loglik(base):
    for k in range(base.depth + 1):
        model = base.filtered(k)
        leaves = model.sample(300, k).leaves.astype(np.int64)
        leaves[::7, 2] = -1  # masked leaves are summed out of later prefixes
        bp = BeliefPropagation(model)
        probabilities, logs = bp.next_token(leaves)
        for i in range(model.length):
            prefix = leaves.copy()
            prefix[:, i:] = -1
            masked = bp.run(prefix).leaves[:, i]
            np.testing.assert_allclose(probabilities[:, i], masked, rtol=0, atol=TOLERANCE)
        loglik = bp.run(leaves, full=False).loglik
        np.testing.assert_allclose(logs.sum(axis=1), loglik, rtol=1e-12, atol=1e-10)
        np.testing.assert_array_equal(logs[::7, 2], 0.0)


def test_impossible_prefix_gives_uniform_and_minus_infinity():
    productions = np.zeros((2, 2, 2))
    productions[0, 0, 0] = productions[1, 1, 1] = 1.0  # (0, 0) from 0, (1, 1) from 1
    model = build_grammar(productions=productions, depth=2)
    probabilities, logs = BeliefPropagation(model).next_token(
        np.array([[0, 1, 1, 1], [1, 1, 1, 1]])
    )
    np.testing.assert_array_equal(probabilities[0], [[0.5, 0.5], [1, 0], [0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_array_equal(logs[0], [np.log(0.5), -np.inf, -np.inf, -np.inf])
    np.testing.assert_array_equal(probabilities[1], [[0.5, 0.5], [0, 1], [0, 1], [0, 1]])
    np.testing.assert_array_equal(logs[1], [np.log(0.5), 0, 0, 0])


def test_chunks_and_threads_do_not_change_results(monkeypatch):
    import hbench_tree.bp as bp_module

    model = build_grammar(q=4, depth=4, seed=2).filtered(2)
    leaves = model.sample(1000, 3).leaves
    reference = BeliefPropagation(model).next_token(leaves, workers=1)
    monkeypatch.setattr(bp_module, "CHUNK_LEAVES", 16 * 7)
    chunked = BeliefPropagation(model).next_token(leaves, workers=3)
    np.testing.assert_allclose(chunked.probabilities, reference.probabilities, atol=1e-15)
    np.testing.assert_allclose(chunked.log_probabilities, reference.log_probabilities, atol=1e-13)


def test_the_registered_oracle_offers_next_token():
    oracle = get_registry().get("oracle", "bp").create()
    model = build_rhm(v=4, n_c=2, m=2, depth=3).filtered(1)
    leaves = model.sample(20, 0).leaves
    probabilities, logs = oracle.next_token(model, leaves)
    direct = BeliefPropagation(model).next_token(leaves)
    np.testing.assert_array_equal(probabilities, direct.probabilities)
    np.testing.assert_array_equal(logs, direct.log_probabilities)
    np.testing.assert_allclose(probabilities.sum(axis=2), 1.0)
