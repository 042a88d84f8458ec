"""The sandbox around a registered model: each hostile plugin of tests/plugins/cheats (one per
attack) scores like a model that learned nothing or fails its fit in one line, and the harness
stays healthy. Without bubblewrap these tests skip, except in CI (``HBENCH_CI``), where a
missing sandbox is a failure."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

import hbench.registry.registry
from hbench.errors import PluginError
from hbench.registry.registry import Registry, load_registry
from hbench.results import RunResult
from hbench.run.harness import Harness
from hbench.run.spec import RunSpec
from hbench.run.worker.sandbox import SANDBOX_ENV, probe

CHEATS = Path(__file__).resolve().parents[1] / "plugins" / "cheats" / "hbench_cheats.py"
VERSION, WHY_NOT = probe()

#: CI sets HBENCH_CI: there a missing sandbox is a failure, not a skip.
pytestmark = pytest.mark.skipif(
    VERSION is None and not os.environ.get("HBENCH_CI"), reason=f"no sandbox: {WHY_NOT}"
)


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Registry:
    """The cheats installed as a plugin outside hbench's tree (as in test_isolation)."""
    assert VERSION is not None, f"HBENCH_CI is set but the sandbox cannot run: {WHY_NOT}"
    folder = tmp_path_factory.mktemp("third_party")
    shutil.copy(CHEATS, folder / CHEATS.name)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
        patch.setenv("PYTHONPATH", os.pathsep.join(paths))
        patch.delenv(SANDBOX_ENV, raising=False)
        module = importlib.import_module("hbench_cheats")
        loaded = load_registry(extra_plugins=[("cheats", module)])
        patch.setattr(hbench.registry.registry, "_default", loaded)
        yield loaded
    sys.modules.pop("hbench_cheats", None)


#: One seed, two training levels, few questions: every attack runs in seconds.
SMALL = {"seeds": [0], "train_filters": [0, 2], "n_test": 64, "n_ood": 0}


def run(registry: Registry, model: str, model_args: dict | None = None, **options) -> RunResult:
    spec = RunSpec(model=model, suite="smoke", overrides=SMALL, model_args=model_args or {})
    return Harness(spec, registry).run(**{"fit_timeout": 60, **options})


def in_sample(result: RunResult) -> float:
    cells = [m for m in result.metrics if m.k_test == m.k_train]
    return float(np.mean([(m.acc - m.chance) / (m.acc_bp - m.chance) for m in cells]))


def healthy(registry: Registry) -> None:
    """The harness still runs an honest model, in the sandbox, afterwards."""
    result = run(registry, "naive-bayes")
    assert result.sandbox["kind"] == "bubblewrap" and result.audit == []


def test_an_honest_model_runs_in_the_sandbox_and_the_result_records_it(registry) -> None:
    result = run(registry, "naive-bayes", jobs=2)
    sandbox = result.sandbox
    assert result.isolation == "process" and sandbox["kind"] == "bubblewrap"
    assert sandbox["version"] == VERSION
    assert {"user", "pid", "net", "ipc", "uts"} <= set(sandbox["namespaces"])
    assert sandbox["limits"]["fit_timeout_s"] == 60 and sandbox["limits"]["core_dumps"] is False
    same = run(registry, "naive-bayes", in_process=True)
    assert same.sandbox["kind"] == "none"
    assert [m.acc for m in same.metrics] == [m.acc for m in result.metrics]


@pytest.mark.parametrize("template", ["1", "0"])
def test_each_fit_has_namespaces_folders_and_an_environment_of_its_own(
    registry, template, monkeypatch
) -> None:
    """Forked from the run's template (or, without one, a fresh interpreter per fit): each fit
    is process 1 of its own pid namespace, with a clean environment, an empty /tmp and home,
    and none of the working folder's files."""
    monkeypatch.setenv("HBENCH_WORKER_TEMPLATE", template)
    monkeypatch.setenv("HBENCH_SECRET_OF_THE_HARNESS", "42")
    seen: list[dict] = []
    look = {"look": str(Path.cwd()).replace("/", ":")}
    run(registry, "inside", look, jobs=2, on_fit=lambda o: seen.append(o.report.resolved_config))
    assert len(seen) == 2
    assert all(s["pid"] == 1 for s in seen) and seen[0]["draw"] != seen[1]["draw"]
    if template == "1":  # two forks of one template, in namespaces below the template's
        assert seen[0]["outer"] != seen[1]["outer"]
    # what a plugin or a checkout installed below /tmp needs, read-only, and nothing else
    plugin = Path(importlib.import_module("hbench_cheats").__file__).parts
    below_tmp = {
        Path(p).resolve().parts[2]
        for p in [*sys.path, importlib.import_module("hbench").__file__]
        if len(Path(p).resolve().parts) > 2 and Path(p).resolve().parts[1] == "tmp"
    } | {plugin[2]}
    for s in seen:
        assert "HBENCH_SECRET_OF_THE_HARNESS" not in s["env"] and s["home"] == "/scratch"
        assert s["cwd"] == str(Path.cwd())  # where a relative path of an option resolves
        assert set(s["tmp"]) <= below_tmp and s["host"] != os.uname().nodename
        assert not any(name in s["root"] for name in ("home", "var", "srv", "mnt"))
        # of the working folder, the packages and the interpreter at most: no files of its own
        assert all((Path.cwd() / name).is_dir() for name in s["look"] or [])
        assert not {".git", "results", "docs", "leaderboards"} & set(s["look"] or [])


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("memory-reader", "no other process's memory is readable"),
        ("audit-blinder", "nothing readable"),
        ("child-reader", "the child read nothing"),
        ("stack-cheat", "no Harness on the call stack"),
    ],
)
def test_a_model_cannot_read_the_harness_or_another_process(registry, model, message) -> None:
    with pytest.raises(PluginError, match=rf"{model}.*failed in fit: NothingFound: {message}"):
        run(registry, model)
    healthy(registry)


def test_a_model_cannot_write_into_the_installation_or_the_working_folder(
    registry, tmp_path
) -> None:
    import hbench

    folder = tmp_path / "work"
    folder.mkdir()
    result = run(registry, "writer", {"folder": str(folder)})
    assert result.sandbox["kind"] == "bubblewrap"
    assert list(folder.iterdir()) == []
    package = Path(hbench.__file__).parent
    assert not (package / "hbench_cheats_was_here.py").exists()
    assert not (Path(np.__file__).parent.parent / "hbench_cheats_was_here.py").exists()


def leftovers() -> list[int]:
    """Processes `Leaver` started that still run."""
    mark = ["sleep", importlib.import_module("hbench_cheats").LEAVER_SLEEP]
    return [
        p.pid for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [])[-2:] == mark
    ]


#: A harness in a process of its own whose output is a pipe: its reader waits until every
#: process holding the pipe ends.
SCRIPT = """
import hbench_cheats
from hbench.registry.registry import load_registry
from hbench.run.harness import Harness
from hbench.run.spec import RunSpec

registry = load_registry(extra_plugins=[("cheats", hbench_cheats)])
spec = RunSpec(model="leaver", suite="smoke", overrides={SMALL!r})
print(Harness(spec, registry).run().sandbox["kind"], flush=True)
"""


def test_processes_a_model_leaves_end_with_its_fit_and_never_hold_the_output(registry) -> None:
    result = run(registry, "leaver")
    assert in_sample(result) < 0.5
    assert leftovers() == []
    script = SCRIPT.replace("{SMALL!r}", repr(SMALL))
    done = subprocess.run(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, timeout=300
    )
    assert done.returncode == 0 and done.stdout.split() == ["bubblewrap"]
    assert leftovers() == []


@pytest.mark.parametrize("stage", ["fit", "predict"])
def test_an_endless_fit_or_predict_is_ended_at_its_time_limit(registry, stage) -> None:
    start = time.monotonic()
    line = r"model 'endless' .*fit \(seed 0, level \d\) ran past its time limit of 3 s"
    with pytest.raises(PluginError, match=line):
        run(registry, "endless", {"stage": stage}, fit_timeout=3)
    assert time.monotonic() - start < 60
    healthy(registry)


def test_a_memory_bomb_is_ended_at_its_memory_limit(registry) -> None:
    line = r"model 'memory-bomb' .*fit \(seed 0, level \d\) went past its memory limit of 1\.0 GiB"
    with pytest.raises(PluginError, match=line):
        run(registry, "memory-bomb", memory_per_fit=1 << 30)
    healthy(registry)


def test_saved_models_are_written_through_the_sandbox(registry, tmp_path) -> None:
    from hbench.run.execute import execute

    spec = RunSpec(model="saver", suite="smoke", overrides=SMALL)
    done = execute(spec, registry=registry, out=tmp_path, save_models=True)
    result, path = done.result, done.path
    assert result.sandbox["kind"] == "bubblewrap" and len(result.saved_models) == 2
    for saved in result.saved_models:
        assert np.load(tmp_path / saved.path).shape == (result.spec.suite["q"],)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, f"{path.stem}_models"])


@pytest.mark.parametrize("existing", [False, True])
def test_a_relative_save_path_is_written_into_the_working_folder(
    registry, tmp_path, monkeypatch, capsys, existing
) -> None:
    """``save=mlm.pt`` names a file of the user's working folder (the harness sends it
    absolute), written through a staging folder: an atomic rename works, also over a file that
    is there (``--overwrite``), nothing else of the folder is exposed, and no staging folder
    stays behind."""
    pytest.importorskip("torch")
    from hbench.cli import main
    from hbench.results import read_result

    work = tmp_path / "work"
    work.mkdir()
    (work / "notes.txt").write_text("the user's\n")
    if existing:
        (work / "mlm.pt").write_bytes(b"an older model")
    monkeypatch.chdir(work)
    command = ["run", "--model", "transformer", "--suite", "smoke", "--set", "P=64"]
    command += ["--seeds", "0", "--train-filter", "0", "--out", "results", "--quiet"]
    for value in ("d_model=16", "n_layers=1", "d_ff=32", "epochs=1", "save=mlm.pt"):
        command += ["--model-arg", value]
    assert main([*command, *(["--overwrite"] if existing else [])]) == 0, capsys.readouterr()
    (path,) = (work / "results").glob("*.json")
    result = read_result(path)
    assert result.sandbox["kind"] == "bubblewrap" and result.audit == []
    assert result.spec.model_settings["save"] == "mlm.pt"  # recorded as the user gave it
    assert (work / "mlm.pt").stat().st_size > 1000
    assert sorted(p.name for p in work.iterdir()) == ["mlm.pt", "notes.txt", "results"]
    assert (work / "notes.txt").read_text() == "the user's\n"


def test_a_model_that_starts_processes_without_end_is_ended_at_its_process_limit(
    registry,
) -> None:
    # as root the template counts them; otherwise the kernel refuses the fork past the limit
    line = r"spawner.*fit \(seed 0, level \d\) went past its process limit of 40|BlockingIOError"
    with pytest.raises(PluginError, match=line):
        run(registry, "spawner", processes_per_fit=40)
    assert leftovers() == []
    healthy(registry)


def test_sigterm_to_the_parent_reaches_nobody(registry) -> None:
    result = run(registry, "parent-killer", jobs=2)
    assert result.sandbox["kind"] == "bubblewrap" and in_sample(result) < 0.5


def test_tmp_is_no_channel_between_fits(registry) -> None:
    seen: list = []
    run(registry, "channel", jobs=1, on_fit=lambda o: seen.append(o.report.resolved_config))
    assert len(seen) == 2 and all(s == {"seen": []} for s in seen)


def test_without_the_sandbox_the_result_and_the_command_say_so(
    registry, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv(SANDBOX_ENV, "0")
    result = run(registry, "naive-bayes")
    assert result.isolation == "process" and result.sandbox["kind"] == "none"
    assert "switched off" in result.sandbox["reason"]
    command = [sys.executable, "-m", "hbench", "run", "--model", "naive-bayes", "--suite"]
    command += ["smoke", "--seeds", "0", "--train-filter", "0", "--out", str(tmp_path), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("sandbox: none")]
    assert len(lines) == 1
    assert json.loads(done.stdout)["result"]["sandbox"]["kind"] == "none"


def test_a_working_folder_with_an_hbench_folder_does_not_shadow_hbench(
    registry, tmp_path, monkeypatch
) -> None:
    (tmp_path / "hbench").mkdir()
    (tmp_path / "hbench" / "__init__.py").write_text("raise ImportError('shadowed')\n")
    monkeypatch.chdir(tmp_path)
    for value in ("0", "1"):  # without the sandbox, and in it
        monkeypatch.setenv(SANDBOX_ENV, value)
        result = run(registry, "naive-bayes")
        assert result.audit == [] and result.isolation == "process"


def test_the_limits_are_options_of_hbench_run(registry, tmp_path, capsys) -> None:
    from hbench.cli import main
    from hbench.cli.run import byte_count

    assert byte_count("4G") == 4 << 30 and byte_count("4e9") == 4 * 10**9
    assert byte_count("512MiB") == 512 << 20 and byte_count("0") == 0
    command = ["run", "--model", "endless", "--suite", "smoke", "--seeds", "0"]
    command += ["--train-filter", "0", "--out", str(tmp_path / "out")]
    assert main([*command, "--fit-timeout", "2"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fit (seed 0, level 0) ran past its time limit of 2 s" in err[0]
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    for flag, value in (("--memory-per-fit", "lots"), ("--fit-timeout", "-1")):
        with pytest.raises(SystemExit) as stop:
            main([*command, flag, value])
        assert stop.value.code == 2
        assert value in capsys.readouterr().err


def test_the_limits_are_options_of_evaluate(registry) -> None:
    import hbench
    from hbench.errors import UsageError

    one = {"suite": "smoke", "seeds": [0], "train_filters": [0], "progress": False}
    with pytest.raises(PluginError, match=r"fit \(seed 0, level 0\) ran past its time limit"):
        hbench.evaluate("endless", fit_timeout=2, **one)
    with pytest.raises(UsageError, match="fit_timeout"):
        hbench.evaluate("endless", fit_timeout=-1, **one)
    result = hbench.evaluate("naive-bayes", memory_per_fit=2 << 30, **one)
    assert result.sandbox["limits"]["memory_bytes"] == 2 << 30
