"""The public Python API as a notebook uses it: evaluate, task_data, load_results."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import hbench
from hbench.errors import UsageError

SMOKE = {"P": 256, "n_test": 128, "n_ood": 64}


class Frequencies:
    """A model written in a notebook: the class frequencies of the training answers."""

    def fit(self, train, spec, callbacks):
        counts = np.bincount(train.targets, minlength=spec.q) + 1.0
        self.p = counts / counts.sum()

    def predict(self, data):
        return np.tile(self.p, (data.n_queries, 1))


def test_evaluate_an_in_memory_model_class_object_and_factory():
    by_class = hbench.evaluate(Frequencies, suite="smoke", overrides=SMOKE, progress=False)
    by_object = hbench.evaluate(Frequencies(), suite="smoke", overrides=SMOKE, progress=False)
    by_factory = hbench.evaluate(lambda: Frequencies(), suite="smoke", overrides=SMOKE)
    assert by_class.isolation == "in-process" and by_class.spec.model == "frequencies"
    assert by_class.headline == by_object.headline == by_factory.headline
    table = by_class.table()
    assert set(table["k_train"]) == {0, 1, 2, 3} and "normalised_accuracy" in table
    # the class prior is what a model that learns nothing about the leaves scores
    prior = hbench.evaluate("prior", suite="smoke", overrides=SMOKE, progress=False)
    assert prior.isolation == "process"
    assert by_class.headline["normalised_accuracy"]["mean"] == pytest.approx(
        prior.headline["normalised_accuracy"]["mean"], abs=0.05
    )


def test_evaluate_writes_and_load_results_reads(tmp_path):
    result = hbench.evaluate(
        "naive-bayes",
        suite="smoke",
        task="mlm",
        seeds=[0, 1],
        train_filters=[0],
        overrides=SMOKE,
        out=tmp_path,
        progress=False,
    )
    assert result.path is not None and result.path.parent == tmp_path
    frame = hbench.load_results(tmp_path)
    assert set(frame["seed"]) == {0, 1} and set(frame["task"]) == {"mlm"}
    assert len(result.headline["normalised_accuracy"]["per_seed"]) == 2


def test_bad_options_raise_before_training():
    with pytest.raises(UsageError, match=r"overrides\['P'\]=0 is invalid"):
        hbench.evaluate("prior", suite="smoke", overrides={"P": 0})
    with pytest.raises(UsageError, match=r"model_args\['alpah'\]"):
        hbench.evaluate("naive-bayes", suite="smoke", model_args={"alpah": 1})
    with pytest.raises(UsageError, match="model="):
        hbench.evaluate(42, suite="smoke")


def test_task_data_is_what_fit_receives_and_test_has_the_oracle():
    from hbench.run.harness import Harness
    from hbench.run.spec import RunSpec

    train = hbench.task_data(suite="smoke", task="root", level=2, split="train", seed=0)
    harness = Harness(RunSpec(model="prior", suite="smoke", overrides={"seeds": [0]}))
    same = harness.world.train_data(0, 2)
    np.testing.assert_array_equal(train.inputs, same.inputs)
    np.testing.assert_array_equal(train.targets, same.targets)
    assert train.oracle is None
    test = hbench.task_data(suite="smoke", level=2, split="test")
    assert test.oracle.shape == (test.n_queries, 4)
    np.testing.assert_allclose(test.oracle.sum(axis=1), 1.0)
    assert test.without_targets().oracle is None  # never reaches a model
    with pytest.raises(UsageError, match="level=9"):
        hbench.task_data(suite="smoke", level=9)


def test_a_notebook_like_script(tmp_path):
    script = textwrap.dedent(
        """
        import numpy as np
        import hbench

        class Majority:
            def fit(self, train, spec, callbacks):
                self.q = spec.q
                self.top = np.bincount(train.targets, minlength=spec.q).argmax()
            def predict(self, data):
                p = np.full((data.n_queries, self.q), 0.01)
                p[:, self.top] = 1.0
                return p / p.sum(axis=1, keepdims=True)

        result = hbench.evaluate(Majority, suite="smoke", overrides={"P": 128, "n_test": 64})
        print(round(result.headline["normalised_accuracy"]["mean"], 6))
        print(len(result.table()))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert float(lines[0]) < 0.5 and int(lines[1]) == 4 * 5  # 4 training levels x (4 + ood)


def test_evaluate_reuses_a_finished_run_of_the_same_spec(tmp_path):
    options = {"suite": "smoke", "train_filters": [0], "overrides": SMOKE, "progress": False}
    first = hbench.evaluate("naive-bayes", out=tmp_path, label="nb", **options)
    again = hbench.evaluate("naive-bayes", out=tmp_path, label="nb", **options)
    assert again.path == first.path and again.headline == first.headline
    assert len(list(tmp_path.glob("*.json"))) == 1
    table = hbench.load_results(tmp_path)
    assert len(table) == len(first.metrics)  # counted once
    assert set(table["label"]) == {"nb"} and first.spec.label == "nb"
    # rerun=True runs again and replaces it; another label is another run
    rerun = hbench.evaluate("naive-bayes", out=tmp_path, label="nb", rerun=True, **options)
    assert rerun.path != first.path and not first.path.exists()
    hbench.evaluate("naive-bayes", out=tmp_path, **options)
    table = hbench.load_results(tmp_path)
    assert sorted(set(table["label"])) == ["naive-bayes", "nb"]
    assert len(table) == 2 * len(first.metrics)


def test_evaluate_warns_when_the_run_it_reuses_was_made_by_other_code(tmp_path, caplog):
    options = {"suite": "smoke", "train_filters": [0], "overrides": SMOKE, "progress": False}
    first = hbench.evaluate("naive-bayes", out=tmp_path, **options)
    data = json.loads(first.path.read_text())
    data["environment"]["sources"]["hbench"] = "files:sha256:" + "0" * 64
    first.path.write_text(json.dumps(data))
    with caplog.at_level(logging.INFO, logger="hbench"):
        again = hbench.evaluate("naive-bayes", out=tmp_path, **options)
    assert again.path == first.path
    (record,) = [r for r in caplog.records if "reused" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "made by other code (hbench changed since)" in record.getMessage()


def test_k_test_is_one_type_and_a_bad_spec_field_is_a_usage_error(tmp_path):
    result = hbench.evaluate(
        "prior", suite="smoke", train_filters=[0], overrides=SMOKE, progress=False
    )
    table = result.table()
    assert str(table["k_test"].dtype) == "Int64" and table["ood"].any()
    assert table.loc[table["ood"], "k_test"].isna().all()
    with pytest.raises(UsageError, match="threads=0 is invalid"):
        hbench.evaluate("prior", suite="smoke", threads=0)
    with pytest.raises(UsageError, match=r"label=.* is invalid"):
        hbench.evaluate("prior", suite="smoke", label="\x1b[31m")
