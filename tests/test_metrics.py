"""Metrics are a registered kind: the built-in ones give score_queries' numbers, a plugin's
metric is aggregated as it says, and a broken one is its plugin's fault."""

from __future__ import annotations

import numpy as np
import pytest

from hbench.errors import PluginError
from hbench.metrics import Metric, MetricInputs, extra_metrics, registered_metrics
from hbench.registry.registry import get_registry
from hbench.results import LevelMetrics
from hbench.scoring import BUILTIN_METRICS, kl_bits, score_queries


def random_inputs(m: int = 50, q: int = 4, *, targets: bool = True) -> MetricInputs:
    rng = np.random.default_rng(3)
    model, bp_test, bp_train = (rng.dirichlet(np.ones(q), size=m) for _ in range(3))
    truth = rng.integers(0, q, size=m) if targets else None
    return MetricInputs(model, bp_test, bp_train, truth, q, 1 / q)


def test_the_built_in_metrics_are_registered_with_their_direction() -> None:
    metrics = registered_metrics(get_registry())
    assert set(BUILTIN_METRICS) <= set(metrics)
    assert metrics["kl_bp"].direction == "lower" and metrics["acc"].higher_is_better
    assert metrics["acc"].function is BUILTIN_METRICS["acc"][0]
    # the cells' own fields are not recorded again under scores; acc_exp, added later, is
    from hbench.scoring import FIELD_METRICS

    extra = {m.name for m in extra_metrics(get_registry(), LevelMetrics.model_fields)}
    assert not extra & set(FIELD_METRICS)
    assert "acc_exp" in extra
    assert metrics["acc_exp"].higher_is_better


def test_registered_built_ins_give_the_numbers_score_queries_records() -> None:
    inputs = random_inputs()
    scores = score_queries(inputs.model, inputs.bp_test, inputs.bp_train, inputs.targets, 4)
    metrics = registered_metrics(get_registry())
    from hbench.scoring import FIELD_METRICS

    for name in FIELD_METRICS:
        assert metrics[name](inputs) == scores[name]
    # checked against the definitions, element by element
    hits = inputs.model.argmax(axis=1) == inputs.targets
    assert scores["acc"] == hits.mean()
    assert scores["kl_bp_train"] == pytest.approx(kl_bits(inputs.bp_train, inputs.model).mean())
    assert metrics["acc"](random_inputs(targets=False)) is None


@pytest.mark.parametrize(
    ("aggregation", "expected"),
    [("mean", 2.0), ("median", 1.0), ("min", 0.0), ("max", 5.0), ("sum", 6.0)],
)
def test_per_query_values_are_aggregated_as_registered(aggregation, expected) -> None:
    values = np.array([0.0, 1.0, 5.0])
    inputs = random_inputs(m=3)
    metric = Metric("m", lambda _: values, "lower", aggregation, source="plugin 't'")
    assert metric(inputs) == expected
    assert Metric("n", lambda _: 7, "higher", "mean")(inputs) == 7.0  # a number is the value


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (lambda _: np.zeros(2), r"returned shape \(2,\); expected one value per query \(3,\)"),
        (lambda _: np.full(3, np.nan), "returned NaN"),
        (lambda _: 1 / 0, "failed: ZeroDivisionError"),
    ],
)
def test_a_broken_metric_is_its_plugins_fault(function, message) -> None:
    metric = Metric("bad", function, "higher", "mean", source="plugin 't'")
    with pytest.raises(PluginError, match=rf"metric 'bad' from plugin 't' {message}"):
        metric(random_inputs(m=3))
