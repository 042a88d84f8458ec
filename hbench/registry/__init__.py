"""Plugins and what they registered: the hook specifications (`hookspecs`), importing entry
points each in its own guard (`loading`), and the registry that finds items by kind and name."""

from hbench.registry.hookspecs import hookimpl
from hbench.registry.registry import (
    KINDS,
    NoOptions,
    PluginInfo,
    Registration,
    Registry,
    get_registry,
    load_registry,
    reset_registry,
)

__all__ = [
    "KINDS",
    "NoOptions",
    "PluginInfo",
    "Registration",
    "Registry",
    "get_registry",
    "hookimpl",
    "load_registry",
    "reset_registry",
]
