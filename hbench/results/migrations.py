"""Reading result files written by older hbench versions: one migration per schema version.

A result file is data that outlives the code that wrote it: leaderboards hold files from many
hbench versions. Each entry of `MIGRATIONS` turns a parsed file of one schema version into the
next, so a file of any supported version is read through the chain up to `SCHEMA_VERSION`.
A migration only adds or renames fields and never invents a measurement: what an old version
did not record stays unknown (None).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from hbench.errors import UsageError

#: The current version; `hbench.results.SCHEMA_VERSION` (kept here to avoid an import cycle).
CURRENT = 5


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


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    """4 records a suite's own budgets per task (``budgets``) where version 3 had mlm's alone
    (``P_mlm``), and each cell's registered metrics by name (``scores``; version 3 recorded
    none beyond the fixed fields)."""
    spec = data.get("spec")
    if isinstance(spec, dict) and isinstance(spec.get("suite"), dict):
        suite = dict(spec["suite"])
        if "P_mlm" in suite:
            p_mlm = suite.pop("P_mlm")
            suite["budgets"] = {} if p_mlm is None else {"mlm": p_mlm}
        spec = {**spec, "suite": suite}
    metrics = data.get("metrics")
    if isinstance(metrics, list):
        metrics = [{**row, "scores": {}} if isinstance(row, dict) else row for row in metrics]
    # no version-3 run had a sandbox around its model (hbench.run.worker.sandbox)
    sandbox = {"kind": "none"}
    return {**data, "schema_version": 4, "spec": spec, "metrics": metrics, "sandbox": sandbox}


def _one_suite_hash(data: dict[str, Any]) -> dict[str, Any]:
    """Version 5 records the suite's one hash (`hbench.suites.Suite.spec_hash`, without the seed
    list) where older versions recorded the hash with it: replaced where the recorded one is
    that of the recorded suite, left as it is otherwise (validation then reports the edit).
    Returns the fields of ``data`` to replace."""
    spec = data.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("suite"), dict):
        return {}
    from pydantic import ValidationError

    from hbench.suites import Suite

    try:
        suite = Suite.model_validate(spec["suite"])
    except ValidationError:
        return {}
    if spec.get("suite_hash") != suite.seeded_hash():
        return {}
    return {"spec": {**spec, "suite_hash": suite.spec_hash()}}


def _v4_to_v5(data: dict[str, Any]) -> dict[str, Any]:
    """5 records each cell's test-set standard errors and the headline's uncertainty by
    `hbench.stats.estimate`. Older files kept no per-query data, so a cell gets what its
    summary numbers determine: the binomial error of ``acc`` and, for the normalised accuracy,
    `hbench.stats.normalised_accuracy_se_bound` (the covariance between model and BP taken as
    0: an upper bound, so old rows are never credited with more precision than they had); the
    KL's error needs the per-query spread and stays None. The headline is then recomputed from
    the cells (it is derived from them, nothing new is measured). The suite's hash becomes the
    one without the seed list (`_one_suite_hash`)."""
    from hbench import stats
    from hbench.scoring import headline

    metrics = data.get("metrics")
    if not isinstance(metrics, list):
        return {**data, "schema_version": 5, **_one_suite_hash(data)}
    rows = []
    for row in metrics:
        if not isinstance(row, dict):
            rows.append(row)
            continue
        acc, acc_bp, chance, m = (row.get(k) for k in ("acc", "acc_bp", "chance", "n_queries"))
        acc_se = norm_se = None
        if isinstance(acc, (int, float)) and isinstance(m, int) and m > 0:
            acc_se = stats.binomial_se(float(acc), m)
            if isinstance(acc_bp, (int, float)) and isinstance(chance, (int, float)):
                bound = stats.normalised_accuracy_se_bound(acc, acc_bp, chance, m)
                norm_se = bound if bound == bound else None  # NaN: BP at chance
        rows.append({"acc_se": acc_se, "normalised_accuracy_se": norm_se, "kl_bp_se": None, **row})
    out = {**data, "schema_version": 5, "metrics": rows, **_one_suite_hash(data)}
    # an inconsistent file keeps its headline; validation reports it
    with contextlib.suppress(ValueError, TypeError, KeyError):
        out["headline"] = headline(rows)
    return out


#: ``version -> function`` taking a version-``version`` document to version ``version + 1``.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
}

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
