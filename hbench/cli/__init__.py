"""The ``hbench`` command line: `app` builds the parser and runs a command; each other module
adds one command group (its parsers, handlers and examples)."""

from hbench.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
