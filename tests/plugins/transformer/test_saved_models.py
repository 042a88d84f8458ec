"""`hbench run --save-models`: trained models kept next to the result, loaded back exactly."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hbench.cli import main  # noqa: E402
from hbench.errors import UsageError  # noqa: E402
from hbench.registry.registry import get_registry  # noqa: E402
from hbench.results import read_result  # noqa: E402
from hbench.run.harness import Harness  # noqa: E402
from hbench.run.spec import RunSpec  # noqa: E402

TINY = ["d_model=16", "n_layers=2", "d_ff=32", "epochs=2", "warmup_steps=5"]


def run_cli(tmp_path, model="transformer", *extra):
    args = ["run", "--model", model, "--suite", "smoke", "--out", str(tmp_path), "--quiet"]
    if model == "transformer":
        for value in TINY:
            args += ["--model-arg", value]
    return main([*args, "--train-filter", "0", "--train-filter", "2", *extra])


def test_saved_models_load_back_and_predict_identically(tmp_path, capsys):
    assert run_cli(tmp_path, "transformer", "--save-models") == 0
    assert "wrote 2 trained model(s)" in capsys.readouterr().out
    (path,) = tmp_path.glob("*.json")
    result = read_result(path)
    assert [(m.seed, m.k_train) for m in result.saved_models] == [(0, 0), (0, 2)]
    assert all(m.path.startswith(f"{path.stem}_models/") for m in result.saved_models)
    assert not list(tmp_path.glob(".models-*"))  # the staging folder is gone

    # Refit the same spec (same seeds) and compare with the loaded model.
    request = RunSpec(
        model="transformer",
        suite="smoke",
        overrides={"train_filters": [0, 2]},
        model_args=result.spec.model_settings,
        device="cpu",
    )
    h = Harness(request)
    data = h.world.test_data(0, 1)
    for saved in result.saved_models:
        fitted = h.new_model()
        h.fit(fitted, h.world.train_data(0, saved.k_train), h.callbacks(0, saved.k_train))
        entry = get_registry().get("model", result.spec.model)
        loaded = entry.create(entry.validate_config(result.spec.model_settings))
        loaded.load(path.parent / saved.path)
        np.testing.assert_allclose(loaded.predict(data), fitted.predict(data), atol=1e-6)
        for a, b in zip(loaded.attention(data), fitted.attention(data), strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_loading_uses_weights_only(tmp_path, request):
    assert run_cli(tmp_path, "transformer", "--save-models") == 0
    result = read_result(next(tmp_path.glob("*.json")))
    calls = request.getfixturevalue("torch_load_calls")  # spy only on the load below
    model = get_registry().get("model", "transformer").create()
    model.load(tmp_path / result.saved_models[0].path)
    assert calls == [True]


def test_a_bad_checkpoint_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_text("not a checkpoint")
    model = get_registry().get("model", "transformer").create()
    with pytest.raises(UsageError, match="checkpoint="):
        model.load(bad)


def test_a_model_that_cannot_save_is_noted_and_nothing_is_kept(tmp_path, capsys):
    assert run_cli(tmp_path, "naive-bayes", "--save-models") == 0
    assert "saved no models: model 'naive-bayes' has no save(path) method" in (
        capsys.readouterr().out
    )
    (path,) = tmp_path.glob("*.json")
    assert read_result(path).saved_models == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_without_the_flag_nothing_is_saved(tmp_path):
    assert run_cli(tmp_path, "transformer") == 0
    (path,) = tmp_path.glob("*.json")
    assert read_result(path).saved_models == []
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []


@pytest.mark.parametrize("path", ["/abs/s0_k0.pt", "../up/s0_k0.pt", "a/../../b.pt", ""])
def test_saved_model_paths_stay_below_the_result(path):
    from pydantic import ValidationError

    from hbench.results import SavedModel

    with pytest.raises(ValidationError, match="relative path"):
        SavedModel(seed=0, k_train=0, path=path)


def test_check_verifies_the_save_load_round_trip(monkeypatch):
    from hbench.cli.run import _save_load_check
    from hbench_transformer.model import TransformerModel

    tiny = dict(value.split("=") for value in TINY)
    request = RunSpec(
        model="transformer",
        suite="smoke",
        overrides={"train_filters": [0]},
        model_args={k: int(v) for k, v in tiny.items()},
        device="cpu",
    )
    name, ok, detail = _save_load_check(request)
    assert name == "save/load round trip" and ok, detail

    real_load = TransformerModel.load

    def lossy_load(self, path, device="cpu"):
        real_load(self, path, device)
        with torch.no_grad():
            next(self.net.parameters()).add_(0.1)

    monkeypatch.setattr(TransformerModel, "load", lossy_load)
    _, ok, detail = _save_load_check(request)
    assert not ok and "largest change" in detail
    no_save = RunSpec(model="naive-bayes", suite="smoke", overrides={"train_filters": [0]})
    assert _save_load_check(no_save) is None
