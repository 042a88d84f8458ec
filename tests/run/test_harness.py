"""The scoring harness end to end on the smoke suite, with the baselines and fake models."""

from __future__ import annotations

import sys
import types
import typing

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

import hbench.registry.registry
from hbench.errors import PluginError, UsageError
from hbench.registry.hookspecs import hookimpl
from hbench.registry.registry import load_registry
from hbench.results import RunResult, read_result, write_result
from hbench.run.execute import execute
from hbench.run.harness import Harness
from hbench.run.oracle_table import oracle_table
from hbench.run.spec import RunSpec
from hbench.suites import parse_value


def request(model: str, task: str = "root", **overrides) -> RunSpec:
    overrides = {k: parse_value(str(v)) for k, v in overrides.items()}
    return RunSpec(model=model, suite="smoke", overrides={"task": task, **overrides})


def in_sample(result: RunResult):
    return [m for m in result.metrics if m.k_test == m.k_train]


@pytest.mark.parametrize("task", ["root", "mlm"])
def test_bp_is_the_ceiling_in_sample(task):
    result = execute(request("bp", task)).result
    assert result.privileged
    for row in in_sample(result):
        assert row.acc == row.acc_bp == row.acc_bp_train
        assert row.kl_bp == pytest.approx(0.0, abs=1e-9)
        assert row.agree == 1.0
    assert result.headline["normalised_accuracy"]["mean"] == pytest.approx(1.0, abs=1e-12)
    assert result.headline["kl_bp"]["mean"] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("task", ["root", "mlm"])
def test_bp_assuming_a_level_reproduces_the_oracle_table(task):
    registry = hbench.registry.registry.get_registry()
    grammar = registry.get("grammar", "hierarchical").create({"q": 4, "depth": 3})
    filter_ = registry.get("filter", "hierarchical").create()
    oracle = registry.get("oracle", "bp").create()
    table = oracle_table(grammar, filter_, oracle, task=task, n=256, seed=0)
    for j in (0, 2):
        req = request("bp", task, train_filters="[0]")
        req = req.model_copy(update={"model_args": {"assume_filter": j}})
        result = execute(req).result
        for row in result.metrics:
            if row.k_test != "ood":
                assert row.acc == table.accuracy[j, row.k_test]


def test_naive_bayes_beats_prior_and_approaches_bp_when_leaves_are_iid():
    overrides = {"train_filters": "[0, 3]", "P": 8000, "n_test": 2000}
    nb = execute(request("naive-bayes", **overrides)).result
    prior = execute(request("prior", **overrides)).result
    nb_norm = nb.headline["normalised_accuracy"]["mean"]
    assert nb_norm > prior.headline["normalised_accuracy"]["mean"] + 0.2
    at_l = next(m for m in nb.metrics if m.k_train == 3 and m.k_test == 3)
    assert at_l.acc_bp - at_l.acc < 0.03


def test_chance_of_the_root_is_one_over_its_classes_not_over_q():
    """With n_c = 2 root classes of q = 4 symbols, the prior model (which learns the root's
    two classes and nothing else) already scores 1/2: that is chance, 0 on the normalised
    scale. From 1/q it would score about (1/2 - 1/4) / (acc_bp - 1/4), near 0.4 here."""
    overrides = {"grammar_args": '{"classes": 2}', "n_test": 4096, "n_ood": 0, "seeds": "[0]"}
    prior = execute(request("prior", **overrides), in_process=True).result
    assert {m.chance for m in prior.metrics} == {0.5}
    for m in in_sample(prior):
        assert m.acc_bp - 0.5 > 0.2, m  # room for a prior model at 1/q to look good
        assert m.acc == pytest.approx(0.5, abs=0.04), m
    assert abs(prior.headline["normalised_accuracy"]["mean"]) < 0.1
    mlm = execute(request("prior", "mlm", **overrides), in_process=True).result
    assert {m.chance for m in mlm.metrics} == {0.25}  # leaves take all q symbols


@pytest.mark.parametrize(("depth", "chance"), [(0, 0.5), (1, 0.25)])
def test_chance_of_the_ancestor_at_depth_0_is_the_roots(tmp_path, depth, chance):
    """``ancestor`` at depth 0 asks the root at every leaf: its n_c = 2 classes, as for root;
    deeper ancestors take all q symbols. `hbench validate` recomputes the same."""
    from hbench.results import write_result
    from hbench.results.validate import inspect_file

    overrides = {"grammar_args": {"classes": 2}, "n_test": 512, "n_ood": 0, "seeds": [0]}
    levels = {"train_filters": [0], "test_filters": [0]}
    spec = RunSpec(
        model="prior",
        suite="smoke",
        overrides={"task": "ancestor", **overrides, **levels},
        task_args={"depth": depth},
    )
    result = execute(spec, in_process=True).result
    assert {m.chance for m in result.metrics} == {chance}
    report = inspect_file(write_result(result, tmp_path))
    assert not report.problems, report.problems


# --- fake models -------------------------------------------------------------------------


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Recorder:
    """Uniform predictions; remembers what it was given."""

    seen: typing.ClassVar[list] = []

    def __init__(self, config=None) -> None:
        pass

    def fit(self, train, spec, callbacks) -> None:
        Recorder.seen.append((len(train), train.n_queries, spec, callbacks.privileged))

    def predict(self, data):
        return np.full((data.n_queries, 4), 0.25)


class WrongShape(Recorder):
    def predict(self, data):
        return np.full((data.n_queries, 3), 1 / 3)


class NotNormalised(Recorder):
    def predict(self, data):
        return np.full((data.n_queries, 4), 0.3)


class Crashes(Recorder):
    def fit(self, train, spec, callbacks) -> None:
        raise RuntimeError("out of ideas")


def fake_registry():
    module = types.ModuleType("hbench_test_fake_models")

    @hookimpl
    def hbench_register_models(register):
        for name, cls in [
            ("recorder", Recorder),
            ("wrong-shape", WrongShape),
            ("not-normalised", NotNormalised),
            ("crashes", Crashes),
        ]:
            register(name, cls, NoOptions)

    module.hbench_register_models = hbench_register_models
    sys.modules[module.__name__] = module
    return load_registry(extra_plugins=[("fakes", module)])


def test_budget_is_enforced_and_the_grammar_never_reaches_a_model():
    Recorder.seen = []
    result = execute(request("recorder", P=300), registry=fake_registry(), in_process=True).result
    assert len(Recorder.seen) == 4  # one fresh model per training level of the smoke suite
    for n, queries, spec, privileged in Recorder.seen:
        assert n == 300 and queries == 300 and privileged is None
        assert (spec.q, spec.length, spec.task) == (4, 8, "root")
    assert not result.privileged


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("wrong-shape", r"model 'wrong-shape'.*shape"),
        ("not-normalised", r"model 'not-normalised'.*sum"),
        ("crashes", r"model 'crashes'.*fit.*out of ideas"),
    ],
)
def test_contract_breaches_name_the_model(model, message):
    with pytest.raises(PluginError, match=message):
        execute(request(model), registry=fake_registry(), in_process=True)


def test_same_seeds_same_result_and_the_file_round_trips(tmp_path):
    first = execute(request("naive-bayes", "mlm", seeds="[0, 1]")).result
    again = execute(request("naive-bayes", "mlm", seeds="[0, 1]")).result
    strip = {"timings", "created", "wall_s", "sandbox"}  # sandbox: limits of this machine
    assert first.model_dump(exclude=strip) == again.model_dump(exclude=strip)
    assert len(first.headline["normalised_accuracy"]["per_seed"]) == 2
    path = write_result(first, tmp_path)
    assert read_result(path) == first


def test_test_sets_are_shared_by_every_training_level():
    harness = Harness(request("prior"))
    first = harness.world.test_data(0, 2)
    assert harness.world.test_data(0, 2) is first
    other_seed = harness.world.test_data(1, 2)
    assert not np.array_equal(first.inputs, other_seed.inputs)


def test_model_base_class_runs_in_the_harness():
    from hbench.contracts import ModelBase

    class Uniform(ModelBase):
        def _fit(self, train, spec, callbacks):
            self.q = spec.q

        def _predict(self, data):
            return np.full((data.n_queries, self.q), 1 / self.q)

    model = Uniform()
    with pytest.raises(RuntimeError, match="before fit"):
        model.predict(None)
    module = types.ModuleType("hbench_test_base_model")

    @hookimpl
    def hbench_register_models(register):
        register("uniform", Uniform, NoOptions)

    module.hbench_register_models = hbench_register_models
    registry = load_registry(extra_plugins=[("base", module)])
    result = execute(request("uniform"), registry=registry, in_process=True).result
    assert result.headline["normalised_accuracy"]["mean"] < 0.1


def test_the_code_is_recorded_as_the_run_started(monkeypatch):
    """An edit of the code while a long run trains is never recorded as the code that ran: the
    source hashes and the checkout's state are taken before the first fit."""
    import hbench.results.environment as environment
    from hbench.contracts import ModelBase

    code = {"hash": "as the run started"}
    monkeypatch.setattr(environment, "source_hash", lambda distribution: code["hash"])

    class Editing(ModelBase):
        def _fit(self, train, spec, callbacks):
            self.q = spec.q
            code["hash"] = "edited during the run"

        def _predict(self, data):
            return np.full((data.n_queries, self.q), 1 / self.q)

    module = types.ModuleType("hbench_test_editing_model")

    @hookimpl
    def hbench_register_models(register):
        register("editing", Editing, NoOptions)

    module.hbench_register_models = hbench_register_models
    registry = load_registry(extra_plugins=[("editing", module)])
    result = execute(request("editing"), registry=registry, in_process=True).result
    assert code["hash"] == "edited during the run"
    assert result.environment.sources == {"hbench": "as the run started"}


def test_num_parameters_is_recorded_when_the_model_reports_it(tmp_path):
    prior = execute(request("prior")).result
    assert prior.num_parameters == 4  # q class frequencies
    naive = execute(request("naive-bayes", task="mlm")).result
    assert naive.num_parameters > 4
    bp = execute(request("bp")).result
    assert bp.num_parameters is None  # no such capability: the leaderboard shows a dash
    assert read_result(write_result(prior, tmp_path)).num_parameters == 4


def test_a_result_is_the_same_whatever_jobs_and_threads_are_recorded():
    spec = request("naive-bayes", "mlm", seeds="[0, 1]")
    one_by_one = execute(spec, jobs=1).result
    together = execute(spec, jobs=4).result
    strip = {"timings", "created", "wall_s", "environment", "sandbox"}
    assert one_by_one.model_dump(exclude=strip) == together.model_dump(exclude=strip)
    assert together.spec.threads == 1 and together.isolation == "process"
    two_threads = execute(spec.model_copy(update={"threads": 2}), jobs=1).result
    assert two_threads.spec.threads == 2
    assert spec.spec_hash() != spec.model_copy(update={"threads": 2}).spec_hash()


def test_an_official_run_draws_grammars_and_a_replay_is_identical():
    spec = request("naive-bayes", seeds="[0, 1]", train_filters="[0]")
    official = execute(spec.model_copy(update={"official": True})).result
    seeds = official.spec.grammar_seeds
    assert official.spec.official and len(seeds) == 2 and len(set(seeds)) == 2
    replay = execute(spec.model_copy(update={"grammar_seeds": seeds})).result
    assert [m.model_dump() for m in replay.metrics] == [m.model_dump() for m in official.metrics]
    assert not replay.spec.official and replay.spec.grammar_seeds == seeds
    with pytest.raises(UsageError, match="not with an official run"):
        execute(spec.model_copy(update={"official": True, "grammar_seeds": seeds}))
    public = execute(spec).result
    assert public.spec.grammar_seeds is None
    assert [m.acc_bp for m in public.metrics] != [m.acc_bp for m in official.metrics]


def test_a_model_that_crashes_in_its_worker_is_named_and_a_killed_worker_is_reported():
    import os
    import signal

    from hbench.run.worker import IsolatedModel

    registry = hbench.registry.registry.get_registry()
    entry = registry.get("model", "naive-bayes")
    handle = IsolatedModel(
        entry.factory,
        entry.validate_config({}),
        threads=1,
        device="cpu",
        label="model 'naive-bayes'",
        allowed=[],
    )
    os.kill(handle.process.pid, signal.SIGKILL)
    handle.process.wait()
    with pytest.raises(PluginError, match=r"naive-bayes.*worker process died \(exit code -9\)"):
        handle.predict(0)
    handle.close()


def test_random_sequences_are_scored_in_a_view_of_several_rows_per_sequence() -> None:
    """next-token's masked view asks each random sequence L times (one row per prefix): the
    cell is scored per sequence it asks about, not by row number."""
    spec = RunSpec(
        model="naive-bayes",
        suite="smoke",
        overrides={"task": "next-token", "n_test": 64, "P": 64, "n_ood": 16, "train_filters": [0]},
        task_args={"view": "masked"},
    )
    result = execute(spec, in_process=True).result
    (ood,) = [m for m in result.metrics if m.k_test == "ood"]
    length = 2**3  # the smoke tree's leaves
    assert ood.n_queries == 16 * length and ood.possible == 1.0 and ood.kl_bp is not None
