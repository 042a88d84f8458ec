"""``hbench run`` and ``hbench check``: score a model against exact inference.

Both build one `hbench.run.RunSpec` from their options, validate it before anything heavy
(options, seeds, memory, the output folder and the paths a model option names), and run it
through the harness: the model in an isolated worker process unless ``--in-process``, up to
``--jobs`` fits at once, each with ``--threads-per-fit`` threads.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from hbench.cli.config import add_config_option, apply_config
from hbench.cli.options import add_key_values, bounded_int, examples, int_list, positive_int
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
        type=bounded_int(1, 1024),
        default=1,
        metavar="N",
        help="threads of each fit, 1 to 1024; part of the result (default 1)",
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
    group.add_argument(
        "--memory-per-fit",
        type=byte_count,
        metavar="BYTES",
        help="address space of each isolated fit, e.g. 4G or 4e9; 0: none (default: 80%% of the "
        "memory available at the start, on the cpu)",
    )
    group.add_argument(
        "--fit-timeout",
        type=seconds,
        metavar="S",
        help="seconds each isolated fit (fit, predictions, save) may take; 0: none (default "
        "14400); a fit past it fails the run in one line",
    )


def byte_count(text: str) -> int:
    """``4G``, ``512M``, ``4e9`` -> bytes (K, M, G, T are powers of 1024)."""
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    body = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = body[-1:] if body[-1:] in units else ""
    try:
        value = float(body[: len(body) - len(unit)]) * units[unit]
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a byte count >= 0, e.g. 4G or 4e9")
    return int(value)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: a number of seconds >= 0")
    return value


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
            "hbench run --model treenet --official   # for a leaderboard: 5 seeds",
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
    p.add_argument(
        "--seeds",
        type=int_list,
        help="comma-separated seeds (default: the suite's; 0-4 with --official)",
    )
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
        help="replay a run's recorded grammars, one per seed (debugging; never official)",
    )
    p.add_argument("--out", default="results", help="folder for the result file (default: results)")
    p.add_argument(
        "--label", help="a name for this run in tables (default: the model's); part of the spec"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="run again even if --out holds a finished run of the same spec (it is replaced),"
        " and let --model-arg save= replace an existing file",
    )
    p.add_argument("--json", action="store_true", help="print the path written and the result")
    p.add_argument(
        "--save-models",
        action="store_true",
        help="keep every trained model (one file per seed and training level) in a folder "
        "next to the result, for `hbench analyze`; off by default, results stay small",
    )

    p.add_argument(
        "--log-samples",
        metavar="FILE.parquet",
        help="write every test query's probabilities, the model's and BP's, with its seed, "
        "levels, sequence and position, to this new Parquet file (needs pyarrow)",
    )
    p.add_argument(
        "--logger",
        dest="loggers",
        action="append",
        metavar="KIND[:TARGET]",
        help="send each fit's learning curves to tensorboard[:DIR], wandb[:PROJECT] or "
        "mlflow[:URI] (repeatable; each an extra: pip install 'hbench[tensorboard]')",
    )

    add_config_option(p)  # after every other option of `run`: each becomes a key of the file

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
        values[key] = _parsed(parse_value, flag, key, text)
    return values


def _parsed(parse: Callable[[str], Any], flag: str, key: str, text: str) -> Any:
    """``parse(text)``; a value Python refuses to read (an integer of thousands of digits) is
    one line naming the option."""
    try:
        return parse(text)
    except ValueError:
        shown = text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"
        raise invalid(f"{flag} {key}", shown, "a number of at most 19 digits, or text") from None


def _spec(
    args: argparse.Namespace, suite_name: str, overrides: dict[str, Any], *, paths: bool = True
):
    """The run's `RunSpec`, resolved: every option checked, as a sweep checks each cell (the
    paths model options name too, unless ``paths`` is False: checked by the caller)."""
    from hbench.run.spec import new_spec

    if args.device == "cuda":  # asked for explicitly: refuse now rather than run on the CPU
        from hbench.run.devices import resolve_device

        resolve_device("cuda")
    official = getattr(args, "official", False)
    grammar_seeds = getattr(args, "grammar_seeds", None)
    if grammar_seeds is not None and official:
        raise invalid(
            "--grammar-seeds",
            ",".join(map(str, grammar_seeds)),
            "not with --official (an official run draws its grammars from the operating system;"
            " replay them without --official, as a run that is not official)",
        )
    spec = new_spec(
        suite=suite_name,
        overrides=overrides,
        model=args.model,
        model_args=_option_values(args.model_arg, "--model-arg"),
        task_args=_option_values(getattr(args, "task_arg", []), "--task-arg"),
        device=args.device,
        threads=args.threads_per_fit,
        label=getattr(args, "label", None),
        official=official,
        grammar_seeds=grammar_seeds,
    )
    run = spec.resolve()
    if paths:
        from hbench.run.execute import check_model_paths

        check_model_paths(run.model_config)
    return run


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from hbench.run.spec import merge_overrides
    from hbench.suites import parse_value

    given = {
        key: _parsed(parse_value, "--set", key, text) for key, text in _option_values_raw(args.set)
    }
    return merge_overrides(
        given,
        task=args.task,
        seeds=args.seeds or None,
        train_filters=args.train_filter or None,
        official=getattr(args, "official", False),
    )


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
        if value is None and na:
            return "n/a"
        return "-" if value is None or np.isnan(value) else f"{value:.{digits}f}"

    def test_se(errors):  # the test-set error of a mean over seeds of cells with these errors
        errors = list(errors)
        if not errors or any(e is None for e in errors):
            return None
        return float(np.sqrt(np.sum(np.square(errors)))) / len(errors)

    table, reasons = [], []
    for (k_train, k_test), rows in groups.items():
        na = all(r.na_reason for r in rows)
        reasons += sorted({r.na_reason for r in rows if r.na_reason})
        acc, acc_bp = mean(r.acc for r in rows), mean(r.acc_bp for r in rows)
        norm = (
            normalised_accuracy(acc, acc_bp, rows[0].chance)
            if acc is not None and acc_bp is not None
            else None
        )
        norm_text = fmt(norm, 3)
        norm_se = test_se(r.normalised_accuracy_se for r in rows)
        if norm is not None and norm_se is not None:
            norm_text += f" ± {norm_se:.3f}"
        possible = mean(r.possible for r in rows)
        table.append(
            [
                k_train,
                k_test,
                fmt(acc),
                fmt(acc_bp),
                fmt(mean(r.acc_bp_train for r in rows)),
                norm_text,
                fmt(mean(r.kl_bp for r in rows)),
                fmt(mean(r.kl_bp_train for r in rows)),
                fmt(mean(r.agree for r in rows), 3),
                fmt(mean(r.scores.get("acc_exp") for r in rows), 3),
                "-" if possible is None else f"{possible:.3f}",
            ]
        )
    headers = [
        "k_train",
        "k_test",
        "acc",
        "acc_bp",
        "acc_bp_train",
        "norm_acc ± se (test set)",
        "kl_bp",
        "kl_bp_train",
        "agree",
        "acc_exp",
        "possible",
    ]
    text = tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)
    notes = "".join(f"\nn/a: {reason}" for reason in dict.fromkeys(reasons))
    return text + notes


def headline_line(result) -> str:
    """The run's headline in one line: each number ``± se (seeds|test set)``, its standard error
    by `hbench.stats.estimate` and the error source that decided it (`hbench.scoring`)."""
    from hbench.scoring import headline_line as number

    h = result.headline
    seeds = len(result.spec.seeds)
    acc, kl = h["normalised_accuracy"], h["kl_bp"]
    plural = "seed" if seeds == 1 else "seeds"
    line = (
        f"headline: normalised accuracy {number(acc, 4)}, KL to BP {number(kl, 4)} bits "
        f"(in-sample levels, {seeds} {plural})"
    )
    from hbench.leaderboard.rules import declared_headline
    from hbench.scoring import metric_headline

    own = declared_headline(result.spec.task)  # what the task's boards rank by
    if own is None:
        return line
    try:
        summary = metric_headline(result.metrics, own)
    except ValueError:  # a cell without it (a run that skipped it): nothing to summarise
        return line
    task = result.spec.task
    return f"{line}\n{task} headline (its boards rank by it): {own} {number(summary, 4)}"


def fit_logger(quiet: bool) -> Callable[[Any], None] | None:
    """One INFO line per finished fit on the ``hbench.steps`` logger: shown off a terminal (a
    cluster job's log) and with ``-v``; on a terminal the progress bars say it."""
    import logging

    from hbench.cli.logs import STEPS

    logger = logging.getLogger(STEPS)
    if quiet or not logger.isEnabledFor(logging.INFO):
        return None

    def log(outcome: Any) -> None:
        norm = outcome.headline["normalised_accuracy"]["mean"]
        kl = outcome.headline["kl_bp"]["mean"]
        logger.info(
            f"fit seed={outcome.seed} k_train={outcome.k_train} done in "
            f"{outcome.timing.fit_s:.1f} s: normalised accuracy {norm:.4f}, KL to BP "
            f"{kl:.4f} bits"
        )

    return log


def cmd_run(args: argparse.Namespace) -> int:
    from hbench.analysis.figures import dynamics_figures
    from hbench.progress import FitBars, progress
    from hbench.run.execute import execute, finished

    args = apply_config(args)  # --config's values where the command line gave none
    _apply_threads(args)
    run = _spec(args, args.suite, _overrides(args), paths=False)
    samples, curves = _logs(args)
    suite = run.suite
    # a finished run of the same spec is reused (an official run draws new grammars: never)
    done = None if args.overwrite else finished(run, args.out, save_models=args.save_models)
    if done is not None and (samples is not None or curves is not None):
        from hbench.run.samples import refuse_reuse

        refuse_reuse(done.path, "--log-samples" if samples is not None else "--logger")
    if done is None:
        outer = progress(len(run.fits), f"{args.model} on {args.suite}/{suite.task}", unit="fit")
        logs = samples if samples is not None else nullcontext()
        with outer as advance, FitBars() as bars, logs, curves or nullcontext():
            done = execute(
                run,
                out=args.out,
                overwrite=args.overwrite,
                save_models=args.save_models,
                jobs=args.jobs,
                in_process=args.in_process,
                memory_per_fit=args.memory_per_fit,
                fit_timeout=args.fit_timeout,
                progress=advance,
                fit_progress=bars.fit,
                on_fit=fit_logger(args.quiet),
                sample_log=samples,
                curves=curves,
            )
    result, path = done.result, done.path
    reused = True if done.reused else None
    spec_hash = None if run.spec.official else run.spec.spec_hash(run=run)
    figures = [] if reused else dynamics_figures(result, path)
    if reused is not None and not args.json:
        from hbench.run.execute import changed_code, other_code_note

        made_by = other_code_note(changed_code(result))
        print(
            f"reused {path}: a finished run of the same spec (hash {spec_hash}){made_by};"
            " --overwrite runs it again"
        )
    resumed = result.extra.get("resumed_fits") or []
    if resumed and not args.json:
        print(
            f"resumed: {len(resumed)} of {len(result.timings)} fits were finished by an"
            " interrupted attempt of this run and kept (the result lists them under"
            " extra.resumed_fits)"
        )
    if result.isolation == "process" and result.sandbox.get("kind") == "none":
        print(
            f"sandbox: none ({result.sandbox.get('reason')}): the model ran in an audited worker "
            "process without an operating-system sandbox",
            file=sys.stderr,
        )
    if args.json:
        report = {
            "reused": reused is not None,
            "path": str(path),
            "figures": [str(f) for f in figures],
            "result": result.model_dump(mode="json"),
        }
        print(json.dumps(report, indent=2, sort_keys=True))
        return 0
    flag = " (privileged: exact inference with access to the grammar)" if result.privileged else ""
    print(
        f"{args.model}{flag} on suite {args.suite!r} (hash {result.spec.suite_hash}), task "
        f"{suite.task}, P={suite.budget(suite.task)},"
        f" {suite.test_sizes_text()} test sequences per level"
    )
    if result.spec.grammar_seeds:
        kind = "official run" if result.spec.official else "replayed grammars (not official)"
        print(f"{kind}: grammar seeds {','.join(map(str, result.spec.grammar_seeds))}")
    print(level_table(result))
    from hbench.run.generation import generation_table  # a generating task's own numbers

    generated = generation_table(result)
    if generated:
        print(generated)
    print(headline_line(result))
    if reused is None:
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
    if samples is not None and samples.written:
        print(f"wrote {samples.path} ({samples.rows} queries: the model's and BP's probabilities)")
    return 0


def _logs(args: argparse.Namespace) -> tuple[Any, Any]:
    """``--log-samples`` (a `hbench.run.samples.SampleLog`) and ``--logger`` (a
    `hbench.run.loggers.Curves`), each None when not asked for; checked before any work."""
    samples = curves = None
    if args.log_samples is not None:
        from hbench.run.samples import SampleLog, check_samples_path

        samples = SampleLog(check_samples_path(args.log_samples, overwrite=args.overwrite))
    if args.loggers:
        from hbench.run.loggers import Curves, destinations

        curves = Curves(destinations(args.loggers))
    return samples, curves


def _save_load_check(run) -> tuple[str, bool, str] | None:
    """For a model with ``save`` and ``load``: fit once, save, load into a fresh instance and
    compare predictions (what `hbench analyze` relies on); None for a model without them."""
    import tempfile

    from hbench.contracts import model_capabilities
    from hbench.run.harness import Harness

    h = Harness(run)
    model = h.new_model()
    if not model_capabilities(model).save:
        return None
    seed, level = h.suite.seeds[0], h.suite.train_levels[0]
    callbacks = h.callbacks(seed, level)
    h.fit(model, h.world.train_data(seed, level), callbacks)
    data = h.world.test_data(seed, level)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pt"
        h.call_model("save", lambda: model.save(path))
        loaded = h.new_model()
        h.call_model("load", lambda: loaded.load(path, device=callbacks.device))
        gap = float(np.abs(h.predict(loaded, data) - h.predict(model, data)).max())
    same = gap <= 1e-6
    return "save/load round trip", same, f"largest change of a probability {gap:.1e}"


#: Sequences the sample check draws from the fitted model, twice.
CHECK_SAMPLES = 64


def _sample_checks(args: argparse.Namespace) -> list[tuple]:
    """For a model that declares ``sample`` (`ModelCapabilities.sample`): a run of the smoke
    suite's ``generate`` task (fits on its next-token data, then draws and is scored, where
    the other tasks ran), then one fit in this process whose ``sample(n, rng)`` must give an
    (n, length) integer array of symbols in [0, q), the same sequences for the same seed.
    Rows of the check table; none for a model that does not declare it."""
    from hbench.contracts import model_capabilities
    from hbench.errors import PluginError, UsageError
    from hbench.registry.registry import get_registry
    from hbench.run.execute import execute
    from hbench.run.generation import _declared, draw, sample_seed
    from hbench.run.harness import Harness

    try:
        entry = get_registry().get("model", args.model)
        declared = _declared(entry.load())
        if declared is None:  # capabilities as a property: ask an instance
            config = entry.validate_config(_option_values(args.model_arg, "--model-arg"))
            declared = model_capabilities(entry.create(config))
    except UsageError:  # refused again, in the words of a run, by `_spec`
        return []
    if not declared.sample:
        return []
    declined = _declines(args, "generate")
    if declined is not None:
        return [("generate: not offered by the model", True, declined)]
    run = _spec(args, "smoke", {"task": "generate"})
    options = {
        "jobs": args.jobs,
        "in_process": args.in_process,
        "memory_per_fit": args.memory_per_fit,
        "fit_timeout": args.fit_timeout,
    }
    result = execute(run, **options).result  # samples are checked: contract errors raise
    where = "an isolated worker" if result.isolation == "process" else "this process"
    rows: list[tuple] = [
        (
            "generate: fits, draws and is scored",
            True,
            f"{len(result.metrics)} scored levels in {where}, {result.wall_s:.1f} s",
        )
    ]
    h = Harness(run)
    model = h.call_model("build", h.new_model)
    seed, level = h.suite.seeds[0], h.suite.train_levels[0]
    h.fit(model, h.world.train_data(seed, level), h.callbacks(seed, level))
    spec, n, seed_s = h.world.task_spec, CHECK_SAMPLES, sample_seed(seed, level)

    def sample(n: int, s: int) -> Any:
        return model.sample(n, np.random.default_rng(s))

    try:
        first = draw(sample, n, seed_s, spec, h.model_label)
        again = draw(sample, n, seed_s, spec, h.model_label)
    except PluginError as exc:
        return [*rows, ("generate: sample(n, rng) gives valid sequences", False, str(exc))]
    rows.append(
        (
            "generate: sample(n, rng) gives valid sequences",
            True,
            f"({n}, {spec.length}) integers in [0, {spec.q})",
        )
    )
    same = bool(np.array_equal(first, again))
    differ = int((first != again).any(axis=1).sum())
    detail = "identical sequences" if same else f"{differ} of {n} sequences differ"
    rows.append(("generate: same seed, same sequences", same, detail))
    return rows


def _declines(args: argparse.Namespace, task: str) -> str | None:
    """Why the model's options say it cannot do ``task`` (its config's ``check_task``, asked
    with the task's default options), or None: `cmd_check` skips such a task, as a run of it
    would be refused before any work."""
    from hbench.contracts import model_config_capabilities
    from hbench.errors import UsageError
    from hbench.registry.registry import get_registry

    registry = get_registry()
    try:
        entry = registry.get("model", args.model)
        config = entry.validate_config(_option_values(args.model_arg, "--model-arg"))
    except UsageError:  # refused again by `_spec`, in the words of a run
        return None
    if not model_config_capabilities(config).check_task:
        return None
    return config.check_task(task, registry.get("task", task).validate_config(None))


def cmd_check(args: argparse.Namespace) -> int:
    """Run the model on the smoke suite for every built-in task, twice, and check the contract;
    for a model that declares ``sample``, the generate task and its sequences too."""
    from tabulate import tabulate

    from hbench.run.execute import execute

    _apply_threads(args)
    checks: list[tuple[str, bool, str]] = []
    for task in ("root", "mlm"):
        declined = _declines(args, task)
        if declined is not None:  # the model says it cannot do the task (its check_task)
            checks.append((f"{task}: not offered by the model", True, declined))
            continue
        run = _spec(args, "smoke", {"task": task})
        options = {
            "jobs": args.jobs,
            "in_process": args.in_process,
            "memory_per_fit": args.memory_per_fit,
            "fit_timeout": args.fit_timeout,
        }
        # predictions are validated: contract errors raise
        first = execute(run, **options).result
        where = "an isolated worker" if first.isolation == "process" else "this process"
        checks.append(
            (
                f"{task}: fits and predicts valid probabilities",
                True,
                f"{len(first.metrics)} scored levels in {where}, {first.wall_s:.1f} s",
            )
        )
        again = execute(run, **options).result
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
    if all(name.endswith("not offered by the model") for name, _, _ in checks):
        checks.append(("some task of the check", False, "the model offers neither root nor mlm"))
    checks += _sample_checks(args)
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
