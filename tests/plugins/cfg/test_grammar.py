"""The cfg grammar: seeded construction, the sampler against the exact law of leaf strings
(chi-square over every string), its padding and lengths, bad options refused in one line
before any work, and the registrations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from pydantic import ValidationError
from stats import chi_square_pvalue

from hbench.contracts import PAD, Sample, grammar_capabilities
from hbench.errors import UsageError
from hbench.registry.registry import get_registry
from hbench_cfg.grammar import CFGrammar, build_cfg


def exact_law(grammar: CFGrammar) -> dict[tuple, float]:
    """P(string) by expanding level by level: every sequence of rules, multiplied out."""
    states = {(int(r),): p for r, p in enumerate(grammar.root_prior) if p > 0}
    for level in grammar.rules:
        new: dict[tuple, float] = {}
        for nodes, p in states.items():
            choices = [np.flatnonzero(level.parent == a) for a in nodes]
            for picked in itertools.product(*choices):
                children = tuple(
                    int(b) for r in picked for b in level.children[r, : level.arity[r]]
                )
                weight = p * float(np.prod(level.probability[list(picked)]))
                new[children] = new.get(children, 0.0) + weight
        states = new
    return states


@pytest.mark.parametrize(
    "grammar",
    [
        build_cfg([1, 2, 2], seed=1),
        build_cfg([2, 2, 3], seed=2, sigma=1.0),
        build_cfg([1, 2, 2, 2], seed=3, sigma=0.5),
    ],
    ids=["1-2-2", "2-2-3-sigma", "1-2-2-2"],
)
def test_sampler_draws_the_exact_law(grammar):
    law = exact_law(grammar)
    assert sum(law.values()) == pytest.approx(1.0)
    strings = sorted(law)
    index = {s: i for i, s in enumerate(strings)}
    sample = grammar.sample(20000, seed=0)
    counts = np.zeros(len(strings))
    for row, n in zip(sample.leaves, sample.lengths, strict=True):  # test-side tally only
        counts[index[tuple(int(v) for v in row[:n])]] += 1
    assert chi_square_pvalue(counts, np.array([law[s] for s in strings])) > 1e-3


def test_sample_shapes_padding_and_roots():
    grammar = build_cfg([2, 3, 3, 3], seed=0)
    sample = grammar.sample(500, seed=1, internal=True)
    assert isinstance(sample, Sample)
    assert sample.leaves.shape == (500, grammar.length) == (500, 27)
    n = sample.lengths
    assert n.min() >= grammar.min_length and n.max() <= grammar.max_length
    positions = np.arange(grammar.length)[None, :]
    np.testing.assert_array_equal(sample.leaves == PAD, positions >= n[:, None])
    assert sample.leaves[sample.leaves != PAD].max() < grammar.q
    assert set(np.unique(sample.roots)) <= {0, 1}
    assert sorted(sample.nodes) == [1, 2]
    assert np.all((sample.nodes[1] != PAD).sum(axis=1) >= 2)


def test_seeding():
    a = build_cfg([1, 3, 3, 3], seed=5, sigma=1.0)
    b = build_cfg([1, 3, 3, 3], seed=5, sigma=1.0)
    c = build_cfg([1, 3, 3, 3], seed=6, sigma=1.0)
    for la, lb in zip(a.rules, b.rules, strict=True):
        np.testing.assert_array_equal(la.children, lb.children)
        np.testing.assert_array_equal(la.probability, lb.probability)
    assert any(
        la.children.shape != lc.children.shape or np.any(la.children != lc.children)
        for la, lc in zip(a.rules, c.rules, strict=True)
    )
    s1, s2, s3 = a.sample(300, seed=1), a.sample(300, seed=1), a.sample(300, seed=2)
    np.testing.assert_array_equal(s1.leaves, s2.leaves)
    np.testing.assert_array_equal(s1.lengths, s2.lengths)
    assert np.any(s1.leaves != s3.leaves)
    # a SeedSequence seeds too, and several blocks give the same arrays every time
    big = a.sample(9000, seed=np.random.SeedSequence(3))
    again = a.sample(9000, seed=np.random.SeedSequence(3))
    np.testing.assert_array_equal(big.leaves, again.leaves)


def test_rules_have_the_asked_shape():
    grammar = build_cfg([1, 4, 4, 5], rules=2, max_rules=3, arities=[3], sigma=2.0, seed=0)
    for d, level in enumerate(grammar.rules):
        counts = np.bincount(level.parent, minlength=grammar.symbols[d])
        assert counts.min() >= 2 and counts.max() <= 3
        assert np.all(level.arity == 3)
        np.testing.assert_allclose(
            np.bincount(level.parent, weights=level.probability), np.ones(grammar.symbols[d])
        )
        rhs = {(int(p), *map(int, c)) for p, c in zip(level.parent, level.children, strict=True)}
        assert len(rhs) == level.parent.shape[0]  # distinct right-hand sides per parent
    assert grammar.length == 27 and grammar_capabilities(grammar).arity == 3


def _create(**options):
    return get_registry().get("grammar", "cfg").create(options)


def test_registered_grammar_filter_and_oracle():
    grammar = _create(q=3, depth=3, nonterminals=2, seed=4)
    assert grammar.symbols == (1, 2, 2, 3) and grammar.q == 3 and grammar.depth == 3
    explicit = _create(symbols=[2, 3, 4], depth=2)
    assert explicit.q == 4 and explicit.classes == 2
    derived = _create(symbols=[1, 2, 2, 5])  # the levels give depth and q
    assert (derived.depth, derived.q) == (3, 5)
    cfg_filter = get_registry().get("filter", "cfg").create()
    assert cfg_filter.apply(grammar, 0) is grammar
    with pytest.raises(UsageError, match="only level 0"):
        cfg_filter.apply(grammar, 1)
    oracle = get_registry().get("oracle", "inside-outside").create()
    sample = grammar.sample(10, seed=0)
    post = oracle.posteriors(grammar, sample.leaves)
    assert post.root.shape == (10, 3) and np.all(np.isfinite(post.loglik))
    with pytest.raises(UsageError, match="grammar 'cfg'"):
        oracle.posteriors(object(), sample.leaves)


@pytest.mark.parametrize(
    "options, field",
    [
        ({"symbols": [1, 2, 2], "depth": 3}, "symbols"),
        ({"symbols": [1, 2, 1], "depth": 2}, "symbols"),
        ({"symbols": [1, 2, 3], "depth": 2, "q": 4}, "q="),
        ({"arities": [2, 4]}, "arities"),
        ({"arities": []}, "arities"),
        ({"rules": 3, "max_rules": 2}, "max_rules"),
        ({"max_rules": 20, "nonterminals": 2, "q": 2, "arities": [2]}, "max_rules"),
        ({"depth": 8}, "depth"),
        ({"sigma": -1}, "sigma"),
        ({"colour": 1}, "colour"),
    ],
)
def test_bad_options_are_refused_in_one_line(options, field):
    entry = get_registry().get("grammar", "cfg")
    with pytest.raises((UsageError, ValidationError)) as caught:
        entry.validate_config(options)
    assert field in str(caught.value)


def test_oracle_refuses_bad_leaves_in_one_line():
    grammar = build_cfg([1, 2, 2], seed=1)
    oracle = get_registry().get("oracle", "inside-outside").create()
    for leaves, text in (
        (np.array([[0, 5]]), "leaves[0, 1]=5"),
        (np.array([[0, PAD, 1]]), "padding before a symbol"),
        (np.array([[0.5, 1.0]]), "integer"),
    ):
        with pytest.raises(UsageError, match=text.replace("[", r"\[").replace("]", r"\]")):
            oracle.posteriors(grammar, leaves)
