"""The helpers both torch models train with (`hbench_torch`): fast, CPU, deterministic."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hbench_torch.layers import sinusoidal_positions  # noqa: E402
from hbench_torch.training import (  # noqa: E402
    Plan,
    checkpoint_steps,
    eval_batch_size,
    lr_factor,
    query_probabilities,
    seeded,
    stacked_layers,
    train_epochs,
)


def test_learning_rate_schedules():
    constant = lr_factor(10, 100, "constant")
    assert [constant(s) for s in (0, 4, 9, 50, 99)] == [0.1, 0.5, 1.0, 1.0, 1.0]
    cosine = lr_factor(10, 110, "cosine")
    assert cosine(9) == 1.0 and cosine(10) == 1.0
    assert cosine(60) == pytest.approx(0.5)
    assert cosine(110) == pytest.approx(0.0, abs=1e-12)
    values = [cosine(s) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    anneal = lr_factor(10, 110, "anneal")  # full rate up to step 88, then linear to 0 at 110
    assert anneal(9) == 1.0 and anneal(87) == 1.0 and anneal(88) == 1.0
    assert anneal(99) == pytest.approx(0.5)
    assert anneal(109) == pytest.approx(1 / 22) and anneal(110) == 0.0
    values = [anneal(s) for s in range(10, 111)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_checkpoint_steps_are_log_spaced():
    assert checkpoint_steps(1000, 4) == {1, 10, 100, 1000}
    assert checkpoint_steps(3, 10) == {1, 2, 3}  # fewer where they coincide
    assert checkpoint_steps(1000, 0) == set() and checkpoint_steps(0, 4) == set()


def test_the_prediction_batch_fits_the_device_unless_configured():
    assert eval_batch_size(None, torch.device("cpu")) == 256
    assert eval_batch_size(None, torch.device("cuda", 0)) == 4096
    assert eval_batch_size(1000, torch.device("cpu")) == 1000


def test_a_plan_trains_whole_epochs_and_at_least_min_steps():
    assert Plan.of(n=100, batch=32, epochs=3, min_steps=0) == Plan(3, 4)
    plan = Plan.of(n=100, batch=32, epochs=3, min_steps=30)  # 8 epochs of 4 steps >= 30
    assert (plan.epochs, plan.steps_per_epoch, plan.total) == (8, 4, 32)


def test_seeded_draws_from_the_seed_and_restores_the_generator():
    torch.manual_seed(123)
    expected_after = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7, torch.device("cpu")):
        inside = torch.rand(3)
    with seeded(7, torch.device("cpu")):
        assert torch.equal(torch.rand(3), inside)
    assert torch.equal(torch.rand(3), expected_after)  # as if nothing had been drawn


def test_sinusoidal_positions_are_the_vaswani_table():
    table = sinusoidal_positions(5, 4)
    assert table.shape == (5, 4)
    for pos, i in itertools.product(range(5), range(2)):
        angle = pos / 1e4 ** (2 * i / 4)
        assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
        assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


class Recorder:
    """Callbacks that remember what the loop told them."""

    def __init__(self) -> None:
        self.checkpoints: list[int] = []
        self.progress_calls: list[tuple[int, int, str]] = []

    def checkpoint(self, label) -> None:
        self.checkpoints.append(label)

    def progress(self, done: int, total: int, unit: str = "step") -> None:
        self.progress_calls.append((done, total, unit))


def test_the_epoch_loop_visits_every_row_once_an_epoch_in_a_seeded_order():
    net = torch.nn.Linear(1, 1)
    seen: list[list[int]] = []
    events: list[str] = []

    def step(rows: torch.Tensor) -> torch.Tensor:
        assert net.training
        seen.append(rows.tolist())
        return torch.tensor(float(len(rows)))

    def run(seed: int) -> tuple[list[list[int]], list[dict], Recorder]:
        seen.clear()
        history: list[dict] = []
        callbacks = Recorder()
        train_epochs(
            net,
            n=10,
            batch=4,
            plan=Plan.of(10, 4, epochs=2, min_steps=0),
            step=step,
            seed=seed,
            device=torch.device("cpu"),
            callbacks=callbacks,
            n_checkpoints=3,
            history=history,
            before_epoch=lambda epoch: events.append(f"epoch {epoch}"),
        )
        return [list(batch) for batch in seen], history, callbacks

    batches, history, callbacks = run(seed=5)
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]
    for epoch in (batches[:3], batches[3:]):
        assert sorted(itertools.chain.from_iterable(epoch)) == list(range(10))
    assert batches[:3] != batches[3:]  # a fresh order every epoch
    assert run(seed=5)[0] == batches and run(seed=6)[0] != batches
    assert history == [{"epoch": 1, "loss": 10 / 3}, {"epoch": 2, "loss": 10 / 3}]
    assert callbacks.checkpoints == sorted(checkpoint_steps(6, 3)) == [1, 2, 6]
    assert callbacks.progress_calls == [(1, 2, "epoch"), (2, 2, "epoch")]
    assert events[:2] == ["epoch 0", "epoch 1"]
    assert not net.training  # left in eval mode


def _logits_of(logits: torch.Tensor, asked: list):
    def logits_of(start: int, stop: int) -> torch.Tensor:
        asked.append((start, stop))
        return logits[start:stop]

    return logits_of


@pytest.mark.parametrize("size", [1, 2, 3, 7])
def test_each_query_gets_the_softmax_of_its_own_row_and_position(size):
    """Rows with no query, rows with several, a query per row: in the queries' order, whatever
    the batch size; a batch without a query is never run."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 5, 3, generator=generator)  # (rows, positions, q)
    rows = np.array([0, 0, 2, 3, 3, 3, 6])
    positions = np.array([1, 4, 0, 0, 2, 3, 4])
    asked: list = []
    got = query_probabilities(_logits_of(logits, asked), 7, size, rows, positions)
    expected = torch.softmax(logits.double(), dim=-1)[rows, positions].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert all(any(start <= r < stop for r in rows) for start, stop in asked[1:])
    whole = logits[:, 0]  # (rows, q): one answer a row, asked as a whole
    got = query_probabilities(_logits_of(whole, []), 7, size, np.array([1, 2, 5]))
    np.testing.assert_allclose(
        got, torch.softmax(whole.double(), dim=-1)[[1, 2, 5]].numpy(), rtol=1e-12, atol=0
    )


def test_queries_out_of_order_are_answered_in_their_order_and_stray_rows_refused():
    from hbench.errors import UsageError

    logits = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    got = query_probabilities(_logits_of(logits, []), 4, 2, np.array([3, 0, 3, 1]))
    expected = torch.softmax(logits.double(), dim=-1)[[3, 0, 3, 1]].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    with pytest.raises(UsageError, match="query_rows"):
        query_probabilities(_logits_of(logits, []), 4, 2, np.array([0, 4]))


@pytest.mark.parametrize("size", [1, 3, 5, 8])
def test_layers_are_stacked_in_row_order_whatever_the_batch(size):
    """Each layer's batches are stacked along the rows, as float32 arrays on the CPU, under
    no_grad; one call per batch, covering every row once."""
    generator = torch.Generator().manual_seed(2)
    hidden = [torch.randn(5, 4, 3, generator=generator, requires_grad=True) for _ in range(2)]
    asked: list = []

    def layers_of(start, stop):
        asked.append((start, stop))
        assert not torch.is_grad_enabled()
        return [(h[start:stop] * 1).to(torch.float64) for h in hidden]

    got = stacked_layers(layers_of, 5, size)
    assert [a.dtype for a in got] == [np.float32, np.float32]
    for layer, array in zip(hidden, got, strict=True):
        np.testing.assert_array_equal(array, layer.detach().numpy())
    assert [r for start, stop in asked for r in range(start, stop)] == list(range(5))


def test_stacked_layers_refuses_an_empty_input():
    from hbench.errors import UsageError

    with pytest.raises(UsageError, match="n"):
        stacked_layers(lambda start, stop: [], 0, 4)
