"""The generation yardsticks (`hbench_tree.generation`) equal enumeration on small trees:
n-gram marginals, block marginals, coherence depth and log-likelihood, at every filter level
and for the general families (arity 3, per-level rules, n_c < q, sparse rules)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from brute_force import grammar_args, leaf_law
from small_trees import every_filter_level

from hbench.errors import UsageError
from hbench_tree.bp import BeliefPropagation
from hbench_tree.factories import BPOracle
from hbench_tree.generation import (
    coherence,
    log_likelihood,
    ngram_frequencies,
    ngram_index,
    ngram_marginals,
    total_variation,
)
from hbench_tree.grammar import build_grammar


def _law(model) -> dict[tuple, float]:
    args, structure = grammar_args(model)
    return leaf_law(*args, **structure)


def _every_string(model) -> np.ndarray:
    return np.array(list(itertools.product(range(model.q), repeat=model.length)))


def _blocks(model, law) -> dict[tuple[int, int], set]:
    """(depth d, start b) -> every block of arity**d leaves that occurs at b in some string of
    positive probability."""
    return {
        (d, b): {s[b : b + model.arity**d] for s in law}
        for d in range(model.depth + 1)
        for b in range(0, model.length, model.arity**d)
    }


def _brute_coherence(model, seen, x) -> int:
    """The largest d whose every aligned block occurs at its place (`_blocks`); -1: not even
    single symbols."""
    c = -1
    for d in range(model.depth + 1):
        size = model.arity**d
        if any(tuple(x[b : b + size]) not in seen[d, b] for b in range(0, model.length, size)):
            break
        c = d
    return c


ORACLE = BPOracle()


@pytest.mark.parametrize("model", every_filter_level(general=True))
def test_ngram_marginals_equal_enumeration(model):
    law = _law(model)
    strings = np.array(list(law))
    weights = np.array(list(law.values()))
    for n in range(1, min(3, model.length) + 1):
        exact = ngram_marginals(ORACLE, model, n)
        index = ngram_index(strings, n, model.q)  # (R, windows)
        brute = np.zeros_like(exact)
        for i in range(exact.shape[0]):
            brute[i] = np.bincount(index[:, i], weights=weights, minlength=model.q**n)
        np.testing.assert_allclose(exact, brute, atol=1e-12)
        np.testing.assert_allclose(exact.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("model", every_filter_level(general=True))
def test_coherence_and_loglik_equal_enumeration(model):
    law = _law(model)
    everything = _every_string(model)
    if everything.shape[0] > 4096:  # a random share of the strings, and every possible one
        rng = np.random.default_rng(0)
        everything = everything[rng.choice(everything.shape[0], 4096, replace=False)]
    x = np.concatenate([everything, np.array(list(law))])
    depth, loglik = coherence(ORACLE, model, x)
    np.testing.assert_array_equal(loglik, log_likelihood(ORACLE, model, x))
    seen = _blocks(model, law)
    for row, c, ll in zip(x, depth, loglik, strict=True):
        p = law.get(tuple(row), 0.0)
        assert c == _brute_coherence(model, seen, row)
        assert (c == model.depth) == (p > 0)
        if p > 0:
            assert ll == pytest.approx(np.log(p), rel=1e-10)
        else:
            assert ll == -np.inf
    assert depth.min() >= -1


def test_coherence_sees_every_level_of_failure():
    """On a sparse grammar the enumeration above meets coherence depths below the top, so the
    comparison covers failures at more than one level."""
    from small_trees import random_ambiguous_model

    model = random_ambiguous_model(3, 2, seed=13, sparsity=0.6)
    depth, _ = coherence(ORACLE, model, _every_string(model))
    assert set(depth.tolist()) == {0, 1, 2}


def test_frequencies_and_total_variation():
    x = np.array([[0, 1, 2], [0, 1, 1]])
    freq = ngram_frequencies(x, 2, 3)
    assert freq.shape == (2, 9)
    assert freq[0, 0 * 3 + 1] == 1.0
    np.testing.assert_allclose(freq[1, [1 * 3 + 2, 1 * 3 + 1]], [0.5, 0.5])
    np.testing.assert_allclose(total_variation(freq, freq), 0.0)
    assert total_variation(np.eye(3)[0], np.eye(3)[1]) == 1.0


def test_samples_of_the_grammar_converge_to_its_marginals():
    model = build_grammar(q=3, depth=3, sigma=1.0, seed=2)
    exact = ngram_marginals(ORACLE, model, 2)
    sample = model.sample(20000, seed=1).leaves
    tv = total_variation(ngram_frequencies(sample, 2, model.q), exact)
    assert tv.max() < 0.03
    depth, _ = coherence(ORACLE, model, sample)
    assert (depth == model.depth).all()


@pytest.mark.parametrize(
    ("sequences", "match"),
    [(np.zeros((2, 5), dtype=np.int64), "shape"), (np.full((2, 8), 3), "symbols")],
)
def test_bad_sequences_are_refused_in_one_line(sequences, match):
    model = build_grammar(q=3, depth=3, seed=0)
    with pytest.raises(UsageError, match=match):
        coherence(ORACLE, model, sequences)


def test_bp_engine_is_the_oracle():
    model = build_grammar(q=2, depth=2, seed=0)
    assert isinstance(ORACLE.engine(model), BeliefPropagation)


def _cfg_law(grammar) -> dict[tuple, float]:
    """P(string) of a layered cfg, by plain recursion over its rules."""

    def derive(d: int, a: int) -> list[tuple[tuple, float]]:
        if d == grammar.depth:
            return [((a,), 1.0)]
        level, out = grammar.rules[d], []
        for r in np.flatnonzero(level.parent == a):
            kids = [int(b) for b in level.children[r, : level.arity[r]]]
            for parts in itertools.product(*(derive(d + 1, b) for b in kids)):
                string = sum((s for s, _ in parts), ())
                out.append((string, float(level.probability[r]) * np.prod([p for _, p in parts])))
        return out

    law: dict[tuple, float] = {}
    for root, prior in enumerate(grammar.root_prior):
        for string, p in derive(0, root) if prior > 0 else []:
            law[string] = law.get(string, 0.0) + prior * p
    return law


@pytest.mark.parametrize(
    ("symbols", "seed"), [([1, 2, 3, 2], 4), ([2, 3, 3], 3), ([1, 2, 2, 2], 6)]
)
def test_cfg_of_binary_rules_equals_enumeration(symbols, seed):
    """A cfg whose rules all have two children has aligned blocks: the same definitions hold,
    through the inside-outside oracle."""
    from hbench_cfg.factories import InsideOutsideOracle
    from hbench_cfg.grammar import build_cfg

    grammar = build_cfg(symbols, seed=seed, arities=[2], sigma=1.0)
    oracle = InsideOutsideOracle()
    law = _cfg_law(grammar)
    strings = np.array(list(law))
    weights = np.array(list(law.values()))
    for n in (1, 2):
        exact = ngram_marginals(oracle, grammar, n)
        index = ngram_index(strings, n, grammar.q)
        for i in range(exact.shape[0]):
            brute = np.bincount(index[:, i], weights=weights, minlength=grammar.q**n)
            np.testing.assert_allclose(exact[i], brute, atol=1e-12)
    everything = _every_string(grammar)
    depth, loglik = coherence(oracle, grammar, everything)
    seen = _blocks(grammar, law)
    for row, c, ll in zip(everything, depth, loglik, strict=True):
        p = law.get(tuple(row), 0.0)
        assert c == _brute_coherence(grammar, seen, row)
        assert ll == (pytest.approx(np.log(p), rel=1e-10) if p > 0 else -np.inf)
