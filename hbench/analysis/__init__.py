"""Analyses of finished runs: how a model reaches (or misses) exact inference.

Each analysis is one module here with ``HELP`` (one line for ``hbench analyze --help``),
``add_arguments(parser)`` and ``run(args) -> int``; ``hbench.cli.analyze`` lists them. Modules
import their heavy dependencies (torch, matplotlib) inside ``run``, so the CLI stays fast.
"""
