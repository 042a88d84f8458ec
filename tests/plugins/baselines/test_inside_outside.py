"""The E-step of tree-em against enumeration: expected production counts, root counts and the
log-likelihood, for every small family (arity 3, per-level tensors, sparse and ambiguous
grammars), with masked leaves, clamped nodes and sequence weights."""

from __future__ import annotations

import numpy as np
import pytest
from brute_force import joint_table
from small_trees import small_models

from hbench_baselines.inside_outside import expected_counts


def _levels(model) -> np.ndarray:
    """(depth, q, ..., q): one tensor per level, a shared one repeated."""
    if model.per_level:
        return np.asarray(model.productions)
    return np.stack([model.productions] * model.depth)


def brute_counts(model, leaves, clamp, weights):
    """Sum over sequences of P(parent, children | evidence) at every node, by enumeration."""
    q, s, depth = model.q, model.arity, model.depth
    roots, nodes, p = joint_table(
        model.productions, model.root_prior, depth, 0, arity=s, per_level=model.per_level
    )
    nodes = {0: roots[:, None], **nodes}
    counts = np.zeros((depth, q, q**s))
    root = np.zeros(q)
    loglik = 0.0
    for row, observed in enumerate(leaves):
        agrees = ((observed < 0) | (nodes[depth] == observed)).all(axis=1)
        for d, values in clamp.items():
            fixed = np.asarray(values[row]).reshape(-1)
            agrees &= ((fixed < 0) | (nodes[d] == fixed)).all(axis=1)
        weight = p * agrees
        evidence = weight.sum()
        if evidence == 0:
            continue
        posterior = weight / evidence
        loglik += weights[row] * np.log(evidence)
        root += weights[row] * np.bincount(roots, posterior, minlength=q)
        for d in range(depth):
            for j in range(s**d):
                flat = nodes[d][:, j]
                for i in range(s):
                    flat = flat * q + nodes[d + 1][:, s * j + i]
                table = np.bincount(flat, posterior, minlength=q ** (s + 1))
                counts[d] += weights[row] * table.reshape(q, q**s)
    return counts, root, loglik


@pytest.mark.parametrize("leaf_table", [True, False], ids=["leaf-table", "contracted"])
@pytest.mark.parametrize(
    ("name", "model"), small_models(general=True), ids=[n for n, _ in small_models(general=True)]
)
def test_expected_counts_match_enumeration(
    name: str, model, leaf_table: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both ways of handling the leaves' parents (a lookup table, or contracted like any
    level) give the enumerated counts."""
    import hbench_baselines.inside_outside as io

    if not leaf_table:
        monkeypatch.setattr(io, "MAX_LEAF_TABLE", 0)
    rng = np.random.default_rng(0)
    n = 6
    sample = model.sample(n, 1, internal=True)
    leaves = np.asarray(sample.leaves, dtype=np.int64)
    leaves[rng.random(leaves.shape) < 0.3] = -1  # some leaves unobserved
    roots = np.asarray(sample.roots, dtype=np.int64)
    roots[::2] = -1  # half the roots clamped
    clamp = {0: roots[:, None]}
    if model.depth > 1:
        middle = np.asarray(sample.nodes[1], dtype=np.int64)
        middle[rng.random(middle.shape) < 0.5] = -1
        clamp[1] = middle
    weights = rng.integers(1, 4, size=n).astype(float)
    got = expected_counts(
        _levels(model), model.root_prior, leaves, arity=model.arity, clamp=clamp, weights=weights
    )
    counts, root, loglik = brute_counts(model, leaves, clamp, weights)
    np.testing.assert_allclose(got.productions, counts, atol=1e-10)
    np.testing.assert_allclose(got.root, root, atol=1e-10)
    assert got.loglik == pytest.approx(loglik, abs=1e-9)
    # every internal node of every sequence is counted once
    nodes = np.array([model.arity**d for d in range(model.depth)])
    np.testing.assert_allclose(got.productions.sum(axis=(1, 2)), nodes * weights.sum())


def test_chunks_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunking the sequences changes nothing but the rounding."""
    import hbench_baselines.inside_outside as io

    model = small_models()[0][1]
    leaves = np.asarray(model.sample(50, 2).leaves, dtype=np.int64)
    whole = expected_counts(_levels(model), model.root_prior, leaves, arity=2)
    monkeypatch.setattr(io, "CHUNK_NUMBERS", 1)
    chunked = io.expected_counts(_levels(model), model.root_prior, leaves, arity=2)
    np.testing.assert_allclose(chunked.productions, whole.productions, atol=1e-9)
    assert chunked.loglik == pytest.approx(whole.loglik)
