"""The ``hbench`` command line: the parser skeleton, the global flags, and how a command ends.

Each command group lives in its own module (`data`, `run`, `sweep`, `analyze`, `leaderboard`,
`new_plugin`) with ``add_parsers(sub, common)``, which adds its subparsers and returns
``{command name: handler}``; each imports its heavy dependencies inside its handlers, so
``hbench --help`` stays fast.

Usage errors (bad options, impossible sizes, missing or malformed files, an output that cannot
be written) print one line that names the flag, the value and what is allowed, and exit with
code 2. A plugin's failure, or any other unexpected error, prints one line and exits with code
1; ``--debug`` shows the traceback instead. Outputs are written to a temporary file and renamed,
so no command leaves a half-written file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType

from hbench import __version__

#: What runs a command: the parsed arguments in, the exit code out.
from hbench.cli import interrupt_behind
from hbench.cli.options import examples, json_flag
from hbench.errors import HbenchError, UsageError

Handler = Callable[[argparse.Namespace], int]

__all__ = ["build_parser", "examples", "json_flag", "main"]  # the helpers: `hbench.cli.options`


def command_groups() -> tuple[ModuleType, ...]:
    """The command groups, in the order of ``hbench --help``. Imported here, not at the top,
    so that importing `hbench.cli` stays light."""
    from hbench.cli import (
        analyze,
        completion,
        data,
        export,
        leaderboard,
        new_plugin,
        reproduce,
        run,
        sweep,
        verify,
    )

    groups = (data, run, sweep, analyze, export, reproduce, leaderboard, verify, new_plugin)
    return (*groups, completion)


#: The flags every command takes, before or after its name: (flags, argparse options).
GLOBAL_FLAGS: tuple[tuple[tuple[str, ...], dict], ...] = (
    (("-q", "--quiet"), {"action": "store_true", "help": "warnings only, no progress bars"}),
    (
        ("-v", "--verbose"),
        {"action": "count", "default": 0, "help": "log more: -v info, -vv debug"},
    ),
    (("--debug",), {"action": "store_true", "help": "show tracebacks of errors"}),
)

#: ``--json`` before the command; after it, each command that reports something has its own.
JSON_HELP = "print the report as JSON on stdout (commands that report something)"


def subparsers(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (command path, parser) below ``parser``, depth first: ("analyze probe", ...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield name, child
                for path, grandchild in subparsers(child):
                    yield f"{name} {path}", grandchild


def _global_json(parser: argparse.ArgumentParser) -> None:
    """Let ``hbench --json CMD`` reach each command's own ``--json``: its default becomes
    SUPPRESS (so it does not reset the global flag) and the command is marked as having one;
    a command without one refuses a global ``--json`` in `main`."""
    for _, child in subparsers(parser):
        for action in child._actions:
            if "--json" in action.option_strings:
                action.default = argparse.SUPPRESS
                child.set_defaults(json_supported=True)


def _common() -> argparse.ArgumentParser:
    """The global flags as a parent of every subparser. Their default is SUPPRESS there, so a
    flag given before the command (``hbench --quiet list suites``) is not reset by the
    subparser's default: argparse copies a subparser's namespace over the main one."""
    common = argparse.ArgumentParser(add_help=False)
    for flags, options in GLOBAL_FLAGS:
        common.add_argument(*flags, **{**options, "default": argparse.SUPPRESS})
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole ``hbench`` parser; each command's handler is its ``handler`` default."""
    parser = argparse.ArgumentParser(
        prog="hbench",
        description="Sequences from filtered tree grammars, their exact Bayes-optimal answers, "
        "and how close a model comes to them.",
    )
    parser.add_argument("--version", action="version", version=f"hbench {__version__}")
    for flags, options in GLOBAL_FLAGS:
        parser.add_argument(*flags, **options)
    parser.add_argument("--json", action="store_true", help=JSON_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common()
    for group in command_groups():
        for name, handler in group.add_parsers(sub, common).items():
            sub.choices[name].set_defaults(handler=handler)
    _global_json(parser)
    _describe(parser)
    return parser


#: Examples of the commands whose modules do not give their own yet (`examples` there wins).
EXAMPLES: dict[str, list[str]] = {
    "leaderboard": [
        "hbench leaderboard show --suite cpu --task root",
        "hbench leaderboard build",
        "hbench leaderboard check             # in CI: every table up to date",
    ],
    "leaderboard build": [
        "hbench leaderboard build",
        "hbench leaderboard build --root my-leaderboards",
    ],
    "leaderboard show": [
        "hbench leaderboard show",
        "hbench leaderboard show --suite cpu --task mlm",
    ],
    "leaderboard check": [
        "hbench leaderboard check",
        "hbench leaderboard check --root my-leaderboards",
    ],
    "validate": [
        "hbench validate results/*.json",
        "hbench validate results/run.json --root leaderboards",
    ],
    "submit": [
        "hbench submit results/<file>.json",
        "hbench submit results/<file>.json --root my-leaderboards",
    ],
}


def _describe(parser: argparse.ArgumentParser) -> None:
    """Every command's ``--help`` opens with its one-liner and ends with examples: a command
    without a description gets its ``help=`` text, one without examples those of `EXAMPLES`."""
    for path, child in subparsers(parser):
        if child.description is None:
            child.description = _one_liner(parser, path)
        if child.epilog is None and path in EXAMPLES:
            examples(child, EXAMPLES[path])


def _one_liner(parser: argparse.ArgumentParser, path: str) -> str | None:
    """The ``help=`` text a command was added with (argparse keeps it beside the parser)."""
    *parents, name = path.split()
    for parent in parents:
        parser = _children(parser)[parent]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name and choice.help:
                    return choice.help[0].upper() + choice.help[1:] + "."
    return None


def _children(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a batch system's time limit), raised where Ctrl-C raises
    KeyboardInterrupt, so that every command cleans up the same way for both: temporary files
    removed, workers stopped, finished work kept."""


#: Exit codes of an interrupted command: 128 + the signal's number, as a shell reports them.
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM raises `Terminated` in the main thread (elsewhere: unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hbench argv`` and return its exit code: 0, 1 (a failure), 2 (bad input), 130
    (Ctrl-C), 143 (SIGTERM). A closed stdout (``hbench list models | head -1``) ends it
    quietly with 0: the reader has what it wanted."""
    with sigterm_interrupts():
        try:
            try:
                code = _run(argv)
                sys.stdout.flush()  # here, where a closed pipe can still be caught
                return code
            except Exception as exc:  # an interrupt Python wrapped (while building the parser)
                interrupt = interrupt_behind(exc)
                if interrupt is None:
                    raise
                raise interrupt from None
        except BrokenPipeError:
            _discard_stdout()
            return 0
        except KeyboardInterrupt as exc:
            terminated = isinstance(exc, Terminated)
            what = "terminated (SIGTERM)" if terminated else "interrupted"
            print(f"hbench: {what}; nothing half-written was left behind", file=sys.stderr)
            return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush does not fail again
    ("Exception ignored ... BrokenPipeError") on the closed pipe."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _run(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # a shell asks for completions (see `hbench completion`)
        from hbench.cli.completion import complete

        complete(parser)
    args = parser.parse_args(argv)
    from hbench.cli.logs import configure_logging

    configure_logging(verbose=args.verbose, quiet=args.quiet)
    import logging

    options = {k: v for k, v in vars(args).items() if k not in ("handler", "config_parser")}
    logging.getLogger("hbench.cli").debug("hbench %s: %s", args.command, options)
    try:
        if args.json and not getattr(args, "json_supported", False):
            raise UsageError(
                f"--json is invalid for `hbench {args.command}`: it has no JSON report"
            )
        from hbench.run.threads import set_thread_budget, thread_budget

        # every command's thread pools within the budget (torch would otherwise start one
        # thread per core of the host, whatever the CPUs this process may run on)
        set_thread_budget(getattr(args, "threads", None) or thread_budget())
        return args.handler(args)
    except HbenchError as exc:
        if args.debug:
            raise
        from hbench.text import printable  # a plugin's or a file's text: no escape codes

        print(f"hbench: error: {printable(exc)}", file=sys.stderr)
        return exc.exit_code
    except (KeyboardInterrupt, BrokenPipeError):
        raise
    except MemoryError:
        if args.debug:
            raise
        print(
            "hbench: error: ran out of memory: lower n, depth, q or the filter level",
            file=sys.stderr,
        )
        return 2
    except Exception as exc:  # a plugin's (or hbench's) bug: one line, the traceback on --debug
        interrupt = interrupt_behind(exc)
        if interrupt is not None:
            raise interrupt from None
        if args.debug:
            raise
        from hbench.registry.loading import one_line
        from hbench.text import printable

        print(
            f"hbench: error: {args.command} failed: {printable(one_line(exc))}"
            " (run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
