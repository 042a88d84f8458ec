"""Executors: a local pool and Dask give the same results; resuming; failures; lost workers.

Dask tests need the ``distributed`` extra (CI installs it) and run on loopback only, each
bounded in time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hbench.cli import main

GRID = """
name = "grid"
suite = "smoke"
out = "{out}"

[set]
n_test = 64
n_ood = 32

[axes]
P = [128, 256]
train_filter = [0, 3]
seed = [0, 1]

[[models]]
name = "naive-bayes"

[[models]]
name = "bp"
axes = {{ P = [128], seed = [0] }}
resources = {{ GPU = 1 }}  # a LocalCluster offers what cells ask for, so they never wait
"""


def need_distributed() -> None:
    """Skip without the `distributed` extra, except in CI (HBENCH_CI), which installs it."""
    if os.environ.get("HBENCH_CI"):
        import distributed  # noqa: F401  a missing extra is a failure there
    else:
        pytest.importorskip("distributed")


def write(tmp_path: Path, text: str, out: str = "out") -> Path:
    path = tmp_path / f"{out}.toml"
    path.write_text(text.format(out=tmp_path / out), encoding="utf-8")
    return path


def result_files(folder: Path) -> dict[str, Path]:
    return {path.name: path for path in sorted((folder / "results").glob("*.json"))}


def metrics(path: Path) -> list:
    return json.loads(path.read_text(encoding="utf-8"))["metrics"]


def test_resume_runs_only_missing_cells(tmp_path, capsys):
    path = str(write(tmp_path, GRID))
    assert main(["sweep", path, "--workers", "2", "--quiet"]) == 0
    files = result_files(tmp_path / "out")
    assert len(files) == 8 + 2
    stamps = {name: file.stat().st_mtime_ns for name, file in files.items()}
    removed = sorted(files)[1:3]
    for name in removed:
        files[name].unlink()
    capsys.readouterr()
    assert main(["sweep", path, "--workers", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "10 cells, 8 already done, 2 to run" in out
    assert "ran 2 cell(s)" in out
    after = result_files(tmp_path / "out")
    assert sorted(after) == sorted(files)
    changed = sorted(name for name in after if after[name].stat().st_mtime_ns != stamps[name])
    assert changed == removed
    assert main(["sweep", path, "--workers", "2", "--quiet", "--overwrite"]) == 0
    assert "10 cells, 0 already done, 10 to run" in capsys.readouterr().out


def test_json_summary_names_every_cell_state_and_path(tmp_path, capsys, sleepy):
    text = GRID.replace('name = "bp"', 'name = "sleepy"\nargs = {{ fail = true }}')
    path = str(write(tmp_path, text))
    assert main(["sweep", path, "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["counts"] == {"to run": 10} and dry["dry_run"] is True
    assert main(["sweep", path, "--workers", "2", "--quiet", "--json"]) == 1
    first = json.loads(capsys.readouterr().out)
    assert first["counts"] == {"done": 8, "failed": 2}
    assert first["failures"] == str(tmp_path / "out" / "failures.jsonl")
    done = [cell for cell in first["cells"] if cell["state"] == "done"]
    assert sorted(Path(cell["path"]).name for cell in done) == sorted(
        result_files(tmp_path / "out")
    )
    failed = [cell for cell in first["cells"] if cell["state"] == "failed"]
    assert all(c["label"] == "sleepy" and "asked to fail" in c["error"] for c in failed)
    assert failed[0]["values"] == {"P": 128, "train_filter": 0, "seed": 0}

    assert main(["--json", "sweep", path, "--workers", "2", "--quiet"]) == 1
    again = json.loads(capsys.readouterr().out)
    assert again["counts"] == {"skipped": 8, "failed": 2}
    skipped = [cell for cell in again["cells"] if cell["state"] == "skipped"]
    assert sorted(c["path"] for c in skipped) == sorted(c["path"] for c in done)


def test_failed_cell_is_listed_and_the_rest_completes(tmp_path, capsys, sleepy):
    text = GRID.replace('name = "bp"', 'name = "sleepy"\nargs = {{ fail = true }}')
    path = str(write(tmp_path, text))
    assert main(["sweep", path, "--workers", "2", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "2 cell(s) failed" in out
    assert "sleepy P=128 train_filter=0 seed=0: PluginError: model 'sleepy'" in out
    assert "asked to fail" in out
    assert len(result_files(tmp_path / "out")) == 8
    failures = (tmp_path / "out" / "failures.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["model"] for line in failures] == ["sleepy", "sleepy"]


def test_local_and_dask_give_identical_results(tmp_path, capsys):
    need_distributed()
    assert main(["sweep", str(write(tmp_path, GRID, "local")), "--workers", "2", "--quiet"]) == 0
    args = ["sweep", str(write(tmp_path, GRID, "dask")), "--quiet"]
    assert main([*args, "--executor", "dask", "--workers", "2"]) == 0
    local, dask = result_files(tmp_path / "local"), result_files(tmp_path / "dask")
    assert len(local) == 10 and sorted(local) == sorted(dask)
    for name in local:
        assert metrics(local[name]) == metrics(dask[name]), name


def test_dask_unreachable_scheduler_is_a_usage_error(tmp_path, capsys):
    need_distributed()
    path = str(write(tmp_path, GRID))
    args = ["sweep", path, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9"]
    code = main([*args, "--connect-timeout", "2"])
    assert code == 2
    assert "--scheduler='tcp://127.0.0.1:9' is invalid" in capsys.readouterr().err


def host_pid(mark: str, sweep: int) -> int:
    """The pid of the fit that left ``mark`` (`sleepy_plugin.host_pid`: a sandboxed fit
    numbers itself in a pid namespace of its own)."""
    from hbench_sleepy_test import host_pid as find

    return find(mark, sweep)


def _fit_of(mark: str) -> str:
    """Which process left ``mark``: its pid and pid namespace."""
    return "-".join(mark.split("-")[:2])


def _worker_of(pid: int, sweep: int) -> int:
    """The sweep's worker process that ``pid`` runs in: ``pid`` itself, or its ancestor just
    below the sweep when the model is isolated in a process of its own."""
    import psutil

    process = psutil.Process(pid)
    while process.ppid() != sweep:
        process = process.parent()
        assert process is not None, f"{pid} is not below the sweep {sweep}"
    return process.pid


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_sweep_survives_a_killed_worker(tmp_path, sleepy, executor):
    """Kill the worker process running a cell: the cell reruns elsewhere, each result once."""
    if executor == "dask":
        need_distributed()
    text = """
suite = "smoke"
out = "{out}"
[set]
n_test = 32
n_ood = 0
[axes]
train_filter = [0]
seed = [0, 1, 2, 3]
[[models]]
name = "sleepy"
args = {{ seconds = 2.0, marks = "{marks}" }}
"""
    path = write(tmp_path, text.replace("{marks}", str(sleepy)))
    command = [sys.executable, "-m", "hbench", "sweep", str(path), "--quiet"]
    command += ["--executor", executor, "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while not any(sleepy.iterdir()):
            assert time.monotonic() < deadline, "no cell started within 90 s"
            assert process.poll() is None, process.stdout.read()
            time.sleep(0.05)
        first = next(sleepy.iterdir()).name
        victim = _worker_of(host_pid(first, process.pid), process.pid)
        fitting = _fit_of(first)
        os.kill(victim, signal.SIGKILL)
        output, _ = process.communicate(timeout=150)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    files = result_files(tmp_path / "out")
    assert len(files) == 4
    seeds = sorted(
        json.loads(p.read_text(encoding="utf-8"))["spec"]["seeds"][0] for p in files.values()
    )
    assert seeds == [0, 1, 2, 3]
    starts = [_fit_of(mark.name) for mark in sleepy.iterdir()]
    assert len(starts) >= 5, starts  # four cells, and the killed one once more
    assert fitting in starts and any(fit != fitting for fit in starts)
    assert "ran 4 cell(s)" in output


SLOW = """
suite = "smoke"
out = "{out}"
[set]
n_test = 32
n_ood = 0
[axes]
train_filter = [0]
seed = [0, 1, 2, 3]
[[models]]
name = "sleepy"
args = {{ seconds = 60.0, marks = "{marks}" }}
"""


def _gone(pids: set[int], seconds: float = 15.0) -> set[int]:
    """The pids still alive (zombies count as gone) after waiting up to ``seconds``."""
    import psutil

    def alive(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    deadline = time.monotonic() + seconds
    while {pid for pid in pids if alive(pid)} and time.monotonic() < deadline:
        time.sleep(0.1)
    return {pid for pid in pids if alive(pid)}


def _start_slow_sweep(tmp_path, sleepy) -> tuple[subprocess.Popen, set[int]]:
    path = write(tmp_path, SLOW.replace("{marks}", str(sleepy)))
    command = [sys.executable, "-m", "hbench", "sweep", str(path), "--quiet", "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    while len(list(sleepy.iterdir())) < 2:
        assert time.monotonic() < deadline, "two cells did not start within 90 s"
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.05)
    workers = {host_pid(mark.name, process.pid) for mark in sleepy.iterdir()}
    return process, workers


@pytest.mark.parametrize(
    "signum", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=["kill", "term", "int"]
)
def test_a_stopped_or_killed_sweep_leaves_no_worker_behind(tmp_path, sleepy, signum):
    process, workers = _start_slow_sweep(tmp_path, sleepy)
    try:
        process.send_signal(signum)
        output, _ = process.communicate(timeout=60)
        assert _gone(workers) == set()
    finally:
        process.kill()
        for pid in _gone(workers, 0):
            os.kill(pid, signal.SIGKILL)
    if signum != signal.SIGKILL:
        assert process.returncode == {signal.SIGTERM: 143, signal.SIGINT: 130}[signum]
        assert "Traceback" not in output, output
    leftovers = [p.name for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
