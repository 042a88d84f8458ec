"""hbench: does a network learn the exact inference algorithm of a hierarchical grammar?

The public API: the data contracts between plugins, the task/model contract, suites, results,
the registry of installed plugins, the marker plugins use for their hooks, and the errors.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

from hbench.contracts import (
    MASKED,
    Filter,
    FitCallbacks,
    GenerativeModel,
    Model,
    ModelBase,
    Oracle,
    Posteriors,
    Sample,
    Task,
    TaskData,
    TaskSpec,
)
from hbench.errors import HbenchError, PluginError, UsageError
from hbench.registry.hookspecs import hookimpl
from hbench.registry.registry import Registration, Registry, get_registry, load_registry
from hbench.results import RunResult, load_results, read_result
from hbench.run.suites import SUITES, Suite, get_suite

__all__ = [
    "MASKED",
    "SUITES",
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
    "Sample",
    "Suite",
    "Task",
    "TaskData",
    "TaskSpec",
    "UsageError",
    "__version__",
    "get_registry",
    "get_suite",
    "hookimpl",
    "load_registry",
    "load_results",
    "read_result",
]
