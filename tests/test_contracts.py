"""Declared capabilities: what a grammar, task, model config or model says it can do."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import BaseModel

from hbench.contracts import (
    GrammarCapabilities,
    ModelCapabilities,
    ModelConfigCapabilities,
    Posteriors,
    TaskCapabilities,
    TaskData,
    exact_answers,
    grammar_capabilities,
    model_capabilities,
    model_config_capabilities,
    task_capabilities,
)
from hbench.errors import PluginError
from hbench.registry.registry import get_registry


class Plain:
    """An object that declares nothing (a third-party plugin written before declarations)."""

    def metrics(self, *args):  # a method it has but does not declare: never called
        raise AssertionError("undeclared metrics called")


def test_an_object_that_declares_nothing_gets_the_defaults():
    assert task_capabilities(Plain()) == TaskCapabilities()
    assert grammar_capabilities(Plain()) == GrammarCapabilities()
    assert model_capabilities(Plain()) == ModelCapabilities()
    assert model_config_capabilities(Plain()) == ModelConfigCapabilities()
    defaults = GrammarCapabilities()
    assert (defaults.arity, defaults.classes, defaults.filter_level) == (2, None, 0)
    assert defaults.length(3) == 8 and GrammarCapabilities(arity=3).length(2) == 9


def test_a_declaration_of_the_wrong_type_is_one_plugin_error():
    class Wrong:
        capabilities = ("asks_root",)

    with pytest.raises(PluginError, match=r"task Wrong: capabilities is a tuple, not a Task"):
        task_capabilities(Wrong())


@pytest.mark.parametrize(
    ("declared", "read", "missing"),
    [
        (TaskCapabilities(metrics=True), task_capabilities, "metrics"),
        (TaskCapabilities(exact_answers=True), task_capabilities, "exact_answers"),
        (ModelCapabilities(attention=True), model_capabilities, "attention"),
        (ModelCapabilities(save=True), model_capabilities, "save/load"),
        (ModelConfigCapabilities(check_task=True), model_config_capabilities, "check_task"),
    ],
)
def test_a_flag_without_its_method_is_one_plugin_error(declared, read, missing):
    class Promises:
        capabilities = declared

    with pytest.raises(PluginError, match=rf"declares .*=True but has no {missing}\(\) method"):
        read(Promises())


def test_a_model_with_save_but_not_load_cannot_declare_save():
    class HalfSaving:
        capabilities = ModelCapabilities(save=True)

        def save(self, path):
            return path

    with pytest.raises(PluginError, match=r"has no load\(\) method"):
        model_capabilities(HalfSaving())


def test_a_pydantic_config_declares_through_a_class_variable():
    registry = get_registry()
    for name, expected in [
        (
            "transformer",
            ModelConfigCapabilities(check_task=True, estimated_bytes=True, variable_length=True),
        ),
        ("naive-bayes", ModelConfigCapabilities(check_task=True, variable_length=True)),
        ("prior", ModelConfigCapabilities(variable_length=True)),
    ]:
        config = registry.get("model", name).validate_config({})
        assert isinstance(config, BaseModel)
        assert model_config_capabilities(config) == expected
        assert "capabilities" not in type(config).model_fields  # not an option


def test_the_builtin_tasks_declare_what_they_ask():
    registry = get_registry()

    def declared(name, **options):
        return task_capabilities(registry.get("task", name).create(options))

    assert declared("root") == TaskCapabilities(asks_root=True)
    assert declared("mlm") == TaskCapabilities()
    assert declared("next-token") == TaskCapabilities(exact_answers=True, metrics=True)
    assert declared("ancestor", depth=1) == TaskCapabilities(needs_internal_nodes=True)
    assert declared("ancestor", depth=0).asks_root


def test_the_tree_grammar_declares_its_shape_and_its_filter_level():
    registry = get_registry()
    grammar = registry.get("grammar", "rhm").create(
        {"v": 6, "n_c": 3, "m": 2, "s": 3, "depth": 2, "seed": 0}
    )
    declared = grammar_capabilities(grammar)
    assert (declared.arity, declared.classes, declared.filter_level) == (3, 3, 0)
    assert declared.length(grammar.depth) == grammar.length == 9
    assert grammar_capabilities(grammar.filtered(1)).filter_level == 1


def test_exact_answers_takes_a_declared_faster_path_only():
    """The generic path reads the oracle's posteriors; a declared one is asked directly."""
    calls = []

    class Oracle:
        def posteriors(self, model, leaves, *, full=True, leave_one_out=False):
            calls.append(("posteriors", full))
            return Posteriors(root=np.full((1, 2), 0.5), loglik=np.zeros(1))

    class Generic:
        needs_leaf_posteriors = False

        def oracle_leaves(self, data, spec):
            return np.zeros((1, 2), np.int64)

        def oracle_answers(self, posteriors, data):
            return posteriors.root

        def exact_answers(self, *args):  # not declared: the generic path is taken
            raise AssertionError("undeclared exact_answers called")

    class Faster(Generic):
        capabilities = TaskCapabilities(exact_answers=True)

        def exact_answers(self, oracle, model, data, spec):
            calls.append(("faster", None))
            return np.array([[1.0, 0.0]])

    np.testing.assert_array_equal(exact_answers(Generic(), Oracle(), None, None, None), [[0.5] * 2])
    np.testing.assert_array_equal(exact_answers(Faster(), Oracle(), None, None, None), [[1, 0]])
    assert calls == [("posteriors", False), ("faster", None)]


def test_lengths_travel_with_the_data_and_mark_the_real_positions():
    data = TaskData(
        np.array([[0, 1, 2], [1, 3, 3]]),
        np.array([0, 1]),
        np.array([2, 0]),
        np.array([2, 1]),
        lengths=np.array([3, 1]),
    )
    expected = np.array([[True, True, True], [True, False, False]])
    np.testing.assert_array_equal(data.real_positions(), expected)
    for kept in (data.without_targets(), data.with_oracle(np.ones((2, 4)) / 4)):
        np.testing.assert_array_equal(kept.lengths, [3, 1])
    fixed = TaskData(data.inputs, data.query_rows, data.query_positions)
    assert fixed.lengths is None and fixed.real_positions().all()


def test_the_builtin_models_say_whether_they_take_sequences_of_varying_length():
    registry = get_registry()
    for name, expected in [
        ("transformer", True),
        ("gpt", True),
        ("bp", True),
        ("naive-bayes", True),
        ("prior", True),
        ("tree-em", False),
    ]:
        config = registry.get("model", name).validate_config({})
        assert model_config_capabilities(config).variable_length is expected, name
