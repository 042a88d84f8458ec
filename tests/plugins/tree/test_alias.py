"""Alias tables encode exactly the distributions they were built from."""

from __future__ import annotations

import numpy as np
import pytest

from hbench_tree.alias import AliasTable


def _implied(table: AliasTable, rows: int) -> np.ndarray:
    """The law a table draws from: column i w.p. 1/K, kept w.p. prob[i], else alias[i]."""
    k = table.outcomes
    prob, alias = table.prob.reshape(rows, k), table.alias.reshape(rows, k)
    law = np.zeros((rows, k))
    for r in range(rows):
        np.add.at(law[r], np.arange(k), prob[r] / k)
        np.add.at(law[r], alias[r], (1 - prob[r]) / k)
    return law


@pytest.mark.parametrize("k", [1, 2, 3, 7, 16])
def test_tables_reproduce_the_probabilities(k):
    rng = np.random.default_rng(k)
    p = rng.random((50, k)) ** 3
    p[rng.random(p.shape) < 0.3] = 0
    p[:, 0] += 1e-3
    p /= p.sum(axis=1, keepdims=True)
    table = AliasTable.build(p)
    np.testing.assert_allclose(_implied(table, 50), p, atol=1e-13)


def test_draws_follow_the_table():
    p = np.array([[0.5, 0.0, 0.25, 0.25], [0.1, 0.2, 0.3, 0.4]])
    table = AliasTable.build(p)
    rng = np.random.default_rng(0)
    rows = np.repeat([0, 1], 200_000)
    outcomes = table.draw(rows, rng.random(rows.size))
    for r in (0, 1):
        freq = np.bincount(outcomes[rows == r], minlength=4) / 200_000
        np.testing.assert_allclose(freq, p[r], atol=4e-3)
    assert not np.any(outcomes[rows == 0] == 1)
    edge = table.draw(np.array([1]), np.array([np.nextafter(1.0, 0.0)]))
    assert 0 <= edge[0] < 4
