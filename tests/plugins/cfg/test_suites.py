"""The cfg suites run end to end: registered, every task the fixed-length cfg supports scored
by the inside-outside oracle, the exact reference model at the ceiling."""

from __future__ import annotations

import numpy as np
import pytest

from hbench.api import evaluate
from hbench.errors import UsageError
from hbench.registry.registry import get_registry


def test_suites_are_registered():
    registry = get_registry()
    for name in ("cfg-smoke", "cfg-cpu"):
        suite = registry.get("suite", name).value
        assert (suite.grammar, suite.filter, suite.oracle) == ("cfg", "cfg", "inside-outside")
        assert suite.train_levels == suite.test_levels == [0]


@pytest.mark.parametrize("task", ["root", "mlm", "ancestor"])
def test_cfg_smoke_runs_end_to_end(task):
    result = evaluate("naive-bayes", "cfg-smoke", task, in_process=True, progress=False)
    assert 0 < result.headline["normalised_accuracy"]["mean"] < 1
    exact = evaluate("bp", "cfg-smoke", task, in_process=True, progress=False)
    assert exact.headline["normalised_accuracy"]["mean"] == pytest.approx(1.0)
    np.testing.assert_allclose(exact.table()["kl_bp"].astype(float), 0.0, atol=1e-9)


def test_other_filter_levels_are_refused():
    with pytest.raises(UsageError, match="level 0"):
        evaluate(
            "prior",
            "cfg-smoke",
            overrides={"train_filters": [1], "test_filters": [1]},
            in_process=True,
            progress=False,
        )


def test_cfg_cpu_is_a_leaderboard_suite_sized_for_its_error():
    """cfg-cpu's board takes official rows: its flag reaches the leaderboard rules although
    the cfg plugin, not the tree plugin, registers it, and its one level is sized like the
    tree suites' levels (benchmarks/size_test_sets.py), never below their least size."""
    from hbench.leaderboard.rules import leaderboard_suites, tree_problems
    from hbench_tree.suites import N_TEST

    suite = get_registry().get("suite", "cfg-cpu").value
    assert suite.leaderboard and suite.test_levels == [0]
    assert suite.test_size(0) >= N_TEST
    assert "cfg-cpu" in leaderboard_suites()
    assert not get_registry().get("suite", "cfg-smoke").value.leaderboard
    result = evaluate("prior", "cfg-smoke", in_process=True, progress=False)
    assert tree_problems(result) and "has no leaderboard" in tree_problems(result)[0]
    board = result.model_copy(
        update={"spec": result.spec.model_copy(update={"suite_name": "cfg-cpu"})}
    )
    assert tree_problems(board) == []
