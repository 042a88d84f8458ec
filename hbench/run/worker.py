"""The wall between a model and the answers: a model's ``fit`` and ``predict`` in a process of
its own, or (for debugging and privileged reference models) in this one.

An isolated model lives in a worker process of its own (never a fork of the harness, whose
memory holds the grammar), joined to the harness by two pipes. The worker receives exactly what
the model contract gives a model: its name and validated options, the `TaskSpec`, the training
`TaskData`, the test inputs without answers, a seed and a device; it sends back probabilities.
The grammar, the oracle, the harness, the suite and other fits' data never exist there.
Everything the worker sends is parsed as JSON and ``.npy`` arrays, never unpickled, so a
hostile model cannot run code in the harness either. An audit hook in the worker records
imports of hbench's grammar, oracle and harness modules and reads of files outside the model's
own during fit and predict; the result lists what it saw.

A fresh interpreter per fit pays Python's start-up and the import of the model's module (torch,
seconds) every time, so a run starts one *template* process per model (`WorkerTemplates`): a
fresh interpreter that imports only the model's module and its options class (and, for a torch
model, the modules torch would import lazily in every fit: `TEMPLATE_WARM_UP`), then forks one
worker per fit on request, before the worker is told which model to build or sees any data.
The template never builds a model, never receives data, and never holds the grammar, oracle,
harness or suite modules (one whose model module imports them is refused); each fit's worker is
forked from the template alone, so nothing of one fit reaches another. The template is started
with one thread for BLAS and OpenMP and forks only while it is single-threaded; each worker
sets its thread budget after the fork. The harness passes a worker's pipes to the template over
a socket (``SCM_RIGHTS``); the template reaps its workers and tells the harness how one ended,
and kills one on request. Workers die with their template (the parent-death signal) and watch
the harness's process as before. Where no template can serve (not Linux, a template that
failed to start or died, ``HBENCH_WORKER_TEMPLATE=0``), each fit gets a fresh interpreter.

Both kinds of handle offer the same four calls (`ModelHandle`), so the harness runs a fit the
same way wherever the model lives.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

import numpy as np

from hbench.contracts import PrivilegedAccess, TaskData, TaskSpec
from hbench.errors import PluginError, UsageError

#: Key of a test set: a filter level, or "ood" for uniformly random sequences.
TestKey = int | str

#: ``on_checkpoint(label, seconds, predictions per test level)``: learning dynamics.
CheckpointHook = Callable[[float | str, float, Mapping[int, np.ndarray]], None]
ProgressHook = Callable[[int, int, str], None]

#: Modules whose import by a model during fit or predict is flagged: they hold the grammar,
#: the oracle, the harness or the registry that rebuilds them.
WATCHED_MODULES = (
    "hbench_tree",
    "hbench.run.harness",
    "hbench.run.oracle_table",
    "hbench.suites",
    "hbench.analysis",
)

#: Watched packages a model may import while it is built (not during fit or predict): the tree
#: plugin's inference code, for BP on a grammar the model fitted itself. The official grammar
#: seeds, not the audit, keep the real grammar out of a model's reach.
BUILD_EXEMPT = ("hbench_tree",)

#: File suffixes of code and compiled libraries, which any import reads.
_CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd", ".pth", ".dylib", ".dll")


@dataclass
class FitReport:
    """What a fit says about itself: training seconds (checkpoint evaluations excluded), and
    the optional ``num_parameters()`` and ``resolved_config()`` of the fitted model."""

    fit_s: float
    num_parameters: Any = None
    resolved_config: Any = None
    audit: list[str] = field(default_factory=list)


class ModelHandle(Protocol):
    """A fresh model, wherever it runs: fit once, then predict on the test sets by key."""

    isolation: str  # "process" or "in-process"

    def fit(
        self,
        train: TaskData,
        spec: TaskSpec,
        seed: int,
        tests: Mapping[TestKey, TaskData],
        on_checkpoint: CheckpointHook | None,
        on_progress: ProgressHook | None,
    ) -> FitReport: ...

    def predict(self, key: TestKey) -> np.ndarray: ...

    def save(self, path: str) -> bool: ...

    def close(self) -> None: ...

    def kill(self) -> None:
        """Stop the model at once (another fit failed, or the run was interrupted)."""
        ...


# --- the callbacks a model sees ---------------------------------------------------------------


@dataclass
class Callbacks:
    """The `FitCallbacks` handed to a model (in either process)."""

    seed: int
    device_choice: str
    privileged: PrivilegedAccess | None = None
    on_checkpoint: Callable[[float | str], None] | None = None
    on_progress: ProgressHook | None = None
    checkpoints: list[float | str] = field(default_factory=list)

    @property
    def device(self) -> str:
        """Resolved on first use: a model that never asks never imports torch."""
        from hbench.run.devices import resolve_device

        return resolve_device(self.device_choice)

    def checkpoint(self, label: float | str) -> None:
        self.checkpoints.append(label)
        if self.on_checkpoint is not None:
            self.on_checkpoint(label)

    def progress(self, done: int, total: int, unit: str = "step") -> None:
        if self.on_progress is not None:
            self.on_progress(done, total, unit)


#: Test sequences per level a checkpoint evaluates: learning curves need far fewer
#: questions than the final scores, and a fit may checkpoint dozens of times.
CHECKPOINT_SEQUENCES = 2048


def head(data: TaskData, rows: int) -> TaskData:
    """The first ``rows`` sequences of ``data`` with their queries (queries are row-sorted)."""
    if len(data) <= rows:
        return data
    keep = data.query_rows < rows
    targets = data.targets[keep] if data.targets is not None else None
    return TaskData(data.inputs[:rows], data.query_rows[keep], data.query_positions[keep], targets)


def _checkpoint_predictions(
    model: Any, tests: Mapping[TestKey, TaskData]
) -> tuple[dict[int, np.ndarray], float]:
    """The model's predictions on the head of every filter level's test set, and the seconds
    they took."""
    start = time.perf_counter()
    predictions = {
        key: np.asarray(model.predict(head(data, CHECKPOINT_SEQUENCES)), dtype=np.float64)
        for key, data in tests.items()
        if key != "ood"
    }
    return predictions, time.perf_counter() - start


def _optional(model: Any, name: str) -> Any:
    method = getattr(model, name, None)
    return method() if callable(method) else None


# --- in this process ----------------------------------------------------------------------------


class InProcessModel:
    """A model in the harness's own process: for privileged reference models (which are handed
    the grammar anyway), for in-memory model objects, and for ``--in-process`` debugging."""

    isolation = "in-process"

    def __init__(
        self,
        model: Any,
        device: str,
        threads: int,
        access: PrivilegedAccess | None = None,
    ) -> None:
        self.model, self.device, self.threads = model, device, threads
        self.access = access
        self.tests: Mapping[TestKey, TaskData] = {}

    def fit(self, train, spec, seed, tests, on_checkpoint, on_progress) -> FitReport:
        self.tests = {key: data.without_targets() for key, data in tests.items()}
        spent = [0.0]

        def checkpoint(label: float | str) -> None:
            if on_checkpoint is None:
                return
            predictions, seconds = _checkpoint_predictions(self.model, self.tests)
            spent[0] += seconds
            on_checkpoint(label, time.perf_counter() - start - spent[0], predictions)

        callbacks = Callbacks(seed, self.device, self.access, checkpoint, on_progress)
        with _thread_limit(self.threads):
            start = time.perf_counter()
            self.model.fit(train, spec, callbacks)
            fit_s = time.perf_counter() - start - spent[0]
        return FitReport(
            fit_s,
            _optional(self.model, "num_parameters"),
            _optional(self.model, "resolved_config"),
        )

    def predict(self, key: TestKey) -> np.ndarray:
        with _thread_limit(self.threads):
            return self.model.predict(self.tests[key])

    def save(self, path: str) -> bool:
        if not callable(getattr(self.model, "save", None)):
            return False
        self.model.save(path)
        return True

    def close(self) -> None:
        self.tests = {}

    def kill(self) -> None:
        """Nothing to stop: an in-process fit ends with the run's own exception."""


class _thread_limit:
    """Run a block with ``threads`` threads for BLAS/OpenMP and torch, then restore them."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __enter__(self) -> None:
        from threadpoolctl import threadpool_limits

        self.limits = threadpool_limits(limits=self.threads)
        torch = sys.modules.get("torch")
        self.torch_threads = torch.get_num_threads() if torch is not None else None
        if torch is not None:
            torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        self.limits.restore_original_limits()
        torch = sys.modules.get("torch")
        if torch is not None:
            # torch may have been imported by the model inside the block
            torch.set_num_threads(self.torch_threads or _budget())


def _budget() -> int:
    from hbench.run.threads import thread_budget

    return thread_budget()


# --- in a worker process ------------------------------------------------------------------------


def import_path(obj: Any) -> str | None:
    """``module:qualname`` of a module-level class or function, or None (a lambda, a local)."""
    if isinstance(obj, str):
        return obj
    module, name = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not module or not name or "<" in name or module == "__main__":
        return None
    return f"{module}:{name}"


def _resolve(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _pack(
    kind: str, meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray] | None = None
) -> bytes:
    """A message the harness can read without unpickling: JSON header, then ``.npz`` bytes."""
    arrays = arrays or {}
    header = json.dumps({"kind": kind, "meta": meta, "arrays": sorted(arrays)}).encode()
    body = io.BytesIO()
    if arrays:
        np.savez(body, **{name: np.asarray(value) for name, value in arrays.items()})
    return len(header).to_bytes(8, "little") + header + body.getvalue()


def _unpack(message: bytes) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    size = int.from_bytes(message[:8], "little")
    header = json.loads(message[8 : 8 + size].decode())
    arrays: dict[str, np.ndarray] = {}
    if header["arrays"]:
        with np.load(io.BytesIO(message[8 + size :]), allow_pickle=False) as data:
            arrays = {name: data[name] for name in header["arrays"]}
    return str(header["kind"]), dict(header["meta"]), arrays


def _watched(name: str) -> bool:
    return any(name == w or name.startswith(w + ".") for w in WATCHED_MODULES)


def _exempt(name: str) -> bool:
    """Whether a watched module may be imported while the model is built (`BUILD_EXEMPT`)."""
    return any(name == e or name.startswith(e + ".") for e in BUILD_EXEMPT)


def _loaded_watched() -> set[str]:
    """Watched modules imported in this process so far."""
    return {name for name in list(sys.modules) if _watched(name)}


class _Audit:
    """Records, while active, imports of watched modules and reads of files that are neither
    code nor inside the Python installation, the temporary folder or the model's own paths.

    The ``import`` audit event fires only for import statements (``importlib.import_module``
    raises none), so `stop` also records every watched module that appeared in ``sys.modules``
    while the audit was active."""

    def __init__(self, allowed: list[str]) -> None:
        roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, tempfile.gettempdir(), *allowed}
        self.roots = tuple(os.path.realpath(r) + os.sep for r in roots if r)
        self.active = False
        self.events: list[str] = []
        self.loaded: set[str] = set()

    def note(self, text: str) -> None:
        if text not in self.events and len(self.events) < 50:
            self.events.append(text)

    def start(self) -> None:
        self.loaded = _loaded_watched()
        self.active = True

    def stop(self) -> None:
        self.active = False
        for name in sorted(_loaded_watched() - self.loaded):
            self.note(f"import {name}")

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "import":
            name = str(args[0])
            if _watched(name):
                self.note(f"import {name}")
        elif event == "open":
            path, mode, flags = args[0], args[1], args[2] if len(args) > 2 else 0
            if isinstance(path, bytes):
                path = os.fsdecode(path)
            if not isinstance(path, str) or not _reads(mode, flags):
                return
            real = os.path.realpath(path)
            if real.startswith("/proc/"):
                # another process's files (the harness's memory map, its memory) are not the
                # model's; its own, and the kernel's (cpuinfo, meminfo), are
                entry = real[len("/proc/") :].split("/", 1)[0]
                if entry.isdigit() and int(entry) != os.getpid():
                    self.note(f"read {real}")
                return
            if real.startswith(("/sys/", "/dev/")) or real.endswith(_CODE_SUFFIXES):
                return
            if not (real + os.sep).startswith(self.roots) and not real.startswith(self.roots):
                self.note(f"read {real}")


def _reads(mode: Any, flags: Any) -> bool:
    """Whether an ``open`` audit event may read: ``open()`` gives a mode, ``os.open`` flags."""
    if isinstance(mode, str):
        return "r" in mode or "+" in mode
    return not isinstance(flags, int) or flags & os.O_ACCMODE != os.O_WRONLY


def worker_main(
    conn: Any, init: dict[str, Any] | None = None, loaded_before: set[str] | None = None
) -> None:
    """The worker process: build the model, then serve fit/predict/save until told to close.

    ``loaded_before``: the watched modules loaded before the model's module was imported (a
    worker forked from a template, which imported it already), so that what the model's module
    imports is noted as it is in a fresh interpreter."""
    try:
        init = conn.recv() if init is None else init
        _watch_parent(init["parent"])
        from hbench.run.threads import set_thread_budget

        set_thread_budget(int(init["threads"]))
        before = _loaded_watched() if loaded_before is None else set(loaded_before)
        config = _resolve(init["config_class"]).model_validate(init["config"])
        model = _resolve(init["factory"])(config)
    except BaseException as exc:
        conn.send_bytes(_pack("error", {"stage": "build", "message": _describe(exc)}))
        return
    audit = _Audit(init["allowed"])
    for name in sorted(_loaded_watched() - before):  # the model's module and constructor
        if not _exempt(name):
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
                _, train, spec, seed, device, tests, checkpoints = request
                reply = _worker_fit(conn, model, train, spec, seed, device, tests, checkpoints)
            elif kind == "predict":
                reply = ("probs", {}, {"p": np.asarray(model.predict(tests[request[1]]))})
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


def _worker_fit(conn, model, train, spec, seed, device, tests, checkpoints) -> tuple:
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

    callbacks = Callbacks(seed, device, None, checkpoint, progress)
    start = time.perf_counter()
    model.fit(train, spec, callbacks)
    fit_s = time.perf_counter() - start - spent[0]
    meta = {
        "fit_s": fit_s,
        "num_parameters": _jsonable(_optional(model, "num_parameters")),
        "resolved_config": _jsonable(_optional(model, "resolved_config")),
    }
    return ("fitted", meta)


def _jsonable(value: Any) -> Any:
    """``value`` if JSON can carry it (ints of any size as text), else its repr."""
    if isinstance(value, (np.integer,)):
        return int(value)
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return {"__unserialisable__": repr(value)[:200]}
    return value


def _describe(exc: BaseException) -> str:
    kind = "usage" if isinstance(exc, UsageError) else type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{kind}: {text}"[:2000]


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


def _watch_parent(harness: int) -> None:
    """Exit when the harness's process dies, even by SIGKILL: the kernel's parent-death signal
    on Linux (the parent is the harness, or the template, which exits with the harness), and a
    watcher thread everywhere, for the harness itself."""
    _die_with_parent()
    if not _alive(harness):
        os._exit(1)

    def watch() -> None:
        while _alive(harness):
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="hbench-watch-harness").start()


class _Pipes:
    """Two one-way pipes used as one connection: ``recv``/``send`` pickles (harness to
    worker, which trusts the harness), ``recv_bytes``/``send_bytes`` carry `_pack` messages."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        from multiprocessing.connection import Connection

        self.reader = Connection(read_fd, writable=False)
        self.writer = Connection(write_fd, readable=False)

    def send(self, obj: Any) -> None:
        self.writer.send(obj)

    def recv(self) -> Any:
        return self.reader.recv()

    def send_bytes(self, data: bytes) -> None:
        self.writer.send_bytes(data)

    def recv_bytes(self) -> bytes:
        return self.reader.recv_bytes()

    def close(self) -> None:
        self.reader.close()
        self.writer.close()


# --- the template: one interpreter per run that forks a worker per fit ---------------------------

#: ``HBENCH_WORKER_TEMPLATE=0`` starts every fit's worker as a fresh interpreter, as without a
#: template: for comparisons (``benchmarks/bench_isolation.py``) and for debugging.
TEMPLATE_ENV = "HBENCH_WORKER_TEMPLATE"

#: Modules a template also imports when the model's module imported the package named: what
#: that package would otherwise import lazily inside every fit (torch imports its compiler stack,
#: as long to import as torch itself, on a model's first optimiser step). Imports only: no
#: thread pool starts and no CUDA context (`_fork_hazard` checks before every fork).
TEMPLATE_WARM_UP = {"torch": ("torch._dynamo",)}

#: The longest message line read from the other end (a template's replies are a few dozen bytes).
_MAX_LINE = 1 << 16


class _TemplateGone(Exception):
    """A template that could not start, refused to serve, or stopped answering."""


def templates_enabled() -> bool:
    """Whether fits may be forked from a template here: Linux (forking a process that imported
    torch is unsafe on macOS), ``SCM_RIGHTS`` in the socket module, and not switched off by
    ``HBENCH_WORKER_TEMPLATE=0``."""
    return (
        sys.platform.startswith("linux")
        and hasattr(socket, "send_fds")
        and os.environ.get(TEMPLATE_ENV, "1").strip() != "0"
    )


class _Lines:
    """JSON objects, one a line, over a stream socket, with file descriptors alongside."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def send(self, message: Mapping[str, Any], fds: tuple[int, ...] = ()) -> None:
        data = json.dumps(message).encode() + b"\n"
        sent = socket.send_fds(self.sock, [data], list(fds)) if fds else 0
        self.sock.sendall(data[sent:])

    def pending(self) -> bool:
        return b"\n" in self.buffer

    def recv(self, with_fds: bool = False) -> tuple[dict[str, Any] | None, list[int]]:
        """The next message (None once the other end closed) and the descriptors that came
        with it. Without ``with_fds`` the kernel discards any descriptors sent: the harness
        takes none from a template."""
        fds: list[int] = []
        while not self.pending():
            if len(self.buffer) > _MAX_LINE:
                raise ValueError("a message longer than any the protocol sends")
            if with_fds:
                data, received, _, _ = socket.recv_fds(self.sock, 65536, 4)
                fds.extend(received)
            else:
                data = self.sock.recv(65536)
            if not data:
                return None, fds
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        message = json.loads(line)
        if not isinstance(message, dict):
            raise ValueError("a message that is not a JSON object")
        return message, fds


def _fork_hazard() -> str | None:
    """Why forking this process now would be unsafe, or None: a second thread (a BLAS or
    OpenMP pool, a thread the model's module started) or an initialised CUDA context."""
    with contextlib.suppress(OSError):
        threads = len(os.listdir("/proc/self/task"))
        if threads > 1:
            return f"the template runs {threads} threads"
    if threading.active_count() > 1:
        return "the template runs Python threads"
    cuda = getattr(sys.modules.get("torch"), "cuda", None)
    initialised = getattr(cuda, "is_initialized", None)
    if callable(initialised) and initialised():
        return "the template initialised CUDA"
    return None


def template_main(sock_fd: int) -> None:
    """The template process: import the model's module and options class, then fork a worker
    per ``spawn`` request, each exactly a fresh worker from then on (`worker_main`).

    Requests are JSON lines from the harness: ``start`` (the model's import paths and the
    harness's pid), ``spawn`` with the worker's two pipe ends attached (``SCM_RIGHTS``),
    ``status`` and ``kill`` of a worker by the id ``spawn`` gave it, and ``close``. The template
    ends at ``close``, when the harness's end of the socket closes, or when the harness's
    process is gone, and kills the workers still running as it goes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle
    channel = _Lines(socket.socket(fileno=sock_fd))
    with contextlib.suppress(OSError, ValueError):  # the harness is gone: so is the template
        _template(channel)
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)  # nothing to finalise (its workers are gone): the run's end need not wait


def _template(channel: _Lines) -> None:
    baseline = _loaded_watched()
    start, _ = channel.recv()
    if start is None:
        return
    problem: str | None
    try:
        harness = int(start["parent"])
        _resolve(start["config_class"])
        _resolve(start["factory"])
        import multiprocessing.connection  # noqa: F401  (what every worker needs)

        import threadpoolctl  # noqa: F401

        import hbench.run.threads  # noqa: F401

        for package, modules in TEMPLATE_WARM_UP.items():
            if package in sys.modules:
                for name in modules:
                    with contextlib.suppress(Exception):  # a fit would then import it itself
                        importlib.import_module(name)
        watched = sorted(name for name in _loaded_watched() - baseline if not _exempt(name))
        problem = f"its module imports {', '.join(watched)}" if watched else _fork_hazard()
    except BaseException as exc:  # the model's module failed to import: a fresh worker says so
        problem = _describe(exc)
    if problem is not None:
        channel.send({"error": problem})
        return
    channel.send({"ready": os.getpid(), "watched": sorted(_loaded_watched())})
    _serve_template(channel, harness, baseline)


def _serve_template(channel: _Lines, harness: int, baseline: set[str]) -> None:
    live: dict[int, int] = {}  # pid of a running worker -> its id
    codes: dict[int, int] = {}  # id of a worker that ended -> its exit code (as Popen gives it)
    count = 0
    try:
        while True:
            if not channel.pending():
                readable, _, _ = select.select([channel.sock], [], [], 1.0)
                _reap(live, codes)
                if not readable:
                    if os.getppid() != harness:  # the harness is gone
                        return
                    continue
            message, fds = channel.recv(with_fds=True)
            op = message.get("op") if message is not None else "close"
            number = message.get("id") if message is not None else None
            if op != "spawn" or len(fds) != 2:
                for fd in fds:
                    os.close(fd)
            if op == "close":
                return
            if op == "spawn":
                hazard = _fork_hazard() if len(fds) == 2 else "no pipes came with the request"
                if hazard is not None:
                    for fd in fds if len(fds) == 2 else ():
                        os.close(fd)
                    channel.send({"error": f"cannot fork a worker: {hazard}"})
                    continue
                count += 1
                template = os.getpid()
                pid = os.fork()
                if pid == 0:
                    _forked_worker(channel.sock, fds, baseline, template)
                for fd in fds:
                    os.close(fd)
                live[pid] = count
                channel.send({"id": count, "pid": pid})
            elif op == "kill":
                for pid, known in live.items():
                    if known == number:  # not reaped yet, so the pid is still this worker's
                        with contextlib.suppress(OSError):
                            os.kill(pid, signal.SIGKILL)
                channel.send({})
            elif op == "status":
                _reap(live, codes)
                channel.send({"code": codes.get(number), "running": number in live.values()})
            else:
                channel.send({"error": f"unknown request {op!r}"})
    finally:
        for pid in live:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid in live:
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)


def _reap(live: dict[int, int], codes: dict[int, int]) -> None:
    """Collect the workers that ended, with their exit codes (a signal's as its negative)."""
    while live:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        number = live.pop(pid, None)
        if number is not None:
            codes[number] = os.waitstatus_to_exitcode(status)


def _forked_worker(sock: socket.socket, fds: list[int], baseline: set[str], template: int) -> Any:
    """A fit's worker just forked from the template: from here on a fresh worker's life, then
    ``os._exit`` (never back into the template's loop)."""
    code = 1
    try:
        sock.close()
        _die_with_parent()
        if os.getppid() != template:  # the template died before the signal was asked for
            os._exit(1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        random = sys.modules.get("numpy.random")
        if random is not None:  # a fresh interpreter's global state, not the template's
            random.seed()
        worker_main(_Pipes(fds[0], fds[1]), loaded_before=baseline)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        with contextlib.suppress(BaseException):
            import traceback

            traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            import gc

            gc.collect()  # the model's objects close their files, as at a normal exit
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _worker_env(threads: int) -> dict[str, str]:
    """A worker's environment: the harness's, with every thread pool capped at ``threads``."""
    return {**os.environ, **{name: str(threads) for name in _thread_env()}}


class _Template:
    """The harness's end of one template process (see `WorkerTemplates`)."""

    def __init__(self, factory: str, config_class: str, env: Mapping[str, str]) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hbench.run.worker", "--template", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=dict(env),
            )
        except OSError as exc:
            ours.close()
            raise _TemplateGone(f"the template did not start: {exc}") from None
        finally:
            theirs.close()
        self.channel = _Lines(ours)
        self.lock = threading.Lock()
        self.alive = True
        self.reason = "the template is closed"  # why it no longer serves, once it does not
        start = {"op": "start", "factory": factory, "config_class": config_class}
        try:
            reply = self.request({**start, "parent": os.getpid()})
            watched = [str(n) for n in reply.get("watched", []) if _watched(str(n))]
            refused = [name for name in watched if not _exempt(name)]
            if not isinstance(reply.get("ready"), int) or refused:
                raise _TemplateGone(f"the template holds {', '.join(refused) or 'nothing'}")
        except BaseException as exc:  # refused, or the run was interrupted while it started
            self.close(kill=not isinstance(exc, _TemplateGone))
            raise

    def request(self, message: Mapping[str, Any], fds: tuple[int, ...] = ()) -> dict[str, Any]:
        """Send one request and wait for its reply (one at a time: fits run in threads)."""
        with self.lock:
            if not self.alive:
                raise _TemplateGone(self.reason)
            try:
                self.channel.send(message, fds)
                reply, _ = self.channel.recv()
            except (OSError, ValueError):
                reply = None
            except BaseException:  # interrupted between request and reply: out of step now
                self.alive = False
                self.reason = "a request to the template was interrupted"
                raise
            if reply is None:
                self.alive = False
                self.reason = "the template stopped answering"
                raise _TemplateGone(self.reason)
        if "error" in reply:
            raise _TemplateGone(f"the template refused: {reply['error']}")
        return reply

    def spawn(self, ends: tuple[int, int]) -> _ForkedChild:
        reply = self.request({"op": "spawn"}, ends)
        number, pid = reply.get("id"), reply.get("pid")
        if not isinstance(number, int) or not isinstance(pid, int):
            raise _TemplateGone(f"the template answered {reply!r}")
        return _ForkedChild(self, number, pid)

    def close(self, kill: bool = False) -> None:
        """Stop the template (and any worker of its still running); ``kill``: at once."""
        with self.lock:
            if self.alive and not kill:
                with contextlib.suppress(OSError, ValueError):
                    self.channel.send({"op": "close"})
            self.alive = False
            if kill:
                self.process.kill()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.channel.sock.close()


class _ForkedChild:
    """A worker forked by a template, with the part of `subprocess.Popen` a handle uses: the
    template, its parent, kills it and says how it ended."""

    def __init__(self, template: _Template, number: int, pid: int) -> None:
        self.template, self.number, self.pid = template, number, pid

    def kill(self) -> None:
        with contextlib.suppress(_TemplateGone):
            self.template.request({"op": "kill", "id": self.number})

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code once the worker ended; None when the template is gone (its workers
        die with it) and the code with it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.001
        while True:
            try:
                reply = self.template.request({"op": "status", "id": self.number})
            except _TemplateGone:
                return None
            code = reply.get("code")
            if isinstance(code, int):
                return code
            if not reply.get("running"):
                return None
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0.0)
            time.sleep(pause)
            pause = min(2 * pause, 0.05)


class WorkerTemplates:
    """The template processes of one run (see the module docstring), one per model factory,
    options class, threads per fit and environment (device variables such as
    ``CUDA_VISIBLE_DEVICES`` included) and working folder; each started when its first fit
    asks and closed with the run (``with``, or `close`). Thread-safe: fits run in threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._templates: dict[tuple, _Template | None] = {}
        self._closed = False
        #: Why a template could not serve (each fit then got a fresh interpreter).
        self.problems: list[str] = []

    def spawn(
        self, factory: str, config_class: str, threads: int, ends: tuple[int, int]
    ) -> _ForkedChild | None:
        """A worker forked from this model's template, holding ``ends`` (its read and write
        ends of two pipes); None where no template can serve, so a fresh interpreter must."""
        if not templates_enabled():
            return None
        env = _worker_env(threads)
        key = (factory, config_class, threads, tuple(sorted(env.items())), os.getcwd())
        with self._lock:
            if self._closed:
                return None
            if key not in self._templates:
                # no BLAS or OpenMP pool in the template: each worker sets its own budget
                single = {**env, **{name: "1" for name in _thread_env()}}
                try:
                    self._templates[key] = _Template(factory, config_class, single)
                except _TemplateGone as exc:
                    self._templates[key] = None
                    self.problems.append(str(exc))
            template = self._templates[key]
        if template is None:
            return None
        try:
            return template.spawn(ends)
        except _TemplateGone as exc:
            with self._lock:
                if self._templates.get(key) is template:
                    self._templates[key] = None
                    self.problems.append(str(exc))
            template.close()
            return None

    def close(self) -> None:
        """Stop every template (their workers, all closed by now, go with them)."""
        with self._lock:
            self._closed = True
            templates = [t for t in self._templates.values() if t is not None]
            self._templates.clear()
        for template in templates:
            template.close()

    def __enter__(self) -> WorkerTemplates:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class IsolatedModel:
    """A model in a worker process of its own (see the module docstring).

    The worker is forked from the run's template for this model (``templates``), or else is a
    fresh interpreter (``python -m hbench.run.worker``); either way it is joined by two pipes,
    not a `multiprocessing` child: it starts from any process, a Dask worker's (daemonic)
    included, and shares no memory with the harness."""

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
    ) -> None:
        self.label = label
        self.device = device
        #: What the worker's audit saw so far; the `FitReport` of `fit` holds this very list,
        #: so events of later predict and save calls reach the result too.
        self.audit: list[str] = []
        config_class = import_path(type(config))
        #: The worker: a `subprocess.Popen`, or a template's child with the same calls.
        self.process: Any = None
        conn = None
        if templates is not None and config_class is not None:
            conn = self._connect(lambda ends: templates.spawn(factory, config_class, threads, ends))
        self.conn = conn or self._connect(lambda ends: _fresh_worker(ends, threads))
        init = {
            "factory": factory,
            "config_class": config_class,
            "config": config.model_dump(mode="json"),
            "threads": threads,
            "allowed": allowed,
            "parent": os.getpid(),
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
        try:
            code = self.process.wait(timeout=5)
        except Exception:
            code = None
        raise PluginError(
            f"{self.label} failed in {stage}: its worker process died (exit code {code})"
        ) from None

    def _receive(self, stage: str) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
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
            raise PluginError(f"{self.label} failed in {meta.get('stage', stage)}: {text}")
        return kind, meta, arrays

    def _expect(self, expected: str, stage: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        kind, meta, arrays = self._receive(stage)
        if kind != expected:
            raise PluginError(f"{self.label} failed in {stage}: unexpected message {kind!r}")
        return meta, arrays

    def fit(self, train, spec, seed, tests, on_checkpoint, on_progress) -> FitReport:
        answers_free = {key: data.without_targets() for key, data in tests.items()}
        checkpoints = on_checkpoint is not None
        self._send(("fit", train, spec, seed, self.device, answers_free, checkpoints), "fit")
        while True:
            kind, meta, arrays = self._receive("fit")
            if kind == "checkpoint" and on_checkpoint is not None:
                predictions = {int(k): v for k, v in arrays.items()}
                on_checkpoint(meta.get("label"), float(meta.get("seconds", 0.0)), predictions)
            elif kind == "progress" and on_progress is not None:
                on_progress(int(meta["done"]), int(meta["total"]), str(meta.get("unit", "step")))
            elif kind == "fitted":
                return FitReport(
                    float(meta["fit_s"]),
                    meta.get("num_parameters"),
                    meta.get("resolved_config"),
                    self.audit,
                )

    def predict(self, key: TestKey) -> np.ndarray:
        self._send(("predict", key), "predict")
        _, arrays = self._expect("probs", "predict")
        return arrays["p"]

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


def _fresh_worker(ends: tuple[int, int], threads: int) -> subprocess.Popen:
    """A worker in a fresh interpreter, reading from and writing to ``ends``."""
    return subprocess.Popen(
        [sys.executable, "-m", "hbench.run.worker", *map(str, ends)],
        pass_fds=ends,
        stdin=subprocess.DEVNULL,
        env=_worker_env(threads),
    )


def model_files(factory: str) -> list[str]:
    """Folders a model may read freely: its plugin's package (data files shipped with it)."""
    module_name = factory.partition(":")[0].split(".")[0]
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return []
    locations = list(getattr(spec, "submodule_search_locations", None) or [])
    return [str(p) for p in locations]


__all__ = [
    "TEMPLATE_ENV",
    "Callbacks",
    "FitReport",
    "InProcessModel",
    "IsolatedModel",
    "ModelHandle",
    "WorkerTemplates",
    "import_path",
    "model_files",
    "worker_main",
]


def _thread_env() -> tuple[str, ...]:
    from hbench.run.threads import THREAD_ENV

    return THREAD_ENV


if __name__ == "__main__":  # python -m hbench.run.worker (READ_FD WRITE_FD | --template FD)
    if sys.argv[1] == "--template":
        template_main(int(sys.argv[2]))
    else:
        worker_main(_Pipes(int(sys.argv[1]), int(sys.argv[2])))
