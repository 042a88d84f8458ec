"""`load_results`: many result files as one table, with the columns a study groups by, and
the JSON files beside results that are not results (analysis reports) skipped with a warning."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from result_runs import make_result

from hbench.cli import main
from hbench.errors import UsageError
from hbench.registry.suites import SUITES
from hbench.results import load_results, write_result
from hbench.results.rows import RUN_COLUMNS, TABLE_COLUMNS


def test_load_results_folder(tmp_path: Path) -> None:
    write_result(make_result(model="mlp"), tmp_path)
    write_result(make_result(model="bp", created="2024-03-02T00:00:00+00:00"), tmp_path / "sub")
    (tmp_path / "notes.txt").write_text("not a result")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to skip, nothing to say
        frame = load_results(tmp_path)

    assert list(frame.columns) == TABLE_COLUMNS
    assert len(frame) == 6
    assert frame["model"].tolist() == ["mlp"] * 3 + ["bp"] * 3
    # one type per column: the test level as a nullable integer, ood rows marked apart
    assert str(frame["k_test"].dtype) == "Int64" and frame["ood"].dtype == bool
    assert frame["k_test"].fillna(-1).tolist() == [1, 2, -1] * 2
    assert frame["ood"].tolist() == [False, False, True] * 2
    assert frame["suite"].unique().tolist() == ["smoke"]
    assert frame["suite_hash"].unique().tolist() == [SUITES["smoke"].spec_hash()]
    assert frame["run"].str.endswith(tuple("0123456789abcdef")).all()
    # normalised accuracy: (acc - 0.25) / (0.75 - 0.25); NaN for ood
    np.testing.assert_allclose(frame["normalised_accuracy"], [0.5, 1.0, np.nan] * 2)
    assert np.isnan(frame.loc[frame["ood"], "acc"]).all()
    assert frame["acc"].dtype == np.float64
    assert frame["n_queries"].tolist() == [16] * 6
    assert not frame["privileged"].any()
    assert str(frame["created"].dt.tz) == "UTC"

    one = load_results(next(tmp_path.glob("*.json")))
    assert len(one) == 3


def test_the_run_columns(tmp_path: Path) -> None:
    write_result(make_result(model="mlp"), tmp_path)
    frame = load_results(tmp_path)
    assert TABLE_COLUMNS.index("label") == TABLE_COLUMNS.index("model") + 1
    assert set(RUN_COLUMNS) <= set(frame.columns)
    assert frame["label"].tolist() == ["mlp"] * 3  # no sweep label: the model's name
    assert frame["model_config"].tolist() == ['{"width": 32}'] * 3
    assert frame["P"].tolist() == [SUITES["smoke"].P] * 3
    assert frame["grammar_seed"].tolist() == [SUITES["smoke"].grammar_seed] * 3


def test_load_results_empty_missing_and_broken(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="found no run result in .*: the table is empty"):
        frame = load_results(tmp_path)
    assert frame.empty and list(frame.columns) == TABLE_COLUMNS
    assert str(frame["k_test"].dtype) == "Int64" and frame["ood"].dtype == bool
    with pytest.raises(UsageError, match="does not exist"):
        load_results(tmp_path / "missing")
    # meant as a result (schema_version and spec), but invalid: raises, never skipped
    (tmp_path / "broken.json").write_text('{"schema_version": 3, "spec": {}}')
    with pytest.raises(UsageError, match=r"broken\.json"):
        load_results(tmp_path)
    (tmp_path / "broken.json").write_text('{"schema_version": 3, "spec": {"suite": ')
    with pytest.raises(UsageError, match=r"broken\.json' is not valid JSON"):
        load_results(tmp_path)


def test_json_that_is_not_a_result_is_skipped_with_one_warning(tmp_path: Path) -> None:
    path = write_result(make_result(model="mlp"), tmp_path)
    report = {"report_version": 1, "result": str(path), "acc": [[0.5]]}
    (tmp_path / f"{path.stem}_mismatch.json").write_text(json.dumps(report))
    (tmp_path / "index.json").write_text("[1, 2]")
    with pytest.warns(UserWarning) as caught:
        frame = load_results(tmp_path)
    assert len(caught) == 1
    assert str(caught[0].message).startswith(
        "load_results skipped 2 JSON file(s) that are not run results (e.g. "
    )
    assert len(frame) == 3


SWEEP = """
suite = "smoke"
out = "{out}"
[set]
n_test = 64
n_ood = 0
[axes]
P = [64, 256]
train_filter = [0]
seed = [0, 1]
[[models]]
name = "naive-bayes"
label = "nb"
args = {{ alpha = 0.5 }}
"""


def test_a_sweep_over_p_groups_by_p_beside_its_analysis_reports(tmp_path: Path, capsys) -> None:
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(SWEEP.format(out=tmp_path / "out"), encoding="utf-8")
    assert main(["sweep", str(sweep), "--workers", "2", "--quiet"]) == 0
    results = tmp_path / "out" / "results"
    first = sorted(results.glob("*.json"))[0]
    assert main(["analyze", "mismatch", str(first), "--quiet"]) == 0  # writes a report beside
    capsys.readouterr()

    with pytest.warns(UserWarning, match="skipped 1 JSON file"):
        frame = load_results(tmp_path / "out")

    assert sorted(frame["P"].unique()) == [64, 256]
    assert set(frame["label"]) == {"nb"} and set(frame["model"]) == {"naive-bayes"}
    assert {json.loads(text)["alpha"] for text in frame["model_config"]} == {0.5}
    in_sample = frame[frame["k_test"] == frame["k_train"]]
    curve = in_sample.groupby("P")["normalised_accuracy"].agg(["mean", "count"])
    assert curve.index.tolist() == [64, 256] and curve["count"].tolist() == [2, 2]
    assert np.isfinite(curve["mean"]).all()
