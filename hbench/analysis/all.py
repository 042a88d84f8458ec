"""``hbench analyze all RESULT``: every analysis of one run, one after the other.

Each part keeps its own options (``--sequences`` for attention, ``--probe-*`` for the probes);
a part that does not apply to the run (a model without attention, a run that kept no models)
prints its one-line reason and the others go on.
"""

from __future__ import annotations

import argparse
import importlib
import json

from hbench.analysis import common

HELP = "attention, probe and mismatch analyses of one run"

#: The analyses ``all`` runs, in order (modules under hbench.analysis).
PARTS = ("attention", "probe", "mismatch")


def _parts():
    return [importlib.import_module(f"hbench.analysis.{name}") for name in PARTS]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common.add_run_arguments(parser)
    common.add_model_arguments(parser)
    for part in _parts():
        part.add_own_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Each part in turn; with ``--json`` one object holding each part's JSON."""
    as_json = getattr(args, "json", False)
    if as_json:
        args.json_parts = []
    codes = []
    for name, part in zip(PARTS, _parts(), strict=True):
        if not as_json:
            print(f"== {name}")
        codes.append(part.run(args))
        if not as_json:
            print()
    if as_json:
        print(json.dumps({"analysis": "all", "parts": args.json_parts}, indent=2))
    return max(codes)
