"""One thread budget per process: BLAS and OpenMP already loaded, torch, the sampler's pool."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hbench.errors import UsageError
from hbench.run.threads import available_cpus, thread_budget


def _python(code: str, **env: str) -> str:
    import os

    environment = {k: v for k, v in os.environ.items() if k != "HBENCH_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**environment, **env},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_budget_caps_libraries_loaded_before_and_after():
    out = _python(
        """
        import numpy  # its BLAS is loaded, with a thread per core, before the budget is set
        from hbench.run.threads import set_thread_budget, thread_report
        from hbench_tree.blocks import default_workers
        set_thread_budget(1)
        import torch  # loaded after: the environment caps it
        report = thread_report()
        print(sorted(set(report.values())), default_workers(), torch.get_num_threads())
        """,
        OMP_NUM_THREADS="2",
        OPENBLAS_NUM_THREADS="2",
    )
    assert out.split() == ["[1]", "1", "1"]


def test_the_default_budget_is_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.delenv("HBENCH_THREADS", raising=False)
    import hbench.run.threads as threads

    monkeypatch.setattr(threads, "_budget", None)
    assert thread_budget() == available_cpus()
    monkeypatch.setenv("HBENCH_THREADS", "3")
    assert thread_budget() == 3
    monkeypatch.setenv("HBENCH_THREADS", "zero")
    with pytest.raises(UsageError, match="HBENCH_THREADS='zero' is invalid"):
        thread_budget()


def test_blas_limited_lowers_blas_for_a_while_and_never_raises_it():
    out = _python(
        """
        import numpy
        from threadpoolctl import threadpool_info
        from hbench.run.threads import blas_limited

        def blas():
            return sorted({i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})

        before = blas()
        with blas_limited(1):
            inside = blas()
        with blas_limited(64):
            above = blas()
        print(before, inside, blas(), above)
        """,
        OPENBLAS_NUM_THREADS="2",
    )
    assert out.split() == ["[2]", "[1]", "[2]", "[2]"]
