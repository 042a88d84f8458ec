"""A leaderboard row's test sets must be large enough for its level scores: the largest per-level
test-set error of normalised accuracy, reported by ``hbench leaderboard check``, keeps a row
unranked above `hbench.leaderboard.rules.MAX_TEST_SE`."""

from __future__ import annotations

import math

import pytest

from hbench.cli import main
from hbench.leaderboard import rules
from hbench.leaderboard.rules import (
    MAX_TEST_SE,
    TEST_SET_TOO_SMALL,
    cell_test_se,
    largest_test_se,
    standing,
    undersized_test_sets,
)
from hbench.results import RunResult, read_result


def on_board(result: RunResult, suite_name: str) -> RunResult:
    """The same run as if recorded under another preset's name (only the name is read here)."""
    return result.model_copy(
        update={"spec": result.spec.model_copy(update={"suite_name": suite_name})}
    )


def with_errors(result: RunResult, se: float) -> RunResult:
    """Every cell's recorded test-set error of normalised accuracy set to ``se``."""
    cells = [cell.model_copy(update={"normalised_accuracy_se": se}) for cell in result.metrics]
    return result.model_copy(update={"metrics": cells})


def test_the_largest_error_is_over_the_in_sample_cells(results) -> None:
    result = read_result(results["prior"])
    cells = [c for c in result.metrics if isinstance(c.k_test, int) and c.k_test == c.k_train]
    expected = max(cell_test_se(c) for c in cells)
    se, seed, level = largest_test_se(result)
    assert se == expected and math.isfinite(se)
    (cell,) = [c for c in cells if (c.seed, c.k_test) == (seed, level)]
    assert cell_test_se(cell) == se
    # an off-diagonal cell's larger error does not count: its score is not in the row's
    off = next(c for c in result.metrics if c.k_test != c.k_train and c.k_test != "ood")
    cells = [
        c.model_copy(update={"normalised_accuracy_se": 1.0}) if c is off else c
        for c in result.metrics
    ]
    assert largest_test_se(result.model_copy(update={"metrics": cells}))[0] == se


def test_an_unrecorded_error_is_bounded_from_the_two_accuracies(results) -> None:
    """Files written before per-query errors: the covariance-free bound, by hand."""
    cell = read_result(results["prior"]).metrics[0]
    bare = cell.model_copy(update={"normalised_accuracy_se": None})
    a, b, c, m = bare.acc, bare.acc_bp, bare.chance, bare.n_queries
    d = b - c
    hand = math.sqrt((a * (1 - a) / d**2 + (a - c) ** 2 * b * (1 - b) / d**4) / m)
    assert cell_test_se(bare) == pytest.approx(hand, rel=1e-12)
    assert cell_test_se(bare.model_copy(update={"acc": None})) is None


def test_the_rows_error_is_that_of_its_mean_over_seeds(results) -> None:
    """One harder grammar's cell: 0.02 at one seed and level, 0.005 elsewhere. The row's
    number at that level is the mean of n seeds, whose test-set error is, by hand,
    sqrt(0.02^2 + (n - 1) 0.005^2) / n; the largest cell stays 0.02."""
    result = read_result(results["naive-bayes"])
    n = len(result.spec.seeds)
    assert n >= rules.MIN_SEEDS
    hard = next(c for c in result.metrics if c.k_test == c.k_train == 1)
    cells = [
        c.model_copy(update={"normalised_accuracy_se": 0.02 if c is hard else 0.005})
        for c in result.metrics
    ]
    bumped = result.model_copy(update={"metrics": cells})
    levels = rules.level_test_se(bumped)
    assert levels[1] == pytest.approx(math.sqrt(0.02**2 + (n - 1) * 0.005**2) / n, rel=1e-12)
    others = [levels[k] for k in levels if k != 1]
    assert others == pytest.approx([0.005 / math.sqrt(n)] * len(others), rel=1e-12)
    assert rules.row_test_se(bumped) == (levels[1], 1)
    assert largest_test_se(bumped) == (0.02, hard.seed, 1)
    assert not undersized_test_sets(on_board(bumped, "cpu"))  # 0.0045 for the row: ranked


def test_a_row_over_the_limit_is_not_ranked(results) -> None:
    result = on_board(read_result(results["naive-bayes"]), "cpu")  # a suite with a board
    n = len(result.spec.seeds)
    assert result.spec.suite_name == "cpu" and n >= rules.MIN_SEEDS
    # every cell at se: the row's number at each level has se / sqrt(n)
    fine = with_errors(result, MAX_TEST_SE * math.sqrt(n) * 0.999)
    assert not undersized_test_sets(fine) and standing(fine, verified=True) is None
    over = with_errors(result, MAX_TEST_SE * math.sqrt(n) * 1.01)
    assert undersized_test_sets(over)
    assert standing(over, verified=True) == TEST_SET_TOO_SMALL
    assert standing(over, verified=False) == TEST_SET_TOO_SMALL  # the reason that matters
    # a reference is a reference; a suite without a board promises no such size
    assert standing(with_errors(on_board(read_result(results["bp"]), "cpu"), 1.0)) == "reference"
    assert not undersized_test_sets(with_errors(read_result(results["naive-bayes"]), 1.0))


def test_check_reports_each_official_rows_largest_error(tree, capsys) -> None:
    assert main(["leaderboard", "check", "--root", str(tree)]) == 0
    out = capsys.readouterr().out
    assert "row's test-set se" in out and "largest cell" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("smoke/")]
    # bp, prior, naive-bayes on root; naive-bayes on mlm
    assert sorted((row[0], row[1]) for row in rows) == [
        ("smoke/mlm", "naive-bayes"),
        ("smoke/root", "bp"),
        ("smoke/root", "naive-bayes"),
        ("smoke/root", "prior"),
    ]
    assert all(row[3] == "verified" and "(seed" in row and row[-1].startswith("k=") for row in rows)
    (bp,) = [row for row in rows if row[1] == "bp"]
    assert float(bp[4]) == 0.0 and float(bp[6]) == 0.0  # BP against itself: no error
    # the smoke suite's 256 sequences are far too few, but it has no board: nothing held back
    assert "4 official row(s); the row's per-level test-set standard error" in out
    assert f"above {MAX_TEST_SE} in 3, unranked for it: 0" in out
    assert TEST_SET_TOO_SMALL not in out
