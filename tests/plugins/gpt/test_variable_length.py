"""The decoder on sequences of varying length: causal attention with the padding masked,
whole-sequence answers read at the last real symbol, the length as an input, so that a
sequence's answers are the same alone or batched with longer ones."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from padding import assert_padding_invariant, padded_task  # noqa: E402

from hbench.errors import UsageError  # noqa: E402
from hbench.registry.registry import get_registry  # noqa: E402
from hbench.run.harness import Callbacks  # noqa: E402
from hbench_gpt.network import GPT, GPTConfig  # noqa: E402

TINY = {"d_model": 16, "n_layers": 2, "n_heads": 2, "d_ff": 32, "epochs": 2, "batch_size": 32}


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fitted(task: str, **options):
    spec, train = padded_task(task, 128, seed=1)
    model = get_registry().get("model", "gpt").create({**TINY, **options})
    model.fit(train, spec, Callbacks(0, "cpu"))
    return spec, model


@pytest.mark.parametrize("task", ["next-token", "root", "mlm"])
def test_answers_do_not_depend_on_the_batch_or_the_padding(task):
    spec, model = fitted(task)
    assert model.net.config.lengths
    _, test = padded_task(task, 40, seed=2)
    assert_padding_invariant(model, test, spec)


def test_the_length_is_an_input_and_the_answer_is_read_at_the_last_symbol():
    config = GPTConfig(
        vocab_size=5, block_size=10, n_classes=3, length=9, readout="sequence", lengths=True
    )
    torch.manual_seed(0)
    net = GPT(config).eval()
    tokens = torch.randint(0, 5, (1, 10))
    with torch.no_grad():
        short = net(tokens, torch.tensor([4]))
        cut = net(tokens[:, :5], torch.tensor([4]))
        longer = net(tokens, torch.tensor([6]))
    torch.testing.assert_close(short, cut, atol=1e-5, rtol=0)
    assert not torch.allclose(short, longer, atol=1e-3)
    with pytest.raises(ValueError, match="lengths"):
        net(tokens)


def test_padded_inputs_without_lengths_are_refused():
    spec, train = padded_task("next-token", 16, seed=1)
    model = get_registry().get("model", "gpt").create(TINY)
    bare = type(train)(train.inputs, train.query_rows, train.query_positions, train.targets)
    with pytest.raises(UsageError, match="lengths"):
        model.fit(bare, spec, Callbacks(0, "cpu"))


def test_a_saved_padded_model_loads_with_its_padding(tmp_path):
    spec, model = fitted("root")
    path = model.save(tmp_path / "model.pt")
    again = get_registry().get("model", "gpt").create(TINY)
    again.load(path)
    assert again.spec == spec
    _, test = padded_task("root", 20, seed=4)
    np.testing.assert_allclose(again.predict(test), model.predict(test), atol=1e-6)
