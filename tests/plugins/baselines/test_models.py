"""The built-in reference models: prior (the floor), naive Bayes (learned) and BP (the ceiling).

Naive Bayes is checked against a loop-based count of its definition on tiny data, and against
BP where it is the exact model (root at k = depth); BP as a model must reproduce the oracle.
"""

from __future__ import annotations

import numpy as np
import pytest

from hbench.contracts import WHOLE_SEQUENCE, Model, PrivilegedAccess, TaskData
from hbench.errors import PluginError, UsageError
from hbench.registry.registry import get_registry
from hbench_tree.grammar import build_grammar

Q, DEPTH = 4, 3


class Callbacks:
    """The least a harness offers during fit: optional privileged access, no-op reports."""

    def __init__(self, privileged: PrivilegedAccess | None = None) -> None:
        self.privileged = privileged

    def checkpoint(self, label: float | str) -> None:
        pass

    def progress(self, done: int, total: int, unit: str = "step") -> None:
        pass


@pytest.fixture(scope="module")
def grammar():
    return build_grammar(q=Q, depth=DEPTH, seed=0)


@pytest.fixture(scope="module")
def filter_():
    return get_registry().get("filter", "hierarchical").create()


@pytest.fixture(scope="module")
def oracle():
    return get_registry().get("oracle", "bp").create()


def create(kind: str, name: str, **options):
    return get_registry().get(kind, name).create(options)


def task_data(grammar, task_name: str, level: int, n: int, seed: int, **options):
    """(task, spec, data) for n sequences of the grammar filtered at ``level``."""
    task = create("task", task_name, **options)
    model = grammar.filtered(level)
    spec = task.spec(model)
    data = task.make(model.sample(n, seed=seed), spec, np.random.default_rng(seed))
    return task, spec, data


def fitted(name: str, train, spec, privileged=None, **options):
    model = create("model", name, **options)
    model.fit(train, spec, Callbacks(privileged))
    return model


def check_probabilities(probs: np.ndarray, data: TaskData) -> None:
    assert probs.dtype == np.float64 and probs.shape == (data.n_queries, Q)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=0, atol=1e-12)


def accuracy(probs: np.ndarray, data: TaskData) -> float:
    return float(np.mean(probs.argmax(axis=1) == data.targets))


def log_loss(probs: np.ndarray, data: TaskData) -> float:
    return float(-np.mean(np.log(probs[np.arange(data.n_queries), data.targets])))


def test_registered_models(grammar):
    registry = get_registry()
    assert {"prior", "naive-bayes", "bp"} <= set(registry.names("model"))
    assert registry.get("model", "bp").metadata.get("privileged") is True
    assert not registry.get("model", "naive-bayes").metadata.get("privileged")
    for name in ("prior", "naive-bayes", "bp"):
        assert isinstance(create("model", name), Model)


@pytest.mark.parametrize(
    ("name", "options"),
    [("naive-bayes", {"alpha": 0}), ("naive-bayes", {"beta": 1}), ("bp", {"assume_filter": -1})],
)
def test_bad_options_are_usage_errors(name, options):
    with pytest.raises(UsageError):
        create("model", name, **options)


def test_prior_predicts_smoothed_training_frequencies(grammar):
    _, spec, train = task_data(grammar, "root", 0, 300, seed=1)
    _, _, test = task_data(grammar, "root", 0, 50, seed=2)
    probs = fitted("prior", train, spec).predict(test.without_targets())
    check_probabilities(probs, test)
    expected = (np.bincount(train.targets, minlength=Q) + 1) / (len(train) + Q)
    np.testing.assert_allclose(probs, np.tile(expected, (50, 1)), rtol=0, atol=1e-15)


def test_prior_keeps_unseen_classes_possible(grammar):
    _, spec, train = task_data(grammar, "root", 0, 100, seed=1)
    keep = train.targets != 0
    only = TaskData(
        train.inputs[keep], np.arange(keep.sum()), train.query_positions[keep], train.targets[keep]
    )
    probs = fitted("prior", only, spec).predict(only)
    assert np.all(probs[:, 0] > 0)


def reference_naive_bayes(train: TaskData, test: TaskData, spec, alpha: float) -> np.ndarray:
    """Naive Bayes counted query by query and feature by feature, straight from its definition."""
    symbols = [s for s in range(spec.vocab_size) if s != spec.mask_id]
    out = np.zeros((test.n_queries, spec.q))
    for i, (row, position) in enumerate(zip(test.query_rows, test.query_positions, strict=True)):
        same = train.query_positions == position
        classes = train.targets[same]
        for c in range(spec.q):
            of_class = train.query_rows[same][classes == c]
            score = np.log((len(of_class) + alpha) / (len(classes) + alpha * spec.q))
            for j in range(spec.length):
                token = test.inputs[row, j]
                if j == position or token == spec.mask_id:
                    continue
                column = train.inputs[of_class, j]
                column = column[column != spec.mask_id]
                score += np.log(
                    (np.sum(column == token) + alpha) / (len(column) + alpha * len(symbols))
                )
            out[i, c] = score
    out = np.exp(out - out.max(axis=1, keepdims=True))
    return out / out.sum(axis=1, keepdims=True)


@pytest.mark.parametrize(
    ("task_name", "options"), [("root", {}), ("mlm", {}), ("mlm", {"mask_rate": 0.3})]
)
def test_naive_bayes_matches_its_definition(grammar, task_name, options):
    _, spec, train = task_data(grammar, task_name, 1, 200, seed=1, **options)
    _, _, test = task_data(grammar, task_name, 1, 30, seed=2, **options)
    alpha = 0.5
    probs = fitted("naive-bayes", train, spec, alpha=alpha).predict(test.without_targets())
    check_probabilities(probs, test)
    expected = reference_naive_bayes(train, test, spec, alpha)
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-12)


def test_naive_bayes_falls_back_to_uniform_at_unseen_positions(grammar):
    _, spec, train = task_data(grammar, "mlm", 0, 200, seed=1)
    keep = train.query_positions != 0
    seen_elsewhere = TaskData(
        train.inputs[keep], np.arange(keep.sum()), train.query_positions[keep], train.targets[keep]
    )
    model = fitted("naive-bayes", seen_elsewhere, spec)
    inputs = train.inputs[:1].copy()
    inputs[0, 0] = spec.mask_id
    probs = model.predict(TaskData(inputs, np.array([0]), np.array([0])))
    np.testing.assert_allclose(probs, 1 / Q, rtol=0, atol=1e-15)


def test_naive_bayes_beats_prior_on_root_at_level_0(grammar):
    _, spec, train = task_data(grammar, "root", 0, 5000, seed=1)
    _, _, test = task_data(grammar, "root", 0, 2000, seed=2)
    nb = fitted("naive-bayes", train, spec).predict(test.without_targets())
    prior = fitted("prior", train, spec).predict(test.without_targets())
    assert accuracy(nb, test) > accuracy(prior, test) + 0.2
    assert log_loss(nb, test) < log_loss(prior, test) - 0.2


def test_naive_bayes_approaches_bp_on_root_at_level_depth(grammar, filter_, oracle):
    """At k = depth the leaves are i.i.d. given the root: naive Bayes is the exact model."""
    task, spec, train = task_data(grammar, "root", DEPTH, 20_000, seed=1)
    _, _, test = task_data(grammar, "root", DEPTH, 4000, seed=2)
    access = PrivilegedAccess(grammar, filter_, oracle, task, DEPTH)
    nb = fitted("naive-bayes", train, spec).predict(test.without_targets())
    bp = fitted("bp", train, spec, access).predict(test.without_targets())
    check_probabilities(nb, test)
    assert abs(accuracy(nb, test) - accuracy(bp, test)) < 0.02
    assert log_loss(nb, test) < log_loss(bp, test) + 0.02


@pytest.mark.parametrize("options", [{}, {"mask_rate": 0.3}])
def test_naive_bayes_beats_prior_on_mlm(grammar, options):
    _, spec, train = task_data(grammar, "mlm", 0, 5000, seed=1, **options)
    _, _, test = task_data(grammar, "mlm", 0, 2000, seed=2, **options)
    nb = fitted("naive-bayes", train, spec).predict(test.without_targets())
    prior = fitted("prior", train, spec).predict(test.without_targets())
    check_probabilities(nb, test)
    assert accuracy(nb, test) > accuracy(prior, test) + 0.05
    assert log_loss(nb, test) < log_loss(prior, test) - 0.05


@pytest.mark.parametrize("task_name", ["root", "mlm"])
@pytest.mark.parametrize("level", [0, 2])
def test_bp_model_is_the_oracle_of_the_training_level(grammar, filter_, oracle, task_name, level):
    task, spec, train = task_data(grammar, task_name, level, 100, seed=1)
    _, _, test = task_data(grammar, task_name, 1, 400, seed=2)
    access = PrivilegedAccess(grammar, filter_, oracle, task, level)
    probs = fitted("bp", train, spec, access).predict(test.without_targets())
    check_probabilities(probs, test)
    post = oracle.posteriors(grammar.filtered(level), task.oracle_leaves(test, spec))
    if task_name == "root":
        direct = post.root
    else:
        direct = post.leaves[test.query_rows, test.query_positions]
    np.testing.assert_allclose(probs, direct, rtol=0, atol=1e-12)


@pytest.mark.parametrize("assume", [0, DEPTH])
def test_bp_assume_filter_is_bp_of_that_level(grammar, filter_, oracle, assume):
    task, spec, train = task_data(grammar, "root", 1, 100, seed=1)
    _, _, test = task_data(grammar, "root", 1, 400, seed=2)
    access = PrivilegedAccess(grammar, filter_, oracle, task, train_level=1)
    probs = fitted("bp", train, spec, access, assume_filter=assume).predict(test)
    direct = oracle.posteriors(grammar.filtered(assume), test.inputs, full=False).root
    np.testing.assert_allclose(probs, direct, rtol=0, atol=1e-12)


@pytest.mark.parametrize("view", ["causal", "masked"])
def test_bp_answers_next_token_as_the_harness_does(grammar, filter_, oracle, monkeypatch, view):
    """Through the task's one pass per sequence (every position at once), not one masked
    pass per query: the same numbers the harness scores against, bit for bit."""
    task, spec, train = task_data(grammar, "next-token", 2, 50, seed=1, view=view)
    _, _, test = task_data(grammar, "next-token", 2, 300, seed=2, view=view)
    access = PrivilegedAccess(grammar, filter_, oracle, task, train_level=2)
    model = fitted("bp", train, spec, access)
    expected = task.exact_answers(oracle, grammar.filtered(2), test, spec)

    def no_masked_passes(*args, **kwargs):
        raise AssertionError("one masked BP pass per query")

    monkeypatch.setattr(oracle, "posteriors", no_masked_passes)
    probs = model.predict(test)
    check_probabilities(probs, test)
    np.testing.assert_array_equal(probs, expected)


def test_bp_assume_filter_beyond_depth_is_a_usage_error(grammar, filter_, oracle):
    task, spec, train = task_data(grammar, "root", 1, 10, seed=1)
    access = PrivilegedAccess(grammar, filter_, oracle, task, train_level=1)
    with pytest.raises(UsageError, match="assume_filter"):
        fitted("bp", train, spec, access, assume_filter=DEPTH + 1)


def test_bp_without_privileged_access_is_a_plugin_error(grammar):
    _, spec, train = task_data(grammar, "root", 0, 10, seed=1)
    with pytest.raises(PluginError, match="'bp'"):
        fitted("bp", train, spec, privileged=None)


@pytest.mark.parametrize("name", ["prior", "naive-bayes", "bp"])
def test_predict_before_fit_fails(name):
    data = TaskData(np.zeros((1, 8), dtype=np.int64), np.array([0]), np.array([WHOLE_SEQUENCE]))
    with pytest.raises(RuntimeError, match="fit"):
        create("model", name).predict(data)


def test_fit_needs_targets(grammar):
    _, spec, train = task_data(grammar, "root", 0, 10, seed=1)
    for name in ("prior", "naive-bayes"):
        with pytest.raises(UsageError, match="targets"):
            fitted(name, train.without_targets(), spec)
