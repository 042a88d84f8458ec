"""What a model logs itself (`FitCallbacks.log`): from the sandboxed worker over the wire,
checked on the harness's side (`hbench.run.worker.protocol.ScalarGate`), to the trackers as
``train/{name}`` (`hbench.run.loggers.Curves`); hostile values dropped with one warning."""

from __future__ import annotations

import importlib
import logging
import os
import struct
import sys
from types import SimpleNamespace

import numpy as np
import pytest

import hbench
import hbench.run.worker.protocol as protocol
from hbench.cli import main
from hbench.registry.registry import load_registry
from hbench.run.harness import Harness
from hbench.run.loggers import Curves
from hbench.run.spec import RunSpec
from hbench.run.worker.protocol import ScalarGate
from hbench.run.worker.sandbox import SANDBOX_ENV, probe

VERSION, WHY_NOT = probe()
SMOKE = {"seeds": [0], "train_filters": [1], "P": 256, "n_test": 64, "n_ood": 0}

#: A registered model that logs what its option ``mode`` says, from its worker.
LOGGING_MODEL = '''
"""Logs scalars during fit (tests/run/test_logged_scalars.py)."""

import math

import numpy as np
from pydantic import BaseModel, ConfigDict

from hbench import hookimpl


class LoggingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: str = "honest"


class Logging:
    def __init__(self, config):
        self.mode = config.mode

    def fit(self, train, spec, callbacks):
        self.q = spec.q
        if self.mode == "honest":
            for epoch in range(3):  # numpy scalars and a plain int step, as a torch loop has
                callbacks.log({"loss": np.float32(1.0 / (epoch + 1)), "lr": 0.5}, 10 * epoch)
        elif self.mode == "hostile":
            callbacks.log({"loss": 2.0, "nan": math.nan, "inf": -math.inf}, 1)
            callbacks.log({"\\x1b[31mred": 1.0, "x" * 100000: 1.0, "a..b": 1.0}, 2)
            callbacks.log({"loss": 3.0}, -1)
            callbacks.log({"loss": 3.0}, 2.5)
            callbacks.log({"loss": "fast"}, 3)
            callbacks.log({f"s{i}": 1.0 for i in range(1000)}, 4)
            callbacks.log(["not", "a", "mapping"], 5)
            callbacks.log({"loss": 1.0}, 6)
        elif self.mode == "flood":
            for step in range(200):
                callbacks.log({"loss": 1.0}, step)
        # "silent": never logs

    def predict(self, data):
        return np.full((data.n_queries, self.q), 1.0 / self.q)


@hookimpl
def hbench_register_models(register):
    register("logging", Logging, LoggingConfig, description="logs scalars (tests only)")
'''


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The model installed as a plugin outside hbench's tree, run in the sandbox."""
    if VERSION is None and not os.environ.get("HBENCH_CI"):
        pytest.skip(f"no sandbox: {WHY_NOT}")
    folder = tmp_path_factory.mktemp("logging_plugin")
    (folder / "logging_model.py").write_text(LOGGING_MODEL)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
        patch.setenv("PYTHONPATH", os.pathsep.join(paths))
        patch.delenv(SANDBOX_ENV, raising=False)
        module = importlib.import_module("logging_model")
        yield load_registry(extra_plugins=[("logging", module)])
    sys.modules.pop("logging_model", None)


@pytest.fixture
def warned():
    """The warnings of ``hbench.run``, caught on its own logger: the command line's logging
    (``configure_logging``) keeps them from the root logger, where caplog listens."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("hbench.run")
    logger.addHandler(handler)
    yield lambda: [record.getMessage() for record in records]
    logger.removeHandler(handler)


class Recording:
    """A destination of one's own, keeping what each fit's logger is given."""

    def __init__(self):
        self.scalars: dict[str, list] = {}

    def open(self, name, group):
        logged = self.scalars.setdefault(name, [])
        return SimpleNamespace(
            log_config=lambda config: None,
            log_scalars=lambda scalars, step: logged.append((step, dict(scalars))),
            close=lambda: None,
        )


def trained(scalars: list) -> list:
    """(step, {name: value}) of the ``train/`` scalars a fit's logger got."""
    out = []
    for step, values in scalars:
        mine = {k: v for k, v in values.items() if k.startswith("train/")}
        if mine:
            out.append((step, mine))
    return out


def run(registry, mode: str, **options):
    mine = Recording()
    spec = RunSpec(model="logging", suite="smoke", overrides=SMOKE, model_args={"mode": mode})
    with Curves([mine]) as curves:
        result = Harness(spec, registry).run(curves=curves, fit_timeout=60, **options)
    return result, mine.scalars["seed0-k1"]


def test_what_a_sandboxed_model_logs_reaches_the_trackers(registry, warned) -> None:
    result, scalars = run(registry, "honest")
    assert result.isolation == "process" and result.sandbox["kind"] == "bubblewrap"
    assert trained(scalars) == [
        (step, {"train/loss": pytest.approx(1.0 / (i + 1)), "train/lr": 0.5})
        for i, step in enumerate((0, 10, 20))
    ]
    assert scalars[-1][0] == 20  # the final scores at the last step logged
    assert "final/acc/k1" in scalars[-1][1]
    assert warned() == []


def test_a_model_that_never_logs_is_fine(registry) -> None:
    _, scalars = run(registry, "silent")
    assert trained(scalars) == [] and "final/acc/k1" in scalars[-1][1]


def test_hostile_scalars_are_dropped_with_one_warning_and_the_fit_is_scored(
    registry, warned
) -> None:
    result, scalars = run(registry, "hostile")
    assert len(result.metrics) > 0
    # kept: the finite loss of the first call, the good one of the last; nothing else
    assert trained(scalars) == [(1, {"train/loss": 2.0}), (6, {"train/loss": 1.0})]
    names = {name for _, values in scalars for name in values}
    assert all(len(name) < 80 and "\x1b" not in name for name in names)
    lines = warned()
    assert len(lines) == 1
    assert "model 'logging'" in lines[0] and "not a finite number" in lines[0]
    assert "\x1b" not in lines[0] and len(lines[0]) < 300


def test_a_flood_is_cut_at_the_cap(registry, warned, monkeypatch) -> None:
    monkeypatch.setattr(protocol, "MAX_LOG_CALLS", 50)
    _, scalars = run(registry, "flood")
    assert [step for step, _ in trained(scalars)] == list(range(50))
    lines = warned()
    assert len(lines) == 1 and "more than 50 log calls" in lines[0]


# --- the gate itself, on what the wire may carry ------------------------------------------------


@pytest.mark.parametrize(
    ("scalars", "step", "why"),
    [
        ({"loss": float("nan")}, 0, "not a finite number"),
        ({"loss": 10**400}, 0, "not a finite number"),
        ({"loss": True}, 0, "not a finite number"),
        ({"loss": None}, 0, "not a finite number"),
        ({"\x1b]0;title\x07loss": 1.0}, 0, "is not 1-64 letters"),
        ({"": 1.0}, 0, "is not 1-64 letters"),
        ({"x" * 65: 1.0}, 0, "is not 1-64 letters"),
        ({"/loss": 1.0}, 0, "is not 1-64 letters"),
        ({"loss": 1.0}, None, "not an integer"),
        ({"loss": 1.0}, True, "not an integer"),
        ({"loss": 1.0}, 2**60, "not an integer"),
        ({f"s{i}": 1.0 for i in range(17)}, 0, "17 scalars in one call"),
        ("loss", 0, "str instead of a mapping"),
        ([["loss", 1.0, 2.0]], 0, "list instead of a mapping"),
    ],
)
def test_the_gate_drops_what_no_tracker_should_get(scalars, step, why, warned) -> None:
    got: list = []
    gate = ScalarGate("model 'x'", lambda values, at: got.append((at, values)))
    gate(scalars, step)
    gate(scalars, step)
    assert got == []
    (warning,) = warned()
    assert warning.startswith("model 'x': logged scalars dropped") and why in warning
    assert "\x1b" not in warning and "\x07" not in warning


def test_the_gate_keeps_wire_pairs_and_good_names() -> None:
    got: list = []
    gate = ScalarGate("m", lambda values, at: got.append((at, values)))
    gate([["loss", 1], ["grad.norm", 2.5], ["lr/group-0", 0.1]], 7)
    assert got == [(7, {"loss": 1.0, "grad.norm": 2.5, "lr/group-0": 0.1})]
    ScalarGate("m", None)({"loss": float("nan")}, 0)  # nobody listens: nothing checked


def test_an_in_process_model_is_checked_the_same_way(warned) -> None:
    class Notebook:
        def fit(self, train, spec, callbacks):
            self.q = spec.q
            callbacks.log({"loss": 0.25, "bad": float("inf")}, 3)

        def predict(self, data):
            return np.full((data.n_queries, self.q), 1.0 / self.q)

    mine = Recording()
    result = hbench.evaluate(
        Notebook, suite="smoke", train_filters=[1], overrides=SMOKE, progress=False, loggers=[mine]
    )
    assert result.isolation == "in-process"
    assert trained(mine.scalars["seed0-k1"]) == [(3, {"train/loss": 0.25})]
    (warning,) = warned()
    assert "logged scalars dropped (bad=inf is not a finite number)" in warning


def _event_tags(folder) -> list[tuple[int, str, float]]:
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
                    found.append((event.step, value.tag, value.simple_value))
    return found


def test_the_transformers_training_loss_reaches_tensorboard(tmp_path, capsys) -> None:
    pytest.importorskip("tensorboardX")
    pytest.importorskip("torch")
    argv = ["run", "--model", "transformer", "--suite", "smoke", "--train-filter", "1"]
    argv += ["--set", "P=256", "--set", "n_test=64", "--set", "n_ood=0"]
    for arg in ("epochs=3", "d_model=16", "n_layers=1", "n_heads=2", "n_checkpoints=2"):
        argv += ["--model-arg", arg]
    tb = tmp_path / "tb"
    code = main([*argv, "--out", str(tmp_path / "r"), "--logger", f"tensorboard:{tb}"])
    assert code == 0, capsys.readouterr().err
    loss = [(step, value) for step, tag, value in _event_tags(tb) if tag == "train/loss"]
    assert len(loss) >= 3  # one per epoch, at the optimisation step it ended on
    steps = [step for step, _ in loss]
    assert steps == sorted(steps) and steps[0] > 0
    assert all(np.isfinite(value) and value > 0 for _, value in loss)
