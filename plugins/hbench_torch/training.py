"""How hbench's torch models train: seeded generators, the learning-rate schedule, the
log-spaced checkpoint steps, the epoch loop, the prediction batch and the queries' answers
from its logits.

Each piece decides numbers (which steps see which rows, at what rate), so the two models that
share them train the same way for the same options and seed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from hbench.contracts import FitCallbacks


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
    batches: Iterable[tuple[int, int, torch.Tensor]],
    rows: np.ndarray,
    positions: np.ndarray | None = None,
) -> np.ndarray:
    """(m, q) float64 probabilities of a task's m queries from the logits of evaluation
    batches, each row summing to 1.

    ``batches`` yields (start, stop, logits) over consecutive input rows: logits (stop - start,
    q) when each row is asked as a whole (``positions`` None), (stop - start, L, q) when every
    query names a position of its row. `TaskData` lists queries rows ascending, so each batch's
    queries are one slice, found by binary search (never a scan of every query per batch), and
    the answers come out in the queries' order."""
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size > 1 and bool((np.diff(rows) < 0).any()):
        raise ValueError("query_rows must be ascending (the order of TaskData's queries)")
    out: list[torch.Tensor] = []
    q = 0
    for start, stop, logits in batches:
        q = int(logits.shape[-1])
        lo, hi = np.searchsorted(rows, [start, stop])
        if lo == hi:
            continue
        index = torch.as_tensor(rows[lo:hi] - start, device=logits.device)
        if positions is None:
            chosen = logits[index]
        else:
            at = torch.as_tensor(np.asarray(positions[lo:hi], dtype=np.int64), device=logits.device)
            chosen = logits[index, at]
        out.append(torch.softmax(chosen.double(), dim=-1).cpu())
    if not out:
        return np.empty((0, q), dtype=np.float64)
    probabilities = torch.cat(out).numpy()
    if probabilities.shape[0] != rows.shape[0]:
        raise ValueError(
            f"the batches covered {probabilities.shape[0]} of {rows.shape[0]} queries: query_rows"
            " must be ascending and within the batches' rows"
        )
    return probabilities / probabilities.sum(axis=1, keepdims=True)


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
