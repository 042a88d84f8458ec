"""A board whose task declares its own headline (`TaskCapabilities.headline`): the generation
board ranks, sorts and charts by ``gen_fidelity`` with its uncertainty, and shows the columns
that make sense for generation (no KL to BP, no random-sequence column)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from verified_rows import signed_copy, trusting_root

from hbench.leaderboard import rules
from hbench.leaderboard.build import build
from hbench.leaderboard.submission import submit
from hbench.leaderboard.tables import (
    NORMALISED_ACCURACY,
    board_headline,
    cells,
    headers,
    legend,
    tables,
)
from hbench.leaderboard.tree import load_tree
from hbench.results import read_result, write_result
from hbench.run.execute import execute
from hbench.run.spec import RunSpec

SUITE = "generate-smoke"


@pytest.fixture(autouse=True)
def allow_generate_smoke(monkeypatch) -> None:
    """The smoke suite of generation as a board (its numbers are too noisy for a real one)."""
    boards = (*rules.leaderboard_suites(), SUITE)
    monkeypatch.setattr(rules, "leaderboard_suites", lambda: boards)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Official 5-seed runs of the grammar's own sampler (bp) and the unigram prior."""
    folder = tmp_path_factory.mktemp("runs")
    seeds = list(range(rules.MIN_SEEDS))
    out = {}
    for model in ("bp", "prior"):
        spec = RunSpec(model=model, suite=SUITE, overrides={"seeds": seeds}, official=True)
        out[model] = write_result(execute(spec).result, folder)
    return out


@pytest.fixture()
def board(tmp_path, runs, test_key) -> Path:
    root = trusting_root(tmp_path / "leaderboards", test_key[2])
    for path in runs.values():
        submit(signed_copy(path, test_key[0], tmp_path / "signed"), root)
    return root


def test_the_task_declares_the_headline_its_boards_rank_by() -> None:
    assert rules.declared_headline("generate") == "gen_fidelity"
    assert rules.declared_headline("root") is None
    assert rules.declared_headline("no-such-task") is None
    assert board_headline("root") == NORMALISED_ACCURACY
    headline = board_headline("generate")
    assert headline.metric == headline.label == "gen_fidelity" and headline.higher_is_better
    assert "gen_fidelity: " in legend(headline) and "gen_fidelity_se" in legend(headline)
    assert "KL(BP_k || model)" not in legend(headline)


def test_a_generate_row_ranks_by_its_fidelity(board, runs) -> None:
    (table,) = tables(SUITE, "generate", load_tree(board)[(SUITE, "generate")])
    assert table.headline.metric == "gen_fidelity"
    assert [row["model"] for row in table.rows] == ["bp", "prior"]
    assert table.labels == ["ref", "1"]
    columns = headers(table)
    assert columns[:7] == ["#", "model", "gen_fidelity", "k=0", "k=1", "k=2", "k=3"]
    assert "norm. acc." in columns and "gen_valid" in columns and "gen_ngram_tv" in columns
    for gone in ("KL (bits)", "ood KL", "gen_fidelity_se", "gen_loglik_se"):
        assert gone not in columns
    # the prior's number by hand: per seed the mean over its in-sample levels, then over seeds
    prior = read_result(runs["prior"])
    per_seed = {}
    for cell in prior.metrics:
        if cell.k_test == cell.k_train:
            per_seed.setdefault(cell.seed, []).append(cell.scores["gen_fidelity"])
    values = [float(np.mean(v)) for _, v in sorted(per_seed.items())]
    row = table.rows[1]
    assert row["head"] == pytest.approx(np.mean(values))
    assert list(row["head_seeds"].values()) == pytest.approx(values)
    assert row["head_se"] >= np.std(values, ddof=1) / math.sqrt(len(values)) - 1e-12
    assert row["head"] < 0.6 and abs(table.rows[0]["head"] - 1.0) < 0.05
    shown = dict(zip(columns, cells(table)[1], strict=True))
    assert shown["gen_fidelity"].startswith(f"{row['head']:.3f} ± {row['head_se']:.3f} [")
    assert shown["norm. acc."].startswith(f"{row['acc']:.3f} ± ")


def test_the_generation_board_renders(board) -> None:
    markdown = (board / SUITE / "generate.md").read_text()
    assert "| # | model | gen_fidelity | k=0 |" in markdown
    assert "| 1 | prior |" in markdown and "| ref | bp (privileged) |" in markdown
    assert "ood KL" not in markdown and "KL (bits)" not in markdown
    assert "gen_fidelity: (1 - D) / (1 - D of the grammar's own sequences)" in markdown
    page = (board / SUITE / "generate.html").read_text()
    assert "Sorted by gen_fidelity" in page
    assert 'aria-sort="descending"><button type="button">gen_fidelity</button>' in page
    with (board / SUITE / "generate.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["model"] for r in rows] == ["bp", "prior"]
    assert rows[1]["headline"] == "gen_fidelity" and float(rows[1]["gen_fidelity"]) < 0.6
    index = (board / "index.html").read_text()
    assert "gen_fidelity " in index
    assert build(board) == []  # the outputs are a function of the files


def test_a_verification_compares_the_declared_headline_too(runs) -> None:
    from hbench.leaderboard.verify import compare_numbers, uncertainties
    from hbench.scoring import metric_headline

    prior = read_result(runs["prior"])
    summary = metric_headline(prior.metrics, "gen_fidelity")
    assert uncertainties(prior)["gen_fidelity"] == (summary["mean"], summary["se"])
    rows = {row["quantity"]: row for row in compare_numbers(prior, prior)}
    assert rows["gen_fidelity"]["ok"] and rows["gen_fidelity"]["difference"] == 0
    assert "normalised_accuracy" in rows and "kl_bp" in rows
    bp = read_result(runs["bp"])  # exact sampling against the prior's: far apart
    assert not {r["quantity"]: r for r in compare_numbers(prior, bp)}["gen_fidelity"]["ok"]


def test_a_run_prints_the_declared_headline_under_its_own(runs) -> None:
    from hbench.cli.run import headline_line
    from hbench.scoring import headline_line as number
    from hbench.scoring import metric_headline

    prior = read_result(runs["prior"])
    lines = headline_line(prior).split("\n")
    assert lines[0].startswith("headline: normalised accuracy ")
    summary = number(metric_headline(prior.metrics, "gen_fidelity"), 4)
    assert lines[1] == f"generate headline (its boards rank by it): gen_fidelity {summary}"
