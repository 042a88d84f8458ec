"""The rows of the results table: one per (run, seed, k_train, k_test), with the run's
spec flattened into columns. A leaf module: `RunResult.table` and `load_results` both use it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from hbench.scoring import normalised_accuracy

if TYPE_CHECKING:
    import pandas as pd


#: Columns of `load_results`, in order.
RESULT_COLUMNS = [
    "run",
    "suite",
    "suite_hash",
    "task",
    "model",
    "seed",
    "k_train",
    "k_test",
    "acc",
    "acc_bp",
    "acc_bp_train",
    "chance",
    "kl_bp",
    "kl_bp_train",
    "agree",
    "agree_train",
    "n_queries",
    "normalised_accuracy",
    "acc_se",  # the cell's test-set standard errors (`hbench.scoring.cell_errors`)
    "normalised_accuracy_se",
    "kl_bp_se",
    "possible",  # "ood": the share of random sequences the grammar can produce
    "privileged",
    "created",
]

#: Columns `load_results` adds to `RESULT_COLUMNS`, after ``model``: the run's label (a sweep
#: cell's name, else the model's), its model options as JSON text, the training budget it used
#: for its task, and the grammar seed of each row's seed.
RUN_COLUMNS = ["label", "model_config", "P", "grammar_seed"]

#: Every column of `load_results`, in order.
TABLE_COLUMNS = [
    *RESULT_COLUMNS[: RESULT_COLUMNS.index("model") + 1],
    *RUN_COLUMNS,
    *RESULT_COLUMNS[RESULT_COLUMNS.index("model") + 1 : RESULT_COLUMNS.index("k_test") + 1],
    "ood",
    *RESULT_COLUMNS[RESULT_COLUMNS.index("k_test") + 1 :],
]


def result_rows(result: Any, run: str) -> list[dict[str, Any]]:
    """The rows of one `RunResult` (see `load_results`); ``run`` names it (its file's stem)."""
    spec = result.spec
    shared = {
        "label": getattr(spec, "label", None) or spec.model,
        "model_config": json.dumps(spec.model_settings, sort_keys=True),
        "P": _budget(spec.suite, spec.task),
    }
    grammar_seeds = _grammar_seeds(spec)
    rows = []
    for cell in result.metrics:
        row = cell.model_dump()
        for name in ("acc", "acc_bp", "acc_bp_train"):
            if row[name] is None:
                row[name] = np.nan
        row["normalised_accuracy"] = (
            normalised_accuracy(cell.acc, cell.acc_bp, cell.chance)
            if cell.acc is not None and cell.acc_bp is not None and cell.k_test != "ood"
            else np.nan
        )
        row.update(
            run=run,
            suite=spec.suite_name,
            suite_hash=spec.suite_hash,
            task=spec.task,
            model=spec.model,
            privileged=result.privileged,
            created=result.created,
            grammar_seed=grammar_seeds.get(cell.seed, spec.suite.get("grammar_seed")),
            **shared,
        )
        rows.append(row)
    return rows


def _budget(suite: dict[str, Any], task: str) -> int | None:
    """The training sequences per level the run used for ``task`` (`Suite.budget`)."""
    from hbench.suites import Suite

    try:
        return Suite.model_validate(suite).budget(task)
    except Exception:  # a suite of another hbench version: its plain P
        return suite.get("P")


def _grammar_seeds(spec: Any) -> dict[int, int]:
    """seed -> grammar seed, for a run that drew one grammar per seed (official runs)."""
    drawn = getattr(spec, "grammar_seeds", None)
    return dict(zip(spec.seeds, drawn, strict=False)) if drawn else {}


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of `result_rows` as the typed table `load_results` returns.

    ``k_test`` is a nullable integer (pandas ``Int64``): the test filter level, ``<NA>`` on the
    rows of uniformly random sequences, which ``ood`` (boolean) marks; so the column sorts,
    compares with ``k_train`` and writes to Parquet as integers, never as a mix with text."""
    import pandas as pd

    rows = [{**row, "ood": row.get("k_test") == "ood"} for row in rows]
    for row in rows:
        if row["ood"]:
            row["k_test"] = None
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    table["k_test"] = table["k_test"].astype("Int64")
    table["ood"] = table["ood"].astype(bool)
    names = sorted({name for row in rows for name in row.get("scores") or {}} - set(table))
    for name in names:  # registered metrics (a cell's ``scores``), a column each, by name
        values = [(row.get("scores") or {}).get(name) for row in rows]
        table[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    if rows:
        table["created"] = pd.to_datetime(table["created"], utc=True, format="ISO8601")
        for name in (
            "acc", "acc_bp", "acc_bp_train", "normalised_accuracy", "acc_se",
            "normalised_accuracy_se", "kl_bp_se", "possible", "kl_bp", "kl_bp_train", "agree",
            "agree_train",
        ):  # fmt: skip
            table[name] = table[name].astype("float64")
    return table
