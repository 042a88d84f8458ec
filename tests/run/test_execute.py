"""The one front door of a run: reuse by spec hash, reruns that replace, fixed paths with a
record, model paths checked before training, and the one writer."""

from __future__ import annotations

import re

import pytest

from hbench.errors import UsageError
from hbench.run.execute import execute, finished
from hbench.run.spec import RunSpec

SMALL = {"seeds": [0], "train_filters": [0], "P": 64, "n_test": 32, "n_ood": 16}


def spec(model: str = "naive-bayes", **fields) -> RunSpec:
    return RunSpec(model=model, suite="smoke", overrides=dict(SMALL), **fields)


def test_a_finished_run_of_the_same_spec_is_reused(tmp_path) -> None:
    first = execute(spec(), out=tmp_path)
    assert not first.reused and first.path.is_file() and first.path.parent == tmp_path
    assert first.path.stem.endswith(spec().spec_hash())
    again = execute(spec(), out=tmp_path)
    assert again.reused and again.path == first.path
    assert again.result.metrics == first.result.metrics
    assert finished(spec().resolve(), tmp_path).path == first.path


def test_reusing_a_run_of_other_code_names_what_changed(tmp_path) -> None:
    from hbench.results.files import read_result
    from hbench.run.execute import changed_code

    first = execute(spec(), out=tmp_path)
    assert changed_code(first.result) == []
    sources = dict(first.result.environment.sources)
    assert "hbench" in sources
    edited = first.result.environment.model_copy(
        update={"sources": {**sources, "hbench": "files:sha256:" + "0" * 64}}
    )
    stale = first.result.model_copy(update={"environment": edited})
    assert changed_code(stale) == ["hbench"]
    assert changed_code(read_result(first.path)) == []


def test_overwrite_runs_again_and_replaces_the_earlier_file(tmp_path) -> None:
    first = execute(spec(), out=tmp_path)
    again = execute(spec(), out=tmp_path, overwrite=True)
    assert not again.reused and again.replaced == [first.path]
    assert sorted(tmp_path.iterdir()) == [again.path]


def test_official_runs_and_in_memory_models_are_never_reused(tmp_path) -> None:
    official = spec(official=True)
    one = execute(official, out=tmp_path)
    two = execute(official, out=tmp_path)
    assert not two.reused and one.path != two.path
    assert finished(official.resolve(), tmp_path) is None

    class Uniform:
        def fit(self, train, task_spec, callbacks):
            self.q = task_spec.q

        def predict(self, data):
            import numpy as np

            return np.full((data.n_queries, self.q), 1.0 / self.q)

    first = execute(spec("prior"), out=tmp_path / "mem", model=Uniform)
    second = execute(spec("prior"), out=tmp_path / "mem", model=Uniform)
    assert not second.reused and first.path != second.path


def test_a_fixed_path_is_written_with_its_record_and_without_reuse(tmp_path) -> None:
    path = tmp_path / "cell.json"
    done = execute(spec(), out=tmp_path, path=path, record={"cell": {"hash": "abc"}})
    assert done.path == path and done.result.extra["cell"] == {"hash": "abc"}
    again = execute(spec(), out=tmp_path, path=path)
    assert not again.reused  # the caller of a fixed path decides what is finished


def test_nothing_is_written_without_out(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = execute(spec())
    assert done.path is None and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("python", "name"), [(False, "--model-arg save"), (True, "model_args['save']")]
)
def test_model_paths_are_checked_in_the_callers_words_before_training(
    tmp_path, python, name
) -> None:
    taken = tmp_path / "model.pt"
    taken.write_text("not mine")
    run = RunSpec(
        model="transformer",
        suite="smoke",
        overrides=dict(SMALL),
        model_args={"save": str(taken), "epochs": 1},
    )
    with pytest.raises(UsageError, match=re.escape(name) + "=.* is invalid: a new file"):
        execute(run, out=tmp_path / "out", python=python)
    assert taken.read_text() == "not mine"
    assert not list((tmp_path / "out").iterdir())  # checked before anything ran
