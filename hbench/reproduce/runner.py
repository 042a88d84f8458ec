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
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hbench.reproduce.plan import AnalysisPart, Plan, RunPart, SweepPart
from hbench.run.spec import ResolvedRun, RunSpec

Log = Callable[[str], None]


def _shown(values: dict, key: str) -> str:
    return repr(values[key]) if key in values else "the default"


def stderr_log(text: str) -> None:
    print(f"hbench reproduce: {text}", file=sys.stderr, flush=True)


@dataclass
class Runner:
    """Runs the parts of ``plan`` into ``out``; ``log`` gets one line per step."""

    plan: Plan
    out: Path
    device: str = "auto"
    jobs: int = 1
    log: Log = stderr_log

    # --- checks before any work -------------------------------------------------------------

    def spec(self, part: RunPart) -> RunSpec:
        overrides = {"task": part.task, "seeds": list(self.plan.seeds), **part.overrides}
        return RunSpec(
            model="transformer",
            suite=self.plan.suite,
            overrides=overrides,
            model_args=dict(part.model_args),
            device=self.device,
        )

    def check(self) -> None:
        """Every run's spec and every first sweep stage, validated (one `UsageError`)."""
        from hbench.reproduce.sweeps import relocated

        for part in self.plan.runs:
            self._same_settings(part, self.spec(part).resolve())
        for part in self.plan.sweeps:
            for stage in part.stages:  # the schema of every stage; cells of the first
                relocated(stage, part.root, self.out / "sweeps" / part.name, self.device)

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
        for part in self.plan.runs:
            index += 1
            self._timed(f"[{index}/{steps}] run {part.name}", lambda p=part: self.run_part(p))
        for sweep in self.plan.sweeps:
            index += 1
            self._timed(f"[{index}/{steps}] sweep {sweep.name}", lambda s=sweep: self.sweep(s))
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
        from hbench.results import models_folder
        from hbench.run.harness import Harness, run_and_write

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
        models = models_folder(path)
        if models.exists():  # left by a run interrupted between the rename and the write
            shutil.rmtree(models)
        result, _ = run_and_write(
            Harness(self.spec(part)),
            folder,
            save_models=True,
            path=path,
            jobs=self.jobs,
            on_fit=self._fit_line(part),
        )
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
        from hbench.reproduce.sweeps import relocated, to_toml
        from hbench.sweep.file import load_sweep

        folder = self.out / "sweeps" / part.name
        folder.mkdir(parents=True, exist_ok=True)
        ran = skipped = 0
        for stage in part.stages:
            config = relocated(stage, part.root, folder, self.device)
            file = folder / f"{stage}.toml"
            with atomic_write(file, "w", field="--out") as handle:
                handle.write(to_toml(config))
            sweep = load_sweep(file)
            todo, done = sweep.pending()
            skipped += len(done)
            sweep.results.mkdir(parents=True, exist_ok=True)
            self._cells(stage, todo, sweep.results)
            ran += len(todo)
        return f"{ran} cell(s) run, {skipped} already done"

    def _cells(self, stage: str, cells, results: Path) -> None:
        from hbench.sweep.cell import run_cell

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
        """One analysis of a run through its command's own code; skipped when its report
        exists."""
        import importlib

        from hbench.run.devices import resolve_device

        folder = self.out / "analyses"
        report = folder / f"{part.name}.json"
        if report.is_file():
            return f"already done ({self._relative(report)})"
        result = self.out / "runs" / f"{part.run}.json"
        if not result.is_file():
            return f"skipped: run {part.run} is not finished"
        module = importlib.import_module(f"hbench.analysis.{part.analysis}")
        args = argparse.Namespace(
            result=str(result),
            out=str(folder),
            json=True,
            json_parts=[],
            device=resolve_device(self.device),
            data_filter=None,
            **part.options,
        )
        module.run(args)
        skipped = [p.get("skipped") for p in args.json_parts if "skipped" in p]
        if skipped:
            return f"skipped: {skipped[0]}"
        return f"done ({self._relative(report)})"

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.out).as_posix()
        except ValueError:
            return str(path)
