"""``hbench leaderboard build|show|check|compare``, ``hbench validate`` and ``hbench submit``.

The commands of a leaderboard's life: check a result file, file it into the tree, render the
site, print the tables, compare two results, and (in CI) verify that every file is valid and
every output current. Text from result files is escaped before it reaches the terminal.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hbench.errors import UsageError

ROOT_HELP = "leaderboard folder (default: %(default)s)"


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``leaderboard``, ``validate`` and ``submit``; return their handlers."""
    from hbench.cli.options import examples
    from hbench.leaderboard.tree import DEFAULT_ROOT

    p = sub.add_parser("leaderboard", help="render, print, check or compare leaderboard rows")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser(
        "build", parents=[common], help="render the site and tables from the result files"
    )
    a.add_argument("--root", default=DEFAULT_ROOT, help=ROOT_HELP)
    a = actions.add_parser("show", parents=[common], help="print tables in the terminal")
    a.add_argument("--root", default=DEFAULT_ROOT, help=ROOT_HELP)
    a.add_argument("--suite", help="only this suite")
    a.add_argument("--task", help="only this task")
    a.add_argument("--json", action="store_true", help="the rows as JSON")
    a = actions.add_parser(
        "check",
        parents=[common],
        help="every result valid, every signature good, every output up to date (CI)",
    )
    a.add_argument("--root", default=DEFAULT_ROOT, help=ROOT_HELP)
    a = actions.add_parser(
        "compare",
        parents=[common],
        help="paired per-level differences of two results, with 95%% confidence intervals",
        # the help text is %-formatted in the list of actions, a description is not
        description="Paired per-level differences of two results, with 95% confidence intervals.",
    )
    a.add_argument("a", metavar="A", help="a result file, or a model's name on a board")
    a.add_argument("b", metavar="B", help="a result file, or a model's name on a board")
    a.add_argument("--root", default=DEFAULT_ROOT, help=ROOT_HELP)
    a.add_argument("--suite", help="the board of model names (default: the one holding both)")
    a.add_argument("--task", help="the board of model names (default: the one holding both)")
    a.add_argument("--json", action="store_true", help="the comparison as JSON")
    examples(
        a,
        [
            "hbench leaderboard compare naive-bayes prior --task root   # two rows of a board",
            "hbench leaderboard compare results/a.json results/b.json --json",
        ],
    )

    p = sub.add_parser(
        "validate", parents=[common], help="check result files: schema, suite hash, consistency"
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="result .json files")
    p.add_argument(
        "--root", help="also check that each file is in its right place in this leaderboard"
    )
    p.add_argument(
        "--leaderboard",
        action="store_true",
        help="also run every check `hbench submit` runs (leaderboard suite, seeds, isolation)",
    )
    p.add_argument("--json", action="store_true", help="one JSON record per file")
    examples(
        p,
        [
            "hbench validate results/*.json",
            "hbench validate --leaderboard results/run.json   # every check submit makes",
            "hbench validate results/run.json --root leaderboards --json",
        ],
    )

    p = sub.add_parser(
        "submit", parents=[common], help="validate a result, file it in the leaderboard, rebuild"
    )
    p.add_argument("file", metavar="RESULT.json", help="a result file from `hbench run`")
    p.add_argument("--root", default=DEFAULT_ROOT, help=ROOT_HELP)
    p.add_argument("--dry-run", action="store_true", help="run every check, file and write nothing")
    examples(
        p,
        [
            "hbench submit --dry-run results/<file>.json   # the checks alone",
            "hbench submit results/<file>.json",
            "hbench submit results/<file>.json --root my-leaderboards",
        ],
    )
    return {"leaderboard": cmd_leaderboard, "validate": cmd_validate, "submit": cmd_submit}


def cmd_leaderboard(args: argparse.Namespace) -> int:
    return {"build": _build, "show": _show, "check": _check, "compare": _compare}[args.action](args)


def _build(args: argparse.Namespace) -> int:
    from hbench.leaderboard.build import build

    written = build(args.root)
    for path in written:
        print(f"wrote {path}")
    print(f"{len(written)} file(s) changed under {args.root}" if written else "up to date")
    return 0


def _plain(value: Any) -> Any:
    """A row value for JSON output: NaN is null, tuple keys are text."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {
            ",".join(map(str, k)) if isinstance(k, tuple) else str(k): _plain(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _show(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from hbench.leaderboard.tables import cells, headers, tables
    from hbench.leaderboard.text import terminal
    from hbench.leaderboard.tree import load_tree

    tree = load_tree(args.root)
    for flag, index in (("suite", 0), ("task", 1)):
        wanted = getattr(args, flag)
        known = sorted({key[index] for key in tree})
        if wanted is not None and wanted not in known:
            raise UsageError(
                f"--{flag}={wanted!r} is invalid: leaderboards under {args.root!r} exist for"
                f" {', '.join(known) or 'nothing yet'}"
            )
    shown: list[dict[str, Any]] = []
    for (suite, task), entries in sorted(tree.items()):
        if args.suite not in (None, suite) or args.task not in (None, task):
            continue
        for table in tables(suite, task, entries):
            if args.json:
                rows = [
                    {**_plain(row), "rank": label}
                    for label, row in zip(table.labels, table.rows, strict=True)
                ]
                shown.append(
                    {
                        "suite": suite,
                        "task": task,
                        "key": table.key,
                        "title": table.title,
                        "note": table.note,
                        "rows": rows,
                    }
                )
                continue
            print(terminal(f"{table.title} ({table.note})"))
            safe = [[terminal(text) for text in row] for row in cells(table)]
            print(tabulate(safe, headers=headers(table), disable_numparse=True))
            print()
            shown.append({})
    if args.json:
        print(json.dumps(shown, indent=1, sort_keys=True))
    elif not shown:
        print("no results yet")
    return 0


def _check(args: argparse.Namespace) -> int:
    from hbench.leaderboard.build import stale
    from hbench.leaderboard.tree import load_tree, result_files

    outdated = stale(args.root)  # validates every file and every signature first
    if outdated:
        names = ", ".join(str(p) for p in outdated)
        raise UsageError(
            f"outputs out of date with the results: {names}; run `hbench leaderboard build"
            f" --root {args.root}` and commit them"
        )
    tree = load_tree(args.root)
    verified = sum(e.verified is not None for rows in tree.values() for e in rows)
    print(test_se_report(tree))
    print(
        f"{len(result_files(args.root))} result file(s) valid, {verified} verified with a valid"
        " signature from a key under keys/; every output up to date"
    )
    return 0


def test_se_report(tree: Mapping[tuple[str, str], list[Any]]) -> str:
    """Per official row, the test-set standard error of normalised accuracy (or of the headline
    its task declares, `rules.declared_headline`) of the row's per-level numbers at its worst
    level (`hbench.leaderboard.rules.row_test_se`, the rule that
    keeps a row unranked above `MAX_TEST_SE`), and the largest single cell's
    (`largest_test_se`: recorded, or for files without per-query data the covariance-free
    bound, which overstates it for a model close to BP)."""
    from tabulate import tabulate

    from hbench.leaderboard.rules import (
        MAX_TEST_SE,
        TEST_SET_TOO_SMALL,
        largest_test_se,
        official,
        row_test_se,
        standing,
    )
    from hbench.leaderboard.text import terminal

    rows, over, held = [], 0, 0
    for (suite, task), entries in sorted(tree.items()):
        for entry in sorted(entries, key=lambda e: e.path.as_posix()):
            if not official(entry.result):
                continue
            row = row_test_se(entry.result)
            cell = largest_test_se(entry.result)
            se = "-" if row is None else f"{row[0]:.5f} (k={row[1]})"
            if row is not None and row[0] > MAX_TEST_SE:
                over += 1
                se += f" > {MAX_TEST_SE}"
            # the row's reason as the board gives it (a reference or a 3-seed row has another)
            if standing(entry.result, entry.verified is not None) == TEST_SET_TOO_SMALL:
                held += 1
                se += f" ({TEST_SET_TOO_SMALL}: unranked)"
            largest = "-" if cell is None else f"{cell[0]:.5f} (seed {cell[1]}, k={cell[2]})"
            kind = "verified" if entry.verified is not None else "self-reported"
            rows.append(
                [f"{suite}/{task}", entry.result.spec.model, entry.path.name, kind, se, largest]
            )
    table = tabulate(
        [[terminal(text) for text in row] for row in rows],
        headers=["board", "model", "file", "kind", "row's test-set se", "largest cell"],
        disable_numparse=True,
    )
    return (
        f"{table}\n{len(rows)} official row(s); the row's per-level test-set standard error of"
        f" normalised accuracy, or of the task's declared headline (its mean over seeds), above"
        f" {MAX_TEST_SE} in {over}, unranked for it: {held}"
    )


def _compare(args: argparse.Namespace) -> int:
    from hbench.leaderboard.compare import compare, render_comparison, resolve

    a, b = resolve(args.a, args.b, root=args.root, suite=args.suite, task=args.task)
    comparison = compare(a, b)
    if args.json:
        print(json.dumps(_plain(comparison.to_json()), indent=1, sort_keys=True))
    else:
        print(render_comparison(comparison))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from hbench.leaderboard.rules import submission_report
    from hbench.leaderboard.text import terminal
    from hbench.leaderboard.tree import check_placement
    from hbench.results.validate import inspect_file

    invalid = 0
    records = []
    for name in args.files:
        report = submission_report(name) if args.leaderboard else inspect_file(name)
        if report.ok and args.root is not None:
            try:
                check_placement(Path(name), report.result, Path(args.root))
            except UsageError as exc:
                report.problems.append(str(exc))
        invalid += not report.ok
        spec = report.result.spec if report.result is not None else None
        if args.json:
            records.append(
                {
                    "file": name,
                    "ok": report.ok,
                    "problems": report.problems,
                    "notes": report.notes,
                    "model": spec.model if spec else None,
                    "suite": spec.suite_name if spec else None,
                    "task": spec.task if spec else None,
                    "seeds": spec.seeds if spec else None,
                    "suite_hash": spec.suite_hash if spec else None,
                }
            )
            continue
        for note in report.notes:
            print(terminal(f"note: {note}"))
        if not report.ok:
            message = report.problems[0] if report.result is None else str(report.error())
            print(terminal(f"error: {message}"))
            continue
        print(
            terminal(
                f"ok: {name}: {spec.model} on {spec.suite_name}/{spec.task}, {len(spec.seeds)}"
                f" seed(s), suite hash {spec.suite_hash}"
            )
        )
    if args.json:
        print(json.dumps(records, indent=1))
    if invalid:
        print(f"hbench: error: {invalid} of {len(args.files)} file(s) invalid", file=sys.stderr)
        return 2
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from hbench.leaderboard.submission import submit
    from hbench.leaderboard.text import terminal

    target, written = submit(args.file, args.root, dry_run=args.dry_run)
    if args.dry_run:
        print(terminal(f"ok: {args.file} passes every check; it would be filed as {target}"))
        return 0
    print(terminal(f"filed {args.file} as {target}"))
    for path in written:
        print(f"wrote {path}")
    return 0
