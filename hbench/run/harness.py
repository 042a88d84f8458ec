"""One run: a pure function from a run specification to a `RunResult`.

For each seed and training filter level the harness samples P training sequences, turns them
into task data, and hands only that data to a fresh model (so the budget holds by
construction). It then asks the model about test data of every test level, and about uniformly
random sequences ("ood"), and scores each answer against the exact oracle of the test level
(BP_k_test, the Bayes-optimal answer) and of the training level (BP_k_train, the mismatched
oracle a model trained at k_train may have learned). Test sets depend only on the seed and the
test level, so every training level is scored on the very same questions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from hbench.contracts import PrivilegedAccess, Sample, TaskData
from hbench.errors import PluginError, UsageError
from hbench.registry.registry import Registry, get_registry
from hbench.run.devices import resolve_device
from hbench.run.dynamics import DynamicsRecorder
from hbench.run.scoring import headline, score_queries, validate_probabilities
from hbench.run.suites import Suite

#: Streams of the run's randomness, kept apart so that changing one never shifts another.
_TRAIN, _TRAIN_TASK, _TEST, _TEST_TASK, _OOD, _MODEL = range(6)


@dataclass
class Callbacks:
    """The `FitCallbacks` the harness hands a model."""

    seed: int
    device_choice: str
    privileged: PrivilegedAccess | None = None
    on_checkpoint: Callable[[float | str], None] | None = None
    on_progress: Callable[[int, int, str], None] | None = None
    checkpoints: list[float | str] = field(default_factory=list)

    @property
    def device(self) -> str:
        """Resolved on first use: a model that never asks never imports torch."""
        return resolve_device(self.device_choice)

    def checkpoint(self, label: float | str) -> None:
        self.checkpoints.append(label)
        if self.on_checkpoint is not None:
            self.on_checkpoint(label)

    def progress(self, done: int, total: int, unit: str = "step") -> None:
        if self.on_progress is not None:
            self.on_progress(done, total, unit)


@dataclass(frozen=True)
class RunRequest:
    """Everything that decides a run (besides the installed plugins' code)."""

    model: str
    suite: Suite
    suite_name: str
    model_args: Mapping[str, Any] = field(default_factory=dict)
    task_args: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    device: str = "auto"

    @property
    def task(self) -> str:
        return self.suite.task


def _seed(*parts: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([int(p) for p in parts])


def test_data(model: Any, task: Any, n: int, seed: int, level: int) -> TaskData:
    """The test questions of a seed at a filter level (``model`` is the model at that level).

    One definition for the harness and `hbench oracle-table`, so their numbers agree."""
    sample = model.sample(n, _seed(seed, _TEST, level))
    rng = np.random.default_rng(_seed(seed, _TEST_TASK, level))
    return task.make(sample, task.spec(model), rng)


class Harness:
    """Runs one `RunRequest`: builds the plugins once, caches test data and oracle answers."""

    def __init__(self, request: RunRequest, registry: Registry | None = None) -> None:
        self.request = request
        self.registry = registry or get_registry()
        suite = request.suite
        # Validate every option before anything heavy is built or imported.
        self.model_entry = self.registry.get("model", request.model)
        self.model_config = self.model_entry.validate_config(dict(request.model_args))
        task_entry = self.registry.get("task", suite.task)
        self.task_config = task_entry.validate_config(dict(request.task_args))
        grammar_entry = self.registry.get("grammar", suite.grammar)
        self.grammar = grammar_entry.create(suite.grammar_config())
        self.filter = self.registry.get("filter", suite.filter).create()
        self.oracle = self.registry.get("oracle", suite.oracle).create()
        self.task = task_entry.create(self.task_config)
        self.spec = self.task.spec(self.grammar)
        self.privileged = bool(self.model_entry.metadata.get("privileged", False))
        self._models = {k: self.filter.apply(self.grammar, k) for k in suite.levels}
        self._tests: dict[tuple[int, int | str], TaskData] = {}
        self._answers: dict[tuple[int, int | str, int], np.ndarray] = {}

    # --- data ----------------------------------------------------------------------------

    def train_data(self, seed: int, level: int) -> TaskData:
        sample = self._models[level].sample(
            self.request.suite.budget(self.request.task), _seed(seed, _TRAIN, level)
        )
        rng = np.random.default_rng(_seed(seed, _TRAIN_TASK, level))
        return self.task.make(sample, self.spec, rng)

    def test_data(self, seed: int, level: int | str) -> TaskData:
        """Test questions (with answers) at a filter level, or "ood" random sequences."""
        key = (seed, level)
        if key not in self._tests:
            suite = self.request.suite
            if level == "ood":
                rng = np.random.default_rng(_seed(seed, _OOD))
                leaves = rng.integers(0, self.grammar.q, size=(suite.n_ood, self.spec.length))
                sample = Sample(roots=np.zeros(suite.n_ood, dtype=np.int64), leaves=leaves)
                data = self.task.make(sample, self.spec, rng).without_targets()
            else:
                data = test_data(self._models[level], self.task, suite.n_test, seed, level)
            self._tests[key] = data
        return self._tests[key]

    def oracle_answers(self, seed: int, data_level: int | str, oracle_level: int) -> np.ndarray:
        """BP_oracle_level's probabilities for the test questions of data_level (cached)."""
        key = (seed, data_level, oracle_level)
        if key not in self._answers:
            data = self.test_data(seed, data_level)
            post = self.oracle.posteriors(
                self._models[oracle_level],
                self.task.oracle_leaves(data, self.spec),
                full=self.task.needs_leaf_posteriors,
            )
            self._answers[key] = self.task.oracle_answers(post, data)
        return self._answers[key]

    # --- one model -----------------------------------------------------------------------

    def new_model(self) -> Any:
        return self.model_entry.create(self.model_config)

    def callbacks(self, seed: int, level: int, **hooks: Any) -> Callbacks:
        model_seed = int(_seed(seed, _MODEL, level).generate_state(1)[0])
        access = None
        if self.privileged:
            access = PrivilegedAccess(self.grammar, self.filter, self.oracle, self.task, level)
        return Callbacks(model_seed, self.request.device, access, **hooks)

    @property
    def model_label(self) -> str:
        return f"model {self.request.model!r} ({self.model_entry.source})"

    def _call_model(self, stage: str, call: Callable[[], Any]) -> Any:
        """Run the model's ``fit`` or ``predict``; a crash becomes a `PluginError` naming it."""
        try:
            return call()
        except (UsageError, PluginError):
            raise
        except Exception as exc:
            message = f"{self.model_label} failed in {stage}: {type(exc).__name__}: {exc}"
            raise PluginError(message) from exc

    def predict(self, model: Any, data: TaskData) -> np.ndarray:
        probabilities = self._call_model("predict", lambda: model.predict(data.without_targets()))
        return validate_probabilities(probabilities, data.n_queries, self.spec.q, self.model_label)

    def fit(self, model: Any, train: TaskData, callbacks: Callbacks) -> None:
        self._call_model("fit", lambda: model.fit(train, self.spec, callbacks))

    def evaluate(self, model: Any, seed: int, k_train: int) -> tuple[list[dict], float, float]:
        """Score a fitted model on every test level and ood; (rows, predict_s, oracle_s)."""
        rows, predict_s, oracle_s = [], 0.0, 0.0
        levels: list[int | str] = list(self.request.suite.test_levels)
        if self.request.suite.n_ood:
            levels.append("ood")
        for k_test in levels:
            data = self.test_data(seed, k_test)
            start = time.perf_counter()
            probabilities = self.predict(model, data)
            predict_s += time.perf_counter() - start
            start = time.perf_counter()
            bp_train = self.oracle_answers(seed, k_test, k_train)
            bp_test = bp_train if k_test == "ood" else self.oracle_answers(seed, k_test, k_test)
            oracle_s += time.perf_counter() - start
            scores = score_queries(probabilities, bp_test, bp_train, data.targets, self.spec.q)
            rows.append({"seed": seed, "k_train": k_train, "k_test": k_test, **scores})
        return rows, predict_s, oracle_s

    def save(self, model: Any, folder: Path, seed: int, k_train: int) -> dict[str, Any] | None:
        """Keep a fitted model as ``folder/s<seed>_k<k_train>.pt`` if it can ``save`` itself;
        its entry for `RunResult.saved_models` (path relative to ``folder``), else None."""
        if not callable(getattr(model, "save", None)):
            return None
        name = f"s{seed}_k{k_train}.pt"
        self._call_model("save", lambda: model.save(folder / name))
        return {"seed": seed, "k_train": k_train, "path": name}

    def run(
        self,
        progress: Callable[[int], None] | None = None,
        save_dir: Path | None = None,
        fit_progress: Callable[[int, int, str], None] | None = None,
    ) -> dict[str, Any]:
        """Every (seed, training level): fit a fresh model and score it; with ``save_dir``,
        keep each fitted model there (see `save`). ``progress`` counts finished fits;
        ``fit_progress`` receives the model's own ``callbacks.progress`` within a fit."""
        suite = self.request.suite
        rows: list[dict] = []
        timings: list[dict] = []
        dynamics: list[dict] = []
        saved: list[dict] = []
        parameters: int | None = None
        resolved: dict | None = None
        started = time.perf_counter()
        for seed in suite.seeds:
            for k_train in suite.train_levels:
                train = self.train_data(seed, k_train)
                model = self.new_model()
                start = time.perf_counter()
                recorder = DynamicsRecorder(self, model, seed, k_train)
                hooks = {"on_checkpoint": recorder, "on_progress": fit_progress}
                self.fit(model, train, self.callbacks(seed, k_train, **hooks))
                if recorder.points:
                    dynamics.append(recorder.series())
                fit_s = time.perf_counter() - start
                parameters = self.num_parameters(model) if parameters is None else parameters
                resolved = self.resolved_config(model) if resolved is None else resolved
                level_rows, predict_s, oracle_s = self.evaluate(model, seed, k_train)
                rows.extend(level_rows)
                if save_dir is not None and (entry := self.save(model, save_dir, seed, k_train)):
                    saved.append(entry)
                timings.append(
                    {
                        "seed": seed,
                        "k_train": k_train,
                        "fit_s": fit_s,
                        "predict_s": predict_s,
                        "oracle_s": oracle_s,
                    }
                )
                if progress is not None:
                    progress(1)
        return {
            "metrics": rows,
            "headline": headline(rows),
            "timings": timings,
            "wall_s": time.perf_counter() - started,
            "extra": {
                **({"dynamics": dynamics} if dynamics else {}),
                **({"resolved_model_config": resolved} if resolved is not None else {}),
            },
            "saved_models": saved,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "num_parameters": parameters,
        }

    def resolved_config(self, model: Any) -> dict | None:
        """The fitted model's concrete settings (optional ``resolved_config()``), or None."""
        if not callable(getattr(model, "resolved_config", None)):
            return None
        config = self._call_model("resolved_config", model.resolved_config)
        if not isinstance(config, dict):
            raise PluginError(
                f"{self.model_label} resolved_config() returned {type(config).__name__}; "
                "expected a dict"
            )
        return config

    def num_parameters(self, model: Any) -> int | None:
        """The fitted model's own count (optional ``num_parameters()``), or None without one."""
        if not callable(getattr(model, "num_parameters", None)):
            return None
        count = self._call_model("num_parameters", model.num_parameters)
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise PluginError(
                f"{self.model_label} num_parameters() returned {count!r}; expected an integer >= 0"
            )
        return int(count)
