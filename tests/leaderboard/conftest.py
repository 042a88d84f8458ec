"""Fixtures of the leaderboard tests: real official results of the baselines and a tree of them.

The smoke suite has no leaderboard (its numbers are too noisy to rank), but it is the one a
test can run in a second, so these tests treat it as a leaderboard suite
(`allow_smoke_boards`); `test_submission` checks that it is refused otherwise.

The tree's rows are verified: each result signed with a throwaway key whose public half is
the tree's only trusted key (`signed_copy`), as if ``hbench verify`` had re-run it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from verified_rows import key_files, signed_copy, trust

from hbench.leaderboard import rules
from hbench.leaderboard.submission import submit
from hbench.results import RunResult, write_result
from hbench.run.execute import execute
from hbench.run.spec import RunSpec

#: Every leaderboard suite, and smoke.
BOARD_SUITES = ("smoke", *rules.leaderboard_suites())


def board_result(
    model: str, task: str = "root", seeds: tuple[int, ...] | None = None, **overrides
) -> RunResult:
    """An official run on the smoke suite (a second or less for the baselines)."""
    seeds = tuple(range(rules.MIN_SEEDS)) if seeds is None else seeds  # enough to be ranked
    overrides = {"task": task, "seeds": list(seeds), **overrides}
    return execute(RunSpec(model=model, suite="smoke", overrides=overrides, official=True)).result


@pytest.fixture(scope="session")
def test_key(tmp_path_factory) -> tuple[Ed25519PrivateKey, Path, Path]:
    return key_files(tmp_path_factory.mktemp("keys"))


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
def tree(tmp_path, results, test_key) -> Path:
    """A tree of verified rows (signed with the throwaway key it trusts)."""
    root = tmp_path / "leaderboards"
    root.mkdir()
    trust(root, test_key[2])
    for name in ("bp", "prior", "naive-bayes", "naive-bayes-mlm"):
        submit(signed_copy(results[name], test_key[0], tmp_path / "signed"), root)
    return root
