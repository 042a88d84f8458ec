"""Progress bars that show up on a terminal and stay silent in logs, pipes and with --quiet.

A bar must tell the truth on a busy machine: counts are integers (a bar of 5 fits reads 2/5,
not 2.00/5.00), elapsed time is redrawn every second even while nothing finishes, and every
fit that runs has a bar of its own, whatever the number of fits running at once."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

#: Set by the CLI's --quiet: no bar anywhere in the process.
QUIET = False

#: Seconds between redraws of a bar's elapsed time while nothing advances it.
REDRAW_S = 1.0

#: A fit's own progress: ``report(done, total, unit)``.
ProgressHook = Callable[[int, int, str], None]


def _silent() -> bool:
    """No bars with --quiet, or where stderr is no terminal (logs, pipes, CI)."""
    return QUIET or not sys.stderr.isatty()


def _scaled(total: int) -> bool:
    """SI prefixes (12.3k) only for large counts: 5 fits read 5, not 5.00."""
    return total >= 10_000


class _Ticker:
    """Redraws the bars it holds every `REDRAW_S` seconds from a daemon thread, so elapsed time
    moves while a long fit advances nothing."""

    def __init__(self) -> None:
        self.bars: set[Any] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="hbench-progress", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(REDRAW_S):
            with self.lock:
                bars = list(self.bars)
            for bar in bars:
                with contextlib.suppress(Exception):  # a bar closed meanwhile
                    bar.refresh()

    def add(self, bar: Any) -> None:
        with self.lock:
            self.bars.add(bar)

    def discard(self, bar: Any) -> None:
        with self.lock:
            self.bars.discard(bar)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2 * REDRAW_S)


@contextlib.contextmanager
def progress(total: int, description: str, unit: str = "seq") -> Iterator[Callable[[int], None]]:
    """Yield an ``advance(count)`` callback; a tqdm bar on stderr when it is a terminal."""
    if total <= 0 or _silent():
        yield lambda count: None
        return
    from tqdm import tqdm

    ticker = _Ticker()
    scaled = _scaled(total)
    try:
        with tqdm(total=total, desc=description, unit=unit, unit_scale=scaled, leave=False) as bar:
            ticker.add(bar)
            yield bar.update
    finally:
        ticker.close()


class FitBars:
    """One bar per running fit, under the run's bar: each shows its fit (seed and level), its
    epochs or steps as the model reports them, and the time since it started.

    ``fit(seed, k_train)`` is a context that yields the fit's ``report(done, total, unit)`` and
    removes its bar when the fit ends; bars take the lowest free line, so with ``--jobs 2`` two
    bars are drawn and reused. Silent where `progress` is."""

    def __init__(self) -> None:
        self.silent = _silent()
        self.lock = threading.Lock()
        self.lines: set[int] = set()
        self.ticker = None if self.silent else _Ticker()

    def _line(self) -> int:
        with self.lock:
            line = 1
            while line in self.lines:
                line += 1
            self.lines.add(line)
            return line

    @contextlib.contextmanager
    def fit(self, seed: int, k_train: int) -> Iterator[ProgressHook]:
        if self.silent:
            yield lambda done, total, unit="step": None
            return
        from tqdm import tqdm

        line = self._line()
        name = f"seed {seed} k={k_train}"
        waiting = "{desc}: starting [{elapsed}]"
        bar = tqdm(total=None, desc=name, position=line, leave=False, bar_format=waiting)
        assert self.ticker is not None
        self.ticker.add(bar)

        def report(done: int, total: int, unit: str = "step") -> None:
            if bar.total != total or done < bar.n:
                bar.bar_format = None  # the default layout, now that the total is known
                bar.unit = unit
                bar.unit_scale = _scaled(total)
                bar.reset(total=total)
            bar.update(done - bar.n)

        try:
            yield report
        finally:
            self.ticker.discard(bar)
            bar.close()
            with self.lock:
                self.lines.discard(line)

    def close(self) -> None:
        if self.ticker is not None:
            self.ticker.close()

    def __enter__(self) -> FitBars:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
