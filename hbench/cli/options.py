"""What every command group shares: the help's examples, ``--json``, and typed argparse
options. A leaf module: command groups import it, and `hbench.cli.app` imports the groups."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def examples(
    parser: argparse.ArgumentParser, lines: Sequence[str], description: str | None = None
) -> argparse.ArgumentParser:
    """Give a command's ``--help`` its one-line description and a few examples.

    ``lines`` are shown as written, each under ``examples:`` (a trailing ``# comment`` says what
    it does); ``description`` defaults to the command's ``help=`` one-liner."""
    if description is not None:
        parser.description = description
    parser.epilog = "examples:\n" + "\n".join(f"  {line}" for line in lines)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def json_flag(parser: argparse.ArgumentParser, help: str = "print JSON") -> None:
    """Give a command ``--json``, which also works before its name (``hbench --json CMD``).

    A command that adds its own ``--json`` (``action="store_true"``) gets the same behaviour
    from `build_parser`; this is the short way to add one."""
    parser.add_argument("--json", action="store_true", help=help)


def key_value(text: str) -> tuple[str, str]:
    """argparse type of a KEY=VALUE option."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def positive_int(text: str) -> int:
    """argparse type of an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def int_list(text: str) -> list[int]:
    """argparse type of comma-separated integers >= 0 (seeds)."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 0,1,2, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected integers >= 0 like 0,1,2, got {text!r}")
    return values


def add_key_values(parser, flag: str, help: str) -> None:
    """A repeatable KEY=VALUE option (--model-arg, --grammar-arg, --set ...)."""
    parser.add_argument(
        flag, type=key_value, action="append", default=[], metavar="KEY=VALUE", help=help
    )
