"""Built-in sweeps: shipped as package data, named by their stem, listed by ``--list``."""

from __future__ import annotations

import fnmatch
import json
import sys
from pathlib import Path

import pytest

from hbench.cli import main
from hbench.errors import UsageError
from hbench.sweep.builtins import builtin_sweeps, find_sweep_file
from hbench.sweep.file import read_sweep_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).parents[2]


def test_the_builtins_are_valid_and_shipped_in_the_wheel() -> None:
    sweeps = builtin_sweeps()
    assert {"cpu-sample-complexity", "paper"} <= set(sweeps)
    package = ROOT / "hbench"
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]["package-data"]["hbench"]
    for name, path in sweeps.items():
        assert read_sweep_file(path).name == name
        relative = path.relative_to(package).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative


def test_a_path_wins_over_a_name_and_a_name_needs_no_suffix(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    builtin = builtin_sweeps()["paper"]
    assert find_sweep_file("paper") == find_sweep_file("paper.toml") == builtin
    Path("paper.toml").write_text("# mine", encoding="utf-8")
    assert find_sweep_file("paper.toml") == Path("paper.toml")
    assert find_sweep_file("paper") == builtin
    with pytest.raises(UsageError, match=r"SWEEP='papper' is invalid: .*built-in: .*paper"):
        find_sweep_file("papper")
    with pytest.raises(UsageError, match="no such sweep file"):
        find_sweep_file("elsewhere/paper")


def test_sweep_a_builtin_by_name_from_anywhere(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "study"
    argv = ["sweep", "cpu-sample-complexity", "--dry-run", "--out", str(out), "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sweep"] == "cpu-sample-complexity" and data["counts"] == {"to run": 68}
    assert data["file"] == str(builtin_sweeps()["cpu-sample-complexity"])


def test_list_the_builtins(capsys) -> None:
    assert main(["sweep", "--list"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["name", "cells", "suite", "description"]
    assert "cpu-sample-complexity" in text and "paper" in text
    assert main(["--json", "sweep", "--list"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["cpu-sample-complexity"]["cells"] == 68 and rows["paper"]["suite"] == "paper"


def test_sweep_without_a_file_or_with_list_and_a_file(capsys) -> None:
    assert main(["sweep"]) == 2
    assert "SWEEP is required" in capsys.readouterr().err
    assert main(["sweep", "paper", "--list"]) == 2
    assert "--list=True is invalid: alone, without SWEEP" in capsys.readouterr().err
