"""The leaderboard folder: where result files live, which ones share a table, and reading them.

    <root>/<suite>/<task>/results/*.json   submitted results (one run each)

Only results of the same suite specification are comparable. The key is the hash of the
suite's canonical form and data version (`hbench.suites.Suite.spec_hash`) *without its seed
list and task* (each task has tables of its own): the data of a seed does not depend on which
other seeds ran, so a 3-seed run and a 1-seed run of one preset answer the same questions and
share a table, the seed count shown. Any other difference (P, depth, levels) puts a result in
a table of its own, whose heading names the fields that differ from the preset.

A verified result (a re-run by ``hbench verify``, signed) must carry a valid signature from a
key under ``<root>/keys/`` (`hbench.leaderboard.signing`): a verified file edited by hand makes
the whole tree invalid, so CI fails on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbench.errors import UsageError
from hbench.leaderboard.comparison import comparison_hash
from hbench.results import RunResult
from hbench.results.validate import recorded_suite, validate_file
from hbench.suites import Suite

DEFAULT_ROOT = "leaderboards"
RESULTS = "results"


@dataclass(frozen=True)
class Entry:
    """One valid result file of the tree."""

    path: Path  # relative to the root, with forward slashes when rendered
    result: RunResult
    suite: Suite
    #: the trusted key whose signature the file carries (a verified re-run); None: self-reported
    verified: str | None = None
    #: `hbench.leaderboard.signing.content_hash` of the file
    sha256: str = ""
    #: for a verified re-run, the content hash of the claim it verified
    claimed: str | None = None

    @property
    def key(self) -> str:
        return comparison_hash(self.suite)


def inside(path: Path, root: Path) -> bool:
    """Whether ``path`` (links resolved) lies under ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def require_root(root: str | Path, option: str = "--root") -> Path:
    """``root`` as a path if it is a folder; else a `UsageError` saying where boards live."""
    root = Path(root)
    if not root.is_dir():
        shown = str(root) if root.is_absolute() else f"./{root.as_posix()}"
        raise UsageError(
            f"no leaderboards folder at {shown}: run inside an hbench checkout (its"
            f" leaderboards/ folder) or pass {option}"
        )
    return root


def check_placement(path: Path, result: RunResult, root: Path) -> None:
    """A `UsageError` unless ``path`` is ``<root>/<suite>/<task>/results/<file>.json`` for
    the suite and task the result records, and (links resolved) inside the root."""
    where = f"result file {str(path)!r}"
    if not inside(path, root):
        raise UsageError(f"{where} is outside the leaderboard root {str(root)!r}")
    relative = path.relative_to(root) if path.is_relative_to(root) else None
    spec = result.spec
    expected = Path(spec.suite_name) / spec.task / RESULTS / path.name
    if relative != expected:
        raise UsageError(
            f"{where} records suite {spec.suite_name!r} and task {spec.task!r}, so it belongs"
            f" in {str(root / expected.parent)!r}"
        )


def result_files(root: str | Path) -> list[Path]:
    """Every ``*.json`` under ``<root>/<suite>/<task>/results/``, sorted."""
    return sorted(require_root(root).glob(f"*/*/{RESULTS}/*.json"))


def shown(entries: list[Entry]) -> list[Entry]:
    """The entries a board shows: a claim that a verified entry re-ran is replaced by it."""
    claims = {e.claimed for e in entries if e.verified is not None}
    return [e for e in entries if e.sha256 not in claims]


def _raw(path: Path) -> dict[str, Any]:
    """The file's JSON as written (what a signature covers), already known to parse."""
    return json.loads(path.read_text(encoding="utf-8"))


def load_tree(root: str | Path) -> dict[tuple[str, str], list[Entry]]:
    """Every result of the tree by (suite, task), each validated and in its right place.

    Any invalid file is an error naming it (all of them, one per line), so a table is never
    built from a subset of the submissions. Besides `validate_file`, a file must be of a
    leaderboard suite and its model's privilege must be what the installed plugin registers
    (`hbench.leaderboard.rules.tree_problems`). Folders without results give an empty list.
    """
    from hbench.leaderboard import signing
    from hbench.leaderboard.rules import tree_problems

    root = require_root(root)
    keys = signing.trusted_keys(root)
    tree: dict[tuple[str, str], list[Entry]] = {}
    for folder in sorted(root.glob(f"*/*/{RESULTS}")):
        if folder.is_dir():
            tree[(folder.parent.parent.name, folder.parent.name)] = []
    errors = []
    for path in result_files(root):
        try:
            if not inside(path, root):
                raise UsageError(
                    f"result file {str(path)!r} is a link to {str(path.resolve())!r}, outside"
                    f" the leaderboard root {str(root)!r}"
                )
            result = validate_file(path)
            check_placement(path, result, root)
            found = tree_problems(result)
            if found:
                raise UsageError(f"result file {str(path)!r} is invalid: {'; '.join(found)}")
            data = _raw(path)
            problem = signing.signature_problem(data, keys)
            if problem is not None:
                raise UsageError(f"verified result file {str(path)!r} is invalid: {problem}")
        except UsageError as exc:
            errors.append(str(exc))
            continue
        block = signing.verification(data)
        entry = Entry(
            path.relative_to(root),
            result,
            recorded_suite(result),
            verified=signing.signed_by(data, keys),
            sha256=signing.content_hash(data),
            claimed=str(block.get("claimed_sha256")) if block else None,
        )
        tree[(result.spec.suite_name, result.spec.task)].append(entry)
    if len(errors) == 1:
        raise UsageError(errors[0])
    if errors:
        listing = "\n  ".join(errors)
        raise UsageError(f"{len(errors)} invalid file(s) in the leaderboard:\n  {listing}")
    return tree
