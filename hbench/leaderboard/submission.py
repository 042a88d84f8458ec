"""Filing a result into a leaderboard tree: validate, place, rebuild, or change nothing.

A submission must be a valid result (`hbench.results.validate`) of a named suite preset, with the
preset's specification (seeds aside: see `hbench.leaderboard.build.comparison_hash`), because a
table compares only like with like. It is written under a name derived from its content, so
the same result submitted twice is recognised, and the tables are rebuilt at once; if the
rebuild fails, the new file is removed again and the tree is as it was.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from hbench.errors import UsageError
from hbench.io import write_json
from hbench.leaderboard.build import (
    FOLDER_NAME,
    RESULTS,
    _inside,
    build,
    comparison_hash,
    differences,
)
from hbench.results import RunResult
from hbench.results.files import name_part
from hbench.results.validate import recorded_suite, validate_file
from hbench.run.suites import SUITES


def submission_name(result: RunResult) -> str:
    """``<created>_<model>_<8 hex of the content>.json``: equal results, equal names."""
    data = json.dumps(result.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(data.encode()).hexdigest()[:8]
    created = result.created
    stamp = datetime.fromisoformat(created[:-1] + "+00:00" if created.endswith("Z") else created)
    when = stamp.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{when}_{name_part(result.spec.model)}_{digest}.json"


def destination(path: str | Path, result: RunResult, root: Path) -> Path:
    """Where ``result`` belongs in the tree, or a `UsageError` saying why it belongs nowhere."""
    where = f"result file {str(path)!r}"
    spec = result.spec
    preset = SUITES.get(spec.suite_name)
    if preset is None:
        raise UsageError(
            f"{where} records suite {spec.suite_name!r}, which is not a preset; leaderboards"
            f" exist for the presets: {', '.join(SUITES)}"
        )
    suite = recorded_suite(result)
    if comparison_hash(suite) != comparison_hash(preset):
        changed = ", ".join(differences(suite, preset)) or "the data version"
        raise UsageError(
            f"{where} is from a different suite specification than the preset"
            f" {spec.suite_name!r} ({changed}): it is not comparable with that leaderboard;"
            f" rerun with `hbench run --suite {spec.suite_name}` and no --set"
        )
    if not FOLDER_NAME.match(spec.task):
        raise UsageError(f"{where} records task {spec.task!r}, which is not a task name")
    target = root / spec.suite_name / spec.task / RESULTS / submission_name(result)
    if not _inside(target, root):
        raise UsageError(f"{where} would be filed at {str(target)!r}, outside {str(root)!r}")
    return target


def submit(path: str | Path, root: str | Path) -> tuple[Path, list[Path]]:
    """File the result at ``path`` into the tree at ``root`` and rebuild its tables.

    Returns (the filed result, the rendered files that changed). Any problem is a
    `UsageError` naming the file, raised before anything in the tree has changed.
    """
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"--root={str(root)!r} is invalid: an existing leaderboard folder")
    result = validate_file(path)
    target = destination(path, result, root)
    if target.exists():
        raise UsageError(
            f"result file {str(path)!r} is already in the leaderboard as {str(target)!r}"
        )
    write_json(target, result.model_dump(mode="json"), field="--root")
    try:
        written = build(root)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, written
