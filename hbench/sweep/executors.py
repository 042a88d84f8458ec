"""Where the cells of a sweep run: a local process pool, or a Dask distributed cluster.

Both call the same top-level `hbench.run.spec.run_cell(spec, out_dir, threads)` and report each
cell as it finishes, so the sweep command does not care which one ran it. A run is a pure
function of its spec and writes its own result atomically under a name fixed by the spec, so
running a cell a second time (a retry after a lost worker) can only replace a whole file with
an identical result: every cell ends up in the folder exactly once.

- ``local``: a `ProcessPoolExecutor` of N processes started with "spawn" (no fork of a process
  that may hold torch threads). If a process dies (killed, out of memory), the pool is rebuilt
  and the cells it took down run again; a cell that takes down two pools is reported failed.
  The workers end with the sweep however it ends: stopped (Ctrl-C, SIGTERM) they are
  terminated, and killed (SIGKILL, out of memory) each worker notices its parent is gone
  (`watch_parent`) and exits, its cell's temporary files removed.
- ``dask``: `distributed`. With a scheduler address the cells go to that cluster (``dask
  scheduler`` + ``dask worker``, or dask-jobqueue on SLURM); without one a `LocalCluster` of N
  worker processes is started on 127.0.0.1. The scheduler reruns the cells of a worker that
  disappears (up to ``distributed.scheduler.allowed-failures`` times); cells that ask for a
  resource (``GPU=1``) only go to workers that have it.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbench.errors import UsageError
from hbench.registry.loading import one_line
from hbench.sweep.cell import run_cell
from hbench.sweep.file import Cell

EXECUTORS = ("local", "dask")

#: How many times a cell may take a local pool down with it before it counts as failed.
LOCAL_CRASHES = 2

#: How often a worker checks that the sweep that started it is still there (seconds).
PARENT_POLL_S = 0.5
#: How long a worker whose sweep died may take to clean up before it exits anyway (seconds).
ORPHAN_GRACE_S = 5.0

#: prctl(2): deliver a signal to this process when the thread that created it exits.
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Outcome:
    """A finished cell: the result file it wrote, or the one-line error it failed with."""

    cell: Cell
    path: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


#: ``on_slots(n)``: how many cells can run at once (workers x threads), reported when known.
SlotCallback = Callable[[int], None]


def default_workers() -> int:
    """The core count this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int) -> int:
    """Cores per worker process, so N workers never ask for more threads than there are cores."""
    return max(1, default_workers() // max(1, workers))


class _SweepGone(KeyboardInterrupt):
    """In a worker: the sweep stopped or died; the cell unwinds (its temporary files are
    removed on the way) and the worker exits."""


#: In a worker: whether a cell is running (else a stop signal just ends the process).
_in_cell = False


def _stop_cell(signum: int, frame: object) -> None:
    if not _in_cell:
        os._exit(143)
    raise _SweepGone


def watch_parent(parent: int) -> None:
    """Initializer of a local worker: exit when the sweep process ``parent`` is gone.

    SIGTERM (from the sweep stopping its pool, or from the kernel when the sweep dies, via
    ``PR_SET_PDEATHSIG`` on Linux) interrupts a running cell like Ctrl-C and ends an idle
    worker at once; a thread that polls the parent's pid covers other systems and a cell stuck
    in native code (it exits the process after a grace period). Ctrl-C is left to the sweep,
    which stops its workers itself."""
    signal.signal(signal.SIGTERM, _stop_cell)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the sweep, which stops us
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above
        os._exit(143)

    def poll() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        with contextlib.suppress(OSError):
            os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(ORPHAN_GRACE_S)
        os._exit(143)

    threading.Thread(target=poll, name="hbench-watch-parent", daemon=True).start()


def run_cell_in_worker(spec, out_dir: str, threads: int | None) -> str:
    """`run_cell` in a local worker; an interrupted cell (Ctrl-C, the sweep stopping or dying)
    ends the worker once the cell has cleaned up, instead of taking the next cell."""
    global _in_cell
    _in_cell = True
    try:
        return run_cell(spec, out_dir, threads)
    except KeyboardInterrupt:
        os._exit(143)
    finally:
        _in_cell = False


def run_local(cells: list[Cell], out_dir: Path, workers: int) -> Iterator[Outcome]:
    """Run the cells on a pool of ``workers`` processes; yield each outcome as it finishes."""
    threads = threads_per_worker(workers)
    crashes: dict[str, int] = {}
    remaining = list(cells)
    context = multiprocessing.get_context("spawn")
    while remaining:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=watch_parent,
            initargs=(os.getpid(),),
        )
        with pool:
            futures = {
                pool.submit(run_cell_in_worker, c.spec, str(out_dir), threads): c for c in remaining
            }
            remaining = []
            pending = set(futures)
            try:
                while pending:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        cell = futures[future]
                        try:
                            yield Outcome(cell, path=future.result())
                        except BrokenProcessPool:
                            crashes[cell.key] = crashes.get(cell.key, 0) + 1
                            if crashes[cell.key] >= LOCAL_CRASHES:
                                yield Outcome(cell, error="its worker process died (twice)")
                            else:
                                remaining.append(cell)
                        except Exception as exc:
                            yield Outcome(cell, error=one_line(exc))
            except BaseException:  # interrupted: stop the cells in flight, leave no orphans
                _terminate(pool)
                raise


def _terminate(pool: ProcessPoolExecutor) -> None:
    """End the pool's worker processes now (their atomic writes leave no partial file)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        process.terminate()


#: Transports a Dask scheduler address may name (tcp when none is given).
SCHEDULER_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")

_ADDRESS = re.compile(
    r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$"
)


def check_scheduler_address(address: str, field: str = "--scheduler") -> str:
    """Refuse an address that no Dask scheduler can have, before any work: one line naming it
    and the form allowed (``tcp://HOST:PORT``), instead of Dask's error after loading."""
    match = _ADDRESS.match(address.strip())
    allowed = (
        f"an address like tcp://HOST:8786 (scheme {', '.join(SCHEDULER_SCHEMES)};"
        " a host and a port in 1..65535)"
    )
    if match is None:
        raise UsageError(f"{field}={address!r} is invalid: {allowed}")
    scheme = (match["scheme"] or "tcp").lower()
    if scheme not in SCHEDULER_SCHEMES or not 1 <= int(match["port"]) <= 65535:
        raise UsageError(f"{field}={address!r} is invalid: {allowed}")
    return address.strip()


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise UsageError(
            "--executor dask needs Dask distributed: pip install 'hbench[distributed]'"
        ) from None
    return distributed


def start_local_cluster(workers: int, resources: dict[str, float] | None = None):
    """A `LocalCluster` of ``workers`` single-threaded processes, on loopback, no dashboard."""
    distributed = _import_distributed()
    return distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        # The scheduler serves its HTTP routes (health, metrics) even without a dashboard, by
        # default on port 8787 of every interface: a free port on loopback instead.
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        resources=resources or None,
    )


def connect(cluster: Any, scheduler: str | None, timeout: float) -> Any:
    """A `distributed.Client` of ``cluster`` (a LocalCluster started here) or else of the
    scheduler at ``scheduler``; one usage line when none answers, the cluster closed."""
    distributed = _import_distributed()
    try:
        return distributed.Client(cluster if cluster is not None else scheduler, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise UsageError(
            f"--scheduler={scheduler!r} is invalid: no Dask scheduler answered there"
            f" ({one_line(exc)})"
        ) from None


def run_dask(
    cells: list[Cell],
    out_dir: Path,
    *,
    scheduler: str | None,
    workers: int,
    retries: int = 0,
    connect_timeout: float = 30.0,
    on_slots: SlotCallback | None = None,
    client=None,
    threads: int | None = None,
) -> Iterator[Outcome]:
    """Submit every cell as one Dask task; yield each outcome as it finishes.

    ``retries`` reruns a cell that raised (a flaky GPU); a cell whose worker died is rerun by
    the scheduler itself, whatever ``retries`` says. ``connect_timeout``: seconds to wait for
    the scheduler to answer. ``client``: an open `distributed.Client` to submit to (left
    open; ``threads`` is then each cell's thread budget) instead of one made here.
    """
    distributed = _import_distributed()
    cluster = None
    owned = client is None
    if owned and scheduler is None:
        needed: dict[str, float] = {}
        for cell in cells:
            for name, amount in cell.resources.items():
                needed[name] = max(needed.get(name, 0.0), amount)
        cluster = start_local_cluster(workers, needed)
        threads = threads_per_worker(workers)
    if owned:
        client = connect(cluster, scheduler, connect_timeout)
    try:
        if on_slots is not None:
            on_slots(sum(client.nthreads().values()))
        futures = {}
        for cell in cells:
            future = client.submit(
                run_cell,
                cell.spec,
                str(out_dir.resolve()),
                threads,
                key=f"hbench-cell-{cell.key}",
                resources=cell.resources or None,
                retries=retries,
                priority=cell.budget,
                pure=False,
            )
            futures[future] = cell
        for future in distributed.as_completed(list(futures)):
            cell = futures[future]
            try:
                yield Outcome(cell, path=future.result())
            except Exception as exc:
                yield Outcome(cell, error=one_line(exc))
    finally:
        if owned:
            client.close()
        if cluster is not None:
            cluster.close()
