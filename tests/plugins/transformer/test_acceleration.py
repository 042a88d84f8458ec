"""Precision and compile options of the transformer: chosen where they pay, never fatal."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pydantic import ValidationError  # noqa: E402

from hbench.contracts import TaskData, TaskSpec  # noqa: E402
from hbench_transformer import acceleration  # noqa: E402
from hbench_transformer.acceleration import BF16_MIN_WIDTH, choose_precision  # noqa: E402
from hbench_transformer.configs import TransformerConfig  # noqa: E402
from hbench_transformer.model import TransformerModel  # noqa: E402

CPU = torch.device("cpu")
SMALL = {"d_model": 32, "d_ff": 128}
WIDE = {"d_model": 128, "d_ff": 2048}
TINY = {"d_model": 16, "n_layers": 1, "d_ff": 32, "epochs": 2, "warmup_steps": 0}


class Callbacks:
    privileged = None
    seed = 0
    device = "cpu"

    def checkpoint(self, label) -> None:
        pass

    def progress(self, done, total, unit="step") -> None:
        pass


def data(n: int = 64) -> TaskData:
    rng = np.random.default_rng(0)
    return TaskData(
        inputs=rng.integers(0, 4, size=(n, 8)),
        query_rows=np.arange(n),
        query_positions=np.full(n, -1),
        targets=rng.integers(0, 4, size=n),
    )


def fit(**args) -> TransformerModel:
    model = TransformerModel(TransformerConfig(**{**TINY, **args}))
    model.fit(data(), TaskSpec("root", 4, 8, 4), Callbacks())
    return model


@pytest.mark.parametrize("native", [True, False])
def test_auto_picks_bf16_only_for_wide_models_on_native_hardware(monkeypatch, native):
    monkeypatch.setattr(acceleration, "native_bf16", lambda device: native)
    assert WIDE["d_model"] * WIDE["d_ff"] >= BF16_MIN_WIDTH > SMALL["d_model"] * SMALL["d_ff"]
    assert choose_precision("auto", WIDE, CPU) == ("bf16" if native else "fp32")
    assert choose_precision("auto", SMALL, CPU) == "fp32"
    assert choose_precision("fp32", WIDE, CPU) == "fp32"
    assert choose_precision("bf16", SMALL, CPU) == "bf16"  # asked for: emulated if need be


def test_bf16_on_a_gpu_without_it_falls_back_to_fp32(monkeypatch):
    monkeypatch.setattr(acceleration, "native_bf16", lambda device: False)
    with pytest.warns(UserWarning, match="no bf16"):
        assert choose_precision("bf16", WIDE, torch.device("cuda")) == "fp32"


def test_presets_and_validation():
    assert TransformerConfig().resolved()["precision"] == "auto"
    assert TransformerConfig(preset="paper").resolved()["precision"] == "fp32"
    assert TransformerConfig(precision="bf16").resolved()["precision"] == "bf16"
    with pytest.raises(ValidationError, match="precision"):
        TransformerConfig(precision="fp16")
    with pytest.raises(ValidationError, match="compile"):
        TransformerConfig(compile="sometimes")


def test_the_fit_records_the_precision_it_used(monkeypatch):
    monkeypatch.setattr(acceleration, "native_bf16", lambda device: True)
    assert fit(precision="auto").resolved_config()["precision"] == "fp32"  # too small to pay
    model = fit(precision="bf16")
    assert model.resolved_config()["precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in model.net.parameters())  # weights stay fp32
    assert model.predict(data(8)).dtype == np.float64


def test_a_failing_compile_falls_back_to_the_same_eager_training(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no C++ compiler here")

    eager = fit()
    monkeypatch.setattr(torch, "compile", broken)
    with pytest.warns(UserWarning, match="training eagerly"):
        fallen = fit(compile=True)
    assert fallen.compile_s is None
    probe = data(16)
    np.testing.assert_array_equal(eager.predict(probe), fallen.predict(probe))


def test_cheap_dropout_has_dropouts_law_and_gradient():
    from hbench_transformer.acceleration import DROPOUT_LEVELS, dropout

    p = 0.1
    dropped = round(p * DROPOUT_LEVELS) / DROPOUT_LEVELS
    x = torch.full((400, 1000), 2.0, requires_grad=True)
    torch.manual_seed(0)
    y = dropout(x, p, training=True)
    kept = y != 0
    n = kept.numel()
    # the drop rate within four standard deviations of its exact value
    rate = 1 - kept.float().mean().item()
    assert abs(rate - dropped) < 4 * (dropped * (1 - dropped) / n) ** 0.5
    assert torch.allclose(y[kept], torch.tensor(2.0 / (1 - dropped)))  # expectation kept: x
    y.sum().backward()
    assert torch.equal(x.grad, (y / 2.0).detach())  # d y / d x = mask / keep probability
    torch.manual_seed(0)
    assert torch.equal(dropout(x, p, training=True), y)  # seeded by torch's generator
    assert torch.equal(dropout(x, p, training=False), x)  # eval: the identity
    assert torch.equal(dropout(x, 0.0, training=True), x)
    # independent elements: neighbours (four from one 64-bit draw) are uncorrelated
    mask = kept.float().flatten()
    correlation = np.corrcoef(mask[:-1].numpy(), mask[1:].numpy())[0, 1]
    assert abs(correlation) < 4 / n**0.5


def test_cheap_dropout_in_bf16_rounds_like_f_dropout():
    from hbench_transformer.acceleration import dropout

    x = torch.randn(64, 128).to(torch.bfloat16)
    y = dropout(x, 0.1, training=True)
    kept = y != 0
    expected = (x.float() * (65536 / (65536 - 6554))).to(torch.bfloat16)  # scaled once, in fp32
    assert y.dtype == torch.bfloat16
    assert torch.equal(y[kept], expected[kept])


def test_the_prediction_batch_fits_the_device_unless_configured():
    """Small on a CPU (a batch's activations in the cache), large on a GPU; the numbers a
    prediction gives do not depend on it (`test_predictions_are_probabilities_...`)."""
    assert TransformerConfig().eval_batch_size is None  # `hbench_torch.training` decides


def test_predictions_do_not_depend_on_the_batch():
    import hbench

    kwargs = dict(suite="smoke", seeds=[0], train_filters=[1], in_process=True, progress=False)
    tiny = {"d_model": 16, "n_layers": 2, "d_ff": 32, "epochs": 2}
    runs = [
        hbench.evaluate("transformer", model_args={**tiny, "eval_batch_size": size}, **kwargs)
        for size in (7, 4096)
    ]
    small, large = (run.metrics for run in runs)
    assert [m.acc for m in small] == [m.acc for m in large]
    np.testing.assert_allclose([m.kl_bp for m in small], [m.kl_bp for m in large], atol=1e-6)
