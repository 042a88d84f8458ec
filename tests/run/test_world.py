"""One world per run: the grammars, data and oracle answers built once from the resolved run,
and rebuilt identically from a finished run's result file."""

from __future__ import annotations

import numpy as np
import pytest

from hbench.errors import UsageError
from hbench.run.execute import execute
from hbench.run.harness import Harness
from hbench.run.spec import RunSpec
from hbench.run.world import World, draw_grammar_seeds

SMALL = {"seeds": [0, 1], "train_filters": [0], "P": 64, "n_test": 32, "n_ood": 16}


def spec(**fields) -> RunSpec:
    return RunSpec(model="naive-bayes", suite="smoke", overrides=dict(SMALL), **fields)


def test_the_resolved_run_names_every_plugin_item_once() -> None:
    run = spec().resolve()
    assert run.grammar_entry.name == run.suite.grammar
    assert run.filter_entry.name == run.suite.filter
    assert run.oracle_entry.name == run.suite.oracle
    assert run.grammar_config["q"] == run.suite.q and "seed" in run.grammar_config
    assert [e.name for e in run.entries][-1] == "naive-bayes"


def test_the_harness_runs_in_the_world_it_is_given() -> None:
    run = spec().resolve()
    world = World.of(run)
    harness = Harness(run, world=world)
    assert harness.world is world
    # cached: the same objects each time, one grammar shared by the seeds of a public run
    assert world.test_data(0, 1) is world.test_data(0, 1)
    assert world.grammar(0) is world.grammar(1)
    assert world.filtered(0, 2) is world.filtered(1, 2)
    assert world.grammar_seed(7) == run.suite.grammar_seed  # any seed: the suite's grammar


def test_an_official_world_draws_a_grammar_per_seed_once() -> None:
    run = spec(official=True).resolve()
    seeds = draw_grammar_seeds(run)
    assert sorted(seeds) == [0, 1] and len(set(seeds.values())) == 2
    world = World.of(run, seeds)
    assert world.grammar(0) is not world.grammar(1)
    with pytest.raises(UsageError, match="seed=7 is invalid"):
        world.grammar(7)


def test_a_finished_run_is_rebuilt_in_the_same_world() -> None:
    result = execute(spec(official=True)).result
    rebuilt = World.of_result(result)
    replay = World.of(
        spec(grammar_seeds=result.spec.grammar_seeds).resolve(),
        dict(zip(result.spec.seeds, result.spec.grammar_seeds, strict=True)),
    )
    for seed in result.spec.seeds:
        first, again = rebuilt.test_data(seed, 1), replay.test_data(seed, 1)
        assert np.array_equal(first.inputs, again.inputs)
        assert np.array_equal(rebuilt.oracle_answers(seed, 1, 0), replay.oracle_answers(seed, 1, 0))
    # the scores recorded come from that world: BP's accuracy of seed 1 at level 1
    row = next(m for m in result.metrics if m.seed == 1 and m.k_test == 1)
    bp = rebuilt.oracle_answers(1, 1, 1)
    data = rebuilt.test_data(1, 1)
    assert row.acc_bp == pytest.approx(float(np.mean(bp.argmax(1) == data.targets)))


def test_a_forgotten_seed_is_rebuilt_identically() -> None:
    world = World.of(spec().resolve())
    data, answers = world.test_data(0, 1), world.oracle_answers(0, 1, 0)
    other = world.test_data(1, 1)
    world.forget(0)
    assert world.test_data(1, 1) is other  # the other seed's data stays
    again = world.test_data(0, 1)
    assert again is not data and np.array_equal(again.inputs, data.inputs)
    assert np.array_equal(world.oracle_answers(0, 1, 0), answers)


def test_a_run_keeps_no_seed_s_data_once_its_fits_are_scored() -> None:
    run = spec().resolve()
    world = World.of(run)
    Harness(run, world=world).run(in_process=True)
    assert not world._tests and not world._answers
