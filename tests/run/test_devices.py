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


def test_a_fit_runtime_names_the_device_torch_and_gpu(monkeypatch) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # a model that never imported it
    assert devices.fit_runtime("auto") == {"device": "cpu", "torch": None, "gpu": None}
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(__version__="9.9.9"))
    monkeypatch.setattr(devices, "resolve_device", lambda choice: "cpu")
    assert devices.fit_runtime("cpu") == {"device": "cpu", "torch": "9.9.9", "gpu": None}


@pytest.mark.parametrize(
    ("runtime", "field"),
    [
        ({"device": "tpu", "torch": None, "gpu": None}, "device"),
        ({"device": "cuda:12345", "torch": None, "gpu": None}, "device"),
        ({"device": "cpu", "torch": "2.1\n<script>", "gpu": None}, "torch"),
        ({"device": "cuda", "torch": "2.1", "gpu": "x" * 101}, "gpu"),
        ({"device": "cpu", "torch": 2.1, "gpu": None}, "torch"),
        ({"device": "cpu"}, "not device, torch and gpu"),
        (["cpu", None, None], "not device, torch and gpu"),
    ],
)
def test_a_workers_runtime_is_checked_like_anything_a_model_sends(runtime, field) -> None:
    from hbench.errors import PluginError

    with pytest.raises(PluginError, match=f"model 'm' sent a fit runtime.*{field}"):
        devices.checked_runtime(runtime, "model 'm'")
    good = {"device": "cuda:1", "torch": "2.13.0+cu128", "gpu": "NVIDIA H100 80GB HBM3"}
    assert devices.checked_runtime(good, "model 'm'") == good
    assert devices.checked_runtime(None, "model 'm'") is None


ISOLATED_FIT = """
import json, sys
import hbench
result = hbench.evaluate(
    "transformer", suite="smoke", seeds=[0], train_filters=[0],
    overrides={"P": 64, "n_test": 32, "n_ood": 16},
    model_args={"d_model": 8, "n_layers": 1, "d_ff": 16, "epochs": 1},
    device="cpu", progress=False,
)
env, spec = result.environment, result.spec
print(json.dumps([result.isolation, spec.device, env.torch, env.gpu, "torch" in sys.modules]))
"""


def test_an_isolated_fit_records_the_torch_its_worker_imported(tmp_path) -> None:
    """The harness's process never imports torch for a model in a worker (checked: the
    subprocess ends without it); the result still says which torch trained it, and where."""
    pytest.importorskip("torch")
    import importlib.metadata
    import json

    done = subprocess.run(
        [sys.executable, "-c", ISOLATED_FIT], capture_output=True, text=True, cwd=tmp_path,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    isolation, device, version, gpu, harness_imported = json.loads(done.stdout.splitlines()[-1])
    assert (isolation, device, gpu, harness_imported) == ("process", "cpu", None, False)
    assert version == importlib.metadata.version("torch")
