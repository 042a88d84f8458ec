"""One lock per leaderboard folder, so concurrent `submit` and `build` never lose a row.

Without it, two submissions can each write their file and rebuild from a listing taken before
the other's file existed; the last rebuild then misses a row. Under the lock a submission's
check, write and rebuild happen as one step. The lock is an OS file lock (``fcntl``/
``msvcrt`` through the filelock package), released by the OS if a process dies holding it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from hbench.errors import UsageError

#: The lock file inside the leaderboard folder (ignored by git, never a result).
LOCK = ".lock"
#: Seconds to wait for another submission or build before giving up.
WAIT_S = 600.0


@contextmanager
def board_lock(root: Path, *, reading: bool = False) -> Iterator[None]:
    """Hold the folder's lock. ``reading``: a read-only folder (a CI checkout) is read
    without the lock, since nothing can write to it either."""
    try:
        lock = FileLock(str(root / LOCK), timeout=WAIT_S)
        lock.acquire()
    except Timeout:
        raise UsageError(
            f"the leaderboard {str(root)!r} stayed locked for {WAIT_S:.0f} s by another submit"
            f" or build; if none is running, remove {str(root / LOCK)!r}"
        ) from None
    except OSError:
        if not reading:
            raise
        yield
        return
    try:
        yield
    finally:
        lock.release()
