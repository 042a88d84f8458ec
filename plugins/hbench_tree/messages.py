"""The message algebra of belief propagation on a tree of arity s, shared by the marginals
pass (`hbench_tree.bp.BeliefPropagation.run`) and the next-token pass
(`BeliefPropagation.next_token`).

Messages of one depth are held as (width, q, m): node, symbol, sequence. The sequence axis is
last and long, so every elementwise product, sum over symbols and normalisation runs over
contiguous rows of m numbers; child i of every node of a level is the slice [i::s] of the node
axis; and a contraction with M is one (q, q**s) @ (q**s, m) matmul per node.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import numpy as np


def normalise(messages: np.ndarray, log_norm: np.ndarray | None = None) -> np.ndarray:
    """Scale each message to sum 1 over symbols, in place; add the logs of the sums to log_norm.

    An all-zero message (impossible evidence) stays zero and adds -inf.
    """
    totals = messages.sum(axis=1, keepdims=True)
    if log_norm is not None:
        with np.errstate(divide="ignore"):
            log_norm += np.log(totals[:, 0]).sum(axis=0)
    messages /= np.where(totals > 0, totals, 1.0)
    return messages


def beliefs(messages: np.ndarray) -> np.ndarray:
    """Normalised beliefs as (m, width, q); uniform where the evidence is impossible."""
    totals = messages.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = messages / totals
    if not totals.all():
        np.copyto(out, 1.0 / messages.shape[1], where=totals == 0)
    return out.transpose(2, 0, 1)


def outer(messages: Sequence[np.ndarray]) -> np.ndarray:
    """[(w, q_1, m), (w, q_2, m), ...] -> (w, q_1 q_2 ..., m): the outer product of the
    messages of each node, the first one's symbol varying slowest."""
    outer = messages[0]
    for message in messages[1:]:
        w, r, m = outer.shape
        outer = (outer[:, :, None, :] * message[:, None, :, :]).reshape(w, r * message.shape[1], m)
    return outer


def contract(messages: Sequence[np.ndarray], kernel: np.ndarray) -> np.ndarray:
    """(w, q, m) each -> (w, q, m): the outer product of the messages of each node, contracted
    with a (q, q**len) arrangement of M in one matmul."""
    return np.matmul(kernel, outer(messages))


def others(messages: np.ndarray, s: int) -> np.ndarray:
    """Each node's product of its s - 1 siblings' messages (nodes s*j .. s*j + s - 1 are
    siblings), without a division; for s = 2 the sibling's message itself."""
    w, q, m = messages.shape
    groups = messages.reshape(w // s, s, q, m)
    if s == 2:
        return groups[:, ::-1].reshape(w, q, m)
    out = np.empty_like(groups)
    for i in range(s):  # over the arity, not over nodes
        out[:, i] = reduce(np.multiply, [groups[:, j] for j in range(s) if j != i])
    return out.reshape(w, q, m)


def child_slices(messages: np.ndarray, s: int) -> list[np.ndarray]:
    """The messages of child i of every parent, for i in 0..s-1: slices [i::s]."""
    return [messages[i::s] for i in range(s)]


def interleave(children: Sequence[np.ndarray]) -> np.ndarray:
    """Inverse of `child_slices`: s arrays (w, q, m) -> (s*w, q, m), child i of parent j at
    s*j + i."""
    _, q, m = children[0].shape
    return np.stack(children, axis=1).reshape(-1, q, m)
