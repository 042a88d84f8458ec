"""What the harness and a model's worker say to each other: a handle's fit report, the callbacks
a model sees, and the test sets a checkpoint evaluates. Shared by every kind of handle, so the
harness runs a fit the same way wherever the model lives."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from hbench.contracts import PrivilegedAccess, TaskData, TaskSpec

#: Key of a test set: a filter level, or "ood" for uniformly random sequences.
TestKey = int | str

#: ``on_checkpoint(label, seconds, predictions per test level)``: learning dynamics.
CheckpointHook = Callable[[float | str, float, Mapping[int, np.ndarray]], None]
ProgressHook = Callable[[int, int, str], None]


@dataclass
class FitReport:
    """What a fit says about itself: training seconds (checkpoint evaluations excluded), and
    the optional ``num_parameters()`` and ``resolved_config()`` of the fitted model."""

    fit_s: float
    num_parameters: Any = None
    resolved_config: Any = None
    audit: list[str] = field(default_factory=list)


class ModelHandle(Protocol):
    """A fresh model, wherever it runs: fit once, then predict on the test sets by key."""

    isolation: str  # "process" or "in-process"

    def fit(
        self,
        train: TaskData,
        spec: TaskSpec,
        seed: int,
        tests: Mapping[TestKey, TaskData],
        on_checkpoint: CheckpointHook | None,
        on_progress: ProgressHook | None,
    ) -> FitReport: ...

    def predict(self, key: TestKey) -> np.ndarray: ...

    def sample(self, n: int, seed: int) -> np.ndarray:
        """The fitted model's ``sample(n, numpy.random.default_rng(seed))``: n sequences it
        draws (`hbench.contracts.ModelCapabilities.sample`), for a task that generates."""
        ...

    def save(self, path: str) -> bool: ...

    def close(self) -> None: ...

    def kill(self) -> None:
        """Stop the model at once (another fit failed, or the run was interrupted)."""
        ...


# --- the callbacks a model sees ---------------------------------------------------------------


@dataclass
class Callbacks:
    """The `FitCallbacks` handed to a model (in either process)."""

    seed: int
    device_choice: str
    privileged: PrivilegedAccess | None = None
    on_checkpoint: Callable[[float | str], None] | None = None
    on_progress: ProgressHook | None = None
    checkpoints: list[float | str] = field(default_factory=list)

    @property
    def device(self) -> str:
        """Resolved on first use: a model that never asks never imports torch."""
        from hbench.run.devices import resolve_device

        return resolve_device(self.device_choice)

    def checkpoint(self, label: float | str) -> None:
        self.checkpoints.append(label)
        if self.on_checkpoint is not None:
            self.on_checkpoint(label)

    def progress(self, done: int, total: int, unit: str = "step") -> None:
        if self.on_progress is not None:
            self.on_progress(done, total, unit)


#: Test sequences per level a checkpoint evaluates: learning curves need far fewer
#: questions than the final scores, and a fit may checkpoint dozens of times.
CHECKPOINT_SEQUENCES = 2048


def head(data: TaskData, rows: int) -> TaskData:
    """The first ``rows`` sequences of ``data`` with their queries (queries are row-sorted)."""
    if len(data) <= rows:
        return data
    keep = data.query_rows < rows
    targets = data.targets[keep] if data.targets is not None else None
    lengths = data.lengths[:rows] if data.lengths is not None else None
    return TaskData(
        data.inputs[:rows],
        data.query_rows[keep],
        data.query_positions[keep],
        targets,
        lengths=lengths,
    )


def _checkpoint_predictions(
    model: Any, tests: Mapping[TestKey, TaskData]
) -> tuple[dict[int, np.ndarray], float]:
    """The model's predictions on the head of every filter level's test set, and the seconds
    they took."""
    start = time.perf_counter()
    predictions = {
        key: np.asarray(model.predict(head(data, CHECKPOINT_SEQUENCES)), dtype=np.float64)
        for key, data in tests.items()
        if key != "ood"
    }
    return predictions, time.perf_counter() - start


def _optional(model: Any, name: str) -> Any:
    method = getattr(model, name, None)
    return method() if callable(method) else None
