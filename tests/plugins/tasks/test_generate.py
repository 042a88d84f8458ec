"""The generate task end to end: the grammar's own sampler scores as the grammar does, worse
samplers score worse, a model that cannot sample is refused in one line before it trains, and
gpt's sequences come back from its sandboxed worker as they do in this process."""

from __future__ import annotations

import numpy as np
import pytest

from hbench.api import evaluate
from hbench.contracts import ModelCapabilities, task_capabilities
from hbench.errors import PluginError, UsageError
from hbench.registry.registry import get_registry
from hbench.run.spec import RunSpec
from hbench_tasks.generate import (
    BOOTSTRAP_SEED,
    GenerateTask,
    SequenceScores,
    distance_bound,
    fidelity,
)

SMOKE = "generate-smoke"


def _cells(result) -> dict[tuple, dict]:
    return {
        (m.k_train, m.k_test): {**m.scores, **(m.task_metrics or {}).get("generation", {})}
        for m in result.metrics
        if m.k_test != "ood"
    }


@pytest.fixture(scope="module")
def bp_run():
    return evaluate("bp", SMOKE, in_process=True, progress=False)


def test_the_grammars_own_sampler_scores_as_the_grammar(bp_run):
    """bp draws from the grammar itself: at its own level every sequence parses at every depth
    (exactly), and its likelihood and n-gram distance agree with the reference's within their
    sampling errors."""
    in_sample = [c for (k, j), c in _cells(bp_run).items() if k == j]
    assert len(in_sample) == 4
    for cell in in_sample:
        assert cell["gen_valid"] == 1.0 and cell["gen_coherence"] == 1.0
        assert cell["coherent"] == [1.0] * 4 == cell["coherent_ref"]
        gap = abs(cell["gen_loglik"] - cell["gen_loglik_ref"])
        se = np.hypot(cell["gen_loglik_se"], cell["loglik_bits_se_ref"])
        assert gap <= 4 * se + 1e-9
        assert abs(cell["gen_ngram_tv"] - cell["gen_ngram_tv_ref"]) < 0.05


def test_off_diagonal_cells_say_which_law_the_sequences_follow(bp_run):
    """Sequences of the fully filtered level (k = 3: leaves independent given the root) mostly
    fail to parse under the unfiltered grammar; the reverse holds at the coarser levels."""
    cells = _cells(bp_run)
    assert cells[(3, 0)]["gen_valid"] < 0.5
    assert cells[(3, 0)]["gen_ngram_tv"] > 2 * cells[(3, 0)]["gen_ngram_tv_ref"]
    shares = cells[(3, 0)]["coherent"]
    assert shares == sorted(shares, reverse=True) and shares[0] == 1.0


def test_the_unigram_prior_scores_worse():
    prior = evaluate("prior", SMOKE, train_filters=[0], in_process=True, progress=False)
    cell = _cells(prior)[(0, 0)]
    assert cell["gen_valid"] < 0.1 and cell["gen_coherence"] < 0.5
    assert cell["gen_ngram_tv"] > 3 * cell["gen_ngram_tv_ref"]


def test_metrics_are_recorded_for_generate_only():
    root = evaluate("bp", "smoke", train_filters=[0], in_process=True, progress=False)
    assert not any(k.startswith("gen_") for m in root.metrics for k in m.scores)


def test_a_registered_model_without_sample_is_refused_in_one_line():
    spec = RunSpec(model="naive-bayes", suite=SMOKE)
    with pytest.raises(UsageError, match=r"cannot do task 'generate': it has no sample\(n, rng\)"):
        spec.resolve(get_registry())


class _Counting:
    """A model object that answers next-token questions uniformly and counts its fits."""

    fits = 0

    def fit(self, train, spec, callbacks) -> None:
        type(self).fits += 1
        self.spec = spec

    def predict(self, data) -> np.ndarray:
        return np.full((data.n_queries, self.spec.q), 1.0 / self.spec.q)


class _BadSampler(_Counting):
    capabilities = ModelCapabilities(sample=True)

    def sample(self, n, rng) -> np.ndarray:
        return np.full((n, self.spec.length), self.spec.q)  # a symbol out of range


def test_a_model_object_without_sample_is_refused_before_it_trains():
    _Counting.fits = 0
    with pytest.raises(UsageError, match="no sample"):
        evaluate(_Counting, SMOKE, train_filters=[0], progress=False)
    assert _Counting.fits == 0


def test_bad_samples_are_the_models_fault_in_one_line():
    with pytest.raises(PluginError, match=r"sample\(\) returned symbol 4; expected \[0, 4\)"):
        evaluate(_BadSampler, SMOKE, train_filters=[0], progress=False)


def test_variable_length_grammars_are_refused():
    from hbench_cfg.grammar import build_cfg

    grammar = build_cfg([1, 2, 2], seed=1)  # rules of 2 and 3 symbols
    with pytest.raises(UsageError, match="needs sequences of one length"):
        GenerateTask().spec(grammar)


def test_an_n_gram_table_too_big_is_refused_before_any_work():
    with pytest.raises(UsageError, match="ngram=6 is invalid: at most 4 for q=8"):
        evaluate("bp", "generate-cpu", task_args={"ngram": 6}, progress=False)


def test_the_scores_of_a_set_of_sequences():
    """Coherence depths -1, 0, 2 of a depth-2 grammar: shares per depth, the coherence score
    (c + 1) / (depth + 1), validity, and the likelihood over the sequences that parse."""
    scores = SequenceScores(
        loglik=np.array([-np.inf, -np.inf, -2.0 * np.log(2)]),
        coherence=np.array([-1, 0, 2]),
        tv={1: np.array([0.1, 0.3])},
        depth=2,
    )
    assert scores.coherent() == [2 / 3, 1 / 3, 1 / 3]
    assert scores.coherence_score == pytest.approx((0 + 1 / 3 + 1) / 3)
    assert scores.valid == pytest.approx(1 / 3)
    np.testing.assert_allclose(scores.bits, [-2.0])
    summary = scores.summary()
    assert summary["loglik_bits"] == pytest.approx(-2.0) and summary["loglik_bits_se"] is None
    assert summary["ngram_tv"] == {"1": pytest.approx(0.2)}


def test_the_task_declares_what_it_does():
    task = GenerateTask()
    declared = task_capabilities(task)
    assert declared.generates and declared.exact_answers and declared.metrics
    assert task.n_samples(256) == 256 and task.n_samples(10**6) == 4096


def test_gpt_samples_come_back_from_its_worker_as_in_this_process():
    pytest.importorskip("torch")
    args = {"d_model": 16, "n_layers": 1, "n_heads": 1, "d_ff": 16, "epochs": 2}
    runs = [
        evaluate("gpt", SMOKE, train_filters=[2], model_args=args, progress=False, **where)
        for where in ({}, {"in_process": True})
    ]
    assert [r.isolation for r in runs] == ["process", "in-process"]
    isolated, local = (_cells(r)[(2, 2)] for r in runs)
    assert 0.0 < isolated["gen_valid"] <= 1.0
    assert isolated["gen_loglik"] == pytest.approx(local["gen_loglik"], rel=1e-9)
    assert isolated["coherent"] == local["coherent"]


def test_gpt_draws_from_its_own_next_symbol_law():
    """The frequencies of the first symbol, and of the second given the first, among gpt's
    sequences match its predicted laws (far from uniform once trained), and one seed gives
    the same sequences."""
    pytest.importorskip("torch")
    from hbench.contracts import TaskData
    from hbench.run.harness import Harness
    from hbench.run.worker import InProcessModel
    from hbench_gpt.configs import GPTModelConfig
    from hbench_gpt.model import GPTModel

    world = Harness(RunSpec(model="gpt", suite=SMOKE)).world
    model = GPTModel(GPTModelConfig(d_model=16, n_layers=1, n_heads=1, d_ff=16, epochs=20))
    handle = InProcessModel(model, "cpu", threads=1)  # the harness's path, one thread
    handle.fit(world.train_data(0, 0), world.task_spec, 0, {}, None, None)
    drawn, again = handle.sample(4000, 1), handle.sample(4000, 1)
    np.testing.assert_array_equal(drawn, again)
    q, length = world.task_spec.q, world.task_spec.length
    prefixes = np.zeros((q, length), dtype=np.int64)
    prefixes[:, 0] = np.arange(q)  # row a: x_0 = a (the rest unseen by a causal model)
    asked = TaskData(prefixes, np.repeat(np.arange(q), 2), np.tile([0, 1], q))
    laws = model.predict(asked).reshape(q, 2, q)
    tolerance = 4 * np.sqrt(0.25 / drawn.shape[0])
    first = np.bincount(drawn[:, 0], minlength=q) / drawn.shape[0]
    assert np.abs(first - laws[0, 0]).max() < tolerance < np.abs(laws[0, 0] - 1 / q).max()
    for a in range(q):
        rows = drawn[drawn[:, 0] == a]
        second = np.bincount(rows[:, 1], minlength=q) / max(rows.shape[0], 1)
        assert np.abs(second - laws[a, 1]).max() < 4 * np.sqrt(0.25 / max(rows.shape[0], 1))


#: A tiny case for the headline: q = 2, two positions (two 1-gram windows), depth 1. The
#: grammar's exact law of each window's symbol, and a set of sequences with whether the
#: grammar can produce each.
EXACT = np.array([[0.5, 0.5], [0.75, 0.25]])
MODEL = np.array([[0, 0], [0, 0], [1, 0], [0, 1]])
MODEL_VALID = np.array([True, True, False, True])
REFERENCE = np.array([[0, 0], [1, 0], [0, 1], [1, 0]])


def _scores(sequences: np.ndarray, valid: np.ndarray) -> SequenceScores:
    depth = 1
    coherence = np.where(valid, depth, 0)
    return SequenceScores(
        np.where(valid, -1.0, -np.inf), coherence, {}, depth, sequences.copy(), EXACT
    )


def test_the_distance_bound_by_hand():
    """D = max(1 - share valid, mean over windows of the n-gram total variation): the model's
    window 0 has frequencies (3/4, 1/4) against (1/2, 1/2), TV 1/4; window 1 matches exactly;
    so the n-gram part is 1/8 and a quarter of the sequences are invalid: D = 1/4. Weighted
    copies (a bootstrap's counts) give the same as repeating the sequences."""
    assert distance_bound(MODEL_VALID, MODEL, EXACT)[0] == pytest.approx(0.25)
    assert distance_bound(np.ones(4, bool), REFERENCE, EXACT)[0] == pytest.approx(0.0)
    weights = np.array([[2, 0, 1, 1], [0, 0, 0, 4]])
    # row 2: the last sequence (0, 1) four times, valid: TVs 1/2 and 3/4, mean 5/8
    np.testing.assert_allclose(distance_bound(MODEL_VALID, MODEL, EXACT, weights), [0.25, 0.625])
    repeated = np.repeat(np.arange(4), weights[0])
    assert distance_bound(MODEL_VALID[repeated], MODEL[repeated], EXACT)[0] == pytest.approx(0.25)
    # a sampler that repeats one valid sequence: every sequence valid, yet far from the law
    same = np.repeat(REFERENCE[:1], 4, axis=0)
    assert distance_bound(np.ones(4, bool), same, EXACT)[0] == pytest.approx((0.5 + 0.25) / 2)


def test_the_headline_by_hand_and_its_error_by_brute_force():
    """gen_fidelity = (1 - D(model)) / (1 - D(reference)) = 0.75 / 1; its standard error is
    the spread of the same ratio over bootstrap replicates, recomputed here one replicate at a
    time from the same multinomial draws."""
    model, reference = _scores(MODEL, MODEL_VALID), _scores(REFERENCE, np.ones(4, bool))
    value, se = fidelity(model, reference, replicates=50)
    assert value == pytest.approx(0.75)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    draws = [rng.multinomial(4, np.full(4, 0.25), size=50) for _ in range(2)]
    ratios = []
    for w_model, w_reference in zip(*draws, strict=True):
        rows_m, rows_r = np.repeat(np.arange(4), w_model), np.repeat(np.arange(4), w_reference)
        d_m = distance_bound(MODEL_VALID[rows_m], MODEL[rows_m], EXACT)[0]
        d_r = distance_bound(np.ones(rows_r.size, bool), REFERENCE[rows_r], EXACT)[0]
        if d_r < 1:
            ratios.append((1 - d_m) / (1 - d_r))
    assert se == pytest.approx(float(np.std(ratios, ddof=1)))
    assert se > 0 and fidelity(model, reference, replicates=50) == (value, se)
    assert fidelity(model, reference, replicates=1) == (pytest.approx(0.75), None)
    # the reference's own sequences score 1 exactly; sequences none of which is valid, 0
    assert fidelity(reference, reference, replicates=1)[0] == 1.0
    nothing = _scores(MODEL, np.zeros(4, bool))
    assert fidelity(nothing, reference, replicates=1)[0] == 0.0


def test_the_headline_ranks_exact_sampling_first(bp_run):
    """bp's sequences score 1 within their sampling error at every in-sample level, the
    unigram prior's far below at the levels where the grammar constrains its sequences."""
    prior = evaluate("prior", SMOKE, train_filters=[0], in_process=True, progress=False)
    for (k, j), cell in _cells(bp_run).items():
        if k == j:
            assert abs(cell["gen_fidelity"] - 1.0) < 4 * cell["gen_fidelity_se"]
            assert cell["fidelity"] == cell["gen_fidelity"]
    cell = _cells(prior)[(0, 0)]
    assert cell["gen_fidelity"] < 0.1 and cell["gen_fidelity_se"] < 0.05
    assert GenerateTask.capabilities.headline == "gen_fidelity"
