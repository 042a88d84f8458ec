"""Sample complexity: curves from a sweep folder, mean ± s.e. over seeds, P* on log P."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hbench.analysis.report import analyze
from hbench.analysis.sample_complexity import Curve, collect_curves
from hbench.cli import main
from hbench.results import read_result
from hbench.scoring import normalised_accuracy


def curve(mean: list[float]) -> Curve:
    budgets = [2**i for i in range(8, 8 + len(mean))]
    return Curve("m", "root", "", 0, budgets, mean, [0.0] * len(mean), [1] * len(mean))


def test_p_star_interpolates_on_log_p():
    p_star, how = curve([0.5, 0.9, 1.0]).p_star(0.95)
    assert how == "interpolated"
    assert p_star == pytest.approx(2 ** (9 + 0.5))
    assert curve([0.96, 0.99]).p_star(0.95) == (256.0, "at or below the smallest P")
    assert curve([0.5, 0.6]).p_star(0.95) == (None, "not reached")
    # the first crossing counts, even if a later point dips again
    assert curve([0.2, 0.95, 0.9, 0.99]).p_star(0.95)[0] == pytest.approx(512)


SWEEP = """
suite = "smoke"
out = "{out}"
[set]
n_test = 128
n_ood = 0
[axes]
P = [32, 128, 512]
train_filter = [1, 3]
seed = [0, 1, 2]
[[models]]
name = "naive-bayes"
"""


def test_analyze_a_sweep(tmp_path, capsys):
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.format(out=tmp_path / "out"), encoding="utf-8")
    assert main(["sweep", str(path), "--workers", "2", "--quiet"]) == 0
    capsys.readouterr()
    curves = collect_curves(tmp_path / "out")
    assert [(c.model, c.k_train, c.budgets, c.seeds) for c in curves] == [
        ("naive-bayes", 1, [32, 128, 512], [3, 3, 3]),
        ("naive-bayes", 3, [32, 128, 512], [3, 3, 3]),
    ]
    # the mean and standard error over seeds, recomputed from the result files
    values: dict[tuple[int, int], list[float]] = {}
    for file in (tmp_path / "out" / "results").glob("*.json"):
        result = read_result(file)
        for row in result.metrics:
            if row.k_test == row.k_train:
                key = (row.k_train, result.spec.suite["P"])
                values.setdefault(key, []).append(
                    normalised_accuracy(row.acc, row.acc_bp, row.chance)
                )
    for c in curves:
        for budget, mean, stderr in zip(c.budgets, c.mean, c.stderr, strict=True):
            expected = np.array(values[(c.k_train, budget)])
            assert mean == pytest.approx(expected.mean())
            assert stderr == pytest.approx(expected.std(ddof=1) / math.sqrt(3))

    assert main(["analyze", "sample-complexity", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "| naive-bayes (root) | 3" in out and "P* (0.95)" in out
    png = tmp_path / "out" / "sample-complexity.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["analyze", "sample-complexity", str(tmp_path / "out"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["analysis"], data["figure"]) == ("sample-complexity", str(png))
    rows = data["curves"]
    assert {row["k_train"] for row in rows} == {1, 3}
    assert all(row["target"] == 0.95 for row in rows)
    written = json.loads(png.with_suffix(".json").read_text())
    pdf = png.with_suffix(".pdf")
    assert written["curves"] == rows and written["figures"] == [png.name, pdf.name]
    assert pdf.read_bytes()[:4] == b"%PDF"
    assert set(written["captions"]) == {png.name, pdf.name}
    assert "P*" in written["captions"][png.name]

    # the budget analysis of the same sweep: from the command line and from Python
    out = tmp_path / "budget.png"
    assert main(["analyze", "budget", str(tmp_path / "out"), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["analysis"] == "budget" and out.read_bytes()[:4] == b"\x89PNG"
    assert out.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"
    assert "Bayes-optimal" in data["numbers"]["captions"][out.name]
    points = data["numbers"]["points"]
    assert {(p["k_train"], p["P"]) for p in points} == {
        (k, P) for k in (1, 3) for P in (32, 128, 512)
    }
    report, files = analyze("budget", tmp_path / "out", {"lines": "label"}, write=False)
    assert files == [] and [p["acc"] for p in points] == [p["acc"] for p in report.numbers.points]


def test_bad_input(tmp_path, capsys):
    assert main(["analyze", "sample-complexity", str(tmp_path / "nothing")]) == 2
    assert "SWEEP_DIR=" in capsys.readouterr().err
    assert main(["analyze", "sample-complexity", str(tmp_path)]) == 2
    assert "holds no result files" in capsys.readouterr().err
    assert main(["analyze", "sample-complexity", str(tmp_path), "--target", "0"]) == 2
    assert "--target=0.0 is invalid" in capsys.readouterr().err
