"""The mismatch analysis reads a run's metrics: for exact inference (the bp model) its
matrix is the oracle table, and the command writes JSON and a figure."""

from __future__ import annotations

import json

import numpy as np
import pytest
from analysis_runs import bp_result, transformer_result

from hbench.analysis import common, mismatch
from hbench.cli import main
from hbench.results import read_result
from hbench.run.oracle_table import oracle_table


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "analysis-runs"


def test_bp_mismatch_table_is_the_oracle_table(runs):
    path = bp_result(runs)
    result = read_result(path)
    report = mismatch.matrices(result)
    run = common.load_run(path)
    table = oracle_table(
        run.grammar, run.filter, run.oracle, task="root", n=run.suite.n_test, seed=0
    )
    assert report.train_levels == report.test_levels == table.levels
    np.testing.assert_array_equal(report.acc, table.accuracy)
    np.testing.assert_array_equal(report.acc_bp_train, table.accuracy)
    np.testing.assert_array_equal(report.acc_bp_test, np.tile(np.diag(table.accuracy), (4, 1)))
    np.testing.assert_allclose(report.kl_bp_train, 0.0, atol=1e-9)
    assert all(row.kl_bp_train < 1e-9 and row.agree_train == 1.0 for row in report.ood)
    assert report.tracking.cells == 12 and report.tracking.kl_closer_to_train == 12


def test_the_cli_table_matches_oracle_table_json(runs, capsys):
    path = bp_result(runs)
    n = str(read_result(path).spec.suite["n_test"])
    assert main(["oracle-table", "--depth", "3", "--n", n, "--json", "--quiet"]) == 0
    expected = json.loads(capsys.readouterr().out)["accuracy"]
    out = path.parent / "mismatch-out"
    assert main(["analyze", "mismatch", str(path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "closer to BP_k_train than to BP_k_test in KL in 12" in printed
    report = json.loads((out / f"{path.stem}_mismatch.json").read_text())
    assert report["acc"] == expected
    assert (out / report["figures"][0]).read_bytes()[:4] == b"\x89PNG"
    assert (out / report["figures"][1]).read_bytes()[:4] == b"%PDF"
    assert set(report["captions"]) == set(report["figures"])
    assert all("k_train" in caption for caption in report["captions"].values())


def test_means_over_seeds_and_missing_cells(runs):
    result = read_result(transformer_result(runs))
    report = mismatch.matrices(result)
    assert report.train_levels == [0, 2] and report.test_levels == [0, 1, 2, 3]
    cell = next(m for m in result.metrics if m.k_train == 2 and m.k_test == 1)
    assert report.acc[1][1] == pytest.approx(cell.acc)
    assert report.kl_bp_test[1][1] == pytest.approx(cell.kl_bp)
    assert report.tracking.cells == 6


def test_all_runs_every_analysis_and_skips_what_does_not_apply(runs, capsys):
    path = bp_result(runs)
    out = path.parent / "all-out"
    assert main(["analyze", "all", str(path), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "attention: skipped: model 'bp' has no attention(data) method" in printed
    assert "probe: skipped: model 'bp' has no hidden_states(data) method" in printed
    assert sorted(p.suffix for p in out.iterdir()) == [".json", ".pdf", ".png"]


def test_all_on_a_trained_transformer_writes_every_file(runs, capsys):
    path = transformer_result(runs)
    out = path.parent / "all-transformer"
    argv = ["analyze", "all", str(path), "--out", str(out), "--quiet", "--sequences", "200"]
    argv += ["--probe-sequences", "100", "--probe-test", "50", "--probe-steps", "10"]
    assert main(argv) == 0
    names = sorted(p.name.removeprefix(path.stem) for p in out.iterdir())
    assert names == [
        "_attention.json",
        "_attention.npz",
        "_attention.pdf",
        "_attention.png",
        "_attention_blocks.pdf",
        "_attention_blocks.png",
        "_mismatch.json",
        "_mismatch.pdf",
        "_mismatch.png",
        "_probe.json",
        "_probe.pdf",
        "_probe.png",
    ]


def test_a_run_without_saved_models_says_how_to_get_them(tmp_path, capsys):
    from hbench.cli import main as cli

    argv = ["run", "--model", "transformer", "--suite", "smoke", "--train-filter", "3"]
    argv += ["--model-arg", "epochs=1", "--model-arg", "d_model=8", "--model-arg", "d_ff=8"]
    assert cli([*argv, "--out", str(tmp_path), "--quiet"]) == 0
    (path,) = tmp_path.glob("*.json")
    capsys.readouterr()
    assert main(["analyze", "probe", str(path)]) == 0
    assert "rerun `hbench run` with --save-models" in capsys.readouterr().out


def test_a_missing_model_file_is_a_usage_error(runs, tmp_path, capsys):
    import shutil

    source = transformer_result(runs)
    copy = tmp_path / source.name
    shutil.copy(source, copy)  # the result without its models folder
    assert main(["analyze", "attention", str(copy)]) == 2
    assert "which is missing next to it" in capsys.readouterr().err


def test_json_names_the_report_and_holds_its_numbers(runs, capsys):
    path = bp_result(runs)
    out = path.parent / "mismatch-json"
    capsys.readouterr()
    assert main(["analyze", "mismatch", str(path), "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    report = out / f"{path.stem}_mismatch.json"
    assert (data["analysis"], data["report"]) == ("mismatch", str(report))
    figures = [str(out / f"{path.stem}_mismatch.{fmt}") for fmt in ("png", "pdf")]
    assert data["files"] == [str(report), *figures]
    assert data["numbers"]["acc"] == json.loads(report.read_text())["acc"]


def test_all_json_is_one_object_with_every_part(runs, capsys):
    path = bp_result(runs)
    out = path.parent / "all-json"
    capsys.readouterr()
    assert main(["--json", "analyze", "all", str(path), "--out", str(out), "--quiet"]) == 0
    data = json.loads(capsys.readouterr().out)
    parts = {part["analysis"]: part for part in data["parts"]}
    assert data["analysis"] == "all" and list(parts) == ["attention", "probe", "mismatch"]
    assert parts["attention"]["skipped"] == "model 'bp' has no attention(data) method"
    assert parts["mismatch"]["report"] == str(out / f"{path.stem}_mismatch.json")


def test_an_out_folder_name_too_long_is_refused(runs, tmp_path, capsys):
    path = bp_result(runs)
    assert main(["analyze", "mismatch", str(path), "--out", str(tmp_path / ("o" * 300))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out=" in err and "folder names of at most" in err
