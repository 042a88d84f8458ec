"""The `gpt` model plugin: trains `network.GPT` under the hbench model contract.

How a decoder answers each kind of task:

* ``next-token``: the input is a start token (BOS) followed by the symbols, the network's output
  at position i predicts symbol i from symbols 0..i-1, and every position of a sequence is
  trained in one step (the causal attention mask keeps every prediction on its prefix). This
  is what keeps the promise of the task's causal view; the masked view is answered the same
  way (the mask tokens sit at and after the asked position, where causal attention never
  looks).
* any other task (``root``, ``ancestor``, ``mlm``): the whole sequence is read, BOS first, and
  the answers come from the last token, the only one that has seen every symbol: one head of q
  logits for a question about the whole sequence (the root), one of L x q for a question per
  position (every leaf's ancestor, a masked leaf).

Sequences of varying length (`TaskSpec.pad_id`, `TaskData.lengths`) go in with their lengths:
causal attention that also masks the padding, whole-sequence answers read at the last real
symbol, the length as an input (`network.GPTConfig.lengths`), and batches cut to their longest
sequence; queries, and so losses, are at real positions only.

Training data lives on the device for the whole fit; checkpoints are plain state dicts with the
network's shape, loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hbench.contracts import WHOLE_SEQUENCE, FitCallbacks, ModelCapabilities, TaskData, TaskSpec
from hbench.errors import invalid
from hbench.io import atomic_write
from hbench_torch.training import (
    Plan,
    eval_batch_size,
    lr_factor,
    query_probabilities,
    seeded,
    stacked_layers,
    train_epochs,
)

from .configs import GPTModelConfig
from .network import GPT, GPTConfig

CHECKPOINT_FORMAT = "hbench-gpt"
CHECKPOINT_VERSION = 1
IGNORE = -100  # cross_entropy's ignore_index: positions that are not queries
NEXT_TOKEN = "next-token"
#: Tasks trained on the next symbol given the prefix (generate: then sampled from, `sample`).
NEXT_TASKS = (NEXT_TOKEN, "generate")


def adamw(net: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW that decays the matrices only (nanoGPT): biases, LayerNorm gains and embeddings'
    scale-free parameters keep their values; fused where this torch has it for the device."""
    decay = [p for p in net.parameters() if p.requires_grad and p.dim() >= 2]
    keep = [p for p in net.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0}]
    try:
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95), fused=True)
    except (RuntimeError, TypeError):  # an older torch without fused AdamW on this device
        return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.95))


def readout_for(spec: TaskSpec, positions: np.ndarray) -> str:
    """ "next" for next-token; else "sequence" when every query is about the whole sequence,
    "positions" when every query is about a position."""
    if spec.task in NEXT_TASKS:
        return "next"
    whole = positions == WHOLE_SEQUENCE
    if whole.all():
        return "sequence"
    if whole.any():
        raise invalid(
            "query_positions", "a mix of whole-sequence and position queries", "one kind per task"
        )
    return "positions"


class GPTModel:
    """Decoder-only transformer; see `network.py` for the architecture."""

    capabilities = ModelCapabilities(
        attention=True, hidden_states=True, save=True, sample=True, variable_length=True
    )

    def __init__(self, config: GPTModelConfig | None = None) -> None:
        self.config = config or GPTModelConfig()
        self.shape = self.config.resolved()
        self.net: GPT | None = None
        self.spec: TaskSpec | None = None
        self.device = torch.device("cpu")
        self.history: list[dict] = []  # per epoch: mean training loss

    # --- inputs --------------------------------------------------------------------------

    @property
    def bos(self) -> int:
        """The start token: one past the task's own tokens."""
        assert self.spec is not None
        return self.spec.vocab_size

    def _tokens(self, inputs: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(n, L) task inputs -> the network's input: BOS then the symbols, (n, L + 1), or
        (n, L) for next-token, whose last symbol is never an input (nothing follows it)."""
        assert self.net is not None
        tokens = torch.as_tensor(np.asarray(inputs), dtype=torch.long)
        if tokens.ndim != 2 or tokens.shape[1] != self.spec.length:
            raise invalid("inputs", f"array of shape {tuple(tokens.shape)}", "shape (n, length)")
        start = torch.full((tokens.shape[0], 1), self.bos, dtype=torch.long)
        tokens = torch.cat([start, tokens], dim=1)
        return tokens[:, :-1] if self.net.config.readout == "next" else tokens

    def _lengths(self, data: TaskData) -> torch.Tensor | None:
        """The rows' lengths where sequences vary (`TaskSpec.pad_id`), else None; padded
        inputs without them are refused in one line."""
        if self.spec is None or self.spec.pad_id is None:
            return None
        if data.lengths is None:
            raise invalid("lengths", None, "the (n,) lengths of inputs padded with pad_id")
        lengths = torch.as_tensor(np.asarray(data.lengths), dtype=torch.long)
        if lengths.shape != (len(data),) or (len(data) and int(lengths.min()) < 1):
            raise invalid("lengths", f"shape {tuple(lengths.shape)}", f"({len(data)},) >= 1")
        return lengths

    def _width(self, lengths: torch.Tensor) -> int:
        """The input tokens a batch needs: its longest sequence, BOS first (for "next", whose
        last symbol is never an input, one fewer)."""
        longest = int(lengths.max())
        return longest if self.net.config.readout == "next" else longest + 1

    def _targets(self, train: TaskData) -> torch.Tensor:
        """Training answers: (n,) for "sequence", an (n, L) grid with IGNORE elsewhere else."""
        if train.targets is None:
            raise invalid("train.targets", None, "the answers of the training queries")
        answers = torch.as_tensor(np.asarray(train.targets), dtype=torch.long)
        rows = torch.as_tensor(np.asarray(train.query_rows), dtype=torch.long)
        if self.net.config.readout == "sequence":
            if not torch.equal(rows, torch.arange(len(train))):
                raise invalid("query_rows", "several or no queries per row", "one per sequence")
            return answers
        grid = torch.full(train.inputs.shape, IGNORE, dtype=torch.long)
        grid[rows, torch.as_tensor(np.asarray(train.query_positions), dtype=torch.long)] = answers
        return grid

    # --- the model contract --------------------------------------------------------------

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        self.device = torch.device(callbacks.device)
        self.spec = spec
        shape = self.shape
        config = GPTConfig.preset(
            self.config.preset,
            **{key: shape[key] for key in ("d_model", "n_layers", "n_heads", "d_ff")},
            dropout=shape["dropout"],
            positions=shape["positions"],
            vocab_size=spec.vocab_size + 1,
            block_size=spec.length + 1,
            n_classes=spec.q,
            length=spec.length,
            readout=readout_for(spec, np.asarray(train.query_positions)),
            lengths=spec.pad_id is not None,
        )
        with seeded(callbacks.seed, self.device):  # initialisation and dropout from the seed
            self.net = GPT(config).to(self.device)
            self._train(train, callbacks)
        if self.config.save is not None:
            self.save(self.config.save)

    def _train(self, train: TaskData, callbacks: FitCallbacks) -> None:
        net, shape = self.net, self.shape
        tokens = self._tokens(train.inputs).to(self.device)
        targets = self._targets(train).to(self.device)
        lengths = self._lengths(train)
        lengths = None if lengths is None else lengths.to(self.device)
        cut_targets = net.config.readout == "next"  # (n, L) by position: cut with the inputs
        n, batch = tokens.shape[0], shape["batch_size"]
        plan = Plan.of(n, batch, shape["epochs"], self.config.min_steps)
        optimizer = adamw(net, shape["lr"], shape["weight_decay"])
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lr_factor(shape["warmup_steps"], plan.total, shape["schedule"])
        )

        def train_step(rows: torch.Tensor) -> torch.Tensor:
            x, y, real = tokens[rows], targets[rows], None
            if lengths is not None:  # cut to the batch's longest sequence
                real = lengths[rows]
                width = self._width(real)
                x, y = x[:, :width], (y[:, :width] if cut_targets else y)
            with self._autocast():
                logits = net(x, real)
            loss = F.cross_entropy(
                logits.float().reshape(-1, self.spec.q),
                y.reshape(-1),
                ignore_index=IGNORE,
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.config.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), self.config.grad_clip)
            optimizer.step()
            schedule.step()
            return loss

        train_epochs(
            net,
            n=n,
            batch=batch,
            plan=plan,
            step=train_step,
            seed=callbacks.seed,
            device=self.device,
            callbacks=callbacks,
            n_checkpoints=self.config.n_checkpoints,
            history=self.history,
        )

    def predict(self, data: TaskData) -> np.ndarray:
        if self.net is None or self.spec is None:
            raise RuntimeError("model 'gpt': predict() called before fit()")
        logits_of = self._forward(data, lambda net, x, n: net(x, n))
        size = eval_batch_size(self.config.eval_batch_size, self.device)
        positions = data.query_positions if self.net.config.readout != "sequence" else None
        with self._autocast():
            return query_probabilities(logits_of, len(data), size, data.query_rows, positions)

    # --- optional capabilities -----------------------------------------------------------

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, length) sequences drawn symbol by symbol from the network's next-symbol
        distributions (ancestral sampling at temperature 1), a batch of sequences at a time.
        Each symbol is the inverse CDF of a uniform number from ``rng`` (in float64), so the
        sequences depend on the seed only, never on torch's random state. Needs a fit on a
        next-symbol task (``next-token`` or ``generate``)."""
        if self.net is None or self.spec is None:
            raise RuntimeError("model 'gpt': sample() called before fit()")
        if self.net.config.readout != "next":
            raise invalid("task", self.spec.task, "a next-symbol task to sample (generate)")
        length, q = self.spec.length, self.spec.q
        size = eval_batch_size(self.config.eval_batch_size, self.device)
        out = np.empty((int(n), length), dtype=np.int64)
        self.net.eval()
        with torch.no_grad(), self._autocast():
            for start in range(0, int(n), size):
                rows = min(start + size, int(n)) - start
                tokens = torch.full((rows, 1), self.bos, dtype=torch.long, device=self.device)
                for i in range(length):
                    logits = self.net(tokens)[:, -1].double()  # (rows, q): symbol i's law
                    cdf = torch.cumsum(torch.softmax(logits, dim=-1), dim=-1).cpu().numpy()
                    u = rng.random(rows)[:, None] * cdf[:, -1:]
                    symbols = np.minimum((cdf <= u).sum(axis=1), q - 1)
                    out[start : start + rows, i] = symbols
                    drawn = torch.as_tensor(symbols, device=self.device)[:, None]
                    tokens = torch.cat([tokens, drawn], dim=1)
        return out

    def attention(self, data: TaskData) -> list[np.ndarray]:
        """Per layer, (n, heads, L, L) attention among the symbols of whole sequences (BOS
        first, as for a whole-sequence question). The start token's column is left out and
        each row renormalised over the symbols: row i is how symbol i spreads the attention it
        gives to symbols (causal: over symbols 0..i)."""
        layers = self._layers(data, want="attention")
        out = []
        for weights in layers:
            symbols = weights[:, :, 1:, 1:]
            totals = symbols.sum(axis=-1, keepdims=True)
            out.append(symbols / np.where(totals > 0, totals, 1.0))
        return out

    def hidden_states(self, data: TaskData) -> list[np.ndarray]:
        """Per layer, (n, L, d_model) residual stream at the symbols of whole sequences (BOS
        first; causal, so the vector at symbol i knows symbols 0..i); index 0 is the
        embedding output."""
        return [layer[:, 1:] for layer in self._layers(data, want="hidden")]

    def save(self, path: str | Path) -> Path:
        """Write the weights with the network's shape and the task's spec, atomically."""
        if self.net is None or self.spec is None:
            raise RuntimeError("model 'gpt': save() called before fit()")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "network": self.net.config.as_dict(),
            "training": dict(self.shape),
            "spec": {
                "task": self.spec.task,
                "q": self.spec.q,
                "length": self.spec.length,
                "vocab_size": self.spec.vocab_size,
                "mask_id": self.spec.mask_id,
                "pad_id": self.spec.pad_id,
            },
            "state_dict": self.net.state_dict(),
        }
        with atomic_write(path, field="save") as handle:
            torch.save(checkpoint, handle)
        return path

    def load(self, path: str | Path, device: str = "cpu") -> None:
        """Restore a model written by `save`, ready to predict without ``fit``.

        The network is built from the shape stored in the checkpoint, not from this instance's
        config (a preset may change, saved weights do not). ``weights_only=True``: a
        checkpoint can never run code."""
        path = Path(path)
        self.device = torch.device(device)
        if not path.is_file():
            raise invalid("checkpoint", str(path), "an existing checkpoint file saved by gpt")
        try:
            checkpoint = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # not a torch file, or one that needs unpickling code
            raise invalid("checkpoint", str(path), f"a gpt checkpoint ({exc})") from None
        if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
            raise invalid("checkpoint", str(path), f"a {CHECKPOINT_FORMAT} checkpoint")
        net = GPT(GPTConfig(**checkpoint["network"]))
        try:
            net.load_state_dict(checkpoint["state_dict"])
        except RuntimeError as exc:
            raise invalid("checkpoint", str(path), f"weights of the saved shape ({exc})") from None
        self.net = net.to(self.device).eval()
        self.shape = {**self.shape, **checkpoint["training"]}
        self.spec = TaskSpec(**checkpoint["spec"])

    def resolved_config(self) -> dict:
        """Every option with the preset expanded: what this fit really used."""
        return {**self.config.model_dump(mode="json"), **self.shape}

    def num_parameters(self) -> int:
        """Trainable numbers of the fitted network (the leaderboards' parameters column)."""
        if self.net is None:
            raise RuntimeError("model 'gpt': num_parameters() called before fit()")
        return sum(p.numel() for p in self.net.parameters() if p.requires_grad)

    # --- helpers -------------------------------------------------------------------------

    def _autocast(self):
        """bf16 autocast when asked for (weights and the optimizer stay in fp32)."""
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bf16"
        )

    def _forward(self, data: TaskData, forward, whole: bool = False):
        """``rows(start, stop)``: ``forward(net, tokens, lengths)`` of the input rows
        ``start..stop - 1`` in eval mode (gradients and autocast are the caller's);
        ``whole``: the full sequence BOS first, whatever the readout (for analyses). Padded
        sequences come with their lengths (else None), cut to the batch's longest sequence
        unless ``whole``."""
        if self.net is None:
            raise RuntimeError("model 'gpt': used before fit()")
        self.net.eval()
        tokens = self._tokens(data.inputs)
        lengths = self._lengths(data)
        if whole and self.net.config.readout == "next":
            start_token = torch.full((tokens.shape[0], 1), self.bos, dtype=torch.long)
            tokens = torch.cat([start_token, torch.as_tensor(np.asarray(data.inputs))], dim=1)

        def rows(start: int, stop: int):
            x, real = tokens[start:stop], None
            if lengths is not None:
                real = lengths[start:stop]
                x = x if whole else x[:, : self._width(real)]
                real = real.to(self.device)
            return forward(self.net, x.to(self.device), real)

        return rows

    def _layers(self, data: TaskData, want: str) -> list[np.ndarray]:
        def forward(net, x, lengths):
            _, attention, hidden = net.body(
                x, need_weights=want == "attention", keep_hidden=want == "hidden", lengths=lengths
            )
            return attention if want == "attention" else hidden

        size = eval_batch_size(self.config.eval_batch_size, self.device)
        with self._autocast():
            return stacked_layers(self._forward(data, forward, whole=True), len(data), size)
