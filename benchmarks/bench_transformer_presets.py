"""Transformer presets: test accuracy against wall time at k = 0 on the cpu suite (P = 2^14).

Each configuration trains with many epochs and is evaluated at log-spaced checkpoints (through
the harness's checkpoint hook) until the time budget is spent; the printout is the curve of
(seconds, accuracy). This is how the `cpu` preset was chosen; BP's accuracy here is 1.0.

    python benchmarks/bench_transformer_presets.py '[{"batch_size": 128, "lr": 0.003}]' 50
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from hbench.run.harness import Harness
from hbench.run.spec import RunSpec


class OutOfTime(Exception):
    """Raised from the checkpoint hook to end a fit once the budget is spent."""


def accuracy_curve(model_args: dict, budget_s: float) -> list[tuple[float, int, float]]:
    """(seconds, step, accuracy on the k = 0 test set) at each checkpoint of one fit."""
    harness = Harness(
        RunSpec(
            model="transformer",
            suite="cpu",
            overrides={"train_filters": [0]},
            model_args={**model_args, "epochs": 400, "n_checkpoints": 60},
            device="cpu",
        )
    )
    train, test = harness.world.train_data(0, 0), harness.world.test_data(0, 0)
    model = harness.new_model()
    curve: list[tuple[float, int, float]] = []
    start = time.perf_counter()

    def evaluate(step: int) -> None:
        seconds = time.perf_counter() - start
        predictions = model.predict(test.without_targets())
        curve.append((seconds, step, float(np.mean(predictions.argmax(1) == test.targets))))
        if seconds > budget_s:
            raise OutOfTime

    try:
        harness.fit(model, train, harness.callbacks(0, 0, on_checkpoint=evaluate))
    except Exception as exc:  # the harness wraps the model's exceptions
        if not isinstance(exc, OutOfTime) and not isinstance(exc.__cause__, OutOfTime):
            raise
    return curve


def main() -> None:
    configs = json.loads(sys.argv[1])
    budget_s = float(sys.argv[2]) if len(sys.argv) > 2 else 50.0
    for model_args in configs:
        curve = accuracy_curve(model_args, budget_s)
        seconds, steps, _ = curve[-1]
        shown = [(round(t, 1), round(a, 3)) for t, _, a in curve if t > 5]
        shown = [*shown[:: max(1, len(shown) // 8)], (round(seconds, 1), round(curve[-1][2], 3))]
        print(json.dumps(model_args), f"steps/s {steps / seconds:.0f}", shown, flush=True)


if __name__ == "__main__":
    main()
