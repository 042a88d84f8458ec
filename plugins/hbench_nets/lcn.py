"""`lcn`: the locally connected network of the Random Hierarchy Model's sample-complexity
papers (Cagnetta, Petrini, Tomasini, Favero, Wyart, "How deep neural networks learn
compositional data: the random hierarchy model", PRX 2024, and the papers that follow it).

Its architecture is the tree's: the input (one-hot, or a learned embedding) goes through L
layers, each splitting the positions into non-overlapping patches of ``arity`` adjacent
positions (filter size = stride = arity) and mapping each patch to ``width`` channels with a
ReLU, so that layer l sees exactly the subtrees of height l and after L = log_arity(length)
layers one position remains, which a linear readout maps to the classes. Unshared, each patch
has a filter of its own (locally connected); ``shared=true`` uses one filter per layer at
every patch (the convolutional network). The papers state the sample complexity of these
networks (P* ~ n_c m^L for the RHM), which is why they are a baseline on every tree suite.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hbench.contracts import FitCallbacks, ModelCapabilities, TaskData, TaskSpec
from hbench.errors import UsageError, invalid
from hbench.io import atomic_write

from .configs import LCNConfig
from .training import build_seeded, fit_network, predict_network

CHECKPOINT_FORMAT = "hbench-lcn"
CHECKPOINT_VERSION = 1
#: The options that decide the network's shape: a saved one is rebuilt from them.
SHAPE = ("arity", "width", "shared", "embedding", "embedding_dim", "init_scale")


def tree_layers(length: int, arity: int) -> int:
    """L with arity**L = length, or a `UsageError` naming ``arity``."""
    layers = max(1, round(math.log(length) / math.log(arity))) if length > 1 else 0
    if length < arity or arity**layers != length:
        raise invalid(
            "arity",
            arity,
            f"an arity whose power is the sequence length {length} (arity**layers = length)",
        )
    return layers


class LocallyConnected(torch.nn.Module):
    """Non-overlapping patches of ``arity`` positions, each mapped to ``out`` channels by a
    filter of its own (or one filter for all, ``shared``), then a ReLU.

    Input (batch, positions, channels); output (batch, positions / arity, out). The unshared
    layer is one batched matrix product over the patches, not a loop."""

    def __init__(
        self, patches: int, channels: int, out: int, arity: int, shared: bool, scale: float
    ) -> None:
        super().__init__()
        self.fan_in = channels * arity
        self.shared = shared
        filters = 1 if shared else patches
        std = scale * math.sqrt(2.0 / self.fan_in)  # He: keeps a ReLU layer's variance
        self.weight = torch.nn.Parameter(torch.randn(filters, self.fan_in, out) * std)
        self.bias = torch.nn.Parameter(torch.zeros(filters, out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = x.reshape(x.shape[0], -1, self.fan_in)  # (batch, patches, arity * channels)
        if self.shared:
            return F.relu(patches @ self.weight[0] + self.bias[0])
        mixed = torch.bmm(patches.transpose(0, 1), self.weight).transpose(0, 1)
        return F.relu(mixed + self.bias)


class LCN(torch.nn.Module):
    """Token ids (batch, arity**layers) to root logits (batch, classes)."""

    def __init__(
        self,
        *,
        vocab_size: int,
        classes: int,
        length: int,
        arity: int,
        width: int,
        shared: bool,
        embedding: str,
        embedding_dim: int | None,
        init_scale: float,
    ) -> None:
        super().__init__()
        layers = tree_layers(length, arity)
        self.vocab_size = vocab_size
        self.embed: torch.nn.Embedding | None = None
        channels = vocab_size
        if embedding == "learned":
            channels = embedding_dim or width
            self.embed = torch.nn.Embedding(vocab_size, channels)
            torch.nn.init.normal_(self.embed.weight, std=init_scale)
        blocks, positions = [], length
        for _ in range(layers):
            positions //= arity
            blocks.append(LocallyConnected(positions, channels, width, arity, shared, init_scale))
            channels = width
        self.layers = torch.nn.ModuleList(blocks)
        self.readout = torch.nn.Linear(channels, classes)
        torch.nn.init.normal_(self.readout.weight, std=init_scale / math.sqrt(channels))
        torch.nn.init.zeros_(self.readout.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.embed is None:
            x = F.one_hot(tokens, self.vocab_size).to(self.readout.weight.dtype)
        else:
            x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.readout(x[:, 0])


class LCNModel:
    """`LCN` trained on the root's cross-entropy by `training.fit_network`."""

    capabilities = ModelCapabilities(save=True)

    def __init__(self, config: LCNConfig | None = None) -> None:
        self.config = config or LCNConfig()
        self.net: LCN | None = None
        self.spec: TaskSpec | None = None
        self.device = torch.device("cpu")
        self.history: list[dict] = []  # per epoch: mean training loss
        self.precision: str | None = None

    def _network(self, spec: TaskSpec, shape: dict) -> LCN:
        return LCN(
            vocab_size=spec.vocab_size,
            classes=spec.q,
            length=spec.length,
            **{key: shape[key] for key in SHAPE},
        )

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        if spec.task != "root":
            raise UsageError(f"model 'lcn' answers the task root only, not {spec.task!r}")
        tree_layers(spec.length, self.config.arity)  # a refusal before anything is built
        self.device = torch.device(callbacks.device)
        self.spec, self.history = spec, []
        shape = self.config.model_dump()
        net = build_seeded(lambda: self._network(spec, shape), callbacks.seed)
        self.net = net.to(self.device)
        self.precision = fit_network(
            self.net, train, spec, callbacks, self.config, positions=False, history=self.history
        )

    def predict(self, data: TaskData) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("model 'lcn': predict() called before fit()")
        return predict_network(
            self.net,
            data,
            positions=False,
            device=self.device,
            batch=self.config.eval_batch_size,
        )

    # --- saved models --------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the weights with the network's shape and task, atomically."""
        if self.net is None or self.spec is None:
            raise RuntimeError("model 'lcn': save() called before fit()")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": {key: getattr(self.config, key) for key in SHAPE},
            "q": self.spec.q,
            "length": self.spec.length,
            "vocab_size": self.spec.vocab_size,
            "state_dict": self.net.state_dict(),
        }
        with atomic_write(path, "wb", field="save") as handle:  # never a half-written model
            torch.save(checkpoint, handle)
        return path

    def load(self, path: str | Path, device: str = "cpu") -> None:
        """Restore a model written by `save` (``torch.load(weights_only=True)``: a checkpoint
        never runs code), built from the shape stored in it, ready to predict."""
        self.device = torch.device(device)
        path = Path(path)
        if not path.is_file():
            raise invalid("checkpoint", str(path), "an existing file saved by model 'lcn'")
        try:
            checkpoint = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # not a torch file, or one that needs unpickling code
            raise invalid("checkpoint", str(path), f"a file saved by model 'lcn' ({exc})") from None
        if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise invalid("checkpoint", str(path), f"a {CHECKPOINT_FORMAT} checkpoint")
        q, length = int(checkpoint["q"]), int(checkpoint["length"])
        spec = TaskSpec("root", q=q, length=length, vocab_size=int(checkpoint["vocab_size"]))
        net = self._network(spec, dict(checkpoint["config"]))
        try:
            net.load_state_dict(checkpoint["state_dict"])
        except RuntimeError as exc:
            raise invalid("checkpoint", str(path), f"weights of the saved shape ({exc})") from None
        self.net, self.spec = net.to(self.device).eval(), spec

    # --- the record ----------------------------------------------------------------------

    def resolved_config(self) -> dict:
        """Every option, with the arithmetic the fit really used."""
        precision = self.precision or self.config.precision
        return {**self.config.model_dump(mode="json"), "precision": precision}

    def num_parameters(self) -> int:
        """Trainable numbers of the fitted network (the leaderboards' parameters column)."""
        if self.net is None:
            raise RuntimeError("model 'lcn': num_parameters() called before fit()")
        return sum(p.numel() for p in self.net.parameters() if p.requires_grad)
