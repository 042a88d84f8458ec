"""The runner: analyses called as library functions (no argparse); the dask executor gives the
local executor's evidence; the dry run's plan and estimate of compute."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import pytest
from result_runs import make_result

from hbench.cli import main
from hbench.errors import UsageError
from hbench.reproduce import make_plan
from hbench.reproduce.plan import THROUGHPUT, AnalysisPart
from hbench.reproduce.runner import Runner
from hbench.results import write_result
from hbench.run.journal import join_fits


def test_an_analysis_runs_through_its_function_without_argparse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("argparse was used")

    monkeypatch.setattr(argparse, "Namespace", refuse)
    monkeypatch.setattr(argparse, "ArgumentParser", refuse)
    (tmp_path / "runs").mkdir()
    result = make_result("prior")
    result = result.model_copy(
        update={"spec": result.spec.model_copy(update={"model_settings": {}})}
    )
    written = write_result(result, tmp_path / "runs")
    written.rename(tmp_path / "runs" / "root.json")
    runner = Runner(make_plan("smoke"), tmp_path, device="cpu", log=lambda line: None)

    part = AnalysisPart("mismatch", "root")
    assert runner.analysis(part) == "done (analyses/root_mismatch.json)"
    report = json.loads((tmp_path / "analyses" / "root_mismatch.json").read_text())
    assert report["analysis"] == "mismatch"
    assert report["figures"] == ["root_mismatch.png", "root_mismatch.pdf"]
    assert runner.analysis(part) == "already done (analyses/root_mismatch.json)"
    # an analysis that does not apply says why, and writes nothing
    skipped = runner.analysis(AnalysisPart("calibration", "root", {"sequences": 8}))
    assert skipped.startswith("skipped: ")
    assert not (tmp_path / "analyses" / "root_calibration.json").exists()
    assert runner.analysis(AnalysisPart("mismatch", "mlm")) == "skipped: run mlm is not finished"


# --- the dask executor ---------------------------------------------------------------------------


def need_distributed() -> None:
    """Skip without the `distributed` extra, except in CI (HBENCH_CI), which installs it."""
    if os.environ.get("HBENCH_CI"):
        import distributed  # noqa: F401  a missing extra is a failure there
    else:
        pytest.importorskip("distributed")


def tiny_plan():
    """The smoke plan cut to one run of two fits, one sweep of four cells and one analysis:
    every kind of part, in seconds."""
    plan = make_plan("smoke")
    root = dataclasses.replace(plan.run("root"), overrides={"train_filters": [0, 3]})
    return dataclasses.replace(
        plan,
        runs=[root],
        sweeps=[s for s in plan.sweeps if s.name == "sample-complexity"],
        analyses=[AnalysisPart("calibration", "root", {"sequences": 64})],
    )


def test_an_unreachable_scheduler_is_one_line_before_any_fit(tmp_path: Path) -> None:
    need_distributed()
    runner = Runner(
        tiny_plan(),
        tmp_path,
        device="cpu",
        log=lambda line: None,
        executor="dask",
        scheduler="tcp://127.0.0.1:9",
        connect_timeout=2,
    )
    with pytest.raises(UsageError, match=r"--scheduler='tcp://127.0.0.1:9' is invalid: no Dask"):
        runner.run_all()
    assert not (tmp_path / "runs").exists()


def test_joined_fits_are_the_whole_run(tmp_path: Path) -> None:
    """`join_fits` of a run's fits, each fitted alone, is the run fitted at once."""
    from hbench.run.harness import Harness

    runner = Runner(tiny_plan(), tmp_path, device="cpu")
    spec = runner.spec(runner.plan.runs[0])
    whole = Harness(spec).run(jobs=1)
    alone = [Harness(spec).run(jobs=1, fits=[fit]) for fit in spec.resolve().fits]
    joined = join_fits(alone, 1.0)
    assert joined.metrics == whole.metrics and joined.headline == whole.headline
    assert [(t.seed, t.k_train) for t in joined.timings] == [(0, 0), (0, 3)]
    assert joined.spec == whole.spec and joined.wall_s == 1.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--executor", "spark"], "--executor='spark' is invalid: one of local, dask"),
        (["--scheduler", "tcp://h:1"], "--scheduler='tcp://h:1' is invalid: only with --executor"),
        (["--executor", "dask", "--scheduler", "h"], "--scheduler='h' is invalid: an address"),
        (["--json"], "--json=True is invalid: only with --dry-run"),
    ],
)
def test_bad_executor_options_are_one_line(argv, message, tmp_path, capsys) -> None:
    assert main(["reproduce", "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


# --- the plan and its cost ---------------------------------------------------------------------


@pytest.mark.parametrize("scale", ["smoke", "cpu", "paper"])
def test_a_dry_run_prints_every_part_and_its_fits_and_writes_nothing(
    scale, tmp_path, capsys
) -> None:
    out = tmp_path / "r"
    assert main(["reproduce", "--scale", scale, "--out", str(out), "--dry-run", "--json"]) == 0
    outline = json.loads(capsys.readouterr().out)
    plan = make_plan(scale)
    assert [entry["part"] for entry in outline["parts"]] == plan.parts
    assert not out.exists() and list(tmp_path.iterdir()) == []
    speed = THROUGHPUT[scale]
    assert outline["unit"] == ("GPU" if scale == "paper" else "CPU core")
    runs = {entry["part"]: entry["fits"] for entry in outline["parts"]}
    for part in plan.runs:
        (row,) = runs[f"run {part.name}"]
        run = Runner(plan, out).spec(part).resolve()
        assert row["fits"] == len(run.fits) == len(row["levels"]) * len(row["seeds"])
        assert row["task"] == part.task and row["P"] == run.suite.budget(part.task)
        hours = row["fits"] * row["P"] * row["epochs"] / speed.per_task[part.task] / 3600
        assert row["hours"] == pytest.approx(hours, rel=1e-3)
    total = sum(row["hours"] for entry in outline["parts"] for row in entry["fits"])
    assert outline["hours"] == pytest.approx(total, rel=1e-3)
    assert outline["fits"] == sum(r["fits"] for entry in outline["parts"] for r in entry["fits"])
    assert main(["reproduce", "--scale", scale, "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert text.count("\nrun ") + text.count("\nsweep ") + text.count("\nanalysis ") == len(
        plan.parts
    )
    assert f"{outline['unit']} hours" in text and speed.source in text


def test_the_paper_plan_counts_its_sweeps_cells_and_their_minimum_steps() -> None:
    outline = Runner(make_plan("paper"), Path("unused")).outline()
    parts = {entry["part"]: entry for entry in outline["parts"]}
    cells = parts["sweep sample-complexity"]["fits"]
    assert sum(row["fits"] for row in cells) == 2 * 9 * 5 * 5  # transformer and naive Bayes
    assert {row["hours"] for row in cells if row["model"] == "naive-bayes"} == {0.0}
    finetune = [r for r in parts["sweep pretraining"]["fits"] if r["P"] == 256]
    # min_steps = 5000 at 8 steps an epoch (batch 32): 625 epochs, not the preset's 200
    assert {row["epochs"] for row in finetune} == {625}
    mlm = parts["run mlm"]["fits"][0]
    assert (mlm["P"], mlm["epochs"], mlm["fits"]) == (1 << 18, 2000, 15)
    assert outline["hours"] > 100  # GPU hours: the paper's scale needs a cluster


def test_results_of_cells_no_longer_planned_are_set_aside(tmp_path: Path) -> None:
    """A sweep folder left by another plan (another grammar, another grid) keeps only this
    plan's cells in ``results/``: the claims read every file there."""
    results = tmp_path / "sweeps" / "sample-complexity" / "results"
    results.mkdir(parents=True)
    for name in ("kept.json", "old.json"):
        (results / name).write_text("{}", encoding="utf-8")
    lines: list[str] = []
    runner = Runner(make_plan("smoke"), tmp_path, device="cpu", log=lines.append)
    runner._set_aside("stage", results, {"kept.json", "not-run-yet.json"})
    assert sorted(p.name for p in results.iterdir()) == ["kept.json"]
    assert (results.parent / "superseded" / "old.json").is_file()
    assert lines == [
        "  stage: 1 result(s) of other plans moved to sweeps/sample-complexity/superseded"
    ]
    runner._set_aside("stage", results, {"kept.json"})  # nothing stale: nothing logged
    assert len(lines) == 1
