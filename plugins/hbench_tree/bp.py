"""Exact belief propagation on a (filtered) binary tree, batched over sequences and nodes.

The factor graph of a model filtered at level k has two parts:

* below depth k, the binary tree with the production factor M[a, b, c] on every internal node;
* above it, a star: the root linked to each depth-k node j by the transition T_j[a, b].

Upward (inside) messages u are P(leaves below | node), computed one level at a time for all
nodes and sequences of a chunk at once: u_parent = (u_left (x) u_right) @ M, a single matmul. The
star's 2**k factors v_j = T_j u_j meet at the root; they are multiplied pairwise in a binary
tree of products, which also gives every "all but j" product (the cavity of j) on the way down
without a division, so zero probabilities (ambiguous or sparse grammars) need no special case.
Downward (outside) messages o are P(node, leaves outside its subtree) up to a constant:
o_left = (o_parent (x) u_right) @ M and likewise on the right. Beliefs are normalised o * u.

Every message is normalised to sum 1 when it is made; the logs of the normalisers of the upward
pass add up to log P(observed leaves), which stays finite at any depth. Masked leaves (-1) get
the all-ones message, so they are summed out and get their posterior from the downward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hbench.contracts import MASKED, Posteriors
from hbench.errors import invalid
from hbench.run.memory import check_fits

from .grammar import TreeGrammar
from .sampler import default_workers, run_blocks

#: Leaf positions per chunk (sequences x leaves) at q = 4, scaled by 16 / q**2 for other q: the
#: outer products of a level take q**2 numbers per node, and a chunk should stay near the cache.
CHUNK_LEAVES = 1 << 17
#: Arrays of q numbers per leaf position alive at once inside a chunk (messages of every
#: level, up and down, and temporaries), for the working-memory estimate.
WORKING_ARRAYS = 8


def check_leaves(leaves: np.ndarray, model: TreeGrammar, field: str = "leaves") -> np.ndarray:
    """Validate a leaf array: shape (n, 2**depth), integer symbols in [-1, q)."""
    arr = np.asarray(leaves)
    if arr.ndim == 1 and arr.shape[0] == model.length:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != model.length:
        raise invalid(
            field,
            f"array of shape {arr.shape}",
            f"shape (n, {model.length}) for depth {model.depth}",
        )
    whole = np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))
    if arr.size and not np.issubdtype(arr.dtype, np.integer) and not whole:
        raise invalid(field, f"array of dtype {arr.dtype}", "integer symbols")
    if arr.size:
        low, high = arr.min(), arr.max()
        if low < MASKED or high >= model.q:
            bad = low if low < MASKED else high
            row, col = np.argwhere(arr == bad)[0]
            raise invalid(
                f"{field}[{row}, {col}]", int(bad), f"a symbol in [0, {model.q}) or -1 (masked)"
            )
    # Integer input stays as given (int8 from the sampler): each chunk casts its own rows, so
    # the working memory does not grow with n.
    return arr if np.issubdtype(arr.dtype, np.integer) else arr.astype(np.int64)


# Messages of one depth are held as (width, q, m): node, symbol, sequence. The sequence axis is
# last and long, so every elementwise product, sum over symbols and normalisation runs over
# contiguous rows of m numbers; children of a level are the slices [0::2] and [1::2] of the
# node axis; and a contraction with M is one (q, q*q) @ (q*q, m) matmul per node.


def _normalise(messages: np.ndarray, log_norm: np.ndarray | None = None) -> np.ndarray:
    """Scale each message to sum 1 over symbols, in place; add the logs of the sums to log_norm.

    An all-zero message (impossible evidence) stays zero and adds -inf.
    """
    totals = messages.sum(axis=1, keepdims=True)
    if log_norm is not None:
        with np.errstate(divide="ignore"):
            log_norm += np.log(totals[:, 0]).sum(axis=0)
    messages /= np.where(totals > 0, totals, 1.0)
    return messages


def _beliefs(messages: np.ndarray) -> np.ndarray:
    """Normalised beliefs as (m, width, q); uniform where the evidence is impossible."""
    totals = messages.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        beliefs = messages / totals
    if not totals.all():
        np.copyto(beliefs, 1.0 / messages.shape[1], where=totals == 0)
    return beliefs.transpose(2, 0, 1)


def _pair(first: np.ndarray, second: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """(w, q, m) x (w, q, m) -> (w, q, m): the outer product of the two messages of each node,
    contracted with a (q, q*q) arrangement of M in one matmul."""
    w, q, m = first.shape
    outer = first[:, :, None, :] * second[:, None, :, :]
    return np.matmul(kernel, outer.reshape(w, q * q, m))


def _swap_siblings(messages: np.ndarray) -> np.ndarray:
    """Each node's sibling's message: nodes (2j, 2j + 1) exchanged."""
    w, q, m = messages.shape
    return messages.reshape(w // 2, 2, q, m)[:, ::-1].reshape(w, q, m)


@dataclass(frozen=True, eq=False)
class BeliefPropagation:
    """Exact inference for one `TreeGrammar`; kernels are built once and reused for every chunk."""

    model: TreeGrammar

    @cached_property
    def kernels(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """M arranged for the up pass and the left/right down passes, each (q, q*q)."""
        m, q = self.model.productions, self.model.q
        up = m.reshape(q, q * q)  # [a, (b, c)]
        down_left = m.transpose(1, 0, 2).reshape(q, q * q)  # [b, (a, c)]
        down_right = m.transpose(2, 0, 1).reshape(q, q * q)  # [c, (a, b)]
        return up, np.ascontiguousarray(down_left), np.ascontiguousarray(down_right)

    @cached_property
    def evidence(self) -> np.ndarray:
        """Row s: the message of a leaf showing symbol s; the last row (index -1, masked):
        all ones, so that a masked leaf is summed out."""
        return np.vstack([np.eye(self.model.q), np.ones(self.model.q)])

    @cached_property
    def one_hot(self) -> np.ndarray:
        """Row s: the posterior of an observed leaf s (the last row, for masked: zeros)."""
        return np.vstack([np.eye(self.model.q), np.zeros(self.model.q)])

    @cached_property
    def pair_table(self) -> np.ndarray:
        """The up message of a parent of two leaves, for every pair of leaf values (mask
        included): row i * (q + 1) + j, with i, j in 0..q (q = masked)."""
        e = self.evidence
        table = np.einsum("abc,ib,jc->ija", self.model.productions, e, e)
        return table.reshape(-1, self.model.q)

    def leaf_messages(self, x: np.ndarray) -> np.ndarray:
        """(length, q, m): one-hot at an observed leaf, all ones at a masked one."""
        return np.ascontiguousarray(np.take(self.evidence, x.T, axis=0).transpose(0, 2, 1))

    def parents_of_leaves(self, x: np.ndarray) -> np.ndarray:
        """(length / 2, q, m) up messages of the leaves' parents, gathered from `pair_table`
        (the same numbers as the contraction, without building the leaf messages)."""
        q1 = self.model.q + 1
        index = (x[:, 0::2] % q1) * q1 + x[:, 1::2] % q1  # -1 % (q + 1) == q: masked
        return np.ascontiguousarray(np.take(self.pair_table, index.T, axis=0).transpose(0, 2, 1))

    @cached_property
    def star_kernels(self) -> tuple[np.ndarray, np.ndarray]:
        """T_j (up: v_j = T_j u_j) and T_j transposed (down: o_j = T_j^T C_j), (2**k, q, q)."""
        transitions = self.model.path_transitions
        return transitions, np.ascontiguousarray(transitions.transpose(0, 2, 1))

    def run(
        self,
        leaves: np.ndarray,
        *,
        full: bool = True,
        leave_one_out: bool = False,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> Posteriors:
        """Posteriors for a batch of leaf sequences (int array (n, 2**depth), -1 = masked).

        ``full=False`` computes only the root posterior and the log-likelihood (no downward
        pass), which is what root classification needs. ``leave_one_out`` adds P(x_i | all
        other observed leaves) for every leaf, which costs the downward pass to every leaf;
        without it that last step runs only where a leaf is masked (an observed leaf's
        posterior is one-hot).
        """
        model = self.model
        x = check_leaves(leaves, model)
        n, q, length = x.shape[0], model.q, model.length
        internal = range(max(model.filter_level, 1), model.depth) if full else range(0)
        per_sequence = q * (1 + (length if full else 0) + (length if leave_one_out else 0))
        per_sequence += q * sum(1 << d for d in internal)
        chunk = max(1, CHUNK_LEAVES * 16 // (length * q * q))
        workers = default_workers() if workers is None else workers
        working = min(workers, -(-n // chunk)) * chunk * length * q * (q + WORKING_ARRAYS) * 8
        check_fits(
            n * per_sequence * 8 + working,
            f"posteriors of n={n} sequences of depth {model.depth} (q={q})",
        )
        out = Posteriors(
            root=np.empty((n, q)),
            loglik=np.empty(n),
            leaves=np.empty((n, length, q)) if full else None,
            leave_one_out=np.empty((n, length, q)) if leave_one_out else None,
            nodes={d: np.empty((n, 1 << d, q)) for d in internal},
        )
        jobs = [(x, out, s, min(s + chunk, n)) for s in range(0, n, chunk)]
        run_blocks(self._chunk, jobs, workers, progress, warm_up=self.warm_up)
        return out

    def warm_up(self) -> None:
        """Build the kernels before threads share them."""
        _ = self.kernels, self.evidence, self.one_hot, self.pair_table
        if self.model.filter_level:
            _ = self.star_kernels

    def _chunk(self, leaves: np.ndarray, out: Posteriors, start: int, stop: int) -> None:
        model = self.model
        x = leaves[start:stop].astype(np.intp)
        m, q, k, depth = x.shape[0], model.q, model.filter_level, model.depth
        up_kernel, left_kernel, right_kernel = self.kernels
        log_norm = np.zeros(m)

        # Upward pass below the filter level: up[d] holds the messages of depth d.
        if k == depth:
            up = {depth: self.leaf_messages(x)}
        else:
            up = {depth - 1: _normalise(self.parents_of_leaves(x), log_norm)}
        for d in range(depth - 2, k - 1, -1):
            up[d] = _normalise(_pair(up[d + 1][0::2], up[d + 1][1::2], up_kernel), log_norm)

        # The star: products[i] holds the products over aligned groups of 2**i of its factors.
        if k:
            star_up, star_down = self.star_kernels
            products = [_normalise(np.matmul(star_up, up[k]), log_norm)]
            for _ in range(k):
                below = products[-1]
                products.append(_normalise(below[0::2] * below[1::2], log_norm))
            root_factor = products[-1][0]
        else:
            root_factor = up[0][0]
        joint = model.root_prior[:, None] * root_factor  # (q, m)
        total = joint.sum(axis=0)
        with np.errstate(divide="ignore"):
            out.loglik[start:stop] = log_norm + np.log(total)
        out.root[start:stop] = _beliefs(joint[None])[:, 0]
        if out.leaves is None:
            return

        # Downward pass. The cavity of a star factor is the prior times all other factors.
        prior = np.broadcast_to(model.root_prior[None, :, None], (1, q, m))
        if k:
            cavity = prior
            for i in range(k - 1, -1, -1):
                cavity = _normalise(np.repeat(cavity, 2, axis=0) * _swap_siblings(products[i]))
            outside = _normalise(np.matmul(star_down, cavity))
        else:
            outside = prior
        for d in range(k, depth - 1):
            if d:
                out.nodes[d][start:stop] = _beliefs(outside * up[d])
            left = _pair(outside, up[d + 1][1::2], left_kernel)
            right = _pair(outside, up[d + 1][0::2], right_kernel)
            outside = _normalise(np.stack([left, right], axis=1).reshape(-1, q, m))
        if k < depth and depth - 1:
            out.nodes[depth - 1][start:stop] = _beliefs(outside * up[depth - 1])
        self._leaves(x, outside, up, out, start, stop)
        impossible = total == 0
        if impossible.any():  # posteriors given impossible evidence: uniform, as documented
            out.leaves[start:stop][impossible] = 1.0 / q

    def _leaves(self, x, outside, up, out: Posteriors, start: int, stop: int) -> None:
        """Leaf posteriors from the outside messages of the leaves' parents (of the leaves
        themselves when k = depth): in full where leave-one-out is asked, else only at the
        masked leaves, the observed ones being one-hot."""
        model = self.model
        q, depth = model.q, model.depth
        if model.filter_level == depth:
            leaf_outside, leaf_up = outside, up[depth]
        elif out.leave_one_out is not None:
            _, left_kernel, right_kernel = self.kernels
            leaf_up = self.leaf_messages(x)
            left = _pair(outside, leaf_up[1::2], left_kernel)
            right = _pair(outside, leaf_up[0::2], right_kernel)
            leaf_outside = _normalise(np.stack([left, right], axis=1).reshape(-1, q, x.shape[0]))
        else:
            _masked_leaf_posteriors(self, x, outside, out.leaves[start:stop])
            return
        if out.leave_one_out is not None:
            out.leave_one_out[start:stop] = _beliefs(leaf_outside)
        out.leaves[start:stop] = _beliefs(leaf_outside * leaf_up)


def _masked_leaf_posteriors(
    bp: BeliefPropagation, x: np.ndarray, outside: np.ndarray, target: np.ndarray
) -> None:
    """One-hot rows for observed leaves; for masked ones, the downward step from their parent,
    computed only for the (parent, sequence) pairs that have a masked child."""
    np.take(bp.one_hot, x, axis=0, out=target)
    masked = x < 0  # (m, length)
    parents = masked[:, 0::2] | masked[:, 1::2]  # (m, length / 2)
    seq, node = np.nonzero(parents)
    if seq.size == 0:
        return
    _, left_kernel, right_kernel = bp.kernels
    selected = outside[node, :, seq].T[None]  # (1, q, count)
    left_up = bp.evidence[x[seq, 2 * node]].T[None]
    right_up = bp.evidence[x[seq, 2 * node + 1]].T[None]
    left = _normalise(_pair(selected, right_up, left_kernel))[0]  # (q, count)
    right = _normalise(_pair(selected, left_up, right_kernel))[0]
    for side, message in ((0, left), (1, right)):
        leaf = 2 * node + side
        hit = masked[seq, leaf]
        target[seq[hit], leaf[hit]] = _beliefs(message[None, :, hit])[:, 0]
