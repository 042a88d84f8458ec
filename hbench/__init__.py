"""hbench: does a network learn the exact inference algorithm of a hierarchical grammar?

The public API, in three calls::

    result = hbench.evaluate("transformer", suite="cpu", task="root")   # or a model object
    train = hbench.task_data(suite="cpu", task="root", level=2, split="train")
    table = hbench.load_results("results")

and what a plugin needs: the data contracts (`Sample`, `Posteriors`, `TaskSpec`, `TaskData`,
`FitCallbacks`, ...), the `hookimpl` marker, and the errors. Every name is imported on first
use, so ``import hbench`` costs nothing: a model's worker process and the command line (which
handles Ctrl-C from its first instruction) load only what they use.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("hbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

#: Public names imported on first use: ``name -> module``.
_LAZY = {
    **dict.fromkeys(
        [
            "MASKED",
            "MetricInputs",
            "WHOLE_SEQUENCE",
            "Filter",
            "FitCallbacks",
            "GenerativeModel",
            "Model",
            "ModelBase",
            "Oracle",
            "Posteriors",
            "Sample",
            "Task",
            "TaskData",
            "TaskSpec",
        ],
        "hbench.contracts",
    ),
    **dict.fromkeys(["HbenchError", "PluginError", "UsageError"], "hbench.errors"),
    "hookimpl": "hbench.registry.hookspecs",
    "evaluate": "hbench.api",
    "analyze": "hbench.analysis.report",
    "MetricInputs": "hbench.metrics",
    "task_data": "hbench.api",
    "load_results": "hbench.results",
    "verify": "hbench.leaderboard.verify",
    "read_result": "hbench.results",
    "RunResult": "hbench.results",
    "RunSpec": "hbench.run.spec",
    "SUITES": "hbench.registry.suites",
    "Suite": "hbench.suites",
    "get_suite": "hbench.registry.suites",
    "Registration": "hbench.registry",
    "Registry": "hbench.registry",
    "get_registry": "hbench.registry",
    "load_registry": "hbench.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = [
    "MASKED",
    "SUITES",
    "WHOLE_SEQUENCE",
    "Filter",
    "FitCallbacks",
    "GenerativeModel",
    "HbenchError",
    "Model",
    "ModelBase",
    "Oracle",
    "PluginError",
    "Posteriors",
    "Registration",
    "Registry",
    "RunResult",
    "RunSpec",
    "Sample",
    "Suite",
    "Task",
    "TaskData",
    "TaskSpec",
    "UsageError",
    "__version__",
    "analyze",
    "evaluate",
    "get_registry",
    "get_suite",
    "hookimpl",
    "load_registry",
    "load_results",
    "read_result",
    "task_data",
    "verify",
]
