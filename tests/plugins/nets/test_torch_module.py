"""The `torch-module` model: a plain ``nn.Module`` given by import path (from the command line,
in a worker), by file path, as a class and as an instance from Python; the one line for a
module of the wrong output shape (tiny modules, the smoke suite: seconds, CPU)."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import hbench  # noqa: E402
from hbench.cli import main  # noqa: E402
from hbench.errors import UsageError  # noqa: E402
from hbench.run.harness import Harness, _paths_in  # noqa: E402
from hbench.run.spec import RunSpec  # noqa: E402
from hbench_nets.torch_module import TorchModuleModel  # noqa: E402

MODULES = Path(__file__).resolve().parent / "modules"
FAST = {"epochs": 8, "batch_size": 32, "lr": 3e-3}
SMALL = {"seeds": [0], "train_filters": [0]}


@pytest.fixture
def tiny_nets(monkeypatch):
    """The test modules installed as a user's package would be: importable here (``sys.path``)
    and in a worker (``PYTHONPATH``)."""
    monkeypatch.syspath_prepend(str(MODULES))
    paths = [str(MODULES), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    yield importlib.import_module("hbench_tiny_nets")
    sys.modules.pop("hbench_tiny_nets", None)


def harness(module: str, task: str = "root", **model_args) -> Harness:
    return Harness(
        RunSpec(
            model="torch-module",
            suite="smoke",
            overrides={"task": task, "seeds": [0]},
            model_args={"module": module, **FAST, **model_args},
            device="cpu",
        )
    )


def accuracy(h: Harness, model) -> float:
    h.fit(model, h.world.train_data(0, 0), h.callbacks(0, 0))
    rows, _, _ = h.evaluate(model, 0, 0)
    return next(r for r in rows if r["k_test"] == 0)["acc"]


def test_a_module_by_import_path_learns_root_and_mlm_deterministically(tiny_nets):
    h = harness("hbench_tiny_nets:FlatMLP", module_args={"width": 24})
    model = h.new_model()
    assert accuracy(h, model) > 0.4  # chance: 0.25
    assert model.net.hidden.out_features == 24  # module_args reached the constructor
    data = h.world.test_data(0, 0)
    again = h.new_model()
    h.fit(again, h.world.train_data(0, 0), h.callbacks(0, 0))
    np.testing.assert_array_equal(model.predict(data), again.predict(data))
    assert model.resolved_config()["module"] == "hbench_tiny_nets:FlatMLP"
    mlm = harness("hbench_tiny_nets:PerPosition", task="mlm")
    assert accuracy(mlm, mlm.new_model()) > 0.25  # per position; BP's: 0.46


def test_a_module_by_file_path(tmp_path):
    source = (MODULES / "hbench_tiny_nets.py").read_text()
    (tmp_path / "my_net.py").write_text(source)
    h = harness(f"{tmp_path / 'my_net.py'}:FlatMLP")
    file = (tmp_path / "my_net.py").resolve()
    assert h.run_spec.model_config.module == f"{file}:FlatMLP"
    assert _paths_in(h.run_spec.model_config) == [str(file)]  # the sandbox binds it read-only
    assert accuracy(h, h.new_model()) > 0.4


def test_a_class_and_an_instance_from_python(tiny_nets):
    """``hbench.evaluate`` takes a plain nn.Module class (built per fit from the task) or
    instance (each fit trains a fresh copy: the instance is never changed)."""
    by_class = hbench.evaluate(tiny_nets.FlatMLP, "smoke", model_args=FAST, progress=False, **SMALL)
    assert by_class.isolation == "in-process"
    assert by_class.headline["normalised_accuracy"]["mean"] > 0.2
    instance = tiny_nets.FlatMLP(vocab_size=4, length=8, q=4)
    before = {k: v.clone() for k, v in instance.state_dict().items()}
    by_instance = hbench.evaluate(instance, "smoke", model_args=FAST, progress=False, **SMALL)
    assert by_instance.headline["normalised_accuracy"]["mean"] > 0.2
    assert all(torch.equal(before[k], v) for k, v in instance.state_dict().items())
    wrapped = TorchModuleModel(tiny_nets.FlatMLP, **FAST)
    result = hbench.evaluate(wrapped, "smoke", progress=False, **SMALL)
    assert result.headline == by_class.headline


def test_the_cli_runs_a_module_in_a_worker(tiny_nets, capsys, tmp_path):
    code = main(
        [
            "run", "--model", "torch-module", "--suite", "smoke", "--seeds", "0",
            "--train-filter", "0", "--quiet", "--out", str(tmp_path),
            "--model-arg", "module=hbench_tiny_nets:FlatMLP", "--model-arg", "epochs=2",
            "--model-arg", 'module_args={"width": 8}',
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err


def test_the_wrong_output_shape_is_one_line_before_training(tiny_nets):
    h = harness("hbench_tiny_nets:WrongShape")
    model = h.new_model()
    with pytest.raises(UsageError) as caught:
        h.fit(model, h.world.train_data(0, 0), h.callbacks(0, 0))
    message = str(caught.value)
    assert "\n" not in message and model.net is None
    assert "output (2, 5) for token ids of shape (2, 8)" in message
    assert "needs logits (batch, q) = (2, 4)" in message
    mlm = harness("hbench_tiny_nets:FlatMLP", task="mlm")
    with pytest.raises(UsageError, match=r"needs logits \(batch, length, q\) = \(2, 8, 4\)"):
        mlm.fit(mlm.new_model(), mlm.world.train_data(0, 0), mlm.callbacks(0, 0))


@pytest.mark.parametrize(
    ("module", "message"),
    [
        ("hbench_tiny_nets", "package.module:Class"),
        ("no/such/file.py:Net", "no file no/such/file.py"),
        ("bad name:Net", "package.module:Class"),
    ],
)
def test_a_bad_module_option_is_refused_before_any_work(module, message):
    with pytest.raises(UsageError, match=message):
        RunSpec(model="torch-module", suite="smoke", model_args={"module": module}).resolve()


def test_a_module_that_cannot_be_built_is_one_line(tiny_nets):
    with pytest.raises(UsageError, match=r"module=.*hbench_tiny_nets:Missing.*no Missing"):
        TorchModuleModel("hbench_tiny_nets:Missing")
    with pytest.raises(UsageError, match=r"a torch\.nn\.Module subclass"):
        TorchModuleModel("hbench_tiny_nets:annotations")
    with pytest.raises(UsageError, match="no_such_package"):
        TorchModuleModel("no_such_package.nets:Net")
    with pytest.raises(UsageError, match=r"module_args.*come from the task"):
        h = harness("hbench_tiny_nets:FlatMLP", module_args={"q": 3})
        h.fit(h.new_model(), h.world.train_data(0, 0), h.callbacks(0, 0))
    with pytest.raises(UsageError, match="lr="):
        TorchModuleModel(tiny_nets.FlatMLP, lr=-1)
