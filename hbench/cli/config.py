"""``hbench run --config run.toml``: the options of a run in a TOML file, one key per option.

The keys are the options of ``hbench run`` with ``_`` for ``-`` (``threads_per_fit``), with
three spelled as in a sweep file: ``model_args`` and ``task_args`` (tables, for
``--model-arg``/``--task-arg``), ``set`` (a table of suite fields, for ``--set``) and
``train_filters`` (a list, for ``--train-filter``). Values are TOML's own types
(``seeds = [0, 1, 2]``, ``save_models = true``); each is checked exactly as its option would
be, so the file and the command line accept the same values. A flag on the command line wins
over the file; a key that is no option, or a value of the wrong type, is one line naming the
key (exit code 2) before any work.

```toml
model = "naive-bayes"
suite = "cpu"
seeds = [0, 1, 2]
train_filters = [0]
out = "runs"
set = { P = 4096, n_test = 5000 }
model_args = { smoothing = 0.5 }
```

The keys are read off the ``run`` parser, so an option added to ``hbench run`` is a key of the
file at once.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from hbench.errors import UsageError, did_you_mean

_log = logging.getLogger(__name__)

#: Config keys whose name differs from the option's argparse ``dest``.
RENAMED = {
    "model_arg": "model_args",
    "task_arg": "task_args",
    "train_filter": "train_filters",
}

#: Options that have no place in a file: where the report goes, and the file itself.
NOT_IN_FILE = {"help", "config", "json", "quiet", "verbose", "debug"}


class _Unset:
    """The default of an option the command line did not give: the file may fill it."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)

    def __str__(self) -> str:  # ``%(default)s`` in a help text
        return str(self.value)

    def __bool__(self) -> bool:  # read before `apply_config`, it still tests as its value
        return bool(self.value)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` (``run``) ``--config FILE``; call it after every other option is added,
    so that each default is marked as such (`apply_config` then tells a default from a value
    given on the command line) and ``--model`` may come from the file instead."""
    for action in parser._actions:
        if _key(action) is None:
            continue
        if action.required:
            action.required = False
            action.help = (action.help or "") + " (required here or in --config)"
            action.hbench_required = True  # type: ignore[attr-defined]
        if not isinstance(action, argparse._AppendAction):  # an append copies its list: `is`
            action.default = _Unset(action.default)
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="read the run's options from a TOML file (keys as the options; flags given here "
        "win): see the README",
    )
    parser.set_defaults(config_parser=parser)


def _key(action: argparse.Action) -> str | None:
    """The config key of an option, or None for one the file cannot set."""
    if not action.option_strings or action.dest in NOT_IN_FILE or action.dest is argparse.SUPPRESS:
        return None
    if action.default is argparse.SUPPRESS:  # the global flags
        return None
    return RENAMED.get(action.dest, action.dest)


def _given(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, bool]:
    """Per option ``dest``: whether the command line gave it."""
    given = {}
    for action in parser._actions:
        if _key(action) is None:
            continue
        value = getattr(args, action.dest, None)
        if isinstance(action, argparse._AppendAction):
            given[action.dest] = value is not action.default
        else:
            given[action.dest] = not isinstance(value, _Unset)
    return given


def apply_config(args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with the values of ``--config`` filled in where the command line gave none,
    and the other defaults unmarked; a missing required option is a `UsageError`."""
    parser = args.config_parser
    given = _given(parser, args)
    from_file = read_config(args.config, parser) if getattr(args, "config", None) else {}
    for action in parser._actions:
        if action.dest not in given:
            continue
        if not given[action.dest] and action.dest in from_file:
            setattr(args, action.dest, from_file[action.dest])
            _log.debug("--config sets %s=%r", action.dest, from_file[action.dest])
        value = getattr(args, action.dest)
        if isinstance(value, _Unset):
            setattr(args, action.dest, value.value)
        if getattr(action, "hbench_required", False) and getattr(args, action.dest) is None:
            flag = action.option_strings[-1]
            raise UsageError(
                f"{flag} is required: give it on the command line or as {_key(action)} = ..."
                " in --config"
            )
    return args


def _toml(path: Path, where: str) -> dict[str, Any]:
    from hbench.sweep.file import _toml as parse_toml

    if not path.is_file():
        raise UsageError(f"{where} does not exist" if not path.exists() else f"{where} is a folder")
    try:
        return parse_toml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where} cannot be read: {exc}") from None
    except (ValueError, RecursionError) as exc:  # tomllib.TOMLDecodeError
        raise UsageError(f"{where} is not valid TOML: {exc}") from None


def read_config(path: str | Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The file's values by option ``dest``, each checked and converted as its option's
    value would be; any problem is one `UsageError` naming the key."""
    where = f"--config {str(path)!r}"
    data = _toml(Path(path), where)
    actions = {_key(a): a for a in parser._actions if _key(a) is not None}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in actions:
            close = did_you_mean(key, actions)
            hint = f"did you mean {close!r}? " if close else ""
            raise UsageError(
                f"{where}: unknown key {key!r}; {hint}allowed: {', '.join(sorted(actions))}"
            )
        action = actions[key]
        try:
            values[action.dest] = _convert(action, value)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            raise UsageError(f"{where}: {key} = {_show(value)} is invalid: {exc}") from None
    return values


def _show(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert(action: argparse.Action, value: Any) -> Any:
    """A TOML value as the option's parsed value, through the option's own type and choices."""
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(value, bool):
            raise TypeError("expected true or false")
        return value if isinstance(action, argparse._StoreTrueAction) else not value
    if isinstance(action, argparse._AppendAction):
        from hbench.cli.options import key_value

        if action.type is key_value:
            if not isinstance(value, dict):
                raise TypeError("expected a table of options, e.g. { key = 1 }")
            return [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in value.items()]
        items = value if isinstance(value, list) else [value]
        return [_one(action, item) for item in items]
    if isinstance(value, list) and action.nargs is None:
        # an option that takes comma-separated values (seeds): the list, as the flag spells it
        if not all(_scalar(item) for item in value):
            raise TypeError("expected a list of single values")
        return _one(action, ",".join(_text(item) for item in value))
    return _one(action, value)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _one(action: argparse.Action, value: Any) -> Any:
    if isinstance(value, bool) or not _scalar(value):
        raise TypeError(f"expected a single {'value' if action.type else 'text'}")
    if action.type is None and not isinstance(value, str):
        raise TypeError("expected text in quotes")
    converted = action.type(_text(value)) if action.type is not None else value
    if action.choices is not None and converted not in action.choices:
        raise ValueError(f"expected one of {', '.join(map(str, action.choices))}")
    return converted
