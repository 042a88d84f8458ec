"""A third-party plugin's grammar with its own suite, a metric and an analysis: each one shows
in ``hbench list``, in a run's result, on a leaderboard table and in ``hbench analyze``."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from hbench.cli import main
from hbench.registry.loading import DISABLE_ENV
from hbench.registry.registry import get_registry, reset_registry

MODULE = "hbench_thirdparty_test"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The plugin installed as a distribution of the ``hbench`` entry-point group."""
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(Path(__file__).with_name("thirdparty_plugin.py"), site / f"{MODULE}.py")
    info = site / "hbench_thirdparty-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hbench-thirdparty\nVersion: 0.0.1\n"
    )
    (info / "entry_points.txt").write_text(f"[hbench]\nthirdparty = {MODULE}\n")
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    reset_registry()
    yield tmp_path
    reset_registry()
    sys.modules.pop(MODULE, None)
    importlib.invalidate_caches()


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out


def test_the_plugin_loads_cleanly(installed) -> None:
    registry = get_registry()
    assert registry.errors == []
    assert registry.get("suite", "sparse-smoke").distribution == "hbench-thirdparty"
    assert registry.get("metric", "brier").metadata["direction"] == "lower"
    assert registry.get("analysis", "spread").plugin == "thirdparty"


def test_listed_with_the_built_in_ones(installed, capsys) -> None:
    code, out = run_cli(capsys, "list", "suites")
    row = next(line for line in out.splitlines() if line.startswith("sparse-smoke "))
    assert code == 0 and " sparse " in row and "mlm=32" in row
    code, out = run_cli(capsys, "list", "metrics")
    row = next(line for line in out.splitlines() if line.startswith("brier "))
    assert code == 0 and "lower is better" in row and "hbench-thirdparty 0.0.1" in row
    code, out = run_cli(capsys, "list", "analyses")
    assert code == 0 and any(line.startswith("spread ") for line in out.splitlines())


def test_a_run_records_the_metric_a_board_shows_it_and_the_analysis_reads_it(
    installed, capsys
) -> None:
    from hbench.leaderboard.tables import cells, headers, tables
    from hbench.leaderboard.tree import Entry
    from hbench.registry.suites import SUITES
    from hbench.results import read_result

    out = installed / "results"
    argv = ["run", "--model", "naive-bayes", "--suite", "sparse-smoke", "--in-process"]
    code, _ = run_cli(capsys, *argv, "--out", str(out), "--quiet")
    assert code == 0
    (path,) = out.glob("*.json")
    result = read_result(path)
    suite = SUITES["sparse-smoke"]
    assert result.spec.suite_name == "sparse-smoke"
    assert result.spec.suite_hash == suite.spec_hash()
    assert result.spec.suite["grammar"] == "sparse"
    assert result.spec.suite["budgets"] == {"mlm": 32}
    brier = [row.scores["brier"] for row in result.metrics]
    assert all(0 <= value <= 2 for value in brier)  # a squared distance between distributions
    # a metric the harness computed is the function's mean, for the cell's own queries
    assert brier == [row.scores["brier"] for row in read_result(path).metrics]

    # in the table of results: a column named after the metric
    frame = result.table()
    assert frame["brier"].tolist() == brier

    # on a board: a column named after the metric, the mean over the in-sample cells
    (table,) = tables("sparse-smoke", "root", [Entry(Path(path.name), result, suite)])
    assert table.metrics == {"acc_exp": "higher", "brier": "lower"}  # built-in and third-party
    column = headers(table).index("brier")
    in_sample = [r.scores["brier"] for r in result.metrics if r.k_test == r.k_train]
    assert cells(table)[0][column] == f"{np.mean(in_sample):.3f}"

    # analysed by name, from the command line and from Python alike
    code, printed = run_cli(capsys, "analyze", "spread", str(path), "--json")
    assert code == 0
    data = json.loads(printed)
    assert data["analysis"] == "spread" and set(data["numbers"]["by_level"]) == {"0", "1", "2"}
    from hbench.analysis.report import analyze

    report, files = analyze("spread", path, {"metric": "brier"}, write=False)
    assert files == [] and report.numbers.model_dump() == data["numbers"]
    assert Path(data["report"]).is_file()
    code, _ = run_cli(capsys, "analyze", "spread", str(path), "--metric", "nope")
    assert code == 0  # an unknown metric name simply has no cells


def test_without_the_plugin_results_score_only_the_built_in_metrics(tmp_path, capsys) -> None:
    """Only registered metrics beyond the fixed fields go to ``scores``."""
    from hbench.results import read_result

    reset_registry()
    argv = ["run", "--model", "prior", "--suite", "smoke", "--in-process", "--seeds", "0"]
    code, _ = run_cli(capsys, *argv, "--train-filter", "3", "--out", str(tmp_path), "--quiet")
    assert code == 0
    (path,) = tmp_path.glob("*.json")
    # the built-in registered metric (acc_exp) and no other
    assert all(set(row.scores) == {"acc_exp"} for row in read_result(path).metrics)
