"""Progress bars that show up on a terminal and stay silent in logs, pipes and with --quiet."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

#: Set by the CLI's --quiet: no bar anywhere in the process.
QUIET = False


@contextlib.contextmanager
def progress(total: int, description: str, unit: str = "seq") -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(count)`` callback; a tqdm bar on stderr when it is a terminal."""
    if QUIET or total <= 0 or not sys.stderr.isatty():
        yield lambda count: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=description, unit=unit, unit_scale=True, leave=False) as bar:
        yield bar.update
