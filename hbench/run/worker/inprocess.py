"""A model in the harness's own process: privileged reference models (handed the grammar
anyway), in-memory model objects and ``--in-process`` debugging. No wall at all: leaderboards
refuse such runs."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from hbench.contracts import PrivilegedAccess, TaskData
from hbench.run.worker.protocol import (
    Callbacks,
    FitReport,
    ScalarGate,
    ScalarsHook,
    TestKey,
    _checkpoint_predictions,
    _optional,
)


class InProcessModel:
    """A model in the harness's own process: for privileged reference models (which are handed
    the grammar anyway), for in-memory model objects, and for ``--in-process`` debugging."""

    isolation = "in-process"

    def __init__(
        self,
        model: Any,
        device: str,
        threads: int,
        access: PrivilegedAccess | None = None,
        label: str | None = None,
    ) -> None:
        self.model, self.device, self.threads = model, device, threads
        self.label = label or f"model {type(model).__name__}"
        self.access = access
        self.tests: Mapping[TestKey, TaskData] = {}

    def fit(
        self,
        train,
        spec,
        seed,
        tests,
        on_checkpoint,
        on_progress,
        on_scalars: ScalarsHook | None = None,
    ) -> FitReport:
        self.tests = {key: data.without_targets() for key, data in tests.items()}
        spent = [0.0]

        def checkpoint(label: float | str) -> None:
            if on_checkpoint is None:
                return
            predictions, seconds = _checkpoint_predictions(self.model, self.tests)
            spent[0] += seconds
            on_checkpoint(label, time.perf_counter() - start - spent[0], predictions)

        callbacks = Callbacks(seed, self.device, self.access, checkpoint, on_progress)
        # the same check as a sandboxed model's: an in-process model is no more trusted
        callbacks.on_scalars = ScalarGate(self.label, on_scalars)
        with _thread_limit(self.threads):
            start = time.perf_counter()
            self.model.fit(train, spec, callbacks)
            fit_s = time.perf_counter() - start - spent[0]
        from hbench.run.devices import fit_runtime

        return FitReport(
            fit_s,
            _optional(self.model, "num_parameters"),
            _optional(self.model, "resolved_config"),
            runtime=fit_runtime(self.device),
        )

    def predict(self, key: TestKey) -> np.ndarray:
        with _thread_limit(self.threads):
            return self.model.predict(self.tests[key])

    def sample(self, n: int, seed: int) -> np.ndarray:
        with _thread_limit(self.threads):
            return self.model.sample(int(n), np.random.default_rng(int(seed)))

    def save(self, path: str) -> bool:
        if not callable(getattr(self.model, "save", None)):
            return False
        self.model.save(path)
        return True

    def close(self) -> None:
        self.tests = {}

    def kill(self) -> None:
        """Nothing to stop: an in-process fit ends with the run's own exception."""


class _thread_limit:
    """Run a block with ``threads`` threads for BLAS/OpenMP and torch, then restore them."""

    def __init__(self, threads: int) -> None:
        self.threads = threads

    def __enter__(self) -> None:
        from threadpoolctl import threadpool_limits

        self.limits = threadpool_limits(limits=self.threads)
        torch = sys.modules.get("torch")
        self.torch_threads = torch.get_num_threads() if torch is not None else None
        if torch is not None:
            torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        self.limits.restore_original_limits()
        torch = sys.modules.get("torch")
        if torch is not None:
            # torch may have been imported by the model inside the block
            torch.set_num_threads(self.torch_threads or _budget())


def _budget() -> int:
    from hbench.run.threads import thread_budget

    return thread_budget()
