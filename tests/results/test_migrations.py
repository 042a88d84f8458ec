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
    assert math.isnan(result.headline["kl_bp"]["mean"])
    # Written again, it is a standard JSON file: NaN becomes null, and reads back as NaN.
    again = write_result(result, tmp_path / "out")
    text = again.read_text()
    assert "NaN" not in text and '"mean": null' in text
    assert math.isnan(read_result(again).headline["kl_bp"]["mean"])


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
