"""Result files: schema, atomic writes, clear errors on reading, tables of many runs."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from result_runs import make_result

import hbench
from hbench.errors import UsageError
from hbench.results import (
    SCHEMA_VERSION,
    Environment,
    collect_environment,
    read_result,
    write_result,
)


def test_write_read_round_trip(tmp_path: Path) -> None:
    result = make_result()
    path = write_result(result, tmp_path / "new" / "folder")
    assert path.parent == tmp_path / "new" / "folder"
    assert read_result(path) == result
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["spec"]["model_config"] == {"width": 32}  # the documented JSON key
    assert list(data) == sorted(data)  # sorted keys: equal results give equal bytes
    assert path.read_text().startswith('{\n  "audit"')


def test_model_config_key_and_nan_survive(tmp_path: Path) -> None:
    result = make_result()
    assert result.spec.model_settings == {"width": 32}
    for dump in (result.model_dump(), result.model_dump(mode="json"), result.model_dump_json()):
        assert "model_config" in str(dump) and "model_settings" not in str(dump)
    result.headline = {"kl_bp": {"mean": math.nan, "stderr": math.nan, "per_seed": []}}
    back = read_result(write_result(result, tmp_path))
    assert math.isnan(back.headline["kl_bp"]["mean"])


def test_file_name_pattern_and_no_collisions(tmp_path: Path) -> None:
    result = make_result(model="my model/v2")
    paths = [write_result(result, tmp_path) for _ in range(5)]
    assert len(set(paths)) == 5
    for path in paths:
        assert re.fullmatch(r"20240301T123456Z_smoke_root_my-model-v2_[0-9a-f]{8}\.json", path.name)
    # Names sort by the time of the run.
    later = write_result(make_result(created="2024-03-01T12:34:57Z"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir())[-1] == later.name


def test_write_is_atomic(tmp_path: Path) -> None:
    write_result(make_result(), tmp_path)
    assert [p.suffix for p in tmp_path.iterdir()] == [".json"]  # no temporary file left
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    with pytest.raises(UsageError, match="--results="):
        write_result(make_result(), blocked / "sub", field="--results")


def test_created_must_be_a_timestamp_with_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        make_result(created="2024-03-01T12:34:56")
    with pytest.raises(ValueError, match="created"):
        make_result(created="yesterday")


def test_read_result_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(UsageError, match=r"result file '.*nope\.json' does not exist"):
        read_result(path)
    with pytest.raises(UsageError, match="is a folder"):
        read_result(tmp_path)


def test_read_result_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"schema_version": 1,')
    with pytest.raises(UsageError, match=r"'.*bad\.json' is not valid JSON: .* line 1"):
        read_result(path)
    path.write_text("[1, 2]")
    with pytest.raises(UsageError, match=r"bad\.json' holds a JSON list"):
        read_result(path)
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError, match=r"bad\.json' is not UTF-8"):
        read_result(path)


def test_read_result_schema_errors_name_file_and_field(tmp_path: Path) -> None:
    path = write_result(make_result(), tmp_path)
    good = json.loads(path.read_text())

    def rewrite(data: dict) -> None:
        path.write_text(json.dumps(data))

    data = json.loads(json.dumps(good))
    del data["metrics"][1]["kl_bp"]
    rewrite(data)
    with pytest.raises(
        UsageError,
        match=rf"'{re.escape(str(path))}' is invalid: metrics\[1\]"
        r"\.kl_bp: Field required",
    ):
        read_result(path)

    data = json.loads(json.dumps(good))
    data["spec"]["surprise"] = 1
    rewrite(data)
    with pytest.raises(UsageError, match=r"invalid: spec\.surprise: Extra inputs"):
        read_result(path)

    data = json.loads(json.dumps(good))
    data["metrics"][0]["k_test"] = "far"
    rewrite(data)
    with pytest.raises(UsageError, match=r"invalid: metrics\[0\]\.k_test"):
        read_result(path)

    for version, found in (
        (6, "has schema_version 6, newer than this hbench"),
        (0, "has schema_version 0"),
        ("2", "has schema_version '2'"),
        (None, "has no schema_version"),
    ):
        data = json.loads(json.dumps(good))
        data["schema_version"] = version
        rewrite(data)
        with pytest.raises(UsageError, match=rf"{found}; this hbench reads .* versions 1 to 5"):
            read_result(path)


def test_collect_environment() -> None:
    plugins = [{"name": "tree", "distribution": "hbench", "version": "1"}]
    env = collect_environment(plugins, "cpu")
    assert isinstance(env, Environment)
    assert env.hbench_version == hbench.__version__
    assert env.numpy == np.__version__
    assert env.python == ".".join(map(str, sys.version_info[:3]))
    assert env.plugins == plugins
    assert env.cpu
    assert env.gpu is None
    assert env.git_commit is None or re.fullmatch(r"[0-9a-f]{40}", env.git_commit)


def test_collect_environment_reads_an_imported_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = types.SimpleNamespace(is_available=lambda: True, get_device_name=lambda i: f"GPU {i}")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(__version__="9.9", cuda=cuda))
    env = collect_environment([], "cuda:1")
    assert (env.torch, env.gpu) == ("9.9", "GPU 1")
    assert collect_environment([], "cpu").gpu is None


def test_collect_environment_never_imports_torch() -> None:
    code = (
        "import sys, hbench.results.environment\n"
        "hbench.results.environment.collect_environment([], 'cpu')\n"
        "hbench.results.environment.collect_environment([], 'cuda')\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
