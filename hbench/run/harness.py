"""One run: a pure function from a `RunSpec` to a `RunResult`.

For each seed and training filter level the harness samples P training sequences, turns them
into task data, and hands only that data to a fresh model (so the budget holds by
construction). It then asks the model about test data of every test level, and about uniformly
random sequences ("ood"), and scores each answer against the exact oracle of the test level
(BP_k_test, the Bayes-optimal answer) and of the training level (BP_k_train, the mismatched
oracle a model trained at k_train may have learned). Test sets depend only on the seed and the
test level, so every training level is scored on the very same questions.

The harness keeps the grammar, the data and the oracle's answers; the model lives behind a
`hbench.run.worker.ModelHandle`, in a worker process of its own unless it is a privileged
reference model or the run asks for ``in_process``. Independent fits (seeds, training levels)
run ``jobs`` at a time, each with the spec's thread count, so the numbers never depend on how
many ran at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from hbench.contracts import PrivilegedAccess, TaskData
from hbench.errors import HbenchError, PluginError
from hbench.metrics import MetricInputs, score_extra
from hbench.registry.registry import Registry, get_registry
from hbench.results import LevelMetrics, ResolvedSpec, RunResult, SavedModel, Timing
from hbench.run.dynamics import DynamicsRecorder
from hbench.run.generation import check_handle, draw, sample_seed, score_level
from hbench.run.journal import FitJournal, join_fits, recorded_grammar_seeds
from hbench.run.lengths import check_lengths
from hbench.run.spec import ResolvedRun, RunSpec
from hbench.run.worker import (
    CHECKPOINT_SEQUENCES,
    Callbacks,
    FitReport,
    InProcessModel,
    IsolatedModel,
    ProgressHook,
    WorkerTemplates,
    head,
    import_path,
)
from hbench.run.world import World, model_seed
from hbench.scoring import headline, score_queries, score_random, validate_probabilities

_log = logging.getLogger("hbench.run.harness")

#: Where fits run: "process" isolates a model in a worker process, "in-process" does not.
ISOLATION = ("process", "in-process")


@dataclass
class FitOutcome:
    """One (seed, training level): its scores, timing and what the model said about itself."""

    seed: int
    k_train: int
    metrics: list[LevelMetrics]
    timing: Timing
    report: FitReport
    isolation: str
    dynamics: dict[str, Any] | None = None
    saved: SavedModel | None = None
    headline: dict[str, Any] = field(default_factory=dict)


class Harness:
    """Runs one spec in its `World` (the grammars, data and oracle answers of its seeds, built
    once): fits a fresh model for each (seed, training level) and scores it.

    ``model`` replaces the registered model by an in-memory one (a class or zero-argument
    factory called once per fit, or an object with ``fit``/``predict`` reused for each fit);
    such a model runs in this process. ``world`` is the run's world when the caller has built
    it already; the data (``harness.world.train_data``, ``test_data``, ``oracle_answers``) is
    public for analyses and for `hbench.task_data`.
    """

    #: Where every scored query is logged (`hbench.run.samples.SampleLog`), if anywhere.
    sample_log: Any = None
    #: Where the fits' learning curves go (`hbench.run.loggers.Curves`), if anywhere.
    curves: Any = None

    def __init__(
        self,
        spec: RunSpec | ResolvedRun,
        registry: Registry | None = None,
        *,
        model: Any = None,
        world: World | None = None,
    ) -> None:
        self.registry = registry or get_registry()
        self.run_spec = spec if isinstance(spec, ResolvedRun) else spec.resolve(self.registry)
        self.spec = self.run_spec.spec
        self.suite = self.run_spec.suite
        self.custom_model = model
        self.world = world or World.of(self.run_spec)
        world = self.world  # padded inputs need a model that masks the padding
        check_lengths(world.grammar(self.suite.seeds[0]), world.task_spec, self.run_spec, model)
        self._lock = threading.RLock()
        self._live: set[Any] = set()  # model handles of the fits in flight
        self._stopping = False
        self._templates: WorkerTemplates | None = None  # the run's worker templates
        # recorded under each cell's scores: the registered metrics beyond LevelMetrics' fields
        self.extra_metrics = list(self.run_spec.metrics)

    # --- one model, in this process (analyses, checks, tests) ---------------------------------

    @property
    def model_label(self) -> str:
        """How messages name the model: the registered one with its plugin, or a model given
        in memory by its own name (its spec names a stand-in model for the options only)."""
        if self.custom_model is not None:
            return f"model {self.model_name!r} (given in memory)"
        entry = self.run_spec.model_entry
        return f"model {self.spec.model!r} ({entry.source})"

    @property
    def privileged(self) -> bool:
        return self.custom_model is None and self.run_spec.privileged

    def new_model(self) -> Any:
        """A fresh model object: the in-memory one, or built by the registered factory."""
        custom = self.custom_model
        if custom is None:
            return self.run_spec.model_entry.create(self.run_spec.model_config)
        if isinstance(custom, type) or not hasattr(custom, "fit"):
            return custom()
        return custom

    def access(self, seed: int, level: int) -> PrivilegedAccess | None:
        """What a privileged model is handed: the grammar of its seed, filter, oracle, task."""
        if not self.privileged:
            return None
        world = self.world
        return PrivilegedAccess(world.grammar(seed), world.filter, world.oracle, world.task, level)

    def callbacks(self, seed: int, level: int, **hooks: Any) -> Callbacks:
        access = self.access(seed, level)
        return Callbacks(model_seed(seed, level), self.spec.device, access, **hooks)

    def call_model(self, stage: str, call: Callable[[], Any]) -> Any:
        """Run one of the model's methods; a crash becomes a `PluginError` naming it."""
        try:
            return call()
        except HbenchError:
            raise
        except Exception as exc:
            message = f"{self.model_label} failed in {stage}: {type(exc).__name__}: {exc}"
            raise PluginError(message) from exc

    def fit(self, model: Any, train: TaskData, callbacks: Any) -> None:
        self.call_model("fit", lambda: model.fit(train, self.world.task_spec, callbacks))

    def predict(self, model: Any, data: TaskData) -> np.ndarray:
        probabilities = self.call_model("predict", lambda: model.predict(data.without_targets()))
        return self.check(probabilities, data)

    def check(self, probabilities: Any, data: TaskData) -> np.ndarray:
        return validate_probabilities(
            probabilities, data.n_queries, self.world.task_spec.q, self.model_label
        )

    def score(
        self,
        seed: int,
        k_train: int,
        predict: Callable[[int | str], Any],
        samples: np.ndarray | None = None,
    ) -> tuple[list[LevelMetrics], float, float]:
        """Score ``predict(key)`` (a fitted model's probabilities on each test set) against the
        oracles of the test and training levels; (metrics, predict seconds, oracle seconds).
        ``samples``: the sequences the model drew, for a task that generates, scored at each
        test level (`hbench.run.generation`)."""
        world, metrics, predict_s, oracle_s = self.world, [], 0.0, 0.0
        for key in world.test_keys():
            data = world.test_data(seed, key)
            generated, start = None, time.perf_counter()
            if samples is not None and key != "ood":  # exact scores: the oracle's time
                generated = score_level(world, seed, int(key), samples)
            oracle_s += time.perf_counter() - start
            start = time.perf_counter()
            probabilities = self.check(predict(key), data)
            predict_s += time.perf_counter() - start
            start = time.perf_counter()
            bp_train = world.oracle_answers(seed, key, k_train)
            bp_test = bp_train if key == "ood" else world.oracle_answers(seed, key, int(key))
            oracle_s += time.perf_counter() - start
            keep = None
            if key == "ood":  # scored on the sequences the grammar can produce only
                possible = world.ood_possible(seed, k_train)
                sequences = _sequence_of(data, possible.size)
                scores = score_random(
                    probabilities, bp_train, world.task_spec.q, world.chance, possible,
                    sequences, k_train,
                )  # fmt: skip
                keep = possible[sequences]
            else:
                scores = score_queries(
                    probabilities, bp_test, bp_train, data.targets, world.task_spec.q, world.chance
                )
            if world.capabilities.metrics and scores["n_queries"]:  # the task's own scores
                extra = world.task.metrics(probabilities, bp_test, data, world.task_spec)
                scores["task_metrics"] = extra
            if generated is not None:  # the generated sequences' own numbers, in full
                own = scores.get("task_metrics") or {}
                scores["task_metrics"] = {**own, **generated.record()}
            if self.extra_metrics:  # registered metrics beyond the fixed fields, by name
                inputs = MetricInputs(
                    probabilities, bp_test, bp_train, data.targets, world.task_spec.q,
                    world.chance, self.suite.task, data, samples=generated,
                )  # fmt: skip
                if keep is not None and not keep.all():
                    inputs = MetricInputs(
                        probabilities[keep], bp_test[keep], bp_train[keep], None,
                        world.task_spec.q, world.chance, self.suite.task, None,
                    )  # fmt: skip
                scores["scores"] = (
                    score_extra(self.extra_metrics, inputs)
                    if scores["n_queries"]
                    else dict.fromkeys(m.name for m in self.extra_metrics)
                )
            metrics.append(LevelMetrics(seed=seed, k_train=k_train, k_test=key, **scores))
            if self.sample_log is not None:  # every query's answers (`hbench.run.samples`)
                self.sample_log.write(
                    seed=seed, grammar_seed=world.grammar_seed(seed), k_train=k_train,
                    k_test=key, data=data, model=probabilities, bp=bp_test, bp_train=bp_train,
                    possible=keep,
                )  # fmt: skip
        return metrics, predict_s, oracle_s

    def evaluate(self, model: Any, seed: int, k_train: int) -> tuple[list[dict], float, float]:
        """Score a model fitted in this process on every test set; rows as dicts."""

        def predict(key: int | str) -> Any:
            data = self.world.test_data(seed, key).without_targets()
            return self.call_model("predict", lambda: model.predict(data))

        samples = None
        if self.world.capabilities.generates:
            in_process = InProcessModel(model, self.spec.device, 1)
            check_handle(in_process, self.model_name, self.suite.task)
            n = self.world.task.n_samples(self.suite.largest_test_size)
            seed_s = sample_seed(seed, k_train)
            call = lambda n, s: model.sample(n, np.random.default_rng(s))  # noqa: E731
            samples = draw(call, n, seed_s, self.world.task_spec, self.model_label)
        metrics, predict_s, oracle_s = self.score(seed, k_train, predict, samples)
        return [m.model_dump() for m in metrics], predict_s, oracle_s

    # --- a whole run -----------------------------------------------------------------------------

    def isolation(self, in_process: bool | None) -> str:
        """Where this run's fits go: in-process for privileged reference models (handed the
        grammar anyway) and in-memory models, else as asked (isolated by default)."""
        if self.custom_model is not None or self.privileged or in_process:
            return "in-process"
        return "process"

    def default_jobs(self) -> int:
        from hbench.run.threads import thread_budget

        return max(1, min(len(self.run_spec.fits), thread_budget() // self.spec.threads))

    def _handle(self, isolation: str, seed: int, k_train: int) -> Any:
        device = self.spec.device
        if isolation == "in-process":
            model = self.call_model("build", self.new_model)
            access = self.access(seed, k_train)
            return InProcessModel(model, device, self.spec.threads, access, self.model_label)
        entry = self.run_spec.model_entry
        factory = import_path(entry.factory)
        if factory is None:
            raise PluginError(
                f"{self.model_label}: its factory {entry.factory!r} has no import path, so it "
                "cannot run in an isolated worker; register a module-level factory (or run "
                "in-process, which leaderboards refuse)"
            )
        from hbench.run.worker import model_files

        return IsolatedModel(
            factory,
            _absolute_paths(self.run_spec.model_config),
            threads=self.spec.threads,
            device=device,
            label=self.model_label,
            allowed=[*model_files(factory), *_paths_in(self.run_spec.model_config)],
            templates=self._templates,
            build_imports=self.build_imports,
            fit_name=f"fit (seed {seed}, level {k_train})",
            watched=self.watched_packages,
        )

    @property
    def watched_packages(self) -> tuple[str, ...]:
        """The packages of the run's grammar, filter and oracle plugins: a model's worker that
        imports one during fit or predict is flagged by its audit."""
        names = []
        run = self.run_spec
        for entry in (run.grammar_entry, run.filter_entry, run.oracle_entry):
            path = import_path(entry.factory) or ""
            names.append(path.partition(":")[0].split(".")[0])
        return tuple(n for n in dict.fromkeys(names) if n and n != "hbench")

    @property
    def build_imports(self) -> tuple[str, ...]:
        """Watched packages the model's registration says it imports while it is built
        (``build_imports=``, e.g. a grammar plugin's BP code for a grammar it fits itself)."""
        value = self.run_spec.model_entry.metadata.get("build_imports", ())
        return tuple(str(name) for name in ([value] if isinstance(value, str) else value))

    def sandbox_plan(
        self,
        isolation: str,
        save_dir: Path | None = None,
        memory_per_fit: int | None = None,
        fit_timeout: float | None = None,
        processes_per_fit: int | None = None,
    ) -> Any:
        """How this run's workers start (`hbench.run.worker.Plan`): in the sandbox where it
        can run, with the fits' limits (default memory: the share of the available memory
        `hbench.memory` allows one allocation, on the cpu only, as CUDA reserves address
        space it never uses; default time: `DEFAULT_FIT_TIMEOUT`)."""
        from hbench.memory import MEMORY_SHARE, available_memory
        from hbench.run.worker import DEFAULT_FIT_TIMEOUT, Limits, Plan
        from hbench.run.worker.sandbox import plan

        gpu = self.spec.device == "cuda" or (
            self.spec.device == "auto" and any(Path("/dev").glob("nvidia[0-9]*"))
        )
        if memory_per_fit is None and not gpu:
            memory_per_fit = int(available_memory() * MEMORY_SHARE)
        limits = Limits(
            memory=memory_per_fit or None,
            fit_timeout=DEFAULT_FIT_TIMEOUT if fit_timeout is None else fit_timeout or None,
            **({"processes": processes_per_fit} if processes_per_fit else {}),
        )
        if isolation == "in-process":
            return Plan(False, limits, reason="the model ran in the harness's process")
        factory = import_path(self.run_spec.model_entry.factory) or ""
        packages = [factory.partition(":")[0].split(".")[0], *self.build_imports]
        named = _path_options(self.run_spec.model_config)
        # a folder the model writes into is bound as it is; a file, through a staging folder
        folders = [p for _, _, p, role in named if role == "write" and Path(p).is_dir()]
        return plan(
            limits,
            packages=[p for p in packages if p],
            paths=[p for _, _, p, role in named if role is None],
            files=[p for _, _, p, role in named if role == "write" and not Path(p).is_dir()],
            write=[*folders, *([save_dir] if save_dir is not None else [])],
            read=[p for _, _, p, role in named if role == "read"],
        )

    def run_fit(
        self,
        seed: int,
        k_train: int,
        *,
        isolation: str = "process",
        save_dir: Path | None = None,
        fit_progress: Callable[[int, int, str], None] | None = None,
    ) -> FitOutcome:
        """Fit a fresh model at (seed, k_train) and score it on every test set."""
        train = self.world.train_data(seed, k_train)
        keys = self.world.test_keys()
        tests = {key: self.world.test_data(seed, key) for key in keys}
        # the training level's own test set, for learning dynamics
        own = tests[k_train] if k_train in tests else self.world.test_data(seed, k_train)
        # checkpoints see the head of each test set (`worker.head`), answers cut to match
        checkpoint_tests = {
            k: head(v, CHECKPOINT_SEQUENCES)
            for k, v in {**tests, k_train: own}.items()
            if k != "ood"
        }
        own_queries = checkpoint_tests[k_train].n_queries
        recorder = DynamicsRecorder(
            seed,
            k_train,
            {k: d.targets for k, d in checkpoint_tests.items() if k in self.suite.test_levels},
            {
                j: self.world.oracle_answers(seed, k_train, j)[:own_queries]
                for j in self.world.oracle_levels
            },
        )

        def on_checkpoint(label, seconds, predictions) -> None:
            checked = {k: self.check(p, checkpoint_tests[k]) for k, p in predictions.items()}
            recorder(label, seconds, checked)
            if self.curves is not None:  # to the experiment trackers (`hbench.run.loggers`)
                self.curves.checkpoint(seed, k_train, recorder.points[-1])

        def on_scalars(scalars, step) -> None:  # what the model logs, checked on the way
            self.curves.scalars(seed, k_train, scalars, step)

        if self._stopping:
            raise PluginError(f"{self.model_label}: the run was stopped")
        handle = self._handle(isolation, seed, k_train)
        self._live.add(handle)
        if self._stopping:  # stopped while this worker started: it must not train
            handle.kill()
        generates = self.world.capabilities.generates
        try:
            if generates:  # a model that cannot draw sequences: refused before it trains
                check_handle(handle, self.model_name, self.suite.task)
            report = self.call_model(
                "fit",
                lambda: handle.fit(
                    train,
                    self.world.task_spec,
                    model_seed(seed, k_train),
                    {**tests, k_train: own},
                    on_checkpoint,
                    fit_progress,
                    on_scalars=on_scalars if self.curves is not None else None,
                ),
            )
            samples, start = None, time.perf_counter()
            if generates:  # the model's own sequences, scored at every test level
                n = self.world.task.n_samples(self.suite.largest_test_size)
                seed_s = sample_seed(seed, k_train)
                samples = draw(handle.sample, n, seed_s, self.world.task_spec, self.model_label)
            sample_s = time.perf_counter() - start
            metrics, predict_s, oracle_s = self.score(
                seed,
                k_train,
                lambda key: self.call_model("predict", lambda: handle.predict(key)),
                samples,
            )
            predict_s += sample_s
            saved = None
            if save_dir is not None:
                name = f"s{seed}_k{k_train}.pt"
                if self.call_model("save", lambda: handle.save(str(save_dir / name))):
                    saved = SavedModel(seed=seed, k_train=k_train, path=name)
        finally:
            self._live.discard(handle)
            handle.close()
        timing = Timing(
            seed=seed, k_train=k_train, fit_s=report.fit_s, predict_s=predict_s, oracle_s=oracle_s
        )
        return FitOutcome(
            seed,
            k_train,
            metrics,
            timing,
            report,
            handle.isolation,
            recorder.series() if recorder.points else None,
            saved,
            headline([m for m in metrics]),
        )

    def run(
        self,
        *,
        jobs: int | None = None,
        in_process: bool | None = None,
        save_dir: Path | None = None,
        progress: Callable[[int], None] | None = None,
        fit_progress: Callable[[int, int], AbstractContextManager[ProgressHook | None]]
        | None = None,
        on_fit: Callable[[FitOutcome], None] | None = None,
        memory_per_fit: int | None = None,
        fit_timeout: float | None = None,
        processes_per_fit: int | None = None,
        fits: list[tuple[int, int]] | None = None,
        sample_log: Any = None,
        curves: Any = None,
        journal: FitJournal | None = None,
    ) -> RunResult:
        """Every (seed, training level): fit a fresh model and score it; the typed result.

        ``jobs`` fits run at once (default: as many as the thread budget allows at the spec's
        threads per fit); ``save_dir`` keeps each fitted model that can ``save`` itself;
        ``progress(1)`` counts finished fits; ``fit_progress(seed, k_train)`` is a context,
        entered for each fit while it runs, whose value receives that fit's own progress
        (`hbench.progress.FitBars.fit`: a bar per running fit, with any ``jobs``); ``on_fit``
        sees each fit's outcome as it finishes (log lines).
        ``memory_per_fit`` (bytes of address space) and ``fit_timeout`` (seconds; 0: none) are
        each isolated fit's limits (`sandbox_plan`), with ``processes_per_fit`` (processes and
        threads at once); a fit past one fails the run in one line. ``fits``: only these
        (seed, training level) pairs, each fitted exactly as in the whole run (a distributed
        reproduction fits a run's pairs on different machines and joins their results).
        ``sample_log`` logs every scored query (`hbench.run.samples.SampleLog`), ``curves``
        sends each fit's learning curves to experiment trackers (`hbench.run.loggers.Curves`).
        ``journal`` keeps each finished fit on disk and supplies the fits an interrupted
        attempt of the same run finished, which are not fitted again (`hbench.run.journal`)."""
        if sample_log is not None:  # both read the run's spec and shapes before any fit
            sample_log.bind(self)
        if curves is not None:
            curves.bind(self)
            on_fit = curves.after(on_fit)
        self.sample_log, self.curves = sample_log, curves
        isolation = self.isolation(in_process)
        fits = self.run_spec.fits if fits is None else list(fits)
        jobs = self.default_jobs() if jobs is None else max(1, int(jobs))
        jobs = 1 if isolation == "in-process" else min(jobs, len(fits))
        started = time.perf_counter()
        # the code as the workers import it, before any fit: an edit during the run is not it
        from hbench.results.environment import code_state

        self._code = code_state(self.plugins_involved())
        # the fits' workers are forked from one template process per run, in the sandbox
        plan = self.sandbox_plan(
            isolation, save_dir, memory_per_fit, fit_timeout, processes_per_fit
        )
        self.sandbox = plan.record()
        kept, earlier_s = self._kept(journal, fits, save_dir, isolation)
        if kept and progress is not None:
            progress(len(kept))
        todo = [fit for fit in fits if fit not in kept]

        # a seed's test sets and oracle answers are dropped once its last fit is scored, so
        # the run holds the data of the seeds in flight only
        remaining = Counter(seed for seed, _ in todo)
        parts: dict[tuple[int, int], RunResult] = {}  # this attempt's fits, as kept

        def one(fit: tuple[int, int]) -> FitOutcome:
            within = fit_progress(*fit) if fit_progress is not None else nullcontext(None)
            with within as report:
                outcome = self.run_fit(
                    *fit, isolation=isolation, save_dir=save_dir, fit_progress=report
                )
            if journal is not None:  # kept before it counts as done
                wall = earlier_s + time.perf_counter() - started
                part = self._result([outcome], isolation, wall)
                journal.keep(part, save_dir)
                parts[fit] = part
            with self._lock:
                remaining[fit[0]] -= 1
                if not remaining[fit[0]]:
                    self.world.forget(fit[0])
            if progress is not None:
                progress(1)
            if on_fit is not None:
                on_fit(outcome)
            return outcome

        jobs = max(1, min(jobs, len(todo)))
        try:
            outcomes = self._fit_all(one, todo, jobs, plan)
        except BaseException:
            if journal is not None and journal.count():
                _log.warning(
                    "%d finished fits of this run are kept in %s: the same command resumes it",
                    journal.count(), journal.path,
                )  # fmt: skip
            raise
        wall_s = time.perf_counter() - started
        if journal is None:
            return self._result(outcomes, isolation, wall_s)
        return self._joined(fits, {**kept, **parts}, kept, earlier_s + wall_s)

    def _fit_all(
        self, one: Callable[[tuple[int, int]], FitOutcome], fits: list, jobs: int, plan: Any
    ) -> list[FitOutcome]:
        """``one(fit)`` for each of ``fits``, ``jobs`` at a time, their workers forked from
        the run's templates (none are started when nothing is left to fit)."""
        with WorkerTemplates(plan) if fits else nullcontext(None) as self._templates:
            if jobs == 1:
                return [one(fit) for fit in fits]
            pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hbench-fit")
            try:
                return list(pool.map(one, fits))
            except BaseException:  # Ctrl-C, SIGTERM, a failed fit: stop the other fits now
                self._stopping = True
                for handle in list(self._live):
                    handle.kill()
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _kept(
        self,
        journal: FitJournal | None,
        fits: list[tuple[int, int]],
        save_dir: Path | None,
        isolation: str,
    ) -> tuple[dict[tuple[int, int], RunResult], float]:
        """The fits of ``fits`` an earlier attempt kept in ``journal`` (their trained models
        put into ``save_dir``), and that attempt's wall time: those made by the same code on
        the same processor, isolated as this attempt's fits are and in the same sandbox."""
        if journal is None:
            return {}, 0.0
        from hbench.results.environment import cpu_name

        walls = (isolation, str(self.sandbox.get("kind")))
        found = journal.finished(self._code.sources, cpu_name(), walls)
        kept = {fit: found[fit] for fit in fits if fit in found}
        drawn = recorded_grammar_seeds(kept) if self.spec.official else None
        if drawn is not None and drawn != self.world.grammar_seeds:
            if sorted(drawn) != sorted(self.suite.seeds):
                _log.warning("the fits kept in %s are of other seeds; it starts over", journal.path)
                journal.drop()
                return {}, 0.0
            # the grammars the first attempt drew: the kept fits were scored on them
            self.world = World.of(self.run_spec, grammar_seeds=drawn)
        for part in kept.values():
            journal.restore(part, save_dir)
        if kept:
            _log.info(
                "resuming: %d of %d fits were finished by an earlier attempt (%s)",
                len(kept), len(fits), journal.path,
            )  # fmt: skip
        return kept, max((part.wall_s for part in kept.values()), default=0.0)

    def _joined(
        self,
        fits: list[tuple[int, int]],
        parts: dict[tuple[int, int], RunResult],
        kept: dict[tuple[int, int], RunResult],
        wall_s: float,
    ) -> RunResult:
        """The whole run from its fits' one-fit results (``parts``: the kept ones and this
        attempt's, as the journal holds them), in the run's order."""
        result = join_fits([parts[fit] for fit in fits], wall_s)
        # this attempt's sandbox record (its limits; the kind is every kept fit's too)
        result = result.model_copy(update={"sandbox": self.sandbox})
        if not kept:
            return result
        resumed = [[seed, k_train] for seed, k_train in fits if (seed, k_train) in kept]
        return result.model_copy(update={"extra": {**result.extra, "resumed_fits": resumed}})

    def _result(self, outcomes: list[FitOutcome], isolation: str, wall_s: float) -> RunResult:
        from hbench.results import collect_environment
        from hbench.run.devices import device_used

        first = outcomes[0].report
        parameters = _parameter_count(first.num_parameters, self.model_label)
        resolved = first.resolved_config
        if resolved is not None and not isinstance(resolved, dict):
            raise PluginError(
                f"{self.model_label} resolved_config() returned {type(resolved).__name__}; "
                "expected a dict"
            )
        metrics = [m for outcome in outcomes for m in outcome.metrics]
        dynamics = [o.dynamics for o in outcomes if o.dynamics is not None]
        audit = sorted({event for o in outcomes for event in o.report.audit})
        # where the fits ran, as the process that ran them says (this one may never have
        # imported torch); else this process's view, for models that report nothing
        runtime = first.runtime
        device = runtime["device"] if runtime else device_used(self.spec.device)
        environment = collect_environment(self.plugins_involved(), device, self._code)
        if runtime:
            environment = environment.model_copy(
                update={"torch": runtime["torch"], "gpu": runtime["gpu"]}
            )
        suite = self.suite
        spec = ResolvedSpec(
            suite=suite.model_dump(mode="json"),
            suite_name=self.spec.suite,
            suite_hash=suite.spec_hash(),
            overrides=dict(self.spec.overrides),
            task=suite.task,
            task_config=self.run_spec.task_config.model_dump(mode="json"),
            model=self.model_name,
            model_config=self.model_settings,
            train_filters=suite.train_levels,
            test_filters=suite.test_levels,
            seeds=list(suite.seeds),
            device=device,
            threads=self.spec.threads,
            label=self.spec.label,
            official=self.spec.official,
            grammar_seeds=[self.world.grammar_seeds[s] for s in suite.seeds]
            if self.spec.official or self.spec.grammar_seeds is not None
            else None,
        )
        return RunResult(
            spec=spec,
            privileged=self.privileged,
            isolation=isolation,
            sandbox=getattr(self, "sandbox", None) or {"kind": "none"},
            audit=audit,
            metrics=metrics,
            headline=headline(metrics),
            timings=[o.timing for o in outcomes],
            environment=environment,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            wall_s=wall_s,
            extra={
                **({"dynamics": dynamics} if dynamics else {}),
                **({"resolved_model_config": resolved} if resolved is not None else {}),
            },
            saved_models=[o.saved for o in outcomes if o.saved is not None],
            num_parameters=parameters,
        )

    @property
    def model_name(self) -> str:
        if self.custom_model is None:
            return self.spec.model
        custom = self.custom_model
        cls = custom if isinstance(custom, type) else type(custom)
        return getattr(custom, "name", None) or getattr(cls, "__name__", "model").lower()

    @property
    def model_settings(self) -> dict[str, Any]:
        if self.custom_model is None:
            return self.run_spec.model_config.model_dump(mode="json")
        return {}

    def plugins_involved(self) -> list[dict]:
        """The distributions of every plugin item the run used, once each."""
        entries = list(self.run_spec.entries)
        if self.custom_model is not None:  # the registered model stood in for the options only
            entries.pop()
        seen: dict[str, dict] = {}
        for entry in entries:
            seen.setdefault(
                entry.plugin,
                {
                    "name": entry.plugin,
                    "distribution": entry.distribution,
                    "version": entry.version,
                },
            )
        return list(seen.values())


def _sequence_of(data: TaskData, sequences: int) -> np.ndarray:
    """(m,) the random sequence each query of ``data`` asks about. A task may give a sequence
    several input rows (next-token's masked view: rows s * L .. s * L + L - 1 are sequence s's
    prefixes), listed contiguously and equally many per sequence, as `TaskData` orders them."""
    rows = np.asarray(data.query_rows, dtype=np.int64)
    if sequences <= 0 or len(data) == sequences:
        return rows
    if len(data) % sequences:
        raise PluginError(
            f"the task gave {len(data)} input rows for {sequences} random sequences: not a"
            " whole number of rows per sequence"
        )
    return rows // (len(data) // sequences)


def _parameter_count(count: Any, label: str) -> int | None:
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise PluginError(f"{label} num_parameters() returned {count!r}; expected an integer >= 0")
    if count >= 10**15:
        raise PluginError(f"{label} num_parameters() returned {count}: not a plausible count")
    return int(count)


#: The roles of the options that name a path without declaring one (``json_schema_extra``).
DEFAULT_PATH_ROLES = {"init": "read", "save": "write"}


def declared_path_role(config: Any, key: str) -> str | None:
    """The role a model's options class declares for option ``key``
    (``json_schema_extra={"path": "read" | "write"}``), or None."""
    field = getattr(type(config), "model_fields", {}).get(key)
    extra = getattr(field, "json_schema_extra", None)
    return extra.get("path") if isinstance(extra, dict) else None


def path_role(config: Any, key: str) -> str | None:
    """``"read"`` or ``"write"``: the declared role of option ``key``, else ``init`` reads and
    ``save`` writes; None for any other option."""
    return declared_path_role(config, key) or DEFAULT_PATH_ROLES.get(key)


def _path_options(config: Any) -> list[tuple[str, str, str, str | None]]:
    """The options of a model that name paths: ``(key, value, path, role)``, ``path`` made
    absolute against the working folder (where the user meant it; a worker's own working
    folder need not be the user's) and ``role`` ``"read"`` or ``"write"`` as the options
    class declares it (``json_schema_extra={"path": "write"}``; ``init`` reads and ``save``
    writes unless declared otherwise), else None for a value that looks like a path (a ``/``
    in it, or ``.pt`` at its end). A ``file.py:Class`` value names the file."""
    if not hasattr(config, "model_dump"):
        return []
    found = []
    for key, value in config.model_dump(mode="json").items():
        if not isinstance(value, str) or not value:
            continue
        role = path_role(config, key)
        if role is None and not ("/" in value or value.endswith(".pt")):
            continue
        head = value.rpartition(":")[0]
        named = head if head.endswith(".py") else value
        found.append((key, value, str(Path(named).expanduser().resolve()), role))
    return found


def _paths_in(config: Any) -> list[str]:
    """The absolute paths a model's options name (`_path_options`): the model's own files."""
    return [path for _, _, path, _ in _path_options(config)]


def _absolute_paths(config: Any) -> Any:
    """``config`` with the paths its options name made absolute (`_path_options`), as the
    harness sends it to a worker: ``save=mlm.pt`` is the working folder's, wherever the
    worker runs."""
    update = {}
    for key, value, path, _ in _path_options(config):
        head = value.rpartition(":")[0]
        update[key] = path + value[len(head) :] if head.endswith(".py") else path
    return config.model_copy(update=update) if update else config
