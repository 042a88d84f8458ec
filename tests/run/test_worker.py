"""The model worker's template process: one per run, a forked worker per fit, each still a
fresh worker's equal (thread budget, global random state, audit) and still killable and
reported when it dies; a template that refuses or dies hands its fits to fresh interpreters.

The probe model below reports the process it runs in; the tests write it to a folder on
``sys.path`` and ``PYTHONPATH`` so that workers and templates import it as any plugin.
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from types import ModuleType

import numpy as np
import pytest

from hbench.contracts import WHOLE_SEQUENCE, TaskData, TaskSpec
from hbench.errors import PluginError
from hbench.registry.registry import load_registry
from hbench.run.harness import Harness
from hbench.run.spec import RunSpec
from hbench.run.worker import SANDBOX_ENV, TEMPLATE_ENV, IsolatedModel, WorkerTemplates

PROBE = '''
"""A model that reports the process it runs in (tests/run/test_worker.py)."""

import os
import sys
import time

import numpy as np
from pydantic import BaseModel, ConfigDict

from hbench import hookimpl

WATCHED = ("hbench_tree", "hbench.run.harness", "hbench.run.oracle_table", "hbench.suites",
           "hbench.analysis")


class ProbeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sleep: float = 0.0
    started: str = ""  # a file the fit creates as it starts


class Probe:
    def __init__(self, config):
        self.config = config
        # what the worker holds before the model does anything: a template's modules, if forked
        self.at_build = sorted(m for m in sys.modules if m.startswith(WATCHED))
        self.q = 2

    def fit(self, train, spec, callbacks):
        if self.config.started:
            open(self.config.started, "w").close()
        time.sleep(self.config.sleep)
        self.q = spec.q

    def predict(self, data):
        return np.full((data.n_queries, self.q), 1.0 / self.q)

    def resolved_config(self):
        from hbench.run.threads import thread_report

        return {
            "pid": os.getpid(),
            "parent": os.getppid(),
            "threads": thread_report(),
            "omp": os.environ.get("OMP_NUM_THREADS"),
            "draw": float(np.random.random()),
            "at_build": self.at_build,
        }


def build(config):
    return Probe(config)


@hookimpl
def hbench_register_models(register):
    register("probe", build, ProbeConfig, description="reports its process (tests only)")


def in_a_daemon(queue):
    """One fit from a template, in a daemonic process (as in a Dask worker)."""
    from hbench.run.worker import WorkerTemplates

    from test_worker_data import fit_once

    with WorkerTemplates() as templates:
        queue.put(fit_once(templates, "probe_model"))
'''

#: The same model, but its module imports the suites: no template may hold that module.
PEEK = PROBE.replace(
    "from hbench import hookimpl", "from hbench import hookimpl\nimport hbench.suites"
)

TORCH = '''
"""The probe with torch: it trains a little in fit and says what torch looked like."""

import sys

import torch

import probe_model


class ProbeConfig(probe_model.ProbeConfig):
    pass


class TorchProbe(probe_model.Probe):
    def __init__(self, config):
        super().__init__(config)
        self.warm = "torch._dynamo" in sys.modules  # imported by the template, if forked

    def fit(self, train, spec, callbacks):
        super().fit(train, spec, callbacks)
        layer = torch.nn.Linear(64, 64)
        optimiser = torch.optim.Adam(layer.parameters())
        layer(torch.randn(256, 64)).square().mean().backward()
        optimiser.step()  # where torch imports its compiler stack, unless imported already

    def resolved_config(self):
        torch_threads = torch.get_num_threads()
        return {**super().resolved_config(), "torch_threads": torch_threads, "warm": self.warm}


def build(config):
    return TorchProbe(config)
'''

DATA = """
import numpy as np

from hbench.contracts import WHOLE_SEQUENCE, TaskData, TaskSpec


def fit_once(templates, module, threads=1):
    from hbench.run.worker import IsolatedModel
    import importlib

    probe = importlib.import_module(module)
    handle = IsolatedModel(
        f"{module}:build", probe.ProbeConfig(), threads=threads, device="cpu",
        label=f"model {module!r}", allowed=[], templates=templates,
    )
    try:
        spec = TaskSpec(task="root", q=4, length=8, vocab_size=4)
        rows = np.arange(6)
        train = TaskData(np.zeros((6, 8), np.int64), rows, np.full(6, WHOLE_SEQUENCE), rows % 4)
        report = handle.fit(train, spec, 0, {0: train}, None, None)
        assert handle.predict(0).shape == (6, 4)
        return {**report.resolved_config, "audit": list(report.audit)}
    finally:
        handle.close()
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> ModuleType:
    """The probe (and its twins) importable here and in every worker and template."""
    folder = tmp_path_factory.mktemp("probe_plugin")
    (folder / "probe_model.py").write_text(PROBE)
    (folder / "probe_peek.py").write_text(PEEK)
    (folder / "probe_torch.py").write_text(TORCH)
    (folder / "test_worker_data.py").write_text(DATA)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
        patch.setenv("PYTHONPATH", os.pathsep.join(paths))
        patch.delenv(TEMPLATE_ENV, raising=False)
        # the template's own mechanics, seen from outside (tests/run/test_sandbox.py: inside it)
        patch.setenv(SANDBOX_ENV, "0")
        yield importlib.import_module("probe_model")
    for name in ("probe_model", "probe_peek", "probe_torch", "test_worker_data"):
        sys.modules.pop(name, None)


def fit_once(templates: WorkerTemplates | None, module: str = "probe_model", **kw) -> dict:
    return importlib.import_module("test_worker_data").fit_once(templates, module, **kw)


def gone(pid: int, seconds: float = 10.0) -> bool:
    """Whether ``pid`` ended (a zombie nobody reaps counts) within ``seconds``."""
    import psutil

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_the_fits_of_a_run_are_forked_from_one_template_that_ends_with_the_run(probe) -> None:
    registry = load_registry(extra_plugins=[("probe", probe)])
    spec = RunSpec(model="probe", suite="smoke", overrides={"n_test": 32, "n_ood": 0})
    seen: list[dict] = []
    result = Harness(spec, registry).run(
        jobs=2, on_fit=lambda outcome: seen.append(outcome.report.resolved_config)
    )
    assert result.isolation == "process" and result.audit == []
    assert len(seen) == len(spec.resolve(registry).fits) >= 4
    (template,) = {s["parent"] for s in seen}  # one template served every fit ...
    assert template != os.getpid()  # ... and it is not the harness
    assert len({s["pid"] for s in seen}) == len(seen)  # a process of its own per fit
    assert len({s["draw"] for s in seen}) == len(seen)  # with its own global random state
    assert all(s["at_build"] == [] for s in seen)  # no grammar, harness or suite inherited
    assert gone(template)  # closed with the run


def test_a_forked_worker_has_the_thread_budget_of_a_fresh_one(probe) -> None:
    fresh = fit_once(None, threads=2)
    assert fresh["parent"] == os.getpid()
    with WorkerTemplates() as templates:
        forked = fit_once(templates, threads=2)
        assert templates.problems == []
    assert forked["parent"] != os.getpid()
    assert forked["threads"] == fresh["threads"] and set(forked["threads"].values()) == {2}
    assert forked["omp"] == fresh["omp"] == "2"


def test_a_torch_model_trains_in_a_forked_worker_with_its_thread_budget(probe) -> None:
    """The template imports torch and what torch imports lazily in a fit, but starts no
    thread: each worker sets torch's threads after the fork, as a fresh one does."""
    pytest.importorskip("torch")
    fresh = fit_once(None, "probe_torch", threads=2)
    with WorkerTemplates() as templates:
        forked = fit_once(templates, "probe_torch", threads=2)
        assert templates.problems == []
    assert forked["parent"] != os.getpid() and fresh["parent"] == os.getpid()
    assert forked["torch_threads"] == fresh["torch_threads"] == 2
    assert forked["threads"] == fresh["threads"]
    assert forked["warm"] and not fresh["warm"]  # imported once per run, not once per fit
    assert forked["audit"] == fresh["audit"] == []


def test_a_worker_killed_mid_fit_is_reported_with_its_exit_code(probe, tmp_path) -> None:
    spec = TaskSpec(task="root", q=4, length=8, vocab_size=4)
    rows = np.arange(4)
    train = TaskData(np.zeros((4, 8), np.int64), rows, np.full(4, WHOLE_SEQUENCE), rows)
    started = tmp_path / "started"
    config = probe.ProbeConfig(sleep=60.0, started=str(started))
    with WorkerTemplates() as templates:
        first, second = (
            IsolatedModel(
                "probe_model:build",
                config,
                threads=1,
                device="cpu",
                label="model 'probe'",
                allowed=[],
                templates=templates,
            )
            for _ in range(2)
        )
        assert first.process.template is second.process.template  # one template, two workers
        assert first.process.pid != second.process.pid

        def kill_once_started() -> None:
            while not started.exists():
                time.sleep(0.01)
            first.kill()

        killer = threading.Thread(target=kill_once_started)
        killer.start()
        died = r"model 'probe' failed in fit: its worker process died \(exit code -9\)"
        with pytest.raises(PluginError, match=died):
            first.fit(train, spec, 0, {}, None, None)
        killer.join()
        first.close()

        os.kill(second.process.pid, signal.SIGKILL)  # by someone else: the template reaps it
        with pytest.raises(PluginError, match=died.replace("fit", "predict")):
            second.predict(0)
        second.close()
        assert templates.problems == []


def test_a_dead_template_takes_its_workers_and_later_fits_start_fresh(probe) -> None:
    with WorkerTemplates() as templates:
        handle = IsolatedModel(
            "probe_model:build",
            probe.ProbeConfig(),
            threads=1,
            device="cpu",
            label="model 'probe'",
            allowed=[],
            templates=templates,
        )
        worker, template = handle.process.pid, handle.process.template.process
        template.kill()
        template.wait()
        assert gone(worker)  # no orphan: the worker died with its template
        with pytest.raises(PluginError, match=r"failed in predict: its worker process died"):
            handle.predict(0)
        handle.close()
        after = fit_once(templates)
        assert after["parent"] == os.getpid()  # a fresh interpreter, as without templates
        assert templates.problems == ["the template stopped answering"]


def test_a_model_module_that_imports_the_suites_gets_no_template(probe) -> None:
    """The template refuses to hold a watched module; the fresh worker notes the import, as
    it always did."""
    with WorkerTemplates() as templates:
        report = fit_once(templates, "probe_peek")
        assert report["parent"] == os.getpid()
        assert "import hbench.suites" in report["audit"]
        assert len(templates.problems) == 1 and "hbench.suites" in templates.problems[0]


def test_templates_can_be_switched_off(probe, monkeypatch) -> None:
    monkeypatch.setenv(TEMPLATE_ENV, "0")
    with WorkerTemplates() as templates:
        assert fit_once(templates)["parent"] == os.getpid()


def test_a_harness_in_a_daemonic_process_forks_its_fits_from_a_template(probe) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=probe.in_a_daemon, args=(queue,), daemon=True)
    process.start()
    try:
        deadline = time.monotonic() + 120
        while queue.empty():
            assert process.is_alive() and time.monotonic() < deadline, "the daemon's fit failed"
            time.sleep(0.05)
        report = queue.get()
    finally:
        process.join(timeout=30)
    assert process.exitcode == 0
    assert report["parent"] not in (os.getpid(), process.pid)  # a template below the daemon
    assert gone(report["pid"]) and gone(report["parent"])
