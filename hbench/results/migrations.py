"""Reading result files written by older hbench versions: one migration per schema version.

A result file is data that outlives the code that wrote it: leaderboards hold files from many
hbench versions. Each entry of `MIGRATIONS` turns a parsed file of one schema version into the
next, so a file of any supported version is read through the chain up to `SCHEMA_VERSION`.
A migration only adds or renames fields and never invents a measurement: what an old version
did not record stays unknown (None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hbench.errors import UsageError

#: The current version; `hbench.results.SCHEMA_VERSION` (kept here to avoid an import cycle).
CURRENT = 3


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """2 adds ``num_parameters`` (unknown for version 1) and writes NaN as null; version 1
    wrote the non-standard constant ``NaN``, which Python's json reader already parses."""
    return {**data, "schema_version": 2, "num_parameters": None}


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """3 records each fit's thread count, a sweep cell's label and official grammar seeds in
    the spec, and where the model ran (every version-2 run ran in the harness's process)."""
    spec = data.get("spec")
    if isinstance(spec, dict):
        spec = {**spec, "threads": None, "label": None, "official": False, "grammar_seeds": None}
    return {**data, "schema_version": 3, "spec": spec, "isolation": "in-process", "audit": []}


#: ``version -> function`` taking a version-``version`` document to version ``version + 1``.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _v1_to_v2, 2: _v2_to_v3}

OLDEST = min(MIGRATIONS)


def migrate(data: dict[str, Any], where: str = "result file") -> dict[str, Any]:
    """``data`` (a parsed result file) brought to the current schema version.

    A missing, unknown or newer version is a `UsageError` naming ``where``; the input dict is
    never modified.
    """
    version = data.get("schema_version")
    supported = f"this hbench reads result schema versions {OLDEST} to {CURRENT}"
    if version is None:
        raise UsageError(f"{where} has no schema_version; {supported}")
    if isinstance(version, bool) or not isinstance(version, int):
        raise UsageError(f"{where} has schema_version {version!r}; {supported}")
    if version > CURRENT:
        raise UsageError(
            f"{where} has schema_version {version}, newer than this hbench; {supported}"
            " (upgrade hbench to read it)"
        )
    if version < OLDEST:
        raise UsageError(f"{where} has schema_version {version}; {supported}")
    while version < CURRENT:
        data = MIGRATIONS[version](data)
        version = data["schema_version"]
    return data
