"""tree-em: EM of a tree grammar of known shape, answered by BP of the fit.

With many sequences of a small unambiguous grammar, EM recovers rules that give BP's accuracy;
its answers are exactly BP of the grammar it fitted (every task and view); the tasks it cannot
do, and naive Bayes on next-token's causal view, are refused before anything runs.
"""

from __future__ import annotations

import numpy as np
import pytest

from hbench.contracts import WHOLE_SEQUENCE, Model, TaskData, exact_answers
from hbench.errors import UsageError
from hbench.registry.registry import get_registry
from hbench.run.spec import RunSpec
from hbench_tree.bp import BeliefPropagation
from hbench_tree.grammar import build_grammar
from hbench_tree.rhm import build_rhm


class Callbacks:
    privileged = None
    seed = 3
    device = "cpu"

    def __init__(self) -> None:
        self.reports: list[tuple[int, int, str]] = []

    def checkpoint(self, label: float | str) -> None:
        pass

    def progress(self, done: int, total: int, unit: str = "step") -> None:
        self.reports.append((done, total, unit))


def create(kind: str, name: str, **options):
    return get_registry().get(kind, name).create(options)


def questions(grammar, task_name: str, n: int, seed: int, **options):
    task = create("task", task_name, **options)
    spec = task.spec(grammar)
    data = task.make(grammar.sample(n, seed=seed), spec, np.random.default_rng(seed))
    return task, spec, data


def fitted(grammar, task_name: str, n: int = 4096, model_options=None, **options):
    task, spec, train = questions(grammar, task_name, n, seed=1, **options)
    model = create("model", "tree-em", **(model_options or {}))
    model.fit(train, spec, Callbacks())
    return model, task, spec


def oracle_answers(grammar, task, spec, data) -> np.ndarray:
    oracle = create("oracle", "bp")
    return exact_answers(task, oracle, grammar, data, spec)


def accuracy(probs: np.ndarray, data: TaskData) -> float:
    return float(np.mean(probs.argmax(axis=1) == data.targets))


GRAMMARS = {
    "paper-q3-l3": build_grammar(q=3, depth=3, sigma=1.0, seed=2),
    "rhm-v4-m2-l3": build_rhm(v=4, n_c=3, m=2, s=2, depth=3, seed=1),
    "arity3-q3-l2": build_grammar(q=3, depth=2, arity=3, sigma=1.0, seed=4),
}


@pytest.mark.parametrize("name", list(GRAMMARS))
@pytest.mark.parametrize("task_name", ["root", "mlm"])
def test_em_recovers_bp_accuracy(name: str, task_name: str) -> None:
    """Large P on a small unambiguous grammar: BP of the fit scores what BP scores."""
    grammar = GRAMMARS[name]
    options = {"arity": grammar.arity, "restarts": 2}
    model, task, spec = fitted(grammar, task_name, model_options=options)
    _, _, test = questions(grammar, task_name, 2000, seed=9)
    probs = model.predict(test.without_targets())
    exact = accuracy(oracle_answers(grammar, task, spec, test), test)
    assert accuracy(probs, test) == pytest.approx(exact, abs=0.015)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_fit_is_deterministic_and_reports_progress() -> None:
    grammar = GRAMMARS["paper-q3-l3"]
    _, spec, train = questions(grammar, "root", 500, seed=1)
    fits = []
    for _ in range(2):
        model, callbacks = create("model", "tree-em", restarts=2), Callbacks()
        model.fit(train, spec, callbacks)
        fits.append(model.grammar.productions)
        assert callbacks.reports and callbacks.reports[-1][2] == "iteration"
    np.testing.assert_array_equal(*fits)
    assert model.num_parameters() == grammar.depth * 3**3 + 3
    assert model.resolved_config()["depth"] == grammar.depth


@pytest.mark.parametrize(
    ("task_name", "options"),
    [
        ("root", {}),
        ("mlm", {"mask_rate": 0.3}),
        ("next-token", {"view": "causal"}),
        ("next-token", {"view": "masked"}),
    ],
)
def test_answers_are_bp_of_the_fitted_grammar(task_name: str, options: dict) -> None:
    grammar = GRAMMARS["paper-q3-l3"]
    model, task, spec = fitted(grammar, task_name, n=300, **options)
    _, _, test = questions(grammar, task_name, 50, seed=5, **options)
    expected = oracle_answers(model.grammar, task, spec, test)
    np.testing.assert_allclose(model.predict(test.without_targets()), expected, atol=1e-10)


def test_next_token_views_fit_the_same_grammar() -> None:
    """Both views carry the same sequences: the same fit, the same answers."""
    grammar = GRAMMARS["paper-q3-l3"]
    causal, _, _ = fitted(grammar, "next-token", n=300, view="causal")
    masked, _, _ = fitted(grammar, "next-token", n=300, view="masked")
    np.testing.assert_allclose(causal.grammar.productions, masked.grammar.productions)


def test_mlm_training_fills_masks_from_the_answers() -> None:
    grammar = GRAMMARS["paper-q3-l3"]
    _, spec, train = questions(grammar, "mlm", 20, seed=1, mask_rate=0.5)
    leaves, roots = create("model", "tree-em").evidence(train, spec)
    assert roots is None
    np.testing.assert_array_equal(leaves, grammar.sample(20, seed=1).leaves)


def test_shared_tensor_option() -> None:
    grammar = GRAMMARS["paper-q3-l3"]
    model, _, _ = fitted(grammar, "root", n=500, model_options={"per_level": False})
    assert not model.grammar.per_level
    assert model.grammar.productions.shape == (3, 3, 3)


def test_arity_that_does_not_fit_the_length_is_a_usage_error() -> None:
    grammar = GRAMMARS["paper-q3-l3"]  # 8 leaves
    _, spec, train = questions(grammar, "root", 10, seed=1)
    with pytest.raises(UsageError, match="arity=3"):
        create("model", "tree-em", arity=3).fit(train, spec, Callbacks())


def test_predict_before_fit_fails() -> None:
    data = TaskData(np.zeros((1, 8), dtype=np.int64), np.array([0]), np.array([WHOLE_SEQUENCE]))
    model = create("model", "tree-em")
    assert isinstance(model, Model)
    with pytest.raises(RuntimeError, match="fit"):
        model.predict(data)


@pytest.mark.parametrize(
    ("model", "task", "task_args", "message"),
    [
        ("tree-em", "ancestor", {}, "tree-em answers the tasks root, mlm, next-token"),
        ("naive-bayes", "next-token", {}, "use the task option view=masked"),
        ("naive-bayes", "next-token", {"view": "causal"}, "use the task option view=masked"),
    ],
)
def test_impossible_combinations_are_refused_up_front(model, task, task_args, message) -> None:
    spec = RunSpec(model=model, suite="smoke", overrides={"task": task}, task_args=task_args)
    with pytest.raises(UsageError, match=message) as info:
        spec.resolve()
    assert str(info.value).startswith(f"model {model!r} cannot do task {task!r}: ")


@pytest.mark.parametrize(
    ("model", "task", "task_args"),
    [
        ("naive-bayes", "next-token", {"view": "masked"}),
        ("prior", "next-token", {}),
        ("tree-em", "next-token", {}),
        ("tree-em", "mlm", {"span": 2}),
    ],
)
def test_possible_combinations_resolve(model, task, task_args) -> None:
    RunSpec(model=model, suite="smoke", overrides={"task": task}, task_args=task_args).resolve()


def test_inference_code_is_the_tree_plugins() -> None:
    grammar = GRAMMARS["paper-q3-l3"]
    model, _, _ = fitted(grammar, "root", n=200)
    assert isinstance(model.bp, BeliefPropagation)
