"""The training loop's prediction (`predict_network`, shared by `lcn` and `torch-module`): its
answers against a direct computation, the same at every prediction batch, in query order, and
its work per batch independent of the number of test sequences (tiny networks: CPU, seconds)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.overrides import TorchFunctionMode  # noqa: E402

from hbench.contracts import WHOLE_SEQUENCE, TaskData  # noqa: E402
from hbench.errors import UsageError  # noqa: E402
from hbench_nets.lcn import LCN  # noqa: E402
from hbench_nets.training import predict_network  # noqa: E402

CPU = torch.device("cpu")
VOCAB, Q, LENGTH = 5, 4, 8


class PerPosition(torch.nn.Module):
    """Token ids (batch, length) to logits (batch, length, q)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, 6)
        self.out = torch.nn.Linear(6, Q)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.embed(tokens)))


def root_network() -> LCN:
    torch.manual_seed(0)
    return LCN(
        vocab_size=VOCAB, classes=Q, length=LENGTH, arity=2, width=6, shared=False,
        embedding="onehot", embedding_dim=None, init_scale=1.0,
    )  # fmt: skip


def position_network() -> PerPosition:
    torch.manual_seed(0)
    return PerPosition()


def root_data(n: int, seed: int = 0) -> TaskData:
    tokens = np.random.default_rng(seed).integers(0, VOCAB, (n, LENGTH))
    return TaskData(tokens, np.arange(n), np.full(n, WHOLE_SEQUENCE))


def position_data(n: int, seed: int = 0) -> TaskData:
    """Rows with no query, with one and with several, listed row by row."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, VOCAB, (n, LENGTH))
    rows = np.sort(rng.integers(0, n, 2 * n))
    positions = rng.integers(0, LENGTH, 2 * n)
    order = np.lexsort((positions, rows))
    return TaskData(tokens, rows[order], positions[order])


def direct(net: torch.nn.Module, data: TaskData, positions: bool) -> np.ndarray:
    """Each query's softmax from one forward pass over every sequence."""
    with torch.no_grad():
        logits = net(torch.as_tensor(data.inputs)).double()
    rows = torch.as_tensor(data.query_rows)
    picked = logits[rows, torch.as_tensor(data.query_positions)] if positions else logits[rows]
    return torch.softmax(picked, dim=-1).numpy()


def predict(net: torch.nn.Module, data: TaskData, positions: bool, batch: int) -> np.ndarray:
    return predict_network(net, data, positions=positions, device=CPU, batch=batch)


CASES = [(root_network, root_data, False), (position_network, position_data, True)]


@pytest.mark.parametrize(("build", "make", "positions"), CASES)
def test_answers_are_the_same_at_every_batch_size(build, make, positions):
    """Batches of 1, 3 and 7 sequences (the last one short) give the answers of one batch
    holding every sequence, and those are each query's own softmax (to float32's rounding:
    a matrix product's sums may be ordered differently for another number of rows)."""
    net, data = build(), make(23)
    whole = predict(net, data, positions, batch=23)
    assert whole.shape == (data.n_queries, Q)
    np.testing.assert_allclose(whole, direct(net, data, positions), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    for batch in (1, 3, 7):
        np.testing.assert_allclose(predict(net, data, positions, batch), whole, rtol=1e-5)


def test_queries_not_listed_by_row_are_answered_in_their_order():
    """The contract lists queries row by row; listed otherwise, each still gets its own answer
    (one batch's queries are not assumed to sit together)."""
    net, data = position_network(), position_data(20)
    listed = predict(net, data, True, batch=3)
    shuffle = np.random.default_rng(1).permutation(data.n_queries)
    shuffled = TaskData(data.inputs, data.query_rows[shuffle], data.query_positions[shuffle])
    np.testing.assert_array_equal(predict(net, shuffled, True, batch=3), listed[shuffle])


def test_no_queries_and_no_sequences():
    net = position_network()
    empty = np.zeros(0, dtype=np.int64)
    none_asked = predict(net, TaskData(position_data(5).inputs, empty, empty), True, batch=2)
    assert none_asked.shape == (0, Q)
    assert predict(net, TaskData(np.zeros((0, LENGTH), np.int64), empty, empty), True, 2).size == 0


def test_a_query_about_a_missing_row_is_one_line():
    data = root_data(4)
    bad = TaskData(data.inputs, np.array([0, 1, 4]), np.full(3, WHOLE_SEQUENCE))
    with pytest.raises(UsageError, match=r"query_rows=4 is invalid: rows in \[0, 4\)"):
        predict(root_network(), bad, False, batch=2)


class Work(TorchFunctionMode):
    """Counts the elements of every tensor that a torch function returns."""

    def __init__(self) -> None:
        super().__init__()
        self.elements = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        results = out if isinstance(out, (tuple, list)) else (out,)
        self.elements += sum(t.numel() for t in results if isinstance(t, torch.Tensor))
        return out


def work(n: int, batch: int) -> int:
    net, data = position_network(), position_data(n)
    with Work() as counted:
        predict(net, data, True, batch)
    return counted.elements


def test_work_per_batch_does_not_grow_with_the_number_of_sequences():
    """Four times the sequences at the same batch is four times the batches, each doing the
    same work: no batch looks at every query (matching each query's row against every batch
    made prediction quadratic in the test set, in time and in memory)."""
    small, large = work(128, batch=2), work(512, batch=2)
    assert large <= 4.5 * small, (small, large)
