"""One world per run: for each grammar seed, the grammar, its filtered levels, the test sets and
the oracle's answers, built once from the resolved run and shared by everything that needs them.

A run's numbers come from three places that must agree on every sequence: the harness (which
trains and scores), the analyses (which sample fresh data and ask the oracle about it), and
``hbench oracle-table``/``hbench.task_data`` (which show the questions). Each used to rebuild
the grammar, filter and oracle through the registry on its own; a `World` is built once from a
`ResolvedRun` (or from a finished run's result file) and hands the same objects to all of them.

Test sets depend only on the seed and the test level, so every training level is scored on the
very same questions; the randomness of training data, test data, random sequences and the
model lives on separate streams (`stream`), so that changing one never shifts another.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from hbench.contracts import (
    Sample,
    TaskData,
    TaskSpec,
    exact_answers,
    grammar_capabilities,
    task_capabilities,
)
from hbench.errors import PluginError, UsageError, invalid
from hbench.run.lengths import random_sequences

if TYPE_CHECKING:
    from hbench.results import RunResult
    from hbench.run.spec import ResolvedRun
    from hbench.suites import Suite

#: Streams of the run's randomness, kept apart so that changing one never shifts another.
TRAIN, TRAIN_TASK, TEST, TEST_TASK, OOD, MODEL = range(6)


def stream(*parts: int) -> np.random.SeedSequence:
    """The seed sequence of one stream of a run's randomness (``stream(seed, TEST, level)``)."""
    return np.random.SeedSequence([int(p) for p in parts])


def model_seed(seed: int, level: int) -> int:
    """The seed a model's own randomness gets for one fit (`FitCallbacks.seed`)."""
    return int(stream(seed, MODEL, level).generate_state(1)[0])


def test_data(
    grammar: Any, task: Any, n: int, seed: int, level: int, internal: bool = False
) -> TaskData:
    """The test questions of a seed at a filter level (``grammar`` is filtered at that level;
    ``internal``: the task asks about internal nodes, so the sample keeps them).

    One definition for the harness and `hbench oracle-table`, so their numbers agree."""
    sample = grammar.sample(n, stream(seed, TEST, level), internal=internal)
    rng = np.random.default_rng(stream(seed, TEST_TASK, level))
    return task.make(sample, task.spec(grammar), rng)


def draw_grammar_seeds(run: ResolvedRun) -> dict[int, int]:
    """The grammar each seed of ``run`` runs on: the suite's, the recorded ones a replay names,
    or for an official run one per seed drawn from the operating system's entropy (nobody,
    the model included, can know an official run's grammars in advance)."""
    seeds, spec = run.suite.seeds, run.spec
    if not spec.official and spec.grammar_seeds is None:
        return {seed: run.suite.grammar_seed for seed in seeds}
    drawn = spec.grammar_seeds or [secrets.randbits(63) for _ in seeds]
    return dict(zip(seeds, drawn, strict=True))


class World:
    """The grammars of a run's seeds and everything derived from them, built on first use and
    cached: filtered levels, training and test questions, random sequences, and the oracle's
    answers. Thread-safe (a run's fits ask for them from several threads).

    ``grammar_seeds`` maps each run seed to its grammar seed (``per_seed``: each seed has a
    grammar of its own, as in an official run; else every seed, inside the run or not, shares
    the suite's); ``chance``, ``task_spec`` and
    ``oracle_levels`` are the run's, checked when the world is built (a task that cannot ask a
    level the suite trains or tests on is refused here, before any fit)."""

    def __init__(
        self,
        suite: Suite,
        task: Any,
        *,
        grammar_entry: Any,
        grammar_config: Mapping[str, Any],
        filter: Any,
        oracle: Any,
        grammar_seeds: Mapping[int, int],
        per_seed: bool = False,
    ) -> None:
        self.suite = suite
        self.task = task
        self.filter = filter
        self.oracle = oracle
        self.per_seed = per_seed
        self.grammar_seeds = dict(grammar_seeds)
        self._grammar_entry = grammar_entry
        self._grammar_config = dict(grammar_config)
        self._grammars: dict[int, Any] = {}
        self._levels: dict[tuple[int, int], Any] = {}
        self._tests: dict[tuple[int, int | str], TaskData] = {}
        self._ood_leaves: dict[int, np.ndarray] = {}
        self._answers: dict[tuple[int, int | str, int], np.ndarray] = {}
        self._lock = threading.RLock()
        self.capabilities = task_capabilities(task)
        self.internal = self.capabilities.needs_internal_nodes
        first = suite.seeds[0]
        self.task_spec: TaskSpec = task.spec(self.grammar(first))
        # n_c is the grammar's, the same for every seed's grammar (only the rules differ)
        classes = grammar_capabilities(self.grammar(first)).classes
        from hbench.scoring import chance_level

        try:
            self.chance = chance_level(self.capabilities.asks_root, self.task_spec.q, classes)
        except ValueError as exc:  # a grammar whose root has more classes than symbols
            raise PluginError(f"grammar {suite.grammar!r}: {exc}") from exc
        refused: dict[int, UsageError] = {}  # a task refuses a level it cannot ask
        for level in suite.levels:
            try:
                task.spec(self.filtered(first, level))
            except UsageError as exc:
                refused[level] = exc
        for level in sorted({*suite.train_levels, *suite.test_levels}):
            if level in refused:
                raise refused[level]
        #: the levels whose BP can answer the task: all but, for ancestor at depth d, those > d
        #: (learning dynamics compare a model with every one of them)
        self.oracle_levels = [j for j in suite.levels if j not in refused]

    @classmethod
    def of(cls, run: ResolvedRun, grammar_seeds: Mapping[int, int] | None = None) -> World:
        """The world of a resolved run; its grammar seeds drawn by `draw_grammar_seeds` unless
        given (an official run's are drawn here, once)."""
        return cls(
            run.suite,
            run.task_entry.create(run.task_config),
            grammar_entry=run.grammar_entry,
            grammar_config=run.grammar_config,
            filter=run.filter_entry.create(),
            oracle=run.oracle_entry.create(),
            grammar_seeds=grammar_seeds if grammar_seeds is not None else draw_grammar_seeds(run),
            per_seed=run.spec.official or run.spec.grammar_seeds is not None,
        )

    @classmethod
    def of_result(cls, result: RunResult, registry: Any = None) -> World:
        """The world a finished run ran in, rebuilt from its result file: the recorded suite,
        task options and grammar seeds (an official run's own draws)."""
        from hbench.registry.registry import get_registry
        from hbench.suites import Suite

        registry = registry or get_registry()
        spec = result.spec
        suite = Suite.model_validate({**spec.suite, "name": spec.suite_name})
        task_entry = registry.get("task", spec.task)
        grammar_entry = registry.get("grammar", suite.grammar)
        if spec.grammar_seeds:
            seeds = dict(zip(spec.seeds, spec.grammar_seeds, strict=True))
        else:
            seeds = {seed: suite.grammar_seed for seed in spec.seeds}
        return cls(
            suite,
            task_entry.create(task_entry.validate_config(dict(spec.task_config))),
            grammar_entry=grammar_entry,
            grammar_config=suite.grammar_config_of(grammar_entry),
            filter=registry.get("filter", suite.filter).create(),
            oracle=registry.get("oracle", suite.oracle).create(),
            grammar_seeds=seeds,
            per_seed=bool(spec.grammar_seeds),
        )

    # --- the grammar of each seed ------------------------------------------------------------

    def grammar_seed(self, seed: int) -> int:
        """The grammar seed of a run seed: the suite's, or the seed's own where each seed has a
        grammar of its own (``per_seed``: an official run, or a replay of one)."""
        if not self.per_seed:
            return self.suite.grammar_seed
        if seed not in self.grammar_seeds:
            raise invalid("seed", seed, f"one of the run's seeds {sorted(self.grammar_seeds)}")
        return self.grammar_seeds[seed]

    def grammar(self, seed: int) -> Any:
        """The unfiltered grammar of a seed (one per seed in official runs)."""
        with self._lock:
            grammar_seed = self.grammar_seed(seed)
            if grammar_seed not in self._grammars:
                config = {**self._grammar_config, "seed": grammar_seed}
                self._grammars[grammar_seed] = self._grammar_entry.create(config)
            return self._grammars[grammar_seed]

    def filtered(self, seed: int, level: int) -> Any:
        """The grammar of a seed filtered at a level (cached)."""
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
        sample = grammar.sample(budget, stream(seed, TRAIN, level), internal=self.internal)
        rng = np.random.default_rng(stream(seed, TRAIN_TASK, level))
        return self.task.make(sample, self.task_spec, rng)

    def test_data(self, seed: int, level: int | str) -> TaskData:
        """Test questions (with answers) at a filter level, or "ood" random sequences."""
        key = (seed, level)
        with self._lock:
            if key not in self._tests:
                if level == "ood":
                    data = self._random_sequences(seed)
                else:
                    grammar = self.filtered(seed, int(level))
                    n = self.suite.test_size(int(level))
                    data = test_data(grammar, self.task, n, seed, int(level), self.internal)
                self._tests[key] = data
            return self._tests[key]

    def _random_sequences(self, seed: int) -> TaskData:
        n = self.suite.n_ood
        rng = np.random.default_rng(stream(seed, OOD))
        grammar = self.grammar(seed)
        # padded, at the grammar's own lengths, where its sequences vary
        leaves, lengths = random_sequences(grammar, n, self.task_spec.length, rng)
        self._ood_leaves[seed] = leaves
        # random sequences have no tree: nodes are placeholders, answers unused
        arity = grammar_capabilities(grammar).arity
        nodes = (
            {d: np.zeros((n, arity**d), np.int64) for d in range(1, grammar.depth)}
            if self.internal
            else {}
        )
        sample = Sample(np.zeros(n, dtype=np.int64), leaves, nodes, lengths)
        return self.task.make(sample, self.task_spec, rng).without_targets()

    def ood_possible(self, seed: int, k_train: int) -> np.ndarray:
        """(n_ood,) whether each random sequence of the seed is possible under the grammar of the
        training level (BP's log-likelihood > -inf): the "ood" cell is scored on those only."""
        key = (seed, "ood-possible", k_train)
        with self._lock:
            if key not in self._answers:
                self.test_data(seed, "ood")
                leaves = self._ood_leaves[seed]
                grammar = self.filtered(seed, k_train)
                loglik = self.oracle.posteriors(grammar, leaves, full=False).loglik
                self._answers[key] = np.isfinite(np.asarray(loglik))
            return self._answers[key]

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

    def forget(self, seed: int) -> None:
        """Drop the test sets, random sequences and oracle answers of a seed (its grammars stay:
        they are small): a run calls it once the seed's last fit is scored, so that memory holds
        the seeds in flight only. Asked again, they are rebuilt, identical."""
        with self._lock:
            for cache in (self._tests, self._answers):
                for key in [key for key in cache if key[0] == seed]:
                    del cache[key]
            self._ood_leaves.pop(seed, None)

    def test_keys(self) -> list[int | str]:
        """The test sets of the run: every test level, then "ood" when the suite has one."""
        keys: list[int | str] = list(self.suite.test_levels)
        if self.suite.n_ood:
            keys.append("ood")
        return keys
