"""The probe analysis: labels are the true ancestors, a representation holding the ancestor
one-hot is read perfectly, the Bayes-optimal accuracy is BP's, and the command writes its
table, JSON and heatmap."""

from __future__ import annotations

import numpy as np
import pytest
from analysis_runs import bp_result, transformer_result

from hbench.analysis import common, probe
from hbench.cli import main
from hbench.contracts import Sample


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "analysis-runs"


class AncestorOneHot:
    """Layer 0 is noise; layer 1 is the one-hot of every ancestor of each token, which at
    k = 0 (an unambiguous grammar) BP's argmax recovers exactly from the leaves."""

    def __init__(self, run: common.Run) -> None:
        self.run = run

    def hidden_states(self, data):
        run, depth = self.run, self.run.depth
        post = run.oracle.posteriors(run.level(0), data.inputs, full=True)
        leaf_to = np.arange(1 << depth)
        parts = [np.broadcast_to(post.root[:, None, :], (len(data), 1 << depth, run.spec.q))]
        for d in range(1, depth):
            parts.append(post.nodes[d][:, leaf_to >> (depth - d)])
        one_hot = (np.concatenate(parts, axis=2) > 0.5).astype(np.float32)
        noise = np.random.default_rng(0).standard_normal((len(data), 1 << depth, 4))
        return [noise.astype(np.float32), np.concatenate([one_hot, noise], axis=2)]


def test_ancestor_labels_follow_the_tree():
    roots = np.array([1, 2])
    nodes = {1: np.array([[0, 3], [2, 1]]), 2: np.array([[1, 1, 2, 0], [3, 3, 0, 2]])}
    sample = Sample(roots=roots, leaves=np.zeros((2, 8), dtype=np.int8), nodes=nodes)
    root, first, second = probe.ancestor_labels(sample, 3, [0, 1, 2])
    np.testing.assert_array_equal(root, [[1] * 8, [2] * 8])
    np.testing.assert_array_equal(first, [[0, 0, 0, 0, 3, 3, 3, 3], [2, 2, 2, 2, 1, 1, 1, 1]])
    np.testing.assert_array_equal(second[1], [3, 3, 3, 3, 0, 0, 2, 2])
    filtered = Sample(roots=roots, leaves=sample.leaves, nodes={2: nodes[2]})
    assert probe.ancestor_labels(filtered, 3, [0, 1, 2])[1] is None


def test_probes_read_an_ancestor_one_hot_perfectly(runs):
    run = common.load_run(bp_result(runs))
    model = common.TrainedModel(0, 0, AncestorOneHot(run))
    depths, (entry,) = probe.analyze(
        run, [model], train_sequences=400, test_sequences=200, steps=150
    )
    assert depths == [0, 1, 2]
    assert entry.accuracy[1] == [1.0, 1.0, 1.0]  # the one-hot layer
    assert all(a < 0.7 for a in entry.accuracy[0])  # noise: near chance (0.25), far from 1
    assert entry.bayes == [1.0, 1.0, 1.0]  # k = 0: the leaves determine every ancestor
    assert entry.best_layer == [1, 1, 1]


def test_hidden_probes_also_read_it(runs):
    run = common.load_run(bp_result(runs))
    model = common.TrainedModel(0, 0, AncestorOneHot(run))
    _, (entry,) = probe.analyze(
        run, [model], train_sequences=300, test_sequences=100, steps=150, hidden=True
    )
    assert entry.accuracy[1] == [1.0, 1.0, 1.0]


def test_bayes_accuracy_of_the_root_is_bp_accuracy(runs):
    """At a filtered level the root is ambiguous: BP's accuracy from the analysis's own data
    is that of BP's root posterior, and depths above the filter level have no nodes."""
    run = common.load_run(bp_result(runs))
    sample, data = run.sample(2000, 0, 2, probe.TEST_PURPOSE, internal=True)
    labels = probe.ancestor_labels(sample, run.depth, [0, 1, 2])
    bayes = probe.bayes_accuracy(run, 2, data, labels, [0, 1, 2])
    post = run.oracle.posteriors(run.level(2), data.inputs, full=False)
    assert bayes[0] == pytest.approx(np.mean(post.root.argmax(axis=1) == sample.roots))
    assert 0.4 < bayes[0] < 0.95 and bayes[1] is None and bayes[2] == 1.0


def test_command_writes_table_json_and_heatmap(runs, capsys):
    result = transformer_result(runs)
    out = result.parent / "probe-out"
    argv = ["analyze", "probe", str(result), "--out", str(out), "--quiet"]
    argv += ["--probe-sequences", "200", "--probe-test", "100", "--probe-steps", "20"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "| BP " in printed and "k_train 2: first layer within 0.01 of the best" in printed
    base = out / f"{result.stem}_probe"
    report = probe.ProbeReport.model_validate_json(base.with_suffix(".json").read_text())
    assert report.probe == "linear" and report.depths == [0, 1, 2]
    k0, k2 = report.models
    assert len(k0.accuracy) == 3  # embeddings and two layers
    assert all(0 <= a <= 1 for row in k0.accuracy for a in row)
    assert k2.bayes[1] is None and all(row[1] is None for row in k2.accuracy)
    assert (out / report.figures[0]).read_bytes()[:4] == b"\x89PNG"


def test_a_model_without_hidden_states_is_skipped(runs, capsys):
    assert main(["analyze", "probe", str(bp_result(runs))]) == 0
    assert "probe: skipped: model 'bp' has no hidden_states(data) method" in (
        capsys.readouterr().out
    )


def test_bad_options_are_usage_errors(runs, capsys):
    assert main(["analyze", "probe", str(bp_result(runs)), "--probe-steps", "0"]) == 2
    assert "--probe-steps=0 is invalid" in capsys.readouterr().err
