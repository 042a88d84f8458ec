"""Sequences of varying length through the tasks and the run: padded inputs with their
lengths, questions about real positions only, exact answers (inside-outside on each sequence's
own length, batched) equal to enumeration of every derivation, the variable-length suites,
and bad input refused in one line before any work."""

from __future__ import annotations

import itertools
import subprocess
import sys
from functools import cache

import numpy as np
import pytest

from hbench.api import evaluate, task_data
from hbench.contracts import (
    PAD,
    WHOLE_SEQUENCE,
    ModelCapabilities,
    Sample,
    exact_answers,
    grammar_capabilities,
)
from hbench.errors import UsageError
from hbench.registry.registry import get_registry
from hbench_cfg.factories import InsideOutsideOracle
from hbench_cfg.grammar import CFGrammar, build_cfg
from hbench_tasks.ancestor import AncestorTask
from hbench_tasks.configs import MLMTaskConfig, NextTokenTaskConfig
from hbench_tasks.denoise import DenoiseTask
from hbench_tasks.mlm import MLMTask
from hbench_tasks.next_token import NextTokenTask
from hbench_tasks.root import RootTask


def joint(grammar: CFGrammar) -> dict[tuple[tuple[int, ...], int], float]:
    """P(string, root) of every derivation, by plain recursion over the rules."""

    @cache
    def derive(d: int, a: int) -> dict[tuple[int, ...], float]:
        if d == grammar.depth:
            return {(a,): 1.0}
        level, out = grammar.rules[d], {}
        for r in np.flatnonzero(level.parent == a):
            kids = [int(b) for b in level.children[r, : level.arity[r]]]
            for parts in itertools.product(*(derive(d + 1, b).items() for b in kids)):
                string = sum((s for s, _ in parts), ())
                p = float(level.probability[r]) * float(np.prod([p for _, p in parts]))
                out[string] = out.get(string, 0.0) + p
        return out

    return {
        (s, root): prior * p
        for root, prior in enumerate(grammar.root_prior)
        for s, p in derive(0, root).items()
    }


def brute_answer(table, q: int, roots: int, row: list[int], position: int) -> np.ndarray:
    """P(the asked variable | the observed symbols of ``row`` (-1: unseen), its length): the
    root at `WHOLE_SEQUENCE`, else the symbol at ``position``."""
    out = np.zeros(roots if position == WHOLE_SEQUENCE else q)
    for (string, root), p in table.items():
        if len(string) != len(row):
            continue
        if all(o < 0 or o == s for s, o in zip(string, row, strict=True)):
            out[root if position == WHOLE_SEQUENCE else string[position]] += p
    return out / out.sum()


@pytest.fixture(scope="module")
def grammar() -> CFGrammar:
    return build_cfg([2, 2, 2], rules=2, max_rules=3, arities=[2, 3], seed=3)


def test_a_grammar_with_rules_of_two_lengths_varies(grammar):
    assert grammar_capabilities(grammar).variable_length
    assert not grammar_capabilities(build_cfg([2, 2, 2], arities=[2], seed=3)).variable_length
    # the configured arities, not the draw, decide the shape a task sees: a draw of binary
    # rules only from arities [2, 3] still pads to 3**depth, as its seed's siblings do
    binary = build_cfg([1, 2, 2], arities=[2], seed=0)
    drawn = CFGrammar(binary.symbols, binary.rules, binary.root_prior, arities=(2, 3))
    assert (binary.arity, binary.length, binary.variable_length) == (2, 4, False)
    assert (drawn.arity, drawn.length, drawn.variable_length) == (3, 9, True)
    assert drawn.sample(5, 0).leaves.shape == (5, 9)
    with pytest.raises(UsageError, match="arities"):
        CFGrammar(binary.symbols, binary.rules, binary.root_prior, arities=(4,))
    lengths = grammar.sample(500, 0).lengths
    assert lengths.min() < lengths.max()


@pytest.mark.parametrize(
    "task",
    [
        pytest.param(RootTask(), id="root"),
        pytest.param(MLMTask(), id="mlm"),
        pytest.param(MLMTask(MLMTaskConfig(mask_rate=0.4, span=2)), id="mlm-spans"),
        pytest.param(NextTokenTask(), id="next-token"),
    ],
)
def test_exact_answers_on_padded_data_equal_enumeration(grammar, task):
    spec = task.spec(grammar)
    assert spec.pad_id == spec.vocab_size - 1 and spec.length == grammar.length
    sample = grammar.sample(40, 7)
    data = task.make(sample, spec, np.random.default_rng(1))
    lengths = np.asarray(sample.lengths)
    np.testing.assert_array_equal(data.lengths, lengths)
    real = data.real_positions()
    assert np.all(data.inputs[~real] == spec.pad_id)
    assert np.all(data.inputs[real] != spec.pad_id)
    positions = data.query_positions
    asked = positions != WHOLE_SEQUENCE
    assert np.all(positions[asked] < lengths[data.query_rows[asked]])  # real positions only
    answers = exact_answers(task, InsideOutsideOracle(), grammar, data, spec)
    table = joint(grammar)
    roots = grammar.symbols[0]
    for k, (r, i) in enumerate(zip(data.query_rows, positions, strict=True)):
        row = [int(v) for v in data.inputs[r, : lengths[r]]]
        if spec.mask_id is not None:
            row = [-1 if v == spec.mask_id else v for v in row]
        if task.name == "next-token":
            row = row[:i] + [-1] * (len(row) - i)
        expected = brute_answer(table, grammar.q, roots, row, int(i))
        np.testing.assert_allclose(answers[k, : expected.size], expected, atol=1e-12)


def test_causal_next_token_asks_every_real_position(grammar):
    task = NextTokenTask()
    sample = grammar.sample(30, 2)
    data = task.make(sample, task.spec(grammar), np.random.default_rng(0))
    assert data.n_queries == int(sample.lengths.sum())
    np.testing.assert_array_equal(data.targets, sample.leaves[sample.leaves != PAD])


def test_tasks_without_fixed_places_are_refused_in_one_line(grammar):
    for task in (AncestorTask(), DenoiseTask(), NextTokenTask(NextTokenTaskConfig(view="masked"))):
        with pytest.raises(UsageError, match="one length") as caught:
            task.spec(grammar)
        assert "\n" not in str(caught.value)


def test_padding_inside_a_sequence_is_refused(grammar):
    task = RootTask()
    sample = grammar.sample(4, 0)
    leaves = np.array(sample.leaves, dtype=np.int64)
    leaves[0, 0] = PAD
    broken = Sample(sample.roots, leaves, {}, sample.lengths)
    with pytest.raises(UsageError, match=r"sample.leaves\[0, 0\]"):
        task.make(broken, task.spec(grammar), np.random.default_rng(0))


def test_variable_length_suites_are_registered_at_level_zero():
    registry = get_registry()
    for name in ("cfg-var-smoke", "cfg-var-cpu"):
        suite = registry.get("suite", name).value
        assert suite.grammar_args["arities"] == [2, 3]
        assert suite.train_levels == suite.test_levels == [0]
        assert "level 0 only" in suite.description
    with pytest.raises(UsageError, match="level 0"):
        evaluate(
            "prior",
            "cfg-var-smoke",
            overrides={"train_filters": [1], "test_filters": [1]},
            in_process=True,
            progress=False,
        )


def test_random_sequences_are_padded_at_the_grammars_lengths():
    data = task_data("cfg-var-smoke", "root", split="ood")
    lengths = data.lengths
    assert lengths is not None and lengths.min() >= 8 and lengths.max() <= 27
    assert lengths.min() < lengths.max()
    real = data.real_positions()
    assert np.all(data.inputs[real] < 3) and np.all(data.inputs[~real] == 3)
    np.testing.assert_allclose(data.oracle.sum(axis=1), 1.0)


@pytest.mark.parametrize("task", ["root", "mlm", "next-token"])
def test_the_exact_model_is_at_the_ceiling(task):
    result = evaluate("bp", "cfg-var-smoke", task, in_process=True, progress=False)
    assert result.headline["normalised_accuracy"]["mean"] == pytest.approx(1.0)
    table = result.table()
    np.testing.assert_allclose(table[table["k_test"] == 0]["kl_bp"].astype(float), 0.0, atol=1e-9)


def test_naive_bayes_learns_from_padded_sequences():
    result = evaluate("naive-bayes", "cfg-var-smoke", "root", in_process=True, progress=False)
    assert 0 < result.headline["normalised_accuracy"]["mean"] < 1


def test_a_model_without_variable_length_is_refused_before_any_fit():
    with pytest.raises(UsageError, match="variable_length") as caught:
        evaluate("tree-em", "cfg-var-smoke", "root", in_process=True, progress=False)
    assert "\n" not in str(caught.value)


class _Fixed:
    """A model that declares nothing: it reads every input token as a symbol."""

    def fit(self, train, spec, callbacks):
        self.q = spec.q

    def predict(self, data):
        return np.full((data.n_queries, self.q), 1 / self.q)


class _Padded(_Fixed):
    capabilities = ModelCapabilities(variable_length=True)


def test_in_memory_models_declare_it_on_themselves():
    with pytest.raises(UsageError, match="_Fixed does not take"):
        evaluate(_Fixed, "cfg-var-smoke", "root", in_process=True, progress=False)
    result = evaluate(_Padded(), "cfg-var-smoke", "root", in_process=True, progress=False)
    assert result.headline["normalised_accuracy"]["mean"] == pytest.approx(0.0, abs=0.2)


def test_the_command_line_refuses_in_one_line_with_exit_2():
    command = [sys.executable, "-m", "hbench", "run", "--model", "tree-em"]
    command += ["--suite", "cfg-var-smoke", "--in-process"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "variable_length" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
