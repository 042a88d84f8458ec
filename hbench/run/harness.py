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

import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from hbench.contracts import PrivilegedAccess, Sample, TaskData, exact_answers
from hbench.errors import HbenchError, PluginError, UsageError, invalid
from hbench.registry.registry import Registry, get_registry
from hbench.results import LevelMetrics, ResolvedSpec, RunResult, SavedModel, Timing
from hbench.run.dynamics import DynamicsRecorder
from hbench.run.spec import ResolvedRun, RunSpec
from hbench.run.worker import (
    CHECKPOINT_SEQUENCES,
    Callbacks,
    FitReport,
    InProcessModel,
    IsolatedModel,
    WorkerTemplates,
    head,
    import_path,
)
from hbench.scoring import (
    asks_root,
    chance_level,
    headline,
    score_queries,
    validate_probabilities,
)

#: Streams of the run's randomness, kept apart so that changing one never shifts another.
_TRAIN, _TRAIN_TASK, _TEST, _TEST_TASK, _OOD, _MODEL = range(6)

#: Where fits run: "process" isolates a model in a worker process, "in-process" does not.
ISOLATION = ("process", "in-process")


def _seed(*parts: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(p) for p in parts])


def test_data(
    grammar: Any, task: Any, n: int, seed: int, level: int, internal: bool = False
) -> TaskData:
    """The test questions of a seed at a filter level (``grammar`` is filtered at that level;
    ``internal``: the task asks about internal nodes, so the sample keeps them).

    One definition for the harness and `hbench oracle-table`, so their numbers agree."""
    sample = grammar.sample(n, _seed(seed, _TEST, level), internal=internal)
    rng = np.random.default_rng(_seed(seed, _TEST_TASK, level))
    return task.make(sample, task.spec(grammar), rng)


def model_seed(seed: int, level: int) -> int:
    """The seed a model's own randomness gets for one fit (`FitCallbacks.seed`)."""
    return int(_seed(seed, _MODEL, level).generate_state(1)[0])


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
    """Runs one spec: builds the plugins once, caches test data and the oracle's answers.

    ``model`` replaces the registered model by an in-memory one (a class or zero-argument
    factory called once per fit, or an object with ``fit``/``predict`` reused for each fit);
    such a model runs in this process. Data access (`train_data`, `test_data`,
    `oracle_answers`) is public for analyses and for `hbench.task_data`.
    """

    def __init__(
        self,
        spec: RunSpec | ResolvedRun,
        registry: Registry | None = None,
        *,
        model: Any = None,
    ) -> None:
        self.registry = registry or get_registry()
        self.run_spec = spec if isinstance(spec, ResolvedRun) else spec.resolve(self.registry)
        self.spec = self.run_spec.spec
        self.suite = self.run_spec.suite
        self.custom_model = model
        self.filter = self.registry.get("filter", self.suite.filter).create()
        self.oracle = self.registry.get("oracle", self.suite.oracle).create()
        self.task = self.run_spec.task_entry.create(self.run_spec.task_config)
        self.grammar_seeds = self._grammar_seeds()
        self._grammars: dict[int, Any] = {}
        self._levels: dict[tuple[int, int], Any] = {}
        self._tests: dict[tuple[int, int | str], TaskData] = {}
        self._answers: dict[tuple[int, int | str, int], np.ndarray] = {}
        self._lock = threading.RLock()
        self._live: set[Any] = set()  # model handles of the fits in flight
        self._stopping = False
        self._templates: WorkerTemplates | None = None  # the run's worker templates
        self.internal = bool(getattr(self.task, "needs_internal_nodes", False))
        first = self.suite.seeds[0]
        self.task_spec = self.task.spec(self.grammar(first))
        # n_c is the grammar's, the same for every seed's grammar (only the rules differ)
        classes = getattr(self.grammar(first), "classes", None)
        try:
            root = asks_root(self.task, self.suite.task)
            self.chance = chance_level(root, self.task_spec.q, classes)
        except ValueError as exc:  # a grammar whose root has more classes than symbols
            raise PluginError(f"grammar {self.suite.grammar!r}: {exc}") from exc
        refused: dict[int, UsageError] = {}  # a task refuses a level it cannot ask
        for level in self.suite.levels:
            try:
                self.task.spec(self.filtered(first, level))
            except UsageError as exc:
                refused[level] = exc
        for level in sorted({*self.suite.train_levels, *self.suite.test_levels}):
            if level in refused:
                raise refused[level]
        # the levels whose BP can answer the task: all but, for ancestor at depth d, those > d
        # (learning dynamics compare a model with every one of them)
        self.oracle_levels = [j for j in self.suite.levels if j not in refused]

    # --- the grammar of each seed ------------------------------------------------------------

    def _grammar_seeds(self) -> dict[int, int]:
        """The grammar each seed runs on: the suite's, or for an official run one per seed,
        drawn from the operating system's entropy unless the spec replays recorded ones."""
        seeds = self.suite.seeds
        if not self.spec.official:
            return {seed: self.suite.grammar_seed for seed in seeds}
        drawn = self.spec.grammar_seeds or [secrets.randbits(63) for _ in seeds]
        return dict(zip(seeds, drawn, strict=True))

    def grammar_seed(self, seed: int) -> int:
        """The grammar seed of a run seed: the suite's, or an official run's own for it."""
        if not self.spec.official:
            return self.suite.grammar_seed
        if seed not in self.grammar_seeds:
            raise invalid("seed", seed, f"one of the official run's seeds {self.suite.seeds}")
        return self.grammar_seeds[seed]

    def grammar(self, seed: int) -> Any:
        """The unfiltered grammar of a seed (one per seed in official runs)."""
        with self._lock:
            grammar_seed = self.grammar_seed(seed)
            if grammar_seed not in self._grammars:
                config = {**self.suite.grammar_config(self.registry), "seed": grammar_seed}
                entry = self.registry.get("grammar", self.suite.grammar)
                self._grammars[grammar_seed] = entry.create(config)
            return self._grammars[grammar_seed]

    def filtered(self, seed: int, level: int) -> Any:
        with self._lock:
            key = (self.grammar_seed(seed), level)
            if key not in self._levels:
                self._levels[key] = self.filter.apply(self.grammar(seed), level)
            return self._levels[key]

    # --- data ----------------------------------------------------------------------------------

    def train_data(self, seed: int, level: int) -> TaskData:
        """The P training questions of a seed at a filter level, with their answers."""
        grammar = self.filtered(seed, level)
        budget = self.suite.budget(self.suite.task)
        sample = grammar.sample(budget, _seed(seed, _TRAIN, level), internal=self.internal)
        rng = np.random.default_rng(_seed(seed, _TRAIN_TASK, level))
        return self.task.make(sample, self.task_spec, rng)

    def test_data(self, seed: int, level: int | str) -> TaskData:
        """Test questions (with answers) at a filter level, or "ood" random sequences."""
        key = (seed, level)
        with self._lock:
            if key not in self._tests:
                if level == "ood":
                    n = self.suite.n_ood
                    rng = np.random.default_rng(_seed(seed, _OOD))
                    length = self.task_spec.length
                    grammar = self.grammar(seed)
                    leaves = rng.integers(0, grammar.q, size=(n, length))
                    # random sequences have no tree: nodes are placeholders, answers unused
                    arity = int(getattr(grammar, "arity", 2))
                    nodes = (
                        {d: np.zeros((n, arity**d), np.int64) for d in range(1, grammar.depth)}
                        if self.internal
                        else {}
                    )
                    sample = Sample(np.zeros(n, dtype=np.int64), leaves, nodes)
                    data = self.task.make(sample, self.task_spec, rng).without_targets()
                else:
                    grammar = self.filtered(seed, int(level))
                    data = test_data(
                        grammar, self.task, self.suite.n_test, seed, int(level), self.internal
                    )
                self._tests[key] = data
            return self._tests[key]

    def oracle_answers(self, seed: int, data_level: int | str, oracle_level: int) -> np.ndarray:
        """BP_oracle_level's probabilities for the test questions of data_level (cached)."""
        key = (seed, data_level, oracle_level)
        with self._lock:
            if key not in self._answers:
                data = self.test_data(seed, data_level)
                grammar = self.filtered(seed, oracle_level)
                self._answers[key] = exact_answers(
                    self.task, self.oracle, grammar, data, self.task_spec
                )
            return self._answers[key]

    def test_keys(self) -> list[int | str]:
        keys: list[int | str] = list(self.suite.test_levels)
        if self.suite.n_ood:
            keys.append("ood")
        return keys

    # --- one model, in this process (analyses, checks, tests) ---------------------------------

    @property
    def model_label(self) -> str:
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
        return PrivilegedAccess(self.grammar(seed), self.filter, self.oracle, self.task, level)

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
        self.call_model("fit", lambda: model.fit(train, self.task_spec, callbacks))

    def predict(self, model: Any, data: TaskData) -> np.ndarray:
        probabilities = self.call_model("predict", lambda: model.predict(data.without_targets()))
        return self.check(probabilities, data)

    def check(self, probabilities: Any, data: TaskData) -> np.ndarray:
        return validate_probabilities(
            probabilities, data.n_queries, self.task_spec.q, self.model_label
        )

    def score(
        self, seed: int, k_train: int, predict: Callable[[int | str], Any]
    ) -> tuple[list[LevelMetrics], float, float]:
        """Score ``predict(key)`` (a fitted model's probabilities on each test set) against the
        oracles of the test and training levels; (metrics, predict seconds, oracle seconds)."""
        metrics, predict_s, oracle_s = [], 0.0, 0.0
        for key in self.test_keys():
            data = self.test_data(seed, key)
            start = time.perf_counter()
            probabilities = self.check(predict(key), data)
            predict_s += time.perf_counter() - start
            start = time.perf_counter()
            bp_train = self.oracle_answers(seed, key, k_train)
            bp_test = bp_train if key == "ood" else self.oracle_answers(seed, key, int(key))
            oracle_s += time.perf_counter() - start
            scores = score_queries(
                probabilities, bp_test, bp_train, data.targets, self.task_spec.q, self.chance
            )
            extra = getattr(self.task, "metrics", None)
            if callable(extra):  # task-specific scores (next-token: cross-entropy, entropy)
                scores["task_metrics"] = extra(probabilities, bp_test, data, self.task_spec)
            metrics.append(LevelMetrics(seed=seed, k_train=k_train, k_test=key, **scores))
        return metrics, predict_s, oracle_s

    def evaluate(self, model: Any, seed: int, k_train: int) -> tuple[list[dict], float, float]:
        """Score a model fitted in this process on every test set; rows as dicts."""

        def predict(key: int | str) -> Any:
            data = self.test_data(seed, key).without_targets()
            return self.call_model("predict", lambda: model.predict(data))

        metrics, predict_s, oracle_s = self.score(seed, k_train, predict)
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
            return InProcessModel(model, device, self.spec.threads, access)
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
            self.run_spec.model_config,
            threads=self.spec.threads,
            device=device,
            label=self.model_label,
            allowed=[*model_files(factory), *_paths_in(self.run_spec.model_config)],
            templates=self._templates,
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
        train = self.train_data(seed, k_train)
        keys = self.test_keys()
        tests = {key: self.test_data(seed, key) for key in keys}
        # the training level's own test set, for learning dynamics
        own = tests[k_train] if k_train in tests else self.test_data(seed, k_train)
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
            {j: self.oracle_answers(seed, k_train, j)[:own_queries] for j in self.oracle_levels},
        )

        def on_checkpoint(label, seconds, predictions) -> None:
            checked = {k: self.check(p, checkpoint_tests[k]) for k, p in predictions.items()}
            recorder(label, seconds, checked)

        if self._stopping:
            raise PluginError(f"{self.model_label}: the run was stopped")
        handle = self._handle(isolation, seed, k_train)
        self._live.add(handle)
        if self._stopping:  # stopped while this worker started: it must not train
            handle.kill()
        try:
            report = self.call_model(
                "fit",
                lambda: handle.fit(
                    train,
                    self.task_spec,
                    model_seed(seed, k_train),
                    {**tests, k_train: own},
                    on_checkpoint,
                    fit_progress,
                ),
            )
            metrics, predict_s, oracle_s = self.score(
                seed, k_train, lambda key: self.call_model("predict", lambda: handle.predict(key))
            )
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
        fit_progress: Callable[[int, int, str], None] | None = None,
        on_fit: Callable[[FitOutcome], None] | None = None,
    ) -> RunResult:
        """Every (seed, training level): fit a fresh model and score it; the typed result.

        ``jobs`` fits run at once (default: as many as the thread budget allows at the spec's
        threads per fit); ``save_dir`` keeps each fitted model that can ``save`` itself;
        ``progress(1)`` counts finished fits, ``fit_progress`` relays a sequential fit's own
        progress, and ``on_fit`` sees each fit's outcome as it finishes (log lines)."""
        isolation = self.isolation(in_process)
        fits = self.run_spec.fits
        jobs = self.default_jobs() if jobs is None else max(1, int(jobs))
        jobs = 1 if isolation == "in-process" else min(jobs, len(fits))
        started = time.perf_counter()
        inner = fit_progress if jobs == 1 else None

        def one(fit: tuple[int, int]) -> FitOutcome:
            outcome = self.run_fit(*fit, isolation=isolation, save_dir=save_dir, fit_progress=inner)
            if progress is not None:
                progress(1)
            if on_fit is not None:
                on_fit(outcome)
            return outcome

        # the fits' workers are forked from one template process per run (worker.py)
        with WorkerTemplates() as self._templates:
            if jobs == 1:
                outcomes = [one(fit) for fit in fits]
            else:
                pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="hbench-fit")
                try:
                    outcomes = list(pool.map(one, fits))
                except BaseException:  # Ctrl-C, SIGTERM, a failed fit: stop the other fits now
                    self._stopping = True
                    for handle in list(self._live):
                        handle.kill()
                    raise
                finally:
                    pool.shutdown(wait=True, cancel_futures=True)
        return self._result(outcomes, isolation, time.perf_counter() - started)

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
        device = device_used(self.spec.device)
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
            grammar_seeds=[self.grammar_seeds[s] for s in suite.seeds]
            if self.spec.official
            else None,
        )
        return RunResult(
            spec=spec,
            privileged=self.privileged,
            isolation=isolation,
            audit=audit,
            metrics=metrics,
            headline=headline(metrics),
            timings=[o.timing for o in outcomes],
            environment=collect_environment(self.plugins_involved(), device),
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
        registry, suite = self.registry, self.suite
        entries = [
            registry.get("grammar", suite.grammar),
            registry.get("filter", suite.filter),
            registry.get("oracle", suite.oracle),
            self.run_spec.task_entry,
        ]
        if self.custom_model is None:
            entries.append(self.run_spec.model_entry)
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


def _parameter_count(count: Any, label: str) -> int | None:
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
        raise PluginError(f"{label} num_parameters() returned {count!r}; expected an integer >= 0")
    if count >= 10**15:
        raise PluginError(f"{label} num_parameters() returned {count}: not a plausible count")
    return int(count)


def _paths_in(config: Any) -> list[str]:
    """Files a model's options name (``init=`` checkpoints): the model may read them."""
    values = config.model_dump(mode="json").values() if hasattr(config, "model_dump") else []
    return [v for v in values if isinstance(v, str) and ("/" in v or v.endswith(".pt"))]


def run_benchmark(
    spec: RunSpec | ResolvedRun,
    *,
    registry: Registry | None = None,
    **options: Any,
) -> RunResult:
    """``Harness(spec, registry).run(**options)``: one call for a whole run."""
    return Harness(spec, registry).run(**options)


def run_and_write(
    harness: Harness,
    folder: Path,
    *,
    save_models: bool = False,
    path: Path | None = None,
    **options: Any,
) -> tuple[RunResult, Path]:
    """Run, then write the result at ``path`` (default: a new name in ``folder``). With
    ``save_models`` the trained models are written into a hidden folder first and renamed to
    ``<result stem>_models`` just before the result file, so an interrupted run leaves neither
    a result nor a models folder behind. ``options`` go to `Harness.run`."""
    import shutil

    from hbench.io import temporary_name
    from hbench.results import models_folder, new_result_path, write_result

    # the name is chosen before the folder is made, so that an interrupt at any moment after
    # it exists finds it to remove
    staging = temporary_name(folder, ".models-") if save_models else None
    try:
        if staging is not None:
            try:
                staging.mkdir()  # the umask applies, as to any folder the user makes
            except OSError as exc:
                staging = None  # not made here: not ours to remove
                raise invalid("--out", str(folder), f"a writable folder ({exc.strerror})") from None
        result = harness.run(save_dir=staging, **options)
        path = path or new_result_path(result, folder)
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
