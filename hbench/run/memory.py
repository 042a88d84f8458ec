"""Estimate memory before allocating it, and refuse with the estimate rather than swap or die.

Sampling and BP process sequences in chunks, so their working memory is bounded; what cannot be
chunked is the output the caller asked for (n sequences of 2**depth leaves, or their posteriors).
`check_fits` compares such an estimate with the memory this machine has available.
"""

from __future__ import annotations

import math
import os

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


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable on Linux, physical memory elsewhere).

    ``HBENCH_MEMORY_LIMIT`` (bytes) overrides it, to test the refusals or to share a machine.
    """
    override = memory_limit_override()
    if override is not None:
        return override
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def format_bytes(nbytes: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.1f} {unit}" if unit != "B" else f"{int(nbytes)} B"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_fits(nbytes: float, what: str) -> None:
    """Raise a UsageError naming ``what`` and the estimate if it would not fit in memory."""
    limit = available_memory() * MEMORY_SHARE
    if nbytes > limit:
        source = f"set by {MEMORY_LIMIT_ENV}" if memory_limit_override() is not None else "free"
        raise UsageError(
            f"{what} needs an estimated {format_bytes(nbytes)} of memory, more than the "
            f"{format_bytes(limit)} available ({MEMORY_SHARE:.0%} of the memory {source}): "
            "lower n, depth, q or the filter level"
        )
