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


#: Names a plugin can never take: hbench's own distribution and packages, whether or not
#: they are importable here.
RESERVED = (
    "hbench",
    "hbench-tree",
    "hbench-tasks",
    "hbench-baselines",
    "hbench-transformer",
    "hbench-gpt",
    "hbench-torch",
    "hbench-cfg",
    "hbench-example-model",
)


def check_free_name(name: str) -> None:
    """Refuse a name whose distribution or package is hbench's, or is already installed here
    (``hbench``, ``torch``): installing the skeleton would replace or shadow it."""
    import importlib.metadata
    import importlib.util

    from hbench.errors import invalid

    package = name.replace("-", "_")
    taken = name in RESERVED or package.replace("_", "-") in RESERVED
    if not taken:
        try:
            importlib.metadata.distribution(name)
            taken = True
        except (importlib.metadata.PackageNotFoundError, ValueError):
            try:
                taken = package.isidentifier() and importlib.util.find_spec(package) is not None
            except (ImportError, ValueError):
                taken = True
    if taken:
        raise invalid(
            "NAME",
            name,
            f"a name that is not already an installed distribution or package ({package!r} is"
            " taken, e.g. by hbench or its built-in plugins); try my-" + name,
        )


def cmd_new_plugin(args: argparse.Namespace) -> int:
    from hbench.cli.plugin_template import check_name, files, write_skeleton
    from hbench.registry.registry import get_registry

    taken = get_registry().names("model")
    check_name(args.name, taken)  # the name's form first: its own message
    check_free_name(args.name)
    target = write_skeleton(args.name, args.dir, taken)
    for relative in files(args.name):
        print(f"wrote {target / relative}")
    print(
        f"next: pip install -e {target} && hbench check --model {args.name}"
        ' (see CONTRIBUTING.md, "Add your model in ten minutes")'
    )
    return 0
