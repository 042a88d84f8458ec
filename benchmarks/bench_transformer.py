"""Training throughput of hbench's transformer against a plain PyTorch loop of the same size.

The reference has the shape of the paper's public code: `nn.TransformerEncoder` (post-LN,
batch_first), a DataLoader over CPU tensors, each batch moved to the device, and the loss read
back every step. hbench's loop keeps the data on the device, indexes batches out of it, and
reads the loss once per epoch. Same width, depth, heads, feed-forward, batch, optimizer and
sequences; both on one device with the same torch threads.

    python benchmarks/bench_transformer.py [--preset cpu|paper] [--steps 300] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from tabulate import tabulate
from torch import nn

from hbench.contracts import TaskData, TaskSpec
from hbench_transformer.configs import TransformerConfig
from hbench_transformer.model import TransformerModel

Q, LENGTH = 4, 16


class Reference(nn.Module):
    """The paper's code shape: nn.TransformerEncoder + flatten head."""

    def __init__(self, d_model: int, n_layers: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(Q, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, n_heads, d_ff, dropout, batch_first=True, norm_first=False
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Linear(LENGTH * d_model, Q)

    def forward(self, tokens):
        return self.head(self.encoder(self.embedding(tokens)).flatten(1))


def reference_rate(shape: dict, data: TaskData, steps: int, device: torch.device) -> float:
    torch.manual_seed(0)
    net = Reference(
        shape["d_model"], shape["n_layers"], shape["n_heads"], shape["d_ff"], shape["dropout"]
    ).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=shape["lr"])
    dataset = torch.utils.data.TensorDataset(
        torch.as_tensor(data.inputs), torch.as_tensor(data.targets)
    )
    loader = torch.utils.data.DataLoader(dataset, batch_size=shape["batch_size"], shuffle=True)
    done, start = 0, time.perf_counter()
    while done < steps:
        for tokens, targets in loader:
            tokens, targets = tokens.to(device), targets.to(device)
            loss = F.cross_entropy(net(tokens), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # per-step host synchronisation, as a logging loop does
            done += 1
            if done == steps:
                break
    return steps * shape["batch_size"] / (time.perf_counter() - start)


class _Callbacks:
    privileged = None
    seed = 0

    def __init__(self, device: str) -> None:
        self.device = device

    def checkpoint(self, label) -> None:
        pass

    def progress(self, done, total, unit="step") -> None:
        pass


def hbench_rate(config: TransformerConfig, data: TaskData, steps: int, device: str) -> float:
    shape = config.resolved()
    epochs = max(1, round(steps * shape["batch_size"] / len(data)))
    model = TransformerModel(config.model_copy(update={"epochs": epochs}))
    spec = TaskSpec("root", Q, LENGTH, Q)
    start = time.perf_counter()
    model.fit(data, spec, _Callbacks(device))
    return epochs * len(data) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu", choices=["cpu", "paper"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = TransformerConfig(preset=args.preset, dropout=0.0)
    shape = config.resolved()
    rng = np.random.default_rng(0)
    n = 8 * shape["batch_size"] * 8
    data = TaskData(
        inputs=rng.integers(0, Q, size=(n, LENGTH)),
        query_rows=np.arange(n),
        query_positions=np.full(n, -1),
        targets=rng.integers(0, Q, size=n),
    )
    device = torch.device(args.device)
    ours = max(hbench_rate(config, data, args.steps, args.device) for _ in range(args.repeats))
    ref = max(reference_rate(shape, data, args.steps, device) for _ in range(args.repeats))
    print(
        f"preset {args.preset}: {shape}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {args.device}; best of {args.repeats}"
    )
    print(
        tabulate(
            [
                ["hbench transformer", f"{ours:,.0f}"],
                ["nn.TransformerEncoder loop", f"{ref:,.0f}"],
                ["ratio", f"{ours / ref:.2f}x"],
            ],
            headers=["training loop", "samples/s"],
            tablefmt="github",
        )
    )


if __name__ == "__main__":
    main()
