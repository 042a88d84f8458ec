"""``hbench leaderboard build|show|check``, ``hbench validate`` and ``hbench submit``.

The commands of a leaderboard's life: check a result file, file it into the tree, render the
tables, print them, and (in CI) verify that every file is valid and every table current.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from hbench.errors import UsageError

ROOT_HELP = "leaderboard folder (default: %(default)s)"


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``leaderboard``, ``validate`` and ``submit``; return their handlers."""
    from hbench.leaderboard.build import DEFAULT_ROOT

    p = sub.add_parser("leaderboard", help="render, print or check the leaderboard tables")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser(
        "build", parents=[common], help="render every table from the result files"
    )
    a.add_argument("--root", default=DEFAULT_ROOT, help=ROOT_HELP)
    a = actions.add_parser("show", parents=[common], help="print tables in the terminal")
    a.add_argument("--root", default=DEFAULT_ROOT, help=ROOT_HELP)
    a.add_argument("--suite", help="only this suite")
    a.add_argument("--task", help="only this task")
    a = actions.add_parser(
        "check", parents=[common], help="every result valid and every table up to date (CI)"
    )
    a.add_argument("--root", default=DEFAULT_ROOT, help=ROOT_HELP)

    p = sub.add_parser(
        "validate", parents=[common], help="check result files: schema, suite hash, consistency"
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="result .json files")
    p.add_argument(
        "--root", help="also check that each file is in its right place in this leaderboard"
    )

    p = sub.add_parser(
        "submit", parents=[common], help="validate a result, file it in the leaderboard, rebuild"
    )
    p.add_argument("file", metavar="RESULT.json", help="a result file from `hbench run`")
    p.add_argument("--root", default=DEFAULT_ROOT, help=ROOT_HELP)
    return {"leaderboard": cmd_leaderboard, "validate": cmd_validate, "submit": cmd_submit}


def cmd_leaderboard(args: argparse.Namespace) -> int:
    return {"build": _build, "show": _show, "check": _check}[args.action](args)


def _build(args: argparse.Namespace) -> int:
    from hbench.leaderboard.build import build

    written = build(args.root)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} file(s) changed under {args.root}" if written else "up to date")
    return 0


def _show(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from hbench.leaderboard.build import cells, headers, load_tree, tables

    tree = load_tree(args.root)
    for flag, index in (("suite", 0), ("task", 1)):
        wanted = getattr(args, flag)
        known = sorted({key[index] for key in tree})
        if wanted is not None and wanted not in known:
            raise UsageError(
                f"--{flag}={wanted!r} is invalid: leaderboards under {args.root!r} exist for"
                f" {', '.join(known) or 'nothing yet'}"
            )
    shown = 0
    for (suite, task), entries in sorted(tree.items()):
        if args.suite not in (None, suite) or args.task not in (None, task):
            continue
        for table in tables(suite, task, entries):
            print(f"{table.title} ({table.note})")
            print(tabulate(cells(table), headers=headers(table), disable_numparse=True))
            print()
            shown += 1
    if not shown:
        print("no results yet")
    return 0


def _check(args: argparse.Namespace) -> int:
    from hbench.leaderboard.build import result_files, stale

    outdated = stale(args.root)  # validates every file first
    if outdated:
        names = ", ".join(str(p) for p in outdated)
        raise UsageError(
            f"tables out of date with the results: {names}; run `hbench leaderboard build"
            f" --root {args.root}` and commit the outputs"
        )
    print(f"{len(result_files(Path(args.root)))} result file(s) valid; every table up to date")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from hbench.leaderboard.build import check_placement
    from hbench.results.validate import validate_file

    invalid = 0
    for name in args.files:
        try:
            result = validate_file(name)
            if args.root is not None:
                check_placement(Path(name), result, Path(args.root))
        except UsageError as exc:
            invalid += 1
            print(f"error: {exc}")
            continue
        spec = result.spec
        print(
            f"ok: {name}: {spec.model} on {spec.suite_name}/{spec.task}, {len(spec.seeds)}"
            f" seed(s), suite hash {spec.suite_hash}"
        )
    if invalid:
        print(f"hbench: error: {invalid} of {len(args.files)} file(s) invalid", file=sys.stderr)
        return 2
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from hbench.leaderboard.submission import submit

    target, written = submit(args.file, args.root)
    print(f"filed {args.file} as {target}")
    for path in written:
        print(f"wrote {path}")
    return 0
