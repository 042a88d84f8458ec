"""The example third-party plugin (plugins/hbench-example-model), installed with pip as a user
would: ``pip install ./plugins/hbench-example-model`` (CI does this after installing hbench)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hbench.registry.registry import get_registry
from hbench.results.validate import validate_file

try:
    DISTRIBUTION = importlib.metadata.distribution("hbench-example-model")
except importlib.metadata.PackageNotFoundError:
    DISTRIBUTION = None

#: CI sets HBENCH_CI: there a missing plugin is a failure, not a skip.
pytestmark = pytest.mark.skipif(
    DISTRIBUTION is None and not os.environ.get("HBENCH_CI"),
    reason="the example plugin is not installed: pip install ./plugins/hbench-example-model",
)


def test_installed() -> None:
    assert DISTRIBUTION is not None, "pip install ./plugins/hbench-example-model (.ci/run does)"


def test_registered_through_its_own_entry_point() -> None:
    entry = get_registry().get("model", "treenet")
    assert entry.distribution == "hbench-example-model"
    points = [ep for ep in DISTRIBUTION.entry_points if ep.group == "hbench"]
    assert [ep.value for ep in points] == ["hbench_example_model.plugin"]


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_exact_weights_compute_belief_propagation(level) -> None:
    """With q channels and the grammar's tables the network *is* BP_k, for root and mlm."""
    torch = pytest.importorskip("torch")
    from hbench_example_model.network import TreeNet, exact_weights

    registry = get_registry()
    grammar_entry = registry.get("grammar", "hierarchical")
    grammar = grammar_entry.create(grammar_entry.validate_config({"q": 3, "depth": 3, "seed": 5}))
    model = registry.get("filter", "hierarchical").create().apply(grammar, level)
    oracle = registry.get("oracle", "bp").create()
    leaves = np.asarray(model.sample(64, 11).leaves, dtype=np.int64)
    rng = np.random.default_rng(level)
    masked = leaves.copy()
    masked[rng.random(masked.shape) < 0.3] = -1  # several masks per sequence
    net = TreeNet(q=3, depth=3, channels=3, share="node")
    net.set_tables(*exact_weights(grammar.productions, grammar.root_prior, 3, level))

    root = net(torch.as_tensor(leaves), "root").detach().numpy()
    np.testing.assert_allclose(root, oracle.posteriors(model, leaves, full=False).root, atol=1e-12)
    tokens = np.where(masked < 0, 3, masked)
    mlm = net(torch.as_tensor(tokens), "mlm").detach().numpy()
    post = oracle.posteriors(model, masked, full=True)
    hidden = masked < 0
    np.testing.assert_allclose(mlm[hidden], post.leaves[hidden], atol=1e-12)


def test_sharing_options_change_the_parameter_count() -> None:
    pytest.importorskip("torch")
    from hbench_example_model.network import TreeNet

    counts = {
        share: sum(p.numel() for p in TreeNet(4, 4, 8, share).parameters())
        for share in ("node", "level", "all")
    }
    tables = 8 * 64  # one W: 8 parent states x 64 child pairs
    extra = 8 + 2 * 8 * 4  # root prior, emissions, readout
    assert counts == {
        "node": 15 * tables + extra,
        "level": 4 * tables + extra,
        "all": tables + extra,
    }


def test_hbench_run_on_smoke_through_the_cli(tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hbench",
            "run",
            "--model",
            "treenet",
            "--suite",
            "smoke",
            "--task",
            "mlm",
            "--out",
            str(tmp_path),
            "--quiet",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    (path,) = tmp_path.glob("*.json")
    result = validate_file(path)
    assert result.num_parameters and result.num_parameters > 0
    assert {"name": "treenet", "distribution": "hbench-example-model", "version": "0.1.0"} in (
        result.environment.plugins
    )
    assert json.loads(done.stdout)["result"]["spec"]["model"] == "treenet"
    assert result.headline["normalised_accuracy"]["mean"] > 0.2  # it learns, even from P=512
