"""Fixtures of the leaderboard tests: real results of the baselines and a tree of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from result_runs import smoke_result

from hbench.leaderboard.submission import submit
from hbench.results import write_result


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Path]:
    """Real smoke-suite results of the baselines, and one of another specification."""
    folder = tmp_path_factory.mktemp("runs")
    return {
        "bp": write_result(smoke_result("bp"), folder),
        "prior": write_result(smoke_result("prior"), folder),
        "naive-bayes": write_result(smoke_result("naive-bayes", seeds="[3]"), folder),
        "naive-bayes-mlm": write_result(smoke_result("naive-bayes", task="mlm"), folder),
        "other-P": write_result(smoke_result("prior", P="256"), folder),
    }


@pytest.fixture()
def tree(tmp_path, results) -> Path:
    root = tmp_path / "leaderboards"
    root.mkdir()
    for name in ("bp", "prior", "naive-bayes", "naive-bayes-mlm"):
        submit(results[name], root)
    return root
