"""The two kinds of failure hbench tells apart, so the CLI can pick the exit code.

A `UsageError` is the user's to fix (a bad option, an impossible size, a missing file): the CLI
prints its one-line message and exits with code 2, without a traceback. A `PluginError` is a
plugin's fault (it broke the contract or crashed): exit code 1, naming the plugin.
"""

from __future__ import annotations


class HbenchError(Exception):
    """Base class of the errors hbench reports as one clear line."""

    exit_code = 1


class UsageError(HbenchError):
    """Bad input: names the field, the value and what is allowed."""

    exit_code = 2


class PluginError(HbenchError):
    """A plugin failed to load, to register, or broke its contract."""

    exit_code = 1


def invalid(field: str, value: object, allowed: str) -> UsageError:
    """The one message shape for a bad value: ``field=value is invalid: allowed is ...``."""
    return UsageError(f"{field}={value!r} is invalid: {allowed}")
