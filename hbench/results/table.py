"""Many result files as one pandas table, for analyses and notebooks."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hbench.errors import UsageError
from hbench.results.files import read_result
from hbench.results.schema import RESULT_COLUMNS, RunResult
from hbench.run.scoring import normalised_accuracy

if TYPE_CHECKING:
    import pandas as pd


def find_result_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.json") if p.is_file())
    raise UsageError(f"results path {str(path)!r} does not exist")


#: Columns `load_results` adds to `RESULT_COLUMNS`, after ``model``: the run's label (a sweep
#: cell's name, else the model's), its model options as JSON text, the training budget it used
#: for its task, and the grammar seed of each row's seed.
RUN_COLUMNS = ["label", "model_config", "P", "grammar_seed"]

#: Every column of `load_results`, in order.
TABLE_COLUMNS = [
    *RESULT_COLUMNS[: RESULT_COLUMNS.index("model") + 1],
    *RUN_COLUMNS,
    *RESULT_COLUMNS[RESULT_COLUMNS.index("model") + 1 :],
]


def load_results(path: str | Path) -> pd.DataFrame:
    """A table with one row per (run, seed, k_train, k_test) of one file or a whole folder.

    A folder is searched recursively for ``*.json`` (in sorted order, i.e. by time within a
    folder). A JSON file that is no run result at all (an analysis report beside its run, an
    index) is skipped, with one warning that counts them; a file that is meant as a result (it
    has ``schema_version`` and ``spec``) but is invalid, or that is not JSON, raises: silently
    skipping it would quietly drop runs from a comparison. ``normalised_accuracy`` is computed
    here (NaN where there is no accuracy, e.g. "ood"); missing accuracies are NaN; ``created``
    is a UTC timestamp; ``model_config`` is JSON text (sorted keys), so that runs group by it.
    An empty folder gives an empty table with the same columns.
    """
    rows: list[dict[str, Any]] = []
    skipped: list[Path] = []
    for file in find_result_files(Path(path)):
        if not looks_like_a_result(file):
            skipped.append(file)
            continue
        rows.extend(result_rows(read_result(file), file.stem))
    if skipped:
        warnings.warn(
            f"load_results skipped {len(skipped)} JSON file(s) that are not run results"
            f" (e.g. {str(skipped[0])!r})",
            stacklevel=2,
        )
    return frame(rows)


def looks_like_a_result(path: Path) -> bool:
    """Whether ``path`` is meant as a run result: a JSON object with ``schema_version`` and
    ``spec``. A file that is not JSON counts as one (`read_result` then says what is wrong)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return True
    return isinstance(data, dict) and "schema_version" in data and "spec" in data


def result_rows(result: RunResult, run: str) -> list[dict[str, Any]]:
    """The rows of one result (see `load_results`); ``run`` names it (its file's stem)."""
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
    from hbench.run.suites import Suite

    try:
        return Suite.model_validate(suite).budget(task)
    except Exception:  # a suite of another hbench version: its plain P
        return suite.get("P")


def _grammar_seeds(spec: Any) -> dict[int, int]:
    """seed -> grammar seed, for a run that drew one grammar per seed (official runs)."""
    drawn = getattr(spec, "grammar_seeds", None)
    return dict(zip(spec.seeds, drawn, strict=False)) if drawn else {}


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows of `result_rows` as the typed table `load_results` returns."""
    import pandas as pd

    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    if rows:
        table["created"] = pd.to_datetime(table["created"], utc=True, format="ISO8601")
        for name in ("acc", "acc_bp", "acc_bp_train", "normalised_accuracy"):
            table[name] = table[name].astype("float64")
    return table
