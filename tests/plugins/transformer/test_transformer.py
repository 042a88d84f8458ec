"""The transformer plugin on tiny models and the smoke suite: fast, CPU, deterministic."""

from __future__ import annotations

import contextlib
import os
import stat

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hbench.cli import main  # noqa: E402
from hbench.errors import UsageError  # noqa: E402
from hbench.run.execute import execute  # noqa: E402
from hbench.run.harness import Harness  # noqa: E402
from hbench.run.spec import RunSpec  # noqa: E402
from hbench.suites import parse_value  # noqa: E402
from hbench_transformer.configs import TransformerConfig  # noqa: E402
from hbench_transformer.model import TransformerModel  # noqa: E402

TINY = {"d_model": 16, "n_layers": 2, "d_ff": 32, "epochs": 3, "epochs_mlm": 3, "warmup_steps": 10}


def harness(task="root", model_args=None, **overrides) -> Harness:
    overrides = {"task": task, **{k: parse_value(str(v)) for k, v in overrides.items()}}
    return Harness(
        RunSpec(
            model="transformer",
            suite="smoke",
            overrides=overrides,
            model_args={**TINY, **(model_args or {})},
            device="cpu",
        )
    )


def fitted(h: Harness, level: int = 0, seed: int = 0, **hooks) -> TransformerModel:
    model = h.new_model()
    h.fit(model, h.world.train_data(seed, level), h.callbacks(seed, level, **hooks))
    return model


def test_learns_iid_leaves_close_to_bp():
    """At k = depth the root's law given the leaves is simple: the model gets near BP."""
    h = harness(P=4000, n_test=1000, model_args={"epochs": 15, "lr": 3e-3})
    model = fitted(h, level=3)
    rows, _, _ = h.evaluate(model, 0, 3)
    in_sample = next(r for r in rows if r["k_test"] == 3)
    assert in_sample["acc_bp"] - in_sample["acc"] < 0.03
    assert in_sample["kl_bp"] < 0.05


@pytest.mark.parametrize(("task", "dropout"), [("root", 0.0), ("mlm", 0.0), ("root", 0.1)])
def test_predictions_are_probabilities_and_deterministic(task, dropout):
    """The fit's seed decides everything, dropout's masks too: not the global torch generator,
    which a fresh process seeds at random (here: set otherwise before each fit), and which a
    fit leaves as it found it."""
    import torch

    h = harness(task, model_args={"dropout": dropout})
    data = h.world.test_data(0, 1)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = h.predict(fitted(h), data)  # validated: shape, finite, sums to 1
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(2)
    again = h.predict(fitted(h), data)
    np.testing.assert_array_equal(first, again)
    other = h.predict(fitted(h, seed=1), data)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("task", ["root", "mlm"])
def test_attention_and_hidden_states(task):
    h = harness(task)
    model = fitted(h)
    data = h.world.test_data(0, 0)
    attention = model.attention(data)
    assert len(attention) == 2
    for layer in attention:
        assert layer.shape == (len(data), 1, 8, 8)
        np.testing.assert_allclose(layer.sum(axis=-1), 1.0, atol=1e-5)
        assert np.all(layer >= 0)
    hidden = model.hidden_states(data)
    assert len(hidden) == 3 and all(x.shape == (len(data), 8, 16) for x in hidden)


def test_checkpoint_round_trip_uses_weights_only(tmp_path, request):
    h = harness("mlm")
    model = fitted(h)
    umask = os.umask(0o027)
    try:
        path = model.save(tmp_path / "mlm.pt")
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640  # as a plain open() would make it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlm.pt"]  # no temporary left
    calls = request.getfixturevalue("torch_load_calls")  # spy only on the loads below
    root = harness("root", model_args={"init": str(path), "freeze_encoder": True})
    tuned = fitted(root)
    assert calls == [True]
    for key, value in model.net.encoder.state_dict().items():
        torch.testing.assert_close(tuned.net.encoder.state_dict()[key], value)


def test_bad_checkpoints_and_configs_are_usage_errors(tmp_path):
    not_a_checkpoint = tmp_path / "x.pt"
    not_a_checkpoint.write_text("hello")
    with pytest.raises(UsageError, match="init="):
        fitted(harness(model_args={"init": str(not_a_checkpoint)}))
    saved = fitted(harness()).save(tmp_path / "small.pt")
    with pytest.raises(UsageError, match="d_model=32"):
        fitted(harness(model_args={"init": str(saved), "d_model": 32}))
    with pytest.raises(ValueError, match="divisible"):
        TransformerConfig(d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="freeze_encoder"):
        TransformerConfig(freeze_encoder=True)


def test_checkpoint_hook_is_called_at_log_spaced_steps():
    labels = []
    fitted(harness(model_args={"n_checkpoints": 5}), on_checkpoint=labels.append)
    assert labels == sorted(labels) and len(labels) >= 3 and labels[0] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model-arg", "d_model=10", "--model-arg", "n_heads=3"], "divisible by n_heads"),
        (["--model-arg", "n_layers=0"], "--model-arg n_layers=0"),
        (["--model-arg", "dropout=1"], "--model-arg dropout=1"),
        (["--model-arg", "init=/nonexistent.pt"], "init='/nonexistent.pt'"),
        (["--device", "cuda"], "--device='cuda' is invalid"),
    ],
)
def test_cli_bad_input(capsys, tmp_path, argv, message):
    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    code = main(
        ["run", "--model", "transformer", "--suite", "smoke", *argv, "--out", str(tmp_path)]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_run_on_smoke_writes_a_result(tmp_path):
    request = RunSpec(
        model="transformer",
        suite="smoke",
        overrides={"train_filters": [0]},
        model_args=TINY,
        device="cpu",
    )
    result = execute(request).result
    assert result.environment.torch == torch.__version__
    assert result.spec.device == "cpu"


def test_a_foreign_torch_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(UsageError, match="hbench-transformer checkpoint"):
        fitted(harness(model_args={"init": str(path)}))


def test_learning_dynamics_and_staircase_are_recorded():
    request = RunSpec(
        model="transformer",
        suite="smoke",
        overrides={"train_filters": [0]},
        model_args={**TINY, "n_checkpoints": 4},
        device="cpu",
    )
    result = execute(request).result
    (series,) = result.extra["dynamics"]
    assert series["k_train"] == 0 and len(series["points"]) >= 3
    for point in series["points"]:
        assert set(point["accuracy"]) == {"0", "1", "2", "3"}
        assert set(point["kl"]) == {"0", "1", "2", "3"}
    assert len(series["closest"]) == len(series["points"])
    assert set(series["first_closest_order"]) <= {0, 1, 2, 3}


def test_dynamics_figures_are_written_next_to_the_result(tmp_path):
    code = main(
        [
            "run",
            "--model",
            "transformer",
            "--suite",
            "smoke",
            "--train-filter",
            "0",
            "--model-arg",
            "n_checkpoints=4",
            "--model-arg",
            "epochs=2",
            "--model-arg",
            "d_model=16",
            "--model-arg",
            "d_ff=32",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0
    (result,) = tmp_path.glob("*.json")
    (figure,) = tmp_path.glob("*_dynamics.png")
    assert figure.stem.startswith(result.stem)
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_num_parameters_counts_the_trainable_weights():
    model = fitted(harness())
    assert model.num_parameters() == sum(p.numel() for p in model.net.parameters())
    model.net.encoder.requires_grad_(False)  # as with freeze_encoder: only the head trains
    assert 0 < model.num_parameters() < sum(p.numel() for p in model.net.parameters())


def test_clip_norm_clips_every_step_as_the_preset_or_the_option_says(monkeypatch):
    """The cpu preset clips root's steps to 1 and leaves mlm's alone; the option clips
    either, or with 0 neither; the paper preset does not clip."""
    calls = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        calls.append(max_norm)
        return original(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    model = fitted(harness())
    steps = model.shape["epochs"] * -(-512 // model.shape["batch_size"])  # smoke: P = 512
    assert calls == [1.0] * steps
    calls.clear()
    fitted(harness("mlm"))
    assert calls == []
    fitted(harness(model_args={"preset": "paper", **TINY, "epochs": 1, "batch_size": 128}))
    assert calls == []
    fitted(harness(model_args={"clip_norm": 0}))  # the preset's clipping switched off
    assert calls == []
    model = fitted(harness("mlm", model_args={"clip_norm": 0.5}))
    steps = model.shape["epochs_mlm"] * -(-512 // model.shape["batch_size"])
    assert calls == [0.5] * steps


def test_remasking_keeps_each_sequence_and_its_mask_count():
    from hbench_transformer.model import IGNORE, Remasker

    rng = np.random.default_rng(0)
    complete = torch.as_tensor(rng.integers(0, 4, size=(500, 8)))
    counts = torch.as_tensor(rng.integers(1, 4, size=500))
    mask = torch.rand(500, 8).argsort(dim=1).argsort(dim=1) < counts[:, None]
    tokens = complete.masked_fill(mask, 4)
    targets = complete.masked_fill(~mask, IGNORE)
    masker = Remasker(tokens, targets, mask_id=4, seed=0)
    new_tokens, new_targets = masker.draw()
    masked = new_tokens == 4
    assert torch.equal(masked.sum(dim=1), counts)  # the task's number of questions per row
    assert torch.equal(new_targets != IGNORE, masked)
    assert torch.equal(torch.where(masked, new_targets, new_tokens), complete)
    assert not torch.equal(masked, mask)  # fresh positions
    # Positions are uniform: every position is masked about equally often over many draws.
    hits = sum((masker.draw()[0] == 4).sum(dim=0) for _ in range(40)).double()
    assert (hits / hits.mean() - 1).abs().max() < 0.05
    again = Remasker(tokens, targets, mask_id=4, seed=0).draw()[0]
    assert torch.equal(again, new_tokens)  # seeded
    # train_masks: the same number of questions in every sequence, from the same sequences
    more = Remasker(tokens, targets, mask_id=4, seed=0, count=5)
    more_tokens, more_targets = more.draw()
    assert ((more_tokens == 4).sum(dim=1) == 5).all()
    assert torch.equal(torch.where(more_tokens == 4, more_targets, more_tokens), complete)
    capped = Remasker(tokens, targets, mask_id=4, seed=0, count=99).draw()[0]
    assert (capped == 4).all()  # at most the whole sequence


def test_min_steps_and_options_reach_the_fit():
    calls = []
    h = harness(P=256, model_args={"min_steps": 40, "batch_size": 64, "n_checkpoints": 100})
    fitted(h, on_checkpoint=calls.append)
    assert max(calls) == 40  # 256/64 = 4 steps per epoch, 3 epochs asked: stretched to 40


@pytest.mark.parametrize("task", ["root", "mlm"])
def test_bf16_mixed_precision_gives_probabilities(task):
    h = harness(task, model_args={"precision": "bf16", "schedule": "cosine"})
    h.predict(fitted(h), h.world.test_data(0, 1))  # validated: shape, finite, sums to 1


@pytest.mark.parametrize("jobs", [1, 2])
def test_fit_progress_reaches_the_caller(jobs):
    calls = []

    @contextlib.contextmanager
    def fit(seed, k_train):
        yield lambda done, total, unit: calls.append((k_train, done, total, unit))

    h = harness(train_filters="[0, 1]", test_filters="[0]", n_ood=0)
    h.run(jobs=jobs, fit_progress=fit)
    # one series per fit, from the model's worker (throttled: the last of a fit always comes),
    # with one fit at a time as with two
    assert {total for _, _, total, _ in calls} == {3} and {c[3] for c in calls} == {"epoch"}
    assert sorted(k for k, done, total, _ in calls if done == total) == [0, 1]


def test_the_result_records_the_resolved_preset():
    h = harness(train_filters="[0]", test_filters="[0]", n_ood=0)
    resolved = h.run().extra["resolved_model_config"]
    assert resolved["preset"] == "cpu" and resolved["d_model"] == 16  # given
    assert resolved["lr"] == 3e-3 and resolved["batch_size"] == 128  # from the preset
    assert resolved["schedule"] == "anneal" and resolved["clip_norm"] == 1.0  # root's
    assert resolved["remask"] is True
    assert resolved["schedule_mlm"] == "cosine" and resolved["epochs_mlm"] == 3
