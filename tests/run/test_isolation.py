"""The three cheats of a leaderboard's threat model, as third-party plugins: each is impossible in
an isolated worker or flagged by its audit, an official run makes the public grammar worthless,
and no leaderboard takes a flagged or in-process result (tests/plugins/cheats/hbench_cheats.py).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import hbench.registry.registry
from hbench.cli import main
from hbench.errors import PluginError, UsageError
from hbench.leaderboard import rules
from hbench.leaderboard.submission import submit
from hbench.registry.registry import Registry, load_registry
from hbench.results import RunResult, write_result
from hbench.run.harness import Harness
from hbench.run.spec import RunSpec
from hbench.run.worker.sandbox import SANDBOX_ENV, probe

CHEATS = Path(__file__).resolve().parents[1] / "plugins" / "cheats" / "hbench_cheats.py"
SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Registry:
    """The cheats installed as a plugin outside hbench's tree: importable here (``sys.path``)
    and in a worker (``PYTHONPATH``), and in the registry that validation consults."""
    folder = tmp_path_factory.mktemp("third_party")
    shutil.copy(CHEATS, folder / CHEATS.name)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        paths = [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])]
        patch.setenv("PYTHONPATH", os.pathsep.join(paths))
        module = importlib.import_module("hbench_cheats")
        loaded = load_registry(extra_plugins=[("cheats", module)])
        # validation and submission ask the process-wide registry which models are installed
        patch.setattr(hbench.registry.registry, "_default", loaded)
        yield loaded
    sys.modules.pop("hbench_cheats", None)


@pytest.fixture(autouse=True)
def smoke_has_a_board(monkeypatch) -> None:
    """The smoke suite runs in seconds; here it stands in for a leaderboard suite."""
    suites = ("smoke", *rules.leaderboard_suites())
    monkeypatch.setattr(rules, "leaderboard_suites", lambda: suites)


#: Grammars drawn once for the cheats' runs, replayed (not official) so that their scores are
#: reproducible (`test_an_official_run_draws_distinct_grammars_and_a_replay_is_identical`
#: draws its own).
GRAMMAR_SEEDS = [4_102_396_187_011, 77_305_116_592_437, 9_903_127_760_081]


def run(
    registry: Registry,
    model: str,
    *,
    in_process: bool = False,
    overrides: dict | None = None,
    **fields,
) -> RunResult:
    """A run on the smoke suite, seeds 0, 1, 2 unless ``overrides`` say otherwise."""
    spec = RunSpec(model=model, suite="smoke", overrides={"seeds": SEEDS, **(overrides or {})})
    return Harness(spec.model_copy(update=fields), registry).run(in_process=in_process)


def official(registry: Registry, model: str, **options) -> RunResult:
    """A run on grammars drawn as an official run's (`GRAMMAR_SEEDS`), replayed: not the
    public grammar, reproducible, and not official itself."""
    seeds = options.get("overrides", {}).get("seeds", SEEDS)
    grammars = GRAMMAR_SEEDS[: len(seeds)]
    return run(registry, model, grammar_seeds=grammars, **options)


def in_sample(result: RunResult) -> float:
    """Mean in-sample normalised accuracy over every seed and level."""
    cells = [m for m in result.metrics if m.k_test == m.k_train]
    return float(np.mean([(m.acc - m.chance) / (m.acc_bp - m.chance) for m in cells]))


def refused(path: Path, root: Path, message: str, capsys) -> None:
    """``submit --dry-run`` and ``validate --leaderboard`` both refuse ``path``, saying why."""
    with pytest.raises(UsageError, match=message):
        submit(path, root, dry_run=True)
    assert main(["submit", "--dry-run", str(path), "--root", str(root)]) == 2
    assert main(["validate", "--leaderboard", "--json", str(path)]) == 2
    (record,) = json.loads(capsys.readouterr().out)
    assert not record["ok"] and any(message in problem for problem in record["problems"])
    assert list(root.iterdir()) == []


def test_an_honest_model_runs_isolated_with_an_empty_audit_and_may_be_submitted(
    registry, tmp_path, capsys
) -> None:
    # drawn here (a replay is not official), with the seeds a ranked row needs
    result = run(registry, "naive-bayes", official=True, overrides={"seeds": list(range(5))})
    assert result.isolation == "process" and result.audit == []
    root = tmp_path / "board"
    root.mkdir()
    path = write_result(result, tmp_path)
    assert main(["submit", "--dry-run", str(path), "--root", str(root)]) == 0
    assert "passes every check" in capsys.readouterr().out


def test_the_public_grammar_cheat_is_flagged_and_worthless_in_an_official_run(
    registry, tmp_path, capsys
) -> None:
    public = run(registry, "grammar-cheat", overrides={"seeds": [0]})
    assert public.isolation == "process"
    assert "import hbench_tree" in public.audit and "import hbench.suites" in public.audit
    assert in_sample(public) > 0.95  # on the grammar everybody knows, the cheat is exact BP

    cheat = official(registry, "grammar-cheat")
    assert "import hbench_tree" in cheat.audit
    # a model that learns nothing, on the very same grammars and questions
    floor = official(registry, "prior", in_process=True)
    assert abs(in_sample(cheat) - in_sample(floor)) < 0.15

    root = tmp_path / "board"
    root.mkdir()
    refused(write_result(cheat, tmp_path), root, "audit='import hbench", capsys)


def test_the_audit_covers_predict_and_the_model_s_construction(registry) -> None:
    one = {"seeds": [0]}
    late = official(registry, "grammar-cheat", overrides=one, model_args={"stage": "predict"})
    assert "import hbench_tree" in late.audit and "import hbench.suites" in late.audit
    # a model may use the tree plugin's BP code on a grammar of its own, imported when it is
    # built; the suites and the registry's plugins are another matter
    early = official(registry, "grammar-cheat", overrides=one, model_args={"stage": "build"})
    assert "import hbench.suites" in early.audit
    assert not any(event.startswith("import hbench_tree") for event in early.audit)
    assert in_sample(early) < 0.2  # and the grammar it rebuilt is not the official one


def test_the_harness_is_not_on_a_worker_s_stack(registry, tmp_path, capsys) -> None:
    with pytest.raises(PluginError, match=r"stack-cheat.*failed in fit.*no Harness on the call"):
        official(registry, "stack-cheat")
    # in the harness's process the same model reads the exact answers: refused there
    debug = official(registry, "stack-cheat", in_process=True)
    assert debug.isolation == "in-process" and in_sample(debug) == pytest.approx(1.0)
    root = tmp_path / "board"
    root.mkdir()
    refused(write_result(debug, tmp_path), root, "isolation='in-process' is invalid", capsys)


def test_the_harness_is_not_among_a_worker_s_objects(registry, tmp_path, capsys) -> None:
    with pytest.raises(PluginError, match=r"data-cheat.*failed in fit.*no Harness among the live"):
        official(registry, "data-cheat")
    debug = official(registry, "data-cheat", in_process=True)
    budget = debug.spec.suite["P"]
    seen = debug.extra["resolved_model_config"]["sequences_seen"]
    assert seen == 65 * budget  # the budget broken 65 times over, in-process only
    root = tmp_path / "board"
    root.mkdir()
    refused(write_result(debug, tmp_path), root, "isolation='in-process' is invalid", capsys)


def test_reading_the_harness_process_s_memory_is_flagged(registry, monkeypatch) -> None:
    one = {"seeds": [0], "train_filters": [0]}
    if probe()[0] is not None:  # in the sandbox the harness is not there to read
        with pytest.raises(PluginError, match=r"parent-peek.*No such file.*/proc/0/maps"):
            official(registry, "parent-peek", overrides=one)
    monkeypatch.setenv(SANDBOX_ENV, "0")  # without it, the audit still sees the read
    result = official(registry, "parent-peek", overrides=one)
    assert result.sandbox["kind"] == "none"
    assert any(
        event.startswith("read /proc/") and event.endswith("/maps") for event in result.audit
    )
    honest = official(registry, "prior", overrides=one)
    assert honest.audit == []


def test_an_official_run_draws_distinct_grammars_and_a_replay_is_identical(registry) -> None:
    level = {"train_filters": [0]}
    first = run(registry, "naive-bayes", official=True, overrides=level)
    seeds = first.spec.grammar_seeds
    assert first.spec.official and len(seeds) == len(SEEDS) == len(set(seeds))
    again = run(registry, "naive-bayes", official=True, overrides=level)
    assert set(again.spec.grammar_seeds).isdisjoint(seeds)  # 63-bit draws do not repeat
    replay = run(registry, "naive-bayes", grammar_seeds=seeds, overrides=level)
    assert replay.spec.grammar_seeds == seeds and replay.isolation == "process"
    assert not replay.spec.official  # a replay is for debugging, never official
    assert [m.model_dump() for m in replay.metrics] == [m.model_dump() for m in first.metrics]
    assert replay.headline == first.headline


def test_an_in_process_run_from_the_command_line_is_refused(tmp_path, capsys) -> None:
    out = tmp_path / "runs"
    command = ["run", "--model", "prior", "--suite", "smoke", "--seeds", "0,1,2", "--official"]
    assert main([*command, "--in-process", "--out", str(out), "--json"]) == 0
    path = Path(json.loads(capsys.readouterr().out)["path"])
    root = tmp_path / "board"
    root.mkdir()
    refused(path, root, "isolation='in-process' is invalid", capsys)
