"""The accuracy of every BP_k on data of every filter level k': the map of the benchmark.

Its diagonal is the Bayes-optimal accuracy at each level (the ceiling a model is scored
against); off the diagonal, BP_k on data of level k' is the mismatched oracle that tells what a
network trained at level k has learned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tabulate import tabulate

from hbench.contracts import Filter, GenerativeModel, Oracle, Task, exact_answers, task_capabilities
from hbench.errors import UsageError, invalid


@dataclass(frozen=True)
class OracleTable:
    """accuracy[i, j]: accuracy of the oracle of level levels[i] on data of level levels[j]."""

    task: str
    n: int
    seed: int
    q: int
    levels: list[int]
    accuracy: np.ndarray

    @property
    def stderr(self) -> np.ndarray:
        """Binomial standard error of each accuracy."""
        return np.sqrt(self.accuracy * (1 - self.accuracy) / max(self.n, 1))

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "n": self.n,
            "seed": self.seed,
            "chance": 1 / self.q,
            "levels": self.levels,
            "rows": "oracle filter level k (BP_k)",
            "columns": "data filter level k'",
            "accuracy": self.accuracy.tolist(),
            "stderr": self.stderr.tolist(),
        }

    def render(self) -> str:
        header = ["BP_k \\ data k'", *map(str, self.levels)]
        rows = [
            [f"BP_{k}", *(f"{a:.4f}" for a in row)]
            for k, row in zip(self.levels, self.accuracy, strict=True)
        ]
        title = (
            f"{self.task} accuracy of BP_k (rows) on data of filter level k' (columns); "
            f"n={self.n} per level, chance {1 / self.q:.4f}, diagonal = Bayes-optimal"
        )
        return (
            title + "\n" + tabulate(rows, headers=header, tablefmt="github", disable_numparse=True)
        )


def oracle_table(
    model: GenerativeModel,
    filter_: Filter,
    oracle: Oracle,
    *,
    task: str | Task,
    n: int,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> OracleTable:
    """Score BP of every level on n test questions of every filter level.

    The questions are the harness's own test sets for this seed (`hbench.run.world.test_data`),
    so ``hbench run --model bp --model-arg assume_filter=J --set n_test=N`` reproduces row J.
    ``task`` is a task plugin object or the name of a registered one.
    """
    from hbench.run.world import test_data

    if isinstance(task, str):
        from hbench.registry.registry import get_registry

        task = get_registry().get("task", task).create()
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise invalid("n", n, "an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise invalid("seed", seed, "an integer >= 0")
    n, seed = int(n), int(seed)
    levels, filtered = asked_levels(model, filter_, task)
    accuracy = np.zeros((len(levels), len(levels)))
    advance = progress or (lambda count: None)
    internal = task_capabilities(task).needs_internal_nodes
    for j, data_model in enumerate(filtered):
        data = test_data(data_model, task, n, seed, levels[j], internal)
        spec = task.spec(data_model)
        for i, oracle_model in enumerate(filtered):
            asked = exact_answers(task, oracle, oracle_model, data, spec)
            accuracy[i, j] = np.mean(asked.argmax(axis=1) == data.targets)
            advance(n)
    return OracleTable(task.spec(model).task, n, seed, model.q, levels, accuracy)


def asked_levels(
    model: GenerativeModel, filter_: Filter, task: Task
) -> tuple[list[int], list[GenerativeModel]]:
    """The filter levels the task can be asked at, with the grammar filtered at each.

    Most tasks take every level 0..depth; ``ancestor`` at depth d only levels <= d (a grammar
    filtered at level k has no nodes above depth k), so its table is the square of those. A
    task that takes no level at all is refused with its own message."""
    levels, filtered = [], []
    refusal: UsageError | None = None
    for k in range(model.depth + 1):
        level_model = filter_.apply(model, k)
        try:
            task.spec(level_model)
        except UsageError as exc:
            refusal = refusal or exc
            continue
        levels.append(k)
        filtered.append(level_model)
    if not levels:
        raise refusal or UsageError(f"task {task!r} takes no filter level of this grammar")
    return levels, filtered
