"""``hbench reproduce``: run the paper's experiments and write the report of its claims."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable

from hbench.cli.options import examples


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``reproduce``; return its handler."""
    p = sub.add_parser(
        "reproduce",
        parents=[common],
        help="run the paper's experiments and write REPORT.md and report.html (resumable)",
    )
    # Checked by hand, not by argparse's choices, so a bad value is one line (exit 2).
    p.add_argument(
        "--scale",
        default="smoke",
        help="smoke (about a minute: checks the machinery), cpu (at most 90 min on 2 cores),"
        " paper (the paper's sizes, for a GPU); default %(default)s",
    )
    p.add_argument("--out", help="the reproduction folder (default reproductions/<scale>)")
    p.add_argument(
        "--device", default="auto", help="auto, cpu or cuda: where models train (default auto)"
    )
    p.add_argument(
        "--jobs", help="fits (and sweep cells) at once (default: the cores this may use)"
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: judge the claims on what the folder holds and write the report",
    )
    p.add_argument(
        "--executor",
        default="local",
        help="local: this machine; dask: the fits and sweep cells spread over a Dask cluster"
        " (default %(default)s)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --executor dask: a running scheduler, e.g. tcp://HOST:8786 (default: a"
        " LocalCluster of --jobs workers)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan, its fits and an estimate of their compute; run and write nothing",
    )
    p.add_argument("--json", action="store_true", help="with --dry-run: the plan as JSON")
    examples(
        p,
        [
            "hbench reproduce --scale cpu --jobs 2             # reproductions/cpu, resumable",
            "hbench reproduce --scale paper --dry-run          # the plan and its GPU hours",
            "hbench reproduce --scale paper --device cuda --executor dask"
            " --scheduler tcp://HOST:8786",
        ],
    )
    return {"reproduce": cmd_reproduce}


def _jobs(text: str | None) -> int | None:
    from hbench.errors import invalid

    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise invalid("--jobs", text, "an integer >= 1")
    return value


def cmd_reproduce(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hbench.reproduce import make_plan, report_only, reproduce
    from hbench.results.files import output_folder

    # A redrawn report names the command that computes its evidence: the same, without
    # --report-only (which only reads the folder), however argparse let it be abbreviated.
    argv = [a for a in sys.argv[1:] if not (a.startswith("--r") and "--report-only".startswith(a))]
    command = "hbench " + " ".join(shlex.quote(a) for a in argv) if sys.argv else ""
    jobs = _jobs(args.jobs)
    log = (lambda text: None) if getattr(args, "quiet", False) else None
    if args.dry_run or args.json:
        return _dry_run(args)
    if args.report_only:
        plan = make_plan(args.scale)
        given = Path(args.out) if args.out else Path("reproductions") / args.scale
        if not given.is_dir():  # nothing to judge: a typo, not an empty reproduction
            from hbench.errors import invalid

            what = "a file" if given.exists() else "missing"
            raise invalid(
                "--out", str(given), f"with --report-only, an existing reproduction folder ({what})"
            )
        folder = output_folder(given, "--out")
        written = report_only(plan, folder, command)
    else:
        written = reproduce(
            args.scale,
            args.out,
            device=args.device,
            jobs=jobs,
            log=log,
            command=command,
            executor=args.executor,
            scheduler=args.scheduler,
        )
    for path in written:
        print(f"wrote {path}")
    return 0


def _dry_run(args: argparse.Namespace) -> int:
    """The plan, its fits and their estimated compute; nothing is run, read or written."""
    import json
    from pathlib import Path

    from hbench.errors import invalid
    from hbench.reproduce import make_plan
    from hbench.reproduce.runner import Runner, format_outline
    from hbench.run.devices import DEVICES

    if not args.dry_run:
        raise invalid("--json", True, "only with --dry-run")
    if args.report_only:
        raise invalid("--dry-run", True, "not with --report-only")
    plan = make_plan(args.scale)
    if args.device not in DEVICES:
        raise invalid("--device", args.device, f"one of {', '.join(DEVICES)}")
    out = Path(args.out) if args.out else Path("reproductions") / args.scale
    outline = Runner(plan, out, device=args.device).outline()
    print(json.dumps(outline, indent=2) if args.json else format_outline(outline))
    return 0
