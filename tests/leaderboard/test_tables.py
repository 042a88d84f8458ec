"""The random-sequence column of a board: scored over the sequences the grammar can produce,
"n/a" with its reason where there are none, and each row's largest test-set error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from hbench.leaderboard.rules import largest_test_se
from hbench.leaderboard.site import _row_cells, download_rows
from hbench.leaderboard.tables import (
    NOT_APPLICABLE,
    Table,
    cells,
    headers,
    ood_na_text,
    ood_text,
    row_values,
)
from hbench.leaderboard.tree import Entry
from hbench.results import RunResult, read_result
from hbench.results.validate import recorded_suite


def without_possible(result: RunResult, levels: set[int]) -> RunResult:
    """The run as if no random sequence were possible under the grammar at ``levels``: those
    "ood" cells unscored, with their reason, as `hbench.scoring.score_random` records them."""
    out = []
    for cell in result.metrics:
        if cell.k_test == "ood" and cell.k_train in levels:
            reason = f"no random sequence is possible under the grammar at k={cell.k_train}"
            cell = cell.model_copy(
                update={"kl_bp": None, "agree": None, "possible": 0.0, "na_reason": reason}
            )
        out.append(cell)
    return result.model_copy(update={"metrics": out})


def row_of(result: RunResult) -> dict:
    return row_values(Entry(Path("smoke/root/results/x.json"), result, recorded_suite(result)))


def test_the_reason_names_the_levels_and_whether_anything_is_left() -> None:
    assert ood_na_text(set(), 25, 25) is None
    assert ood_na_text({2, 0, 1}, 0, 25) == (
        "not applicable: no random sequence is possible under the grammar (k = 0, 1, 2)"
    )
    assert ood_na_text({0}, 20, 25) == (
        "the mean over the 20 of 25 cells with possible sequences; in the others (k = 0) no"
        " random sequence is possible under the grammar"
    )


@pytest.fixture(scope="module")
def prior(results) -> RunResult:
    return read_result(results["prior"])


def test_a_row_with_some_impossible_levels_averages_the_others(prior) -> None:
    seeds = len(prior.spec.seeds)
    row = row_of(without_possible(prior, {0, 1}))
    kept = [c.kl_bp for c in prior.metrics if c.k_test == "ood" and c.k_train not in (0, 1)]
    assert row["ood_kl"] == pytest.approx(sum(kept) / len(kept), rel=1e-12)
    total = seeds * len(prior.spec.train_filters)
    assert row["ood_na"] == ood_na_text({0, 1}, len(kept), total)
    assert ood_text(row) == f"{row['ood_kl']:.3f}"  # a number, its caveat on hover


def test_a_row_with_no_possible_sequence_shows_na_with_its_reason(prior) -> None:
    levels = set(prior.spec.train_filters)
    result = without_possible(prior, levels)
    row = row_of(result)
    assert math.isnan(row["ood_kl"]) and ood_text(row) == NOT_APPLICABLE
    assert row["ood_na"].startswith("not applicable: no random sequence is possible")
    suite = recorded_suite(result)
    table = Table("smoke", "root", "key", "t", "n", suite.test_levels, suite.train_levels, [row])
    (shown,) = cells(table)
    assert shown[headers(table).index("ood KL")] == NOT_APPLICABLE  # markdown and terminal
    page = _row_cells(table, "-", row)
    (ood,) = [cell for cell in page if cell["cls"] == "ood"]
    assert ood["text"] == NOT_APPLICABLE and ood["title"] == row["ood_na"]  # the page's hover
    (record,) = download_rows([table])
    assert record["ood_kl"] is None and record["ood_kl_note"] == row["ood_na"]


def test_a_row_where_every_sequence_is_possible_has_no_note(prior) -> None:
    row = row_of(prior)
    assert row["ood_na"] is None and ood_text(row) == f"{row['ood_kl']:.3f}"
    assert row["largest_test_se"] == largest_test_se(prior)[0]
