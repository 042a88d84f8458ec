"""`hbench export`: result files as one Parquet or CSV table, written atomically."""

from __future__ import annotations

import builtins
from pathlib import Path

import pandas as pd
import pytest

from hbench.cli import main
from hbench.results import load_results


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two small runs (the class prior on the smoke suite, in this process)."""
    folder = tmp_path_factory.mktemp("runs")
    for seed in ("0", "1"):
        argv = ["run", "--model", "prior", "--suite", "smoke", "--seeds", seed, "--set", "P=256"]
        argv += ["--set", "n_test=64", "--train-filter", "0", "--in-process", "--quiet"]
        assert main([*argv, "--out", str(folder)]) == 0
    return folder


def test_csv_holds_the_rows_of_load_results(runs, tmp_path, capsys) -> None:
    out = tmp_path / "table.csv"
    assert main(["export", str(runs), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    written = pd.read_csv(out)
    expected = load_results(runs)
    assert list(written.columns) == list(expected.columns)
    assert len(written) == len(expected) > 0
    assert sorted(written["seed"].unique()) == [0, 1]
    assert written["acc_bp"].to_numpy() == pytest.approx(expected["acc_bp"].to_numpy(), nan_ok=True)


def test_parquet_keeps_the_types(runs, tmp_path) -> None:
    pytest.importorskip("pyarrow")
    files = sorted(str(path) for path in runs.glob("*.json"))
    out = tmp_path / "table.parquet"
    assert main(["export", *files, "--out", str(out)]) == 0
    written = pd.read_parquet(out)
    expected = load_results(runs)
    assert len(written) == len(expected)
    assert str(written["created"].dtype).startswith("datetime64")
    assert written["kl_bp"].dtype == "float64"
    assert set(written["k_test"].astype(str)) == set(expected["k_test"].astype(str))


def test_the_format_can_be_named_for_any_file_name(runs, tmp_path) -> None:
    out = tmp_path / "table.txt"
    assert main(["export", str(runs), "--format", "csv", "--out", str(out)]) == 0
    assert out.read_text().startswith("run,")


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--out", "table.txt"], "--out='table.txt' is invalid: a .parquet or .csv file"),
        (["--out", "no/such/../x.csv", "--format", "xlsx"], "invalid choice: 'xlsx'"),
    ],
)
def test_bad_options_are_one_line(runs, tmp_path, capsys, argv, named) -> None:
    code = 0
    try:
        code = main(["export", str(runs), *argv])
    except SystemExit as exc:  # argparse's own refusal of a choice
        code = exc.code
    assert code == 2
    assert named in capsys.readouterr().err


def test_nothing_to_export_is_refused_and_nothing_written(tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "table.csv"
    assert main(["export", str(empty), "--out", str(out)]) == 2
    assert "RESULTS" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [empty]


def test_an_existing_file_survives_a_failed_export(runs, tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "table.csv"
    out.write_text("before\n")

    def broken(self, *args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    assert main(["export", str(runs), "--out", str(out)]) == 1
    capsys.readouterr()
    assert out.read_text() == "before\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]  # no temporary file left


def test_parquet_without_pyarrow_is_one_line(runs, tmp_path, monkeypatch, capsys) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.split(".")[0] == "pyarrow":
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    out = tmp_path / "table.parquet"
    assert main(["export", str(runs), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'hbench[parquet]'" in err
    assert not out.exists()
