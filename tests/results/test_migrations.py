"""Result files of older schema versions are read through the migration chain."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from result_runs import make_result

from hbench.errors import UsageError
from hbench.results import SCHEMA_VERSION, read_result, write_result
from hbench.results.migrations import CURRENT, MIGRATIONS, OLDEST, migrate


def version_1(tmp_path: Path) -> Path:
    """A file as hbench wrote it with schema version 1: no num_parameters, NaN as a constant."""
    data = make_result().model_dump(mode="json")
    data["schema_version"] = 1
    del data["num_parameters"]
    data["headline"]["kl_bp"] = {"mean": math.nan, "stderr": math.nan, "per_seed": []}
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(data))  # json writes the constant NaN, as version 1 did
    assert "NaN" in path.read_text()
    return path


def test_chain_reaches_the_current_version() -> None:
    assert CURRENT == SCHEMA_VERSION
    assert sorted(MIGRATIONS) == list(range(OLDEST, CURRENT))


def test_version_1_reads_as_current(tmp_path: Path) -> None:
    result = read_result(version_1(tmp_path))
    assert result.schema_version == SCHEMA_VERSION
    assert result.num_parameters is None
    # the headline is recomputed from the cells (version 5); one seed and no KL error: NaN
    assert math.isnan(result.headline["kl_bp"]["se"])
    # Written again, it is a standard JSON file: NaN becomes null, and reads back as NaN.
    again = write_result(result, tmp_path / "out")
    text = again.read_text()
    assert "NaN" not in text and '"se": null' in text
    assert math.isnan(read_result(again).headline["kl_bp"]["se"])


def test_migrate_leaves_its_input_alone() -> None:
    data = {"schema_version": 1, "spec": {}}
    out = migrate(data)
    assert data == {"schema_version": 1, "spec": {}}
    assert out["schema_version"] == CURRENT and out["num_parameters"] is None


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (None, "has no schema_version"),
        (True, "has schema_version True"),
        (CURRENT + 1, "newer than this hbench"),
        (0, "has schema_version 0"),
    ],
)
def test_unsupported_versions(version, message) -> None:
    with pytest.raises(UsageError, match=message):
        migrate({"schema_version": version}, "result file 'x.json'")


def test_version_3_records_p_mlm_and_no_scores(tmp_path: Path) -> None:
    """4 records a suite's budgets per task (3 had P_mlm) and each cell's registered metrics
    by name (``scores``); a version-3 file reads as before, its suite hash still valid."""
    from hbench.registry.suites import SUITES

    current = make_result().model_dump(mode="json")
    data = json.loads(json.dumps(current))
    data["schema_version"] = 3
    suite = data["spec"]["suite"]
    suite["P_mlm"] = suite.pop("budgets").get("mlm")
    for row in data["metrics"]:
        del row["scores"]
    path = tmp_path / "v3.json"
    path.write_text(json.dumps(data))
    result = read_result(path)
    assert result.spec.suite["budgets"] == {} and "P_mlm" not in result.spec.suite
    assert all(row.scores == {} for row in result.metrics)
    errors = ("acc_se", "normalised_accuracy_se", "kl_bp_se")  # filled in by version 5
    stripped = [
        {k: v for k, v in row.items() if k not in errors}
        for row in result.model_dump(mode="json")["metrics"]
    ]
    assert stripped == [
        {k: v for k, v in row.items() if k not in errors} for row in current["metrics"]
    ]

    paper = SUITES["paper"].model_dump(mode="json")
    paper["P_mlm"] = paper.pop("budgets")["mlm"]
    spec = {"suite": paper}
    migrated = migrate({"schema_version": 3, "spec": spec, "metrics": []})
    assert migrated["spec"]["suite"]["budgets"] == {"mlm": 1 << 18}
    assert spec["suite"]["P_mlm"] == 1 << 18  # the input is left alone


def test_version_4_gets_test_set_errors_from_its_summaries(tmp_path: Path) -> None:
    """5 records each cell's test-set errors; a version-4 file gets the binomial one of acc and
    the covariance-free bound of the normalised accuracy (no per-query data), the KL's stays
    unknown, and the headline is recomputed from the cells with them."""
    from hbench import stats
    from hbench.scoring import headline

    data = json.loads(json.dumps(make_result().model_dump(mode="json")))
    data["schema_version"] = 4
    for row in data["metrics"]:
        for key in ("acc_se", "normalised_accuracy_se", "kl_bp_se", "possible", "na_reason"):
            del row[key]
    path = tmp_path / "v4.json"
    path.write_text(json.dumps(data))
    result = read_result(path)
    cell = result.metrics[0]  # acc 0.5, acc_bp and chance as make_result writes them
    m = cell.n_queries
    assert cell.acc_se == pytest.approx(math.sqrt(0.25 / m))
    bound = stats.normalised_accuracy_se_bound(cell.acc, cell.acc_bp, cell.chance, m)
    assert cell.normalised_accuracy_se == pytest.approx(bound)
    assert cell.kl_bp_se is None
    ood = result.metrics[2]
    assert ood.acc_se is None and ood.normalised_accuracy_se is None
    head = result.headline["normalised_accuracy"]
    assert head["mean"] == headline(result.metrics)["normalised_accuracy"]["mean"] == 0.5
    assert head["se"] == pytest.approx(bound) and head["source"] == "test set"
