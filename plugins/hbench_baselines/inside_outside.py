"""The E-step of `tree-em`: expected production counts on a fixed tree, by inside-outside.

For a tree of arity s and depth l whose shape is known (node j at depth d has children
s*j .. s*j + s - 1) and whose rules are the production tensors M_d[a, b_1, ..., b_s], the
expected number of times parent a produced children (b_1, ..., b_s) at the internal nodes of
depth d, given the evidence (observed leaves, and optionally clamped internal nodes such as
the root label of the training set), is

    C_d[a, b] = sum over sequences and nodes of depth d of P(node = a, children = b | evidence)
              = M_d[a, b] * sum_{seq, node} w[a] u_1[b_1] ... u_s[b_s] / Z,

where u_i are the children's inside (upward) messages, w = outside(node) * evidence(node) and
Z = sum_{a, b} w[a] M_d[a, b] u_1[b_1] ... u_s[b_s] the same for every node of a sequence
(P(evidence) in the messages' units). The sum over sequences and nodes is one (q, N) @ (N, q**s)
matmul per level, N = sequences x nodes; the messages are batched over the sequences of a chunk
and the nodes of a level, never a Python loop per sequence or per node (the only loops run over
levels, chunks and the arity).

Messages are (width, q, n) arrays, normalised to sum 1 when made; the logs of the upward
normalisers give the log-likelihood of the evidence, which EM maximises and restarts compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hbench_tree.messages import child_slices, outer

#: Numbers held by one level's outer products in a chunk (sequences x nodes x q**s): the
#: chunk's working set stays in the tens of megabytes whatever the training set.
CHUNK_NUMBERS = 1 << 16


@dataclass(frozen=True)
class Counts:
    """Expected sufficient statistics of a batch of evidence."""

    productions: np.ndarray  # (depth, q, q**s): C_d of the parents at each depth d
    root: np.ndarray  # (q,): sum over sequences of P(root = a | evidence)
    loglik: float  # sum over sequences of log P(evidence)


def _normalise(messages: np.ndarray) -> np.ndarray:
    """Scale each message (axis 1 of (w, q, n)) to sum 1, in place; returns the sums (w, n)
    (an all-zero message stays zero)."""
    totals = messages.sum(axis=1)
    messages /= np.where(totals > 0, totals, 1.0)[:, None, :]
    return totals


def _evidence(values: np.ndarray | None, n: int, width: int, q: int) -> np.ndarray | None:
    """(width, q, n): one-hot at clamped symbols, ones where free (-1); None if none given."""
    if values is None:
        return None
    values = np.asarray(values, dtype=np.int64).reshape(n, width)
    table = np.vstack([np.eye(q), np.ones(q)])  # row q (= -1 % (q + 1)): free
    return np.ascontiguousarray(np.take(table, (values % (q + 1)).T, axis=0).transpose(0, 2, 1))


#: Largest table of the leaves' parents, (q + 1)**s x q**s numbers: above it the bottom level
#: is contracted like any other.
MAX_LEAF_TABLE = 1 << 20


def _leaf_table(q: int, s: int) -> np.ndarray | None:
    """Row t: the outer product of the s leaf messages of tuple t (symbols 0..q-1, q for an
    unobserved leaf: all ones), ((q + 1)**s, q**s); None when too big."""
    if (q + 1) ** s * q**s > MAX_LEAF_TABLE:
        return None
    rows = np.vstack([np.eye(q), np.ones(q)])  # (q + 1, q)
    table = rows
    for _ in range(s - 1):
        table = (table[:, None, :, None] * rows[None, :, None, :]).reshape(
            table.shape[0] * (q + 1), -1
        )
    return table


def _tuple_index(leaves: np.ndarray, q: int, s: int) -> np.ndarray:
    """(n, L) leaves -> (L / s, n): each leaves' parent's row of `_leaf_table`."""
    values = leaves % (q + 1)  # -1 (unobserved) -> q
    index = values[:, 0::s]
    for i in range(1, s):  # over the arity
        index = index * (q + 1) + values[:, i::s]
    return np.ascontiguousarray(index.T)


def expected_counts(
    productions: np.ndarray,
    prior: np.ndarray,
    leaves: np.ndarray,
    *,
    arity: int,
    clamp: Mapping[int, np.ndarray] | None = None,
    weights: np.ndarray | None = None,
) -> Counts:
    """Expected production counts at every depth, root counts and log-likelihood.

    ``productions``: (depth, q, ..., q) one tensor per level (repeat a shared one); ``prior``:
    (q,); ``leaves``: int (n, s**depth), -1 = unobserved; ``clamp``: {depth d: int (n, s**d)}
    internal nodes (d = 0: the root, shape (n,) or (n, 1)) fixed to a symbol, -1 = free;
    ``weights``: (n,) a count per sequence (default 1 each).
    """
    depth = productions.shape[0]
    q = productions.shape[-1]
    s = int(arity)
    flat = np.ascontiguousarray(productions.reshape(depth, q, -1))
    n, length = leaves.shape
    if length != s**depth:
        raise ValueError(f"{length} leaves, but arity {s} and depth {depth} make {s**depth}")
    clamp = dict(clamp or {})
    weights = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    chunk = max(1, CHUNK_NUMBERS // max(1, length // s * q**s))
    counts, root, loglik = np.zeros_like(flat), np.zeros(q), 0.0
    for start in range(0, n, chunk):  # over chunks of sequences, each batched
        stop = min(start + chunk, n)
        part = {d: np.asarray(v)[start:stop] for d, v in clamp.items()}
        rows = leaves[start:stop]
        loglik += _chunk(flat, prior, rows, s, part, weights[start:stop], counts, root)
    return Counts(counts, root, float(loglik))


# Messages of one depth are (width, q, n): node, symbol, sequence, the long sequence axis last
# (as in the tree plugin's BP), so every product and sum runs over contiguous rows.


def _chunk(
    flat: np.ndarray,
    prior: np.ndarray,
    leaves: np.ndarray,
    s: int,
    clamp: Mapping[int, np.ndarray],
    weights: np.ndarray,
    counts: np.ndarray,
    root_counts: np.ndarray,
) -> float:
    """Add one chunk's expected counts to ``counts`` and ``root_counts``; its log-likelihood."""
    depth, q = flat.shape[0], flat.shape[1]
    n, length = leaves.shape
    evidence = {d: _evidence(clamp.get(d), n, s**d, q) for d in range(depth)}
    log_norm = np.zeros(n)

    # Upward: inside messages up[d] (s**d, q, n) with each node's own evidence; outers[d] and
    # inners[d] = M_d (x) children (before the evidence) are kept for the counts and for Z.
    bottom = depth - 1
    table = _leaf_table(q, s)
    if table is not None:  # the leaves' parents: looked up by their children's tuple
        tuples = _tuple_index(leaves, q, s)  # (s**bottom, n)
        up = {}
    else:
        up = {depth: _evidence(leaves, n, length, q)}
    outers: dict[int, np.ndarray] = {}
    inners: dict[int, np.ndarray] = {}
    for d in range(depth - 1, -1, -1):
        if d == bottom and table is not None:
            inners[d] = np.take(flat[d] @ table.T, tuples, axis=1).transpose(1, 0, 2)
        else:
            outers[d] = outer(child_slices(up[d + 1], s))
            inners[d] = np.matmul(flat[d], outers[d])  # (s**d, q, n)
        # a copy: inners[d] stays in the units of outers[d]
        message = inners[d].copy() if evidence[d] is None else inners[d] * evidence[d]
        with np.errstate(divide="ignore"):
            log_norm += np.log(_normalise(message)).sum(axis=0)
        up[d] = message
    joint = prior[None, :, None] * up[0]
    with np.errstate(divide="ignore"):
        loglik = log_norm + np.log(_normalise(joint)[0])
    possible = np.isfinite(loglik)
    scale = np.where(possible, weights, 0.0)
    root_counts += joint[0] @ scale

    # Downward: outside messages (s**d, q, n), without the node's own evidence.
    outside = np.broadcast_to(prior[None, :, None], (1, q, n))
    for d in range(depth):
        w = outside if evidence[d] is None else outside * evidence[d]
        z = (w * inners[d]).sum(axis=1)  # (s**d, n): P(evidence), the same at every node
        factor = w * (scale / np.where(z > 0, z, 1.0))[:, None, :]
        if d == bottom and table is not None:
            # sum the factors of the nodes that share a tuple of leaves, then expand the tuples
            keys, size = tuples.ravel(), table.shape[0]
            by_tuple = np.stack([np.bincount(keys, factor[:, a].ravel(), size) for a in range(q)])
            counts[d] += flat[d] * (by_tuple @ table)
        else:
            counts[d] += flat[d] * np.matmul(factor, outers[d].transpose(0, 2, 1)).sum(axis=0)
        if d == bottom:
            break
        spread = np.matmul(flat[d].T, w)  # (s**d, q**s, n): w[a] M[a, b_1 .. b_s]
        spread = spread.reshape((s**d,) + (q,) * s + (n,))
        children = [up[d + 1][i::s] for i in range(s)]
        to_child = []
        for i in range(s):  # over the arity: every child but i summed out with its message
            message = spread
            for j in range(s):
                if j != i:
                    shape = [1] * s
                    shape[j] = q
                    message = message * children[j].reshape((s**d, *shape, n))
            axes = tuple(1 + j for j in range(s) if j != i)
            to_child.append(message.sum(axis=axes))
        outside = np.stack(to_child, axis=1).reshape(s ** (d + 1), q, n)
        _normalise(outside)
    return float(np.where(possible, loglik, 0.0) @ scale)


__all__ = ["CHUNK_NUMBERS", "Counts", "expected_counts"]
