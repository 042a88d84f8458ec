"""What ``hbench`` says on stderr while it works, through Python's `logging`.

hbench's modules log to loggers under ``hbench`` and never configure logging themselves (a
program that imports hbench decides what it shows); the command line configures them here from
its global flags:

- default: warnings, and the step lines of a long command: one line per finished fit or sweep
  cell where stderr is no terminal (a cluster job's log; on a terminal the progress bars say
  it), and each step of ``hbench reproduce``;
- ``-v``: everything at INFO, the step lines also on a terminal;
- ``-vv``: DEBUG as well;
- ``-q``: warnings only, and no progress bars.

A line is written with ``tqdm.write`` while a progress bar is drawn, so that it does not tear
the bar.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["REPRODUCE", "STEPS", "configure_logging"]

#: One line per step of a long command (a fit, a sweep cell) where no progress bar shows it.
STEPS = "hbench.steps"
#: Each step of ``hbench reproduce`` (shown by default, also on a terminal).
REPRODUCE = "hbench.reproduce"


class _StderrHandler(logging.Handler):
    """Writes to the ``sys.stderr`` of the moment (a test's capture, a redirected stream),
    above any progress bar that is drawn."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            tqdm = sys.modules.get("tqdm")
            if tqdm is not None and getattr(tqdm.tqdm, "_instances", None):
                tqdm.tqdm.write(text, file=sys.stderr)
            else:
                sys.stderr.write(text + "\n")
                sys.stderr.flush()
        except Exception:
            self.handleError(record)


class _Formatter(logging.Formatter):
    """``hbench: message`` (``hbench reproduce: message`` for reproduce's steps); with
    ``-vv`` also the level and the logger's name."""

    def __init__(self, detailed: bool) -> None:
        super().__init__()
        self.detailed = detailed

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and self.detailed:
            message += "\n" + self.formatException(record.exc_info)
        if self.detailed:
            return f"hbench: {record.levelname.lower()} [{record.name}] {message}"
        prefix = "hbench reproduce" if record.name.startswith(REPRODUCE) else "hbench"
        return f"{prefix}: {message}"


def configure_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Set the ``hbench`` loggers' levels and their one handler from ``-v`` (a count) and
    ``-q``; called again (a second command in one process), it replaces what it set."""
    import hbench.progress

    hbench.progress.QUIET = quiet
    root = logging.getLogger("hbench")
    for handler in list(root.handlers):
        if isinstance(handler, _StderrHandler):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_Formatter(detailed=verbose >= 2 and not quiet))
    root.addHandler(handler)
    root.propagate = False  # the command line owns stderr: no second copy through the root
    steps, reproduce = logging.getLogger(STEPS), logging.getLogger(REPRODUCE)
    if quiet:
        root.setLevel(logging.WARNING)
        steps.setLevel(logging.NOTSET)
        reproduce.setLevel(logging.NOTSET)
    elif verbose:
        root.setLevel(logging.DEBUG if verbose >= 2 else logging.INFO)
        steps.setLevel(logging.NOTSET)
        reproduce.setLevel(logging.NOTSET)
    else:
        root.setLevel(logging.WARNING)
        steps.setLevel(logging.WARNING if sys.stderr.isatty() else logging.INFO)
        reproduce.setLevel(logging.INFO)
