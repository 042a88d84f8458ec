"""Many result files as one pandas table, for analyses and notebooks."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hbench.errors import UsageError
from hbench.results.files import read_result
from hbench.results.rows import frame, result_rows

if TYPE_CHECKING:
    import pandas as pd


def find_result_files(path: Path) -> list[Path]:
    """``path`` itself, or the ``*.json`` files below it, leaving out hidden folders (a run's
    kept fits, `hbench.run.journal`, are one-fit results, not runs of their own)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*.json")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    raise UsageError(f"results path {str(path)!r} does not exist")


def load_results(path: str | Path) -> pd.DataFrame:
    """A table with one row per (run, seed, k_train, k_test) of one file or a whole folder.

    A folder is searched recursively for ``*.json`` (in sorted order, i.e. by time within a
    folder). A JSON file that is no run result at all (an analysis report beside its run, an
    index) is skipped, with one warning that counts them; a file that is meant as a result (it
    has ``schema_version`` and ``spec``) but is invalid, or that is not JSON, raises: silently
    skipping it would quietly drop runs from a comparison. ``normalised_accuracy`` is computed
    here (NaN where there is no accuracy, e.g. "ood"); missing accuracies are NaN; ``created``
    is a UTC timestamp; ``model_config`` is JSON text (sorted keys), so that runs group by it;
    ``label`` is the run's label (``evaluate(label=...)``, ``hbench run --label``, a sweep
    cell's name), else its model's name. ``k_test`` is a nullable integer (``Int64``): ``<NA>``
    on the rows of uniformly random sequences, which the boolean column ``ood`` marks.

    A path that does not exist raises `hbench.UsageError`; a folder without any result gives
    an empty table with the same columns, and a warning (a typo in a folder name should not
    look like "no runs yet").
    """
    rows: list[dict[str, Any]] = []
    skipped: list[Path] = []
    for file in find_result_files(Path(path)):
        if not looks_like_a_result(file):
            skipped.append(file)
            continue
        rows.extend(result_rows(read_result(file), file.stem))
    if not rows and Path(path).is_dir():
        warnings.warn(
            f"load_results found no run result in {str(path)!r}"
            f" ({len(skipped)} other JSON file(s)): the table is empty",
            stacklevel=2,
        )
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
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return True
    return isinstance(data, dict) and "schema_version" in data and "spec" in data
