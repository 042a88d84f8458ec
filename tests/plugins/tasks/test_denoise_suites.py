"""The denoising suites: they resolve with the options they fix (``task_args``), a run's own
option of another value makes another suite (another hash), they run end to end from Python
and from the CLI, a sweep can vary epsilon, and the transition analysis reads such a sweep."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hbench.analysis.transition import collect
from hbench.analysis.transition import report as transition_report
from hbench.cli import main
from hbench.errors import UsageError
from hbench.registry.suites import SUITES, get_suite
from hbench.run.spec import RunSpec
from hbench.sweep.builtins import builtin_sweeps
from hbench.sweep.file import load_sweep
from hbench_tasks.suites import DENOISE_TASK_ARGS


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", ["denoise-smoke", "denoise-cpu"])
def test_the_suites_resolve_with_their_question(name: str) -> None:
    suite = SUITES[name]
    assert suite.task == "denoise" and suite.task_args == DENOISE_TASK_ARGS
    assert suite.leaderboard is (name == "denoise-cpu")
    assert [suite.test_size(k) for k in suite.test_levels]  # one size per level
    run = RunSpec(model="bp", suite=name).resolve()
    assert run.task_config.epsilon == 0.15 and run.task_config.target == "root"
    assert run.suite.spec_hash() == suite.spec_hash()
    assert suite.canonical()["task_args"] == DENOISE_TASK_ARGS  # part of the question


def test_suites_without_task_options_keep_their_hash_form() -> None:
    assert "task_args" not in SUITES["cpu"].canonical()


def test_a_run_option_the_suite_fixes_makes_another_suite() -> None:
    base = RunSpec(model="bp", suite="denoise-smoke").resolve().suite.spec_hash()
    same = RunSpec(model="bp", suite="denoise-smoke", task_args={"epsilon": 0.15, "target": "root"})
    assert same.resolve().suite.spec_hash() == base  # what `hbench verify` passes back
    other = RunSpec(model="bp", suite="denoise-smoke", task_args={"epsilon": 0.3}).resolve()
    assert other.suite.task_args == {"epsilon": 0.3, "target": "root"}
    assert other.task_config.epsilon == 0.3 and other.suite.spec_hash() != base
    by_set = RunSpec(model="bp", suite="denoise-smoke", overrides={"task_args.epsilon": 0.3})
    assert by_set.resolve().suite.spec_hash() == other.suite.spec_hash()


def test_another_task_drops_the_suite_task_options() -> None:
    run = RunSpec(model="bp", suite="denoise-smoke", overrides={"task": "mlm"}).resolve()
    assert run.suite.task == "mlm" and run.suite.task_args == {}
    kept = get_suite("smoke", {"task": "denoise", "task_args.target": "leaves"})
    assert kept.task_args == {"target": "leaves"}


@pytest.mark.parametrize(
    ("overrides", "task_args", "expected"),
    [
        ({"task_args.epsilon": 1.5}, {}, "--set task_args.epsilon=1.5 is invalid"),
        ({}, {"epsilon": -1}, "--task-arg epsilon=-1 is invalid"),
        ({"task_args.target": "middle"}, {}, "--set task_args.target=middle is invalid"),
        ({"task_args.foo": 1}, {}, "--set task_args.foo=1 is invalid"),
    ],
)
def test_bad_task_options_are_one_line(overrides, task_args, expected) -> None:
    spec = RunSpec(model="bp", suite="denoise-smoke", overrides=overrides, task_args=task_args)
    with pytest.raises(UsageError) as caught:
        spec.resolve()
    assert str(caught.value).startswith(expected) and "\n" not in str(caught.value)


def test_bad_epsilon_from_the_cli_is_one_line_exit_2(capsys, tmp_path) -> None:
    argv = ["run", "--model", "bp", "--suite", "denoise-smoke", "--out", str(tmp_path)]
    code, _, err = _run(capsys, *argv, "--task-arg", "epsilon=0.8")
    assert code == 2 and "epsilon=0.8 is invalid" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not list(tmp_path.iterdir())


def test_denoise_smoke_runs_end_to_end_from_python() -> None:
    from hbench.api import evaluate

    result = evaluate("bp", "denoise-smoke", in_process=True, progress=False)
    assert result.spec.suite_hash == SUITES["denoise-smoke"].spec_hash()
    assert result.spec.task_config == {"epsilon": 0.15, "target": "root"}
    table = result.table()
    in_sample = table[table["k_train"].astype(str) == table["k_test"].astype(str)]
    np.testing.assert_allclose(in_sample["kl_bp"].astype(float), 0.0, atol=1e-9)
    assert (in_sample["acc_bp"] < 1).all()  # the noise costs BP accuracy at every level


def test_denoise_smoke_runs_end_to_end_from_the_cli(capsys, tmp_path) -> None:
    argv = ["run", "--model", "bp", "--suite", "denoise-smoke", "--out", str(tmp_path)]
    code, _, err = _run(capsys, *argv)
    assert code == 0, err
    (path,) = tmp_path.glob("*.json")
    spec = json.loads(path.read_text(encoding="utf-8"))["spec"]
    assert spec["suite_name"] == "denoise-smoke" and spec["task"] == "denoise"
    assert spec["suite_hash"] == SUITES["denoise-smoke"].spec_hash()
    assert spec["task_config"]["epsilon"] == 0.15


@pytest.mark.parametrize(
    ("name", "grammar"),
    [("denoise-transition", "hierarchical"), ("denoise-transition-rhm", "rhm")],
)
def test_the_builtin_transition_sweeps_vary_epsilon_and_depth(tmp_path, name, grammar) -> None:
    sweep = load_sweep(builtin_sweeps()[name], out=tmp_path)
    points = {(cell.values["depth"], cell.values["task_args.epsilon"]) for cell in sweep.cells}
    assert len(points) == len(sweep.cells) == 44
    runs = [cell.spec.resolve() for cell in sweep.cells]
    assert {run.suite.grammar for run in runs} == {grammar}
    assert {run.suite.depth for run in runs} == {2, 3, 4, 5}
    assert len({run.task_config.epsilon for run in runs}) == 11
    assert {(run.suite.task, run.task_config.target) for run in runs} == {("denoise", "root")}


SWEEP = """
name = "tiny-transition"
suite = "denoise-smoke"
out = "{out}"

[set]
P = 16
n_test = 512
n_ood = 0
train_filters = [0]
test_filters = [0]

[axes]
depth = [2, 3]
"task_args.epsilon" = [0.0, 0.5]

[[models]]
name = "bp"
"""


def test_a_sweep_over_epsilon_and_its_transition_analysis(capsys, tmp_path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text(SWEEP.format(out=tmp_path / "out"), encoding="utf-8")
    code, _, err = _run(capsys, "sweep", str(path), "--workers", "1")
    assert code == 0, err
    points = collect(tmp_path / "out" / "results")
    assert {(p.depth, p.epsilon) for p in points} == {(2, 0.0), (2, 0.5), (3, 0.0), (3, 0.5)}
    exact = {(p.depth, p.epsilon): p.acc for p in points}
    assert exact[2, 0.0] == exact[3, 0.0] == 1.0  # the paper's grammar is unambiguous
    assert exact[2, 0.5] < 0.6 and exact[3, 0.5] < 0.6
    assert all(p.acc == p.acc_bp for p in points)
    found = transition_report(tmp_path / "out")
    assert "depth \\ epsilon" in found.text
    files = found.write(tmp_path / "figure.png")
    assert [f.name for f in files[:2]] == ["figure.json", "figure.png"]


def test_the_transition_analysis_needs_denoise_results(tmp_path) -> None:
    with pytest.raises(UsageError, match="no in-sample results of task denoise"):
        transition_report(tmp_path)


def test_list_suites_shows_the_options_a_suite_fixes(capsys) -> None:
    code, out, _ = _run(capsys, "list", "suites")
    row = next(line for line in out.splitlines() if line.startswith("denoise-cpu "))
    assert code == 0 and " denoise epsilon=0.15 target=root " in row
    code, out, _ = _run(capsys, "list", "suites", "--json")
    assert json.loads(out)["denoise-cpu"]["task_args"] == DENOISE_TASK_ARGS
