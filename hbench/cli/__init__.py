"""The ``hbench`` command line: `app` builds the parser and runs a command; each other module
adds one command group (its parsers, handlers and examples).

Nothing is imported here until a function is called, so that ``hbench`` can catch Ctrl-C while
the command line itself is still being imported.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

__all__ = ["build_parser", "interrupt_behind", "interrupts_not_swallowed", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole ``hbench`` parser (see `hbench.cli.app.build_parser`)."""
    from hbench.cli.app import build_parser

    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hbench argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    try:
        with interrupts_not_swallowed():
            try:
                from hbench.cli.app import main
            except Exception as exc:
                interrupt = interrupt_behind(exc)
                if interrupt is None:
                    raise
                raise interrupt from None
            return main(argv)
    except KeyboardInterrupt:  # Ctrl-C while the command line is being imported
        print("hbench: interrupted", file=sys.stderr)
        return 130


def interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) that caused ``exc``, if one did: Python wraps an interrupt that
    lands in some places into another exception (in a class body's ``__set_name__``:
    "RuntimeError: Error calling __set_name__"), which must still end the command as an
    interrupt, not as a failure with a traceback."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


@contextlib.contextmanager
def interrupts_not_swallowed() -> Iterator[None]:
    """While inside, a Ctrl-C (or SIGTERM) that lands in code Python cannot raise from (a
    weakref callback, a ``__del__``) is delivered again to the main thread instead of being
    printed as "Exception ignored ... KeyboardInterrupt" and lost, so that the command still
    stops, cleans up and exits 130 (143) with its one line."""
    previous = sys.unraisablehook
    pending: list[Any] = []  # the threads delivering an interrupt again

    def redeliver(unraisable: Any) -> None:
        exc_type = unraisable.exc_type
        if exc_type is None or not issubclass(exc_type, KeyboardInterrupt):
            previous(unraisable)
            return
        import _thread
        import signal
        import threading
        import time

        # Terminated (SIGTERM's KeyboardInterrupt) exists only once the command line is imported
        app = sys.modules.get("hbench.cli.app")
        terminated = app is not None and issubclass(exc_type, app.Terminated)
        signum = signal.SIGTERM if terminated else signal.SIGINT

        def later() -> None:
            # Not from inside this hook: the main thread would raise the interrupt right here,
            # where it could again only be reported. Should it land in another such place, it
            # comes back through this hook and is delivered again.
            time.sleep(0.05)
            _thread.interrupt_main(signum)

        thread = threading.Thread(target=later, name="hbench-redeliver-interrupt", daemon=True)
        pending.append(thread)
        thread.start()

    sys.unraisablehook = redeliver
    try:
        yield
    finally:
        sys.unraisablehook = previous
        # an interrupt still on its way arrives here, not after the command has returned
        for thread in pending:
            thread.join()
