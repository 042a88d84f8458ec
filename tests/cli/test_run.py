"""`hbench run`, `hbench check` and `hbench list suites` from the command line."""

from __future__ import annotations

import json

import pytest

from hbench.cli import main
from hbench.results import load_results, read_result


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_prints_the_table_and_writes_a_result(capsys, tmp_path):
    code, out, err = run_cli(
        capsys, "run", "--model", "naive-bayes", "--suite", "smoke", "--out", str(tmp_path)
    )
    assert code == 0, err
    assert "| k_train" in out and "acc_bp" in out and "headline: normalised accuracy" in out
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1
    result = read_result(files[0])
    assert result.spec.model == "naive-bayes" and result.spec.suite_name == "smoke"
    frame = load_results(tmp_path)
    assert len(frame) == len(result.metrics)


def test_run_options_reach_the_spec(capsys, tmp_path):
    code, out, err = run_cli(
        capsys,
        "run",
        "--model",
        "bp",
        "--suite",
        "smoke",
        "--task",
        "mlm",
        "--train-filter",
        "1",
        "--seeds",
        "0,1",
        "--set",
        "P=64",
        "--set",
        "n_test=50",
        "--model-arg",
        "assume_filter=0",
        "--out",
        str(tmp_path),
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert read_result(report["path"]).spec.model == "bp"  # --json says which file it wrote
    result = report["result"]
    spec = result["spec"]
    assert spec["task"] == "mlm" and spec["train_filters"] == [1] and spec["seeds"] == [0, 1]
    assert spec["suite"]["P"] == 64 and spec["model_config"]["assume_filter"] == 0
    assert result["privileged"] is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "naive-bayse"], "did you mean 'naive-bayes'"),
        (["--model", "prior", "--suite", "cpuu"], "did you mean 'cpu'"),
        (["--model", "prior", "--set", "P=0"], "--set P=0 is invalid"),
        (["--model", "prior", "--set", "PP=3"], "did you mean 'P'"),
        (["--model", "prior", "--train-filter", "9"], "train_filters"),
        (["--model", "bp", "--model-arg", "assume_filtr=1"], "--model-arg assume_filtr=1"),
        (["--model", "bp", "--model-arg", "assume_filter=-1"], "--model-arg assume_filter=-1"),
        (["--model", "prior", "--task", "mlmm"], "did you mean 'mlm'"),
        (["--model", "prior", "--seeds", "0,0"], "each seed once"),
        (["--model", "prior", "--set", "q=100000"], "q^3 numbers a level"),
        (["--model", "prior", "--official", "--grammar-seeds", "1"], "not with --official"),
        (["--model", "prior", "--seeds", "0,1", "--grammar-seeds", "1"], "one grammar seed per"),
        (["--model", "transformer", "--model-arg", "d_model=100000"], "d_model=100000)"),
        (
            ["--model", "naive-bayes", "--suite", "rhm-cpu", "--set", "sigma=2"],
            "--set sigma=2 is invalid for suite 'rhm-cpu': its grammar 'rhm' has no option 'sigma'",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, argv, message):
    code, _, err = run_cli(capsys, "run", "--suite", "smoke", *argv, "--out", str(tmp_path))
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.glob("*.json"))


def test_unwritable_out_is_refused_before_running(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(capsys, "run", "--model", "prior", "--out", str(blocker / "sub"))
    assert code == 2 and "--out" in err


@pytest.mark.parametrize("model", ["bp", "naive-bayes", "prior"])
def test_check_passes_for_the_baselines(capsys, model):
    code, out, err = run_cli(capsys, "check", "--model", model)
    assert code == 0, err
    assert "passes the contract checks" in out


def test_list_suites(capsys):
    code, out, _ = run_cli(capsys, "list", "suites")
    assert code == 0 and "smoke" in out and "cpu" in out and "paper" in out
    header, _, *rows = out.splitlines()
    sigma = header.index("sigma")
    shown = {row.split()[0]: row[sigma : sigma + 5].strip() for row in rows}
    assert shown["cpu"] == "1.0" and shown["rhm-cpu"] == "-" and shown["rhm-paper"] == "-"
    code, out, _ = run_cli(capsys, "list", "suites", "--json")
    assert json.loads(out)["paper"]["budgets"] == {"mlm": 1 << 18}
    assert " mlm=262144 " in next(row for row in rows if row.startswith("paper "))


def test_list_metrics_and_analyses(capsys):
    code, out, _ = run_cli(capsys, "list", "metrics")
    rows = {row.split()[0]: row for row in out.splitlines()[2:]}
    assert code == 0 and {"acc", "kl_bp", "agree"} <= set(rows)
    assert "lower is better" in rows["kl_bp"] and "higher is better" in rows["acc"]
    code, out, _ = run_cli(capsys, "list", "analyses")
    names = {row.split()[0] for row in out.splitlines()[2:]}
    assert code == 0
    assert names == {"attention", "probe", "mismatch", "calibration", "all"} | {
        "sample-complexity",
        "budget",
        "transition",
    }


def test_paths_named_by_model_options_are_checked_before_training(capsys, tmp_path):
    code, _, err = run_cli(
        capsys,
        "run",
        "--model",
        "transformer",
        "--suite",
        "smoke",
        "--model-arg",
        f"init={tmp_path / 'missing.pt'}",
        "--out",
        str(tmp_path),
    )
    assert code == 2 and "--model-arg init=" in err and "a readable file" in err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(
        capsys,
        "run",
        "--model",
        "transformer",
        "--suite",
        "smoke",
        "--model-arg",
        f"save={blocker / 'model.pt'}",
        "--out",
        str(tmp_path),
    )
    assert code == 2 and "--model-arg save=" in err
    code, _, err = run_cli(
        capsys, "run", "--model", "prior", "--suite", "smoke", "--out", str(tmp_path / ("x" * 300))
    )
    assert code == 2 and "--out" in err and "at most" in err


def test_one_seed_has_the_test_set_error_and_each_fit_logs_a_line(capsys, tmp_path):
    code, out, err = run_cli(
        capsys, "run", "--model", "prior", "--suite", "smoke", "--out", str(tmp_path)
    )
    assert code == 0, err
    headline = next(line for line in out.splitlines() if line.startswith("headline"))
    # one seed: the test set's error, never a between-seed one
    assert "± " in headline and "(test set)" in headline and "1 seed" in headline
    fits = [line for line in err.splitlines() if line.startswith("hbench: fit seed=0")]
    assert len(fits) == 4  # smoke trains at levels 0..3
    code, out, err = run_cli(
        capsys,
        "run",
        "--model",
        "prior",
        "--suite",
        "smoke",
        "--seeds",
        "0,1",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert code == 0 and "±" in out and "2 seeds" in out and "fit seed" not in err
    headline = next(line for line in out.splitlines() if line.startswith("headline"))
    assert "(seeds)" in headline or "(test set)" in headline


def test_check_json(capsys):
    code, out, err = run_cli(capsys, "check", "--model", "prior", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["passed"] is True and report["model"] == "prior"
    assert any("audit" in row["check"] for row in report["checks"])
