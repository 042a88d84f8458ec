"""Filing a result into a leaderboard folder: check, place, rebuild, or change nothing.

A submission must pass every check of `hbench.leaderboard.rules.submission_report` (the same
checks ``hbench submit --dry-run`` and ``hbench validate --leaderboard`` run). It is written
under a name derived from its content, so the same result submitted twice is recognised, and
the outputs are rebuilt at once, under the folder's lock; if the rebuild fails, the new file
is removed again and the folder is as it was.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hbench.errors import UsageError
from hbench.io import write_json
from hbench.leaderboard.build import write_outputs
from hbench.leaderboard.lock import board_lock
from hbench.leaderboard.rules import submission_report
from hbench.leaderboard.tree import RESULTS, inside, require_root
from hbench.results import RunResult
from hbench.results.files import name_part
from hbench.results.schema import parse_created


def submission_name(result: RunResult) -> str:
    """``<created>_<model>_<8 hex of the content>.json``: equal results, equal names."""
    data = json.dumps(result.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(data.encode()).hexdigest()[:8]
    when = parse_created(result.created).strftime("%Y%m%dT%H%M%SZ")
    return f"{when}_{name_part(result.spec.model)}_{digest}.json"


def destination(path: str | Path, result: RunResult, root: Path) -> Path:
    """Where ``result`` (already checked) goes in the folder at ``root``."""
    spec = result.spec
    target = root / spec.suite_name / spec.task / RESULTS / submission_name(result)
    if not inside(target, root):
        raise UsageError(
            f"result file {str(path)!r} would be filed at {str(target)!r}, outside {str(root)!r}"
        )
    return target


def check_submission(path: str | Path) -> RunResult:
    """The result at ``path`` if a leaderboard would take it; else a `UsageError` naming the
    file and every reason (the first few, then a count)."""
    report = submission_report(path)
    if report.result is None:
        raise UsageError(report.problems[0])
    if report.problems:
        raise report.error()
    return report.result


def _not_filed_yet(path: str | Path, target: Path) -> None:
    if target.exists():
        raise UsageError(
            f"result file {str(path)!r} is already in the leaderboard as {str(target)!r}"
        )


def submit(path: str | Path, root: str | Path, *, dry_run: bool = False) -> tuple[Path, list[Path]]:
    """File the result at ``path`` into the folder at ``root`` and rebuild its outputs.

    Returns (the filed result's path, the outputs that changed). Any problem is a
    `UsageError` naming the file, raised before anything in the folder has changed. With
    ``dry_run`` every check runs and nothing is written (the outputs list is empty).
    """
    root = require_root(root)
    result = check_submission(path)
    target = destination(path, result, root)
    if dry_run:  # touches nothing, not even the lock file
        _not_filed_yet(path, target)
        return target, []
    with board_lock(root):
        _not_filed_yet(path, target)
        write_json(target, result.model_dump(mode="json"), field="--root")
        try:
            written = write_outputs(root)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    return target, written
