"""Filing a result into a leaderboard folder: check, place, rebuild, or change nothing.

A submission must pass every check of `hbench.leaderboard.rules.submission_report` (the same
checks ``hbench submit --dry-run`` and ``hbench validate --leaderboard`` run). It is written
under a name derived from its content, so the same result submitted twice is recognised, and
the outputs are rebuilt at once, under the folder's lock; if the rebuild fails, the new file
is removed again and the folder is as it was.

A result whose numbers equal a filed row's is refused too (`same_numbers`): two official runs
never draw the same grammars, so equal numbers mean the same run filed again, with only its
time stamp, its model's name or its privilege changed.
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


#: The numbers of a cell that identify a run (the test sets and the model's answers).
_NUMBERS = ("seed", "k_train", "k_test", "acc", "acc_bp", "kl_bp", "n_queries")


def numbers(result: RunResult) -> str:
    """Every cell's numbers as one sorted text: equal for the same run whatever else changed."""
    cells = [
        [str(getattr(cell, name)) for name in _NUMBERS]
        for cell in result.metrics  # str(): k_test may be "ood"
    ]
    return json.dumps(sorted(cells))


def same_numbers(path: str | Path, result: RunResult, root: Path) -> None:
    """A `UsageError` if a row filed on the result's board has exactly its numbers."""
    from hbench.results import read_result

    spec = result.spec
    mine = numbers(result)
    folder = root / spec.suite_name / spec.task / RESULTS
    for filed in sorted(folder.glob("*.json")):
        try:
            theirs = numbers(read_result(filed))
        except UsageError:
            continue  # an invalid file is `load_tree`'s to report
        if theirs == mine:
            raise UsageError(
                f"result file {str(path)!r} has exactly the numbers of the filed row"
                f" {str(filed)!r}: the same run is filed once (a re-filed or renamed run)"
            )


def _as_filed(path: str | Path, result: RunResult) -> dict:
    """What is written into the board: a verified (signed) file exactly as it was signed, since
    a signature covers its content as written (not as this version of hbench would write it);
    any other file as hbench writes it (older versions migrated)."""
    from hbench.leaderboard.signing import verification

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data if verification(data) is not None else result.model_dump(mode="json")


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
        same_numbers(path, result, root)
        return target, []
    with board_lock(root):
        _not_filed_yet(path, target)
        same_numbers(path, result, root)
        write_json(target, _as_filed(path, result), field="--root")
        try:
            written = write_outputs(root)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
    return target, written
