"""Which results share a table: the suite's canonical form without its seeds and task.

A leaf module, so that the folder's reader (`tree`) and the submission rules (`rules`) can both
use it without importing each other.
"""

from __future__ import annotations

import json
import re

from hbench.suites import Suite

#: Names of suite and task folders (the registry's item names are lowercase words).
FOLDER_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
#: Suite fields that do not separate tables: seeds are replicates, and each task has its own
#: tables (``--task mlm`` changes the suite's ``task`` field, not the data).
NOT_COMPARED = ("seeds", "task")


def comparison_hash(suite: Suite, task: str | None = None) -> str:
    """What must be equal to share a table: the suite's one hash (`Suite.spec_hash`, without
    its seeds), for ``task`` where given (a board's own task; a preset's default otherwise)."""
    return (suite if task is None else suite.model_copy(update={"task": task})).spec_hash()


def differences(suite: Suite, reference: Suite) -> list[str]:
    """``field=value`` for every compared field that differs."""
    mine, theirs = suite.canonical(), reference.canonical()
    return [
        f"{key}={json.dumps(mine.get(key))}"
        for key in sorted(set(mine) | set(theirs))
        if key not in NOT_COMPARED and mine.get(key) != theirs.get(key)
    ]
