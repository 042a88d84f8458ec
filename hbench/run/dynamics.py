"""Learning dynamics: how close a model is to each BP_j while it trains.

At each checkpoint a model calls during fit, the model's predictions on the test set of every
filter level reach the recorder (from the model's own process, when it runs isolated), which
records the accuracy on each level, and KL(BP_j || model) for every j = 0..l on the test set of
the training level. The staircase summary says which BP_j is closest at each checkpoint, and in
which order each BP_j first becomes the closest: the paper reports l, l-1, ..., 0 (short-range
correlations first) when training on the full model.

The recorder holds arrays only (targets and the oracle's answers), never the harness, so it
is the same whether the model runs in this process or in a worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hbench.scoring import kl_bits


class DynamicsRecorder:
    """The checkpoint hook of one fit: scores the model's predictions and keeps the series.

    ``targets`` maps each test level to its true answers; ``answers`` maps each oracle level j
    to BP_j's probabilities on the test set of the training level ``k_train``.
    """

    def __init__(
        self,
        seed: int,
        k_train: int,
        targets: Mapping[int, np.ndarray],
        answers: Mapping[int, np.ndarray],
    ) -> None:
        self.seed, self.k_train = seed, k_train
        self.targets, self.answers = dict(targets), dict(answers)
        self.points: list[dict[str, Any]] = []

    def __call__(
        self, label: float | str, seconds: float, predictions: Mapping[int, np.ndarray]
    ) -> None:
        """Record one checkpoint: ``predictions`` per test level, after ``seconds`` of
        training (evaluation time excluded)."""
        accuracy = {
            str(k): float(np.mean(predictions[k].argmax(axis=1) == self.targets[k]))
            for k in self.targets
        }
        own = predictions[self.k_train]
        kl = {str(j): float(kl_bits(answer, own).mean()) for j, answer in self.answers.items()}
        self.points.append(
            {"label": label, "seconds": round(seconds, 3), "accuracy": accuracy, "kl": kl}
        )

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
