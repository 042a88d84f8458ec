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
    examples(
        p,
        [
            "hbench reproduce --scale smoke --out /tmp/smoke   # about a minute",
            "hbench reproduce --scale cpu --jobs 2             # reproductions/cpu, resumable",
            "hbench reproduce --scale paper --device cuda",
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
    if args.report_only:
        plan = make_plan(args.scale)
        folder = output_folder(args.out or Path("reproductions") / args.scale, "--out")
        written = report_only(plan, folder, command)
    else:
        written = reproduce(
            args.scale, args.out, device=args.device, jobs=jobs, log=log, command=command
        )
    for path in written:
        print(f"wrote {path}")
    return 0
