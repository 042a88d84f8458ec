"""The `transformer` model plugin: trains `network.Transformer` under the hbench model contract.

Training data lives on the device for the whole fit; each step indexes a batch out of it, and
the loss is read back once per epoch, not per step, so a GPU never waits on the host.
Checkpoints are plain state dicts with the resolved configuration, loaded with
``torch.load(weights_only=True)``: no pickle of code, ever.

Sequences of varying length (`TaskSpec.pad_id`, `TaskData.lengths`) train and predict in
batches cut to their longest sequence, with the padding masked out of attention and pooling
(`network.py`), and masks redrawn only at real positions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hbench.contracts import FitCallbacks, ModelCapabilities, TaskData, TaskSpec
from hbench.errors import UsageError, invalid
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

from .acceleration import CompiledStep, autocast, choose_precision
from .configs import TransformerConfig
from .network import Transformer

CHECKPOINT_FORMAT = "hbench-transformer"
CHECKPOINT_VERSION = 1
#: The options that decide the shape of the encoder: they must match to load one.
ENCODER_SHAPE = ("d_model", "n_layers", "n_heads", "d_ff")
IGNORE = -100  # cross_entropy's ignore_index: positions that are not queries


def adam(parameters: list[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel where this torch has one for the device (one kernel per
    step instead of several per tensor: about 1.3x faster training for the cpu preset)."""
    try:
        return torch.optim.Adam(parameters, lr=lr, fused=True)
    except (RuntimeError, TypeError):  # an older torch without fused Adam on this device
        return torch.optim.Adam(parameters, lr=lr)


def load_checkpoint(path: Path, device: torch.device, field: str = "init") -> dict:
    """A saved model, or a UsageError naming ``field`` and what is wrong with the file."""
    if not path.is_file():
        raise invalid(field, str(path), "an existing checkpoint file saved by this model")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # not a torch file, or one that needs unpickling code
        raise invalid(field, str(path), f"a checkpoint saved by this model ({exc})") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise invalid(field, str(path), f"a {CHECKPOINT_FORMAT} checkpoint")
    return checkpoint


class Remasker:
    """Fresh mlm masks every epoch, from the training sequences completed with their answers.

    Every masked position of a training sequence comes with its answer, so the complete
    sequence is known; masking other positions of it is more questions from the same P
    sequences, not more data. Each sequence keeps its number of masked positions (so the
    task's mask rate is kept), at positions drawn uniformly without replacement; with
    ``lengths`` (padded sequences), among its real positions only."""

    def __init__(
        self,
        tokens: torch.Tensor,
        targets: torch.Tensor,
        mask_id: int,
        seed: int,
        count: int | None = None,
        lengths: torch.Tensor | None = None,
    ):
        masked = targets != IGNORE
        self.complete = torch.where(masked, targets, tokens)
        self.counts = masked.sum(dim=1)
        if count is not None:  # the same number of masks in every sequence that has any
            most = min(count, tokens.shape[1]) if lengths is None else lengths.clamp(max=count)
            self.counts = torch.where(self.counts > 0, most, 0)
        self.padding = None
        if lengths is not None:  # never drawn: keys above every uniform
            self.padding = torch.arange(tokens.shape[1], device=tokens.device) >= lengths[:, None]
        self.mask_id = mask_id
        self.generator = torch.Generator().manual_seed(seed + 1)

    def draw(self) -> tuple[torch.Tensor, torch.Tensor]:
        n, length = self.complete.shape
        keys = torch.rand(n, length, generator=self.generator).to(self.complete.device)
        if self.padding is not None:
            keys = keys.masked_fill(self.padding, 2.0)
        kth = keys.sort(dim=1).values.gather(1, (self.counts - 1).clamp(min=0)[:, None])
        mask = (keys <= kth) & (self.counts > 0)[:, None]
        tokens = self.complete.masked_fill(mask, self.mask_id)
        targets = self.complete.masked_fill(~mask, IGNORE)
        return tokens, targets


class TransformerModel:
    """Encoder-only transformer; see `network.py` for the architecture."""

    capabilities = ModelCapabilities(
        attention=True, hidden_states=True, save=True, variable_length=True
    )

    def __init__(self, config: TransformerConfig | None = None) -> None:
        self.config = config or TransformerConfig()
        self.shape = self.config.resolved()
        self.net: Transformer | None = None
        self.spec: TaskSpec | None = None
        self.device = torch.device("cpu")
        self.history: list[dict] = []  # per epoch: mean training loss
        self.compile_s: float | None = None  # with compile=true: seconds of the first step

    # --- building ------------------------------------------------------------------------

    def _build(self, spec: TaskSpec, seed: int) -> Transformer:
        shape = self.shape
        checkpoint = None
        vocab_size = spec.vocab_size
        if self.config.init is not None:
            checkpoint = load_checkpoint(self.config.init, self.device)
            saved = checkpoint["config"]
            wrong = [k for k in ENCODER_SHAPE if saved.get(k) != shape[k]]
            if wrong:
                given = ", ".join(f"{k}={shape[k]} (saved {saved.get(k)})" for k in wrong)
                raise invalid("init", str(self.config.init), f"an encoder of this shape: {given}")
            if checkpoint["length"] != spec.length or checkpoint["vocab_size"] < spec.vocab_size:
                raise invalid(
                    "init",
                    str(self.config.init),
                    f"an encoder for sequences of {spec.length} tokens over >= {spec.vocab_size}"
                    f" symbols (saved: {checkpoint['length']}, {checkpoint['vocab_size']})",
                )
            vocab_size = checkpoint["vocab_size"]  # an mlm encoder keeps its mask token
        with seeded(seed, torch.device("cpu")):  # built on the CPU, then moved
            net = Transformer(
                task=spec.task,
                q=spec.q,
                vocab_size=vocab_size,
                length=spec.length,
                d_model=shape["d_model"],
                n_layers=shape["n_layers"],
                n_heads=shape["n_heads"],
                d_ff=shape["d_ff"],
                dropout=shape["dropout"],
                pooling=shape["pooling"],
            )
        if checkpoint is not None:
            encoder = {
                key.removeprefix("encoder."): value
                for key, value in checkpoint["state_dict"].items()
                if key.startswith("encoder.")
            }
            net.encoder.load_state_dict(encoder)
            if self.config.freeze_encoder:
                net.encoder.requires_grad_(False)
        return net.to(self.device)

    # --- the model contract --------------------------------------------------------------

    def fit(self, train: TaskData, spec: TaskSpec, callbacks: FitCallbacks) -> None:
        if spec.task not in ("root", "mlm"):
            raise UsageError(f"model 'transformer' has heads for root and mlm, not {spec.task!r}")
        self.device = torch.device(callbacks.device)
        self.spec = spec
        self.net = net = self._build(spec, callbacks.seed)
        self.compile_s = None
        precision = choose_precision(self.shape["precision"], self.shape, self.device)
        self.shape = shape = {**self.shape, "precision": precision}  # what a result records
        step_with = CompiledStep(net, self.config.compile)

        def forward_backward(forward, x: torch.Tensor, y: torch.Tensor, keep=None) -> torch.Tensor:
            with autocast(self.device, precision):
                loss = self._loss(forward(x) if keep is None else forward(x, keep), y, spec)
            loss.backward()
            return loss

        tokens = torch.as_tensor(train.inputs, dtype=torch.long, device=self.device)
        targets = self._training_targets(train, spec)
        lengths = self._lengths(train, spec)
        masker = None
        if spec.task == "mlm" and self.config.remask:
            masker = Remasker(
                tokens, targets, spec.mask_id, callbacks.seed, self.config.train_masks, lengths
            )
        n, batch = tokens.shape[0], shape["batch_size"]
        suffix = "_mlm" if spec.task == "mlm" else ""
        plan = Plan.of(n, batch, shape[f"epochs{suffix}"], self.config.min_steps)
        parameters = [p for p in net.parameters() if p.requires_grad]
        optimizer = adam(parameters, shape["lr"])
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lr_factor(shape["warmup_steps"], plan.total, shape[f"schedule{suffix}"]),
        )
        # a preset's clipping is root's; mlm clips only when asked to (``clip_norm``)
        clip_norm = shape["clip_norm"] if spec.task == "root" else self.config.clip_norm
        current = {"tokens": tokens, "targets": targets}  # fresh masks every epoch (remask)

        def remask(epoch: int) -> None:
            if masker is not None and (epoch > 0 or self.config.train_masks is not None):
                # epoch 0 trains on the masks as given, unless their number is changed
                current["tokens"], current["targets"] = masker.draw()

        def train_step(rows: torch.Tensor) -> torch.Tensor:
            optimizer.zero_grad(set_to_none=True)
            x, y = current["tokens"][rows], current["targets"][rows]
            if lengths is None:
                loss = step_with(forward_backward, x, y)
            else:  # cut to the batch's longest sequence, the padding masked
                real = lengths[rows]
                width = int(real.max())
                keep = torch.arange(width, device=self.device) < real[:, None]
                y = y[:, :width] if spec.task == "mlm" else y
                loss = step_with(forward_backward, x[:, :width], y, keep)
            if clip_norm:  # None or 0: never
                torch.nn.utils.clip_grad_norm_(parameters, clip_norm)
            optimizer.step()
            schedule.step()
            return loss

        # dropout's own stream, apart from init (seed) and the masks (seed + 1)
        with seeded(callbacks.seed + 2, self.device):
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
                before_epoch=remask,
            )
        self.compile_s = step_with.compile_s
        if self.config.save is not None:
            self.save(self.config.save)

    def predict(self, data: TaskData) -> np.ndarray:
        if self.net is None or self.spec is None:
            raise RuntimeError("model 'transformer': predict() called before fit()")
        logits_of = self._forward(data, lambda net, x, keep: net(x, keep))
        size = eval_batch_size(self.config.eval_batch_size, self.device)
        positions = data.query_positions if self.spec.task == "mlm" else None
        return query_probabilities(logits_of, len(data), size, data.query_rows, positions)

    # --- optional capabilities -----------------------------------------------------------

    def attention(self, data: TaskData) -> list[np.ndarray]:
        """Per layer, (n, heads, L, L) attention weights (each row sums to 1)."""
        return self._layers(data, want="attention")

    def hidden_states(self, data: TaskData) -> list[np.ndarray]:
        """Per layer, (n, L, d_model) token vectors; index 0 is the embedding output."""
        return self._layers(data, want="hidden")

    def save(self, path: str | Path) -> Path:
        """Write the weights with the resolved configuration, atomically."""
        if self.net is None or self.spec is None:
            raise RuntimeError("model 'transformer': save() called before fit()")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        checkpoint = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": dict(self.shape),
            "task": self.spec.task,
            "q": self.spec.q,
            "length": self.spec.length,
            "pad_id": self.spec.pad_id,
            "vocab_size": self.net.encoder.embedding.num_embeddings,
            "state_dict": self.net.state_dict(),
        }
        with atomic_write(path, "wb", field="save") as handle:  # never a half-written model
            torch.save(checkpoint, handle)
        return path

    # --- helpers -------------------------------------------------------------------------

    def _training_targets(self, train: TaskData, spec: TaskSpec) -> torch.Tensor:
        if train.targets is None:
            raise invalid("train.targets", None, "the answers of the training queries")
        answers = torch.as_tensor(train.targets, dtype=torch.long)
        if spec.task == "root":
            return answers.to(self.device)
        grid = torch.full(train.inputs.shape, IGNORE, dtype=torch.long)
        grid[torch.as_tensor(train.query_rows), torch.as_tensor(train.query_positions)] = answers
        return grid.to(self.device)

    def _lengths(self, data: TaskData, spec: TaskSpec) -> torch.Tensor | None:
        """The rows' lengths on the device where sequences vary (`TaskSpec.pad_id`), else
        None; padded inputs without them are refused in one line."""
        if spec.pad_id is None:
            return None
        if data.lengths is None:
            raise invalid("lengths", None, "the (n,) lengths of inputs padded with pad_id")
        lengths = torch.as_tensor(np.asarray(data.lengths), dtype=torch.long)
        if lengths.shape != (len(data),) or (len(data) and int(lengths.min()) < 1):
            raise invalid("lengths", f"shape {tuple(lengths.shape)}", f"({len(data)},) >= 1")
        return lengths.to(self.device)

    @staticmethod
    def _loss(logits: torch.Tensor, targets: torch.Tensor, spec: TaskSpec) -> torch.Tensor:
        if spec.task == "root":
            return F.cross_entropy(logits, targets)
        return F.cross_entropy(logits.reshape(-1, spec.q), targets.reshape(-1), ignore_index=IGNORE)

    def _forward(self, data: TaskData, forward, cut: bool = True):
        """``rows(start, stop)``: ``forward(net, tokens, keep)`` of the input rows
        ``start..stop - 1``, in eval mode (gradients are the caller's to turn off), in fp32
        whatever the training precision (see acceleration.py). Padded sequences (`TaskSpec.
        pad_id`) come with ``keep``, their real tokens, and with ``cut`` cut to the batch's
        longest sequence."""
        if self.net is None or self.spec is None:
            raise RuntimeError("model 'transformer': used before fit()")
        self.net.eval()
        tokens = torch.as_tensor(data.inputs, dtype=torch.long)
        lengths = self._lengths(data, self.spec)

        def rows(start: int, stop: int):
            x, keep = tokens[start:stop].to(self.device), None
            if lengths is not None:
                real = lengths[start:stop]
                width = int(real.max()) if cut else x.shape[1]
                x = x[:, :width]
                keep = torch.arange(width, device=self.device) < real[:, None]
            return forward(self.net, x, keep)

        return rows

    def _layers(self, data: TaskData, want: str) -> list[np.ndarray]:
        def forward(net, x, keep):
            _, attention, hidden = net.encoder(
                x, need_weights=want == "attention", keep_hidden=want == "hidden", keep=keep
            )
            return attention if want == "attention" else hidden

        size = eval_batch_size(self.config.eval_batch_size, self.device)
        return stacked_layers(self._forward(data, forward, cut=False), len(data), size)

    # --- restoring a saved model (analyses) ----------------------------------------------

    def load(self, path: str | Path, device: str = "cpu") -> None:
        """Restore a model written by `save`, ready to predict without ``fit``.

        The network is built from the sizes stored in the checkpoint, not from this instance's
        config: a preset may change between hbench versions, the saved weights do not. Loaded
        with ``torch.load(weights_only=True)``, so a checkpoint can never run code.
        """
        self.device = torch.device(device)
        checkpoint = load_checkpoint(Path(path), self.device, field="checkpoint")
        saved, task, q = dict(checkpoint["config"]), checkpoint["task"], int(checkpoint["q"])
        vocab_size, length = int(checkpoint["vocab_size"]), int(checkpoint["length"])
        net = Transformer(
            task=task,
            q=q,
            vocab_size=vocab_size,
            length=length,
            d_model=saved["d_model"],
            n_layers=saved["n_layers"],
            n_heads=saved["n_heads"],
            d_ff=saved["d_ff"],
            dropout=saved["dropout"],
            pooling=saved.get("pooling", "flatten"),
        )
        try:
            net.load_state_dict(checkpoint["state_dict"])
        except RuntimeError as exc:
            raise invalid("checkpoint", str(path), f"weights of the saved shape ({exc})") from None
        self.net = net.to(self.device).eval()
        self.shape = {**self.shape, **saved}
        pad_id = checkpoint.get("pad_id")
        self.spec = TaskSpec(
            task=task,
            q=q,
            length=length,
            vocab_size=(q + 1 if task == "mlm" else q) + (pad_id is not None),
            mask_id=q if task == "mlm" else None,
            pad_id=None if pad_id is None else int(pad_id),
        )

    def resolved_config(self) -> dict:
        """Every option with the preset expanded: what this fit really used."""
        return {**self.config.model_dump(mode="json"), **self.shape}

    def num_parameters(self) -> int:
        """Trainable numbers of the fitted network (the leaderboards' parameters column)."""
        if self.net is None:
            raise RuntimeError("model 'transformer': num_parameters() called before fit()")
        return sum(p.numel() for p in self.net.parameters() if p.requires_grad)
