"""What the harness and a model's worker say to each other: a handle's fit report, the callbacks
a model sees, and the test sets a checkpoint evaluates. Shared by every kind of handle, so the
harness runs a fit the same way wherever the model lives."""

from __future__ import annotations

import logging
import math
import re
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
#: ``on_scalars(scalars, step)``: what a model logs (`FitCallbacks.log`), checked by `ScalarGate`.
ScalarsHook = Callable[[Mapping[str, float], int], None]


@dataclass
class FitReport:
    """What a fit says about itself: training seconds (checkpoint evaluations excluded), the
    optional ``num_parameters()`` and ``resolved_config()`` of the fitted model, and where it
    ran (`hbench.run.devices.fit_runtime`: device, torch version, GPU), which only the process
    that fitted it knows."""

    fit_s: float
    num_parameters: Any = None
    resolved_config: Any = None
    audit: list[str] = field(default_factory=list)
    runtime: dict[str, str | None] | None = None


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
        on_scalars: ScalarsHook | None = None,
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
    on_scalars: Callable[[Any, Any], None] | None = None

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

    def log(self, scalars: Mapping[str, float], step: int) -> None:
        if self.on_scalars is not None:
            self.on_scalars(scalars, step)


# --- what a model logs, checked ----------------------------------------------------------------

#: Most scalars in one `FitCallbacks.log` call.
MAX_SCALARS = 16
#: Most `FitCallbacks.log` calls of one fit: per epoch or every N steps, not every step.
MAX_LOG_CALLS = 10_000
#: Longest scalar name.
MAX_NAME_CHARS = 64
#: Largest step (integers that every tracker and JSON reader holds exactly).
MAX_STEP = 2**53
#: A scalar name: letters, digits, ``_`` and ``-`` in parts joined by single ``.`` or ``/``,
#: valid in TensorBoard, W&B and MLflow alike (and no ``..`` a file-backed store could follow).
SCALAR_NAME = re.compile(r"[A-Za-z0-9_\-]+(?:[./][A-Za-z0-9_\-]+)*")

_log = logging.getLogger("hbench.run")


def _scalar_problem(name: Any, value: Any) -> str | None:
    """Why one logged scalar cannot be kept, or None."""
    if not isinstance(name, str) or len(name) > MAX_NAME_CHARS or not SCALAR_NAME.fullmatch(name):
        from hbench.text import printable

        shown = printable(repr(name))[:40]
        return (
            f"name {shown} is not 1-{MAX_NAME_CHARS} letters, digits, _ or - in parts joined"
            " by . or /"
        )
    if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
        from hbench.text import printable

        return f"{name}={printable(repr(value))[:40]} is not a finite number"
    return None


def _finite(value: float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int past float's range (JSON carries any)
        return False


class ScalarGate:
    """The harness's check on what a model logs (`FitCallbacks.log`) before it reaches a
    tracker: the values come from the model, sandboxed and untrusted.

    Kept: a step that is an integer in [0, 2**53]; at most `MAX_SCALARS` scalars a call and
    `MAX_LOG_CALLS` calls a fit; names of `SCALAR_NAME`, at most `MAX_NAME_CHARS` long; finite
    numbers. Anything else is dropped, never fatal: a curve is no score, and a diverging model
    (a NaN loss) must still be scored. A call with a bad step, too many scalars or past the
    cap is dropped whole; a bad scalar alone. The first drop of a fit is one warning naming
    the model (its text made printable, `hbench.text`); later ones are silent."""

    def __init__(self, label: str, hook: ScalarsHook | None) -> None:
        self.label, self.hook = label, hook
        self.calls = 0
        self.dropped = 0

    def _drop(self, why: str) -> None:
        if not self.dropped:
            _log.warning(
                "%s: logged scalars dropped (%s); further ones are dropped without a word",
                self.label,
                why,
            )
        self.dropped += 1

    def __call__(self, scalars: Any, step: Any) -> None:
        if self.hook is None:
            return
        self.calls += 1
        if self.calls > MAX_LOG_CALLS:
            return self._drop(f"more than {MAX_LOG_CALLS} log calls in one fit")
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= MAX_STEP:
            from hbench.text import printable

            return self._drop(f"step {printable(repr(step))[:40]} is not an integer >= 0")
        if isinstance(scalars, Mapping):
            items = list(scalars.items())
        elif isinstance(scalars, list) and all(
            isinstance(i, list | tuple) and len(i) == 2 for i in scalars
        ):
            items = [tuple(i) for i in scalars]  # the wire's [name, value] pairs
        else:
            return self._drop(f"{type(scalars).__name__} instead of a mapping of names to numbers")
        if len(items) > MAX_SCALARS:
            return self._drop(f"{len(items)} scalars in one call, more than {MAX_SCALARS}")
        kept: dict[str, float] = {}
        for name, value in items:
            problem = _scalar_problem(name, value)
            if problem is not None:
                self._drop(problem)
            else:
                kept[name] = float(value)
        if kept:
            self.hook(kept, step)


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
