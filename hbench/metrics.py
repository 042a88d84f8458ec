"""Metrics as a registered kind: how a model's answers in one cell become named numbers.

A metric is a function of `MetricInputs` (the model's probabilities, the exact answers of the
test and training levels, the targets, ...) returning one value per query, which its
``aggregation`` turns into the cell's value, or None where it does not apply (no targets on
uniformly random sequences, another task). It is registered through
``hbench_register_metrics`` with its ``direction`` (``higher`` or ``lower`` is better), so
that results record it by name per cell and boards show and order it by name without knowing
it in advance.

The built-in metrics (accuracy, agreement and KL divergence against the oracles; see
`hbench.scoring`) are registered the same way, by the plugin that provides the exact oracle;
a result records them as the fixed fields of `hbench.results.LevelMetrics`, every other metric
under ``scores``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from hbench.errors import PluginError

if TYPE_CHECKING:
    from hbench.contracts import TaskData
    from hbench.registry.registry import Registration, Registry


@dataclass(frozen=True)
class MetricInputs:
    """Everything a metric may read about one (seed, k_train, k_test) cell.

    ``model``, ``bp_test`` and ``bp_train`` are (m, q) probabilities for the same m queries:
    the model's, the exact answers at the test level (Bayes-optimal on the data), and at the
    training level (the possibly mismatched algorithm the model may have learned);
    ``targets`` the (m,) true classes, or None where there is no truth ("ood").
    """

    model: np.ndarray
    bp_test: np.ndarray
    bp_train: np.ndarray
    targets: np.ndarray | None
    q: int
    chance: float
    task: str = ""
    data: TaskData | None = None
    #: The scores of the sequences the model drew, at the cell's test level, for a task that
    #: generates (`hbench.contracts.TaskCapabilities.generates`; the task's own type, e.g.
    #: `hbench_tasks.generate.GenerationScores`); None elsewhere.
    samples: Any = None

    @property
    def n_queries(self) -> int:
        return int(self.model.shape[0])


#: The reductions a metric's per-query values go through to give a cell's value.
AGGREGATE: dict[str, Callable[[np.ndarray], float]] = {
    "mean": lambda values: float(np.mean(values)),
    "median": lambda values: float(np.median(values)),
    "min": lambda values: float(np.min(values)),
    "max": lambda values: float(np.max(values)),
    "sum": lambda values: float(np.sum(values)),
}


@dataclass(frozen=True)
class Metric:
    """A registered metric, ready to compute: its name, function, direction, aggregation."""

    name: str
    function: Callable[[MetricInputs], Any]
    direction: str
    aggregation: str
    description: str = ""
    source: str = ""
    #: The tasks whose cells record it (registered with ``tasks=(...)``); None: every task.
    tasks: tuple[str, ...] | None = None

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    def applies(self, task: str | None) -> bool:
        """Whether cells of ``task`` record this metric (None: any task)."""
        return task is None or self.tasks is None or task in self.tasks

    def __call__(self, inputs: MetricInputs) -> float | None:
        """The cell's value: the function's per-query values aggregated (a plain number is
        taken as the cell's value), None where the metric does not apply. Anything else is
        the metric plugin's fault, a `PluginError` naming it."""
        try:
            values = self.function(inputs)
        except Exception as exc:
            raise PluginError(
                f"metric {self.name!r} from {self.source} failed: {type(exc).__name__}: {exc}"
            ) from exc
        if values is None:
            return None
        array = np.asarray(values, dtype=np.float64)
        if array.ndim == 0:
            value = float(array)
        elif array.shape == (inputs.n_queries,) and array.size:
            value = AGGREGATE[self.aggregation](array)
        else:
            raise PluginError(
                f"metric {self.name!r} from {self.source} returned shape {array.shape};"
                f" expected one value per query ({inputs.n_queries},), a number, or None"
            )
        if math.isnan(value):
            raise PluginError(f"metric {self.name!r} from {self.source} returned NaN")
        return value


def metric_of(entry: Registration) -> Metric:
    """The `Metric` a registration describes (its function imported now if it is a string)."""
    return Metric(
        name=entry.name,
        function=entry.load(),
        direction=entry.metadata["direction"],
        aggregation=entry.metadata["aggregation"],
        description=entry.description,
        source=entry.source,
        tasks=tuple(entry.metadata["tasks"]) if entry.metadata.get("tasks") else None,
    )


def registered_metrics(registry: Registry) -> dict[str, Metric]:
    """Every registered metric by name."""
    return {entry.name: metric_of(entry) for entry in registry.items("metric")}


def extra_metrics(
    registry: Registry, fixed: Iterable[str], task: str | None = None
) -> list[Metric]:
    """The registered metrics a result records under ``scores``: all but ``fixed``, those it
    records as fields of its own (`hbench.results.LevelMetrics`; given by the caller, which
    knows the result's schema: this module sits below it), and with ``task`` only those that
    apply to it (a metric registered for some tasks only, ``tasks=(...)``)."""
    fixed = frozenset(fixed)
    return [
        metric
        for name, metric in registered_metrics(registry).items()
        if name not in fixed and metric.applies(task)
    ]


def score_extra(metrics: list[Metric], inputs: MetricInputs) -> dict[str, float | None]:
    """Each metric's value in one cell, by name."""
    return {metric.name: metric(inputs) for metric in metrics}


def directions(registry: Registry) -> Mapping[str, str]:
    """Each registered metric's direction by name (``higher`` or ``lower``), for boards."""
    return {entry.name: entry.metadata["direction"] for entry in registry.items("metric")}
