"""``hbench new-plugin``: a skeleton that installs with pip and passes ``hbench check``."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hbench.cli import main
from hbench.cli.plugin_template import files


def test_skeleton_files(tmp_path, capsys) -> None:
    assert main(["new-plugin", "my-model", "--dir", str(tmp_path)]) == 0
    target = tmp_path / "my-model"
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == sorted(
        files("my-model")
    )
    pyproject = (target / "pyproject.toml").read_text()
    assert '[project.entry-points.hbench]\nmy_model = "my_model.plugin"' in pyproject
    assert (
        '"my-model",\n        "my_model.model:Model"'
        in (target / "src" / "my_model" / "plugin.py").read_text()
    )
    assert not list(tmp_path.glob(".*.tmp"))  # no staging folder left behind
    assert "next: pip install -e" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("My_Model", r"NAME='My_Model' is invalid: lowercase letters"),
        ("bp", r"NAME='bp' is invalid: a model name not yet registered"),
        ("x-", r"NAME='x-' is invalid"),
    ],
)
def test_bad_names_exit_2(tmp_path, capsys, name, message) -> None:
    assert main(["new-plugin", name, "--dir", str(tmp_path)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path, capsys) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("keep me")
    assert main(["new-plugin", "taken", "--dir", str(tmp_path)]) == 2
    assert "(it exists)" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]


@pytest.mark.skipif(
    importlib.util.find_spec("setuptools") is None,
    reason="installing the skeleton offline needs setuptools in this environment",
)
def test_installed_skeleton_passes_check(tmp_path) -> None:
    """Installed with pip, exactly as its author would, it is found through its entry point."""
    assert main(["new-plugin", "fresh-model", "--dir", str(tmp_path), "--quiet"]) == 0
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(tmp_path / "fresh-model"),
        ],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    hbench = [sys.executable, "-m", "hbench"]
    done = subprocess.run(
        [*hbench, "check", "--model", "fresh-model", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "model 'fresh-model' passes the contract checks" in done.stdout
    listed = subprocess.run([*hbench, "list", "models"], env=env, capture_output=True, text=True)
    assert "fresh-model" in listed.stdout and "fresh-model 0.1.0" in listed.stdout
    assert Path(site).is_dir()
