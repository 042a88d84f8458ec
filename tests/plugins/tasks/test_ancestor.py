"""The ancestor task: its questions, their targets, the refusal of depths a filtered grammar
lacks, and oracle answers equal to the exact node posteriors (brute-force enumeration)."""

from __future__ import annotations

import numpy as np
import pytest
from brute_force import posteriors as brute_posteriors
from small_trees import every_filter_level

from hbench.contracts import Sample, Task, TaskCapabilities, TaskSpec, task_capabilities
from hbench.errors import UsageError
from hbench.registry.registry import get_registry
from hbench_tree.grammar import build_grammar

Q, DEPTH = 4, 3
LENGTH = 1 << DEPTH


def make_task(**options):
    return get_registry().get("task", "ancestor").create(options)


@pytest.fixture(scope="module")
def grammar():
    return build_grammar(q=Q, depth=DEPTH, seed=0)


def test_protocol_and_spec(grammar):
    task = make_task()
    assert isinstance(task, Task)
    assert task.config.depth == 1
    assert task.spec(grammar) == TaskSpec("ancestor", Q, LENGTH, Q, None)
    assert task.needs_leaf_posteriors
    assert task_capabilities(task) == TaskCapabilities(needs_internal_nodes=True)
    assert task_capabilities(make_task(depth=0)).asks_root  # the root at every leaf


@pytest.mark.parametrize("d", [0, 1, 2])
def test_targets_are_each_leafs_ancestor(grammar, d):
    sample = grammar.sample(300, seed=1, internal=True)
    task = make_task(depth=d)
    data = task.make(sample, task.spec(grammar), np.random.default_rng(0))
    n = len(sample)
    assert data.inputs.shape == (n, LENGTH) and data.n_queries == n * LENGTH
    np.testing.assert_array_equal(data.inputs, sample.leaves)
    np.testing.assert_array_equal(data.query_rows, np.repeat(np.arange(n), LENGTH))
    np.testing.assert_array_equal(data.query_positions, np.tile(np.arange(LENGTH), n))
    nodes = sample.roots[:, None] if d == 0 else sample.nodes[d]
    for i in range(LENGTH):  # leaf i's ancestor at depth d is node i >> (depth - d)
        np.testing.assert_array_equal(data.targets[i::LENGTH], nodes[:, i >> (DEPTH - d)])
    for array in (data.query_rows, data.query_positions, data.targets):
        assert array.dtype == np.int64


@pytest.mark.parametrize("d", [-1, DEPTH])
def test_depth_outside_the_tree_is_refused(grammar, d):
    if d < 0:
        with pytest.raises(UsageError):
            get_registry().get("task", "ancestor").create({"depth": d})
        return
    with pytest.raises(UsageError, match="depth"):
        make_task(depth=d).spec(grammar)


def test_filter_levels_above_the_depth_are_refused(grammar):
    task = make_task(depth=1)
    task.spec(grammar.filtered(1))  # level 1 keeps the nodes at depth 1
    with pytest.raises(UsageError, match="filter level 2"):
        task.spec(grammar.filtered(2))
    make_task(depth=0).spec(grammar.filtered(DEPTH))  # the root exists at every level


def test_a_sample_without_the_nodes_is_refused(grammar):
    task = make_task(depth=2)
    sample = grammar.sample(10, seed=0)  # internal nodes not sampled
    with pytest.raises(UsageError, match="internal=True"):
        task.make(sample, task.spec(grammar), np.random.default_rng(0))
    no_nodes = Sample(roots=sample.roots, leaves=sample.leaves)
    with pytest.raises(UsageError, match="depth 2"):
        task.make(no_nodes, task.spec(grammar), np.random.default_rng(0))


def _depths(model):
    return [0, *range(max(model.filter_level, 1), model.depth)]


@pytest.mark.parametrize("model", every_filter_level())
def test_answers_are_the_exact_node_posteriors(model):
    """At every depth the filtered grammar has, by enumeration of every assignment."""
    oracle = get_registry().get("oracle", "bp").create()
    sample = model.sample(10, seed=2, internal=True)
    exact = [
        brute_posteriors(model.productions, model.root_prior, model.depth, model.filter_level, x)
        for x in sample.leaves
    ]
    for d in _depths(model):
        task = make_task(depth=d)
        spec = task.spec(model)
        data = task.make(sample, spec, np.random.default_rng(0))
        post = oracle.posteriors(
            model, task.oracle_leaves(data, spec), full=task.needs_leaf_posteriors
        )
        answers = task.oracle_answers(post, data)
        for k, (row, i) in enumerate(zip(data.query_rows, data.query_positions, strict=True)):
            root, _, _, nodes, _ = exact[row]
            truth = root if d == 0 else nodes[d][i >> (model.depth - d)]
            np.testing.assert_allclose(answers[k], truth, rtol=0, atol=1e-10)


def test_unambiguous_grammar_determines_every_ancestor(grammar):
    """The paper's grammar at k = 0 is unambiguous: the leaves determine every internal node,
    so BP's answer is the true ancestor at every depth (the meaning, not only the numbers)."""
    oracle = get_registry().get("oracle", "bp").create()
    sample = grammar.sample(2000, seed=3, internal=True)
    for d in range(DEPTH):
        task = make_task(depth=d)
        spec = task.spec(grammar)
        data = task.make(sample, spec, np.random.default_rng(0))
        post = oracle.posteriors(grammar, task.oracle_leaves(data, spec))
        answers = task.oracle_answers(post, data)
        np.testing.assert_array_equal(answers.argmax(axis=1), data.targets)
        assert answers.max(axis=1).min() > 1 - 1e-9
