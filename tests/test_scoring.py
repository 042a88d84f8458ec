"""Scores against the exact oracle: KL in bits, argmax metrics, the headline, input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hbench.errors import PluginError
from hbench.metrics import MetricInputs
from hbench.scoring import (
    BUILTIN_METRICS,
    PROBABILITY_FLOOR,
    chance_level,
    expected_accuracy,
    headline,
    headline_line,
    kl_bits,
    metric_headline,
    metric_per_seed,
    normalised_accuracy,
    score_queries,
    score_random,
    tied_maxima,
    validate_probabilities,
)


def random_probs(m: int, q: int, seed: int) -> np.ndarray:
    probs = np.random.default_rng(seed).random((m, q)) + 0.01
    return probs / probs.sum(axis=1, keepdims=True)


# --- score_queries -----------------------------------------------------------------------------


def test_kl_of_identical_distributions_is_zero() -> None:
    probs = random_probs(50, 4, seed=0)
    probs[0] = [1.0, 0.0, 0.0, 0.0]  # zeros in p and model alike
    scores = score_queries(probs, probs, probs, None, 4)
    assert scores["kl_bp"] == 0.0
    assert scores["kl_bp_train"] == 0.0
    assert scores["agree"] == scores["agree_train"] == 1.0


def test_kl_two_classes_by_hand_in_bits() -> None:
    bp = np.array([[0.5, 0.5], [1.0, 0.0]])
    model = np.array([[0.25, 0.75], [0.5, 0.5]])
    # Row 0: 0.5 log2(0.5/0.25) + 0.5 log2(0.5/0.75) = 0.5 + 0.5 log2(2/3).
    # Row 1: 1 log2(1/0.5) + 0 (the p = 0 term) = 1.
    row0 = 0.5 + 0.5 * math.log2(2 / 3)
    np.testing.assert_allclose(kl_bits(bp, model), [row0, 1.0], rtol=1e-12)
    scores = score_queries(model, bp, model, None, 2)
    assert scores["kl_bp"] == pytest.approx((row0 + 1.0) / 2, rel=1e-12)
    assert scores["kl_bp_train"] == 0.0


def test_model_zeros_are_floored() -> None:
    bp = np.array([[0.5, 0.5]])
    model = np.array([[1.0, 0.0]])
    kl = score_queries(model, bp, bp, None, 2)["kl_bp"]
    expected = 0.5 * math.log2(0.5 / 1.0) + 0.5 * math.log2(0.5 / PROBABILITY_FLOOR)
    assert math.isfinite(kl)
    assert kl == pytest.approx(expected, rel=1e-12)
    # The worst possible query: all mass where the model puts none, about 40 bits.
    worst = score_queries(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), bp, None, 2)["kl_bp"]
    assert worst == pytest.approx(-math.log2(PROBABILITY_FLOOR))
    assert worst < 40


def test_argmax_metrics() -> None:
    model = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    bp_test = np.array([[0.6, 0.3, 0.1], [0.4, 0.5, 0.1], [0.5, 0.2, 0.3], [0.1, 0.8, 0.1]])
    bp_train = np.array([[0.1, 0.1, 0.8], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.6, 0.3, 0.1]])
    targets = np.array([0, 1, 0, 1])
    # argmax: model 0,1,2,0; bp_test 0,1,0,1; bp_train 2,1,2,0
    scores = score_queries(model, bp_test, bp_train, targets, 3)
    assert scores == {
        "acc": 0.5,
        "acc_bp": 1.0,
        "acc_bp_train": 0.25,
        "chance": pytest.approx(1 / 3),
        "kl_bp": pytest.approx(np.mean(kl_bits(bp_test, model))),
        "kl_bp_train": pytest.approx(np.mean(kl_bits(bp_train, model))),
        "agree": 0.5,
        "agree_train": 0.75,
        "n_queries": 4,
        # binomial: sqrt(0.5 * 0.5 / 4)
        "acc_se": pytest.approx(0.25),
        # model right on [1, 1, 0, 0], BP on all: var(b) = cov = 0, D = 2/3, so
        # sqrt(var(a) / D^2 / m) = sqrt(0.25 * 9/4 / 4) = 0.375
        "normalised_accuracy_se": pytest.approx(0.375),
        "kl_bp_se": pytest.approx(np.std(kl_bits(bp_test, model), ddof=1) / 2),
    }


def test_agreement_counts_any_tied_maximum_of_bp() -> None:
    # BP ties classes 0 and 1 on both queries (the second only to rounding, 1e-16 relative);
    # the model picks 1 on the first, 0 on the second: both as good as BP's choice.
    tie = 0.4 * (1 + 1e-16)
    bp = np.array([[0.4, 0.4, 0.2], [tie, 0.4, 0.2]])
    model = np.array([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1]])
    lowest_index = np.mean(model.argmax(axis=1) == bp.argmax(axis=1))
    assert lowest_index == 0.5  # the old rule: ties broken toward the lowest class
    scores = score_queries(model, bp, bp, None, 3)
    assert scores["agree"] == scores["agree_train"] == 1.0
    # a real preference (1e-9 relative, far above TIE_RTOL) is not a tie
    bp_real = np.array([[0.4 * (1 + 1e-9), 0.4, 0.2 - 0.4e-9]])
    assert score_queries(model[:1], bp_real, bp_real, None, 3)["agree"] == 0.0
    assert tied_maxima(bp).tolist() == [[True, True, False], [True, True, False]]


def test_expected_accuracy_by_hand() -> None:
    bp = np.array([[0.4, 0.4, 0.2], [0.1, 0.6, 0.3], [0.5, 0.25, 0.25]])
    model = np.array([[0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.9, 0.05, 0.05]])
    inputs = MetricInputs(model, bp, bp, None, 3, 1 / 3)
    # the model picks 1, 2, 0: p_BP = 0.4, 0.3, 0.5
    np.testing.assert_allclose(expected_accuracy(inputs), [0.4, 0.3, 0.5])
    assert float(np.mean(expected_accuracy(inputs))) == pytest.approx(0.4)
    # BP's own choice is Bayes-optimal: the mean of its maxima
    optimal = MetricInputs(bp, bp, bp, None, 3, 1 / 3)
    assert float(np.mean(expected_accuracy(optimal))) == pytest.approx((0.4 + 0.6 + 0.5) / 3)
    assert BUILTIN_METRICS["acc_exp"][1] == "higher"


def test_random_sequences_scored_where_possible_only() -> None:
    # 4 random sequences, 2 queries each; only sequence 2 is possible under the grammar
    q = 2
    bp = np.tile([[0.5, 0.5]], (8, 1))
    bp[4:6] = [[0.9, 0.1], [0.2, 0.8]]
    model = np.tile([[0.5, 0.5]], (8, 1))
    model[4:6] = [[0.8, 0.2], [0.8, 0.2]]
    rows = np.repeat(np.arange(4), 2)
    possible = np.array([False, False, True, False])
    scores = score_random(model, bp, q, None, possible, rows, k_train=1)
    assert scores["possible"] == 0.25 and scores["na_reason"] is None
    assert scores["n_queries"] == 2
    assert scores["agree"] == 0.5  # right on the first query, wrong on the second
    expected_kl = (0.9 * math.log2(0.9 / 0.8) + 0.1 * math.log2(0.1 / 0.2)) / 2 + (
        0.2 * math.log2(0.2 / 0.8) + 0.8 * math.log2(0.8 / 0.2)
    ) / 2
    assert scores["kl_bp"] == pytest.approx(expected_kl)
    # the uniform answers on impossible sequences would have pulled agree up to 7/8
    none = score_random(model, bp, q, None, np.zeros(4, bool), rows, k_train=1)
    assert none["possible"] == 0.0 and none["n_queries"] == 0
    assert none["kl_bp"] is None and none["agree"] is None and none["acc"] is None
    assert none["na_reason"] == "no random sequence is possible under the grammar at k=1"


def test_chance_is_one_over_the_classes_the_answer_can_take() -> None:
    assert chance_level(True, 4) == chance_level(True, 4, 4) == 0.25
    assert chance_level(True, 4, 2) == 0.5  # the root takes n_c = 2 of q = 4 symbols
    assert chance_level(False, 4, 2) == 0.25  # leaves, next tokens, ancestors: q
    with pytest.raises(ValueError, match="classes=5 is invalid"):
        chance_level(True, 4, 5)
    probs = random_probs(8, 4, seed=3)
    assert score_queries(probs, probs, probs, None, 4)["chance"] == 0.25
    assert score_queries(probs, probs, probs, None, 4, chance=0.5)["chance"] == 0.5


def test_no_targets_means_no_accuracy() -> None:
    probs = random_probs(10, 3, seed=1)
    scores = score_queries(probs, probs, probs, None, 3)
    assert scores["acc"] is None and scores["acc_bp"] is None and scores["acc_bp_train"] is None
    assert scores["n_queries"] == 10


def test_score_queries_refuses_mismatched_shapes() -> None:
    probs = random_probs(5, 3, seed=2)
    with pytest.raises(ValueError, match="bp_train has shape"):
        score_queries(probs, probs, probs[:4], None, 3)
    with pytest.raises(ValueError, match="targets has shape"):
        score_queries(probs, probs, probs, np.zeros(4, dtype=int), 3)
    with pytest.raises(ValueError, match="no queries"):
        score_queries(probs[:0], probs[:0], probs[:0], None, 3)


# --- normalised accuracy and the headline ------------------------------------------------------


def test_normalised_accuracy() -> None:
    assert normalised_accuracy(0.8, 0.8, 0.25) == 1.0
    assert normalised_accuracy(0.25, 0.8, 0.25) == 0.0
    assert normalised_accuracy(0.5, 0.75, 0.25) == pytest.approx(0.5)
    assert math.isnan(normalised_accuracy(0.5, 0.25, 0.25))


def row(seed: int, k_train: int, k_test: int | str, acc: float | None, kl: float) -> dict:
    return {
        "seed": seed,
        "k_train": k_train,
        "k_test": k_test,
        "acc": acc,
        "acc_bp": None if acc is None else 0.75,
        "chance": 0.25,
        "kl_bp": kl,
    }


def test_headline_over_seeds_by_hand() -> None:
    # normalised accuracy = (acc - 0.25) / 0.5
    rows = [
        row(0, 1, 1, 0.75, 0.1),  # 1.0
        row(0, 2, 2, 0.50, 0.3),  # 0.5   -> seed 0: 0.75, kl 0.2
        row(0, 1, 2, 0.25, 9.0),  # out of sample: ignored
        row(0, 1, "ood", None, 9.0),  # ignored
        row(1, 1, 1, 0.50, 0.2),  # 0.5
        row(1, 2, 2, 0.50, 0.6),  # 0.5   -> seed 1: 0.5, kl 0.4
        row(1, 2, 1, 0.75, 9.0),
    ]
    result = headline(rows)
    accuracy, kl = result["normalised_accuracy"], result["kl_bp"]
    assert accuracy["per_seed"] == pytest.approx([0.75, 0.5])
    assert accuracy["mean"] == pytest.approx(0.625)
    # std(ddof=1) of [0.75, 0.5] = 0.125 * sqrt(2); over sqrt(2) seeds: 0.125
    assert accuracy["stderr"] == pytest.approx(0.125)
    assert kl["per_seed"] == pytest.approx([0.2, 0.4])
    assert kl["mean"] == pytest.approx(0.3)
    assert kl["stderr"] == pytest.approx(0.1)
    # no test-set errors given: the seeds decide, with a t interval on 1 degree of freedom
    assert accuracy["source"] == "seeds" and accuracy["dof"] == 1
    t = 12.706204736174707  # t_{0.975, 1}
    assert accuracy["low"] == pytest.approx(0.625 - t * 0.125)
    assert accuracy["high"] == pytest.approx(0.625 + t * 0.125)


def test_headline_takes_the_test_set_error_when_seeds_agree() -> None:
    # two seeds with equal scores: the between-seed error is 0, the test sets' is not
    rows = [
        {**row(0, 1, 1, 0.75, 0.1), "normalised_accuracy_se": 0.03, "kl_bp_se": 0.01},
        {**row(0, 2, 2, 0.75, 0.1), "normalised_accuracy_se": 0.04, "kl_bp_se": 0.01},
        {**row(1, 1, 1, 0.75, 0.1), "normalised_accuracy_se": 0.03, "kl_bp_se": 0.01},
        {**row(1, 2, 2, 0.75, 0.1), "normalised_accuracy_se": 0.04, "kl_bp_se": 0.01},
    ]
    accuracy = headline(rows)["normalised_accuracy"]
    # each seed: sqrt(0.03^2 + 0.04^2) / 2 = 0.025; the mean of two: sqrt(2 * 0.025^2) / 2
    expected = math.sqrt(2 * 0.025**2) / 2
    assert accuracy["se_seeds"] == 0.0
    assert accuracy["se"] == accuracy["stderr"] == pytest.approx(expected)
    assert accuracy["source"] == "test set" and math.isnan(accuracy["dof"])
    assert accuracy["high"] == pytest.approx(1.0 + 1.959963984540054 * expected)
    assert headline_line(accuracy) == f"1.000 ± {expected:.3f} (test set)"
    # a cell without its error (an old file's KL): the seeds alone speak
    rows[0] = {**rows[0], "kl_bp_se": None}
    assert math.isnan(headline(rows)["kl_bp"]["se_test"])


def test_headline_one_seed_without_test_errors_has_no_error() -> None:
    result = headline([row(3, 0, 0, 0.5, 0.2)])
    accuracy = result["normalised_accuracy"]
    assert accuracy["mean"] == 0.5 and accuracy["per_seed"] == [0.5]
    assert math.isnan(accuracy["stderr"]) and accuracy["source"] == "none"
    assert headline_line(accuracy) == "0.500"
    one = headline([{**row(3, 0, 0, 0.5, 0.2), "normalised_accuracy_se": 0.02}])
    assert one["normalised_accuracy"]["se"] == pytest.approx(0.02)


def test_headline_never_averages_over_missing_cells() -> None:
    rows = [row(0, 1, 1, 0.5, 0.1), row(0, 2, 2, 0.5, 0.1), row(1, 1, 1, 0.5, 0.1)]
    with pytest.raises(ValueError, match=r"seed 1 lacks in-sample level\(s\) \[2\]"):
        headline(rows)
    # A seed with out-of-sample rows only is missing every in-sample level.
    with pytest.raises(ValueError, match="seed 1 lacks"):
        headline([row(0, 1, 1, 0.5, 0.1), row(1, 1, 2, 0.5, 0.1)])


def test_headline_without_in_sample_cells_is_nan() -> None:
    result = headline([row(0, 1, 2, 0.5, 0.1)])
    assert math.isnan(result["normalised_accuracy"]["mean"])
    assert result["kl_bp"]["per_seed"] == []


# --- validate_probabilities --------------------------------------------------------------------


def test_validate_probabilities_accepts_and_converts() -> None:
    probs = random_probs(6, 4, seed=3).astype(np.float32)
    out = validate_probabilities(probs, 6, 4, "model 'foo'")
    assert out.dtype == np.float64 and out.shape == (6, 4)
    np.testing.assert_allclose(out, probs, rtol=1e-6)


def with_value(row: int, col: int, value: float):
    def mutate(probs: np.ndarray) -> np.ndarray:
        probs = probs.copy()
        probs[row, col] = value
        return probs

    return mutate


def scale_row(row: int, factor: float):
    def mutate(probs: np.ndarray) -> np.ndarray:
        probs = probs.copy()
        probs[row] *= factor
        return probs

    return mutate


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p[:, :3], r"shape \(6, 3\); expected \(6, 4\)"),
        (lambda p: p[:5], r"shape \(5, 4\); expected \(6, 4\)"),
        (lambda p: p.ravel(), r"shape \(24,\); expected \(6, 4\)"),
        (with_value(2, 1, np.nan), "non-finite probability nan at row 2, class 1"),
        (with_value(5, 0, np.inf), "non-finite probability inf at row 5, class 0"),
        (with_value(3, 1, -0.01), r"negative probability -0\.01 at row 3, class 1"),
        (scale_row(4, 1.01), r"row 4 sums to 1\.01 "),
        (scale_row(0, 0.0), r"row 0 sums to 0 "),
        (lambda p: p.astype(str), "dtype <U"),
    ],
)
def test_validate_probabilities_names_model_and_problem(mutate, message: str) -> None:
    probs = mutate(random_probs(6, 4, seed=4))
    with pytest.raises(PluginError, match=rf"^model 'foo' returned .*{message}"):
        validate_probabilities(probs, 6, 4, "model 'foo'")


def test_validate_probabilities_tolerates_rounding() -> None:
    probs = random_probs(3, 4, seed=5)
    probs[0] *= 1 + 5e-5
    validate_probabilities(probs, 3, 4, "model 'foo'")


def test_a_declared_headline_over_seeds_by_hand() -> None:
    """A task's own headline (a registered metric in the cells' scores) is summarised as
    normalised accuracy is: per seed the mean over its in-sample levels, with the test-set
    error sqrt(sum se^2) / n_levels, then the larger of the seeds' and the test sets' error."""

    def cell(seed: int, k_train: int, k_test: int | str, value: float, se: float) -> dict:
        return {
            "seed": seed,
            "k_train": k_train,
            "k_test": k_test,
            "scores": {"gen_fidelity": value, "gen_fidelity_se": se},
        }

    rows = [
        cell(0, 0, 0, 1.0, 0.03),
        cell(0, 1, 1, 0.8, 0.04),  # seed 0: 0.9, test-set error sqrt(0.03^2 + 0.04^2) / 2
        cell(0, 0, 1, 0.1, 0.01),  # out of sample: ignored
        cell(0, 0, "ood", 0.1, 0.01),  # ignored
        cell(1, 0, 0, 0.6, 0.03),
        cell(1, 1, 1, 0.8, 0.04),  # seed 1: 0.7, the same error
    ]
    seeds, values, errors = metric_per_seed(rows, "gen_fidelity")
    assert seeds == [0, 1] and values == pytest.approx([0.9, 0.7])
    assert errors == pytest.approx([0.025, 0.025])
    summary = metric_headline(rows, "gen_fidelity")
    assert summary["mean"] == pytest.approx(0.8)
    # between seeds: std(ddof=1) of [0.9, 0.7] / sqrt(2) = 0.1; test sets: sqrt(2) 0.025 / 2
    assert summary["se_seeds"] == pytest.approx(0.1)
    assert summary["se_test"] == pytest.approx(math.sqrt(2) * 0.025 / 2)
    assert summary["se"] == pytest.approx(0.1) and summary["source"] == "seeds"
    # equal seeds: the test sets' error decides
    same = [{**r, "scores": {**r["scores"], "gen_fidelity": 0.5}} for r in rows]
    assert metric_headline(same, "gen_fidelity")["se"] == pytest.approx(math.sqrt(2) * 0.025 / 2)
    with pytest.raises(ValueError, match="seed 1 lacks in-sample level"):
        metric_headline(rows[:4] + rows[5:], "gen_fidelity")
    with pytest.raises(ValueError, match="has no acc_exp"):
        metric_headline(rows, "acc_exp")
    assert math.isnan(metric_headline(rows[2:4], "gen_fidelity")["mean"])
