"""hbench: does a network learn the exact inference algorithm of a hierarchical grammar?

The public API: the data contracts between plugins, the registry of installed plugins, the
marker plugins use for their hooks, and the errors hbench reports.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

from hbench.contracts import MASKED, Filter, GenerativeModel, Oracle, Posteriors, Sample
from hbench.errors import HbenchError, PluginError, UsageError
from hbench.hookspecs import hookimpl
from hbench.registry import Registration, Registry, get_registry, load_registry

__all__ = [
    "MASKED",
    "Filter",
    "GenerativeModel",
    "HbenchError",
    "Oracle",
    "PluginError",
    "Posteriors",
    "Registration",
    "Registry",
    "Sample",
    "UsageError",
    "__version__",
    "get_registry",
    "hookimpl",
    "load_registry",
]
