"""Per-query logs (``hbench run --log-samples FILE.parquet``, ``evaluate(log_samples=...)``).

A result file keeps one mean per cell; to see *which* questions a model gets wrong, and how
its probabilities differ from exact inference on each, the per-query answers are needed. The
harness writes them as it scores (`hbench.run.harness.Harness.score`): one row per test query,
with the model's probabilities next to BP's. The model never writes the file (a sandboxed
worker could not): its predictions come back to the harness, which logs exactly the arrays it
scores.

Rows are appended to a Parquet file one (seed, training level, test set) at a time, so memory
stays bounded by one test set, and the file appears under its name only when the run ends: an
interrupted run leaves no half-written file (`hbench.io.atomic_write`). Fits that run at once
append in the order they finish; sort by ``seed, k_train, k_test, sequence, position`` for a
fixed order.

Columns (one row per query):

- ``seed``, ``grammar_seed``, ``k_train``: the fit (run seed, the grammar it ran on, the
  training filter level);
- ``k_test``, ``ood``: the test set, its filter level, or null with ``ood`` true for uniformly
  random sequences;
- ``sequence``, ``position``: the query, its sequence's index in the test set and its position
  (-1: the whole sequence, as the root task asks);
- ``length``: the sequence's length where sequences vary in length (a context-free grammar),
  else null;
- ``target``: the true class (null on random sequences);
- ``model``, ``bp``, ``bp_train``: q probabilities each, the model's, BP's at the test level
  (the exact answer the cell is scored against; on random sequences BP's at the training
  level, as they are scored) and BP's at the training level (the mismatched oracle);
- ``model_argmax``, ``bp_argmax``: the class each picks (the lowest of tied ones);
- ``kl_bp``: KL(bp || model) in bits for this query (its mean over a cell is the result's
  ``kl_bp``);
- ``possible``: on random sequences, whether the grammar of the training level can produce
  the sequence (only those are scored); true elsewhere.

The file's metadata (``hbench`` key, JSON) names the model, suite, task and q.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from hbench.errors import UsageError, invalid

#: The suffix a samples file must have: the format is not guessed from anything else.
SUFFIX = ".parquet"


def require_pyarrow(field: str = "--log-samples") -> None:
    """Refuse, in one line, where pyarrow is not installed."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UsageError(
            f"{field} writes Parquet, which needs pyarrow (not installed):"
            " pip install 'hbench[parquet]'"
        ) from None


def check_samples_path(
    path: str | Path, field: str = "--log-samples", *, overwrite: bool = False
) -> Path:
    """The samples file, checked before any work: a ``.parquet`` name, in a folder that exists
    and can take it (no folder is made for it), not an existing file unless ``overwrite``
    (a typo must not replace another run's log), and pyarrow installed."""
    from hbench.io import check_name_lengths
    from hbench.results.files import check_writable

    text = str(path)
    path = Path(path).expanduser()
    if path.suffix.lower() != SUFFIX:
        raise invalid(field, text, f"a file name ending in {SUFFIX}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise invalid(field, text, f"a file in an existing folder ({str(parent)!r} is not one)")
    if path.is_dir():
        raise invalid(field, text, "a file path, not a folder")
    if (path.exists() or path.is_symlink()) and not overwrite:
        again = "--overwrite" if field.startswith("--") else "rerun=True"
        raise invalid(field, text, f"a new file (it exists; {again} replaces it)")
    check_name_lengths(path, field)
    check_writable(path, field)
    require_pyarrow(field)
    return path


def refuse_reuse(path: Any, field: str) -> None:
    """Per-query logs and learning curves come from a run's predictions and fits: a finished
    result of the same spec, which hbench would reuse, has neither. Refused in one line,
    before any work, rather than run again over it unasked."""
    again = "--overwrite" if field.startswith("--") else "rerun=True"
    raise UsageError(
        f"{field} needs the run's predictions, but {str(path)!r} is a finished run of the same"
        f" spec, which would be reused: {again} runs it again"
    )


def schema(q: int, metadata: Mapping[str, Any] | None = None) -> Any:
    """The Arrow schema of a samples file for ``q`` classes."""
    import pyarrow as pa

    probabilities = pa.list_(pa.float64(), q)
    fields = [
        ("seed", pa.int64()),
        ("grammar_seed", pa.int64()),
        ("k_train", pa.int64()),
        ("k_test", pa.int64()),
        ("ood", pa.bool_()),
        ("sequence", pa.int64()),
        ("position", pa.int64()),
        ("length", pa.int64()),
        ("target", pa.int64()),
        ("model", probabilities),
        ("bp", probabilities),
        ("bp_train", probabilities),
        ("model_argmax", pa.int64()),
        ("bp_argmax", pa.int64()),
        ("kl_bp", pa.float64()),
        ("possible", pa.bool_()),
    ]
    meta = {b"hbench": json.dumps(dict(metadata or {}), sort_keys=True).encode()}
    return pa.schema(fields, metadata=meta)


def _probabilities(values: np.ndarray, q: int) -> Any:
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(values, dtype=np.float64).reshape(-1))
    return pa.FixedSizeListArray.from_arrays(flat, q)


class SampleLog:
    """A Parquet file of per-query answers, written while a run scores (see the module).

    Use as a context around the run, given to it as ``sample_log`` (`Harness.run`, which calls
    `bind` with itself before any fit). The rows go to a temporary file beside ``path``,
    renamed to ``path`` when the block ends without an error and removed otherwise; a block
    in which no run was bound writes nothing. `write` may be called from the threads of fits
    that run at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.q = 0
        self.metadata: dict[str, Any] = {}
        self.rows = 0
        self._lock = threading.Lock()
        self._stack: contextlib.ExitStack | None = None
        self._writer: Any = None

    def bind(self, harness: Any) -> None:
        """Open the file for the run of ``harness``: its q and what the file's metadata
        records of it (model, suite, task)."""
        spec, suite = harness.spec, harness.suite
        q = int(harness.world.task_spec.q)
        metadata = {
            "model": harness.model_name,
            "label": spec.label,
            "suite": spec.suite,
            "suite_hash": suite.spec_hash(),
            "task": suite.task,
            "q": q,
            "official": spec.official,
        }
        self.open(q, metadata)

    def open(self, q: int, metadata: Mapping[str, Any] | None = None) -> None:
        """Start the file for ``q`` classes (`bind` does, for a run)."""
        import pyarrow.parquet as pq

        from hbench.io import atomic_write

        if self._stack is not None:
            raise RuntimeError(f"{self.path} is already open: one run per samples file")
        self.q, self.metadata = int(q), dict(metadata or {})
        with contextlib.ExitStack() as stack:
            handle = stack.enter_context(atomic_write(self.path, "wb", field="--log-samples"))
            self._writer = pq.ParquetWriter(handle, schema(self.q, self.metadata))
            self._stack = stack.pop_all()

    def __enter__(self) -> SampleLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        try:
            if error is None:
                self._writer.close()  # the footer: only a complete file is renamed
            else:
                with contextlib.suppress(Exception):  # the file is removed anyway
                    self._writer.close()
        except BaseException as exc:
            stack.__exit__(type(exc), exc, exc.__traceback__)  # removes the temporary file
            raise
        stack.__exit__(kind, error, traceback)  # renames on success, removes on an error

    @property
    def written(self) -> bool:
        """Whether a run was bound, so that the block's end writes the file."""
        return self._writer is not None

    def write(
        self,
        *,
        seed: int,
        grammar_seed: int,
        k_train: int,
        k_test: int | str,
        data: Any,
        model: np.ndarray,
        bp: np.ndarray,
        bp_train: np.ndarray,
        possible: np.ndarray | None = None,
    ) -> None:
        """Append the queries of one scored test set: ``data`` (`hbench.contracts.TaskData`)
        and the (m, q) probabilities scored on it; ``possible`` (m,) on random sequences."""
        import pyarrow as pa

        from hbench.scoring import kl_bits

        if self._stack is None:
            raise RuntimeError("SampleLog.write before open (or bind) or after its block")
        m = int(data.n_queries)
        ood = k_test == "ood"
        targets = data.targets
        rows = np.asarray(data.query_rows, dtype=np.int64)
        lengths = getattr(data, "lengths", None)  # sequences of varying length only
        model, bp = np.asarray(model, np.float64), np.asarray(bp, np.float64)
        columns = {
            "seed": pa.array(np.full(m, seed, dtype=np.int64)),
            "grammar_seed": pa.array(np.full(m, grammar_seed, dtype=np.int64)),
            "k_train": pa.array(np.full(m, k_train, dtype=np.int64)),
            "k_test": pa.nulls(m, pa.int64())
            if ood
            else pa.array(np.full(m, int(k_test), dtype=np.int64)),
            "ood": pa.array(np.full(m, ood)),
            "sequence": pa.array(rows),
            "position": pa.array(np.asarray(data.query_positions, dtype=np.int64)),
            "length": pa.nulls(m, pa.int64())
            if lengths is None
            else pa.array(np.asarray(lengths, dtype=np.int64)[rows]),
            "target": pa.nulls(m, pa.int64())
            if targets is None
            else pa.array(np.asarray(targets, dtype=np.int64)),
            "model": _probabilities(model, self.q),
            "bp": _probabilities(bp, self.q),
            "bp_train": _probabilities(bp_train, self.q),
            "model_argmax": pa.array(model.argmax(axis=1).astype(np.int64)),
            "bp_argmax": pa.array(bp.argmax(axis=1).astype(np.int64)),
            "kl_bp": pa.array(kl_bits(bp, model)),
            "possible": pa.array(
                np.ones(m, dtype=bool) if possible is None else np.asarray(possible, dtype=bool)
            ),
        }
        table = pa.Table.from_pydict(columns, schema=self._writer.schema)
        with self._lock:
            self._writer.write_table(table)
            self.rows += m


def read_samples(path: str | Path) -> Any:
    """A samples file as a pandas table (``model``, ``bp`` and ``bp_train`` hold one numpy
    array of q probabilities per row; ``k_test``, ``target`` and ``length`` are nullable
    integers, ``<NA>`` where not defined, as `hbench.load_results` has them); its metadata in
    ``table.attrs["hbench"]``."""
    import pyarrow.parquet as pq

    table = pq.read_table(os.fspath(path))
    frame = table.to_pandas()
    for column in (
        "k_test",
        "target",
        "length",
    ):  # pandas reads an integer column with nulls as float
        if column in frame:
            frame[column] = frame[column].astype("Int64")
    raw = (table.schema.metadata or {}).get(b"hbench")
    frame.attrs["hbench"] = json.loads(raw) if raw else {}
    return frame


def probabilities(frame: Any, column: str = "model") -> np.ndarray:
    """One probability column of a samples table as an (n_rows, q) array."""
    values = frame[column].to_numpy()
    return np.stack(values) if len(values) else np.zeros((0, 0))
