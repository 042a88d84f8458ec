"""The encoder on sequences of varying length: the padding masked out of attention, pooling
and losses, so that a sequence's answers are the same alone or batched with longer ones."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from padding import assert_padding_invariant, padded_task, rows  # noqa: E402

from hbench.errors import UsageError  # noqa: E402
from hbench.registry.registry import get_registry  # noqa: E402
from hbench.run.harness import Callbacks  # noqa: E402

TINY = {"d_model": 16, "n_layers": 2, "n_heads": 2, "d_ff": 32, "epochs": 2, "batch_size": 32}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fitted(task: str, **options):
    spec, train = padded_task(task, 128, seed=1)
    model = get_registry().get("model", "transformer").create({**TINY, **options})
    model.fit(train, spec, Callbacks(0, "cpu"))
    return spec, model


@pytest.mark.parametrize(
    ("task", "options"),
    [("root", {"pooling": "flatten"}), ("root", {"pooling": "mean"}), ("mlm", {})],
)
def test_answers_do_not_depend_on_the_batch_or_the_padding(task, options):
    spec, model = fitted(task, **options)
    _, test = padded_task(task, 40, seed=2)
    assert_padding_invariant(model, test, spec)


def test_without_the_mask_the_padding_would_change_the_answers():
    """The check above can fail: the unmasked network reads the padding."""
    _, model = fitted("root", pooling="mean")
    _, test = padded_task("root", 40, seed=2)
    short = np.flatnonzero(test.lengths < test.lengths.max())[:1]
    tokens = torch.as_tensor(rows(test, short).inputs)
    width = int(test.lengths[short[0]])
    keep = torch.arange(tokens.shape[1]) < width
    with torch.no_grad():
        masked = model.net(tokens, keep[None])
        unmasked = model.net(tokens)
        cut = model.net(tokens[:, :width], keep[None, :width])
    torch.testing.assert_close(masked, cut, atol=1e-5, rtol=0)
    assert not torch.allclose(masked, unmasked, atol=1e-3)


def test_remasking_draws_only_real_positions():
    spec, train = padded_task("mlm", 64, seed=3)
    model = get_registry().get("model", "transformer").create({**TINY, "train_masks": 3})
    model.fit(train, spec, Callbacks(0, "cpu"))  # remask draws happen during the fit
    from hbench_transformer.model import IGNORE, Remasker

    tokens = torch.as_tensor(train.inputs)
    targets = torch.full(tokens.shape, IGNORE)
    targets[torch.as_tensor(train.query_rows), torch.as_tensor(train.query_positions)] = (
        torch.as_tensor(train.targets)
    )
    lengths = torch.as_tensor(train.lengths)
    masker = Remasker(tokens, targets, spec.mask_id, seed=0, count=3, lengths=lengths)
    for _ in range(3):
        drawn, answers = masker.draw()
        masked = drawn == spec.mask_id
        assert not masked[torch.arange(tokens.shape[1]) >= lengths[:, None]].any()
        assert torch.equal(masked.sum(1), lengths.clamp(max=3))
        assert torch.equal(masked, answers != IGNORE)


def test_padded_inputs_without_lengths_are_refused():
    spec, train = padded_task("root", 16, seed=1)
    model = get_registry().get("model", "transformer").create(TINY)
    bare = type(train)(train.inputs, train.query_rows, train.query_positions, train.targets)
    with pytest.raises(UsageError, match="lengths"):
        model.fit(bare, spec, Callbacks(0, "cpu"))


def test_a_saved_padded_model_loads_with_its_padding(tmp_path):
    spec, model = fitted("root")
    path = model.save(tmp_path / "model.pt")
    again = get_registry().get("model", "transformer").create(TINY)
    again.load(path)
    assert again.spec == spec
    _, test = padded_task("root", 20, seed=4)
    np.testing.assert_allclose(again.predict(test), model.predict(test), atol=1e-6)
