"""Progress bars that show up on a terminal and stay silent in logs, pipes and with --quiet."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

#: Set by the CLI's --quiet: no bar anywhere in the process.
QUIET = False


def _silent() -> bool:
    """No bars with --quiet, or where stderr is no terminal (logs, pipes, CI)."""
    return QUIET or not sys.stderr.isatty()


@contextlib.contextmanager
def progress(total: int, description: str, unit: str = "seq") -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(count)`` callback; a tqdm bar on stderr when it is a terminal."""
    if total <= 0 or _silent():
        yield lambda count: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=description, unit=unit, unit_scale=True, leave=False) as bar:
        yield bar.update


@contextlib.contextmanager
def inner_progress(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """Yield a ``report(done, total, unit)`` callback for a model's own progress inside a fit.

    Drawn as a second bar under the outer one; a new ``total`` (the next fit) starts it over.
    Silent where `progress` is."""
    if _silent():
        yield lambda done, total, unit="step": None
        return
    from tqdm import tqdm

    bar = tqdm(total=0, desc=description, position=1, leave=False)

    def report(done: int, total: int, unit: str = "step") -> None:
        if bar.total != total or done < bar.n:
            bar.reset(total=total)
            bar.unit = unit
        bar.update(done - bar.n)

    try:
        yield report
    finally:
        bar.close()
