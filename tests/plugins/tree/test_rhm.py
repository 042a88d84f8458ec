"""The Random Hierarchy Model: its rules as published, seedability, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from hbench.errors import UsageError
from hbench_tree.bp import BeliefPropagation
from hbench_tree.rhm import build_rhm, rhm_rules


@pytest.mark.parametrize(("v", "m", "s"), [(4, 2, 2), (4, 4, 2), (3, 5, 3), (8, 4, 2)])
def test_rules_are_drawn_without_replacement_and_uniform(v, m, s):
    rules = rhm_rules(v, m, s, levels=3, seed=1)
    assert rules.shape == (3,) + (v,) * (s + 1)
    for level in rules:
        flat = level.reshape(v, -1)
        assert (flat > 0).sum(axis=0).max() == 1  # a tuple has at most one symbol
        np.testing.assert_array_equal((flat > 0).sum(axis=1), m)  # m rules per symbol
        np.testing.assert_array_equal(flat[flat > 0], 1.0 / m)  # uniform over them
    assert not np.array_equal(rules[0], rules[1])  # drawn anew per level


def test_model_structure_and_seed():
    model = build_rhm(v=6, n_c=3, m=3, s=2, depth=3, seed=4)
    assert (model.q, model.classes, model.arity, model.depth, model.length) == (6, 3, 2, 3, 8)
    assert model.per_level and model.productions.shape == (3, 6, 6, 6)
    np.testing.assert_array_equal(model.root_prior, [1 / 3] * 3 + [0] * 3)
    again = build_rhm(v=6, n_c=3, m=3, s=2, depth=3, seed=4)
    np.testing.assert_array_equal(model.productions, again.productions)
    other = build_rhm(v=6, n_c=3, m=3, s=2, depth=3, seed=5)
    assert not np.array_equal(model.productions, other.productions)
    shared = build_rhm(v=6, n_c=3, m=3, s=2, depth=3, seed=4, shared_rules=True)
    assert not shared.per_level and shared.productions.shape == (6, 6, 6)
    np.testing.assert_array_equal(shared.productions, model.productions[0])


def test_unambiguous_rules_give_the_root_from_the_leaves():
    model = build_rhm(v=8, n_c=4, m=4, s=3, depth=2, seed=0)
    sample = model.sample(3000, 2)
    assert set(np.unique(sample.roots)) == {0, 1, 2, 3}
    post = BeliefPropagation(model).run(sample.leaves, full=False)
    np.testing.assert_array_equal(post.root.argmax(axis=1), sample.roots)
    np.testing.assert_allclose(post.root.max(axis=1), 1.0)


def test_paper_grammar_at_sigma_0_is_an_rhm():
    """Uniform weights over a parent's q tuples, each tuple used once: the RHM with v = q,
    m = q, s = 2, n_c = q and shared rules (the same law up to the draw of the rules)."""
    from hbench_tree.grammar import random_productions

    q = 4
    paper = random_productions(q, 0.0, 0)
    rhm = build_rhm(v=q, n_c=q, m=q, s=2, depth=2, shared_rules=True).productions
    for m in (paper, rhm):
        flat = m.reshape(q, -1)
        np.testing.assert_array_equal((flat > 0).sum(axis=0), 1)  # every tuple used once
        np.testing.assert_allclose(flat[flat > 0], 1 / q)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"v": 4, "n_c": 5}, r"^n_c=5 is invalid: an integer in \[2, 4\]"),
        (
            {"v": 4, "n_c": 2, "m": 5, "s": 2},
            r"^m=5 is invalid: an integer in \[1, 4\]: v\*m rules",
        ),
        ({"v": 3, "n_c": 2, "m": 10, "s": 3}, r"^m=10 is invalid: an integer in \[1, 9\]"),
        ({"v": 1}, r"^v=1 is invalid"),
        ({"s": 1}, r"^s=1 is invalid"),
        ({"depth": 0}, r"^depth=0 is invalid"),
        ({"m": 0}, r"^m=0 is invalid"),
        ({"seed": -1}, r"^seed=-1 is invalid"),
    ],
)
def test_bad_parameters_are_refused(options, message):
    with pytest.raises(UsageError, match=message):
        build_rhm(**options)
