"""Progress that tells the truth: integer counts, a bar per running fit, elapsed time redrawn."""

from __future__ import annotations

import io
import threading
import time

import hbench.progress
from hbench.progress import FitBars, progress


class _Terminal(io.StringIO):
    """A terminal for tqdm: it asks isatty(), and writes arrive from several threads."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self.lock:
            return super().write(text)


def _shows(terminal: _Terminal, *texts: str) -> bool:
    """Whether every text appeared within a few redraws (tqdm draws at most every 0.1 s)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if all(t in terminal.getvalue() for t in texts):
            return True
        time.sleep(0.05)
    return False


def _terminal(monkeypatch) -> _Terminal:
    monkeypatch.setattr(hbench.progress, "REDRAW_S", 0.05)
    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr(hbench.progress, "QUIET", False)
    return terminal


def test_counts_are_integers(monkeypatch) -> None:
    terminal = _terminal(monkeypatch)
    with progress(5, "fits", unit="fit") as advance:
        advance(2)
        assert _shows(terminal, "2/5")
    assert "2.00" not in terminal.getvalue() and "5.00" not in terminal.getvalue()


def test_every_running_fit_has_its_bar(monkeypatch) -> None:
    terminal = _terminal(monkeypatch)
    with FitBars() as bars, bars.fit(0, 1) as first, bars.fit(0, 2) as second:
        first(1, 3, "epoch")
        second(2, 3, "epoch")
        assert bars.lines == {1, 2}  # two fits at once: two lines
        assert _shows(terminal, "seed 0 k=1", "seed 0 k=2", "1/3 [", "2/3 [")
    assert bars.lines == set()


def test_a_fit_that_reports_nothing_still_shows_time_passing(monkeypatch) -> None:
    terminal = _terminal(monkeypatch)
    with FitBars() as bars, bars.fit(3, 0):
        assert _shows(terminal, "seed 3 k=0: starting [00:01]")


def test_fit_bars_are_silent_off_a_terminal(monkeypatch, capsys) -> None:
    monkeypatch.setattr(hbench.progress, "QUIET", False)
    with FitBars() as bars, bars.fit(0, 0) as report:
        report(1, 2, "epoch")
    assert capsys.readouterr().err == ""
