"""The accuracy of every BP_k on data of every filter level k': the map of the benchmark.

Its diagonal is the Bayes-optimal accuracy at each level (the ceiling a model is scored
against); off the diagonal, BP_k on data of level k' is the mismatched oracle that tells what a
network trained at level k has learned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from tabulate import tabulate

from hbench.contracts import MASKED, Filter, GenerativeModel, Oracle
from hbench.errors import invalid

Task = Literal["root", "mlm"]
TASKS: tuple[str, ...] = ("root", "mlm")


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


def make_queries(
    leaves: np.ndarray, roots: np.ndarray, task: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(inputs, targets, masked positions): the root task sees every leaf; mlm masks one
    uniformly chosen leaf per sequence and asks for it."""
    if task == "root":
        return leaves, roots, None
    n, length = leaves.shape
    positions = rng.integers(0, length, size=n)
    inputs = leaves.astype(np.int64)
    targets = inputs[np.arange(n), positions].copy()
    inputs[np.arange(n), positions] = MASKED
    return inputs, targets, positions


def oracle_table(
    model: GenerativeModel,
    filter_: Filter,
    oracle: Oracle,
    *,
    task: str,
    n: int,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> OracleTable:
    """Sample n sequences at every filter level and score BP of every level on them."""
    if task not in TASKS:
        raise invalid("task", task, f"one of {', '.join(TASKS)}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise invalid("n", n, "an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise invalid("seed", seed, "an integer >= 0")
    n, seed = int(n), int(seed)
    levels = list(range(model.depth + 1))
    filtered = [filter_.apply(model, k) for k in levels]
    accuracy = np.zeros((len(levels), len(levels)))
    advance = progress or (lambda count: None)
    for j, data_model in enumerate(filtered):
        stream = np.random.SeedSequence([seed, j])
        sample_seed, mask_seed = stream.spawn(2)
        sample = data_model.sample(n, sample_seed)
        inputs, targets, positions = make_queries(
            sample.leaves, sample.roots, task, np.random.default_rng(mask_seed)
        )
        for i, oracle_model in enumerate(filtered):
            post = oracle.posteriors(oracle_model, inputs, full=task != "root")
            asked = post.root if task == "root" else post.leaves[np.arange(n), positions]
            accuracy[i, j] = np.mean(asked.argmax(axis=1) == targets)
            advance(n)
    return OracleTable(task, n, seed, model.q, levels, accuracy)
