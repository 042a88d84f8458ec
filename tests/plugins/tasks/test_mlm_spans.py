"""mlm's mask rate and span masking: the default draw is unchanged, spans are contiguous
blocks at the documented rate, and the oracle answer of every masked leaf is its exact
joint-evidence posterior (brute-force enumeration on small trees)."""

from __future__ import annotations

import numpy as np
import pytest
from brute_force import posteriors as brute_posteriors
from small_trees import every_filter_level

from hbench.contracts import MASKED
from hbench.errors import UsageError
from hbench.registry.registry import get_registry
from hbench_tree.grammar import build_grammar

Q, DEPTH = 4, 4
LENGTH = 1 << DEPTH


def make_task(**options):
    return get_registry().get("task", "mlm").create(options)


@pytest.fixture(scope="module")
def grammar():
    return build_grammar(q=Q, depth=DEPTH, seed=0)


@pytest.fixture(scope="module")
def sample(grammar):
    return grammar.sample(4000, seed=5)


def _runs(mask: np.ndarray) -> list[int]:
    """Lengths of the maximal runs of True in every row."""
    padded = np.pad(mask.astype(np.int8), ((0, 0), (1, 1)))
    edges = np.diff(padded, axis=1)
    starts, stops = np.nonzero(edges == 1), np.nonzero(edges == -1)
    return (stops[1] - starts[1]).tolist()


@pytest.mark.parametrize("rate", [None, 0.3])
def test_span_one_is_todays_draw(grammar, sample, rate):
    """The default options (and span=1 with a rate) draw exactly the masks they always did."""
    task = make_task() if rate is None else make_task(mask_rate=rate, span=1)
    data = task.make(sample, task.spec(grammar), np.random.default_rng(11))
    rng = np.random.default_rng(11)
    n = len(sample)
    if rate is None:
        expected = np.zeros((n, LENGTH), dtype=bool)
        expected[np.arange(n), rng.integers(0, LENGTH, size=n)] = True
    else:
        expected = rng.random((n, LENGTH)) < rate
        fallback = rng.integers(0, LENGTH, size=n)
        empty = np.flatnonzero(~expected.any(axis=1))
        expected[empty, fallback[empty]] = True
    np.testing.assert_array_equal(data.inputs == Q, expected)


def test_one_span_per_sequence_by_default(grammar, sample):
    task = make_task(span=3)
    data = task.make(sample, task.spec(grammar), np.random.default_rng(0))
    mask = data.inputs == Q
    assert _runs(mask) == [3] * len(sample), "exactly one block of 3 leaves per row"
    starts = mask.argmax(axis=1)
    assert set(starts.tolist()) == set(range(LENGTH - 2)), "every place a block fits is drawn"
    rows, positions = np.nonzero(mask)
    np.testing.assert_array_equal(data.query_rows, rows)
    np.testing.assert_array_equal(data.query_positions, positions)
    np.testing.assert_array_equal(data.targets, sample.leaves[rows, positions])


def test_span_rate(grammar, sample):
    """Starts at rate r / s on each of the L - s + 1 places: the masked fraction is the
    coverage of a leaf by at least one block, computed exactly here (plus the rare fallback)."""
    rate, span = 0.3, 2
    task = make_task(mask_rate=rate, span=span)
    mask = task.make(sample, task.spec(grammar), np.random.default_rng(2)).inputs == Q
    p = rate / span
    places = LENGTH - span + 1
    covering = np.array([min(i, places - 1) - max(0, i - span + 1) + 1 for i in range(LENGTH)])
    expected = 1 - (1 - p) ** covering
    assert np.abs(mask.mean(axis=0) - expected).max() < 0.03
    assert mask.any(axis=1).all()
    assert min(_runs(mask)) >= span, "blocks are never shorter than the span"


@pytest.mark.parametrize("options", [{"span": 0}, {"span": 1.5}])
def test_bad_span_is_refused(options):
    with pytest.raises(UsageError):
        get_registry().get("task", "mlm").create(options)


def test_span_longer_than_the_sequence_is_refused(grammar):
    with pytest.raises(UsageError, match="span"):
        make_task(span=LENGTH + 1).spec(grammar)


@pytest.mark.parametrize("model", every_filter_level())
def test_span_answers_are_the_joint_evidence_posteriors(model):
    """Every masked leaf of a span: P(x_i | all unmasked leaves), by enumeration."""
    task = make_task(mask_rate=0.5, span=2)
    spec = task.spec(model)
    sample = model.sample(12, seed=4)
    data = task.make(sample, spec, np.random.default_rng(3))
    oracle = get_registry().get("oracle", "bp").create()
    post = oracle.posteriors(model, task.oracle_leaves(data, spec), full=task.needs_leaf_posteriors)
    answers = task.oracle_answers(post, data)
    leaves = task.oracle_leaves(data, spec)
    for k, (row, position) in enumerate(zip(data.query_rows, data.query_positions, strict=True)):
        assert leaves[row, position] == MASKED
        _, exact, _, _, _ = brute_posteriors(
            model.productions, model.root_prior, model.depth, model.filter_level, leaves[row]
        )
        np.testing.assert_allclose(answers[k], exact[position], rtol=0, atol=1e-10)
