"""The block runner: every job once, and the BLAS under its threads held to their share."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_each_pool_thread_gets_its_share_of_the_blas_threads():
    """Two pool threads on a budget of 2: one BLAS thread each while they run (not two each,
    which oversubscribed the cores), and the BLAS as it was afterwards."""
    code = """
        import threading
        import numpy
        from threadpoolctl import threadpool_info
        from hbench_tree.blocks import run_blocks

        def blas():
            return max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

        seen, done = {}, []
        barrier = threading.Barrier(2)

        def work(tag, _, start, stop):
            barrier.wait(timeout=30)  # both pool threads are running
            seen[tag] = blas()

        jobs = [(i, None, 10 * i, 10 * i + 10) for i in range(2)]
        run_blocks(work, jobs, workers=2, progress=done.append)
        print(sorted(seen.values()), sorted(done), blas())
    """
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "2", "HBENCH_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[1,", "1]", "[10,", "10]", "2"]
