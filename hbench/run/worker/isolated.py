"""A model in a worker process of its own, behind the `ModelHandle` calls.

An isolated model lives in a worker process of its own (never a fork of the harness, whose
memory holds the grammar), joined to the harness by two pipes. The worker receives exactly what
the model contract gives a model: its name and validated options, the `TaskSpec`, the training
`TaskData`, the test inputs without answers, a seed and a device; it sends back probabilities.
The grammar, the oracle, the harness, the suite and other fits' data never exist there. The
worker is forked from the run's template (`hbench.run.worker.template`) or is a fresh
interpreter, in the sandbox where it can run (`hbench.run.worker.sandbox`); the harness ends a
fit that runs past its time limit and reports one that went past its memory limit.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import time
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

from hbench.errors import PluginError, UsageError
from hbench.memory import format_bytes
from hbench.run.worker.protocol import FitReport, ScalarGate, ScalarsHook, TestKey
from hbench.run.worker.sandbox import PROCESS_LIMIT_EXIT, Limits, Plan, bwrap_command
from hbench.run.worker.template import WorkerTemplates, worker_command, worker_env
from hbench.run.worker.wire import _Pipes, _unpack, import_path


class IsolatedModel:
    """A model in a worker process of its own (see the module docstring).

    The worker is forked from the run's template for this model (``templates``), or else is a
    fresh interpreter (``python -m hbench.run.worker``); either way it is joined by two pipes,
    not a `multiprocessing` child: it starts from any process, a Dask worker's (daemonic)
    included, and shares no memory with the harness. The templates' `Plan` says whether the
    worker runs in the sandbox, and its limits; ``fit_name`` names the fit in the one line
    that reports a limit it went past."""

    isolation = "process"

    def __init__(
        self,
        factory: str,
        config: Any,
        *,
        threads: int,
        device: str,
        label: str,
        allowed: list[str],
        templates: WorkerTemplates | None = None,
        build_imports: tuple[str, ...] = (),
        fit_name: str = "the fit",
        watched: tuple[str, ...] = (),
    ) -> None:
        self.label = label
        self.device = device
        self.fit_name = fit_name
        plan = templates.plan if templates is not None else None
        sandboxed = plan is not None and plan.sandboxed
        self.sandboxed = sandboxed
        self.limits = plan.limits if plan is not None else Limits(fit_timeout=None)
        timeout = self.limits.fit_timeout
        #: When the fit's time is up (`time.monotonic`), or None.
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.ended: str | None = None  # the limit the fit went past, once it did
        #: What the worker's audit saw so far; the `FitReport` of `fit` holds this very list,
        #: so events of later predict and save calls reach the result too.
        self.audit: list[str] = []
        config_class = import_path(type(config))
        #: The worker: a `subprocess.Popen`, or a template's child with the same calls.
        self.process: Any = None
        conn = None
        if templates is not None and config_class is not None:
            conn = self._connect(
                lambda ends: templates.spawn(
                    factory, config_class, threads, ends, build_imports, watched
                )
            )
        self.conn = conn or self._connect(lambda ends: _fresh_worker(ends, threads, plan))
        init = {
            "factory": factory,
            "config_class": config_class,
            "config": config.model_dump(mode="json"),
            "threads": threads,
            "allowed": allowed,
            "parent": None if sandboxed else os.getpid(),
            "build_imports": list(build_imports),
            "watched": list(watched),
            "limits": self.limits.for_worker(sandboxed),
        }
        self._send(init, "build")
        self._expect("ready", "build")

    def _connect(self, start: Callable[[tuple[int, int]], Any]) -> _Pipes | None:
        """Two new pipes, their far ends handed to the worker ``start`` gives (None: no worker,
        and no pipes); our ends as one connection."""
        to_child_read, to_child_write = os.pipe()
        to_parent_read, to_parent_write = os.pipe()
        try:
            self.process = start((to_child_read, to_parent_write))
        except BaseException:
            os.close(to_parent_read)
            os.close(to_child_write)
            raise
        finally:
            os.close(to_child_read)
            os.close(to_parent_write)
        if self.process is None:
            os.close(to_parent_read)
            os.close(to_child_write)
            return None
        return _Pipes(to_parent_read, to_child_write)

    def _send(self, request: tuple, stage: str) -> None:
        try:
            self.conn.send(request)
        except OSError:  # a broken pipe: the worker is gone; say how it ended
            self._died(stage)

    def _died(self, stage: str) -> NoReturn:
        """Raise the `PluginError` of a worker that is gone, with how it ended."""
        if self.ended is not None:
            raise PluginError(self.ended) from None
        try:
            code = self.process.wait(timeout=5)
        except Exception:
            code = None
        if code == PROCESS_LIMIT_EXIT and self.sandboxed:
            raise PluginError(
                f"{self.label}: {self.fit_name} went past its process limit of "
                f"{self.limits.processes} processes and threads and was ended"
            ) from None
        raise PluginError(
            f"{self.label} failed in {stage}: its worker process died (exit code {code})"
        ) from None

    def _timed_out(self) -> NoReturn:
        """End a worker past its time limit, and say so in one line."""
        self.ended = (
            f"{self.label}: {self.fit_name} ran past its time limit of "
            f"{self.limits.fit_timeout:g} s (--fit-timeout) and was ended"
        )
        self.kill()
        raise PluginError(self.ended) from None

    def _receive(self, stage: str) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
        if self.ended is not None:
            raise PluginError(self.ended)
        if self.deadline is not None:
            while True:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    self._timed_out()
                try:
                    if self.conn.reader.poll(min(left, 1.0)):
                        break
                except (EOFError, OSError):
                    break  # recv_bytes says how
        try:
            message = self.conn.recv_bytes()
        except (EOFError, OSError):
            self._died(stage)
        try:
            kind, meta, arrays = _unpack(message)
        except Exception as exc:
            raise PluginError(
                f"{self.label} failed in {stage}: its worker sent an unreadable message ({exc})"
            ) from None
        for event in meta.get("audit", []):
            if str(event) not in self.audit:
                self.audit.append(str(event))
        if kind == "error":
            text = str(meta.get("message", ""))
            if text.startswith("usage: "):
                raise UsageError(f"{self.label}: {text.removeprefix('usage: ')}")
            if text.startswith("MemoryError") and self.limits.memory:
                self.ended = (
                    f"{self.label}: {self.fit_name} went past its memory limit of "
                    f"{format_bytes(self.limits.memory)} (--memory-per-fit) in "
                    f"{meta.get('stage', stage)} and was ended"
                )
                self.kill()
                raise PluginError(self.ended)
            raise PluginError(f"{self.label} failed in {meta.get('stage', stage)}: {text}")
        return kind, meta, arrays

    def _expect(self, expected: str, stage: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        kind, meta, arrays = self._receive(stage)
        if kind != expected:
            raise PluginError(f"{self.label} failed in {stage}: unexpected message {kind!r}")
        return meta, arrays

    def fit(
        self,
        train,
        spec,
        seed,
        tests,
        on_checkpoint,
        on_progress,
        on_scalars: ScalarsHook | None = None,
    ) -> FitReport:
        answers_free = {key: data.without_targets() for key, data in tests.items()}
        checkpoints = on_checkpoint is not None
        # what the model logs is checked here, on the harness's side of the wire
        logged = ScalarGate(self.label, on_scalars)
        request = (train, spec, seed, self.device, answers_free, checkpoints, bool(on_scalars))
        self._send(("fit", *request), "fit")
        while True:
            kind, meta, arrays = self._receive("fit")
            if kind == "checkpoint" and on_checkpoint is not None:
                predictions = {int(k): v for k, v in arrays.items()}
                on_checkpoint(meta.get("label"), float(meta.get("seconds", 0.0)), predictions)
            elif kind == "progress" and on_progress is not None:
                on_progress(int(meta["done"]), int(meta["total"]), str(meta.get("unit", "step")))
            elif kind == "scalars":
                logged(meta.get("scalars"), meta.get("step"))
            elif kind == "fitted":
                from hbench.run.devices import checked_runtime

                return FitReport(
                    float(meta["fit_s"]),
                    meta.get("num_parameters"),
                    meta.get("resolved_config"),
                    self.audit,
                    checked_runtime(meta.get("runtime"), self.label),
                )

    def predict(self, key: TestKey) -> np.ndarray:
        self._send(("predict", key), "predict")
        _, arrays = self._expect("probs", "predict")
        return arrays["p"]

    def sample(self, n: int, seed: int) -> np.ndarray:
        """n sequences the worker's model draws from a generator seeded with ``seed``."""
        self._send(("sample", int(n), int(seed)), "sample")
        _, arrays = self._expect("samples", "sample")
        return arrays["x"]

    def save(self, path: str) -> bool:
        self._send(("save", path), "save")
        meta, _ = self._expect("saved", "save")
        return bool(meta.get("saved"))

    def kill(self) -> None:
        """End the worker now; a fit waiting on it sees its death and stops."""
        with contextlib.suppress(OSError):
            self.process.kill()

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(("close",))
        try:
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
            self.process.wait()
        self.conn.close()


def _fresh_worker(ends: tuple[int, int], threads: int, plan: Plan | None) -> subprocess.Popen:
    """A worker in a fresh interpreter, reading from and writing to ``ends``; in the sandbox
    of ``plan``, where it has one (bubblewrap's own namespaces are then the fit's)."""
    env = worker_env(threads, plan)
    command = worker_command(*map(str, ends))
    if plan is not None and plan.sandboxed:
        command = [*bwrap_command(plan, env), *command]
    return subprocess.Popen(command, pass_fds=ends, stdin=subprocess.DEVNULL, env=env)


def model_files(factory: str) -> list[str]:
    """Folders a model may read freely: its plugin's package (data files shipped with it)."""
    module_name = factory.partition(":")[0].split(".")[0]
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return []
    locations = list(getattr(spec, "submodule_search_locations", None) or [])
    return [str(p) for p in locations]
