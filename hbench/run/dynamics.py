"""Learning dynamics: how close a model is to each BP_j while it trains.

At each checkpoint a model calls during fit, the harness records the model's accuracy on the
test set of every filter level, and KL(BP_j || model) for every j = 0..l on the test set of the
training level. The staircase summary says which BP_j is closest at each checkpoint, and in
which order each BP_j first becomes the closest: the paper reports l, l-1, ..., 0 (short-range
correlations first) when training on the full model.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hbench.run.scoring import kl_bits


class DynamicsRecorder:
    """The checkpoint hook of one fit: evaluates the model and keeps the series."""

    def __init__(self, harness: Any, model: Any, seed: int, k_train: int) -> None:
        self.harness, self.model, self.seed, self.k_train = harness, model, seed, k_train
        self.points: list[dict[str, Any]] = []
        self.start = time.perf_counter()

    def __call__(self, label: float | str) -> None:
        h, seed = self.harness, self.seed
        seconds = time.perf_counter() - self.start
        accuracy = {}
        for k_test in h.request.suite.test_levels:
            data = h.test_data(seed, k_test)
            predictions = h.predict(self.model, data)
            accuracy[str(k_test)] = float(np.mean(predictions.argmax(axis=1) == data.targets))
        own = h.test_data(seed, self.k_train)
        predictions = h.predict(self.model, own)
        kl = {
            str(j): float(kl_bits(h.oracle_answers(seed, self.k_train, j), predictions).mean())
            for j in h.request.suite.levels
        }
        self.points.append(
            {"label": label, "seconds": round(seconds, 3), "accuracy": accuracy, "kl": kl}
        )
        self.start += time.perf_counter() - self.start - seconds  # evaluation is not training

    def series(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "k_train": self.k_train,
            "points": self.points,
            **staircase(self.points),
        }


def staircase(points: list[dict[str, Any]]) -> dict[str, Any]:
    """For each checkpoint the closest BP_j, and the order in which each j first is closest."""
    closest = [min(p["kl"], key=lambda j: p["kl"][j]) for p in points]
    order: list[int] = []
    for j in closest:
        if int(j) not in order:
            order.append(int(j))
    return {"closest": [int(j) for j in closest], "first_closest_order": order}
