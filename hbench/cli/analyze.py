"""``hbench analyze NAME SOURCE ...``: one subcommand per registered analysis.

Every analysis a plugin registers (``hbench_register_analyses``; the built-in ones too) gets a
subcommand whose flags are its options, one ``--option-name`` per field of its options class,
with the field's description as help. The handler validates them, calls the same function
Python code calls (`hbench.analysis.report.analyze`), writes the report's files and prints
them.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Callable
from typing import Any, Literal

from hbench.cli.options import examples

#: The examples of ``hbench analyze --help``.
EXAMPLES = [
    "hbench analyze all results/<run>.json     # attention, probe and mismatch",
    "hbench analyze calibration results/<run>.json --sequences 2048",
    "hbench analyze sample-complexity results/sweeps/cpu-sample-complexity",
]

#: The positional argument of each kind of source.
SOURCES = {
    "run": ("result", "RESULT", "a result file written by `hbench run`"),
    "folder": ("sweep_dir", "SWEEP_DIR", "a sweep's output folder (or any results folder)"),
}


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``analyze`` with one subcommand per registered analysis."""
    from hbench.analysis.report import analyses

    parser = sub.add_parser(
        "analyze", parents=[common], help="analyses of finished runs (figures, tables, JSON)"
    )
    examples(parser, EXAMPLES)
    choices = parser.add_subparsers(dest="analysis", metavar="ANALYSIS", required=True)
    for analysis in analyses():
        p = choices.add_parser(
            analysis.name, parents=[common], help=analysis.entry.description or None
        )
        add_analysis_arguments(p, analysis.source_kind, analysis.options_class)
        if analysis.examples:
            examples(p, analysis.examples)
    return {"analyze": cmd_analyze}


def add_analysis_arguments(
    parser: argparse.ArgumentParser, source: str, options: type[Any]
) -> None:
    """SOURCE, ``--out``, ``--json`` and one flag per option of the options class."""
    dest, metavar, help_text = SOURCES.get(source, SOURCES["run"])
    parser.add_argument(dest, metavar=metavar, help=help_text)
    out_help = (
        "folder for the JSON and figure files (default: the result's folder)"
        if source != "folder"
        else "the PNG to write (default: in SWEEP_DIR); its JSON is written beside it"
    )
    parser.add_argument("--out", help=out_help)
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report's path, the files written and the numbers as JSON",
    )
    for name, info in options.model_fields.items():
        flag = "--" + name.replace("_", "-")
        described = info.description or name
        kind, choices = _flag_type(info.annotation)
        if kind is bool:
            parser.add_argument(flag, dest=name, action="store_true", default=None, help=described)
            continue
        default = info.get_default(call_default_factory=True)
        shown = f" (default {default})" if default is not None else ""
        parser.add_argument(
            flag,
            dest=name,
            type=kind,
            choices=choices,
            default=None,
            metavar=None if choices else name.upper(),
            help=described + shown,
        )


def _flag_type(annotation: Any) -> tuple[Callable[[str], Any], list[Any] | None]:
    """The argparse type and choices of an option's annotation (``int | None`` is int)."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [arg for arg in args if arg is not type(None)]
        return _flag_type(kinds[0]) if len(kinds) == 1 else (str, None)
    if typing.get_origin(annotation) is Literal:
        return type(args[0]), list(args)
    if annotation in (bool, int, float, str):
        return annotation, None
    return str, None


def cmd_analyze(args: argparse.Namespace) -> int:
    """Validate the options, run the analysis, write its files and print them."""
    from hbench.analysis.report import get_analysis

    analysis = get_analysis(args.analysis)
    fields = analysis.options_class.model_fields
    given = {name: getattr(args, name) for name in fields if getattr(args, name, None) is not None}
    spelled = {name: f"--{name.replace('_', '-')}={value}" for name, value in given.items()}
    options = analysis.options(
        given, spelled=spelled, suggest=lambda name: f"--{name.replace('_', '-')}"
    )
    source = getattr(args, "result", None) or getattr(args, "sweep_dir", None)
    report = analysis(source, options)
    files = report.write(args.out)
    report.show(files, as_json=bool(getattr(args, "json", False)))
    return 0
