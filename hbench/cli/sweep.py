"""``hbench sweep SWEEP``: run a grid of cells on a local pool or a Dask cluster.

SWEEP is a sweep file or the name of one hbench ships (``hbench sweep --list``). The grid is
validated whole before any cell runs (exit 2 on a bad file), cells already in the output folder
are skipped (``--overwrite`` reruns them), a bar counts cells done, running and failed, and the
end shows a table per model and every failure with its error; the exit code is 1 if any cell
failed, after every other cell has run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hbench.cli.options import examples
from hbench.errors import UsageError, invalid
from hbench.text import printable


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse ``type`` for integers >= ``minimum``, with the rule in its message."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
        return value

    return parse


_positive = _int_at_least(1)
_count = _int_at_least(0)


def add_parsers(
    sub: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> dict[str, Callable[[argparse.Namespace], int]]:
    """Add ``sweep``; return its handler."""
    from hbench.sweep.executors import EXECUTORS

    p = sub.add_parser(
        "sweep",
        parents=[common],
        help="run a grid of models x levels x budgets x seeds from a TOML file (resumable)",
    )
    p.add_argument(
        "sweep_file",
        metavar="SWEEP",
        nargs="?",
        help="a sweep file (.toml), or the name of a built-in sweep (see --list)",
    )
    p.add_argument("--list", action="store_true", help="list the built-in sweeps and what they run")
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="local: a process pool; dask: a Dask cluster (default: %(default)s)",
    )
    p.add_argument(
        "--workers",
        type=_positive,
        help="worker processes of the local pool or of the Dask LocalCluster"
        " (default: the core count; more than the cores this process may use are capped"
        " to that count, with a warning)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --executor dask: a running scheduler, e.g. tcp://HOST:8786"
        " (default: start a LocalCluster)",
    )
    p.add_argument(
        "--retries",
        type=_count,
        default=0,
        help="with --executor dask: reruns of a cell that raised (lost workers are always"
        " rerun; default %(default)s)",
    )
    p.add_argument(
        "--connect-timeout",
        type=_positive,
        default=30,
        metavar="SECONDS",
        help="with --scheduler: how long to wait for it to answer (default %(default)s)",
    )
    p.add_argument("--out", help="output folder (default: the sweep file's `out`)")
    p.add_argument(
        "--overwrite", action="store_true", help="rerun cells whose result already exists"
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the cells and what would run, run nothing"
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON summary: every cell's state (done, skipped, failed) and path",
    )
    examples(
        p,
        [
            "hbench sweep cpu-sample-complexity --workers 2   # a built-in sweep (see --list)",
            "hbench sweep my-sweep.toml --dry-run",
            "hbench sweep paper --executor dask --scheduler tcp://HOST:8786",
        ],
    )
    return {"sweep": cmd_sweep}


class _CellBar:
    """A bar over cells with done / running / failed; one log line per cell off a terminal."""

    def __init__(self, total: int, slots: int) -> None:
        import hbench.progress

        self.total, self.slots, self.done, self.failed = total, slots, 0, 0
        self.quiet = hbench.progress.QUIET
        self.bar = None
        if not self.quiet and total > 0 and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc="cells", unit="cell", leave=False)
            self._status()

    @property
    def running(self) -> int:
        return min(self.slots, self.total - self.done - self.failed)

    def _status(self) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(
                f"done {self.done}, running {self.running}, failed {self.failed}"
            )

    def set_slots(self, slots: int) -> None:
        self.slots = max(1, slots)
        self._status()

    def finished(self, outcome) -> None:
        if outcome.ok:
            self.done += 1
        else:
            self.failed += 1
        if self.bar is not None:
            self.bar.update(1)
            self._status()
        elif not self.quiet:
            import logging

            from hbench.cli.logs import STEPS

            state = "done" if outcome.ok else "FAILED"
            count = self.done + self.failed
            logging.getLogger(STEPS).info(
                f"[{count}/{self.total}] {state} {printable(outcome.cell.describe())}"
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _wall_s(path: str | None) -> float:
    if path is None:
        return 0.0
    try:
        return float(json.loads(Path(path).read_text(encoding="utf-8")).get("wall_s", 0.0))
    except (OSError, ValueError, AttributeError):
        return 0.0


def summary_table(cells, skipped, outcomes) -> str:
    """Per model label: cells, already done, ran, failed, and the compute time of this run."""
    from tabulate import tabulate

    rows: dict[str, list] = {}
    for cell in cells:
        rows.setdefault(cell.spec.name, [cell.spec.name, 0, 0, 0, 0, 0.0])[1] += 1
    for cell in skipped:
        rows[cell.spec.name][2] += 1
    for outcome in outcomes:
        row = rows[outcome.cell.spec.name]
        row[3 if outcome.ok else 4] += 1
        row[5] += _wall_s(outcome.path)
    table = [[printable(row[0]), *row[1:5], f"{row[5]:.1f}"] for row in rows.values()]
    headers = ["model", "cells", "already done", "ran", "failed", "run time (s, summed)"]
    return tabulate(table, headers=headers, tablefmt="github", disable_numparse=True)


def _write_failures(out: Path, failures) -> Path | None:
    from hbench.io import atomic_write

    path = out / "failures.jsonl"
    if not failures:
        path.unlink(missing_ok=True)
        return None
    with atomic_write(path, "w", field="--out") as handle:
        for outcome in failures:
            cell = outcome.cell
            record = {"cell": cell.key, "values": cell.values, "error": outcome.error}
            handle.write(json.dumps({"model": cell.spec.name, **record}, sort_keys=True) + "\n")
    return path


def cell_summary(sweep, done, outcomes, *, dry_run: bool = False) -> list[dict]:
    """Every cell of the sweep: its label, axis values, state and result path (or error).

    States: ``skipped`` (its result was already there), ``done``, ``failed``, and ``to run``
    (a dry run) or ``not run`` (interrupted before it finished)."""
    finished = {outcome.cell.key: outcome for outcome in outcomes}
    skipped = {cell.key for cell in done}
    cells = []
    for cell in sweep.cells:
        entry = {"label": cell.spec.name, "values": cell.values, "key": cell.key}
        outcome = finished.get(cell.key)
        if cell.key in skipped:
            entry.update(state="skipped", path=str(sweep.results / cell.filename))
        elif outcome is not None and outcome.ok:
            entry.update(state="done", path=outcome.path)
        elif outcome is not None:
            entry.update(state="failed", error=outcome.error)
        else:
            entry.update(state="to run" if dry_run else "not run")
        cells.append(entry)
    return cells


def _json_summary(sweep, done, outcomes, **extra) -> str:
    cells = cell_summary(sweep, done, outcomes, dry_run=extra.get("dry_run", False))
    counts: dict[str, int] = {}
    for cell in cells:
        counts[cell["state"]] = counts.get(cell["state"], 0) + 1
    data = {
        "sweep": sweep.config.name or sweep.path.stem,
        "file": str(sweep.path),
        "out": str(sweep.out),
        "results": str(sweep.results),
        **extra,
        "counts": counts,
        "cells": cells,
    }
    return json.dumps(data, indent=2)


def list_builtins(as_json: bool) -> int:
    """``hbench sweep --list``: each built-in sweep's name, cells, suite and description."""
    from tabulate import tabulate

    from hbench.sweep.builtins import builtin_sweeps
    from hbench.sweep.file import grid_size, read_sweep_file

    rows = []
    for name, path in builtin_sweeps().items():
        config = read_sweep_file(path)
        rows.append(
            {
                "name": name,
                "cells": grid_size(config),
                "suite": config.suite,
                "out": config.out,
                "description": config.description,
                "file": str(path),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    headers = ["name", "cells", "suite", "description"]
    print(tabulate([[row[key] for key in headers] for row in rows], headers=headers))
    return 0


def _workers(asked: int | None, executor: str, scheduler: str | None, cores: int) -> int:
    """The worker processes to start: ``asked`` (default: ``cores``), capped to ``cores`` on
    this machine with one warning line (more processes than cores only slow every cell down
    and multiply the memory); a running Dask scheduler's workers are not ours to count."""
    if asked is None:
        return cores
    if asked > cores and not (executor == "dask" and scheduler):
        print(
            f"hbench: warning: --workers {asked} is more than the {cores} core(s) this process"
            f" may use; starting {cores}",
            file=sys.stderr,
        )
        return cores
    return asked


def _check_out(results: Path, field: str) -> None:
    """Refuse, before any cell runs (and on --dry-run), an output folder that cannot be made
    or written; nothing is created here."""
    from hbench.results.files import check_writable

    probe = results / "probe.json"
    try:
        check_writable(probe, field)
    except UsageError as exc:  # name the folder the user gave, not the probe inside it
        raise UsageError(str(exc).replace(repr(str(probe)), repr(str(results)))) from None


def cmd_sweep(args: argparse.Namespace) -> int:
    from hbench.io import atomic_write, check_name_lengths
    from hbench.sweep.builtins import find_sweep_file
    from hbench.sweep.executors import (
        check_scheduler_address,
        default_workers,
        run_dask,
        run_local,
    )
    from hbench.sweep.file import load_sweep

    if args.list:
        if args.sweep_file is not None:
            raise invalid("--list", True, "alone, without SWEEP")
        return list_builtins(args.json)
    if args.sweep_file is None:
        raise UsageError("SWEEP is required: a sweep file or a built-in name (see --list)")
    if args.scheduler is not None and args.executor != "dask":
        raise invalid("--scheduler", args.scheduler, "only with --executor dask")
    if args.scheduler is not None:
        check_scheduler_address(args.scheduler)
    if args.retries and args.executor != "dask":
        raise invalid("--retries", args.retries, "only with --executor dask")
    if args.out is not None:
        check_name_lengths(args.out, "--out", file=False)
    sweep = load_sweep(find_sweep_file(args.sweep_file), out=args.out)
    if args.out is None:
        check_name_lengths(sweep.out, f"out (in {sweep.path})", file=False)
    _check_out(sweep.results, "--out" if args.out is not None else f"out (in {sweep.path})")
    todo, done = sweep.pending(args.overwrite)
    workers = _workers(args.workers, args.executor, args.scheduler, default_workers())
    where = f"{args.executor} executor" + (
        f" at {args.scheduler}" if args.scheduler else f", {workers} worker(s)"
    )
    title = sweep.config.name or sweep.path.stem
    say = (lambda text: None) if args.json else print
    say(
        f"sweep {title!r}: {len(sweep.cells)} cells, {len(done)} already done, {len(todo)} to"
        f" run -> {sweep.results} ({where})"
    )
    if args.dry_run:
        if args.json:
            print(_json_summary(sweep, done, [], dry_run=True))
        for cell in sweep.cells:
            state = "done" if cell in done else "to run"
            say(printable(f"  {state:7s}{cell.describe()}  [{cell.filename}]"))
        return 0
    try:
        sweep.results.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise invalid("--out", str(sweep.out), f"a folder that can be created ({exc})") from None
    with atomic_write(sweep.out / "sweep.toml", "w", field="--out") as handle:
        handle.write(sweep.path.read_text(encoding="utf-8"))

    started = time.perf_counter()
    outcomes = []
    bar = _CellBar(len(todo), workers)
    try:
        if not todo:
            stream = iter(())
        elif args.executor == "local":
            stream = run_local(todo, sweep.results, workers)
        else:
            stream = run_dask(
                todo,
                sweep.results,
                scheduler=args.scheduler,
                workers=workers,
                retries=args.retries,
                connect_timeout=args.connect_timeout,
                on_slots=bar.set_slots,
            )
        for outcome in stream:
            outcomes.append(outcome)
            bar.finished(outcome)
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    say(summary_table(sweep.cells, done, outcomes))
    failures = [outcome for outcome in outcomes if not outcome.ok]
    log = _write_failures(sweep.out, failures)
    ran = len(outcomes) - len(failures)
    if args.json:
        failures_file = None if log is None else str(log)
        print(_json_summary(sweep, done, outcomes, wall_s=elapsed, failures=failures_file))
    say(f"ran {ran} cell(s) in {elapsed:.1f} s wall; results in {sweep.results}")
    if failures:
        say(f"{len(failures)} cell(s) failed (also in {log}):")
        for outcome in failures:
            say(printable(f"  {outcome.cell.describe()}: {outcome.error}"))
        return 1
    return 0
