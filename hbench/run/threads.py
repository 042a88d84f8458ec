"""One thread budget per process, shared by BLAS/OpenMP, torch and hbench's own thread pools.

Left alone, torch, the BLAS under numpy and the sampler's pool each start one thread per core;
on a machine that other processes keep busy, a small model then runs many times slower than
with one thread (oversubscription). `set_thread_budget` caps all of them at once: through
threadpoolctl for the BLAS and OpenMP libraries already loaded, through the environment for
libraries loaded later (and for child processes), and through ``torch.set_num_threads`` when
torch is loaded. hbench's sampler and BP pools ask `thread_budget` for their size, and
`blas_limited` keeps the BLAS under each of their threads to its share of the budget.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Iterator
from typing import Any

from hbench.errors import invalid

#: Environment variables read by OpenMP, MKL, OpenBLAS and numexpr when they load.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")

#: Overrides the default budget (the CPUs this process may use), e.g. in a batch job.
THREADS_ENV = "HBENCH_THREADS"

_budget: int | None = None


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask: containers, taskset, SLURM)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def thread_budget() -> int:
    """Threads this process may use for numerical work: what `set_thread_budget` set, else
    ``HBENCH_THREADS``, else the CPUs this process may use."""
    if _budget is not None:
        return _budget
    text = os.environ.get(THREADS_ENV, "").strip()
    if text:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise invalid(THREADS_ENV, text, "an integer >= 1")
        return value
    return available_cpus()


def set_thread_budget(threads: int) -> None:
    """Cap every thread pool of this process (and of the processes it starts) at ``threads``."""
    global _budget
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise invalid("--threads", threads, "an integer >= 1")
    _budget = threads
    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    os.environ[THREADS_ENV] = str(threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # the BLAS/OpenMP libraries loaded so far
    torch = sys.modules.get("torch")
    if torch is not None:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        # inter-op threads can only be set before torch runs any parallel work
        try:
            if torch.get_num_interop_threads() > threads:
                torch.set_num_interop_threads(threads)
        except RuntimeError:
            pass


@functools.cache
def _controller() -> Any:
    """The BLAS libraries loaded when first asked (numpy's, which is what hbench's own array
    code calls), built once: building it costs a scan of the process's libraries."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


@contextlib.contextmanager
def blas_limited(threads: int) -> Iterator[None]:
    """While inside, numpy's BLAS uses at most ``threads`` threads (never more than it
    already did). For code that calls numpy from a pool of its own threads: each pool
    thread's matmuls would otherwise start BLAS threads of their own, budget x budget in all,
    which on 2 cores made 2-thread BP slower than 1 thread (benchmarks/README.md)."""
    threads = max(1, threads)
    controller = _controller()
    current = [int(info["num_threads"]) for info in controller.info()]
    if not current or max(current) <= threads:
        yield
        return
    with controller.limit(limits=threads):
        yield


def thread_report() -> dict[str, int]:
    """Threads each loaded library would use now (for tests and benchmarks)."""
    from threadpoolctl import threadpool_info

    report = {
        f"{i['internal_api']}:{i['prefix']}": int(i["num_threads"]) for i in threadpool_info()
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        report["torch"] = int(torch.get_num_threads())
    return report
