"""``hbench reproduce``: the smoke scale end to end (every claim has a section with its
criterion, numbers and a verdict; figures in PNG and PDF; a rerun recomputes nothing), the
verdict logic on hand-made numbers, the report's escaping, and the up-front checks."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from hbench.cli import main
from hbench.reproduce import make_plan, reproduce
from hbench.reproduce.claims import CLAIMS, Claim, judge_all, kendall_tau
from hbench.reproduce.evidence import (
    HOLDS,
    INCONCLUSIVE,
    LEARNING,
    VERDICTS,
    Evidence,
    Verdict,
)
from hbench.reproduce.report import write_report
from hbench.reproduce.runner import Runner
from hbench.reproduce.sweeps import relocated, to_toml
from hbench.sweep.file import SweepFile, _toml


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("smoke")
    lines: list[str] = []
    reproduce("smoke", out, device="cpu", jobs=2, log=lines.append)
    return out, lines


def finished_files(out: Path) -> dict[Path, int]:
    """Every part's file with its modification time."""
    files = [*out.glob("runs/*.json"), *out.glob("sweeps/*/results/*.json")]
    files += [*out.glob("sweeps/*/*/results/*.json")]
    files += [*out.glob("analyses/*.json")]
    return {path: path.stat().st_mtime_ns for path in files}


def test_every_claim_has_a_section_with_criterion_numbers_and_verdict(smoke) -> None:
    out, _ = smoke
    text = (out / "REPORT.md").read_text(encoding="utf-8")
    sections = re.split(r"\n## (?=\d\. )", text)[1:]
    assert len(sections) == len(CLAIMS) == 9
    for number, section in enumerate(sections, start=1):
        assert section.startswith(f"{number}. ")
        assert "**Statement.**" in section and "**Criterion (pre-declared).**" in section
        found = re.findall(r"\*\*Verdict \((.+?)\): (.+?)\.\*\* (.+?) Decided by: ", section)
        assert found, section[:300]
        for _, verdict, reason in found:
            assert verdict in VERDICTS
            assert verdict in (INCONCLUSIVE, LEARNING)  # smoke is not decisive
            assert reason
        assert "|---|" in section  # the measured numbers
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('<section id="claim-') == 9


def test_figures_exist_as_png_and_pdf(smoke) -> None:
    out, _ = smoke
    text = (out / "REPORT.md").read_text(encoding="utf-8")
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", text)
    assert len(figures) >= 9
    for figure in figures:
        assert (out / figure).is_file(), figure
        assert (out / figure).with_suffix(".pdf").is_file(), figure
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"


def test_a_rerun_is_resumed_without_recomputation(smoke) -> None:
    out, _ = smoke
    before = finished_files(out)
    assert len(before) >= 8 + 4 + 4 + 3  # runs, analyses, sweep cells
    lines: list[str] = []
    reproduce("smoke", out, device="cpu", jobs=2, log=lines.append)
    assert finished_files(out) == before
    steps = [line for line in lines if line.startswith("[")]
    assert len(steps) == len(make_plan("smoke").parts)
    for line in steps:
        assert "already done" in line or "0 cell(s) run" in line, line


def test_a_finished_run_made_with_other_settings_is_refused(smoke, tmp_path, capsys) -> None:
    out, _ = smoke
    folder = tmp_path / "again"
    (folder / "runs").mkdir(parents=True)
    recorded = json.loads((out / "runs" / "mlm.json").read_text(encoding="utf-8"))
    del recorded["spec"]["model_config"]["train_masks"]  # as if the plugin gained it since
    (folder / "runs" / "mlm.json").write_text(json.dumps(recorded), encoding="utf-8")
    Runner(make_plan("smoke"), folder).check()  # the same run: reused
    recorded["spec"]["model_config"]["epochs_mlm"] = 99
    (folder / "runs" / "mlm.json").write_text(json.dumps(recorded), encoding="utf-8")
    assert main(["reproduce", "--scale", "smoke", "--out", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "runs/mlm.json was made with other settings than the smoke plan's" in err
    assert "(model option epochs_mlm: 99 there, 3 now)" in err
    assert sorted(p.name for p in folder.rglob("*")) == ["mlm.json", "runs"]  # nothing ran


@pytest.mark.parametrize("flag", ["--report-only", "--report"])  # argparse takes either
def test_a_redrawn_report_names_the_command_that_computes_it(
    smoke, tmp_path, monkeypatch, flag
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(smoke[0], folder)
    argv = ["reproduce", flag, "--scale", "smoke", "--out", str(folder)]
    monkeypatch.setattr(sys, "argv", ["hbench", *argv])
    assert main(argv) == 0
    text = (folder / "REPORT.md").read_text(encoding="utf-8")
    assert f"- Command: `hbench reproduce --scale smoke --out {folder}`" in text


def test_a_rerun_part_gets_fresh_analyses(smoke, tmp_path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(smoke[0], folder)
    (folder / "runs" / "mlm.json").unlink()  # to rerun it; its old analysis is still there
    (folder / "analyses" / "mlm_calibration.json").write_text("{}", encoding="utf-8")
    kept = (folder / "analyses" / "root_calibration.json").read_bytes()
    lines: list[str] = []
    reproduce("smoke", folder, device="cpu", jobs=2, log=lines.append)
    assert any("mlm: removed" in line and "earlier analyses" in line for line in lines)
    fresh = json.loads((folder / "analyses" / "mlm_calibration.json").read_text("utf-8"))
    assert fresh["result"].endswith("runs/mlm.json")  # made again, from the new run
    assert (folder / "analyses" / "root_calibration.json").read_bytes() == kept


def test_the_report_escapes_text(tmp_path) -> None:
    claim = Claim(1, "a <script>alert(1)</script> title", "Fig. 1", "x | y", "<b>", ["a|b"])
    claim.rows = [["<img src=x onerror=alert(1)>"]]
    claim.verdicts = [Verdict("<script>x</script>", HOLDS, "<i>why</i>", "a | b")]
    md, html = write_report(Evidence(tmp_path, make_plan("smoke")), [claim], "hbench <x>")
    page = html.read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<img src=x" not in page
    text = md.read_text(encoding="utf-8")
    assert "<script>" not in text and "<img" not in text and "a\\|b" in text


def test_the_report_prints_each_figure_with_its_caption(tmp_path) -> None:
    from hbench.analysis.common import pyplot
    from hbench.analysis.figures import save_figure

    ev = Evidence(tmp_path, make_plan("smoke"))
    ev.figures.mkdir(parents=True)
    shown = save_figure(pyplot().subplots()[0], ev.figures / "shown", "What <the> figure shows.")
    bare = save_figure(pyplot().subplots()[0], ev.figures / "bare")  # no caption: its name
    claim = Claim(1, "title", "Fig. 1", "statement", "criterion", ["a"])
    claim.verdicts = [Verdict("x", HOLDS, "why", "a")]
    claim.figures = [ev.relative(shown[0]), ev.relative(bare[0])]
    md, html = write_report(ev, [claim], "hbench x")
    text = md.read_text(encoding="utf-8")
    assert "What &lt;the> figure shows." in text
    page = html.read_text(encoding="utf-8")
    assert "<figcaption>What &lt;the&gt; figure shows. (" in page
    assert "<figcaption>figures/bare.png (" in page


def test_kendall_tau() -> None:
    assert kendall_tau([4, 3, 2, 1, 0], [4, 3, 2, 1, 0]) == 1.0
    assert kendall_tau([0, 1, 2, 3, 4], [4, 3, 2, 1, 0]) == -1.0
    assert kendall_tau([4, 2, 3, 0], [4, 3, 2, 1, 0]) == pytest.approx(4 / 6)


def test_claims_without_their_parts_are_inconclusive(tmp_path) -> None:
    evidence = Evidence(tmp_path, make_plan("cpu"))
    for claim in CLAIMS:
        section = claim(evidence)
        assert section.verdicts and section.verdict == INCONCLUSIVE
        assert all("missing evidence" in v.reason for v in section.verdicts)


def test_a_chained_sweep_moves_its_paths_into_the_folder(tmp_path) -> None:
    config = relocated(
        "cpu-pretraining-finetune", "results/sweeps/cpu-pretraining", tmp_path, "cpu"
    )
    assert config.out == str(tmp_path.resolve() / "finetune")
    inits = [entry.args.get("init") for entry in config.models]
    assert inits == [None, *[str(tmp_path.resolve() / "mlm_k0.pt")] * 2]
    assert {entry.device for entry in config.models} == {"cpu"}
    assert SweepFile.model_validate(_toml(to_toml(config))) == config


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--scale", "huge"], "--scale='huge' is invalid: one of smoke, cpu, paper"),
        (["--device", "tpu"], "--device='tpu' is invalid: one of auto, cpu, cuda"),
        (["--jobs", "0"], "--jobs='0' is invalid: an integer >= 1"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(argv, message, tmp_path, capsys) -> None:
    assert main(["reproduce", "--out", str(tmp_path / "r"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_an_out_that_is_a_file_is_refused(tmp_path, capsys) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["reproduce", "--out", str(target)]) == 2
    assert "--out=" in capsys.readouterr().err


def evidence_of(folder: Path, plan) -> dict:
    """What a reproduction's report is judged on, less what differs between any two runs of
    the same spec (times, dates, the folder's own paths)."""
    found: dict = {}
    for path in sorted(folder.glob("runs/*.json")) + sorted(folder.glob("sweeps/*/*/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        dynamics = data["extra"].get("dynamics", [])
        found[path.relative_to(folder).as_posix()] = (
            data["metrics"],
            data["headline"],
            data["saved_models"],
            [(d["seed"], d["k_train"], d["closest"]) for d in dynamics],
        )
    for path in sorted(folder.glob("analyses/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        found[path.name] = {k: v for k, v in data.items() if k not in ("result", "created")}
    for path in sorted(folder.glob("runs/*_models/*")):
        found[path.relative_to(folder).as_posix()] = "model"
    claims = judge_all(Evidence(folder, plan))
    found["claims"] = [
        ([(v.task, v.verdict, v.reason, v.deciding) for v in c.verdicts], c.rows) for c in claims
    ]
    return found


def test_the_dask_executor_gives_the_local_executors_evidence(smoke, tmp_path) -> None:
    """Part of the smoke plan (a run, a sweep, an analysis) on a Dask LocalCluster: the same
    files, numbers and verdicts as the local executor's smoke reproduction, and resumed."""
    if os.environ.get("HBENCH_CI"):
        import distributed  # noqa: F401  CI installs the extra: a skip is a failure there
    else:
        pytest.importorskip("distributed")
    full = make_plan("smoke")
    plan = dataclasses.replace(
        full,
        runs=[full.run("root")],
        sweeps=[part for part in full.sweeps if part.name == "sample-complexity"],
        analyses=[part for part in full.analyses if part.name == "root_calibration"],
    )
    local = tmp_path / "local"  # the fixture's files of these parts, made by the local executor
    for name in ("runs/root.json", "runs/root_models", "sweeps/sample-complexity"):
        copy = shutil.copytree if (smoke[0] / name).is_dir() else shutil.copy2
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        copy(smoke[0] / name, local / name)
    (local / "analyses").mkdir()
    shutil.copy2(smoke[0] / "analyses/root_calibration.json", local / "analyses")
    lines: list[str] = []
    dask = Runner(plan, tmp_path / "dask", device="cpu", jobs=2, log=lines.append, executor="dask")
    dask.run_all()
    assert "dask: 2 worker thread(s)" in lines
    assert not list((tmp_path / "dask" / "runs").glob(".models-*"))  # no staging left behind
    expected, spread = evidence_of(local, plan), evidence_of(tmp_path / "dask", plan)
    assert sorted(spread) == sorted(expected)
    assert len([key for key in expected if key.startswith("sweeps/")]) == 4
    assert len([key for key in expected if key.startswith("runs/root_models/")]) == 4
    for key in expected:
        assert spread[key] == expected[key], key
    # resumed on dask as on the local executor: nothing runs again, and no cluster is started
    before = finished_files(tmp_path / "dask")
    lines.clear()
    dask.run_all()
    assert finished_files(tmp_path / "dask") == before
    steps = [line for line in lines if line.startswith("[")]
    assert len(steps) == 3 and all("already done" in line for line in steps), steps
    assert not any(line.startswith("dask: ") for line in lines)
    (tmp_path / "dask" / "runs" / "root.json").unlink()  # one part to redo: on the cluster
    assert not dask._finished()
