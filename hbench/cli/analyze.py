"""``hbench analyze NAME ...``: one subcommand per module of :mod:`hbench.analysis`."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from types import ModuleType

from hbench.analysis import all as all_analyses
from hbench.analysis import attention, mismatch, probe, sample_complexity
from hbench.cli.options import examples

#: analysis name -> module (``HELP``, ``add_arguments(parser)``, ``run(args) -> int``).
ANALYSES: dict[str, ModuleType] = {
    "attention": attention,
    "probe": probe,
    "mismatch": mismatch,
    "all": all_analyses,
    "sample-complexity": sample_complexity,
}

#: Each analysis's examples in its ``--help``.
EXAMPLES: dict[str, list[str]] = {
    "attention": [
        "hbench analyze attention results/<run>.json",
        "hbench analyze attention results/<run>.json --sequences 10000 --data-filter 0",
    ],
    "probe": [
        "hbench analyze probe results/<run>.json",
        "hbench analyze probe results/<run>.json --hidden    # 64-ReLU probes",
    ],
    "mismatch": [
        "hbench analyze mismatch results/<run>.json",
        "hbench analyze mismatch results/<run>.json --out reports/",
    ],
    "all": [
        "hbench analyze all results/<run>.json",
        "hbench analyze all results/<run>.json --out reports/ --json",
    ],
    "sample-complexity": [
        "hbench analyze sample-complexity results/sweeps/cpu-sample-complexity",
        "hbench analyze sample-complexity OUT --target 0.9 --json",
    ],
}


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``analyze`` with one subcommand per registered analysis."""
    parser = sub.add_parser(
        "analyze", parents=[common], help="analyses of finished runs (figures, tables, JSON)"
    )
    examples(
        parser,
        [
            "hbench analyze all results/<run>.json     # attention, probe and mismatch",
            "hbench analyze mismatch results/<run>.json",
            "hbench analyze sample-complexity results/sweeps/cpu-sample-complexity",
        ],
    )
    analyses = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    for name, module in ANALYSES.items():
        p = analyses.add_parser(name, parents=[common], help=module.HELP)
        module.add_arguments(p)
        examples(p, EXAMPLES[name])
        p.set_defaults(analysis_run=module.run)
    return {"analyze": cmd_analyze}


def cmd_analyze(args: argparse.Namespace) -> int:
    return args.analysis_run(args)
