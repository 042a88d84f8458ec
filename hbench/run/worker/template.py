"""The fork template: one interpreter per run and model that forks a worker per fit.

A fresh interpreter per fit pays Python's start-up and the import of the model's module (torch,
seconds) every time, so a run starts one *template* process per model (`WorkerTemplates`): a
fresh interpreter that imports only the model's module and its options class (and, for a torch
model, the modules torch would import lazily in every fit: `TEMPLATE_WARM_UP`), then forks one
worker per fit on request, before the worker is told which model to build or sees any data.
The template never builds a model, never receives data, and never holds the grammar, oracle,
harness or suite modules (one whose model module imports them is refused, unless its
registration declares them as ``build_imports``); each fit's worker is forked from the template
alone, so nothing of one fit reaches another. The template is started with one thread for BLAS
and OpenMP and forks only while it is single-threaded; each worker sets its thread budget after
the fork. The harness passes a worker's pipes to the template over a socket (``SCM_RIGHTS``);
the template reaps its workers and tells the harness how one ended, and kills one on request.
Workers die with their template (the parent-death signal) and watch the harness's process as
before. Where no template can serve (not Linux, a template that failed to start or died,
``HBENCH_WORKER_TEMPLATE=0``), each fit gets a fresh interpreter.

In the sandbox (`hbench.run.worker.sandbox`) the template runs under bubblewrap, and each
worker it forks enters namespaces of its own before it reads anything from the harness.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from hbench.run.worker.audit import _exempt, _loaded_watched, _watched, watch
from hbench.run.worker.sandbox import (
    Plan,
    apply_limits,
    bwrap_command,
    clean_env,
    enter_fit,
    try_enter_fit,
)
from hbench.run.worker.serve import _die_with_parent, worker_main
from hbench.run.worker.wire import _describe, _Lines, _Pipes, _resolve

# --- the template: one interpreter per run that forks a worker per fit ---------------------------

#: ``HBENCH_WORKER_TEMPLATE=0`` starts every fit's worker as a fresh interpreter, as without a
#: template: for comparisons (``benchmarks/bench_isolation.py``) and for debugging.
TEMPLATE_ENV = "HBENCH_WORKER_TEMPLATE"

#: Modules a template also imports when the model's module imported the package named: what
#: that package would otherwise import lazily inside every fit (torch imports its compiler stack,
#: as long to import as torch itself, on a model's first optimiser step). Imports only: no
#: thread pool starts and no CUDA context (`_fork_hazard` checks before every fork).
TEMPLATE_WARM_UP = {"torch": ("torch._dynamo",)}


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


def template_main(sock_fd: int, sandboxed: bool = False) -> None:
    """The template process: import the model's module and options class, then fork a worker
    per ``spawn`` request, each exactly a fresh worker from then on (`worker_main`).

    Requests are JSON lines from the harness: ``start`` (the model's import paths and the
    harness's pid), ``spawn`` with the worker's two pipe ends attached (``SCM_RIGHTS``),
    ``status`` and ``kill`` of a worker by the id ``spawn`` gave it, and ``close``. The template
    ends at ``close``, when the harness's end of the socket closes, or when the harness's
    process is gone, and kills the workers still running as it goes. ``sandboxed``: it runs
    under bubblewrap, and each worker enters namespaces of its own (`sandbox.enter_fit`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle
    no_core_dumps()
    if sandboxed:  # no fit reads the template's memory (nor, as they inherit it, another's)
        apply_limits({"dumpable": False})
    channel = _Lines(socket.socket(fileno=sock_fd))
    with contextlib.suppress(OSError, ValueError):  # the harness is gone: so is the template
        _template(channel, sandboxed)
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)  # nothing to finalise (its workers are gone): the run's end need not wait


def _template(channel: _Lines, sandboxed: bool) -> None:
    start, _ = channel.recv()
    if start is None:
        return
    watch(start.get("watched", []))
    baseline = _loaded_watched()
    problem: str | None
    try:
        harness = None if start.get("parent") is None else int(start["parent"])
        exempt = [str(name) for name in start.get("build_imports", [])]
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
        watched = sorted(name for name in _loaded_watched() - baseline if not _exempt(name, exempt))
        problem = f"its module imports {', '.join(watched)}" if watched else _fork_hazard()
        if problem is None and sandboxed:
            problem = try_enter_fit()
    except BaseException as exc:  # the model's module failed to import: a fresh worker says so
        problem = _describe(exc)
    if problem is not None:
        channel.send({"error": problem})
        return
    channel.send({"ready": os.getpid(), "watched": sorted(_loaded_watched())})
    processes = start.get("processes") if sandboxed else None
    _serve_template(channel, harness, baseline, sandboxed, processes)


def _serve_template(
    channel: _Lines,
    harness: int | None,
    baseline: set[str],
    sandboxed: bool,
    processes: int | None = None,
) -> None:
    live: dict[int, int] = {}  # pid of a running worker -> its id
    codes: dict[int, int] = {}  # id of a worker that ended -> its exit code (as Popen gives it)
    count = 0
    try:
        while True:
            if not channel.pending():
                readable, _, _ = select.select([channel.sock], [], [], 1.0)
                _reap(live, codes)
                if not readable:
                    if harness is not None and os.getppid() != harness:  # the harness is gone
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
                    _forked_worker(channel.sock, fds, baseline, template, sandboxed, processes)
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


def _forked_worker(
    sock: socket.socket,
    fds: list[int],
    baseline: set[str],
    template: int,
    sandboxed: bool,
    processes: int | None = None,
) -> Any:
    """A fit's worker just forked from the template: from here on a fresh worker's life, then
    ``os._exit`` (never back into the template's loop). In the sandbox it first enters
    namespaces of its own, as process 1 of its pid namespace (`sandbox.enter_fit`)."""
    code = 1
    try:
        sock.close()
        _die_with_parent()
        if os.getppid() != template:  # the template died before the signal was asked for
            os._exit(1)
        if sandboxed:
            enter_fit(processes)
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


def worker_env(threads: int, plan: Plan | None = None) -> dict[str, str]:
    """A worker's environment: in the sandbox a clean one (`sandbox.clean_env`), else the
    harness's; either way with every thread pool capped at ``threads``."""
    if plan is not None and plan.sandboxed:
        return clean_env(threads, _thread_env())
    return {**os.environ, **{name: str(threads) for name in _thread_env()}}


#: How a worker's interpreter starts: ``python -c`` with the working folder removed from the
#: import path before anything is imported (``-m`` would put it first, so that a folder named
#: ``hbench`` in it shadowed hbench), then ``hbench.run.worker``'s ``__main__``; works on every
#: supported Python (``-P`` needs 3.11).
LAUNCHER = (
    "import sys; del sys.path[0]; import runpy; "
    "runpy.run_module('hbench.run.worker', run_name='__main__', alter_sys=True)"
)


def worker_command(*args: str) -> list[str]:
    """The command line of a worker or template interpreter, with ``args`` for its main."""
    return [sys.executable, "-c", LAUNCHER, *args]


def no_core_dumps() -> None:
    """No core dumps from this process and those it starts: a model's crash must not write
    its memory (the training data) to disk."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class _Template:
    """The harness's end of one template process (see `WorkerTemplates`)."""

    def __init__(
        self,
        factory: str,
        config_class: str,
        env: Mapping[str, str],
        plan: Plan | None = None,
        build_imports: tuple[str, ...] = (),
        watched: tuple[str, ...] = (),
    ) -> None:
        ours, theirs = socket.socketpair()
        sandboxed = plan is not None and plan.sandboxed
        command = worker_command("--template", str(theirs.fileno()))
        if sandboxed:
            command = [*bwrap_command(plan, env), *command, "--sandboxed"]
        try:
            self.process = subprocess.Popen(
                command,
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
        start = {
            "op": "start",
            "factory": factory,
            "config_class": config_class,
            "build_imports": list(build_imports),
            "watched": list(watched),
            "processes": plan.limits.processes if sandboxed else None,
            "parent": None if sandboxed else os.getpid(),  # the sandbox cannot see the harness
        }
        try:
            reply = self.request(start)
            held = [str(n) for n in reply.get("watched", []) if _watched(str(n), watched)]
            refused = [name for name in held if not _exempt(name, build_imports)]
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

    def __init__(self, plan: Plan | None = None) -> None:
        #: How workers start: in the sandbox, or (None, or a plan without it) as before.
        self.plan = plan
        self._lock = threading.Lock()
        self._templates: dict[tuple, _Template | None] = {}
        self._closed = False
        #: Why a template could not serve (each fit then got a fresh interpreter).
        self.problems: list[str] = []

    def spawn(
        self,
        factory: str,
        config_class: str,
        threads: int,
        ends: tuple[int, int],
        build_imports: tuple[str, ...] = (),
        watched: tuple[str, ...] = (),
    ) -> _ForkedChild | None:
        """A worker forked from this model's template, holding ``ends`` (its read and write
        ends of two pipes); None where no template can serve, so a fresh interpreter must."""
        if not templates_enabled():
            return None
        env = worker_env(threads, self.plan)
        plan_key = self.plan.key() if self.plan is not None else None
        key = (
            factory,
            config_class,
            threads,
            tuple(sorted(env.items())),
            os.getcwd(),
            plan_key,
            build_imports,
            watched,
        )
        with self._lock:
            if self._closed:
                return None
            if key not in self._templates:
                # no BLAS or OpenMP pool in the template: each worker sets its own budget
                single = {**env, **{name: "1" for name in _thread_env()}}
                try:
                    self._templates[key] = _Template(
                        factory, config_class, single, self.plan, build_imports, watched
                    )
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

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        """Close the templates; then the files the run's model wrote through the sandbox's
        staging folders go into place if the run ended without error (`Plan.publish`), and
        the staging folders go either way."""
        try:
            self.close()
            if kind is None and self.plan is not None:
                self.plan.publish()
        finally:
            if self.plan is not None:
                self.plan.discard()


def _thread_env() -> tuple[str, ...]:
    from hbench.run.threads import THREAD_ENV

    return THREAD_ENV
