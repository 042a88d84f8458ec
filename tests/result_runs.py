"""Result objects for tests: a hand-made one (`make_result`) and real smoke-suite runs."""

from __future__ import annotations

import json
from pathlib import Path

from hbench.registry.suites import SUITES
from hbench.results import LevelMetrics, ResolvedSpec, RunResult, Timing, collect_environment
from hbench.run.execute import execute
from hbench.run.spec import RunSpec
from hbench.suites import parse_value


def metrics(seed: int, k_train: int, k_test: int | str, acc: float | None) -> LevelMetrics:
    return LevelMetrics(
        seed=seed,
        k_train=k_train,
        k_test=k_test,
        acc=acc,
        acc_bp=None if acc is None else 0.75,
        acc_bp_train=None if acc is None else 0.7,
        chance=0.25,
        kl_bp=0.1,
        kl_bp_train=0.2,
        agree=0.9,
        agree_train=0.8,
        n_queries=16,
    )


def make_result(model: str = "mlp", created: str = "2024-03-01T12:34:56+00:00") -> RunResult:
    suite = SUITES["smoke"]
    return RunResult(
        spec=ResolvedSpec(
            suite=suite.model_dump(),
            suite_name=suite.name,
            suite_hash=suite.spec_hash(),
            overrides={"P": 64},
            task="root",
            task_config={},
            model=model,
            model_config={"width": 32},
            train_filters=[1],
            test_filters=[1, 2],
            seeds=[0],
            device="cpu",
        ),
        privileged=False,
        metrics=[metrics(0, 1, 1, 0.5), metrics(0, 1, 2, 0.75), metrics(0, 1, "ood", None)],
        headline={"normalised_accuracy": {"mean": 0.5, "stderr": 0.0, "per_seed": [0.5]}},
        timings=[Timing(seed=0, k_train=1, fit_s=1.5, predict_s=0.25, oracle_s=0.125)],
        environment=collect_environment([{"name": "tree", "distribution": "hbench"}], "cpu"),
        created=created,
        wall_s=2.0,
    )


def smoke_result(model: str, task: str = "root", seeds: str = "[0, 1]", **overrides):
    """A real run on the smoke suite (a second or less for the baselines), its model isolated
    in a worker process as in ``hbench run``."""
    overrides = {"task": task, "seeds": json.loads(seeds), **overrides}
    overrides = {key: parse_value(v) if isinstance(v, str) else v for key, v in overrides.items()}
    overrides["task"] = task
    return execute(RunSpec(model=model, suite="smoke", overrides=overrides)).result


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, to show that nothing changed."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
