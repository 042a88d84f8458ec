"""The general tree grammar: arity s, one tensor per level, n_c root classes, ambiguity; and
the paper's grammar unchanged bit for bit (results already published depend on it)."""

from __future__ import annotations

import hashlib
from functools import reduce

import numpy as np
import pytest
from small_trees import random_general_model

from hbench.errors import UsageError
from hbench_tree.bp import BeliefPropagation
from hbench_tree.grammar import (
    TreeGrammar,
    build_grammar,
    check_productions,
    class_prior,
    random_level_productions,
    random_productions,
)


def _digest(*arrays: np.ndarray) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()


@pytest.mark.parametrize(
    ("k", "expected"), [(0, "07d995482cc2982b"), (2, "cf61e01c23571d4b"), (4, "0d5624acb4a64b32")]
)
def test_the_paper_grammar_samples_as_before(k, expected):
    """Pinned: the same seeds give the same sequences as before the generalisation.

    The tensor is pinned by its support (exact) and two weighted sums (to 1e-12): its raw bytes
    differ in the last bit between numpy builds (exp on AVX-512 and on AVX2), its sequences
    (integers) do not."""
    model = build_grammar(q=4, depth=4, sigma=1.0, seed=0)
    m = model.productions
    assert _digest(m > 0)[:16] == "7ec48fc38f1f2d50"
    weights = np.arange(1, m.size + 1).reshape(m.shape)
    assert float((m * weights).sum()) == pytest.approx(132.43904828636175, rel=1e-12)
    assert float((m**2).sum()) == pytest.approx(1.244152178857292, rel=1e-12)
    sample = model.filtered(k).sample(1000, 7, internal=True)
    assert _digest(sample.leaves, sample.roots)[:16] == expected


@pytest.mark.parametrize("arity", [2, 3, 4])
def test_random_productions_of_any_arity_are_unambiguous(arity):
    q = 3
    m = random_productions(q, 1.0, 5, arity=arity)
    assert m.shape == (q,) * (arity + 1)
    np.testing.assert_array_equal((m > 0).sum(axis=0), 1)  # each tuple: one parent
    np.testing.assert_array_equal((m > 0).reshape(q, -1).sum(axis=1), q ** (arity - 1))
    np.testing.assert_allclose(m.reshape(q, -1).sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_level_productions_start_with_the_shared_tensor():
    levels = random_level_productions(4, 1.0, 3, depth=3)
    assert levels.shape == (3, 4, 4, 4)
    np.testing.assert_array_equal(levels[0], random_productions(4, 1.0, 3))
    assert not np.array_equal(levels[0], levels[1])
    model = build_grammar(q=4, depth=3, seed=3, per_level=True)
    np.testing.assert_array_equal(model.productions, levels)
    assert model.level_productions(2) is not None and model.per_level


@pytest.mark.parametrize("ambiguity", [0.25, 0.5, 1.0])
def test_ambiguity_shares_that_fraction_of_tuples(ambiguity):
    q, arity = 4, 2
    m = random_productions(q, 1.0, 2, arity=arity, ambiguity=ambiguity)
    parents = (m > 0).sum(axis=0)
    assert set(np.unique(parents)) <= {1, 2}
    assert (parents == 2).sum() == round(ambiguity * q**arity)
    np.testing.assert_allclose(m.sum(axis=(1, 2)), 1.0, rtol=0, atol=1e-12)
    # the unambiguous grammar's support is kept: ambiguity only adds productions
    assert np.all(m[random_productions(q, 1.0, 2) > 0] > 0)


def test_ambiguity_zero_is_the_paper_grammar_and_k0_becomes_uncertain():
    np.testing.assert_array_equal(
        random_productions(4, 1.0, 0, ambiguity=0.0), random_productions(4, 1.0, 0)
    )
    model = build_grammar(q=4, depth=3, seed=0, ambiguity=0.5)
    sample = model.sample(2000, 1)
    root = BeliefPropagation(model).run(sample.leaves, full=False).root
    assert root.max(axis=1).min() < 0.99  # the leaves no longer determine the root


def test_classes_restrict_the_root():
    model = build_grammar(q=4, depth=3, seed=0, classes=2)
    np.testing.assert_array_equal(model.root_prior, [0.5, 0.5, 0, 0])
    assert model.classes == 2 and model.describe()["classes"] == 2
    sample = model.sample(500, 0)
    assert set(np.unique(sample.roots)) == {0, 1}
    post = BeliefPropagation(model).run(sample.leaves, full=False)
    np.testing.assert_array_equal(post.root[:, 2:], 0.0)
    with pytest.raises(UsageError, match=r"^classes=5 is invalid: an integer in \[1, 4\]"):
        class_prior(4, 5)
    with pytest.raises(UsageError, match="zero beyond the 2 root classes"):
        TreeGrammar(model.productions, np.full(4, 0.25), 3, classes=2)


def test_arity_and_per_level_shapes_are_checked():
    with pytest.raises(UsageError, match=r"shape \(q, q, q, q\)"):
        check_productions(np.full((2, 2, 2), 0.25), arity=3)
    with pytest.raises(UsageError, match=r"shape \(depth, q, q, q\)"):
        check_productions(np.full((2, 2, 2), 0.25), per_level=True)
    levels = random_level_productions(2, 1.0, 0, depth=2)
    with pytest.raises(UsageError, match=r"a first axis of length 3 \(depth\)"):
        TreeGrammar(levels, np.full(2, 0.5), 3, per_level=True)
    bad = levels.copy()
    bad[1, 0] *= 2
    with pytest.raises(UsageError, match=r"sum of productions\[1, 0\]=(2\.0|1\.99+8) is invalid"):
        TreeGrammar(bad, np.full(2, 0.5), 2, per_level=True)
    for arity in (1, 0, True, 2.0):
        with pytest.raises(UsageError, match="arity="):
            TreeGrammar(np.full((2, 2, 2), 0.25), np.full(2, 0.5), 2, arity=arity)
    with pytest.raises(UsageError, match=r"^ambiguity=1\.5 is invalid"):
        random_productions(3, 1.0, 0, ambiguity=1.5)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_path_transitions_of_arity_3_with_levels(level):
    model = random_general_model(3, 2, 3, seed=1).filtered(level)
    t = model.path_transitions
    assert t.shape == (3**level, 3, 3)
    for j in range(3**level):
        digits = [(j // 3 ** (level - 1 - d)) % 3 for d in range(level)]
        marginals = []
        for d, i in enumerate(digits):
            m = model.productions[d]
            marginals.append(m.sum(axis=tuple(a for a in (1, 2, 3) if a != i + 1)))
        np.testing.assert_allclose(t[j], reduce(np.matmul, marginals, np.eye(3)), atol=1e-14)


def test_arity_3_shapes_and_internal_nodes():
    model = random_general_model(3, 3, 3, seed=2)
    sample = model.sample(50, 0, internal=True)
    assert sample.leaves.shape == (50, 27) and set(sample.nodes) == {1, 2}
    assert sample.nodes[1].shape == (50, 3) and sample.nodes[2].shape == (50, 9)
    post = BeliefPropagation(model).run(sample.leaves)
    assert post.leaves.shape == (50, 27, 3) and post.nodes[2].shape == (50, 9, 3)
    assert model.describe() == {
        "q": 3,
        "depth": 3,
        "filter": 0,
        "length": 27,
        "arity": 3,
        "per_level": True,
    }


def test_large_arity_contracts_the_leaves_parents(monkeypatch):
    """Above MAX_LEAF_TABLE the leaves' parents are contracted, not looked up: same numbers."""
    import hbench_tree.bp as bp_module

    model = random_general_model(3, 2, 3, seed=4)
    leaves = model.sample(200, 1).leaves.astype(np.int64)
    leaves[::2, 4] = -1
    table = BeliefPropagation(model).run(leaves, leave_one_out=True)
    monkeypatch.setattr(bp_module, "MAX_LEAF_TABLE", 1)
    bp = BeliefPropagation(model)
    assert not bp.uses_leaf_table
    contracted = bp.run(leaves, leave_one_out=True)
    np.testing.assert_allclose(contracted.loglik, table.loglik, rtol=1e-13)
    np.testing.assert_allclose(contracted.leaves, table.leaves, atol=1e-13)
