"""The reproduction's numbers go through hbench.stats: test-set errors, intervals, comparisons."""

from __future__ import annotations

import math

import pytest

from hbench.reproduce.evidence import better, metric_stat, norm_stat, over_seeds
from hbench.results import LevelMetrics


def cell(seed: int, acc: float, acc_se: float | None, norm_se: float | None) -> LevelMetrics:
    return LevelMetrics(
        seed=seed, k_train=3, k_test=3, acc=acc, acc_bp=acc, acc_bp_train=acc, chance=0.25,
        kl_bp=0.0, kl_bp_train=0.0, agree=1.0, agree_train=1.0, n_queries=32768,
        acc_se=acc_se, normalised_accuracy_se=norm_se, kl_bp_se=None,
    )  # fmt: skip


def test_two_equal_seeds_keep_the_test_set_error() -> None:
    # the committed cpu reproduction's acc_BP 0.5835 at root k = 3 on both seeds: the seeds
    # give 0, the test sets sqrt(2 * 0.0027^2) / 2 for the mean of the two
    rows = [cell(0, 0.5835, 0.0027, 0.01), cell(1, 0.5835, 0.0027, 0.01)]
    acc = metric_stat(rows, "acc")
    assert acc.mean == pytest.approx(0.5835)
    assert acc.se == pytest.approx(math.sqrt(2 * 0.0027**2) / 2)
    assert acc.kind == "test set"
    assert acc.text(4) == "0.5835 ± 0.0019"
    # normal quantile where the test set decides
    assert acc.high == pytest.approx(0.5835 + 1.959963984540054 * acc.se)
    # BP's own accuracy: the binomial error of its share
    bp = metric_stat(rows, "acc_bp")
    assert bp.se == pytest.approx(math.sqrt(0.5835 * 0.4165 / 32768) / math.sqrt(2))
    assert norm_stat(rows).se == pytest.approx(math.sqrt(2 * 0.01**2) / 2)


def test_the_seeds_decide_with_a_t_interval() -> None:
    stat = over_seeds([0.9, 0.7], [0.001, 0.001])
    assert stat.kind == "seeds" and stat.se == pytest.approx(0.1)
    t = 12.706204736174707  # t_{0.975, 1}
    assert stat.low == pytest.approx(0.8 - t * 0.1)
    assert stat.below(0.8 + t * 0.1 + 1e-9) and not stat.below(0.95)
    # one seed without a test-set error has no error at all: never judged beyond it
    alone = over_seeds([0.5])
    assert math.isnan(alone.se) and not alone.below(0.9) and not alone.above(0.1)


def test_better_is_the_one_rule() -> None:
    a = over_seeds([0.90, 0.91, 0.92], [0.005] * 3)
    b = over_seeds([0.80, 0.81, 0.82], [0.005] * 3)
    assert better(a, b) == 1 and better(b, a) == -1
    close = over_seeds([0.905, 0.915, 0.925], [0.005] * 3)
    assert better(a, close) == 0
    # paired on shared grammars: a constant shift of 0.005 on each seed separates them
    precise = over_seeds([0.90, 0.91, 0.92], [0.0001] * 3)
    c = over_seeds([0.895, 0.905, 0.915], [0.0001] * 3)
    assert better(precise, c, paired=True) == 1
    assert better(precise, c) == 0  # unpaired, the spread between seeds hides it
