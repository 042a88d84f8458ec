"""The statistics module: every expectation below is computed by hand from the module's rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hbench import stats


def test_two_equal_seeds_take_the_test_set_error_not_zero():
    # Two seeds both at 0.5835 (the reproduction's root k = 3): s = 0, so the test sets decide:
    # sqrt(2 * 0.0027^2) / 2 = 0.0027 / sqrt(2).
    e = stats.estimate([0.5835, 0.5835], [0.0027, 0.0027])
    assert e.se_seeds == 0.0
    assert e.se == pytest.approx(0.0027 / math.sqrt(2), rel=1e-12)
    assert e.source == "test set" and math.isinf(e.dof)
    assert e.low == pytest.approx(0.5835 - 1.959963984540054 * e.se, rel=1e-9)


def test_spread_seeds_use_t_with_n_minus_one_degrees_of_freedom():
    values = [0.70, 0.80, 0.90]  # mean 0.8, s = 0.1, s / sqrt(3) = 0.0577...
    e = stats.estimate(values, [0.01, 0.01, 0.01])
    assert e.mean == pytest.approx(0.8)
    assert e.se == pytest.approx(0.1 / math.sqrt(3), rel=1e-12)
    assert e.dof == 2 and e.source == "seeds"
    # t_{0.975, 2} = 4.302652729911275
    assert e.high - e.mean == pytest.approx(4.302652729911275 * 0.1 / math.sqrt(3), rel=1e-9)


def test_one_seed_without_test_error_has_no_error_at_all():
    e = stats.estimate([0.9])
    assert math.isnan(e.se) and math.isnan(e.low) and e.source == "none"
    assert stats.estimate([0.9], [0.02]).se == pytest.approx(0.02)


def test_binomial_and_mean_errors():
    assert stats.binomial_se(0.25, 10_000) == pytest.approx(math.sqrt(0.25 * 0.75 / 10_000))
    assert stats.mean_se([1.0, 3.0]) == pytest.approx(1.0)  # s = sqrt(2), / sqrt(2)
    with pytest.raises(ValueError):
        stats.binomial_se(0.5, 0)


def test_normalised_accuracy_error_by_the_delta_method():
    # Four queries; model right on 0, 1; BP right on 0, 1, 2; chance 0.25.
    a = np.array([1, 1, 0, 0])
    b = np.array([1, 1, 1, 0])
    big_a, big_b, d = 0.5, 0.75, 0.5
    var_a, var_b = 0.25, 0.1875
    cov = np.mean((a - big_a) * (b - big_b))  # 0.125
    excess = big_a - 0.25
    expected = math.sqrt((var_a / d**2 + excess**2 * var_b / d**4 - 2 * excess * cov / d**3) / 4)
    assert stats.normalised_accuracy_se(a, b, 0.25) == pytest.approx(expected, rel=1e-12)
    # identical correctness: normalised accuracy is exactly 1 on any resample, so no error
    assert stats.normalised_accuracy_se(b, b, 0.25) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(stats.normalised_accuracy_se(a, np.array([1, 0, 0, 0]), 0.25))


def test_the_summary_bound_is_above_the_paired_error():
    rng = np.random.default_rng(0)
    bp = rng.random(20_000) < 0.6
    model = bp & (rng.random(20_000) < 0.9)  # right mostly where BP is
    exact = stats.normalised_accuracy_se(model, bp, 0.25)
    bound = stats.normalised_accuracy_se_bound(model.mean(), bp.mean(), 0.25, 20_000)
    assert bound > exact > 0


def test_welch_by_hand():
    a, b = [0.80, 0.82, 0.81], [0.70, 0.72, 0.69]
    va = np.var(a, ddof=1) / 3
    vb = np.var(b, ddof=1) / 3
    se = math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    c = stats.compare(a, b)
    assert c.test == "Welch t" and c.better == 1
    assert c.se == pytest.approx(se, rel=1e-12) and c.dof == pytest.approx(dof, rel=1e-12)


def test_paired_test_separates_what_welch_cannot():
    # Grammars differ a lot, the model gap on each grammar is steady: only pairing sees it.
    a = [0.50, 0.70, 0.90, 0.60, 0.80]
    b = [0.48, 0.68, 0.88, 0.57, 0.79]
    assert stats.compare(a, b).better == 0
    paired = stats.compare(a, b, paired=True)
    assert paired.better == 1 and paired.dof == 4
    diff = np.subtract(a, b)
    assert paired.se == pytest.approx(diff.std(ddof=1) / math.sqrt(5), rel=1e-12)


def test_the_test_set_floor_holds_in_comparisons():
    # Equal seeds on both sides but a test-set error of 0.05 each: 0.02 apart is no separation.
    c = stats.compare([0.80, 0.80], [0.78, 0.78], a_test_se=[0.05, 0.05], b_test_se=[0.05, 0.05])
    assert c.better == 0 and math.isinf(c.dof)
    assert c.se == pytest.approx(math.hypot(0.05 / math.sqrt(2), 0.05 / math.sqrt(2)))


def test_ranks_share_a_range_when_not_separated():
    rows = {
        "a": [0.90, 0.91, 0.92],
        "b": [0.89, 0.90, 0.93],
        "c": [0.50, 0.52, 0.51],
    }
    r = stats.ranks(rows)
    assert (r["a"].label, r["b"].label, r["c"].label) == ("1-2", "1-2", "3")
    lower = stats.ranks({k: [-v for v in vs] for k, vs in rows.items()}, higher_is_better=False)
    assert lower["c"].label == "3"


def test_a_failed_seed_is_marked():
    # rhm-cpu's transformer: one seed trained to near chance.
    assert stats.outliers([0.95, 0.93, 0.30]) == [2]
    assert stats.outliers([0.95, 0.93, 0.91]) == []
    assert stats.outliers([0.9, 0.9, 0.9, 0.9, 0.2]) == [4]
    # a divergence: higher is worse
    assert stats.outliers([0.01, 0.012, 0.8], higher_is_better=False) == [2]
    # within the seeds' own test-set error: not marked
    assert stats.outliers([0.95, 0.93, 0.70], [0.1, 0.1, 0.1]) == []


def test_consistent_claims():
    claim = stats.estimate([0.80, 0.82, 0.81, 0.79, 0.80])
    rerun = stats.estimate([0.81, 0.80, 0.82, 0.80, 0.79])
    far = stats.estimate([0.60, 0.61, 0.62, 0.60, 0.59])
    assert stats.consistent(claim, rerun)
    assert not stats.consistent(claim, far)
    assert not stats.consistent(claim, stats.estimate([0.8]))  # no error: cannot confirm
