"""The training loop `lcn` and `torch-module` share: any network from token ids to logits,
trained on the cross-entropy of the training queries with hbench's torch helpers
(`hbench_torch.training`: seeded generators, the learning-rate schedule, the epoch loop with
its checkpoints and progress, the prediction batch).

The queries decide what the network's output is read as. Questions about whole sequences
(``query_positions == WHOLE_SEQUENCE``: root) read logits of shape (batch, q); questions about
positions (mlm, next-token) read (batch, length, q) at each query's position. A network whose
output has another shape is one line before training (`check_output`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from hbench.contracts import WHOLE_SEQUENCE, FitCallbacks, TaskData, TaskSpec
from hbench.errors import UsageError, invalid
from hbench_torch.training import (
    Plan,
    eval_batch_size,
    lr_factor,
    query_probabilities,
    seeded,
    train_epochs,
)

from .configs import TrainingOptions

IGNORE = -100  # cross_entropy's ignore_index: rows or positions without a query


def per_position(data: TaskData) -> bool:
    """Whether ``data``'s queries are about positions (True) or whole sequences (False)."""
    positions = np.asarray(data.query_positions)
    about_positions = positions != WHOLE_SEQUENCE
    if about_positions.any() and not about_positions.all():
        raise invalid(
            "query_positions", "mixed", "all about whole sequences or all about positions"
        )
    return bool(about_positions.any())


def expected_shape(spec: TaskSpec, positions: bool, batch: int = 2) -> tuple[int, ...]:
    return (batch, spec.length, spec.q) if positions else (batch, spec.q)


def check_output(
    net: torch.nn.Module, tokens: torch.Tensor, spec: TaskSpec, positions: bool, label: str
) -> None:
    """One forward pass on two training sequences before any step: a network that fails on
    them, or whose logits have the wrong shape, is one line naming the shape it gave and the
    one the task needs, not a cross-entropy error deep inside the first step."""
    want = expected_shape(spec, positions, tokens.shape[0])
    what = "(batch, length, q)" if positions else "(batch, q)"
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            out = net(tokens)
    except Exception as exc:
        raise UsageError(
            f"{label}: the forward pass on token ids of shape {tuple(tokens.shape)} (int64)"
            f" failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
    finally:
        net.train(was_training)
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
    if shape != want:
        raise UsageError(
            f"{label}: output {shape} for token ids of shape {tuple(tokens.shape)}; task"
            f" {spec.task!r} needs logits {what} = {want}"
        )
    if not out.is_floating_point():
        raise UsageError(f"{label}: output of dtype {out.dtype}; logits must be floating point")


def choose_precision(requested: str, device: torch.device) -> str:
    """``fp32`` or ``bf16``. ``auto`` is bf16 on a GPU with bf16 only: the networks these
    models train are small, and on a CPU autocast's casts cost more than bf16 saves at such
    sizes (as measured for the transformer's cpu preset). An explicit ``bf16`` is honoured
    where autocast can run it."""
    if requested == "fp32":
        return "fp32"
    bf16_gpu = (
        device.type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    )
    if requested == "auto":
        return "bf16" if bf16_gpu else "fp32"
    return "fp32" if device.type == "cuda" and not bf16_gpu else "bf16"


def optimizer(parameters: list[torch.nn.Parameter], options: TrainingOptions) -> torch.optim.AdamW:
    """AdamW, with the fused kernel where this torch has one for the device."""
    kwargs = {"lr": options.lr, "weight_decay": options.weight_decay}
    try:
        return torch.optim.AdamW(parameters, fused=True, **kwargs)
    except (RuntimeError, TypeError):  # an older torch, or no fused kernel for the device
        return torch.optim.AdamW(parameters, **kwargs)


def targets_of(train: TaskData, positions: bool, device: torch.device) -> torch.Tensor:
    """The answers laid out as the output: (n,) per sequence, or (n, length) per position,
    `IGNORE` where there is no query."""
    if train.targets is None:
        raise invalid("train.targets", None, "the answers of the training queries")
    answers = torch.as_tensor(np.asarray(train.targets), dtype=torch.long)
    rows = torch.as_tensor(np.asarray(train.query_rows), dtype=torch.long)
    shape = train.inputs.shape if positions else (train.inputs.shape[0],)
    grid = torch.full(shape, IGNORE, dtype=torch.long)
    if positions:
        grid[rows, torch.as_tensor(np.asarray(train.query_positions), dtype=torch.long)] = answers
    else:
        grid[rows] = answers
    return grid.to(device)


def fit_network(
    net: torch.nn.Module,
    train: TaskData,
    spec: TaskSpec,
    callbacks: FitCallbacks,
    options: TrainingOptions,
    *,
    positions: bool,
    history: list[dict],
) -> str:
    """Train ``net`` (already on the callbacks' device) on ``train``; returns the precision it
    trained in. Batches are drawn from ``callbacks.seed`` and the network's own randomness
    (dropout) from ``seed + 2``, so a fit depends on its seed alone."""
    device = torch.device(callbacks.device)
    precision = choose_precision(options.precision, device)
    tokens = torch.as_tensor(np.asarray(train.inputs), dtype=torch.long, device=device)
    targets = targets_of(train, positions, device)
    n = tokens.shape[0]
    plan = Plan.of(n, options.batch_size, options.epochs, options.min_steps)
    parameters = [p for p in net.parameters() if p.requires_grad]
    adamw = optimizer(parameters, options)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        adamw, lr_factor(options.warmup_steps, plan.total, options.schedule)
    )
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step(rows: torch.Tensor) -> torch.Tensor:
        adamw.zero_grad(set_to_none=True)
        with autocast:
            logits = net(tokens[rows])
        wanted = targets[rows].reshape(-1)
        # the mean over the batch's queries; a batch without any (rows with no query) adds 0
        loss = F.cross_entropy(
            logits.float().reshape(-1, spec.q), wanted, ignore_index=IGNORE, reduction="sum"
        ) / (wanted != IGNORE).sum().clamp(min=1)
        loss.backward()
        if options.clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(parameters, options.clip_norm)
        adamw.step()
        schedule.step()
        return loss

    with seeded(callbacks.seed + 2, device):
        train_epochs(
            net,
            n=n,
            batch=options.batch_size,
            plan=plan,
            step=step,
            seed=callbacks.seed,
            device=device,
            callbacks=callbacks,
            n_checkpoints=options.n_checkpoints,
            history=history,
        )
    return precision


def predict_network(
    net: torch.nn.Module,
    data: TaskData,
    *,
    positions: bool,
    device: torch.device,
    batch: int | None,
) -> np.ndarray:
    """(m, q) probabilities in fp32 arithmetic, one row per query of ``data`` in its order
    (`hbench_torch.training.query_probabilities`: a batch's work and memory are its own,
    whatever the number of sequences). Each batch's tokens are converted to int64 alone."""
    net.eval()
    inputs = np.asarray(data.inputs)

    def logits_of(start: int, stop: int) -> torch.Tensor:
        return net(torch.as_tensor(inputs[start:stop], dtype=torch.long).to(device))

    return query_probabilities(
        logits_of,
        inputs.shape[0],
        eval_batch_size(batch, device),
        data.query_rows,
        data.query_positions if positions else None,
    )


def build_seeded(build: Callable[[], torch.nn.Module], seed: int) -> torch.nn.Module:
    """``build()`` with torch's global generators at ``seed`` (on the CPU: the weights are
    the same on every device), leaving them as they were."""
    with seeded(seed, torch.device("cpu")):
        return build()


def forward_check_tokens(train: TaskData) -> torch.Tensor:
    """The two sequences `check_output` runs: the first two training rows (one if only one)."""
    return torch.as_tensor(np.asarray(train.inputs[:2]), dtype=torch.long)


__all__ = [
    "check_output",
    "choose_precision",
    "fit_network",
    "per_position",
    "predict_network",
]
