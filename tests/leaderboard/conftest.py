"""Fixtures of the leaderboard tests: real official results of the baselines and a tree of them.

The smoke suite has no leaderboard (its numbers are too noisy to rank), but it is the one a
test can run in a second, so these tests treat it as a leaderboard suite
(`allow_smoke_boards`); `test_submission` checks that it is refused otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hbench.leaderboard import rules
from hbench.leaderboard.submission import submit
from hbench.results import RunResult, write_result
from hbench.run.harness import run_benchmark
from hbench.run.spec import RunSpec

#: Every leaderboard suite, and smoke.
BOARD_SUITES = ("smoke", *rules.leaderboard_suites())


def board_result(
    model: str, task: str = "root", seeds: tuple[int, ...] = (0, 1, 2), **overrides
) -> RunResult:
    """An official run on the smoke suite (a second or less for the baselines)."""
    overrides = {"task": task, "seeds": list(seeds), **overrides}
    return run_benchmark(RunSpec(model=model, suite="smoke", overrides=overrides, official=True))


@pytest.fixture(autouse=True)
def allow_smoke_boards(monkeypatch) -> None:
    monkeypatch.setattr(rules, "leaderboard_suites", lambda: BOARD_SUITES)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, Path]:
    """Real smoke-suite results of the baselines, and some a submission refuses."""
    folder = tmp_path_factory.mktemp("runs")
    return {
        "bp": write_result(board_result("bp"), folder),
        "prior": write_result(board_result("prior"), folder),
        "naive-bayes": write_result(board_result("naive-bayes"), folder),
        "naive-bayes-mlm": write_result(board_result("naive-bayes", task="mlm"), folder),
        "one-seed": write_result(board_result("naive-bayes", seeds=(3,)), folder),
        "other-P": write_result(board_result("prior", P=256), folder),
    }


@pytest.fixture()
def tree(tmp_path, results) -> Path:
    root = tmp_path / "leaderboards"
    root.mkdir()
    for name in ("bp", "prior", "naive-bayes", "naive-bayes-mlm"):
        submit(results[name], root)
    return root
