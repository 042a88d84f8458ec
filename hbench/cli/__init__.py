"""The ``hbench`` command line: `app` builds the parser and runs a command; each other module
adds one command group (its parsers, handlers and examples).

Nothing is imported here until a function is called, so that ``hbench`` can catch Ctrl-C while
the command line itself is still being imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The whole ``hbench`` parser (see `hbench.cli.app.build_parser`)."""
    from hbench.cli.app import build_parser

    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hbench argv`` (default: ``sys.argv[1:]``) and return its exit code."""
    try:
        from hbench.cli.app import main
    except KeyboardInterrupt:  # Ctrl-C while the command line is being imported
        import sys

        print("hbench: interrupted", file=sys.stderr)
        return 130
    return main(argv)
