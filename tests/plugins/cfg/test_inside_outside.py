"""The inside-outside oracle of the cfg grammar equals brute-force enumeration of every
derivation of small grammars: log-likelihoods, root, leaf, leave-one-out, next-symbol, span and
ancestor posteriors, with masked leaves and padding."""

from __future__ import annotations

import itertools
from functools import cache

import numpy as np
import pytest

from hbench.contracts import PAD
from hbench_cfg.grammar import CFGrammar, LevelRules, build_cfg
from hbench_cfg.inside_outside import CFGInference


def derivations(grammar: CFGrammar) -> list[tuple[tuple[int, ...], float, list[tuple]]]:
    """Every derivation from the root level: (leaf string, probability, [(level, start, stop,
    symbol) for every internal node]), by plain recursion over the rules."""

    @cache
    def derive(d: int, a: int) -> tuple:
        if d == grammar.depth:
            return (((a,), 1.0, ()),)
        level = grammar.rules[d]
        out = []
        for r in np.flatnonzero(level.parent == a):
            kids = [int(b) for b in level.children[r, : level.arity[r]]]
            for parts in itertools.product(*(derive(d + 1, b) for b in kids)):
                string, prob, spans, offset = (), float(level.probability[r]), [], 0
                for sub, p, sub_spans in parts:
                    spans += [(lv, s + offset, e + offset, sym) for lv, s, e, sym in sub_spans]
                    string += sub
                    prob *= p
                    offset += len(sub)
                out.append((string, prob, tuple([(d, 0, len(string), a), *spans])))
        return tuple(out)

    result = []
    for root, p in enumerate(grammar.root_prior):
        if p > 0:
            result += [(s, p * prob, list(spans)) for s, prob, spans in derive(0, root)]
    return result


def law(grammar: CFGrammar) -> dict[tuple[int, ...], float]:
    out: dict[tuple[int, ...], float] = {}
    for string, p, _ in derivations(grammar):
        out[string] = out.get(string, 0.0) + p
    return out


def agrees(string, observed) -> bool:
    observed = [v for v in observed if v != PAD]
    if len(string) != len(observed):
        return False
    return all(o < 0 or o == s for s, o in zip(string, observed, strict=True))


def brute(grammar: CFGrammar, observed):
    """(loglik, root posterior, leaf posteriors (length, q), span posteriors {(d, i, j): (n_d,)})
    of one observed row (-1 masked, PAD after the end), summing over derivations."""
    q = grammar.q
    length = sum(1 for v in observed if v != PAD)
    total, root = 0.0, np.zeros(grammar.symbols[0])
    leaves = np.zeros((length, q))
    spans: dict[tuple, np.ndarray] = {}
    for string, p, nodes in derivations(grammar):
        if not agrees(string, observed):
            continue
        total += p
        root[nodes[0][3]] += p
        leaves[np.arange(length), list(string)] += p
        for d, i, j, a in nodes:
            spans.setdefault((d, i, j), np.zeros(grammar.symbols[d]))[a] += p
    if total == 0:
        return -np.inf, None, None, None
    return (
        np.log(total),
        root / total,
        leaves / total,
        {key: value / total for key, value in spans.items()},
    )


def explicit_grammar() -> CFGrammar:
    """Two roots, shared right-hand sides (ambiguous), binary and ternary rules."""
    level0 = LevelRules(
        parent=np.array([0, 0, 1, 1]),
        children=np.array([[0, 1, -1], [1, 0, 1], [0, 1, -1], [1, 1, -1]]),
        arity=np.array([2, 3, 2, 2]),
        probability=np.array([0.6, 0.4, 0.3, 0.7]),
    )
    level1 = LevelRules(
        parent=np.array([0, 0, 1, 1, 1]),
        children=np.array([[0, 1, -1], [2, 2, 0], [0, 1, -1], [1, 1, -1], [1, 2, 2]]),
        arity=np.array([2, 3, 2, 2, 3]),
        probability=np.array([0.5, 0.5, 0.2, 0.3, 0.5]),
    )
    return CFGrammar((2, 2, 3), (level0, level1), np.array([0.3, 0.7]))


def grammars() -> list:
    return [
        pytest.param(explicit_grammar(), id="explicit-2-2-3"),
        pytest.param(build_cfg([1, 2, 2], seed=1), id="random-1-2-2"),
        pytest.param(build_cfg([1, 2, 2, 2], seed=2, sigma=1.0), id="random-1-2-2-2"),
        pytest.param(build_cfg([2, 3, 3], seed=3, sigma=0.5, rules=2, max_rules=4), id="r-2-3-3"),
        pytest.param(build_cfg([1, 2, 3, 2], seed=4, arities=[2]), id="binary-1-2-3-2"),
        pytest.param(build_cfg([1, 2, 2], seed=5, arities=[3]), id="ternary-1-2-2"),
    ]


def observed_rows(grammar: CFGrammar, rng: np.random.Generator, count: int = 12) -> np.ndarray:
    """Strings of the grammar with random masks, some strings it cannot produce, padded."""
    strings = sorted(law(grammar))
    width = grammar.length + 1
    rows = np.full((count, width), PAD, dtype=np.int64)
    for r in range(count):
        if r % 4 == 3:  # a random string: usually impossible
            n = int(rng.integers(1, width + 1))
            s = rng.integers(0, grammar.q, size=n)
        else:
            s = np.array(strings[int(rng.integers(len(strings)))])
        s = np.where(rng.random(s.size) < 0.3, -1, s)
        rows[r, : s.size] = s
    return rows


@pytest.mark.parametrize("grammar", grammars())
def test_posteriors_equal_brute_force(grammar: CFGrammar) -> None:
    rows = observed_rows(grammar, np.random.default_rng(0))
    post = CFGInference(grammar, chunk=5).posteriors(rows, leave_one_out=True)
    for r, row in enumerate(rows):
        loglik, root, leaves, _ = brute(grammar, row)
        if not np.isfinite(loglik):
            assert post.loglik[r] == -np.inf
            continue
        np.testing.assert_allclose(post.loglik[r], loglik, rtol=1e-10)
        np.testing.assert_allclose(post.root[r, : root.size], root, atol=1e-12)
        assert np.all(post.root[r, root.size :] == 0)
        n = leaves.shape[0]
        np.testing.assert_allclose(post.leaves[r, :n], leaves, atol=1e-12)
        np.testing.assert_allclose(post.leaves[r, n:], 1 / grammar.q)
        for i in range(n):  # leave one out: the same row with leaf i masked
            masked = row.copy()
            masked[i] = -1
            _, _, loo, _ = brute(grammar, masked)
            np.testing.assert_allclose(post.leave_one_out[r, i], loo[i], atol=1e-12)


@pytest.mark.parametrize("grammar", grammars())
def test_span_and_ancestor_posteriors_equal_brute_force(grammar: CFGrammar) -> None:
    rows = observed_rows(grammar, np.random.default_rng(1), count=8)
    oracle = CFGInference(grammar, chunk=3)
    spans = oracle.span_posteriors(rows)
    ancestors = oracle.ancestor_posteriors(rows)
    for r, row in enumerate(rows):
        loglik, _, leaves, exact = brute(grammar, row)
        if not np.isfinite(loglik):
            continue
        n = leaves.shape[0]
        for d in range(grammar.depth):
            expected = np.zeros_like(spans[d][r])
            anc = np.zeros((n, grammar.symbols[d]))
            for (level, i, j), value in exact.items():
                if level == d:
                    expected[i, j] = value
                    anc[i:j] += value
            np.testing.assert_allclose(spans[d][r], expected, atol=1e-12)
            np.testing.assert_allclose(ancestors[d][r, :n], anc, atol=1e-12)


@pytest.mark.parametrize("grammar", grammars())
def test_next_symbol_equals_brute_force(grammar: CFGrammar) -> None:
    rows = observed_rows(grammar, np.random.default_rng(2), count=8)
    oracle = CFGInference(grammar, chunk=7)
    probabilities, logp = oracle.next_token(rows)
    for r, row in enumerate(rows):
        n = int((row != PAD).sum())
        impossible = False
        for i in range(n):
            prefix = np.where(np.arange(row.size) < i, row, np.where(row == PAD, PAD, -1))
            loglik, _, leaves, _ = brute(grammar, prefix)
            if not np.isfinite(loglik):
                impossible = True
            if impossible:
                np.testing.assert_allclose(probabilities[r, i], 1 / grammar.q)
                assert row[i] < 0 or logp[r, i] == -np.inf
                continue
            np.testing.assert_allclose(probabilities[r, i], leaves[i], atol=1e-12)
            if row[i] >= 0:
                with np.errstate(divide="ignore"):
                    np.testing.assert_allclose(logp[r, i], np.log(leaves[i][row[i]]), rtol=1e-10)
            else:
                assert logp[r, i] == 0
        assert np.all(logp[r, n:] == 0)


@pytest.mark.parametrize("grammar", grammars()[:3])
def test_chain_rule_gives_the_log_likelihood(grammar: CFGrammar) -> None:
    """sum_i log P(x_i | x_<i, n) + log P(n) = log P(x), over sampled sequences."""
    sample = grammar.sample(20, seed=3)
    oracle = CFGInference(grammar)
    _, logp = oracle.next_token(sample.leaves)
    loglik = oracle.posteriors(sample.leaves, full=False).loglik
    lengths = oracle.length_log_probability(sample.lengths)
    np.testing.assert_allclose(logp.sum(axis=1) + lengths, loglik, rtol=1e-10)
    exact = law(grammar)
    for row, value in zip(sample.leaves, loglik, strict=True):
        string = tuple(int(v) for v in row if v != PAD)
        np.testing.assert_allclose(value, np.log(exact[string]), rtol=1e-10)


def test_law_sums_to_one_and_lengths_match() -> None:
    grammar = build_cfg([1, 2, 2, 2], seed=2, sigma=1.0)
    exact = law(grammar)
    assert sum(exact.values()) == pytest.approx(1.0)
    lengths = {len(s) for s in exact}
    assert min(lengths) == grammar.min_length
    assert max(lengths) == grammar.max_length <= grammar.length
    # every possible length has the probability the oracle gives it
    oracle = CFGInference(grammar)
    for n in range(1, grammar.max_length + 2):
        p = sum(v for s, v in exact.items() if len(s) == n)
        got = np.exp(oracle.length_log_probability(np.array([n]))[0])
        assert got == pytest.approx(p, abs=1e-12)


def test_long_sequences_do_not_underflow() -> None:
    """Length up to 81 (depth 4, ternary rules): finite log-likelihoods far below the smallest
    float, and leaf posteriors that are distributions."""
    grammar = build_cfg([1, 3, 3, 3, 3], seed=0, sigma=2.0)
    sample = grammar.sample(16, seed=0)
    post = CFGInference(grammar).posteriors(sample.leaves)
    assert np.all(np.isfinite(post.loglik))
    np.testing.assert_allclose(post.leaves.sum(axis=2), 1.0)
    deep = build_cfg([1, 2, 2, 2, 2, 2, 2], seed=0, arities=[2, 3])
    rows = deep.sample(4, seed=0).leaves
    masked = np.where(rows >= 0, -1, rows)  # every symbol masked: P(length) only
    assert np.all(np.isfinite(CFGInference(deep).posteriors(masked).loglik))


def test_chunks_and_threads_do_not_change_results():
    grammar = build_cfg([2, 3, 3, 3], seed=1, sigma=1.0)
    leaves = grammar.sample(300, seed=4).leaves.astype(np.int64)
    leaves[(np.random.default_rng(0).random(leaves.shape) < 0.2) & (leaves >= 0)] = -1
    one = CFGInference(grammar, chunk=1000, workers=1).posteriors(leaves)
    many = CFGInference(grammar, chunk=7, workers=2).posteriors(leaves)
    np.testing.assert_allclose(many.loglik, one.loglik, rtol=1e-12)
    np.testing.assert_allclose(many.root, one.root, atol=1e-12)
    np.testing.assert_allclose(many.leaves, one.leaves, atol=1e-12)


def test_chunks_shrink_for_large_grammars():
    small = CFGInference(build_cfg([1, 3, 3, 3], seed=0), chunk=512)
    assert small.chunk_size(27) == 512
    big = CFGInference(build_cfg([1, 40, 40, 40], seed=0, max_rules=3), chunk=512)
    assert big.chunk_size(27) < 512
    assert big.chunk_size(27) * big.chart_numbers(27) <= 1 << 27


@pytest.mark.parametrize(
    "grammar",
    [
        pytest.param(build_cfg([1, 2, 3, 2], seed=4, arities=[2]), id="binary-1-2-3-2"),
        pytest.param(build_cfg([2, 2, 2], seed=5, arities=[3]), id="ternary-2-2-2"),
    ],
)
def test_fixed_shape_nodes_equal_brute_force(grammar: CFGrammar) -> None:
    """With one arity the tree's shape is fixed: node j at depth d is the span
    [j w, (j + 1) w), and ``nodes[d]`` holds its posterior (padded to max(q, n_d) columns)."""
    rows = observed_rows(grammar, np.random.default_rng(3), count=10)[:, : grammar.length]
    rows[rows == PAD] = -1  # every row as long as the tree
    post = CFGInference(grammar, chunk=4).posteriors(rows)
    s = grammar.arity
    assert sorted(post.nodes) == list(range(1, grammar.depth))
    for r, row in enumerate(rows):
        loglik, _, _, exact = brute(grammar, row)
        for d in range(1, grammar.depth):
            n_d, w = grammar.symbols[d], s ** (grammar.depth - d)
            assert post.nodes[d].shape[1:] == (s**d, max(grammar.q, n_d))
            assert np.all(post.nodes[d][r, :, n_d:] == 0)
            for j in range(s**d):
                expected = exact[(d, j * w, (j + 1) * w)] if np.isfinite(loglik) else 1 / n_d
                np.testing.assert_allclose(post.nodes[d][r, j, :n_d], expected, atol=1e-12)
    variable = build_cfg([1, 2, 2], seed=1)
    assert CFGInference(variable).posteriors(variable.sample(3, seed=0).leaves).nodes == {}


@pytest.mark.parametrize("grammar", grammars()[:4])
def test_next_symbol_with_the_end_equals_brute_force(grammar: CFGrammar) -> None:
    """P(x_i | x_<i) with the end of the sequence as symbol q, the length unknown: summed over
    every string of the law that agrees with the prefix."""
    exact = law(grammar)
    rows = observed_rows(grammar, np.random.default_rng(4), count=6)
    probabilities, logp = CFGInference(grammar, chunk=64).next_symbol(rows)
    q = grammar.q
    for r, row in enumerate(rows):
        n = int((row != PAD).sum())
        dead = False
        for i in range(n + 1):
            weights = np.zeros(q + 1)
            for string, p in exact.items():
                if len(string) < i or any(0 <= row[k] != string[k] for k in range(i)):
                    continue
                weights[string[i] if len(string) > i else q] += p
            if weights.sum() == 0:
                dead = True
            if dead:
                np.testing.assert_allclose(probabilities[r, i], 1 / (q + 1))
                assert logp[r, i] == -np.inf or (i < n and row[i] < 0)
                continue
            expected = weights / weights.sum()
            np.testing.assert_allclose(probabilities[r, i], expected, atol=1e-12)
            follow = q if i == n else row[i]
            if follow >= 0:
                with np.errstate(divide="ignore"):
                    np.testing.assert_allclose(logp[r, i], np.log(expected[follow]), rtol=1e-10)
        assert np.all(logp[r, n + 1 :] == 0)


def test_next_symbol_chain_rule_gives_the_log_likelihood():
    grammar = build_cfg([1, 2, 2, 2], seed=2, sigma=1.0)
    sample = grammar.sample(10, seed=5)
    oracle = CFGInference(grammar)
    _, logp = oracle.next_symbol(sample.leaves)
    loglik = oracle.posteriors(sample.leaves, full=False).loglik
    np.testing.assert_allclose(logp.sum(axis=1), loglik, rtol=1e-10)


def test_next_token_chunks_and_threads_do_not_change_results():
    grammar = build_cfg([1, 3, 3, 3], seed=2, sigma=1.0)
    leaves = grammar.sample(200, seed=1).leaves
    one = CFGInference(grammar, chunk=1000, workers=1).next_token(leaves)
    many = CFGInference(grammar, chunk=9, workers=2).next_token(leaves)
    np.testing.assert_allclose(many[0], one[0], atol=1e-12)
    np.testing.assert_allclose(many[1], one[1], rtol=1e-12)
