"""How hbench's torch models train: seeded generators, the learning-rate schedule, the
log-spaced checkpoint steps, the epoch loop, the prediction batch, the queries' answers
from its logits and the layers' arrays for the analyses.

Each piece decides numbers (which steps see which rows, at what rate), so the two models that
share them train the same way for the same options and seed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hbench.contracts import FitCallbacks
from hbench.errors import invalid


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """While inside, torch's global generators (the CPU's, and the GPU's when ``device`` is
    one) start from ``seed``; afterwards they are as they were. Initialisation and dropout draw
    from them, and a fresh process seeds them at random, so a fit that is to depend on its seed
    alone draws inside."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def checkpoint_steps(total_steps: int, count: int) -> set[int]:
    """``count`` log-spaced step numbers in [1, total_steps] (fewer if they coincide)."""
    if count <= 0 or total_steps <= 0:
        return set()
    return {int(s) for s in np.unique(np.geomspace(1, total_steps, count).round())}


#: ``anneal``: the share of the steps, at the end, over which the rate falls linearly to 0.
ANNEAL_FRACTION = 0.2


def lr_factor(warmup: int, total: int, schedule: str) -> Callable[[int], float]:
    """Learning-rate multiplier per step: linear warm-up, then constant, a cosine to 0, or
    ``anneal`` (constant, then linear to 0 over the last `ANNEAL_FRACTION` of the steps).

    The decay is what lets a short CPU budget end on a well-converged model: the late steps
    average out the gradient noise that a constant rate keeps injecting. ``anneal`` keeps
    the full rate for the late steps of the staircase (a cosine slows them) and still ends
    at 0, so a fit cannot be thrown off by a loss spike in its last steps."""
    anneal_from = total - max(1, round(ANNEAL_FRACTION * total))

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if schedule == "constant":
            return 1.0
        if schedule == "anneal":
            if step < anneal_from:
                return 1.0
            return max(0.0, (total - step) / max(1, total - anneal_from))
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


#: Sequences per prediction batch where the config does not say, by device type. On a CPU a
#: batch's activations should stay in the cache: at the cpu presets 256 predicts 1.9x faster
#: than 4096 (encoder on cpu/root: 6.8 s against 13.1 s a fit; decoder on ambiguous-cpu: 22-26
#: s against 42 s), the numbers identical. A GPU wants large batches.
EVAL_BATCH_SIZE = {"cpu": 256, "cuda": 4096}


def eval_batch_size(configured: int | None, device: torch.device) -> int:
    """The prediction batch: as configured, else `EVAL_BATCH_SIZE` for the device."""
    if configured is not None:
        return configured
    return EVAL_BATCH_SIZE.get(device.type, EVAL_BATCH_SIZE["cuda"])


def query_probabilities(
    logits_of: Callable[[int, int], torch.Tensor],
    n: int,
    batch: int,
    rows: np.ndarray,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """(m, q) float64 probabilities of a task's m queries about ``n`` input rows, one row per
    query in the queries' order, each summing to 1.

    ``logits_of(start, stop)`` is the network's logits for the input rows ``start..stop - 1``:
    (stop - start, q) when each row is asked as a whole (``positions`` None), (stop - start,
    L, q) when every query names a position of its row. Rows go ``batch`` at a time, and a
    batch without a query is never run (but the first, which tells q when none is asked). A
    batch's queries are found by a binary search in the query rows (ascending in `TaskData`;
    sorted once, stably, where they are not), never by comparing every query's row with every
    batch, which made prediction quadratic in the test set (in time, and in memory: past 14 GB
    at 2.3 million sequences). Besides one batch's logits it holds the (m, q) answers and the
    query index; gradients are off throughout."""
    order_rows = torch.as_tensor(np.asarray(rows), dtype=torch.long).contiguous()
    where = None if positions is None else torch.as_tensor(np.asarray(positions), dtype=torch.long)
    order = None  # the queries by row, where they are not listed so
    if order_rows.numel() > 1 and not bool((order_rows[1:] >= order_rows[:-1]).all()):
        order = torch.argsort(order_rows, stable=True)
        order_rows = order_rows[order]
        where = None if where is None else where[order]
    if order_rows.numel() and (int(order_rows[0]) < 0 or int(order_rows[-1]) >= n):
        bad = int(order_rows[0] if order_rows[0] < 0 else order_rows[-1])
        raise invalid("query_rows", bad, f"rows in [0, {n})")
    starts = torch.arange(0, n + batch, batch, dtype=torch.long).clamp_(max=n)
    bounds = torch.searchsorted(order_rows, starts).tolist()  # batch b's queries: b..b + 1
    probabilities = None
    with torch.no_grad():
        for b, start in enumerate(range(0, n, batch)):
            lo, hi = bounds[b], bounds[b + 1]
            if lo == hi and probabilities is not None:  # (the first batch gives q)
                continue
            logits = logits_of(start, min(start + batch, n)).float()
            local = (order_rows[lo:hi] - start).to(logits.device)
            if where is None:
                picked = logits[local]
            else:
                picked = logits[local, where[lo:hi].to(logits.device)]
            if probabilities is None:
                m, q = order_rows.shape[0], logits.shape[-1]
                probabilities = torch.empty((m, q), dtype=torch.double)
            answers = torch.softmax(picked.double(), dim=-1).cpu()
            probabilities[slice(lo, hi) if order is None else order[lo:hi]] = answers
    if probabilities is None:
        return np.zeros((0, 0))
    result = probabilities.numpy()
    result /= result.sum(axis=1, keepdims=True)
    return result


def stacked_layers(
    layers_of: Callable[[int, int], Sequence[torch.Tensor]], n: int, batch: int
) -> list[np.ndarray]:
    """Per-layer arrays (attention maps or hidden states) of ``n`` input rows, each the
    batches' tensors stacked along the rows, in float32 on the CPU.

    ``layers_of(start, stop)`` gives one tensor per layer for the input rows ``start..stop -
    1``; rows go ``batch`` at a time, gradients off. The encoder and the decoder differ only
    in the ``layers_of`` they pass (and the decoder's autocast around the call)."""
    if n <= 0:
        raise invalid("n", n, "at least one input row")
    with torch.no_grad():
        per_batch = [layers_of(start, min(start + batch, n)) for start in range(0, n, batch)]
    return [
        torch.cat([layers[i] for layers in per_batch]).float().cpu().numpy()
        for i in range(len(per_batch[0]))
    ]


@dataclass(frozen=True)
class Plan:
    """How long a fit trains: whole epochs of ``steps_per_epoch`` batches, at least
    ``min_steps`` steps in all (more epochs for a small budget)."""

    epochs: int
    steps_per_epoch: int

    @classmethod
    def of(cls, n: int, batch: int, epochs: int, min_steps: int) -> Plan:
        steps_per_epoch = math.ceil(n / batch)
        return cls(max(epochs, math.ceil(min_steps / steps_per_epoch)), steps_per_epoch)

    @property
    def total(self) -> int:
        return self.epochs * self.steps_per_epoch


def train_epochs(
    net: torch.nn.Module,
    *,
    n: int,
    batch: int,
    plan: Plan,
    step: Callable[[torch.Tensor], torch.Tensor],
    seed: int,
    device: torch.device,
    callbacks: FitCallbacks,
    n_checkpoints: int,
    history: list[dict],
    before_epoch: Callable[[int], None] | None = None,
) -> None:
    """The epoch loop: each epoch visits the n training rows in a fresh order drawn from
    ``seed`` (a generator of its own, so initialisation and dropout never shift it), in
    batches of ``batch``; ``step(rows)`` trains on one batch and returns its loss.
    ``before_epoch(epoch)`` runs after the epoch's order is drawn (fresh masks). The mean loss
    of every epoch goes to ``history``; the harness is asked to evaluate at `n_checkpoints`
    log-spaced steps, and told the progress after every epoch. Leaves ``net`` in eval mode."""
    marks = checkpoint_steps(plan.total, n_checkpoints)
    shuffle = torch.Generator().manual_seed(seed)
    done = 0
    net.train()
    for epoch in range(plan.epochs):
        order = torch.randperm(n, generator=shuffle).to(device)
        if before_epoch is not None:
            before_epoch(epoch)
        running = torch.zeros((), device=device)
        for start in range(0, n, batch):
            running += step(order[start : start + batch]).detach()
            done += 1
            if done in marks:
                callbacks.checkpoint(done)
                net.train()
        loss = float(running) / plan.steps_per_epoch
        history.append({"epoch": epoch + 1, "loss": loss})
        log = getattr(callbacks, "log", None)  # optional: older harnesses offer none
        if log is not None:  # the epoch's mean loss, at the step the checkpoints count in
            log({"loss": loss}, done)
        callbacks.progress(epoch + 1, plan.epochs, "epoch")
    net.eval()
