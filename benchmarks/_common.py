"""Helpers shared by the benchmark scripts: timing, thread limits and a description of the machine.

Kept apart so that every script times things the same way: one warm-up call, then the best of
several repeats (the minimum is the least noisy estimate of what the code can do on an otherwise
idle machine), with the CPU time split into user and system time, since the system share
(page faults of freshly allocated output arrays) is a real part of the cost of big outputs.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of the repeats of one measurement (warm-up excluded)."""

    seconds: list[float]
    user: float  # CPU seconds in user mode, summed over the repeats
    system: float  # CPU seconds in the kernel (page faults, mmap), summed over the repeats

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def system_share(self) -> float:
        """Share of the CPU time spent in the kernel."""
        total = self.user + self.system
        return self.system / total if total else 0.0


def measure(fn: Callable[[], object], repeats: int, warm_up: bool = True) -> Timing:
    """Time ``fn()`` ``repeats`` times after one untimed call; results are dropped at once."""
    if warm_up:
        fn()
    seconds = []
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return Timing(seconds, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)


def calibrate(fn: Callable[[int], object], target_s: float, start: int, cap: int) -> int:
    """The n for which ``fn(n)`` takes about ``target_s`` seconds (at most ``cap``)."""
    n = start
    while True:
        t0 = time.perf_counter()
        fn(n)
        elapsed = time.perf_counter() - t0
        if n >= cap or elapsed >= target_s / 4:
            break
        n = min(cap, n * 4)
    return max(1, min(cap, int(n * target_s / max(elapsed, 1e-9))))


@contextlib.contextmanager
def blas_threads(threads: int | None) -> Iterator[None]:
    """Limit the BLAS thread pool (None: leave it as numpy starts it)."""
    if threads is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "--blas-threads needs threadpoolctl; or set OPENBLAS_NUM_THREADS instead"
        ) from error
    with threadpool_limits(threads, user_api="blas"):
        yield


def blas_description() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return "unknown (install threadpoolctl)"
    pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    return ", ".join(
        f"{p['internal_api']} {p.get('version')} ({p.get('architecture')}, "
        f"{p['num_threads']} threads)"
        for p in pools
    )


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _caches() -> str:
    sizes = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        with contextlib.suppress(OSError):
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            if kind != "Instruction":
                sizes.append(f"L{level} {(index / 'size').read_text().strip()}")
    return ", ".join(sizes)


def _git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "hbench", "plugins"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + (" (+ uncommitted changes in hbench/ or plugins/)" if dirty else "")


def machine() -> dict:
    """What the numbers were measured on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "caches (per core for L1/L2)": _caches(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas_description(),
        "commit": _git_commit(),
        "load average at start (1, 5, 15 min)": load_average(),
    }


def load_average() -> str:
    """The machine's load: anything well above 0 means other processes shared the cores."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:  # pragma: no cover
        return "unknown"


class OtherLoad:
    """CPU time that other processes took while a benchmark ran (from /proc/stat), since the
    machine may be shared: more than a few percent means the numbers are pessimistic."""

    def __init__(self) -> None:
        self.start = (time.perf_counter(), self._busy(), self._own())

    @staticmethod
    def _busy() -> float:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        except OSError:  # pragma: no cover - not Linux
            return float("nan")
        user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[:7])
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _own() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def report(self) -> str:
        wall, busy, own = self.start
        wall = time.perf_counter() - wall
        other = (self._busy() - busy) - (self._own() - own)
        share = other / (wall * (os.cpu_count() or 1))
        return f"other processes used {max(other, 0):.1f} CPU s ({max(share, 0):.0%} of the cores)"


def print_machine() -> dict:
    info = machine()
    for key, value in info.items():
        print(f"{key}: {value}")
    print()
    return info


def write_json(path: str, info: dict, **tables: list) -> None:
    payload = {"machine": info, **tables}
    Path(path).write_text(json.dumps(payload, indent=2, default=_jsonable) + "\n")
    print(f"wrote {path}")


def _jsonable(value: object) -> object:
    if isinstance(value, Timing):
        return asdict(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def hbench_run(argv: list[str], out: Path) -> tuple[float, dict]:
    """``hbench run ARGV --json`` in a fresh process: (wall seconds of the command, result)."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hbench", "run", *argv, "--out", str(out), "--json", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"hbench run {' '.join(argv)} failed:\n{done.stderr}")
    return seconds, json.loads(done.stdout)["result"]


def scores(result: dict) -> list[tuple]:
    """A result's numbers that must agree to the last digit between two ways of running it."""
    return [(m["seed"], m["k_train"], m["k_test"], m["acc"], m["kl_bp"]) for m in result["metrics"]]
