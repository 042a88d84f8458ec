"""The sampler against the exact law it claims, and its seedability."""

from __future__ import annotations

import numpy as np
import pytest
from brute_force import grammar_args, joint_table, leaf_law
from small_trees import every_filter_level
from stats import chi_square_pvalue

from hbench.errors import UsageError
from hbench_tree.grammar import build_grammar

N = 60_000


def _string_codes(strings: np.ndarray, q: int) -> np.ndarray:
    return strings.astype(np.int64) @ (q ** np.arange(strings.shape[1])[::-1])


def _law_codes(law: dict, q: int, length: int) -> np.ndarray:
    probabilities = np.zeros(q**length)
    for string, p in law.items():
        probabilities[_string_codes(np.array([string]), q)[0]] = p
    return probabilities


@pytest.mark.parametrize("model", every_filter_level(general=True))
def test_leaf_strings_follow_the_exact_law(model):
    q, length = model.q, model.length
    args, structure = grammar_args(model)
    law = _law_codes(leaf_law(*args, **structure), q, length)
    sample = model.sample(N, 1234)
    counts = np.bincount(_string_codes(sample.leaves, q), minlength=q**length)
    assert chi_square_pvalue(counts, law) > 1e-4


@pytest.mark.parametrize("model", every_filter_level(general=True))
def test_root_and_top_nodes_follow_the_exact_law(model):
    """The joint law of the root and the first sampled internal level (or the leaves)."""
    q = model.q
    args, structure = grammar_args(model)
    roots, nodes, p = joint_table(*args, **structure)
    top = min(nodes)
    width = model.arity**top
    codes = roots * q**width + _string_codes(nodes[top], q)
    law = np.bincount(codes, weights=p, minlength=q ** (width + 1))
    sample = model.sample(N, 99, internal=True)
    drawn = sample.nodes.get(top, sample.leaves if top == model.depth else None)
    got = sample.roots.astype(np.int64) * q**width + _string_codes(drawn, q)
    assert chi_square_pvalue(np.bincount(got, minlength=law.size), law) > 1e-4


def test_the_chi_square_test_can_fail():
    """Power check: data of filter level 1 are rejected under the law of level 0.

    (The two laws are 0.07 apart in total variation on this tree.)"""
    model = build_grammar(q=3, depth=2, sigma=1.5, seed=7)
    law = _law_codes(leaf_law(model.productions, model.root_prior, 2, 0), 3, 4)
    sample = model.filtered(1).sample(N, 1234)
    counts = np.bincount(_string_codes(sample.leaves, 3), minlength=81)
    assert chi_square_pvalue(counts, law) < 1e-6


def test_internal_nodes_are_consistent_with_leaves():
    """In the unambiguous grammar every parent is the unique producer of its children."""
    model = build_grammar(q=4, depth=5, seed=3)
    sample = model.sample(500, 0, internal=True)
    producer = np.full((4, 4), -1)
    for a, b, c in np.argwhere(model.productions > 0):
        producer[b, c] = a
    levels = {**sample.nodes, 0: sample.roots[:, None], model.depth: sample.leaves}
    for d in range(model.depth):
        children = levels[d + 1].astype(np.int64)
        np.testing.assert_array_equal(producer[children[:, 0::2], children[:, 1::2]], levels[d])


@pytest.mark.parametrize("k", [0, 2, 4])
def test_same_seed_same_sample_other_seed_other_sample(k):
    model = build_grammar(q=4, depth=4, seed=0).filtered(k)
    first, again, other = (
        model.sample(5000, 7, internal=True),
        model.sample(5000, 7, internal=True),
        model.sample(5000, 8),
    )
    np.testing.assert_array_equal(first.leaves, again.leaves)
    np.testing.assert_array_equal(first.roots, again.roots)
    for d in first.nodes:
        np.testing.assert_array_equal(first.nodes[d], again.nodes[d])
    assert not np.array_equal(first.leaves, other.leaves)


def test_threads_do_not_change_the_sample():
    model = build_grammar(q=3, depth=10, seed=0).filtered(3)
    n = 3 * (1 << 8) + 5  # several blocks of 256 sequences at depth 10
    serial = model.sample(n, 5, workers=1)
    threaded = model.sample(n, 5, workers=4)
    np.testing.assert_array_equal(serial.leaves, threaded.leaves)


def test_seed_types():
    model = build_grammar(q=3, depth=3)
    by_int = model.sample(100, 11).leaves
    by_sequence = model.sample(100, np.random.SeedSequence(11)).leaves
    np.testing.assert_array_equal(by_int, by_sequence)
    gen_a = model.sample(100, np.random.default_rng(3)).leaves
    gen_b = model.sample(100, np.random.default_rng(3)).leaves
    np.testing.assert_array_equal(gen_a, gen_b)
    for bad in (-1, 1.5, "1", True):
        with pytest.raises(UsageError, match="seed"):
            model.sample(10, bad)


def test_shapes_dtypes_and_empty():
    model = build_grammar(q=130, depth=2, seed=0)
    sample = model.sample(7, 0, internal=True)
    assert sample.leaves.shape == (7, 4) and sample.leaves.dtype == np.int16
    assert sample.roots.shape == (7,) and set(sample.nodes) == {1}
    assert len(model.sample(0, 0)) == 0
    with pytest.raises(UsageError, match="n=-3"):
        model.sample(-3, 0)


def test_refuses_what_cannot_fit(monkeypatch):
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", str(1 << 20))
    model = build_grammar(q=4, depth=12)
    with pytest.raises(UsageError, match=r"needs an estimated 4\.0 GiB"):
        model.sample(1 << 20, 0)
