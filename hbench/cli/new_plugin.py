"""``hbench new-plugin NAME``: write a model plugin skeleton that passes ``hbench check``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from hbench.cli.options import examples


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    p = sub.add_parser(
        "new-plugin",
        parents=[common],
        help="write a model plugin skeleton (pyproject, model, test) to start from",
    )
    p.add_argument("name", metavar="NAME", help="distribution and model name, e.g. my-model")
    p.add_argument("--dir", default=".", help="where to create NAME/ (default: here)")
    examples(
        p,
        [
            "hbench new-plugin my-model",
            "hbench new-plugin my-model --dir ~/src && pip install -e ~/src/my-model",
        ],
    )
    return {"new-plugin": cmd_new_plugin}


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from hbench.cli.plugin_template import files, write_skeleton
    from hbench.registry.registry import get_registry

    target = write_skeleton(args.name, args.dir, get_registry().names("model"))
    for relative in files(args.name):
        print(f"wrote {target / relative}")
    print(
        f"next: pip install -e {target} && hbench check --model {args.name}"
        ' (see CONTRIBUTING.md, "Add your model in ten minutes")'
    )
    return 0
