"""``hbench export``: the results table of `hbench.load_results` as one Parquet or CSV file,
for a notebook, a spreadsheet or another tool's data frame.

Every given file or folder is read as `load_results` reads it (one row per run, seed, k_train
and k_test) and the rows are written together, atomically: an interrupted export leaves no
half-written file and an existing one as it was. Parquet needs pyarrow (``pip install
'hbench[parquet]'``), which is imported only for it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hbench.cli.options import examples
from hbench.errors import UsageError, invalid

if TYPE_CHECKING:
    import pandas as pd

#: The formats and the file suffix that implies each.
FORMATS = {"parquet": ".parquet", "csv": ".csv"}


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``export``; return its handler."""
    p = sub.add_parser(
        "export", parents=[common], help="write result files as one Parquet or CSV table"
    )
    p.add_argument("results", nargs="+", metavar="RESULTS", help="result files or folders")
    p.add_argument(
        "--format",
        choices=sorted(FORMATS),
        help="the file format (default: from the suffix of --out, .parquet or .csv)",
    )
    p.add_argument("--out", required=True, metavar="FILE", help="the file to write")
    examples(
        p,
        [
            "hbench export results --out results.parquet",
            "hbench export runs/a.json runs/b.json --format csv --out table.csv",
        ],
    )
    return {"export": cmd_export}


def output_format(out: str, given: str | None) -> str:
    """The format to write: ``--format``, else the one ``--out``'s suffix names."""
    if given is not None:
        return given
    suffix = Path(out).suffix.lower()
    for name, ending in FORMATS.items():
        if suffix == ending:
            return name
    raise invalid(
        "--out", out, "a .parquet or .csv file, or give --format parquet|csv for another name"
    )


def require_pyarrow() -> None:
    """Refuse Parquet, in one line, where pyarrow is not installed."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise UsageError(
            "--format parquet needs pyarrow, which is not installed:"
            " pip install 'hbench[parquet]' (or write --format csv)"
        ) from None


def results_table(paths: Sequence[str]) -> pd.DataFrame:
    """The rows of every path together, in the order given."""
    import warnings

    import pandas as pd

    from hbench.results.table import load_results

    tables = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # non-result JSON files beside the runs: not an error
        for path in paths:
            table = load_results(path)
            if len(table) == 0:
                raise invalid("RESULTS", path, "a result file or a folder that holds some")
            tables.append(table)
    return pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]


def one_type_per_column(table: pd.DataFrame) -> pd.DataFrame:
    """Columns of Python objects that mix types (a level number beside ``"ood"``) as text:
    a Parquet column holds one type. Columns of one type are left as they are."""
    table = table.copy()
    for name in table.columns:
        if table[name].dtype != object:
            continue
        kinds = {type(value) for value in table[name] if value is not None}
        if len(kinds) > 1:
            table[name] = [None if value is None else str(value) for value in table[name]]
    return table


def write_table(table: pd.DataFrame, out: str, fmt: str) -> Path:
    """Write ``table`` to ``out`` as ``fmt``, atomically."""
    from hbench.io import atomic_write, check_name_lengths

    path = check_name_lengths(out, "--out")
    if fmt == "csv":
        with atomic_write(path, "w", field="--out") as handle:
            table.to_csv(handle, index=False)
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow = pa.Table.from_pandas(one_type_per_column(table), preserve_index=False)
    with atomic_write(path, "wb", field="--out") as handle:
        pq.write_table(arrow, handle)
    return path


def cmd_export(args: argparse.Namespace) -> int:
    from hbench.results.files import check_writable

    fmt = output_format(args.out, args.format)
    if fmt == "parquet":
        require_pyarrow()
    check_writable(Path(args.out), "--out")
    table = results_table(args.results)
    path = write_table(table, args.out, fmt)
    runs = table["run"].nunique()
    print(f"wrote {path} ({len(table)} rows from {runs} run(s), {fmt})")
    return 0
