"""The built-in tasks: the shape and order of their questions, their masks, their seeding, and
that their oracle answers are exactly BP's posteriors."""

from __future__ import annotations

import numpy as np
import pytest

from hbench.contracts import MASKED, WHOLE_SEQUENCE, Task, TaskSpec
from hbench.errors import UsageError
from hbench.registry.registry import get_registry
from hbench_tree.grammar import build_grammar

Q, DEPTH = 4, 3
LENGTH = 1 << DEPTH


def _make(task, grammar, sample, rng):
    return task.make(sample, task.spec(grammar), rng)


@pytest.fixture(scope="module")
def grammar():
    return build_grammar(q=Q, depth=DEPTH, seed=0)


@pytest.fixture(scope="module")
def sample(grammar):
    return grammar.filtered(1).sample(500, seed=3)


@pytest.fixture(scope="module")
def oracle():
    return get_registry().get("oracle", "bp").create()


def make_task(name: str, grammar, **options) -> Task:
    return get_registry().get("task", name).create(options)


def test_registered_tasks_satisfy_the_protocol(grammar):
    for name in ("root", "mlm"):
        assert isinstance(make_task(name, grammar), Task)


def test_specs(grammar):
    root, mlm = make_task("root", grammar), make_task("mlm", grammar)
    assert root.spec(grammar) == TaskSpec("root", Q, LENGTH, Q, None)
    assert mlm.spec(grammar) == TaskSpec("mlm", Q, LENGTH, Q + 1, Q)
    assert not root.needs_leaf_posteriors and mlm.needs_leaf_posteriors


def test_root_data(grammar, sample):
    data = _make(make_task("root", grammar), grammar, sample, np.random.default_rng(0))
    n = len(sample)
    assert data.inputs.dtype == np.int64 and data.inputs.shape == (n, LENGTH)
    np.testing.assert_array_equal(data.inputs, sample.leaves)
    np.testing.assert_array_equal(data.query_rows, np.arange(n))
    np.testing.assert_array_equal(data.query_positions, np.full(n, WHOLE_SEQUENCE))
    np.testing.assert_array_equal(data.targets, sample.roots)
    for array in (data.query_rows, data.query_positions, data.targets):
        assert array.dtype == np.int64
    assert len(data) == n and data.n_queries == n


def check_mlm(data, sample) -> np.ndarray:
    """The invariants of any mlm data; returns its mask."""
    n = len(sample)
    assert data.inputs.dtype == np.int64 and data.inputs.shape == (n, LENGTH)
    for array in (data.query_rows, data.query_positions, data.targets):
        assert array.dtype == np.int64 and array.shape == (data.n_queries,)
    mask = data.inputs == Q
    assert mask.any(axis=1).all(), "every sequence asks at least one question"
    np.testing.assert_array_equal(data.inputs[~mask], sample.leaves[~mask])
    rows, positions = np.nonzero(mask)
    np.testing.assert_array_equal(data.query_rows, rows)
    np.testing.assert_array_equal(data.query_positions, positions)
    np.testing.assert_array_equal(data.targets, sample.leaves[rows, positions])
    order = data.query_rows * LENGTH + data.query_positions
    assert np.all(np.diff(order) > 0), "rows ascending, then positions ascending"
    return mask


def test_mlm_masks_exactly_one_leaf_by_default(grammar, sample):
    data = _make(make_task("mlm", grammar), grammar, sample, np.random.default_rng(0))
    mask = check_mlm(data, sample)
    np.testing.assert_array_equal(mask.sum(axis=1), 1)
    np.testing.assert_array_equal(data.query_rows, np.arange(len(sample)))
    # Uniform positions: every position is drawn.
    assert set(data.query_positions.tolist()) == set(range(LENGTH))


def test_mlm_mask_rate(grammar):
    sample = grammar.sample(5000, seed=1)
    rate = 0.3
    data = _make(
        make_task("mlm", grammar, mask_rate=rate), grammar, sample, np.random.default_rng(0)
    )
    mask = check_mlm(data, sample)
    # Each leaf is masked with probability rate, plus 1/length of the rows left without any.
    expected = rate + (1 - rate) ** LENGTH / LENGTH
    assert abs(mask.mean() - expected) < 0.01
    assert (mask.sum(axis=1) > 1).any()


def test_mlm_rare_masks_still_ask_one_question_per_row(grammar, sample):
    data = _make(
        make_task("mlm", grammar, mask_rate=1e-6), grammar, sample, np.random.default_rng(0)
    )
    np.testing.assert_array_equal(check_mlm(data, sample).sum(axis=1), 1)


def test_mlm_mask_rate_one_masks_everything(grammar, sample):
    data = _make(
        make_task("mlm", grammar, mask_rate=1.0), grammar, sample, np.random.default_rng(0)
    )
    assert check_mlm(data, sample).all()


@pytest.mark.parametrize("options", [{"mask_rate": 0}, {"mask_rate": 1.5}, {"rate": 0.1}])
def test_mlm_rejects_bad_options(options):
    with pytest.raises(UsageError):
        get_registry().get("task", "mlm").create(options)


@pytest.mark.parametrize("options", [{}, {"mask_rate": 0.2}])
def test_mlm_is_seedable(grammar, sample, options):
    task = make_task("mlm", grammar, **options)
    first = task.make(sample, task.spec(grammar), np.random.default_rng(7))
    again = task.make(sample, task.spec(grammar), np.random.default_rng(7))
    other = task.make(sample, task.spec(grammar), np.random.default_rng(8))
    for field in ("inputs", "query_rows", "query_positions", "targets"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert not np.array_equal(first.inputs, other.inputs)


def test_oracle_leaves(grammar, sample):
    root = make_task("root", grammar)
    data = root.make(sample, root.spec(grammar), np.random.default_rng(0))
    np.testing.assert_array_equal(root.oracle_leaves(data, root.spec(grammar)), sample.leaves)

    mlm = make_task("mlm", grammar, mask_rate=0.25)
    data = mlm.make(sample, mlm.spec(grammar), np.random.default_rng(0))
    leaves = mlm.oracle_leaves(data, mlm.spec(grammar))
    mask = data.inputs == Q
    np.testing.assert_array_equal(leaves == MASKED, mask)
    np.testing.assert_array_equal(leaves[~mask], sample.leaves[~mask])
    assert data.inputs.max() == Q, "the task's own inputs are left untouched"


@pytest.mark.parametrize("level", [0, 2, DEPTH])
def test_oracle_answers_are_bp_posteriors(grammar, sample, oracle, level):
    model = grammar.filtered(level)
    root = make_task("root", grammar)
    data = root.make(sample, root.spec(grammar), np.random.default_rng(0))
    post = oracle.posteriors(
        model, root.oracle_leaves(data, root.spec(grammar)), full=root.needs_leaf_posteriors
    )
    direct = oracle.posteriors(model, sample.leaves, full=False).root
    np.testing.assert_array_equal(root.oracle_answers(post, data), direct)

    mlm = make_task("mlm", grammar, mask_rate=0.3)
    data = mlm.make(sample, mlm.spec(grammar), np.random.default_rng(1))
    post = oracle.posteriors(
        model, mlm.oracle_leaves(data, mlm.spec(grammar)), full=mlm.needs_leaf_posteriors
    )
    hidden = sample.leaves.astype(np.int64)
    hidden[data.query_rows, data.query_positions] = MASKED
    direct = oracle.posteriors(model, hidden).leaves[data.query_rows, data.query_positions]
    answers = mlm.oracle_answers(post, data)
    assert answers.shape == (data.n_queries, Q)
    np.testing.assert_allclose(answers, direct, rtol=0, atol=1e-12)
    np.testing.assert_allclose(answers.sum(axis=1), 1, rtol=0, atol=1e-12)
