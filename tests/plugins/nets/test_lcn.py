"""The `lcn` model: its layers against their definitions, its refusals, and that it learns the
smoke suite's root above chance, deterministically per seed (tiny sizes: seconds, CPU)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hbench.cli import main  # noqa: E402
from hbench.errors import UsageError  # noqa: E402
from hbench.run.harness import Harness  # noqa: E402
from hbench.run.spec import RunSpec  # noqa: E402
from hbench_nets.configs import LCNConfig  # noqa: E402
from hbench_nets.lcn import LCN, LCNModel, LocallyConnected, tree_layers  # noqa: E402

TINY = {"width": 16, "epochs": 12, "batch_size": 32}


def network(length: int = 8, arity: int = 2, shared: bool = False, **options) -> LCN:
    torch.manual_seed(0)
    shape = {"width": 6, "embedding": "onehot", "embedding_dim": None, "init_scale": 1.0}
    return LCN(
        vocab_size=5, classes=4, length=length, arity=arity, shared=shared, **{**shape, **options}
    )


def harness(model_args=None, task: str = "root", **overrides) -> Harness:
    return Harness(
        RunSpec(
            model="lcn",
            suite="smoke",
            overrides={"task": task, "seeds": [0], **overrides},
            model_args={**TINY, **(model_args or {})},
            device="cpu",
        )
    )


def fitted(h: Harness, level: int = 0, seed: int = 0) -> LCNModel:
    model = h.new_model()
    h.fit(model, h.world.train_data(seed, level), h.callbacks(seed, level))
    return model


@pytest.mark.parametrize(("length", "arity"), [(8, 2), (9, 3), (16, 4), (2, 2)])
@pytest.mark.parametrize("shared", [False, True])
def test_shapes_and_parameter_counts(length, arity, shared):
    """log_arity(length) layers, each halving (dividing by the arity) the positions: the
    logits are (batch, classes); an unshared layer has a filter per patch, a shared one one."""
    net = network(length, arity, shared)
    layers = tree_layers(length, arity)
    assert len(net.layers) == layers
    out = net(torch.randint(0, 5, (3, length)))
    assert out.shape == (3, 4)
    channels, positions, expected = 5, length, 0
    for _ in range(layers):
        positions //= arity
        expected += (1 if shared else positions) * (channels * arity + 1) * 6
        channels = 6
    expected += 6 * 4 + 4
    assert sum(p.numel() for p in net.parameters()) == expected


def test_unshared_layer_is_a_filter_per_patch():
    """Against its definition, patch by patch: patch p of the output is
    relu(W_p . concat(x_{p*s}, ..., x_{p*s+s-1}) + b_p)."""
    torch.manual_seed(1)
    layer = LocallyConnected(patches=3, channels=4, out=5, arity=2, shared=False, scale=1.0)
    x = torch.randn(7, 6, 4)
    got = layer(x)
    for p in range(3):
        patch = torch.cat([x[:, 2 * p], x[:, 2 * p + 1]], dim=1)
        want = torch.relu(patch @ layer.weight[p] + layer.bias[p])
        torch.testing.assert_close(got[:, p], want)


def test_shared_layer_is_a_convolution_of_stride_arity():
    """The shared layer is conv1d with kernel = stride = arity (channels first)."""
    torch.manual_seed(2)
    layer = LocallyConnected(patches=3, channels=4, out=5, arity=3, shared=True, scale=1.0)
    x = torch.randn(7, 9, 4)
    # conv weight (out, channels, kernel): fan-in index = position-in-patch * channels + channel
    kernel = layer.weight[0].T.reshape(5, 3, 4).transpose(1, 2)
    want = torch.relu(torch.nn.functional.conv1d(x.transpose(1, 2), kernel, layer.bias[0], 3))
    torch.testing.assert_close(layer(x), want.transpose(1, 2))


def test_learned_embedding_and_init_scale():
    net = network(embedding="learned", embedding_dim=3)
    assert net.embed is not None and net.embed.weight.shape == (5, 3)
    assert net.layers[0].weight.shape == (4, 6, 6)
    small = network(init_scale=0.01)
    assert small.layers[1].weight.std() < network().layers[1].weight.std() / 10


@pytest.mark.parametrize(("length", "arity"), [(8, 3), (12, 2), (1, 2), (2, 4)])
def test_a_length_that_is_no_power_of_the_arity_is_one_line(length, arity):
    with pytest.raises(UsageError, match=f"arity={arity}.*sequence length {length}"):
        tree_layers(length, arity)


def test_the_smoke_suite_with_the_wrong_arity_is_refused_before_training():
    h = harness({"arity": 3})
    model = h.new_model()
    with pytest.raises(UsageError, match=r"arity=3 is invalid.*sequence length 8"):
        h.fit(model, h.world.train_data(0, 0), h.callbacks(0, 0))
    assert model.net is None


def test_tasks_other_than_root_are_refused_at_check_time():
    with pytest.raises(UsageError, match=r"model 'lcn' cannot do task 'mlm'.*root only"):
        RunSpec(model="lcn", suite="smoke", overrides={"task": "mlm"}).resolve()
    assert LCNConfig().check_task("root", None) is None


@pytest.mark.parametrize("shared", [False, True])
def test_learns_the_smoke_root_above_chance_and_is_deterministic(shared):
    """Root at level 0 of the smoke suite (q = 4: chance 0.25, BP 1.0), P = 512: well above
    chance after a dozen epochs; the same seed gives the same probabilities."""
    h = harness({"shared": shared})
    model = fitted(h)
    rows, _, _ = h.evaluate(model, 0, 0)
    own = next(r for r in rows if r["k_test"] == 0)
    assert own["acc"] > 0.5
    data = h.world.test_data(0, 0)
    again = fitted(h)
    np.testing.assert_array_equal(model.predict(data), again.predict(data))
    other = fitted(h, seed=1)
    assert not np.array_equal(model.predict(data), other.predict(data))
    assert model.resolved_config()["shared"] is shared
    assert model.num_parameters() == sum(p.numel() for p in model.net.parameters())


def test_save_and_load_give_the_same_predictions(tmp_path, torch_load_calls):
    h = harness({"epochs": 2})
    model = fitted(h)
    path = model.save(tmp_path / "lcn.pt")
    loaded = LCNModel()
    loaded.load(path)
    data = h.world.test_data(0, 0)
    np.testing.assert_array_equal(loaded.predict(data), model.predict(data))
    assert torch_load_calls == [True]


def test_check_passes_the_contract(capsys):
    """``hbench check``: root fits and predicts in a worker, twice the same; mlm is not
    offered (refused at check time), which the check reports rather than fails."""
    code = main(
        ["check", "--model", "lcn", "--quiet"]
        + [f"--model-arg={key}={value}" for key, value in {**TINY, "epochs": 2}.items()]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "passes the contract checks" in out and "mlm: not offered by the model" in out
