"""``hbench run`` and ``hbench check``: score a model against exact inference.

Kept apart from `hbench.cli.app` (the data commands) so that each file reads as one idea.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hbench.errors import invalid
from hbench.run.devices import DEVICES


def key_value(text: str) -> tuple[str, str]:
    """argparse type of a KEY=VALUE option."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def _seed_list(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 0,1,2, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"expected integers >= 0 like 0,1,2, got {text!r}")
    return seeds


def add_key_values(parser, flag: str, help: str) -> None:
    """A repeatable KEY=VALUE option (--model-arg, --grammar-arg, --set ...)."""
    parser.add_argument(
        flag, type=key_value, action="append", default=[], metavar="KEY=VALUE", help=help
    )


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="model plugin (see `hbench list models`)")
    add_key_values(parser, "--model-arg", "a model option (repeatable)")
    parser.add_argument(
        "--device", choices=DEVICES, default="auto", help="where torch models run (default auto)"
    )


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``run`` and ``check``; return their handlers."""
    p = sub.add_parser(
        "run", parents=[common], help="train a model and score it against exact inference"
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
    p.add_argument("--seeds", type=_seed_list, help="comma-separated seeds (default: the suite's)")
    add_key_values(
        p, "--set", "override a suite field, e.g. P=4096 (repeatable; see `hbench list suites`)"
    )
    p.add_argument("--out", default="results", help="folder for the result file (default: results)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--save-models",
        action="store_true",
        help="keep every trained model (one file per seed and training level) in a folder "
        "next to the result, for `hbench analyze`; off by default, results stay small",
    )

    p = sub.add_parser(
        "check", parents=[common], help="verify a model's contract on the smoke suite in seconds"
    )
    _model_options(p)
    return {"run": cmd_run, "check": cmd_check}


def _option_values(pairs: list[tuple[str, str]], flag: str) -> dict[str, Any]:
    """KEY=VALUE pairs as typed values (JSON when it parses); a repeated key is an error."""
    from hbench.run.suites import parse_value

    values: dict[str, Any] = {}
    for key, text in pairs:
        if key in values:
            raise invalid(f"{flag} {key}", text, f"one value per option ({key!r} is repeated)")
        values[key] = parse_value(text)
    return values


def _request(args: argparse.Namespace, suite_name: str, overrides: dict[str, str]):
    """The validated request of the options, built the way a sweep builds each cell."""
    from hbench.run.spec import CellSpec
    from hbench.run.suites import parse_value

    if args.device == "cuda":  # asked for explicitly: refuse now rather than run on the CPU
        from hbench.run.devices import resolve_device

        resolve_device("cuda")
    spec = CellSpec(
        suite=suite_name,
        overrides={key: parse_value(text) for key, text in overrides.items()},
        model=args.model,
        model_args=_option_values(args.model_arg, "--model-arg"),
        task_args=_option_values(getattr(args, "task_arg", []), "--task-arg"),
        device=args.device,
    )
    return spec.request()


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    overrides = dict(args.set)
    if args.task is not None:
        overrides["task"] = json.dumps(args.task)
    if args.train_filter:
        overrides["train_filters"] = json.dumps(sorted(set(args.train_filter)))
    if args.seeds:
        overrides["seeds"] = json.dumps(args.seeds)
    return overrides


def _output_folder(path: str) -> Path:
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise invalid("--out", path, f"a folder that can be created ({exc.strerror})") from None
    if not folder.is_dir():
        raise invalid("--out", path, "a folder, not a file")
    return folder


def level_table(result) -> str:
    """Per (k_train, k_test): the model's numbers next to BP's, averaged over seeds."""
    from tabulate import tabulate

    from hbench.run.scoring import normalised_accuracy

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
    h = result.headline
    seeds = len(result.spec.seeds)
    acc, kl = h["normalised_accuracy"], h["kl_bp"]
    return (
        f"headline: normalised accuracy {acc['mean']:.4f} ± {acc['stderr']:.4f}, "
        f"KL to BP {kl['mean']:.4f} ± {kl['stderr']:.4f} bits "
        f"(in-sample levels, mean ± s.e. over {seeds} seed{'s' if seeds > 1 else ''})"
    )


def _run_and_write(
    request, folder: Path, save_models: bool, advance, fit_progress=None
) -> tuple[Any, Path]:
    """Run, then write the result; with ``save_models`` the trained models are written into a
    hidden folder first and renamed to ``<result stem>_models`` just before the result file,
    so an interrupted run leaves neither a result nor a models folder behind."""
    import shutil
    import tempfile

    from hbench.results import models_folder, new_result_path, write_result
    from hbench.run.runner import run_benchmark

    staging = None
    if save_models:
        try:
            staging = Path(tempfile.mkdtemp(dir=folder, prefix=".models-", suffix=".tmp"))
            mask = os.umask(0)
            os.umask(mask)
            staging.chmod(0o777 & ~mask)  # as a plain mkdir would (mkdtemp gives 0o700)
        except OSError as exc:
            raise invalid("--out", str(folder), f"a writable folder ({exc.strerror})") from None
    try:
        result = run_benchmark(
            request, progress=advance, save_dir=staging, fit_progress=fit_progress
        )
        path = new_result_path(result, folder)
        if staging is None or not result.saved_models:
            return result, write_result(result, folder, path=path)
        target = models_folder(path)
        staging.rename(target)
        staging = target  # removed again if the result cannot be written
        moved = [
            m.model_copy(update={"path": f"{target.name}/{m.path}"}) for m in result.saved_models
        ]
        result = result.model_copy(update={"saved_models": moved})
        written = write_result(result, folder, path=path)
        staging = None
        return result, written
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def cmd_run(args: argparse.Namespace) -> int:
    from hbench.progress import inner_progress, progress

    folder = _output_folder(args.out)
    request = _request(args, args.suite, _overrides(args))
    suite = request.suite
    fits = len(suite.seeds) * len(suite.train_levels)
    outer = progress(fits, f"{args.model} on {args.suite}/{suite.task}", unit="fit")
    with outer as advance, inner_progress("fit") as within:
        result, path = _run_and_write(request, folder, args.save_models, advance, within)
    from hbench.analysis.figures import dynamics_figures

    figures = dynamics_figures(result, path)
    if args.json:
        print(json.dumps(result.model_dump(mode="json"), indent=2, sort_keys=True))
        return 0
    flag = " (privileged: exact inference with access to the grammar)" if result.privileged else ""
    print(
        f"{args.model}{flag} on suite {args.suite!r} (hash {result.spec.suite_hash}), task "
        f"{suite.task}, P={suite.budget(suite.task)}, {suite.n_test} test sequences per level"
    )
    print(level_table(result))
    print(headline_line(result))
    print(f"wrote {path} ({result.wall_s:.1f} s)")
    if result.saved_models:
        where = Path(result.saved_models[0].path).parent
        print(f"wrote {len(result.saved_models)} trained model(s) to {path.parent / where}")
    elif args.save_models:
        print(f"saved no models: model {args.model!r} has no save(path) method")
    for figure in figures:
        print(f"wrote {figure}")
    return 0


def _save_load_check(request) -> tuple[str, bool, str] | None:
    """For a model with ``save`` and ``load``: fit once, save, load into a fresh instance and
    compare predictions (what `hbench analyze` relies on); None for a model without them."""
    import tempfile

    from hbench.run.harness import Harness

    h = Harness(request)
    model = h.new_model()
    if not all(callable(getattr(model, name, None)) for name in ("save", "load")):
        return None
    seed, level = request.suite.seeds[0], request.suite.train_levels[0]
    callbacks = h.callbacks(seed, level)
    h.fit(model, h.train_data(seed, level), callbacks)
    data = h.test_data(seed, level)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.pt"
        h._call_model("save", lambda: model.save(path))
        loaded = h.new_model()
        h._call_model("load", lambda: loaded.load(path, device=callbacks.device))
        gap = float(np.abs(h.predict(loaded, data) - h.predict(model, data)).max())
    same = gap <= 1e-6
    return "save/load round trip", same, f"largest change of a probability {gap:.1e}"


def cmd_check(args: argparse.Namespace) -> int:
    """Run the model on the smoke suite for every built-in task, twice, and check the contract."""
    from tabulate import tabulate

    from hbench.run.runner import run_benchmark

    checks: list[tuple[str, bool, str]] = []
    for task in ("root", "mlm"):
        args.task, args.seeds, args.train_filter, args.set = task, None, None, []
        request = _request(args, "smoke", _overrides(args))
        first = run_benchmark(request)  # predictions are validated inside: contract errors raise
        checks.append(
            (
                f"{task}: fits and predicts valid probabilities",
                True,
                f"{len(first.metrics)} scored levels, {first.wall_s:.1f} s",
            )
        )
        again = run_benchmark(request)
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
        round_trip = _save_load_check(request)
        if round_trip is not None:
            checks.append((f"{task}: {round_trip[0]}", *round_trip[1:]))
    print(
        tabulate(
            [(name, "ok" if ok else "FAILED", note) for name, ok, note in checks],
            headers=["check", "result", "detail"],
        )
    )
    failed = [name for name, ok, _ in checks if not ok]
    if failed:
        print(f"model {args.model!r} failed {len(failed)} check(s): {', '.join(failed)}")
        return 1
    print(f"model {args.model!r} passes the contract checks")
    return 0


def cmd_list_suites(as_json: bool) -> int:
    from tabulate import tabulate

    from hbench.run.suites import SUITES

    if as_json:
        print(json.dumps({name: s.model_dump(mode="json") for name, s in SUITES.items()}, indent=2))
        return 0
    rows = [
        [s.name, s.q, s.depth, s.sigma, s.P, s.P_mlm or s.P, s.n_test, s.n_ood, s.description]
        for s in SUITES.values()
    ]
    print(
        tabulate(
            rows,
            headers=[
                "suite",
                "q",
                "depth",
                "sigma",
                "P",
                "P (mlm)",
                "n_test",
                "n_ood",
                "description",
            ],
        )
    )
    return 0
