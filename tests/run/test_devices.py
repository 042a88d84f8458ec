"""torch is an optional extra: what runs without it, and the one line for a model that needs it.

The commands run in a subprocess whose interpreter refuses to import torch (a meta-path finder
installed by a ``sitecustomize`` on PYTHONPATH), as on a machine where ``pip install hbench``
left it out: any core module that imports torch on these paths makes them fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType, SimpleNamespace

import pytest

from hbench.errors import UsageError
from hbench.run import devices

NO_TORCH = '''\
import sys


class NoTorch:
    """torch is not installed here."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoTorch())
'''


@pytest.fixture(scope="module")
def without_torch(tmp_path_factory) -> dict[str, str]:
    """The environment of a subprocess that cannot import torch."""
    folder = tmp_path_factory.mktemp("no-torch")
    (folder / "sitecustomize.py").write_text(NO_TORCH, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HBENCH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    return env


def hbench(env: dict[str, str], *args: str, cwd: Path | None = None):
    return subprocess.run(
        [sys.executable, "-m", "hbench", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def test_the_blocker_blocks(without_torch):
    code = "import hbench.run.devices as d; print(d.torch_installed())"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=without_torch
    )
    assert result.stdout.strip() == "False", result.stderr


def test_the_oracle_table_runs_without_torch(without_torch):
    result = hbench(without_torch, "oracle-table", "--depth", "3", "--n", "200", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "BP_3" in result.stdout


def test_a_numpy_model_runs_without_torch(without_torch, tmp_path):
    result = hbench(
        without_torch,
        "run",
        "--model",
        "naive-bayes",
        "--suite",
        "smoke",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert len(list(tmp_path.glob("*.json"))) == 1


@pytest.mark.parametrize("model", ["transformer", "gpt"])
def test_a_torch_model_without_torch_is_one_line(without_torch, model, tmp_path):
    result = hbench(without_torch, "run", "--model", model, "--suite", "smoke", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"hbench: error: model {model!r} needs torch: pip install 'hbench[torch]'"
    ]
    assert not list(tmp_path.iterdir())  # nothing written


def registration(**metadata) -> SimpleNamespace:
    return SimpleNamespace(label="model 'm'", metadata=MappingProxyType(metadata))


def test_only_an_item_that_uses_torch_needs_it(monkeypatch):
    monkeypatch.setattr(devices, "torch_installed", lambda: False)
    devices.check_torch(registration())  # a numpy model
    devices.check_torch(registration(uses_torch=False))
    with pytest.raises(UsageError, match=r"^model 'm' needs torch: pip install 'hbench\[torch\]'$"):
        devices.check_torch(registration(uses_torch=True))
    monkeypatch.setattr(devices, "torch_installed", lambda: True)
    devices.check_torch(registration(uses_torch=True))
