"""Which results share a table: the suite's canonical form without its seeds and task.

A leaf module, so that the folder's reader (`tree`) and the submission rules (`rules`) can both
use it without importing each other.
"""

from __future__ import annotations

import hashlib
import json
import re

from hbench.suites import Suite

#: Names of suite and task folders (the registry's item names are lowercase words).
FOLDER_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
#: Suite fields that do not separate tables: seeds are replicates, and each task has its own
#: tables (``--task mlm`` changes the suite's ``task`` field, not the data).
NOT_COMPARED = ("seeds", "task")


def comparison_hash(suite: Suite) -> str:
    """The suite's spec hash without seeds and task: what must be equal to share a table."""
    canonical = suite.canonical()
    for key in NOT_COMPARED:
        canonical.pop(key)
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def differences(suite: Suite, reference: Suite) -> list[str]:
    """``field=value`` for every compared field that differs."""
    mine, theirs = suite.canonical(), reference.canonical()
    return [
        f"{key}={json.dumps(mine.get(key))}"
        for key in sorted(set(mine) | set(theirs))
        if key not in NOT_COMPARED and mine.get(key) != theirs.get(key)
    ]
