"""Many result files as one pandas table, for analyses and notebooks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hbench.errors import UsageError
from hbench.results.files import read_result
from hbench.results.schema import RESULT_COLUMNS
from hbench.run.scoring import normalised_accuracy

if TYPE_CHECKING:
    import pandas as pd


def find_result_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.json") if p.is_file())
    raise UsageError(f"results path {str(path)!r} does not exist")


def load_results(path: str | Path) -> pd.DataFrame:
    """A table with one row per (run, seed, k_train, k_test) of one file or a whole folder.

    A folder is searched recursively for ``*.json`` (in sorted order, i.e. by time within a
    folder); every one must be a valid result, since silently skipping a broken file would
    quietly drop runs from a comparison. ``normalised_accuracy`` is computed here (NaN where
    there is no accuracy, e.g. "ood"); missing accuracies are NaN; ``created`` is a UTC
    timestamp. An empty folder gives an empty table with the same columns.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for file in find_result_files(Path(path)):
        result = read_result(file)
        spec = result.spec
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
                run=file.stem,
                suite=spec.suite_name,
                suite_hash=spec.suite_hash,
                task=spec.task,
                model=spec.model,
                privileged=result.privileged,
                created=result.created,
            )
            rows.append(row)
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    if rows:
        frame["created"] = pd.to_datetime(frame["created"], utc=True, format="ISO8601")
        for name in ("acc", "acc_bp", "acc_bp_train", "normalised_accuracy"):
            frame[name] = frame[name].astype("float64")
    return frame
