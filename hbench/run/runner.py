"""From a request to a validated, versioned `RunResult`: the harness plus the provenance
(suite hash, plugin versions, environment) that makes a result comparable and reproducible."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hbench.registry.registry import Registry, get_registry
from hbench.results import ResolvedSpec, RunResult, collect_environment
from hbench.run.harness import Harness, RunRequest


def plugins_involved(harness: Harness) -> list[dict]:
    """The distributions of every plugin item the run used, once each."""
    registry = harness.registry
    suite = harness.request.suite
    entries = [
        registry.get("grammar", suite.grammar),
        registry.get("filter", suite.filter),
        registry.get("oracle", suite.oracle),
        registry.get("task", suite.task),
        harness.model_entry,
    ]
    seen: dict[str, dict] = {}
    for entry in entries:
        seen.setdefault(
            entry.plugin,
            {"name": entry.plugin, "distribution": entry.distribution, "version": entry.version},
        )
    return list(seen.values())


def run_benchmark(
    request: RunRequest,
    *,
    registry: Registry | None = None,
    progress: Callable[[int], None] | None = None,
    save_dir: Path | None = None,
    fit_progress: Callable[[int, int, str], None] | None = None,
) -> RunResult:
    """Run the request and wrap the outcome with its full specification and environment.

    With ``save_dir`` every fitted model that can ``save`` itself is kept there; the paths in
    ``saved_models`` are then relative to ``save_dir``."""
    harness = Harness(request, registry or get_registry())
    outcome = harness.run(progress=progress, save_dir=save_dir, fit_progress=fit_progress)
    suite = request.suite
    device = _device_used(request.device)
    spec = ResolvedSpec(
        suite=suite.model_dump(mode="json"),
        suite_name=request.suite_name,
        suite_hash=suite.spec_hash(),
        overrides=dict(request.overrides),
        task=suite.task,
        task_config=harness.task_config.model_dump(mode="json"),
        model=request.model,
        model_config=harness.model_config.model_dump(mode="json"),
        train_filters=suite.train_levels,
        test_filters=suite.test_levels,
        seeds=list(suite.seeds),
        device=device,
    )
    return RunResult(
        spec=spec,
        privileged=harness.privileged,
        metrics=outcome["metrics"],
        headline=outcome["headline"],
        timings=outcome["timings"],
        environment=collect_environment(plugins_involved(harness), device),
        created=outcome["created"],
        wall_s=outcome["wall_s"],
        extra=outcome["extra"],
        saved_models=outcome["saved_models"],
        num_parameters=outcome.get("num_parameters"),
    )


def _device_used(choice: str) -> str:
    """The device a torch model would have used; without torch loaded, nothing ran on a GPU."""
    import sys

    if "torch" not in sys.modules:
        return "cpu"
    from hbench.run.devices import resolve_device

    return resolve_device(choice)
