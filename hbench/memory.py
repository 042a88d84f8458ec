"""Estimate memory before allocating it, and refuse with the estimate rather than swap or die.

Sampling and BP process sequences in chunks, so their working memory is bounded; what cannot be
chunked is the output the caller asked for (n sequences of 2**depth leaves, or their posteriors).
`check_fits` compares such an estimate with the memory this machine has available.
"""

from __future__ import annotations

import math
import os
import time

from hbench.errors import UsageError

#: Share of the available memory one array may take; the rest is for the process and the OS.
MEMORY_SHARE = 0.8

#: Environment variable that overrides the available memory (bytes).
MEMORY_LIMIT_ENV = "HBENCH_MEMORY_LIMIT"


def memory_limit_override() -> int | None:
    """The byte count set in ``HBENCH_MEMORY_LIMIT`` (e.g. ``2e9``), or None when unset."""
    text = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise UsageError(
            f"{MEMORY_LIMIT_ENV}={text!r} is invalid: a number of bytes >= 0, e.g. 2e9"
        )
    return int(value)


def _read_int(path: str) -> int | None:
    try:
        with open(path, encoding="ascii") as handle:
            text = handle.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def cgroup_available() -> int | None:
    """Bytes this process's control group may still allocate (containers, SLURM, systemd),
    or None without a cgroup memory limit. cgroup v2 first, then v1."""
    for limit_path, usage_path in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        limit = _read_int(limit_path)
        if limit is None or limit >= 1 << 60:  # v1 writes a huge number for "no limit"
            continue
        usage = _read_int(usage_path) or 0
        return max(0, limit - usage)
    return None


def available_memory() -> int:
    """Bytes of memory this process can still use: the smaller of what the machine has
    available (psutil) and what its cgroup allows.

    ``HBENCH_MEMORY_LIMIT`` (bytes) overrides it, to test the refusals or to share a machine.
    """
    override = memory_limit_override()
    if override is not None:
        return override
    now = time.monotonic()
    if now - _measured[0] > 1.0:  # a sweep checks thousands of cells: ask once a second
        import psutil

        available = int(psutil.virtual_memory().available)
        group = cgroup_available()
        _measured[:] = [now, min(available, group) if group is not None else available]
    return int(_measured[1])


#: (when, bytes) of the last measurement of `available_memory`.
_measured: list[float] = [-1e9, 0.0]


def format_bytes(nbytes: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_fits(
    nbytes: float, what: str, hint: str = "lower n, depth, q or the filter level"
) -> None:
    """Raise a UsageError naming ``what`` and the estimate if it would not fit in memory."""
    limit = available_memory() * MEMORY_SHARE
    if nbytes > limit:
        source = f"set by {MEMORY_LIMIT_ENV}" if memory_limit_override() is not None else "free"
        raise UsageError(
            f"{what} needs an estimated {format_bytes(nbytes)} of memory, more than the "
            f"{format_bytes(limit)} available ({MEMORY_SHARE:.0%} of the memory {source}): "
            f"{hint}"
        )
