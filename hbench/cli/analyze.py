"""``hbench analyze NAME ...``: one subcommand per module of :mod:`hbench.analysis`."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

#: analysis name -> module (``HELP``, ``add_arguments(parser)``, ``run(args) -> int``).
ANALYSES: dict[str, str] = {
    "attention": "hbench.analysis.attention",
    "probe": "hbench.analysis.probe",
    "mismatch": "hbench.analysis.mismatch",
    "all": "hbench.analysis.all",
}
ANALYSES["sample-complexity"] = "hbench.analysis.sample_complexity"


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``analyze`` with one subcommand per registered analysis."""
    parser = sub.add_parser(
        "analyze", parents=[common], help="analyses of finished runs (figures, tables, JSON)"
    )
    analyses = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    for name, module_name in ANALYSES.items():
        module = importlib.import_module(module_name)
        p = analyses.add_parser(name, parents=[common], help=module.HELP)
        module.add_arguments(p)
        p.set_defaults(analysis_run=module.run)
    return {"analyze": cmd_analyze}


def cmd_analyze(args: argparse.Namespace) -> int:
    return args.analysis_run(args)
