"""The two kinds of failure hbench tells apart, so the CLI can pick the exit code.

A `UsageError` is the user's to fix (a bad option, an impossible size, a missing file): the CLI
prints its one-line message and exits with code 2, without a traceback. A `PluginError` is a
plugin's fault (it broke the contract or crashed): exit code 1, naming the plugin.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


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


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """The choice closest to a misspelt ``name``, or None: every "did you mean" of hbench."""
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=1)
    return close[0] if close else None


def unknown(kind: str, name: str, choices: Iterable[str]) -> UsageError:
    """``unknown suite 'cpuu'; did you mean 'cpu'? available: smoke, cpu, paper``."""
    choices = list(choices)
    close = did_you_mean(name, choices)
    hint = f"; did you mean {close!r}?" if close else ";"
    return UsageError(f"unknown {kind} {name!r}{hint} available: {', '.join(choices)}")


def location(loc: Iterable[int | str]) -> str:
    """A pydantic error location as a field path: ``metrics[3].kl_bp``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def pydantic_message(error: Mapping[str, Any]) -> str:
    """One pydantic error's message in hbench's words (``must be``, no "Value error, ")."""
    message = str(error["msg"]).removeprefix("Value error, ")
    return message.replace("Input should be", "must be")
