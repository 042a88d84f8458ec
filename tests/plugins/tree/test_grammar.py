"""The tree model: validation of every parameter, the paper's grammar, and filtered transitions."""

from __future__ import annotations

import dataclasses
import itertools
from functools import reduce

import numpy as np
import pytest

from hbench.errors import UsageError
from hbench_tree.grammar import (
    MAX_DEPTH,
    TreeGrammar,
    build_grammar,
    check_productions,
    check_root_prior,
    random_productions,
    symbol_dtype,
)


def uniform_productions(q: int) -> np.ndarray:
    return np.full((q, q, q), 1.0 / q**2)


def uniform_prior(q: int) -> np.ndarray:
    return np.full(q, 1.0 / q)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize("q", [1, 0, -3, 2.0, "4", None])
def test_random_productions_rejects_bad_q(q) -> None:
    with pytest.raises(UsageError, match=r"^q=.* is invalid: an integer >= 2"):
        random_productions(q, 1.0, 0)


@pytest.mark.parametrize("sigma", [-0.1, -np.inf, np.inf, np.nan])
def test_random_productions_rejects_bad_sigma(sigma) -> None:
    with pytest.raises(UsageError, match=r"^sigma=.* is invalid: a finite number >= 0"):
        random_productions(3, sigma, 0)


@pytest.mark.parametrize("q", [1, 0])
def test_build_model_rejects_bad_q(q) -> None:
    with pytest.raises(UsageError, match=f"q={q} is invalid"):
        build_grammar(q=q, depth=3)


def test_build_model_needs_q_or_productions() -> None:
    with pytest.raises(UsageError, match="q is required"):
        build_grammar(q=None, depth=3)


@pytest.mark.parametrize("depth", [0, -1, MAX_DEPTH + 1, 2.5, "3", None])
def test_rejects_bad_depth(depth) -> None:
    with pytest.raises(
        UsageError, match=rf"^depth=.* is invalid: an integer in \[1, {MAX_DEPTH}\]"
    ):
        TreeGrammar(uniform_productions(2), uniform_prior(2), depth)


def test_accepts_extreme_depths() -> None:
    assert TreeGrammar(uniform_productions(2), uniform_prior(2), 1).length == 2
    assert TreeGrammar(uniform_productions(2), uniform_prior(2), MAX_DEPTH).length == 2**MAX_DEPTH
    assert TreeGrammar(uniform_productions(2), uniform_prior(2), np.int64(3)).depth == 3


@pytest.mark.parametrize("level", [-1, 4, 10, 1.0, None])
def test_rejects_filter_outside_0_to_depth(level) -> None:
    model = build_grammar(q=3, depth=3)
    with pytest.raises(UsageError, match=r"^filter=.* is invalid: an integer in \[0, 3\]"):
        model.filtered(level)
    with pytest.raises(UsageError, match="filter="):
        TreeGrammar(model.productions, model.root_prior, 3, level)


@pytest.mark.parametrize("level", [0, 1, 3])
def test_accepts_every_filter_level(level) -> None:
    model = build_grammar(q=3, depth=3).filtered(level)
    assert model.filter_level == level and model.filter_level_nodes == 2**level


def test_filter_tables_that_cannot_fit_are_refused(monkeypatch) -> None:
    monkeypatch.setenv("HBENCH_MEMORY_LIMIT", "1e6")
    model = build_grammar(q=8, depth=12)
    with pytest.raises(UsageError, match="filter tables for filter=12, q=8 needs an estimated"):
        model.filtered(12)


BAD_PRODUCTIONS = {
    "matrix": (np.full((3, 3), 1 / 9), r"productions='array of shape \(3, 3\)' is invalid"),
    "not-cubic": (np.full((3, 3, 2), 1 / 6), r"shape \(q, q, q\)"),
    "four-axes": (np.full((2, 2, 2, 2), 1 / 8), r"shape \(2, 2, 2, 2\)"),
    "q-1": (np.ones((1, 1, 1)), r"q >= 2"),
    "empty": (np.zeros((0, 0, 0)), r"q >= 2"),
    "negative": (
        np.array([[[0.6, -0.1], [0.25, 0.25]], [[0.25, 0.25], [0.25, 0.25]]]),
        r"productions\[0, 0, 1\]=-0\.1 is invalid: non-negative values",
    ),
    "unnormalised": (uniform_productions(2) * 1.5, r"sum of productions\[0\]=1\.5 is invalid"),
    "one-row-unnormalised": (
        np.concatenate([uniform_productions(2)[:1], np.zeros((1, 2, 2))]),
        r"sum of productions\[1\]=0\.0 is invalid: each parent's productions must sum to 1",
    ),
    "nan": (np.full((2, 2, 2), np.nan), r"non-finite entries"),
    "inf": (np.where(np.eye(2)[:, :, None] > 0, np.inf, 0.0) + np.zeros((2, 2, 2)), "non-finite"),
    "complex": (uniform_productions(2).astype(complex), r"dtype complex128.*real numeric"),
    "strings": (np.full((2, 2, 2), "a"), r"dtype <U1.*real numeric"),
}


@pytest.mark.parametrize(("tensor", "message"), BAD_PRODUCTIONS.values(), ids=BAD_PRODUCTIONS)
def test_rejects_bad_productions(tensor, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        TreeGrammar(tensor, uniform_prior(max(tensor.shape[0], 1)), 2)
    with pytest.raises(UsageError, match=message):
        build_grammar(productions=tensor, depth=2)
    with pytest.raises(UsageError, match=message):
        check_productions(tensor)


def test_productions_within_tolerance_are_renormalised_exactly() -> None:
    tensor = uniform_productions(3) * (1 + 1e-8)
    checked = check_productions(tensor)
    np.testing.assert_allclose(checked.sum(axis=(1, 2)), 1.0, rtol=0, atol=1e-15)
    assert checked.dtype == np.float64
    integers = np.zeros((2, 2, 2), dtype=np.int64)
    integers[0, 0, 0] = integers[1, 1, 1] = 1
    assert check_productions(integers).dtype == np.float64


BAD_PRIORS = {
    "too-short": (np.full(2, 0.5), r"root_prior='array of shape \(2,\)' is invalid: shape \(3,\)"),
    "too-long": (np.full(4, 0.25), r"shape \(4,\)"),
    "matrix": (np.full((1, 3), 1 / 3), r"shape \(1, 3\)"),
    "negative": (np.array([0.5, 0.6, -0.1]), r"finite, non-negative probabilities"),
    "nan": (np.array([np.nan, 0.5, 0.5]), r"finite, non-negative"),
    "unnormalised": (np.full(3, 0.5), r"sum of root_prior=1\.5 is invalid"),
}


@pytest.mark.parametrize(("prior", "message"), BAD_PRIORS.values(), ids=BAD_PRIORS)
def test_rejects_bad_root_prior(prior, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        TreeGrammar(uniform_productions(3), prior, 2)
    with pytest.raises(UsageError, match=message):
        build_grammar(q=3, depth=2, root_prior=prior)
    with pytest.raises(UsageError, match=message):
        check_root_prior(prior, 3)


def test_build_model_from_files(tmp_path) -> None:
    tensor = random_productions(3, 0.5, 4)
    np.save(tmp_path / "M.npy", tensor)
    np.save(tmp_path / "p.npy", np.array([0.5, 0.25, 0.25]))

    model = build_grammar(
        productions=tmp_path / "M.npy", root_prior=str(tmp_path / "p.npy"), depth=2
    )

    np.testing.assert_array_equal(model.productions, tensor)
    np.testing.assert_array_equal(model.root_prior, [0.5, 0.25, 0.25])
    assert model.q == 3
    with pytest.raises(UsageError, match=r"q=4 is invalid: the q of the productions tensor \(3\)"):
        build_grammar(productions=tensor, q=4, depth=2)
    with pytest.raises(UsageError, match=r"--productions='.*missing\.npy' is invalid"):
        build_grammar(productions=tmp_path / "missing.npy", depth=2)
    with pytest.raises(UsageError, match=r"--root-prior='.*missing\.npy' is invalid"):
        build_grammar(q=3, root_prior=tmp_path / "missing.npy", depth=2)


def test_model_is_immutable() -> None:
    model = build_grammar(q=3, depth=2)
    with pytest.raises(ValueError):
        model.productions[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        model.root_prior[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.depth = 3  # type: ignore[misc]


def test_model_does_not_alias_the_callers_arrays() -> None:
    tensor = uniform_productions(2)
    prior = uniform_prior(2)
    model = TreeGrammar(tensor, prior, 2)
    tensor[0, 0, 0] = 7.0
    prior[0] = 7.0
    assert model.productions[0, 0, 0] == 0.25 and model.root_prior[0] == 0.5


# --- the paper's grammar -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "sigma", "seed"), [(2, 1.0, 0), (4, 1.0, 0), (5, 3.0, 9), (7, 0.5, 2)]
)
def test_paper_grammar_structure(q: int, sigma: float, seed: int) -> None:
    m = random_productions(q, sigma, seed)

    assert m.shape == (q, q, q) and m.dtype == np.float64
    assert np.all(m >= 0)
    np.testing.assert_allclose(m.sum(axis=(1, 2)), 1.0, rtol=0, atol=1e-12)
    parents = (m > 0).sum(axis=0)
    np.testing.assert_array_equal(parents, np.ones((q, q)))  # each ordered pair: one parent
    np.testing.assert_array_equal((m > 0).sum(axis=(1, 2)), np.full(q, q))  # q pairs each
    model = build_grammar(q=q, sigma=sigma, seed=seed, depth=2)
    np.testing.assert_allclose(model.productions, m, rtol=1e-15, atol=0)
    np.testing.assert_allclose(model.root_prior, np.full(q, 1 / q), rtol=1e-15, atol=0)


def test_sigma_zero_gives_uniform_weights() -> None:
    m = random_productions(4, 0.0, 3)
    np.testing.assert_allclose(m[m > 0], 0.25, rtol=0, atol=1e-15)
    assert np.count_nonzero(m) == 16


def test_larger_sigma_gives_more_uneven_weights() -> None:
    def entropy(m: np.ndarray) -> float:
        p = m[m > 0]
        return float(-(p * np.log(p)).sum())

    assert entropy(random_productions(4, 0.0, 1)) > entropy(random_productions(4, 1.0, 1))
    assert entropy(random_productions(4, 1.0, 1)) > entropy(random_productions(4, 5.0, 1))


def test_grammar_seed() -> None:
    np.testing.assert_array_equal(random_productions(4, 1.0, 0), random_productions(4, 1.0, 0))
    assert not np.array_equal(random_productions(4, 1.0, 0), random_productions(4, 1.0, 1))
    # the support (which parent owns which pair) changes too, not only the weights
    assert not np.array_equal(random_productions(4, 0.0, 0), random_productions(4, 0.0, 1))
    assert not np.array_equal(
        build_grammar(q=4, depth=2, seed=0).productions,
        build_grammar(q=4, depth=2, seed=1).productions,
    )


# --- filtering ---------------------------------------------------------------------------------


def test_marginals() -> None:
    model = build_grammar(q=3, depth=2, seed=5)
    m = model.productions
    for a, b in itertools.product(range(3), repeat=2):
        assert model.left_marginal[a, b] == pytest.approx(sum(m[a, b, c] for c in range(3)))
        assert model.right_marginal[a, b] == pytest.approx(sum(m[a, c, b] for c in range(3)))
    np.testing.assert_allclose(model.left_marginal.sum(axis=1), 1.0)
    np.testing.assert_allclose(model.right_marginal.sum(axis=1), 1.0)


def ambiguous_model(q: int, depth: int, seed: int) -> TreeGrammar:
    rng = np.random.default_rng(seed)
    m = rng.random((q, q, q))
    m /= m.sum(axis=(1, 2), keepdims=True)
    return TreeGrammar(m, uniform_prior(q), depth)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
@pytest.mark.parametrize("model", [build_grammar(q=3, depth=3, seed=2), ambiguous_model(4, 3, 1)])
def test_path_transitions_are_products_along_the_path(model: TreeGrammar, level: int) -> None:
    filtered = model.filtered(level)
    transitions = filtered.path_transitions
    q = model.q
    by_bit = {0: model.left_marginal, 1: model.right_marginal}

    assert transitions.shape == (2**level, q, q)
    for j in range(2**level):
        bits = [(j >> (level - 1 - i)) & 1 for i in range(level)]  # most significant first
        expected = reduce(np.matmul, [by_bit[bit] for bit in bits], np.eye(q))
        np.testing.assert_allclose(transitions[j], expected, rtol=0, atol=1e-14)
    np.testing.assert_allclose(transitions.sum(axis=2), 1.0, rtol=0, atol=1e-12)
    assert np.all(transitions >= 0)


def test_path_transitions_left_and_right_differ() -> None:
    model = build_grammar(q=4, depth=2, seed=0).filtered(2)
    t = model.path_transitions
    ml, mr = model.left_marginal, model.right_marginal
    np.testing.assert_allclose(t[0], ml @ ml)  # left, left
    np.testing.assert_allclose(t[1], ml @ mr)  # left, then right
    np.testing.assert_allclose(t[2], mr @ ml)
    np.testing.assert_allclose(t[3], mr @ mr)
    assert not np.allclose(t[1], t[2])


def test_filtered_keeps_the_grammar() -> None:
    model = build_grammar(q=3, depth=4, seed=1, root_prior=np.array([0.2, 0.3, 0.5]))
    filtered = model.filtered(2)
    assert filtered is not model and model.filter_level == 0
    np.testing.assert_allclose(filtered.productions, model.productions, rtol=1e-15, atol=0)
    np.testing.assert_allclose(filtered.root_prior, model.root_prior, rtol=1e-15, atol=0)
    assert filtered.describe() == {"q": 3, "depth": 4, "filter": 2, "length": 16}
    assert filtered.filtered(0).filter_level == 0


@pytest.mark.parametrize(
    ("q", "dtype"), [(2, np.int8), (127, np.int8), (128, np.int16), (40000, np.int32)]
)
def test_symbol_dtype(q: int, dtype) -> None:
    assert symbol_dtype(q) == np.dtype(dtype)
