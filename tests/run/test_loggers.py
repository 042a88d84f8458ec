"""Learning curves to experiment trackers (`hbench.run.loggers`), fed on the harness's side."""

from __future__ import annotations

import struct
import subprocess
import sys
import types
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

import hbench
from hbench.cli import main
from hbench.errors import UsageError
from hbench.run.loggers import Curves, checkpoint_scalars, destination, destinations

SMOKE = {"P": 256, "n_test": 128, "n_ood": 64}
STEPS = (10, 100)


class Checkpointing:
    """A notebook model that asks for a checkpoint at two steps of its training."""

    def fit(self, train, spec, callbacks):
        self.p = np.full(spec.q, 1.0 / spec.q)
        for step in STEPS:
            counts = np.bincount(train.targets[:step], minlength=spec.q) + 1.0
            self.p = counts / counts.sum()
            callbacks.checkpoint(step)

    def predict(self, data):
        return np.tile(self.p, (data.n_queries, 1))


# --- fake trackers: modules of the same name and calls, recording what they are given ---------


class _WandbRun:
    def __init__(self, **options):
        self.options = options
        self.config = SimpleNamespace(values={})
        self.config.update = lambda values, allow_val_change=False: self.config.values.update(
            values
        )
        self.logged: list[tuple[int, dict]] = []
        self.finished = False

    def log(self, data, step):
        assert not self.finished
        self.logged.append((step, dict(data)))

    def finish(self):
        self.finished = True


@pytest.fixture
def fake_wandb(monkeypatch):
    module = types.ModuleType("wandb")
    module.__version__ = "0.21.1"
    module.runs = []

    def init(**options):
        module.runs.append(_WandbRun(**options))
        return module.runs[-1]

    module.init = init
    monkeypatch.setitem(sys.modules, "wandb", module)
    return module


class _MlflowClient:
    created: ClassVar[list[_MlflowClient]] = []

    def __init__(self, tracking_uri=None):
        self.uri = tracking_uri
        self.experiments: dict[str, str] = {}
        self.runs: dict[str, dict] = {}
        _MlflowClient.created.append(self)

    def get_experiment_by_name(self, name):
        found = self.experiments.get(name)
        return None if found is None else SimpleNamespace(experiment_id=found)

    def create_experiment(self, name):
        self.experiments[name] = f"e{len(self.experiments)}"
        return self.experiments[name]

    def create_run(self, experiment_id, run_name=None, tags=None):
        run_id = f"r{len(self.runs)}"
        self.runs[run_id] = {
            "experiment": experiment_id, "name": run_name, "tags": tags, "params": {},
            "metrics": [], "status": "RUNNING",
        }  # fmt: skip
        return SimpleNamespace(info=SimpleNamespace(run_id=run_id))

    def log_param(self, run_id, key, value):
        assert isinstance(value, str)
        self.runs[run_id]["params"][key] = value

    def log_metric(self, run_id, key, value, step=0):
        self.runs[run_id]["metrics"].append((step, key, value))

    def set_terminated(self, run_id):
        self.runs[run_id]["status"] = "FINISHED"


@pytest.fixture
def fake_mlflow(monkeypatch):
    module = types.ModuleType("mlflow")
    module.MlflowClient = _MlflowClient
    _MlflowClient.created = []
    monkeypatch.setitem(sys.modules, "mlflow", module)
    return module


class Recording:
    """A destination of one's own: any object with ``open(name, group)``."""

    def __init__(self):
        self.opened: dict[str, SimpleNamespace] = {}

    def open(self, name, group):
        record = SimpleNamespace(group=group, config=None, scalars=[], closed=False)
        self.opened[name] = record
        return SimpleNamespace(
            log_config=lambda config: setattr(record, "config", dict(config)),
            log_scalars=lambda scalars, step: record.scalars.append((step, dict(scalars))),
            close=lambda: setattr(record, "closed", True),
        )


def test_every_tracker_gets_each_fits_curves_and_final_scores(fake_wandb, fake_mlflow):
    mine = Recording()
    result = hbench.evaluate(
        Checkpointing,
        suite="smoke",
        train_filters=[0, 2],
        overrides=SMOKE,
        progress=False,
        loggers=["wandb:me/curves", "mlflow:file:/nowhere", mine],
    )
    fits = {f"seed0-k{k}": k for k in (0, 2)}
    # one tracker run per fit, in one group named after the run
    assert set(mine.opened) == set(fits)
    assert len({r.group for r in mine.opened.values()}) == 1
    assert all(r.closed for r in mine.opened.values())
    dynamics = {d["k_train"]: d for d in result.extra["dynamics"]}
    for name, k_train in fits.items():
        record = mine.opened[name]
        assert record.config["k_train"] == k_train and record.config["seed"] == 0
        assert record.config["model"] == "checkpointing" and record.config["suite"] == "smoke"
        assert "grammar_seed" in record.config
        steps = [step for step, _ in record.scalars]
        assert steps == [*STEPS, STEPS[-1]]  # the checkpoints, then the final scores
        # each checkpoint's scalars are its point of the run's learning dynamics
        for (_, scalars), point in zip(record.scalars, dynamics[k_train]["points"], strict=False):
            assert scalars == checkpoint_scalars(point)
            assert scalars["acc/k1"] == point["accuracy"]["1"]
            assert scalars["kl/bp3"] == point["kl"]["3"]
        final = record.scalars[-1][1]
        cells = {m.k_test: m for m in result.metrics if m.k_train == k_train}
        assert final["final/acc/k1"] == cells[1].acc and final["final/kl_bp/k3"] == cells[3].kl_bp
        assert final["final/kl_bp/ood"] == cells["ood"].kl_bp
        assert "fit_s" in final and "final/normalised_accuracy" in final
    # W&B: a run per fit, several open at once, in the project and group; finished
    runs = {run.options["name"]: run for run in fake_wandb.runs}
    assert set(runs) == set(fits)
    for name, run in runs.items():
        assert run.options["project"] == "curves" and run.options["entity"] == "me"
        assert run.options["reinit"] == "create_new"
        assert run.options["group"] == mine.opened[name].group
        assert run.logged == mine.opened[name].scalars and run.finished
        assert run.config.values == mine.opened[name].config
    # MLflow: one client, an experiment, a run per fit with flat string parameters
    (client,) = _MlflowClient.created
    assert client.uri == "file:/nowhere" and list(client.experiments) == ["hbench"]
    by_name = {run["name"]: run for run in client.runs.values()}
    assert set(by_name) == set(fits)
    for name, run in by_name.items():
        assert run["status"] == "FINISHED"
        assert run["params"]["k_train"] == str(fits[name])
        assert run["params"]["suite_config.depth"] == str(result.spec.suite["depth"])
        scalars = mine.opened[name].scalars
        logged = [(step, key, value) for step, values in scalars for key, value in values.items()]
        assert run["metrics"] == logged


def test_a_tracker_that_is_not_installed_is_one_line_before_any_training(
    monkeypatch, tmp_path, capsys
):
    for kind in ("wandb", "mlflow"):
        monkeypatch.setitem(sys.modules, kind, None)
        with pytest.raises(UsageError, match=rf"needs {kind}.*pip install 'hbench\[{kind}\]'"):
            destination(kind)
        argv = ["run", "--model", "prior", "--suite", "smoke", "--out", str(tmp_path / "r")]
        code = main([*argv, "--logger", f"{kind}:x"])
        err = capsys.readouterr().err
        assert code == 2 and f"hbench[{kind}]" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "r").exists()
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(UsageError, match=r"needs tensorboardX.*hbench\[tensorboard\]"):
        destination(f"tensorboard:{tmp_path}")


def test_bad_destinations_are_refused(fake_wandb, tmp_path):
    with pytest.raises(UsageError, match="did you mean 'tensorboard'"):
        destination("tensorbord:runs")
    with pytest.raises(UsageError, match="each destination once"):
        destinations(["wandb:a", "wandb:a"])
    with pytest.raises(UsageError, match="wandb:PROJECT"):
        destination("wandb:a:b")
    with pytest.raises(UsageError, match="printable"):
        destination("wandb:\x1b[2Jx")
    with pytest.raises(UsageError, match="an object with open"):
        destination(42, "loggers")
    fake_wandb.__version__ = "0.18.7"
    with pytest.raises(UsageError, match=r"wandb >= 0\.19\.10.*not 0\.18\.7"):
        destination("wandb")
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="--logger"):
        destination(f"tensorboard:{tmp_path / 'file'}")


def test_a_fit_that_fails_still_closes_its_trackers():
    mine = Recording()
    with pytest.raises(RuntimeError), Curves([mine]) as curves:
        curves.checkpoint(0, 1, {"label": 5, "seconds": 0.5, "accuracy": {"0": 0.5}, "kl": {}})
        raise RuntimeError("the fit failed")
    assert mine.opened["seed0-k1"].closed
    assert mine.opened["seed0-k1"].scalars == [(5, {"acc/k0": 0.5, "seconds": 0.5})]


def test_checkpoint_labels_that_are_no_step_count_in_order():
    mine = Recording()
    with Curves([mine]) as curves:
        for label in ("warmup", "end"):
            curves.checkpoint(1, 0, {"label": label, "kl": {"0": 0.2, "1": 0.1}})
    steps = [(step, scalars["closest_bp"]) for step, scalars in mine.opened["seed1-k0"].scalars]
    assert steps == [(0, 1.0), (1, 1.0)]


def test_no_tracker_library_is_imported_unless_named():
    code = (
        "import sys, hbench.run.loggers, hbench.cli.run;"
        "assert not {'tensorboardX', 'wandb', 'mlflow', 'torch'} & set(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _event_scalars(folder):
    """(step, tag, value) of the scalars in the TensorBoard event files under ``folder``."""
    from tensorboardX.proto import event_pb2

    found = []
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        data, i = path.read_bytes(), 0
        while i < len(data):  # TFRecord: length, its CRC, the event, its CRC
            (n,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event.FromString(data[i + 12 : i + 12 + n])
            i += 12 + n + 4
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    found.append((path.parent.name, event.step, value.tag, value.simple_value))
    return found


def test_tensorboard_event_files_from_a_sandboxed_fit(tmp_path):
    """The model trains in its worker, which can write nothing outside its scratch folder: the
    curves are written by the harness from the checkpoints that come back over the wire."""
    pytest.importorskip("tensorboardX")
    pytest.importorskip("torch")
    result = hbench.evaluate(
        "transformer",
        suite="smoke",
        train_filters=[1],
        overrides=SMOKE,
        model_args={"n_checkpoints": 3, "epochs": 4, "d_model": 16, "n_layers": 1, "n_heads": 2},
        progress=False,
        loggers=[f"tensorboard:{tmp_path / 'tb'}"],
    )
    assert result.isolation == "process"
    scalars = _event_scalars(tmp_path / "tb")
    assert {fit for fit, *_ in scalars} == {"seed0-k1"}
    points = result.extra["dynamics"][0]["points"]
    curve = [(step, value) for _, step, tag, value in scalars if tag == "kl/bp1"]
    assert [step for step, _ in curve] == [p["label"] for p in points]
    np.testing.assert_allclose([v for _, v in curve], [p["kl"]["1"] for p in points], rtol=1e-6)
    final = {tag: value for _, _, tag, value in scalars if tag.startswith("final/")}
    cell = next(m for m in result.metrics if m.k_test == 1)
    assert final["final/acc/k1"] == pytest.approx(cell.acc, rel=1e-6)


def test_the_command_line_logs_curves_and_samples_together(tmp_path, capsys, fake_wandb):
    pytest.importorskip("pyarrow")
    argv = ["run", "--model", "prior", "--suite", "smoke", "--train-filter", "1"]
    argv += ["--set", "P=256", "--set", "n_test=128", "--set", "n_ood=64"]
    samples = tmp_path / "s.parquet"
    code = main(
        [*argv, "--out", str(tmp_path / "r"), "--log-samples", str(samples), "--logger", "wandb"]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"wrote {samples}" in out and samples.is_file()
    (run,) = fake_wandb.runs
    assert run.options["project"] == "hbench" and run.options["name"] == "seed0-k1"
    assert run.finished and run.logged[-1][1]["final/acc/k1"] >= 0
    # run again: the finished result would be reused, which has no curves to log
    code = main([*argv, "--out", str(tmp_path / "r"), "--logger", "wandb"])
    assert code == 2 and "--overwrite runs it again" in capsys.readouterr().err
    assert len(fake_wandb.runs) == 1
