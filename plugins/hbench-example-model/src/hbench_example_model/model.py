"""The `treenet` model: trains `network.TreeNet` under the hbench model contract.

Its tensors are small (a batch of sequences times 2**l nodes times d**3 table entries), so it
runs on the CPU in one thread: more threads cost more in synchronisation than they save, and
on a shared machine they slow everyone else down too.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import numpy as np
import torch

from hbench.contracts import FitCallbacks, TaskData, TaskSpec
from hbench.errors import UsageError, invalid

from .configs import TreeNetConfig
from .network import TreeNet

#: Probabilities are floored here before the logarithm of the loss.
FLOOR = 1e-12
IGNORE = -100  # a position that is not a query


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class TreeNetModel:
    """A latent tree of ``channels`` states per node, fitted by gradient descent (Adam)."""

    def __init__(self, config: TreeNetConfig | None = None) -> None:
        self.config = config or TreeNetConfig()
        self.net: TreeNet | None = None
        self.spec: TaskSpec | None = None
        self.history: list[dict] = []  # per epoch: mean training loss

    def _build(self, spec: TaskSpec, seed: int) -> TreeNet:
        if spec.task not in ("root", "mlm"):
            raise UsageError(f"model 'treenet' has heads for root and mlm, not {spec.task!r}")
        depth = spec.length.bit_length() - 1
        if 1 << depth != spec.length:
            raise invalid("spec.length", spec.length, "a power of two (the leaves of a tree)")
        channels = self.config.channels or 2 * spec.q
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = TreeNet(spec.q, depth, channels, self.config.share)
            with torch.no_grad():
                for parameter in net.parameters():
                    parameter.mul_(self.config.init_scale)
        return net

    # --- the model contract --------------------------------------------------------------

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        with _one_thread():
            self._fit(train, spec, callbacks)

    def predict(self, data: TaskData) -> np.ndarray:
        with _one_thread():
            return self._predict(data)

    def _fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        if train.targets is None:
            raise invalid("train.targets", None, "the answers of the training queries")
        self.spec = spec
        self.net = net = self._build(spec, callbacks.seed)
        tokens = torch.as_tensor(train.inputs, dtype=torch.long)
        targets = _target_grid(train, spec)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.config.lr)
        shuffle = torch.Generator().manual_seed(callbacks.seed)
        n, batch, epochs = tokens.shape[0], self.config.batch_size, self.config.epochs
        steps = math.ceil(n / batch)
        for epoch in range(epochs):
            order = torch.randperm(n, generator=shuffle)
            running = 0.0
            for start in range(0, n, batch):
                chosen = order[start : start + batch]
                loss = self._loss(net(tokens[chosen], spec.task), targets[chosen])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                running += float(loss.detach())
            self.history.append({"epoch": epoch + 1, "loss": running / steps})
            callbacks.progress(epoch + 1, epochs, "epoch")

    def _predict(self, data: TaskData) -> np.ndarray:
        if self.net is None or self.spec is None:
            raise RuntimeError("model 'treenet': predict() called before fit()")
        tokens = torch.as_tensor(data.inputs, dtype=torch.long)
        rows = torch.as_tensor(data.query_rows, dtype=torch.long)
        positions = torch.as_tensor(data.query_positions, dtype=torch.long)
        with torch.no_grad():
            probabilities = self._answer(tokens, rows, positions).double()
        out = probabilities.numpy()
        return out / out.sum(axis=1, keepdims=True)

    # --- optional capabilities -----------------------------------------------------------

    def num_parameters(self) -> int:
        """Trainable numbers of the fitted network (free logits of every table)."""
        if self.net is None:
            raise RuntimeError("model 'treenet': num_parameters() called before fit()")
        return sum(p.numel() for p in self.net.parameters() if p.requires_grad)

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _loss(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over the queries (targets `IGNORE` are not queries)."""
        q = probabilities.shape[-1]
        probabilities, targets = probabilities.reshape(-1, q), targets.reshape(-1)
        asked = targets != IGNORE
        chosen = probabilities[asked].gather(1, targets[asked, None])
        return -torch.log(chosen.clamp_min(FLOOR)).mean()

    def _answer(
        self, tokens: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor
    ) -> torch.Tensor:
        """(m, q) probabilities for the queries (row within ``tokens``, position)."""
        assert self.net is not None and self.spec is not None
        if self.spec.task == "root":
            return self.net(tokens, "root")[rows]
        return self.net(tokens, "mlm")[rows, positions]


def _target_grid(train: TaskData, spec: TaskSpec) -> torch.Tensor:
    """Root: (n,) answers. Mlm: (n, L) answers at the queried positions, `IGNORE` elsewhere."""
    answers = torch.as_tensor(train.targets, dtype=torch.long)
    rows = torch.as_tensor(train.query_rows, dtype=torch.long)
    if spec.task == "root":
        grid = torch.full((train.inputs.shape[0],), IGNORE, dtype=torch.long)
        grid[rows] = answers
        return grid
    grid = torch.full(train.inputs.shape, IGNORE, dtype=torch.long)
    grid[rows, torch.as_tensor(train.query_positions, dtype=torch.long)] = answers
    return grid
