"""Running a plan's parts into a reproduction folder, each at most once.

Layout of the folder::

    runs/<name>.json, runs/<name>_models/     one harness run each (trained models kept)
    sweeps/<part>/<stage>.toml, .../results/  the sweep files as run, one result per cell
    analyses/<run>_<analysis>.json|png|pdf    analysis reports and their figures
    figures/                                  the claims' own figures
    REPORT.md, report.html                    the report

A part is finished when its file exists: a run's result, a sweep cell's result, an analysis
report. Each is written atomically and only after the work behind it, so an interrupted
reproduction loses only the parts in flight and a rerun starts from what is on disk. A run's
trained models go to a hidden folder first and are renamed next to the result just before
the result is written (as ``hbench run --save-models`` does).

Executors: ``local`` runs the parts one after the other on this machine, ``jobs`` fits at a
time. ``dask`` spreads them over a Dask cluster (`hbench.sweep.executors`: a scheduler's
address, or a `LocalCluster` of ``jobs`` workers): every fit of a run is one task and every
sweep cell another, the runs and the sweeps' chains in flight at once; on ``cuda`` each asks
for the worker resource ``GPU=1``. The workers share the reproduction folder with this process
(a shared file system on a cluster): a fit writes its model into the run's hidden models
folder, and this process joins the fits into the run's result and writes it, so the folder is
the same as the local executor's. A run is a pure function of its spec, fit by fit, so the
numbers do not depend on the executor, and a fit whose worker dies is rerun by the scheduler.
Analyses run here, after the runs and sweeps.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hbench.reproduce.plan import THROUGHPUT, AnalysisPart, Plan, RunPart, SweepPart
from hbench.results import RunResult
from hbench.run.journal import join_fits
from hbench.run.spec import ResolvedRun, RunSpec, merge_overrides

Log = Callable[[str], None]


def _shown(values: dict, key: str) -> str:
    return repr(values[key]) if key in values else "the default"


def stderr_log(text: str) -> None:
    """One step, as INFO on the ``hbench.reproduce`` logger (the command line shows it)."""
    import logging

    logging.getLogger("hbench.reproduce").info(text)


@dataclass
class Runner:
    """Runs the parts of ``plan`` into ``out``; ``log`` gets one line per step."""

    plan: Plan
    out: Path
    device: str = "auto"
    jobs: int = 1
    log: Log = stderr_log
    executor: str = "local"
    scheduler: str | None = None  # with the dask executor: a running scheduler's address
    connect_timeout: float = 30.0

    # --- checks before any work -------------------------------------------------------------

    def spec(self, part: RunPart) -> RunSpec:
        defaults = {"seeds": list(self.plan.seeds)}  # a part may ask for its own seeds
        overrides = merge_overrides({**defaults, **part.overrides}, task=part.task)
        return RunSpec(
            model="transformer",
            suite=self.plan.suite,
            overrides=overrides,
            model_args=dict(part.model_args),
            device=self.device,
        )

    def check(self) -> None:
        """Every run's spec and every first sweep stage, validated (one `UsageError`)."""
        from hbench.reproduce.sweeps import part_stage

        for part in self.plan.runs:
            self._same_settings(part, self.spec(part).resolve())
        for part in self.plan.sweeps:
            for stage in part.stages:  # the schema of every stage; cells of the first
                part_stage(part, stage, self.out, self.device)

    def _same_settings(self, part: RunPart, run: ResolvedRun) -> None:
        """A finished run is reused only if the plan still asks for it: a result made with
        other settings (an older plan, a hand-made file) is refused by name, not judged as if
        it were this plan's. Options are compared as the spec hash does (those that differ
        from their defaults), so an option a plugin gained since keeps a result valid."""
        from hbench.errors import UsageError
        from hbench.results import read_result
        from hbench.suites import Suite

        path = self.out / "runs" / f"{part.name}.json"
        if not path.is_file():
            return
        recorded = read_result(path).spec

        def options(config: type, values: dict) -> dict:
            try:
                return config.model_validate(values).model_dump(mode="json", exclude_defaults=True)
            except ValueError:  # an option this plugin no longer has: not the same run
                return {"(options)": values}

        pairs = {
            "suite": (Suite.model_validate(recorded.suite).canonical(), run.suite.canonical()),
            "model": ({"name": recorded.model}, {"name": run.model_entry.name}),
            "model option": (
                options(run.model_entry.config, recorded.model_settings),
                run.model_config.model_dump(mode="json", exclude_defaults=True),
            ),
            "task option": (
                options(run.task_entry.config, recorded.task_config),
                run.task_config.model_dump(mode="json", exclude_defaults=True),
            ),
        }
        for what, (there, now) in pairs.items():
            for key in sorted(set(there) | set(now)):
                if there.get(key) != now.get(key):
                    raise UsageError(
                        f"{self._relative(path)} was made with other settings than the"
                        f" {self.plan.scale} plan's ({what} {key}: {_shown(there, key)} there,"
                        f" {_shown(now, key)} now); delete it to rerun it (its analyses are"
                        " redone with it)"
                    )

    # --- the parts -----------------------------------------------------------------------------

    def run_all(self) -> None:
        steps = len(self.plan.parts)
        index = 0
        work = []
        for part in self.plan.runs:
            index += 1
            work.append((f"[{index}/{steps}] run {part.name}", lambda p=part: self.run_part(p)))
        for sweep in self.plan.sweeps:
            index += 1
            work.append((f"[{index}/{steps}] sweep {sweep.name}", lambda s=sweep: self.sweep(s)))
        if self.executor == "dask" and not self._finished():
            # every run and sweep chain in flight at once: the cluster spreads their fits
            # (a failed part closes the client first, which ends the other parts' waits)
            pool = ThreadPoolExecutor(max(1, len(work)), thread_name_prefix="hbench-part")
            with pool, self._dask():
                first = work[: len(self.plan.runs)]
                runs = {
                    p.name: pool.submit(self._timed, *w)
                    for p, w in zip(self.plan.runs, first, strict=True)
                }
                later = [  # a sweep that loads a run's models starts once that run is done
                    pool.submit(_after, [runs[n] for n in s.after if n in runs], self._timed, *w)
                    for s, w in zip(self.plan.sweeps, work[len(first) :], strict=True)
                ]
                for future in [*runs.values(), *later]:
                    future.result()
        else:
            for item in work:
                self._timed(*item)
        for analysis in self.plan.analyses:
            index += 1
            self._timed(
                f"[{index}/{steps}] analysis {analysis.name}",
                lambda a=analysis: self.analysis(a),
            )

    def _timed(self, what: str, work: Callable[[], str]) -> None:
        started = time.perf_counter()
        state = work()
        self.log(f"{what}: {state} ({time.perf_counter() - started:.1f} s)")

    def run_part(self, part: RunPart) -> str:
        """One harness run, its models kept; skipped when its result exists.

        Analyses of this run already in the folder were made from an earlier result (deleted
        to rerun it): they are removed before training, so that the report never pairs the
        new run with the old run's calibration, attention or probes."""
        from hbench.run.execute import execute

        folder = self.out / "runs"
        path = folder / f"{part.name}.json"
        if path.is_file():
            return f"already done ({self._relative(path)})"
        stale = sorted((self.out / "analyses").glob(f"{part.name}_*"))
        for file in stale:
            file.unlink()
        if stale:
            self.log(f"  {part.name}: removed {len(stale)} file(s) of its earlier analyses")
        folder.mkdir(parents=True, exist_ok=True)
        if self.executor == "dask":
            result = self._run_on_dask(part, path)
            norm = result.headline["normalised_accuracy"]["mean"]
            return f"done, in-sample normalised accuracy {norm:.3f} ({self._relative(path)})"
        result = execute(
            self.spec(part),
            out=folder,
            path=path,
            save_models=True,
            jobs=self.jobs,
            on_fit=self._fit_line(part),
        ).result
        norm = result.headline["normalised_accuracy"]["mean"]
        return f"done, in-sample normalised accuracy {norm:.3f} ({self._relative(path)})"

    def _fit_line(self, part: RunPart) -> Callable:
        def line(outcome) -> None:
            norm = outcome.headline["normalised_accuracy"]["mean"]
            self.log(
                f"  {part.name}: fit seed={outcome.seed} k_train={outcome.k_train} in"
                f" {outcome.timing.fit_s:.1f} s, normalised accuracy {norm:.3f}"
            )

        return line

    def sweep(self, part: SweepPart) -> str:
        """Every stage of a chained sweep in turn; a stage's finished cells are skipped."""
        from hbench.io import atomic_write
        from hbench.reproduce.sweeps import part_stage, to_toml
        from hbench.sweep.file import load_sweep

        folder = self.out / "sweeps" / part.name
        folder.mkdir(parents=True, exist_ok=True)
        ran = skipped = 0
        for stage in part.stages:
            config = part_stage(part, stage, self.out, self.device)
            file = folder / f"{stage}.toml"
            with atomic_write(file, "w", field="--out") as handle:
                handle.write(to_toml(config))
            sweep = load_sweep(file)
            todo, done = sweep.pending()
            skipped += len(done)
            sweep.results.mkdir(parents=True, exist_ok=True)
            self._set_aside(stage, sweep.results, {cell.filename for cell in sweep.cells})
            self._cells(stage, todo, sweep.results)
            ran += len(todo)
        return f"{ran} cell(s) run, {skipped} already done"

    def _set_aside(self, stage: str, results: Path, cells: set[str]) -> None:
        """Result files of cells the plan no longer has (an older plan's grammar or grid) move
        to ``superseded/`` next to ``results``: the claims read every result in the folder,
        and must not mix another plan's cells with this one's."""
        stale = [path for path in results.glob("*.json") if path.name not in cells]
        if not stale:
            return
        aside = results.parent / "superseded"
        aside.mkdir(exist_ok=True)
        for path in stale:
            path.replace(aside / path.name)
        where = self._relative(aside)
        self.log(f"  {stage}: {len(stale)} result(s) of other plans moved to {where}")

    def _cells(self, stage: str, cells, results: Path) -> None:
        from hbench.sweep.cell import run_cell

        if not cells:
            return
        if self.executor == "dask":
            self._cells_on_dask(stage, cells, results)
            return

        def one(cell) -> None:
            started = time.perf_counter()
            run_cell(cell.spec, str(results))
            self.log(f"  {stage}: {cell.describe()} in {time.perf_counter() - started:.1f} s")

        if self.jobs <= 1 or len(cells) <= 1:
            for cell in cells:
                one(cell)
            return
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="hbench-cell") as pool:
            for future in [pool.submit(one, cell) for cell in cells]:
                future.result()

    def analysis(self, part: AnalysisPart) -> str:
        """One analysis of a run through the function ``hbench analyze`` calls; skipped when
        its report exists."""
        from hbench.analysis.report import get_analysis

        folder = self.out / "analyses"
        report = folder / f"{part.name}.json"
        if report.is_file():
            return f"already done ({self._relative(report)})"
        result = self.out / "runs" / f"{part.run}.json"
        if not result.is_file():
            return f"skipped: run {part.run} is not finished"
        analysis = get_analysis(part.analysis)
        options = dict(part.options)
        if "device" in analysis.options_class.model_fields:
            options.setdefault("device", self.device)
        found = analysis(result, options)
        if found.skipped is not None:
            return f"skipped: {found.skipped}"
        found.write(folder)
        return f"done ({self._relative(report)})"

    # --- the dask executor --------------------------------------------------------------------

    def _finished(self) -> bool:
        """Whether every run and sweep cell is on disk already (a resumed reproduction then
        needs no cluster)."""
        from hbench.registry.registry import get_registry
        from hbench.reproduce.sweeps import part_stage
        from hbench.sweep.file import _expand_model

        if any(not (self.out / "runs" / f"{p.name}.json").is_file() for p in self.plan.runs):
            return False
        registry = get_registry()
        for part in self.plan.sweeps:
            for stage in part.stages:
                config = part_stage(part, stage, self.out, self.device)
                results = Path(config.out) / "results"
                for index, entry in enumerate(config.models):
                    for cell in _expand_model(config, index, entry, registry):
                        if not (results / cell.filename).is_file():
                            return False
        return True

    def _fit_resources(self) -> dict[str, float]:
        return {"GPU": 1.0} if self.device == "cuda" else {}

    def _needed_resources(self) -> dict[str, float]:
        """What a LocalCluster's workers must offer so that no fit or cell waits forever."""
        from hbench.reproduce.sweeps import part_stage

        needed = dict(self._fit_resources())
        for part in self.plan.sweeps:
            for stage in part.stages:
                config = part_stage(part, stage, self.out, self.device)
                for entry in config.models:
                    for name, amount in entry.resources.items():
                        needed[name] = max(needed.get(name, 0.0), amount)
        return needed

    @contextlib.contextmanager
    def _dask(self) -> Iterator[None]:
        """One client for the whole reproduction: the scheduler's, or a LocalCluster's."""
        from hbench.sweep.executors import (
            _import_distributed,
            connect,
            start_local_cluster,
            threads_per_worker,
        )

        _import_distributed()  # dask missing: one line, before a cluster starts
        cluster = None
        self._threads: int | None = None
        if self.scheduler is None:
            cluster = start_local_cluster(self.jobs, self._needed_resources())
            self._threads = threads_per_worker(self.jobs)
        self._client = connect(cluster, self.scheduler, self.connect_timeout)
        try:
            self.log(f"dask: {sum(self._client.nthreads().values())} worker thread(s)")
            yield
        finally:
            self._client.close()
            if cluster is not None:
                cluster.close()
            del self._client

    def _run_on_dask(self, part: RunPart, path: Path) -> RunResult:
        """Every fit of ``part`` as one Dask task, joined into the run's result, written by the
        one writer of results (`hbench.run.execute.write_run`: the models saved into its
        staging folder, renamed next to the result just before it is written)."""
        from hbench.errors import HbenchError
        from hbench.registry.loading import one_line
        from hbench.run.execute import write_run

        spec = self.spec(part)
        fits = spec.resolve().fits
        started = time.perf_counter()

        def produce(staging: Path | None) -> RunResult:
            assert staging is not None  # save_models: a staging folder is made
            futures = [
                self._client.submit(
                    fit_task,
                    spec,
                    seed,
                    k_train,
                    str(staging.resolve()),
                    self._threads,
                    key=f"hbench-fit-{part.name}-s{seed}-k{k_train}-{staging.name}",
                    resources=self._fit_resources() or None,
                    pure=False,
                )
                for seed, k_train in fits
            ]
            results = []
            for (seed, k_train), future in zip(fits, futures, strict=True):
                try:  # in the run's order, as the local executor lists them
                    result = future.result()
                except HbenchError:
                    raise
                except Exception as exc:  # a worker lost too often (KilledWorker), a crash
                    raise HbenchError(
                        f"run {part.name}: fit seed={seed} k_train={k_train} failed on the"
                        f" Dask cluster: {one_line(exc)}"
                    ) from None
                results.append(result)
                self._fit_line(part)(_FitLine(result))
            return join_fits(results, time.perf_counter() - started)

        result, _ = write_run(path.parent, produce, save_models=True, path=path)
        return result

    def _cells_on_dask(self, stage: str, cells, results: Path) -> None:
        """The cells through `hbench.sweep.executors.run_dask` on the reproduction's client;
        a failed cell stops the reproduction, as it does on the local executor."""
        from hbench.errors import HbenchError
        from hbench.sweep.executors import run_dask

        outcomes = run_dask(
            cells,
            results,
            scheduler=None,
            workers=self.jobs,
            client=self._client,
            threads=self._threads,
        )
        for outcome in outcomes:
            if not outcome.ok:
                raise HbenchError(f"sweep {stage}: {outcome.cell.describe()}: {outcome.error}")
            self.log(f"  {stage}: {outcome.cell.describe()} done")

    # --- the plan and its cost, without running it ----------------------------------------

    def outline(self) -> dict[str, Any]:
        """The plan as data: every part, its fits and an estimate of their training time
        (`hbench.reproduce.plan.THROUGHPUT`), for ``--dry-run``. Reads and writes nothing."""
        speed = THROUGHPUT[self.plan.scale]
        parts: list[dict[str, Any]] = []
        for part in self.plan.runs:
            run = self.spec(part).resolve()
            row = _fit_row("transformer", run, speed)
            parts.append(
                {"part": f"run {part.name}", "description": part.description, "fits": [row]}
            )
        for part in self.plan.sweeps:
            parts.append(
                {
                    "part": f"sweep {part.name}",
                    "description": part.description,
                    "fits": self._sweep_rows(part, speed),
                }
            )
        for part in self.plan.analyses:
            parts.append(
                {
                    "part": f"analysis {part.name}",
                    "description": f"{part.analysis} of run {part.run}",
                    "fits": [],
                }
            )
        for entry in parts:
            entry["hours"] = _rounded(sum(row["hours"] for row in entry["fits"]))
        return {
            "scale": self.plan.scale,
            "suite": self.plan.suite,
            "budget": self.plan.budget,
            "fits": sum(row["fits"] for entry in parts for row in entry["fits"]),
            "hours": _rounded(sum(entry["hours"] for entry in parts)),
            "unit": speed.unit,
            "assumptions": {
                "reference": speed.reference,
                "sequence_epochs_per_second": dict(speed.per_task),
                "source": speed.source,
                "counted": "training only (sequences x epochs per fit / throughput); data,"
                " oracles, scoring and analyses are not counted",
            },
            "parts": parts,
        }

    def _sweep_rows(self, part: SweepPart, speed) -> list[dict[str, Any]]:
        """A sweep's cells, one row per (model, task, P, epochs) with its levels and seeds."""
        from hbench.registry.registry import get_registry
        from hbench.reproduce.sweeps import part_stage
        from hbench.sweep.file import _expand_model

        registry = get_registry()
        groups: dict[tuple, dict[str, Any]] = {}
        for stage in part.stages:
            config = part_stage(part, stage, self.out, self.device)
            for index, entry in enumerate(config.models):
                for cell in _expand_model(config, index, entry, registry):
                    row = _fit_row(entry.label or entry.name, cell.spec.resolve(registry), speed)
                    key = (stage, row["model"], row["task"], row["P"], row["epochs"])
                    if key not in groups:
                        groups[key] = {"stage": stage, **row, "levels": [], "seeds": [], "fits": 0}
                    group = groups[key]
                    group["levels"] = sorted({*group["levels"], *row["levels"]})
                    group["seeds"] = sorted({*group["seeds"], *row["seeds"]})
                    group["fits"] += row["fits"]
                    group["hours"] = group.get("hours", 0.0) + row["hours"]
        for group in groups.values():
            group["hours"] = _rounded(group["hours"])
        return list(groups.values())

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.out).as_posix()
        except ValueError:
            return str(path)


def _after(runs: list, work: Callable[..., None], *args: Any) -> None:
    """``work(*args)`` once every future of ``runs`` has finished (a failed one raises here)."""
    for future in runs:
        future.result()
    work(*args)


class _FitLine:
    """A one-fit result as the log line of `Runner._fit_line` reads a fit's outcome."""

    def __init__(self, result: RunResult) -> None:
        self.seed = result.timings[0].seed
        self.k_train = result.timings[0].k_train
        self.timing = result.timings[0]
        self.headline = result.headline


def fit_task(
    spec: RunSpec, seed: int, k_train: int, save_dir: str, threads: int | None
) -> RunResult:
    """In a Dask worker: fit (seed, k_train) of the run ``spec``, its model saved into
    ``save_dir``; the run's result for that fit alone (`join_fits` puts them together)."""
    from hbench.run.execute import execute
    from hbench.run.threads import set_thread_budget

    if threads is not None:
        set_thread_budget(threads)
    return execute(spec, jobs=1, save_dir=Path(save_dir), fits=[(seed, k_train)]).result


def _fit_row(model: str, run: ResolvedRun, speed) -> dict[str, Any]:
    """What a run fits (model, suite, task, levels, seeds, P, epochs) and its training time."""
    suite, task = run.suite, run.suite.task
    P = suite.budget(task)
    resolved = getattr(run.model_config, "resolved", None)
    shape = resolved() if callable(resolved) else {}
    epochs = shape.get("epochs_mlm" if task == "mlm" else "epochs")
    fits = len(run.fits)
    if epochs is not None:  # the transformer's own rule: at least min_steps steps
        min_steps = getattr(run.model_config, "min_steps", 0) or 0
        steps_per_epoch = math.ceil(P / shape.get("batch_size", 1))
        epochs = max(int(epochs), math.ceil(min_steps / steps_per_epoch))
        seconds = fits * P * epochs / speed.per_task.get(task, min(speed.per_task.values()))
    else:  # not trained by epochs (a reference model): not counted
        seconds = 0.0
    return {
        "model": model,
        "suite": suite.name,
        "task": task,
        "levels": list(suite.train_levels),
        "seeds": list(suite.seeds),
        "P": P,
        "epochs": epochs,
        "fits": fits,
        "hours": _rounded(seconds / 3600),
    }


def _rounded(hours: float) -> float:
    return float(f"{hours:.4g}")


def _numbers(values: list[int]) -> str:
    return ",".join(str(v) for v in values)


def format_outline(outline: dict[str, Any]) -> str:
    """``--dry-run``'s text: each part and its fits, then the estimate and what it assumes."""
    unit = outline["unit"]
    lines = [
        f"hbench reproduce --scale {outline['scale']}: {len(outline['parts'])} parts,"
        f" {outline['fits']} fits, about {outline['hours']:.4g} {unit} hours of training"
        f" (sized for {outline['budget']})",
    ]
    for entry in outline["parts"]:
        hours = f", {entry['hours']:.3g} {unit} h" if entry["fits"] else ""
        lines.append(f"{entry['part']}: {entry['description']}{hours}")
        for row in entry["fits"]:
            stage = f"[{row['stage']}] " if "stage" in row else ""
            epochs = "-" if row["epochs"] is None else row["epochs"]
            lines.append(
                f"  {stage}{row['model']}  suite {row['suite']}  task {row['task']}"
                f"  levels {_numbers(row['levels'])}  seeds {_numbers(row['seeds'])}"
                f"  P {row['P']}  epochs {epochs}  {row['fits']} fit(s)  {row['hours']:.3g} h"
            )
    assumed = outline["assumptions"]
    speeds = ", ".join(
        f"{task} {v:,.0f}" for task, v in assumed["sequence_epochs_per_second"].items()
    )
    lines += [
        f"estimate: {outline['hours']:.4g} {unit} hours, at {speeds} sequences x epochs per second"
        f" a fit on {assumed['reference']}",
        f"  throughput {assumed['source']}",
        f"  {assumed['counted']}",
    ]
    return "\n".join(lines)
