"""The oracle table: BP of every filter level on data of every level."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hbench.errors import UsageError
from hbench.run.oracle_table import OracleTable, oracle_table
from hbench_tree.factories import BPOracle, HierarchicalFilter
from hbench_tree.grammar import build_grammar


@pytest.fixture(scope="module")
def model():
    return build_grammar(q=3, depth=3, sigma=1.0, seed=2)


def table(model, task: str = "root", n: int = 1500, seed: int = 0, **kwargs) -> OracleTable:
    return oracle_table(
        model, HierarchicalFilter(), BPOracle(), task=task, n=n, seed=seed, **kwargs
    )


@pytest.mark.parametrize("task", ["root", "mlm"])
def test_deterministic_for_a_seed(model, task: str) -> None:
    first = table(model, task, n=300, seed=4)
    second = table(model, task, n=300, seed=4)
    other = table(model, task, n=300, seed=5)

    np.testing.assert_array_equal(first.accuracy, second.accuracy)
    assert not np.array_equal(first.accuracy, other.accuracy)
    assert first.to_json() == second.to_json()


@pytest.mark.parametrize("task", ["root", "mlm"])
def test_shape_and_range(model, task: str) -> None:
    result = table(model, task, n=200)
    assert result.levels == [0, 1, 2, 3]
    assert result.accuracy.shape == (4, 4)
    assert np.all((result.accuracy >= 0) & (result.accuracy <= 1))
    assert (result.task, result.n, result.seed, result.q) == (task, 200, 0, 3)
    assert result.stderr.shape == (4, 4)
    np.testing.assert_allclose(
        result.stderr, np.sqrt(result.accuracy * (1 - result.accuracy) / 200)
    )


def test_root_task_on_the_unambiguous_grammar(model) -> None:
    result = table(model, "root")
    accuracy = result.accuracy
    assert accuracy[0, 0] == 1.0  # at k = 0 the leaves determine the whole tree
    diagonal = np.diag(accuracy)
    assert np.all(np.diff(diagonal) < 0), diagonal
    # BP_k' is Bayes-optimal on data of level k': no other row beats it beyond noise
    for j in range(4):
        assert np.all(accuracy[:, j] <= accuracy[j, j] + 2 * result.stderr[j, j]), accuracy


def test_mlm_beats_chance_at_every_level(model) -> None:
    result = table(model, "mlm", n=3000)
    diagonal = np.diag(result.accuracy)
    chance = 1 / model.q
    assert np.all(diagonal > chance + 4 * np.sqrt(chance * (1 - chance) / 3000)), diagonal
    # even at k = depth, where only the root links the leaves
    assert result.accuracy[3, 3] > chance + 0.05


def test_numpy_integers_are_accepted(model) -> None:
    result = table(model, n=np.int64(20), seed=np.int32(3))
    assert (type(result.n), type(result.seed)) == (int, int)
    json.dumps(result.to_json())
    np.testing.assert_array_equal(result.accuracy, table(model, n=20, seed=3).accuracy)


def test_progress_counts_every_oracle_call(model) -> None:
    calls = []
    table(model, n=50, progress=calls.append)
    assert calls == [50] * 16


def test_json_and_render(model) -> None:
    result = table(model, n=100)
    data = result.to_json()
    json.dumps(data)
    assert data["chance"] == pytest.approx(1 / 3)
    assert data["accuracy"] == result.accuracy.tolist()
    assert data["levels"] == [0, 1, 2, 3]
    text = result.render()
    assert text.splitlines()[0].startswith("root accuracy of BP_k (rows)")
    assert "n=100 per level, chance 0.3333" in text
    for k in range(4):
        assert f"| BP_{k} " in text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "leaf"}, "unknown task 'leaf'"),
        ({"n": 0}, "n=0 is invalid"),
        ({"n": 2.5}, "n=2.5 is invalid"),
        ({"n": True}, "n=True is invalid"),
        ({"seed": -1}, "seed=-1 is invalid: an integer >= 0"),
        ({"seed": 1.5}, "seed=1.5 is invalid"),
    ],
)
def test_rejects_bad_arguments(model, kwargs, message: str) -> None:
    arguments = {"task": "root", "n": 10, **kwargs}
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        oracle_table(model, HierarchicalFilter(), BPOracle(), **arguments)
