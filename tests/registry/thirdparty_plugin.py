"""A test-only third-party plugin: a grammar with its own suite, a metric and an analysis.

Installed for a test by writing a ``.dist-info`` with an ``hbench`` entry point next to a copy
of this file on ``sys.path`` (see ``test_third_party.py``), the way a distribution installed
with pip is found.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from hbench import hookimpl
from hbench.analysis.report import Report
from hbench.metrics import MetricInputs
from hbench.suites import Suite


class SparseConfig(BaseModel):
    """A sharp grammar: the paper's, with a large sigma, in few symbols."""

    model_config = ConfigDict(extra="forbid")

    q: int = Field(3, ge=2, le=5)
    depth: int = Field(2, ge=1, le=4)
    seed: int = Field(0, ge=0)
    sharpness: float = Field(3.0, ge=0)


def sparse_grammar(config: SparseConfig):
    from hbench_tree.configs import HierarchicalGrammarConfig
    from hbench_tree.factories import hierarchical_grammar

    options = {"q": config.q, "depth": config.depth, "seed": config.seed}
    return hierarchical_grammar(HierarchicalGrammarConfig(**options, sigma=config.sharpness))


def brier(inputs: MetricInputs) -> np.ndarray | None:
    """Brier score: squared distance of the model's probabilities from the true class."""
    if inputs.targets is None:
        return None
    truth = np.eye(inputs.q)[inputs.targets]
    return np.sum((inputs.model - truth) ** 2, axis=1)


class SpreadOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str = Field("brier", description="the recorded metric to summarise")


class SpreadReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    metric: str
    by_level: dict[str, float]


def spread(source: Path, options: SpreadOptions) -> Report[SpreadReport]:
    """The recorded metric's mean per in-sample level of one run."""
    from hbench.io import write_json
    from hbench.results import read_result

    result = read_result(source)
    cells: dict[str, list[float]] = {}
    for row in result.metrics:
        value = row.scores.get(options.metric)
        if row.k_test == row.k_train and value is not None:
            cells.setdefault(str(row.k_train), []).append(value)
    numbers = SpreadReport(
        metric=options.metric, by_level={k: float(np.mean(v)) for k, v in cells.items()}
    )

    def write(report: Report[SpreadReport], out) -> list[Path]:
        folder = Path(out) if out else Path(source).parent
        path = folder / f"{Path(source).stem}_spread.json"
        return [write_json(path, report.numbers.model_dump(mode="json"))]

    text = "\n".join(f"k={k}: {v:.4f}" for k, v in numbers.by_level.items())
    return Report("spread", Path(source), numbers, text=text, writer=write)


@hookimpl
def hbench_register_grammars(register) -> None:
    register("sparse", sparse_grammar, SparseConfig)


@hookimpl
def hbench_register_suites(register) -> None:
    register(
        "sparse-smoke",
        Suite(
            name="sparse-smoke",
            description="the sparse grammar, tiny",
            grammar="sparse",
            q=3,
            depth=2,
            grammar_args={"sharpness": 4.0},
            P=64,
            budgets={"mlm": 32},
            n_test=32,
            n_ood=0,
            seeds=[0, 1],
        ),
    )


@hookimpl
def hbench_register_metrics(register) -> None:
    register("brier", brier, direction="lower")


@hookimpl
def hbench_register_analyses(register) -> None:
    register("spread", spread, SpreadOptions, description="a recorded metric per level")
