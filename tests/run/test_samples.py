"""Per-query logs (`hbench.run.samples`): every scored query, the model's and BP's answers."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import hbench
from hbench.cli import main
from hbench.contracts import TaskData
from hbench.errors import UsageError
from hbench.run.harness import Harness
from hbench.run.samples import SampleLog, check_samples_path, probabilities, read_samples
from hbench.run.spec import RunSpec

pytest.importorskip("pyarrow")

SMOKE = {"P": 256, "n_test": 128, "n_ood": 64}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A smoke run of a registered model (in its sandboxed worker) with its samples."""
    folder = tmp_path_factory.mktemp("samples")
    path = folder / "samples.parquet"
    result = hbench.evaluate(
        "naive-bayes",
        suite="smoke",
        train_filters=[0, 2],
        overrides=SMOKE,
        progress=False,
        log_samples=path,
    )
    return result, read_samples(path)


def test_one_row_per_scored_query_of_every_cell(logged):
    result, table = logged
    assert result.isolation == "process"  # the predictions came back from the worker
    for row in result.metrics:
        cell = table[(table["seed"] == row.seed) & (table["k_train"] == row.k_train)]
        if row.k_test == "ood":
            cell = cell[cell["ood"]]
            assert cell["k_test"].isna().all() and cell["target"].isna().all()
            assert int(cell["possible"].sum()) == row.n_queries  # only those are scored
        else:
            cell = cell[cell["k_test"] == row.k_test]
            assert len(cell) == row.n_queries
            assert cell["possible"].all() and not cell["ood"].any()
            # the scores of the cell, recomputed from the logged rows
            model = probabilities(cell, "model")
            assert np.mean(model.argmax(axis=1) == cell["target"]) == pytest.approx(row.acc)
            assert np.mean(cell["bp_argmax"] == cell["target"]) == pytest.approx(row.acc_bp)
            assert cell["kl_bp"].mean() == pytest.approx(row.kl_bp, rel=1e-9)
    expected = sum(r.n_queries for r in result.metrics if r.k_test != "ood")
    assert int((~table["ood"]).sum()) == expected
    assert table.attrs["hbench"]["model"] == "naive-bayes"
    assert table.attrs["hbench"]["q"] == probabilities(table).shape[1]


def test_probabilities_sum_to_one_and_bp_is_the_oracle(logged):
    result, table = logged
    for column in ("model", "bp", "bp_train"):
        np.testing.assert_allclose(probabilities(table, column).sum(axis=1), 1.0, atol=1e-6)
    for level in result.spec.test_filters:
        test = hbench.task_data("smoke", level=level, split="test", overrides=SMOKE)
        for k_train in (0, 2):
            rows = table[(table["k_train"] == k_train) & (table["k_test"] == level)]
            np.testing.assert_array_equal(rows["sequence"], test.query_rows)
            np.testing.assert_array_equal(rows["position"], test.query_positions)
            np.testing.assert_array_equal(rows["target"].astype(int), test.targets)
            np.testing.assert_allclose(probabilities(rows, "bp"), test.oracle, rtol=0, atol=1e-12)
            assert (rows["bp_argmax"].to_numpy() == test.oracle.argmax(axis=1)).all()
    # the mismatched oracle: BP of the training level on the test data of another level
    spec = RunSpec(suite="smoke", overrides=dict(SMOKE), model="naive-bayes")
    world = Harness(spec).world
    rows = table[(table["k_train"] == 2) & (table["k_test"] == 0)]
    np.testing.assert_allclose(
        probabilities(rows, "bp_train"), world.oracle_answers(0, 0, 2), rtol=0, atol=1e-12
    )


def test_the_path_is_checked_before_any_work(tmp_path):
    with pytest.raises(UsageError, match=r"ending in \.parquet"):
        check_samples_path(tmp_path / "s.csv")
    with pytest.raises(UsageError, match="existing folder"):
        check_samples_path(tmp_path / "missing" / "s.parquet")
    with pytest.raises(UsageError, match="not a folder"):
        (tmp_path / "d.parquet").mkdir()
        check_samples_path(tmp_path / "d.parquet")
    existing = tmp_path / "s.parquet"
    existing.write_bytes(b"another run's log")
    with pytest.raises(UsageError, match="--overwrite replaces it"):
        check_samples_path(existing)
    with pytest.raises(UsageError, match="rerun=True replaces it"):
        check_samples_path(existing, "log_samples")
    assert check_samples_path(existing, overwrite=True) == existing


def test_without_pyarrow_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(UsageError, match=r"needs pyarrow.*hbench\[parquet\]"):
        check_samples_path(tmp_path / "s.parquet")


@pytest.mark.parametrize(
    "name, message",
    [
        ("s.txt", "ending in .parquet"),
        ("missing/s.parquet", "existing folder"),
        ("there.parquet", "a new file"),
    ],
)
def test_the_command_line_refuses_a_bad_path_with_exit_2(tmp_path, capsys, name, message):
    (tmp_path / "there.parquet").write_bytes(b"kept")
    argv = ["run", "--model", "naive-bayes", "--suite", "smoke", "--out", str(tmp_path / "r")]
    code = main([*argv, "--log-samples", str(tmp_path / name)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()  # before any work
    assert (tmp_path / "there.parquet").read_bytes() == b"kept"


def _data(m: int) -> TaskData:
    rows = np.arange(m)
    return TaskData(np.zeros((m, 2), np.int64), rows, np.full(m, -1), rows % 3)


def test_an_interrupted_run_leaves_no_file(tmp_path):
    path = tmp_path / "s.parquet"
    uniform = np.full((4, 3), 1 / 3)
    with pytest.raises(KeyboardInterrupt), SampleLog(path) as log:
        log.open(3)
        log.write(
            seed=0, grammar_seed=1, k_train=0, k_test=1, data=_data(4), model=uniform,
            bp=uniform, bp_train=uniform,
        )  # fmt: skip
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    with SampleLog(path):  # no run was bound (a reused result): nothing written
        pass
    assert list(tmp_path.iterdir()) == []


def test_written_rows_round_trip(tmp_path):
    path = tmp_path / "s.parquet"
    model = np.array([[0.5, 0.5, 0.0], [0.1, 0.2, 0.7]])
    bp = np.array([[0.25, 0.5, 0.25], [0.0, 0.0, 1.0]])
    with SampleLog(path) as log:
        log.open(3, {"model": "m"})
        data = _data(2)
        log.write(
            seed=3, grammar_seed=2**62, k_train=1, k_test="ood", data=data.without_targets(),
            model=model, bp=bp, bp_train=bp, possible=np.array([True, False]),
        )  # fmt: skip
    table = read_samples(path)
    assert table["grammar_seed"].tolist() == [2**62, 2**62]
    assert table["ood"].all() and table["k_test"].isna().all()
    assert table["possible"].tolist() == [True, False]
    assert table["model_argmax"].tolist() == [0, 2] and table["bp_argmax"].tolist() == [1, 2]
    np.testing.assert_array_equal(probabilities(table), model)
    # KL(bp || model) in bits, the model floored as scoring floors it
    assert table["kl_bp"][1] == pytest.approx(-np.log2(0.7))
    assert table.attrs["hbench"] == {"model": "m"}


def test_a_finished_run_is_not_reused_for_its_samples(tmp_path):
    options = {"suite": "smoke", "train_filters": [0], "overrides": SMOKE, "progress": False}
    hbench.evaluate("prior", out=tmp_path / "r", **options)
    with pytest.raises(UsageError, match="rerun=True runs it again"):
        hbench.evaluate("prior", out=tmp_path / "r", log_samples=tmp_path / "s.parquet", **options)
    assert not (tmp_path / "s.parquet").exists()
    hbench.evaluate(
        "prior", out=tmp_path / "r", log_samples=tmp_path / "s.parquet", rerun=True, **options
    )
    assert len(read_samples(tmp_path / "s.parquet")) > 0


def test_sequences_of_varying_length_log_their_length(tmp_path):
    from hbench.registry.registry import get_registry

    if "cfg-var-smoke" not in get_registry().names("suite"):
        pytest.skip("no suite of sequences of varying length registered")
    sizes = {"P": 128, "n_test": 64, "n_ood": 32}
    path = tmp_path / "s.parquet"
    hbench.evaluate("naive-bayes", suite="cfg-var-smoke", overrides=sizes, log_samples=path)
    table = read_samples(path)
    test = hbench.task_data("cfg-var-smoke", level=0, split="test", overrides=sizes)
    rows = table[table["k_test"] == 0]
    np.testing.assert_array_equal(rows["length"].to_numpy(int), test.lengths[test.query_rows])
    assert table["length"].notna().all()  # the random sequences have lengths too
    assert read_samples(tmp_path / "s.parquet")["length"].dtype == "Int64"
