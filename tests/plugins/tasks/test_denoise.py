"""The denoise task: BP with soft leaf evidence equals brute-force enumeration on small trees
(at every filter level), the task's exact answers are those posteriors under the channel, the
channel draws what it claims, bad epsilon is refused in one line, and the exact root
reconstruction degrades with the noise."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from brute_force import grammar_args, joint_table
from small_trees import every_filter_level
from stats import chi_square_pvalue

from hbench.contracts import WHOLE_SEQUENCE, exact_answers
from hbench.errors import UsageError
from hbench.registry.registry import get_registry
from hbench_tasks.denoise import channel, likelihoods
from hbench_tree.bp import BeliefPropagation, soft_evidence
from hbench_tree.grammar import build_grammar
from hbench_tree.rhm import build_rhm


def _brute_soft(model, lik: np.ndarray):
    """(loglik, root, leaves, nodes) for one row of soft evidence (L, q), by summing the joint
    table weighted with the product of the leaves' likelihoods."""
    args, structure = grammar_args(model)
    roots, nodes, p = joint_table(*args, **structure)
    leaves = nodes[model.depth]
    weight = p * np.prod(lik[np.arange(leaves.shape[1])[None, :], leaves], axis=1)
    total = weight.sum()
    q = model.q
    if total == 0:
        return -np.inf, None, None, None

    def dist(values):
        out = np.zeros((values.shape[1], q))
        for s in range(q):
            out[:, s] = ((values == s) * weight[:, None]).sum(axis=0)
        return out / total

    node_post = {d: dist(v) for d, v in nodes.items() if d < model.depth}
    return np.log(total), dist(roots[:, None])[0], dist(leaves), node_post


@pytest.mark.parametrize("model", every_filter_level(general=True))
def test_soft_evidence_equals_enumeration(model):
    rng = np.random.default_rng(model.depth * 10 + model.filter_level)
    lik = rng.random((6, model.length, model.q))
    lik[0] = likelihoods(rng.integers(0, model.q, size=(1, model.length)), model.q, 0.2)[0]
    lik[1, 0, 0] = 0.0  # one symbol ruled out at a leaf
    lik[2, -1] = 0.0  # every symbol ruled out: impossible evidence
    post = soft_evidence(BeliefPropagation(model), lik, workers=1)
    assert post.loglik[2] == -np.inf
    np.testing.assert_allclose(post.leaves[2], 1 / model.q)
    for r in (0, 1, 3, 4, 5):
        loglik, root, leaves, nodes = _brute_soft(model, lik[r])
        if not np.isfinite(loglik):  # a sparse grammar cannot make what the evidence allows
            assert post.loglik[r] == -np.inf
            continue
        np.testing.assert_allclose(post.loglik[r], loglik, rtol=1e-10)
        np.testing.assert_allclose(post.root[r], root, atol=1e-12)
        np.testing.assert_allclose(post.leaves[r], leaves, atol=1e-12)
        for d, value in post.nodes.items():
            np.testing.assert_allclose(value[r], nodes[d], atol=1e-12)
    root_only = soft_evidence(BeliefPropagation(model), lik, full=False, workers=1)
    np.testing.assert_allclose(root_only.root, post.root)
    np.testing.assert_allclose(root_only.loglik, post.loglik)


def test_hard_evidence_as_soft_equals_bp_run():
    model = build_grammar(q=3, depth=4, seed=2).filtered(2)
    bp = BeliefPropagation(model)
    leaves = model.sample(50, seed=1).leaves.astype(np.int64)
    leaves[np.random.default_rng(0).random(leaves.shape) < 0.3] = -1
    table = np.vstack([np.eye(3), np.ones(3)])
    soft = soft_evidence(bp, table[leaves % 4], workers=1)
    hard = bp.run(leaves, workers=1)
    np.testing.assert_allclose(soft.loglik, hard.loglik, rtol=1e-12)
    np.testing.assert_allclose(soft.root, hard.root, atol=1e-12)
    np.testing.assert_allclose(soft.leaves, hard.leaves, atol=1e-12)
    for d in hard.nodes:
        np.testing.assert_allclose(soft.nodes[d], hard.nodes[d], atol=1e-12)


def test_bad_likelihoods_are_refused():
    bp = BeliefPropagation(build_grammar(q=3, depth=2, seed=0))
    with pytest.raises(UsageError, match="likelihoods"):
        soft_evidence(bp, np.ones((2, 4, 2)))
    with pytest.raises(UsageError, match="likelihoods"):
        soft_evidence(bp, -np.ones((2, 4, 3)))


def _task(**options):
    return get_registry().get("task", "denoise").create(options)


@pytest.fixture(scope="module")
def oracle():
    return get_registry().get("oracle", "bp").create()


@pytest.mark.parametrize("target", ["leaves", "root"])
def test_exact_answers_are_the_posteriors_under_the_channel(target, oracle):
    model = build_rhm(v=3, n_c=2, m=2, s=2, depth=2, seed=1).filtered(1)
    task = _task(epsilon=0.3, target=target)
    spec = task.spec(model)
    data = task.make(model.sample(40, seed=0), spec, np.random.default_rng(1))
    answers = exact_answers(task, oracle, model, data, spec)
    lik = likelihoods(data.inputs, model.q, 0.3)
    for k, (row, position) in enumerate(zip(data.query_rows, data.query_positions, strict=True)):
        _, root, leaves, _ = _brute_soft(model, lik[row])
        expected = root if position == WHOLE_SEQUENCE else leaves[position]
        np.testing.assert_allclose(answers[k], expected, atol=1e-12)


def test_task_data_shapes_and_seeding():
    model = build_grammar(q=4, depth=3, seed=0)
    sample = model.sample(100, seed=0)
    leaves_task, root_task = _task(epsilon=0.2), _task(epsilon=0.2, target="root")
    data = leaves_task.make(sample, leaves_task.spec(model), np.random.default_rng(5))
    assert data.inputs.shape == (100, 8) and data.n_queries == 800
    np.testing.assert_array_equal(data.targets, sample.leaves.reshape(-1))
    np.testing.assert_array_equal(data.query_positions, np.tile(np.arange(8), 100))
    again = leaves_task.make(sample, leaves_task.spec(model), np.random.default_rng(5))
    np.testing.assert_array_equal(data.inputs, again.inputs)
    roots = root_task.make(sample, root_task.spec(model), np.random.default_rng(5))
    np.testing.assert_array_equal(roots.inputs, data.inputs)  # the same noise
    np.testing.assert_array_equal(roots.targets, sample.roots)
    assert root_task.capabilities.asks_root and not leaves_task.capabilities.asks_root
    assert not root_task.needs_leaf_posteriors


def test_channel_draws_its_law():
    """Over many leaves, P(y | x) is the channel's row: chi-square per clean symbol."""
    q, epsilon = 4, 0.35
    model = build_grammar(q=q, depth=4, seed=1)
    sample = model.sample(3000, seed=2)
    task = _task(epsilon=epsilon)
    data = task.make(sample, task.spec(model), np.random.default_rng(3))
    clean, noisy = sample.leaves.reshape(-1), data.inputs.reshape(-1)
    law = channel(q, epsilon)
    np.testing.assert_allclose(law.sum(axis=1), 1.0)
    for a in range(q):
        counts = np.bincount(noisy[clean == a], minlength=q)
        assert chi_square_pvalue(counts, law[a]) > 1e-3


@pytest.mark.parametrize("epsilon", [-0.1, 1.0, 0.76])
def test_bad_epsilon_is_refused_in_one_line(epsilon):
    model = build_grammar(q=4, depth=2, seed=0)
    with pytest.raises((UsageError, ValueError)) as caught:
        _task(epsilon=epsilon).spec(model)
    assert "epsilon" in str(caught.value)
    if epsilon == 0.76:  # valid for the config, beyond 1 - 1/q = 0.75 for q = 4
        assert isinstance(caught.value, UsageError) and "\n" not in str(caught.value)
    _task(epsilon=0.75).spec(model)  # the bound itself is allowed


def test_maximal_noise_gives_the_prior(oracle):
    model = build_grammar(q=3, depth=3, seed=4)
    task = _task(epsilon=2 / 3, target="root")
    spec = task.spec(model)
    data = task.make(model.sample(20, seed=0), spec, np.random.default_rng(0))
    answers = exact_answers(task, oracle, model, data, spec)
    np.testing.assert_allclose(answers, np.tile(model.root_prior, (20, 1)), atol=1e-12)


def test_root_reconstruction_degrades_with_noise(oracle):
    """The exact (BP) root accuracy falls from 1 (an unambiguous RHM at epsilon 0) towards
    chance 1/n_c as epsilon grows to 1 - 1/q: the reconstruction transition, on one sample."""
    model = build_rhm(v=4, n_c=4, m=2, s=2, depth=4, seed=0)
    sample = model.sample(2000, seed=0)
    accuracies = []
    for epsilon in (0.0, 0.1, 0.25, 0.4, 0.6, 0.75):
        task = _task(epsilon=epsilon, target="root")
        spec = task.spec(model)
        data = task.make(sample, spec, np.random.default_rng(7))
        answers = exact_answers(task, oracle, model, data, spec)
        accuracies.append(float((answers.argmax(axis=1) == data.targets).mean()))
    assert accuracies[0] == 1.0
    assert all(a >= b - 0.02 for a, b in itertools.pairwise(accuracies))  # noise of 2000 draws
    assert accuracies[1] > 0.8 and accuracies[3] < accuracies[1] - 0.1
    assert abs(accuracies[-1] - 0.25) < 0.05


@pytest.mark.parametrize("target", ["leaves", "root"])
def test_denoise_runs_end_to_end(target):
    from hbench.api import evaluate

    options = {"epsilon": 0.2, "target": target}
    exact = evaluate("bp", "smoke", "denoise", task_args=options, in_process=True, progress=False)
    table = exact.table()
    in_sample = table[table["k_train"].astype(str) == table["k_test"].astype(str)]
    np.testing.assert_allclose(in_sample["kl_bp"].astype(float), 0.0, atol=1e-9)
    prior = evaluate(
        "prior", "smoke", "denoise", task_args=options, in_process=True, progress=False
    )
    assert prior.headline["normalised_accuracy"]["mean"] < 0.5


def test_hard_leaf_paths_are_refused_in_one_line():
    """Soft evidence has no hard-leaf form, and an oracle without BP's engine cannot answer."""
    model = build_grammar(q=3, depth=2, seed=0)
    task = _task(epsilon=0.1)
    spec = task.spec(model)
    data = task.make(model.sample(5, seed=0), spec, np.random.default_rng(0))
    with pytest.raises(UsageError, match="soft leaf evidence"):
        task.oracle_leaves(data, spec)
    with pytest.raises(UsageError, match="needs an oracle with soft leaf evidence"):
        task.exact_answers(object(), model, data, spec)
