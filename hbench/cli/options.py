"""What every command group shares: the help's examples, ``--json``, and typed argparse
options. A leaf module: command groups import it, and `hbench.cli.app` imports the groups."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence


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


#: The largest integer an option takes (seeds included): what a signed 64-bit integer holds,
#: as numpy, torch and JSON readers in other languages store them.
INT_MAX = (1 << 63) - 1


def positive_int(text: str) -> int:
    """argparse type of an integer >= 1 (and at most `INT_MAX`)."""
    return bounded_int(1, INT_MAX)(text)


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """argparse type of an integer in [low, high], e.g. ``--threads-per-fit`` (1..1024)."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip()) if len(text) <= 40 else None
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"expected an integer in [{low}, {high}], got {_short(text)!r}"
            )
        return value

    parse.__name__ = "integer"  # argparse names the type in "invalid integer value"
    return parse


def int_list(text: str) -> list[int]:
    """argparse type of comma-separated integers in [0, 2**63) (seeds).

    An empty item (``0,,1``) is refused: it is a typo, not a way to write nothing."""
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in parts):
        raise argparse.ArgumentTypeError(
            f"expected integers >= 0 separated by single commas like 0,1,2, got {_short(text)!r}"
        )
    try:
        values = [int(part) if len(part) <= 40 else -1 for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected integers like 0,1,2, got {_short(text)!r}"
        ) from None
    if min(values) < 0 or max(values) > INT_MAX:
        raise argparse.ArgumentTypeError(
            f"expected integers in [0, 2**63) like 0,1,2, got {_short(text)!r}"
        )
    return values


def _short(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters for a message (a 5000-digit value stays readable)."""
    return (
        text if len(text) <= limit else f"{text[: limit - 20]}...{text[-12:]} ({len(text)} chars)"
    )


def add_key_values(parser, flag: str, help: str) -> None:
    """A repeatable KEY=VALUE option (--model-arg, --grammar-arg, --set ...)."""
    parser.add_argument(
        flag, type=key_value, action="append", default=[], metavar="KEY=VALUE", help=help
    )
