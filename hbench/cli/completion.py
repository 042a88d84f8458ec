"""``hbench completion bash|zsh|fish``: tab completion of commands, options and the names the
installed plugins register (suites, models, tasks, grammars), through argcomplete.

The shell runs ``hbench`` itself with ``_ARGCOMPLETE`` set to ask for completions; only then is
argcomplete imported (`complete`), so that an ordinary command, ``hbench --help`` included,
does not pay for it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable

from hbench.cli.options import examples

#: The shells ``hbench completion`` writes a script for.
SHELLS = ("bash", "zsh", "fish")


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``completion``; return its handler."""
    p = sub.add_parser(
        "completion", parents=[common], help="print the shell script that completes hbench"
    )
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    examples(
        p,
        [
            "hbench completion bash > ~/.hbench-complete.bash   # then: . ~/.hbench-complete.bash",
            "hbench completion zsh > ~/.zfunc/_hbench",
            "hbench completion fish > ~/.config/fish/completions/hbench.fish",
        ],
    )
    return {"completion": cmd_completion}


def cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    sys.stdout.write(argcomplete.shellcode(["hbench"], shell=args.shell))
    return 0


def _registered(kind: str) -> Callable[..., list[str]]:
    """A completer of the names of one kind of plugin item (``suite``: in registration
    order, the others sorted)."""

    def names(**_: object) -> list[str]:
        from hbench.registry.registry import get_registry

        registry = get_registry()
        if kind == "suite":
            return [item.name for item in registry.in_order("suite")]
        return registry.names(kind)

    return names


#: The options whose values are registered names, and the kind of each.
NAMED_OPTIONS = {"--suite": "suite", "--model": "model", "--task": "task", "--grammar": "grammar"}


def _walk(parser: argparse.ArgumentParser) -> Iterable[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                yield from _walk(child)


def attach_completers(parser: argparse.ArgumentParser) -> None:
    """Give every ``--suite``/``--model``/``--task``/``--grammar`` option (without fixed
    choices) a completer of the registered names."""
    for each in _walk(parser):
        for action in each._actions:
            if action.choices is not None:
                continue
            for flag, kind in NAMED_OPTIONS.items():
                if flag in action.option_strings:
                    action.completer = _registered(kind)  # type: ignore[attr-defined]


def complete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell's completion request and exit (argcomplete's protocol: the candidates
    go to file descriptor 8, or to ``_ARGCOMPLETE_STDOUT_FILENAME``)."""
    import argcomplete

    attach_completers(parser)
    argcomplete.autocomplete(parser)
