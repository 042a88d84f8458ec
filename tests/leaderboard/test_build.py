"""Leaderboard trees: validated results rendered into deterministic tables."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from pathlib import Path

import pytest
from result_runs import snapshot
from verified_rows import signed_copy

from hbench.cli import main
from hbench.errors import UsageError
from hbench.leaderboard.build import INDEX, build, rendered, stale
from hbench.leaderboard.comparison import comparison_hash
from hbench.leaderboard.site import site_colours
from hbench.leaderboard.submission import submission_name
from hbench.leaderboard.svg import PALETTE, colour, model_colours
from hbench.leaderboard.tables import (
    DASH,
    headline_text,
    number,
    rank_rows,
    row_values,
    seeds_text,
    tables,
)
from hbench.leaderboard.tree import load_tree
from hbench.registry.suites import SUITES, get_suite
from hbench.results import RunResult

REPO = Path(__file__).resolve().parents[2]


def test_tables_rank_models_under_the_bp_reference(tree) -> None:
    entries = load_tree(tree)
    assert sorted(entries) == [("smoke", "mlm"), ("smoke", "root")]
    (table,) = tables("smoke", "root", entries[("smoke", "root")])
    assert [r["model"] for r in table.rows] == ["bp", "naive-bayes", "prior"]
    assert table.labels == ["ref", "1", "2"]
    assert table.key == comparison_hash(SUITES["smoke"])
    markdown = (tree / "smoke" / "root.md").read_text()
    # mean ± standard error [95% interval]; BP is right on exactly the queries it scores
    assert "| ref | bp (privileged) | 1.000 ± 0.000 \\[1.000, 1.000\\] |" in markdown
    assert "| 1 | naive-bayes |" in markdown and "| 2 | prior |" in markdown
    # bp reports no parameter count: a dash in its row.
    header = markdown.split("\n| # | model |")[1].split("\n")[0].split(" | ")
    bp_row = markdown.split("\n| ref | bp (privileged) | ")[1].split("\n")[0].split(" | ")
    assert bp_row[header.index("params")] == DASH
    assert (tree / INDEX).read_text().count('href="smoke/root.html"') == 1
    page = (tree / "smoke" / "root.html").read_text()
    assert page.count('<table class="leaderboard"') == 1
    assert "<script src" not in page and "http" not in page.split("<body>")[1].replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


def test_rows_with_few_seeds_are_shown_unranked(tree, results, test_key, tmp_path) -> None:
    target = tree / "smoke" / "root" / "results" / results["one-seed"].name
    signed = signed_copy(results["one-seed"], test_key[0], tmp_path / "one")
    shutil.copy(signed, target)  # filed by hand: submit refuses it
    build(tree)
    (table,) = tables("smoke", "root", load_tree(tree)[("smoke", "root")])
    labels = dict(zip((r["file"] for r in table.rows), table.labels, strict=True))
    assert labels[f"smoke/root/results/{target.name}"] == DASH
    assert sorted(labels.values()) == ["-", "1", "2", "ref"]
    assert "naive-bayes (unranked: 1 seed)" in (tree / "smoke" / "root.md").read_text()


def test_nan_is_a_dash() -> None:
    assert number(math.nan) == DASH and number(None) == DASH and number(0.5) == "0.500"


def test_build_is_deterministic_and_idempotent(tree, tmp_path) -> None:
    first = snapshot(tree)
    assert build(tree) == []  # nothing changed
    copy = tmp_path / "copy"
    shutil.copytree(tree, copy)
    outputs = [copy / INDEX, copy / "schema.json", *copy.glob("smoke/*.*")]
    assert len(outputs) == 2 + 2 * 4  # two boards: markdown, page, CSV and JSON each
    for output in outputs:
        output.unlink()
    build(copy)
    assert snapshot(copy) == first
    build(copy)
    assert snapshot(copy) == first


def test_another_specification_gets_its_own_table(tree, results) -> None:
    other = results["other-P"]
    target = tree / "smoke" / "root" / "results" / other.name
    shutil.copy(other, target)  # filed by hand: submit refuses it (see test_submission)
    build(tree)
    found = tables("smoke", "root", load_tree(tree)[("smoke", "root")])
    assert len(found) == 2
    assert [r["model"] for r in found[0].rows] == ["bp", "naive-bayes", "prior"]
    assert [r["model"] for r in found[1].rows] == ["prior"]
    assert "not comparable with the preset (P=256)" in found[1].note
    assert "another specification" in (tree / "smoke" / "root.md").read_text()


def test_an_invalid_file_stops_the_build_and_changes_nothing(tree) -> None:
    before = snapshot(tree)
    bad = tree / "smoke" / "root" / "results" / "broken.json"
    bad.write_text('{"schema_version": 2,')
    with pytest.raises(
        UsageError, match=r"^result file '[^\n]*broken\.json' is not valid JSON[^\n]*$"
    ):
        build(tree)
    bad.unlink()
    assert snapshot(tree) == before


def test_files_must_be_in_their_place_and_inside_the_root(tree, results, tmp_path) -> None:
    wrong = tree / "smoke" / "mlm" / "results" / "x.json"
    shutil.copy(results["prior"], wrong)  # a root result in the mlm folder
    with pytest.raises(UsageError, match=r"records suite 'smoke' and task 'root', so it belongs"):
        load_tree(tree)
    wrong.unlink()
    outside = tmp_path / "elsewhere.json"
    shutil.copy(results["prior"], outside)
    link = tree / "smoke" / "root" / "results" / "link.json"
    os.symlink(outside, link)
    with pytest.raises(UsageError, match=r"link.json' is a link to .* outside the leaderboard"):
        load_tree(tree)


def test_check_notices_stale_tables(tree, capsys) -> None:
    assert main(["leaderboard", "check", "--root", str(tree)]) == 0
    (tree / "smoke" / "root.md").write_text("edited by hand\n")
    assert stale(tree) == [tree / "smoke" / "root.md"]
    assert main(["leaderboard", "check", "--root", str(tree)]) == 2
    assert "outputs out of date with the results" in capsys.readouterr().err
    assert main(["leaderboard", "build", "--root", str(tree)]) == 0
    assert stale(tree) == []


def test_show_prints_tables_and_names_unknown_suites(tree, capsys) -> None:
    assert main(["leaderboard", "show", "--root", str(tree), "--task", "root"]) == 0
    out = capsys.readouterr().out
    assert "smoke / root" in out and "bp (privileged)" in out and "smoke / mlm" not in out
    assert main(["leaderboard", "show", "--root", str(tree), "--suite", "paper"]) == 2
    assert "--suite='paper' is invalid" in capsys.readouterr().err


def test_submission_names_come_from_the_content(results) -> None:
    from hbench.results import read_result

    result = read_result(results["prior"])
    assert submission_name(result) == submission_name(read_result(results["prior"]))
    assert submission_name(result).endswith(".json") and "_prior_" in submission_name(result)


def test_the_committed_leaderboards_are_valid_and_up_to_date() -> None:
    """What CI checks on every submission: each file validates, each table is current."""
    root = REPO / "leaderboards"
    stale_files = stale(root)
    assert stale_files == [], f"run `hbench leaderboard build` and commit: {stale_files}"
    assert all(text for text in rendered(root).values())


def test_get_suite_of_a_seed_list_shares_the_preset_comparison_class() -> None:
    seeds = get_suite("cpu", {"seeds": json.dumps([0, 1, 2, 3, 4])})
    assert seeds.spec_hash() == SUITES["cpu"].spec_hash()  # one hash: seeds are replicates
    assert comparison_hash(seeds) == comparison_hash(SUITES["cpu"])
    # a board's hash is its own task's: cpu's mlm board is not its root board
    assert comparison_hash(SUITES["cpu"], "mlm") != comparison_hash(SUITES["cpu"])
    assert comparison_hash(get_suite("cpu", {"P": "512"})) != comparison_hash(SUITES["cpu"])


def test_validate_with_root_checks_the_place(tree, results, capsys) -> None:
    inside = next((tree / "smoke" / "root" / "results").glob("*.json"))
    assert main(["validate", str(inside), "--root", str(tree)]) == 0
    assert main(["validate", str(results["prior"]), "--root", str(tree)]) == 2
    assert "is outside the leaderboard root" in capsys.readouterr().out


def test_outside_a_checkout_each_command_says_where_boards_live(tmp_path, capsys) -> None:
    missing = str(tmp_path / "leaderboards")
    for action in ("show", "check", "build"):
        assert main(["leaderboard", action, "--root", missing]) == 2
        err = capsys.readouterr().err
        assert "no leaderboards folder at" in err and "run inside an hbench checkout" in err


def test_show_json_lists_every_row(tree, capsys) -> None:
    assert main(["leaderboard", "show", "--root", str(tree), "--json"]) == 0
    boards = json.loads(capsys.readouterr().out)
    assert [(b["suite"], b["task"]) for b in boards] == [("smoke", "mlm"), ("smoke", "root")]
    root = boards[1]["rows"]
    assert [r["rank"] for r in root] == ["ref", "1", "2"] and root[0]["model"] == "bp"
    assert root[1]["matrix"]["1,1"] == root[1]["levels"]["1"]


def test_a_deeply_nested_file_is_one_line_in_the_build(tree) -> None:
    bad = tree / "smoke" / "root" / "results" / "deep.json"
    bad.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(UsageError, match=r"deep\.json' is invalid: (JSON )?nested too deeply"):
        build(tree)


def _row(model: str, seeds: list[float], errors: list[float] | None = None) -> dict:
    """A ranked row as `rank_rows` reads it."""
    return {
        "model": model,
        "standing": None,
        "acc_seeds": dict(enumerate(seeds)),
        "acc_seed_se": errors,
        "rank": None,
        "rank_range": None,
    }


def test_rows_the_statistics_do_not_separate_share_a_rank_range() -> None:
    rows = [
        _row("a", [0.90, 0.91, 0.89, 0.90, 0.92]),
        _row("b", [0.89, 0.90, 0.88, 0.91, 0.90]),  # within a's spread: a tie
        _row("c", [0.50, 0.52, 0.49, 0.51, 0.50]),  # far below both
        _row("d", [0.10, 0.95, 0.40, 0.85, 0.10]),  # noisy: separated from nothing
        {**_row("e", [0.3]), "standing": "1 seed"},  # not ranked at all
    ]
    rank_rows(rows)
    assert [row["rank"] for row in rows] == ["1-3", "1-3", "3-4", "1-4", None]
    assert rows[2]["rank_range"] == [3, 4]


def test_test_set_errors_can_keep_rows_apart_or_together() -> None:
    # two seeds alike each: the seeds alone would separate them; wide test sets do not
    close = [_row("a", [0.80, 0.80], [0.05, 0.05]), _row("b", [0.78, 0.78], [0.05, 0.05])]
    rank_rows(close)
    assert [row["rank"] for row in close] == ["1-2", "1-2"]
    far = [_row("a", [0.80, 0.80], [0.001, 0.001]), _row("b", [0.78, 0.78], [0.001, 0.001])]
    rank_rows(far)
    assert [row["rank"] for row in far] == ["1", "2"]


def test_the_headline_shows_its_interval_and_failed_seeds() -> None:
    row = {"acc": 0.5, "acc_se": 0.01, "acc_low": 0.48, "acc_high": 0.52}
    assert headline_text(row) == "0.500 ± 0.010 [0.480, 0.520]"
    assert headline_text({**row, "acc_se": math.nan}) == "0.500"
    assert seeds_text({"seeds": 5, "outlier_seeds": []}) == "5"
    assert seeds_text({"seeds": 5, "outlier_seeds": [3]}) == "5 (seed 3 far below)"
    assert seeds_text({"seeds": 5, "outlier_seeds": [1, 3]}) == "5 (seeds 1, 3 far below)"


def test_a_model_has_one_colour_whatever_its_rank() -> None:
    assert colour("naive-bayes") == colour("naive-bayes") and colour("prior") in PALETTE
    assert len({colour(f"model-{i}") for i in range(100)}) == len(PALETTE)
    models = [f"model-{i}" for i in range(len(PALETTE))]
    site = model_colours(models)
    assert len(set(site.values())) == len(PALETTE)  # no two share while there are enough
    assert model_colours(reversed(models)) == site  # not by order (nor rank)
    assert model_colours([*models, "one-more"])["one-more"] in PALETTE


def test_a_failed_seed_is_marked_on_the_page_and_kept_in_the_mean(tree) -> None:
    path = next((tree / "smoke" / "root" / "results").glob("*naive-bayes*.json"))
    data = json.loads(path.read_text())
    first = data["spec"]["seeds"][0]
    for cell in data["metrics"]:  # 0.8 on every grammar, but the first seed's fit failed
        if cell["k_test"] != "ood":
            share = 0.0 if cell["seed"] == first else 0.8
            cell["acc"] = cell["chance"] + share * (cell["acc_bp"] - cell["chance"])
            cell["normalised_accuracy_se"] = 0.01
    result = RunResult.model_validate(data)
    entries = load_tree(tree)[("smoke", "root")]
    index = next(i for i, e in enumerate(entries) if e.path.name == path.name)
    entries[index] = dataclasses.replace(entries[index], result=result)
    (table,) = tables("smoke", "root", entries)
    row = next(r for r in table.rows if r["model"] == "naive-bayes")
    assert row["outlier_seeds"] == [first]
    assert row["acc"] == pytest.approx(0.8 * (len(row["acc_seeds"]) - 1) / len(row["acc_seeds"]))
    assert math.isclose(row["acc"], sum(row["acc_seeds"].values()) / len(row["acc_seeds"]))
    assert f"seed {first} far below" in seeds_text(row)


def test_page_colours_follow_the_model_and_the_chart_shows_every_seed(tree) -> None:
    page = (tree / "smoke" / "root.html").read_text()
    site = site_colours(load_tree(tree))
    for model in ("bp", "naive-bayes", "prior"):
        assert f"background:{site[model]}" in page
    assert len({site[m] for m in ("bp", "naive-bayes", "prior")}) == 3
    # 3 rows of 5 seeds: a point per seed in the interval chart
    chart = page.split('class="chart intervals"')[1].split("</svg>")[0]
    assert chart.count(", seed ") == 15 and "normalised accuracy (0 chance, 1 BP)" in chart


def test_both_charts_title_their_axes_and_the_index_names_each_value(tree) -> None:
    page = (tree / "smoke" / "root.html").read_text()
    levels = page.split('<svg class="chart" ')[1].split("</svg>")[0]
    assert 'class="axis-title"' in levels
    assert "normalised accuracy (0 chance, 1 BP)" in levels
    assert "filter level k (trained and tested at k)" in levels
    index = (tree / INDEX).read_text()
    row = index.split("<tbody>")[1].split("</tr>")[0]
    assert row.count("<td") == 7 and row.count("data-label=") == 6  # the board's link: none


def test_rows_agree_with_the_headlines_their_results_record(tree) -> None:
    """The board recomputes each headline from the cells (files of every schema version alike):
    the same mean, standard error and interval as the result's own headline."""
    for entries in load_tree(tree).values():
        for entry in entries:
            row = row_values(entry)
            head = entry.result.headline
            for ours, theirs in (
                (row["acc"], head["normalised_accuracy"]["mean"]),
                (row["acc_se"], head["normalised_accuracy"]["se"]),
                (row["acc_low"], head["normalised_accuracy"]["low"]),
                (row["acc_high"], head["normalised_accuracy"]["high"]),
                (row["kl"], head["kl_bp"]["mean"]),
                (row["kl_se"], head["kl_bp"]["se"]),
            ):
                assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-12, nan_ok=True)
            assert list(row["acc_seeds"].values()) == pytest.approx(
                head["normalised_accuracy"]["per_seed"]
            )
