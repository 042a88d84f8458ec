"""The next-token task: both views ask the same questions, the oracle answers are the exact
P(x_i | x_<i) (brute-force enumeration), the fast and the masked-pass oracles agree, the
metrics mean what they say, and the causality check catches a model that peeks."""

from __future__ import annotations

import numpy as np
import pytest
from brute_force import leaf_law
from small_trees import every_filter_level

from hbench.contracts import MASKED, Task, TaskData, TaskSpec
from hbench.errors import UsageError
from hbench.registry.registry import get_registry
from hbench_tasks.next_token import causality_gap, next_token_metrics, prefix_leaves
from hbench_tree.grammar import build_grammar

Q, DEPTH = 4, 3
LENGTH = 1 << DEPTH


def make_task(**options):
    return get_registry().get("task", "next-token").create(options)


@pytest.fixture(scope="module")
def grammar():
    return build_grammar(q=Q, depth=DEPTH, seed=0)


@pytest.fixture(scope="module")
def oracle():
    return get_registry().get("oracle", "bp").create()


def test_protocol_and_specs(grammar):
    causal, masked = make_task(), make_task(view="masked")
    assert isinstance(causal, Task) and causal.config.view == "causal"
    assert causal.spec(grammar) == TaskSpec("next-token", Q, LENGTH, Q, None)
    assert masked.spec(grammar) == TaskSpec("next-token", Q, LENGTH, Q + 1, Q)
    with pytest.raises(UsageError):
        get_registry().get("task", "next-token").create({"view": "bidirectional"})


def test_prefix_leaves():
    rows = prefix_leaves(np.array([[1, 2, 3], [4, 5, 6]]))
    expected = [[-1, -1, -1], [1, -1, -1], [1, 2, -1], [-1, -1, -1], [4, -1, -1], [4, 5, -1]]
    np.testing.assert_array_equal(rows, expected)


def test_views_ask_the_same_questions(grammar):
    sample = grammar.sample(50, seed=1)
    causal, masked = make_task(), make_task(view="masked")
    a = causal.make(sample, causal.spec(grammar), np.random.default_rng(0))
    b = masked.make(sample, masked.spec(grammar), np.random.default_rng(0))
    n = len(sample)
    np.testing.assert_array_equal(a.inputs, sample.leaves)
    np.testing.assert_array_equal(a.query_rows, np.repeat(np.arange(n), LENGTH))
    np.testing.assert_array_equal(a.query_positions, np.tile(np.arange(LENGTH), n))
    np.testing.assert_array_equal(a.targets, sample.leaves.reshape(-1))
    assert b.inputs.shape == (n * LENGTH, LENGTH)
    np.testing.assert_array_equal(b.query_rows, np.arange(n * LENGTH))
    np.testing.assert_array_equal(b.query_positions, a.query_positions)
    np.testing.assert_array_equal(b.targets, a.targets)
    hidden = prefix_leaves(sample.leaves) == MASKED
    np.testing.assert_array_equal(b.inputs == Q, hidden, "the position asked and all after")
    np.testing.assert_array_equal(b.inputs[~hidden], prefix_leaves(sample.leaves)[~hidden])
    np.testing.assert_array_equal(
        masked.sequences(b, masked.spec(grammar))[:, :-1], a.inputs[:, :-1]
    )


def _exact_next_token(model, sequences: np.ndarray) -> np.ndarray:
    """(n, L, q) P(x_i | x_<i) as ratios of enumerated marginals P(x_<=i) / P(x_<i)."""
    law = leaf_law(model.productions, model.root_prior, model.depth, model.filter_level)
    strings = np.array(list(law), dtype=np.int64)
    weights = np.array(list(law.values()))
    n, length = sequences.shape
    out = np.zeros((n, length, model.q))
    for s in range(n):
        for i in range(length):
            agree = (strings[:, :i] == sequences[s, :i]).all(axis=1)
            for a in range(model.q):
                out[s, i, a] = weights[agree & (strings[:, i] == a)].sum()
            out[s, i] /= out[s, i].sum()
    return out


@pytest.mark.parametrize("view", ["causal", "masked"])
@pytest.mark.parametrize("model", every_filter_level())
def test_answers_are_exact(model, view, oracle):
    task = make_task(view=view)
    spec = task.spec(model)
    sample = model.sample(6, seed=3)
    data = task.make(sample, spec, np.random.default_rng(0))
    post = oracle.posteriors(model, task.oracle_leaves(data, spec), full=task.needs_leaf_posteriors)
    answers = task.oracle_answers(post, data)
    exact = _exact_next_token(model, sample.leaves.astype(np.int64)).reshape(-1, model.q)
    np.testing.assert_allclose(answers, exact, rtol=0, atol=1e-10)
    fast = task.exact_answers(oracle, model, data, spec)  # the oracle's next_token if it has one
    np.testing.assert_allclose(fast, exact, rtol=0, atol=1e-10)


class _FastOracle:
    """An oracle with ``next_token``, built here from masked BP passes: stands for one that
    answers every position of whole sequences at once."""

    def __init__(self, oracle, returns: str):
        self.oracle, self.returns, self.calls = oracle, returns, 0

    def posteriors(self, *args, **kwargs):
        raise AssertionError("the fast path must not fall back to masked passes")

    def next_token(self, model, sequences):
        self.calls += 1
        n, length = sequences.shape
        post = self.oracle.posteriors(model, prefix_leaves(sequences))
        probs = post.leaves[np.arange(n * length), np.tile(np.arange(length), n)]
        probs = probs.reshape(n, length, -1)
        logp = np.log(np.take_along_axis(probs, sequences[..., None], axis=2)[..., 0])
        return (probs, logp) if self.returns == "tuple" else probs


@pytest.mark.parametrize("returns", ["tuple", "array"])
@pytest.mark.parametrize("view", ["causal", "masked"])
def test_the_fast_oracle_path_picks_the_same_answers(grammar, oracle, view, returns):
    model = grammar.filtered(1)
    task = make_task(view=view)
    spec = task.spec(model)
    data = task.make(model.sample(40, seed=4), spec, np.random.default_rng(0))
    fast = _FastOracle(oracle, returns)
    slow = task.exact_answers(oracle, model, data, spec)
    np.testing.assert_allclose(task.exact_answers(fast, model, data, spec), slow, atol=1e-12)
    assert fast.calls == 1


def test_the_bp_oracles_next_token_agrees_with_masked_passes(grammar, oracle):
    """When the tree plugin's BP answers next-token queries itself, it must agree."""
    if not callable(getattr(oracle, "next_token", None)):
        pytest.skip("this BP oracle has no next_token: the masked passes are the only path")
    task = make_task()
    for level in range(DEPTH + 1):
        model = grammar.filtered(level)
        spec = task.spec(model)
        data = task.make(model.sample(200, seed=level), spec, np.random.default_rng(0))
        post = oracle.posteriors(model, task.oracle_leaves(data, spec))
        np.testing.assert_allclose(
            task.exact_answers(oracle, model, data, spec),
            task.oracle_answers(post, data),
            rtol=0,
            atol=1e-10,
        )


# --- metrics -------------------------------------------------------------------------------------


def test_metrics_by_hand():
    oracle = np.array([[0.5, 0.5], [1.0, 0.0], [0.25, 0.75]])
    model = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])
    targets = np.array([0, 0, 1])
    positions = np.array([0, 1, 1])
    out = next_token_metrics(model, oracle, targets, positions)
    h2 = -(0.25 * np.log2(0.25) + 0.75 * np.log2(0.75))
    assert out["length"] == 2 and out["n_queries"] == 3
    assert out["per_position"]["cross_entropy"] == [1.0, 1.0]
    np.testing.assert_allclose(out["per_position"]["entropy"], [1.0, h2 / 2])
    kl = [0.0, 1.0, 1 - h2]
    np.testing.assert_allclose(out["per_position"]["excess"], [0.0, (kl[1] + kl[2]) / 2])
    np.testing.assert_allclose(out["mean"]["excess"], np.mean(kl))
    np.testing.assert_allclose(out["mean"]["entropy"], (1 + h2) / 3)
    np.testing.assert_allclose(out["mean"]["perplexity"], 2.0)
    np.testing.assert_allclose(out["mean"]["perplexity_bp"], 2 ** ((1 + h2) / 3))
    bp_loss = [1.0, 0.0, -np.log2(0.75)]
    np.testing.assert_allclose(out["mean"]["cross_entropy_bp"], np.mean(bp_loss))


def test_metrics_without_targets_and_unasked_positions():
    p = np.full((2, 3), 1 / 3)
    out = next_token_metrics(p, p, None, np.array([0, 2]), length=4)
    assert out["mean"]["cross_entropy"] is None and out["mean"]["perplexity"] is None
    assert out["per_position"]["excess"] == [0.0, None, 0.0, None]
    np.testing.assert_allclose(out["mean"]["perplexity_bp"], 3.0)


def test_metrics_of_bp_itself(grammar, oracle):
    """Scored against itself BP has no excess, and its log-loss estimates the entropy."""
    task = make_task()
    spec = task.spec(grammar)
    data = task.make(grammar.filtered(2).sample(3000, seed=5), spec, np.random.default_rng(0))
    answers = task.exact_answers(oracle, grammar.filtered(2), data, spec)
    out = next_token_metrics(answers, answers, data.targets, data.query_positions)
    assert abs(out["mean"]["excess"]) < 1e-12
    assert abs(out["mean"]["cross_entropy"] - out["mean"]["entropy"]) < 0.03
    first = answers[data.query_positions == 0]
    np.testing.assert_allclose(first, np.broadcast_to(first[0], first.shape), atol=1e-12)
    assert out["per_position"]["entropy"][0] > out["mean"]["entropy"], "x_0 is given nothing"


def test_metrics_refuse_mismatched_shapes():
    with pytest.raises(ValueError):
        next_token_metrics(np.ones((2, 2)) / 2, np.ones((3, 2)) / 2, None, np.zeros(2))


# --- causality -----------------------------------------------------------------------------------


def test_causality_gap(grammar, oracle):
    task = make_task()
    spec = task.spec(grammar)
    data = task.make(grammar.sample(30, seed=6), spec, np.random.default_rng(0))

    def exact(d: TaskData) -> np.ndarray:
        return task.exact_answers(oracle, grammar, d, spec)

    def peeking(d: TaskData) -> np.ndarray:
        return np.eye(Q)[d.inputs[d.query_rows, d.query_positions]]

    assert causality_gap(exact, data, Q, np.random.default_rng(1)) < 1e-12
    assert causality_gap(peeking, data, Q, np.random.default_rng(1)) == 1.0
