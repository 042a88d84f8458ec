"""``hbench run`` and ``hbench check``: score a model against exact inference.

Both build one `hbench.run.RunSpec` from their options, validate it before anything heavy
(options, seeds, memory, the output folder and the paths a model option names), and run it
through the harness: the model in an isolated worker process unless ``--in-process``, up to
``--jobs`` fits at once, each with ``--threads-per-fit`` threads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hbench.cli.options import add_key_values, examples, int_list, positive_int
from hbench.errors import invalid
from hbench.run.spec import DEVICES


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model plugin (see `hbench list models`)")
    add_key_values(parser, "--model-arg", "a model option (repeatable)")
    parser.add_argument(
        "--device", choices=DEVICES, default="auto", help="where torch models run (default auto)"
    )
    group = parser.add_argument_group("resources and isolation")
    group.add_argument(
        "--threads",
        type=positive_int,
        help="threads this command may use in all (default: the CPUs it may run on)",
    )
    group.add_argument(
        "--threads-per-fit",
        type=positive_int,
        default=1,
        metavar="N",
        help="threads of each fit; part of the result (default 1)",
    )
    group.add_argument(
        "--jobs",
        type=positive_int,
        help="fits run at once (default: --threads / --threads-per-fit); never changes results",
    )
    group.add_argument(
        "--in-process",
        action="store_true",
        help="run the model in this process, for debugging (results say so; submit refuses them)",
    )


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``run`` and ``check``; return their handlers."""
    p = sub.add_parser(
        "run", parents=[common], help="train a model and score it against exact inference"
    )
    examples(
        p,
        [
            "hbench run --model transformer                  # the paper's encoder, cpu suite",
            "hbench run --model naive-bayes --train-filter 0 --set P=4096 --seeds 0,1,2",
            "hbench run --model treenet --official --seeds 0,1,2   # for a leaderboard",
        ],
    )
    _model_options(p)
    p.add_argument("--suite", default="cpu", help="benchmark preset (default: %(default)s)")
    p.add_argument("--task", help="task plugin (default: the suite's, root)")
    add_key_values(p, "--task-arg", "a task option, e.g. mask_rate=0.15 (repeatable)")
    p.add_argument(
        "--train-filter",
        type=int,
        action="append",
        metavar="K",
        help="train only at filter level K (repeatable; default: every level)",
    )
    p.add_argument("--seeds", type=int_list, help="comma-separated seeds (default: the suite's)")
    add_key_values(
        p, "--set", "override a suite field, e.g. P=4096 (repeatable; see `hbench list suites`)"
    )
    p.add_argument(
        "--official",
        action="store_true",
        help="draw one fresh grammar per seed at run time (leaderboard runs)",
    )
    p.add_argument(
        "--grammar-seeds",
        type=int_list,
        metavar="S,S,...",
        help="replay an official run's recorded grammars (one per seed)",
    )
    p.add_argument("--out", default="results", help="folder for the result file (default: results)")
    p.add_argument("--json", action="store_true", help="print the path written and the result")
    p.add_argument(
        "--save-models",
        action="store_true",
        help="keep every trained model (one file per seed and training level) in a folder "
        "next to the result, for `hbench analyze`; off by default, results stay small",
    )

    p = sub.add_parser(
        "check", parents=[common], help="verify a model's contract on the smoke suite in seconds"
    )
    examples(
        p,
        [
            "hbench check --model naive-bayes    # the model contract on the smoke suite",
            "hbench check --model my-model --json",
        ],
    )
    _model_options(p)
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    return {"run": cmd_run, "check": cmd_check}


def _option_values(pairs: list[tuple[str, str]], flag: str) -> dict[str, Any]:
    """KEY=VALUE pairs as typed values (JSON when it parses); a repeated key is an error."""
    from hbench.suites import parse_value

    values: dict[str, Any] = {}
    for key, text in pairs:
        if key in values:
            raise invalid(f"{flag} {key}", text, f"one value per option ({key!r} is repeated)")
        values[key] = parse_value(text)
    return values


def _spec(args: argparse.Namespace, suite_name: str, overrides: dict[str, Any]):
    """The run's `RunSpec`, resolved: every option checked, as a sweep checks each cell."""
    from hbench.run.spec import RunSpec

    if args.device == "cuda":  # asked for explicitly: refuse now rather than run on the CPU
        from hbench.run.devices import resolve_device

        resolve_device("cuda")
    official = getattr(args, "official", False)
    grammar_seeds = getattr(args, "grammar_seeds", None)
    if grammar_seeds is not None and not official:
        raise invalid("--grammar-seeds", ",".join(map(str, grammar_seeds)), "only with --official")
    spec = RunSpec(
        suite=suite_name,
        overrides=overrides,
        model=args.model,
        model_args=_option_values(args.model_arg, "--model-arg"),
        task_args=_option_values(getattr(args, "task_arg", []), "--task-arg"),
        device=args.device,
        threads=args.threads_per_fit,
        official=official,
        grammar_seeds=grammar_seeds,
    )
    run = spec.resolve()
    check_model_paths(run.model_config)
    return run


def check_model_paths(config: Any) -> None:
    """Model options that name files, checked before training: ``init=`` must be a readable
    file and ``save=`` must go into a folder that can take it."""
    from hbench.results.files import check_writable

    values = config.model_dump(mode="json")
    for key, value in values.items():
        if not isinstance(value, str) or not value:
            continue
        field = f"--model-arg {key}"
        declared = getattr(type(config), "model_fields", {}).get(key)
        extra = getattr(declared, "json_schema_extra", None)
        role = extra.get("path") if isinstance(extra, dict) else None
        role = role or {"init": "read", "save": "write"}.get(key)
        if role == "read":
            path = Path(value)
            if not path.is_file() or not os.access(path, os.R_OK):
                raise invalid(field, value, "a readable file")
        elif role == "write":
            check_writable(Path(value), field)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from hbench.suites import parse_value

    overrides = {key: parse_value(text) for key, text in _option_values_raw(args.set)}
    if args.task is not None:
        overrides["task"] = args.task
    if args.train_filter:
        overrides["train_filters"] = sorted(set(args.train_filter))
    if args.seeds:
        overrides["seeds"] = args.seeds
    return overrides


def _option_values_raw(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    for key, text in pairs:
        if key in seen:
            raise invalid(f"--set {key}", text, f"one value per field ({key!r} is repeated)")
        seen.add(key)
    return pairs


def _apply_threads(args: argparse.Namespace) -> None:
    from hbench.run.threads import set_thread_budget, thread_budget

    set_thread_budget(args.threads or thread_budget())


def level_table(result) -> str:
    """Per (k_train, k_test): the model's numbers next to BP's, averaged over seeds."""
    from tabulate import tabulate

    from hbench.scoring import normalised_accuracy

    groups: dict[tuple, list] = defaultdict(list)
    for row in result.metrics:
        groups[(row.k_train, row.k_test)].append(row)

    def mean(values):
        values = [v for v in values if v is not None]
        return float(np.mean(values)) if values else None

    def fmt(value, digits=4):
        return "-" if value is None or np.isnan(value) else f"{value:.{digits}f}"

    table = []
    for (k_train, k_test), rows in groups.items():
        acc, acc_bp = mean(r.acc for r in rows), mean(r.acc_bp for r in rows)
        norm = (
            normalised_accuracy(acc, acc_bp, rows[0].chance)
            if acc is not None and acc_bp is not None
            else None
        )
        table.append(
            [
                k_train,
                k_test,
                fmt(acc),
                fmt(acc_bp),
                fmt(mean(r.acc_bp_train for r in rows)),
                fmt(norm, 3),
                fmt(mean(r.kl_bp for r in rows)),
                fmt(mean(r.kl_bp_train for r in rows)),
                fmt(mean(r.agree for r in rows), 3),
            ]
        )
    headers = [
        "k_train",
        "k_test",
        "acc",
        "acc_bp",
        "acc_bp_train",
        "norm_acc",
        "kl_bp",
        "kl_bp_train",
        "agree",
    ]
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


def headline_line(result) -> str:
    """The run's headline in one line; ``±`` (standard error over seeds) from two seeds on."""
    h = result.headline
    seeds = len(result.spec.seeds)
    acc, kl = h["normalised_accuracy"], h["kl_bp"]
    if seeds == 1:
        return (
            f"headline: normalised accuracy {acc['mean']:.4f}, KL to BP {kl['mean']:.4f} bits "
            "(in-sample levels, 1 seed)"
        )
    return (
        f"headline: normalised accuracy {acc['mean']:.4f} ± {acc['stderr']:.4f}, "
        f"KL to BP {kl['mean']:.4f} ± {kl['stderr']:.4f} bits "
        f"(in-sample levels, mean ± s.e. over {seeds} seeds)"
    )


def fit_logger(quiet: bool) -> Callable[[Any], None] | None:
    """Off a terminal (a cluster job's log), one line per finished fit on stderr; on a
    terminal the progress bars say it."""
    if quiet or sys.stderr.isatty():
        return None

    def log(outcome: Any) -> None:
        norm = outcome.headline["normalised_accuracy"]["mean"]
        kl = outcome.headline["kl_bp"]["mean"]
        print(
            f"hbench: fit seed={outcome.seed} k_train={outcome.k_train} done in "
            f"{outcome.timing.fit_s:.1f} s: normalised accuracy {norm:.4f}, KL to BP "
            f"{kl:.4f} bits",
            file=sys.stderr,
            flush=True,
        )

    return log


def cmd_run(args: argparse.Namespace) -> int:
    from hbench.progress import inner_progress, progress
    from hbench.results.files import output_folder
    from hbench.run.harness import Harness, run_and_write

    _apply_threads(args)
    run = _spec(args, args.suite, _overrides(args))
    folder = output_folder(args.out, "--out")
    suite = run.suite
    harness = Harness(run)
    fits = len(run.fits)
    outer = progress(fits, f"{args.model} on {args.suite}/{suite.task}", unit="fit")
    with outer as advance, inner_progress("fit") as within:
        result, path = run_and_write(
            harness,
            folder,
            save_models=args.save_models,
            jobs=args.jobs,
            in_process=args.in_process,
            progress=advance,
            fit_progress=within,
            on_fit=fit_logger(args.quiet),
        )
    from hbench.analysis.figures import dynamics_figures

    figures = dynamics_figures(result, path)
    if args.json:
        report = {
            "path": str(path),
            "figures": [str(f) for f in figures],
            "result": result.model_dump(mode="json"),
        }
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    flag = " (privileged: exact inference with access to the grammar)" if result.privileged else ""
    print(
        f"{args.model}{flag} on suite {args.suite!r} (hash {result.spec.suite_hash}), task "
        f"{suite.task}, P={suite.budget(suite.task)}, {suite.n_test} test sequences per level"
    )
    if result.spec.official:
        print(f"official run: grammar seeds {','.join(map(str, result.spec.grammar_seeds))}")
    print(level_table(result))
    print(headline_line(result))
    print(f"wrote {path} ({result.wall_s:.1f} s)")
    if result.audit:
        print(
            f"audit: the model's worker did {len(result.audit)} flagged thing(s), e.g. "
            f"{result.audit[0]!r}: the result is flagged"
        )
    if result.saved_models:
        where = Path(result.saved_models[0].path).parent
        print(f"wrote {len(result.saved_models)} trained model(s) to {path.parent / where}")
    elif args.save_models:
        print(f"saved no models: model {args.model!r} has no save(path) method")
    for figure in figures:
        print(f"wrote {figure}")
    return 0


def _save_load_check(run) -> tuple[str, bool, str] | None:
    """For a model with ``save`` and ``load``: fit once, save, load into a fresh instance and
    compare predictions (what `hbench analyze` relies on); None for a model without them."""
    import tempfile

    from hbench.run.harness import Harness

    h = Harness(run)
    model = h.new_model()
    if not all(callable(getattr(model, name, None)) for name in ("save", "load")):
        return None
    seed, level = h.suite.seeds[0], h.suite.train_levels[0]
    callbacks = h.callbacks(seed, level)
    h.fit(model, h.train_data(seed, level), callbacks)
    data = h.test_data(seed, level)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pt"
        h.call_model("save", lambda: model.save(path))
        loaded = h.new_model()
        h.call_model("load", lambda: loaded.load(path, device=callbacks.device))
        gap = float(np.abs(h.predict(loaded, data) - h.predict(model, data)).max())
    same = gap <= 1e-6
    return "save/load round trip", same, f"largest change of a probability {gap:.1e}"


def cmd_check(args: argparse.Namespace) -> int:
    """Run the model on the smoke suite for every built-in task, twice, and check the contract."""
    from tabulate import tabulate

    from hbench.run.harness import Harness

    _apply_threads(args)
    checks: list[tuple[str, bool, str]] = []
    for task in ("root", "mlm"):
        run = _spec(args, "smoke", {"task": task})
        options = {"jobs": args.jobs, "in_process": args.in_process}
        first = Harness(run).run(**options)  # predictions are validated: contract errors raise
        where = "an isolated worker" if first.isolation == "process" else "this process"
        checks.append(
            (
                f"{task}: fits and predicts valid probabilities",
                True,
                f"{len(first.metrics)} scored levels in {where}, {first.wall_s:.1f} s",
            )
        )
        again = Harness(run).run(**options)
        same = [m.model_dump() for m in first.metrics] == [m.model_dump() for m in again.metrics]
        checks.append(
            (
                f"{task}: same seed, same result",
                same,
                "identical metrics" if same else "metrics differ between two runs",
            )
        )
        norm = first.headline["normalised_accuracy"]["mean"]
        checks.append((f"{task}: headline", True, f"normalised accuracy {norm:.3f} (smoke)"))
        clean = not first.audit
        detail = "nothing flagged" if clean else f"flagged: {', '.join(first.audit[:3])}"
        checks.append((f"{task}: audit of the worker", clean, detail))
        round_trip = _save_load_check(run)
        if round_trip is not None:
            checks.append((f"{task}: {round_trip[0]}", *round_trip[1:]))
    failed = [name for name, ok, _ in checks if not ok]
    if args.json:
        rows = [{"check": name, "ok": ok, "detail": note} for name, ok, note in checks]
        print(json.dumps({"model": args.model, "passed": not failed, "checks": rows}, indent=2))
        return 1 if failed else 0
    print(
        tabulate(
            [(name, "ok" if ok else "FAILED", note) for name, ok, note in checks],
            headers=["check", "result", "detail"],
        )
    )
    if failed:
        print(f"model {args.model!r} failed {len(failed)} check(s): {', '.join(failed)}")
        return 1
    print(f"model {args.model!r} passes the contract checks")
    return 0
