"""The data commands: ``plugins``, ``list``, ``generate``, ``oracle`` and ``oracle-table``.

They work on grammars, filters and oracles directly, without a model: what is installed, samples
of a (filtered) grammar, exact posteriors of given sequences, and the Bayes-optimal accuracy of
every filter level. Heavy modules are imported inside the handlers.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from hbench import __version__
from hbench.cli.options import add_key_values, examples
from hbench.errors import UsageError, invalid

#: ``hbench list`` takes plural names; the registry's kinds are singular.
LIST_KINDS = {
    "grammars": "grammar",
    "filters": "filter",
    "oracles": "oracle",
    "tasks": "task",
    "models": "model",
    "metrics": "metric",
    "analyses": "analysis",
}

#: Grammar options that have a flag of their own; any other is given with --grammar-arg.
GRAMMAR_FLAGS = {
    "q": "--q",
    "depth": "--depth",
    "sigma": "--sigma",
    "seed": "--grammar-seed",
    "productions": "--productions",
    "root_prior": "--root-prior",
}


def _grammar_options(parser: argparse.ArgumentParser, *, filter_level: bool) -> None:
    group = parser.add_argument_group("grammar options")
    group.add_argument(
        "--grammar", default="hierarchical", help="grammar plugin (default: %(default)s)"
    )
    group.add_argument("--q", type=int, help="vocabulary size (default 4)")
    group.add_argument(
        "--depth", type=int, help="tree depth l: sequences of s**l leaves, s the arity (default 4)"
    )
    group.add_argument("--sigma", type=float, help="spread of the production weights (default 1.0)")
    group.add_argument("--grammar-seed", type=int, help="which random grammar (default 0)")
    group.add_argument(
        "--productions",
        help="explicit production tensor M[a, b, c], a (q, q, q) .npy (q**(s+1) for arity s)",
    )
    group.add_argument("--root-prior", help="root prior, a (q,) .npy (default uniform)")
    add_key_values(group, "--grammar-arg", "any other option of the grammar plugin (repeatable)")
    group.add_argument(
        "--filter-plugin", default="hierarchical", help="filter plugin (default: %(default)s)"
    )
    if filter_level:
        group.add_argument(
            "--filter", type=int, default=0, metavar="K", help="filter level k (default 0)"
        )


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add the data commands; return their handlers."""
    p = sub.add_parser(
        "plugins", parents=[common], help="installed plugins, their items and load errors"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    examples(
        p,
        [
            "hbench plugins",
            "hbench plugins --json",
            "HBENCH_DISABLE_PLUGINS=my_plugin hbench plugins    # switch a plugin off",
        ],
    )

    p = sub.add_parser(
        "list",
        parents=[common],
        help="registered grammars, filters, oracles, tasks, models, metrics, analyses, or"
        " the suites",
    )
    p.add_argument("kind", choices=[*sorted(LIST_KINDS), "suites"])
    p.add_argument("--json", action="store_true", help="print JSON")
    examples(
        p,
        [
            "hbench list models",
            "hbench list suites             # smoke, cpu, paper and their fields",
            "hbench list grammars --json",
        ],
    )

    p = sub.add_parser("generate", parents=[common], help="sample sequences to an .npz file")
    _grammar_options(p, filter_level=True)
    p.add_argument("--n", type=int, required=True, help="number of sequences")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument(
        "--internal", action="store_true", help="also save internal nodes (nodes_<depth>)"
    )
    p.add_argument(
        "--out", required=True, help="output .npz (roots, leaves, productions, root_prior, meta)"
    )
    examples(
        p,
        [
            "hbench generate --n 100000 --filter 2 --seed 1 --out data.npz",
            "hbench generate --q 8 --depth 5 --sigma 0.5 --grammar-seed 3 --n 1000 --out d.npz",
            "hbench generate --productions M.npy --depth 4 --n 500 --internal --out trees.npz",
        ],
    )

    p = sub.add_parser(
        "oracle", parents=[common], help="exact posteriors of leaf sequences (-1 = masked)"
    )
    _grammar_options(p, filter_level=True)
    p.add_argument("--oracle", default="bp", help="oracle plugin (default: %(default)s)")
    p.add_argument(
        "--leaves", required=True, help="int .npy of shape (n, s**depth), s the arity; -1 = masked"
    )
    p.add_argument("--nodes", action="store_true", help="also save internal-node posteriors")
    p.add_argument(
        "--out", required=True, help="output .npz (root, leaves, leave_one_out, loglik, meta)"
    )
    examples(
        p,
        [
            "hbench oracle --depth 4 --filter 2 --leaves leaves.npy --out post.npz",
            "hbench oracle --productions M.npy --depth 3 --leaves X.npy --nodes --out post.npz",
        ],
    )

    p = sub.add_parser(
        "oracle-table", parents=[common], help="accuracy of BP_k on data of every filter level k'"
    )
    _grammar_options(p, filter_level=False)
    p.add_argument("--oracle", default="bp", help="oracle plugin (default: %(default)s)")
    p.add_argument(
        "--task",
        default="root",
        help="task plugin: root, mlm, ancestor, next-token (default: %(default)s)",
    )
    p.add_argument(
        "--n", type=int, default=10_000, help="sequences per level (default %(default)s)"
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--json", action="store_true", help="print JSON")
    examples(
        p,
        [
            "hbench oracle-table                     # the paper's grammar, root task",
            "hbench oracle-table --task mlm --n 20000 --json",
            "hbench oracle-table --q 3 --depth 3 --sigma 2.0",
        ],
    )
    return {
        "plugins": cmd_plugins,
        "list": cmd_list,
        "generate": cmd_generate,
        "oracle": cmd_oracle,
        "oracle-table": cmd_oracle_table,
    }


def _registry():
    from hbench.registry.registry import get_registry

    return get_registry()


def _grammar_config(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """Only the options the user gave, so a third-party grammar sees no foreign defaults; and
    for each, how the user gave it (``--q=3``, ``--grammar-arg width=8``), for messages."""
    config: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, flag in GRAMMAR_FLAGS.items():
        value = getattr(args, flag.removeprefix("--").replace("-", "_"))
        if value is not None:
            config[key] = value
            spelled[key] = f"{flag}={value}"
    for key, value in args.grammar_arg:
        if key in config:
            raise UsageError(
                f"--grammar-arg {key}={value} is invalid: option {key!r} is already given"
                f" (by {spelled[key]})"
            )
        config[key] = value
        spelled[key] = f"--grammar-arg {key}={value}"
    return config, spelled


#: A grammar's own message that starts with an option's Python name ("root_prior=...",
#: "sum of productions[0]=..."): the name is rewritten as the flag the user typed.
_LEADING_FIELD = re.compile(rf"^(sum of )?({'|'.join(GRAMMAR_FLAGS)})(?=[=\[])")


def _grammar_and_filter(args: argparse.Namespace):
    registry = _registry()
    registration = registry.get("grammar", args.grammar)
    given, spelled = _grammar_config(args)
    from hbench.run.spec import check_option_values  # non-finite, beyond 64 bits, bools as ints

    check_option_values(
        "grammar",
        given,
        registration.config,
        lambda section, key, value: spelled.get(key, f"{key}={value}"),
    )
    config = registration.validate_config(
        given,
        spelled=spelled,
        suggest=lambda key: GRAMMAR_FLAGS.get(key, f"--grammar-arg {key}=..."),
    )
    try:
        grammar = registration.create(config)
    except UsageError as exc:
        message = _LEADING_FIELD.sub(lambda m: (m[1] or "") + GRAMMAR_FLAGS[m[2]], str(exc), 1)
        raise UsageError(message) from exc
    filter_ = registry.get("filter", args.filter_plugin).create()
    meta = {
        "hbench_version": __version__,
        "grammar": args.grammar,
        "grammar_config": config.model_dump(mode="json"),
        "filter_plugin": args.filter_plugin,
        "q": grammar.q,
        "depth": grammar.depth,
    }
    return grammar, filter_, meta


def _grammar_arrays(grammar) -> dict[str, Any]:
    return {
        key: getattr(grammar, key) for key in ("productions", "root_prior") if hasattr(grammar, key)
    }


def _length(grammar) -> int:
    """Leaves per sequence: arity**depth, of the arity the grammar declares (default 2)."""
    from hbench.contracts import grammar_capabilities

    return grammar_capabilities(grammar).length(grammar.depth)


def _check_count(n: int, field: str = "--n") -> None:
    if n < 1:
        raise invalid(field, n, "must be an integer >= 1")


def _check_seed(seed: int, field: str = "--seed") -> None:
    if seed < 0:
        raise invalid(field, seed, "must be an integer >= 0")


def _check_filter_level(level: int, depth: int) -> None:
    if not 0 <= level <= depth:
        raise invalid(
            "--filter",
            level,
            f"must be an integer in [0, {depth}]: from 0 (unfiltered) to the depth ({depth})",
        )


def cmd_plugins(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    registry = _registry()
    if args.json:
        print(json.dumps(registry.to_json(), indent=2))
        return 0
    plugins = [
        [p.name, p.distribution or "-", p.version or "-", p.status, len(p.errors)]
        for p in registry.plugins
    ]
    print(tabulate(plugins, headers=["plugin", "distribution", "version", "status", "errors"]))
    print()
    items = [[r.kind, r.name, r.plugin, r.description] for r in registry.items()]
    print(tabulate(items, headers=["kind", "name", "plugin", "description"]))
    for error in registry.errors:
        print(f"\nerror: {error}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    if args.kind == "suites":
        return cmd_list_suites(args.json)
    kind = LIST_KINDS[args.kind]
    items = _registry().items(kind)
    if args.json:
        print(json.dumps([item.to_json() for item in items], indent=2))
        return 0
    if not items:
        print(f"no {args.kind} registered")
        return 0
    if kind == "metric":  # no options; which way is better and how cells are reduced
        rows = [
            [
                i.name,
                f"{i.metadata['direction']} is better",
                i.metadata["aggregation"],
                f"{i.distribution or i.plugin} {i.version or ''}".strip(),
                i.description,
            ]
            for i in items
        ]
        print(tabulate(rows, headers=["name", "direction", "aggregation", "from", "description"]))
        return 0
    rows = [
        [
            i.name,
            ", ".join(i.options) or "-",
            f"{i.distribution or i.plugin} {i.version or ''}".strip(),
            i.description,
        ]
        for i in items
    ]
    print(tabulate(rows, headers=["name", "options", "from", "description"]))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from hbench.io import check_npz_path, save_npz
    from hbench.progress import progress

    _check_count(args.n)
    _check_seed(args.seed)
    check_npz_path(args.out)
    grammar, filter_, meta = _grammar_and_filter(args)
    _check_filter_level(args.filter, grammar.depth)
    filtered = filter_.apply(grammar, args.filter)
    with progress(args.n, "sampling") as advance:
        sample = filtered.sample(args.n, args.seed, internal=args.internal, progress=advance)
    meta.update(filter=args.filter, n=args.n, seed=args.seed, internal=args.internal)
    arrays = {"roots": sample.roots, "leaves": sample.leaves, **_grammar_arrays(grammar)}
    arrays.update({f"nodes_{d}": nodes for d, nodes in sample.nodes.items()})
    arrays["meta"] = np.asarray(json.dumps(meta, sort_keys=True))
    path = save_npz(args.out, arrays)
    print(
        f"wrote {args.n} sequences of {_length(grammar)} leaves "
        f"(q={grammar.q}, depth={grammar.depth}, filter={args.filter}) to {path}"
    )
    return 0


def cmd_oracle(args: argparse.Namespace) -> int:
    from hbench.contracts import grammar_capabilities
    from hbench.io import check_npz_path, load_leaves, save_npz

    check_npz_path(args.out)
    grammar, filter_, meta = _grammar_and_filter(args)
    _check_filter_level(args.filter, grammar.depth)
    filtered = filter_.apply(grammar, args.filter)
    oracle = _registry().get("oracle", args.oracle).create()
    arity = grammar_capabilities(grammar).arity
    leaves = load_leaves(args.leaves, q=grammar.q, depth=grammar.depth, arity=arity)
    post = oracle.posteriors(filtered, leaves, full=True, leave_one_out=True)
    meta.update(
        filter=args.filter,
        oracle=args.oracle,
        leaves_file=args.leaves,
        nodes=args.nodes,
        n=int(post.root.shape[0]),
    )
    arrays = {
        "root": post.root,
        "leaves": post.leaves,
        "leave_one_out": post.leave_one_out,
        "loglik": post.loglik,
        "meta": np.asarray(json.dumps(meta, sort_keys=True)),
    }
    if args.nodes:
        arrays.update({f"nodes_{d}": nodes for d, nodes in post.nodes.items()})
    path = save_npz(args.out, arrays)
    impossible = int(np.isneginf(post.loglik).sum())
    note = f"; {impossible} impossible under the grammar (loglik -inf)" if impossible else ""
    print(f"wrote posteriors of {post.root.shape[0]} sequences to {path}{note}")
    return 0


def cmd_oracle_table(args: argparse.Namespace) -> int:
    from hbench.progress import progress
    from hbench.run.oracle_table import asked_levels, oracle_table

    _check_count(args.n)
    _check_seed(args.seed)
    grammar, filter_, meta = _grammar_and_filter(args)
    oracle = _registry().get("oracle", args.oracle).create()
    task = _registry().get("task", args.task).create()
    meta.update(oracle=args.oracle, task=args.task, n=args.n, seed=args.seed)
    levels = len(asked_levels(grammar, filter_, task)[0])  # ancestor: only levels <= its depth
    with progress(levels * levels * args.n, f"BP on {args.task}") as advance:
        table = oracle_table(
            grammar, filter_, oracle, task=task, n=args.n, seed=args.seed, progress=advance
        )
    if args.json:
        print(json.dumps({**table.to_json(), "meta": meta}, indent=2))
    else:
        print(table.render())
    return 0


def cmd_list_suites(as_json: bool) -> int:
    from tabulate import tabulate

    from hbench.registry.suites import SUITES
    from hbench.suites import Suite

    if as_json:
        print(json.dumps({name: s.model_dump(mode="json") for name, s in SUITES.items()}, indent=2))
        return 0

    def sigma(suite: Suite) -> Any:
        """The suite's sigma, or "-" where its grammar has none (``rhm``): shown there, it
        would claim a setting that changes nothing."""
        try:
            fields = suite.grammar_fields(_registry())
        except UsageError:  # its grammar's plugin is not installed: nothing to say otherwise
            return suite.sigma
        return suite.sigma if "sigma" in fields else "-"

    rows = [
        [
            s.name,
            s.grammar,
            s.task + "".join(f" {key}={value}" for key, value in s.task_args.items()),
            s.q,
            s.depth,
            sigma(s),
            s.P,
            ", ".join(f"{task}={budget}" for task, budget in s.budgets.items()) or "-",
            s.test_sizes_text(),
            s.n_ood,
            "yes" if s.leaderboard else "-",
            s.description,
        ]
        for s in SUITES.values()
    ]
    print(
        tabulate(
            rows,
            headers=[
                "suite",
                "grammar",
                "task",
                "q",
                "depth",
                "sigma",
                "P",
                "task budgets",
                "n_test",
                "n_ood",
                "leaderboard",
                "description",
            ],
        )
    )
    return 0
