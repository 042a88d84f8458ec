"""The worker process's side: build the model, then serve fit, predict and save until told to
close, with the audit hook watching (`hbench.run.worker.audit`) and the fit's limits applied
(`hbench.run.worker.sandbox.apply_limits`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any

import numpy as np

from hbench.contracts import TaskData
from hbench.run.worker.audit import _Audit, _exempt, _loaded_watched, watch
from hbench.run.worker.protocol import Callbacks, TestKey, _checkpoint_predictions, _optional
from hbench.run.worker.wire import _describe, _jsonable, _pack, _resolve


def worker_main(
    conn: Any, init: dict[str, Any] | None = None, loaded_before: set[str] | None = None
) -> None:
    """The worker process: build the model, then serve fit/predict/save until told to close.

    ``loaded_before``: the watched modules loaded before the model's module was imported (a
    worker forked from a template, which imported it already), so that what the model's module
    imports is noted as it is in a fresh interpreter."""
    try:
        init = conn.recv() if init is None else init
        from hbench.run.worker.sandbox import apply_limits

        apply_limits(init.get("limits") or {})
        _watch_parent(init["parent"])
        from hbench.run.threads import set_thread_budget

        set_thread_budget(int(init["threads"]))
        watch(init.get("watched", []))
        before = _loaded_watched() if loaded_before is None else set(loaded_before)
        config = _resolve(init["config_class"]).model_validate(init["config"])
        model = _resolve(init["factory"])(config)
    except BaseException as exc:
        with contextlib.suppress(OSError, EOFError):  # the harness gone (stopped): nobody to tell
            conn.send_bytes(_pack("error", {"stage": "build", "message": _describe(exc)}))
        return
    audit = _Audit(init["allowed"])
    exempt = [str(name) for name in init.get("build_imports", [])]
    for name in sorted(_loaded_watched() - before):  # the model's module and constructor
        if not _exempt(name, exempt):
            audit.note(f"import {name}")
    sys.addaudithook(audit)
    conn.send_bytes(_pack("ready", {}))
    tests: dict[TestKey, TaskData] = {}
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        kind = request[0]
        if kind == "close":
            return
        reply: tuple = ("error", {"stage": kind, "message": f"unknown request {kind!r}"})
        try:
            audit.start()
            if kind == "fit":
                _, train, spec, seed, device, tests, checkpoints, *scalars = request
                fit = (train, spec, seed, device, tests, checkpoints, bool(scalars and scalars[0]))
                reply = _worker_fit(conn, model, *fit)
            elif kind == "predict":
                reply = ("probs", {}, {"p": np.asarray(model.predict(tests[request[1]]))})
            elif kind == "sample":  # a generating task: the model's own sequences
                _, n, seed = request
                drawn = model.sample(int(n), np.random.default_rng(int(seed)))
                reply = ("samples", {}, {"x": np.asarray(drawn)})
            elif kind == "save":
                saved = callable(getattr(model, "save", None))
                if saved:
                    model.save(request[1])
                reply = ("saved", {"saved": saved})
        except BaseException as exc:  # the model's failure, reported; the harness decides
            reply = ("error", {"stage": kind, "message": _describe(exc)})
        finally:
            audit.stop()
        # every reply carries the audit so far: what a model does in predict counts too
        reply[1]["audit"] = list(audit.events)
        conn.send_bytes(_pack(*reply))


def _wire_scalars(scalars: Any, step: Any) -> dict[str, Any]:
    """What a model logs (`FitCallbacks.log`) as JSON: [name, number] pairs (numbers as
    floats where they convert: numpy and torch scalars; else None), the step as an int where
    it is one. Never raises: the harness checks it (`hbench.run.worker.protocol.ScalarGate`)."""
    from hbench.run.worker.protocol import MAX_NAME_CHARS, MAX_SCALARS

    def number(value: Any) -> float | None:
        try:
            return float(value)
        except Exception:
            return None

    try:
        items = list(scalars.items())[: MAX_SCALARS + 1]  # one more: the harness sees too many
        pairs = [[str(name)[: MAX_NAME_CHARS + 1], number(value)] for name, value in items]
    except Exception:
        pairs = None
    try:
        whole = int(step) if int(step) == step else None
    except Exception:
        whole = None
    return {"scalars": pairs, "step": whole}


def _worker_fit(conn, model, train, spec, seed, device, tests, checkpoints, scalars) -> tuple:
    spent = [0.0]
    last = [0.0]

    def checkpoint(label: float | str) -> None:
        if not checkpoints:
            return
        predictions, seconds = _checkpoint_predictions(model, tests)
        spent[0] += seconds
        meta = {"label": label, "seconds": time.perf_counter() - start - spent[0]}
        arrays = {str(k): v for k, v in predictions.items()}
        conn.send_bytes(_pack("checkpoint", meta, arrays))

    def progress(done: int, total: int, unit: str = "step") -> None:
        now = time.perf_counter()
        if now - last[0] >= 0.2 or done >= total:
            last[0] = now
            conn.send_bytes(_pack("progress", {"done": done, "total": total, "unit": unit}))

    def log(values: Any, step: Any) -> None:
        if scalars:
            conn.send_bytes(_pack("scalars", _wire_scalars(values, step)))

    callbacks = Callbacks(seed, device, None, checkpoint, progress, on_scalars=log)
    start = time.perf_counter()
    model.fit(train, spec, callbacks)
    fit_s = time.perf_counter() - start - spent[0]
    from hbench.run.devices import fit_runtime

    meta = {
        "fit_s": fit_s,
        "num_parameters": _jsonable(_optional(model, "num_parameters")),
        "resolved_config": _jsonable(_optional(model, "resolved_config")),
        "runtime": fit_runtime(device),
    }
    return ("fitted", meta)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """Ask the kernel for SIGKILL when this process's parent dies (Linux; elsewhere nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _watch_parent(harness: int | None) -> None:
    """Exit when the harness's process dies, even by SIGKILL: the kernel's parent-death signal
    on Linux (the parent is the harness, or the template, which exits with the harness), and a
    watcher thread everywhere, for the harness itself. In the sandbox (``harness`` None) the
    harness's process is invisible; the sandbox dies with it (``--die-with-parent``), and every
    process of the sandbox with the sandbox."""
    _die_with_parent()
    if harness is None:
        return
    if not _alive(harness):
        os._exit(1)

    def watch() -> None:
        while _alive(harness):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="hbench-watch-harness").start()
