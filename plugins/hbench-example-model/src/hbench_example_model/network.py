"""A network whose layers mirror the tree: sum-product merges of sibling blocks.

    tokens (B, L=2**l) -> leaf messages u_i[b] = E[b, x_i]   (1 for a mask)      (B, L, d)
      up, l layers:     u_p[a] = sum_{b,c} W_p[a, b, c] u_left[b] u_right[c]      (B, L/2, d) ...
                        -> root message (B, d) -> posterior ∝ pi[a] u_root[a]
      root head:        P(y | x) = sum_a posterior[a] R[a, y]                       (B, q)
      down, l layers:   o_left[b] = sum_{a,c} o_p[a] W_p[a, b, c] u_right[c]       (and mirrored)
      mlm head:         P(x_i = s | rest) ∝ sum_b o_i[b] u_i[b] E[b, s]             (B, L, q)

Every weight is a probability table (a softmax of free parameters): pi over d root states,
W_p[a] over the d*d child pairs of each node p, E[b] over the q symbols, R[a] over the q
classes. The network is then exactly belief propagation on a latent tree with d states per
node, trained end to end on the task's cross-entropy. With d = q it can represent the exact
Bayes-optimal answer of every filter level k of the grammar (see `exact_weights`): W_p = M
below depth k, the root-to-node path transitions at depth k - 1, and copies of the root
above. Messages are renormalised after every merge (their scale cancels in every posterior),
so no logarithms are needed and no message underflows at any depth.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TreeNet(nn.Module):
    """Probabilistic-circuit layers over a complete binary tree of ``depth`` levels.

    ``share="node"`` gives every merge node its own table W_p (needed to be exact on filtered
    grammars, whose top levels are not a homogeneous tree); ``share="level"`` one table per
    level (a stride-2 convolution); ``share="all"`` one table for the whole tree (the unfiltered
    grammar's own symmetry).
    """

    def __init__(self, q: int, depth: int, channels: int, share: str = "node") -> None:
        super().__init__()
        self.q, self.depth, self.d, self.share = q, depth, channels, share
        d = channels
        # Nodes of each merge level, top (the root, depth 0) to bottom (depth - 1).
        counts = [1] if share == "all" else [self._tables(level) for level in range(depth)]
        self.merge = nn.ParameterList([nn.Parameter(torch.randn(n, d, d * d)) for n in counts])
        self.root = nn.Parameter(torch.zeros(d))
        self.emit = nn.Parameter(torch.randn(d, q))
        self.readout = nn.Parameter(torch.randn(d, q))

    def _tables(self, level: int) -> int:
        return 1 << level if self.share == "node" else 1

    # --- the probability tables ----------------------------------------------------------

    def tables(self) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor]:
        """(W per level as (nodes, d, d, d), pi (d,), E (d, q), R (d, q)), all normalised."""
        d = self.d
        if self.share == "all":
            shared = torch.softmax(self.merge[0], dim=-1).view(-1, d, d, d)
            merges = [shared] * self.depth
        else:
            merges = [torch.softmax(w, dim=-1).view(-1, d, d, d) for w in self.merge]
        return (
            merges,
            torch.softmax(self.root, dim=0),
            torch.softmax(self.emit, dim=1),
            torch.softmax(self.readout, dim=1),
        )

    # --- message passing -----------------------------------------------------------------

    @staticmethod
    def _normalise(message: torch.Tensor) -> torch.Tensor:
        return message / message.sum(dim=-1, keepdim=True).clamp_min(1e-30)

    def upward(self, tokens: torch.Tensor, merges, emit) -> list[torch.Tensor]:
        """Messages of every depth, leaves last: [(B, 1, d), (B, 2, d), ..., (B, L, d)].

        A token >= q (the mask) emits 1 in every state: the leaf is summed out.
        """
        table = torch.cat([emit.T, emit.new_ones(1, self.d)])  # (q + 1, d)
        leaf = table[tokens.clamp(max=self.q)]
        messages = [leaf]
        for level in range(self.depth - 1, -1, -1):
            child = messages[0]
            left, right = child[:, 0::2], child[:, 1::2]  # (B, n, d) each
            # u_p[a] = sum_{b,c} W[p, a, b, c] left[b] right[c]: contract c, then b.
            parent = torch.einsum("pabc,npc->npab", merges[level], right)
            parent = torch.einsum("npab,npb->npa", parent, left)
            messages.insert(0, self._normalise(parent))
        return messages

    def root_posterior(self, up: list[torch.Tensor], prior: torch.Tensor) -> torch.Tensor:
        return self._normalise(up[0][:, 0] * prior)

    def downward(self, up: list[torch.Tensor], merges, prior) -> torch.Tensor:
        """Outside messages of the leaves, (B, L, d): what the rest of the tree says of each."""
        outside = prior.expand(up[0].shape[0], 1, self.d)
        for level in range(self.depth):
            child = up[level + 1]
            left, right = child[:, 0::2], child[:, 1::2]
            w = merges[level]
            # o_left[b] = sum_{a,c} o_p[a] W[a, b, c] right[c]; o_right mirrors it.
            by_parent = torch.einsum("npa,pabc->npbc", outside, w)
            o_left = torch.einsum("npbc,npc->npb", by_parent, right)
            o_right = torch.einsum("npbc,npb->npc", by_parent, left)
            outside = self._normalise(torch.stack([o_left, o_right], dim=2).flatten(1, 2))
        return outside

    def forward(self, tokens: torch.Tensor, task: str) -> torch.Tensor:
        """Probabilities: (B, q) for ``root``; (B, L, q) for ``mlm`` (every position)."""
        merges, prior, emit, readout = self.tables()
        up = self.upward(tokens, merges, emit)
        if task == "root":
            return self.root_posterior(up, prior) @ readout
        outside = self.downward(up, merges, prior)
        return self._normalise((outside * up[-1]) @ emit)

    # --- exactness -----------------------------------------------------------------------

    @torch.no_grad()
    def set_tables(self, merges: list[np.ndarray], prior, emit, readout) -> None:
        """Load probability tables (zeros allowed) as the parameters; for `exact_weights`."""

        def logits(p):
            return torch.log(torch.tensor(np.array(p, dtype=np.float64)).clamp_min(1e-300))

        self.double()
        for parameter, table in zip(self.merge, merges, strict=True):
            parameter.copy_(logits(table).reshape(parameter.shape))
        self.root.copy_(logits(prior))
        self.emit.copy_(logits(emit))
        self.readout.copy_(logits(readout))


def exact_weights(
    productions: np.ndarray, root_prior: np.ndarray, depth: int, level: int
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """Tables with which a ``share="node"`` TreeNet of q channels is exact BP at filter ``level``.

    Below depth ``level`` the tree is the grammar's own: W_p = M. The 2**level nodes at depth
    ``level`` hang off the root directly through the path transitions T_j[a, b] = P(x_j = b |
    root = a), so the merges at depth ``level - 1`` are W[a, b, c] = T_left[a, b] T_right[a, c],
    and every merge above only copies the root state down (W[a, b, c] = 1 when a = b = c).
    """
    q = productions.shape[0]
    left, right = productions.sum(axis=2), productions.sum(axis=1)
    paths = [np.eye(q)]
    for _ in range(level):
        paths = [t @ m for t in paths for m in (left, right)]
    copy = np.zeros((q, q, q))
    copy[np.arange(q), np.arange(q), np.arange(q)] = 1.0
    merges = []
    for d in range(depth):
        nodes = 1 << d
        if d >= level:
            merges.append(np.broadcast_to(productions, (nodes, q, q, q)).copy())
        elif d == level - 1:
            pairs = [paths[2 * p][:, :, None] * paths[2 * p + 1][:, None, :] for p in range(nodes)]
            merges.append(np.stack(pairs))
        else:
            merges.append(np.broadcast_to(copy, (nodes, q, q, q)).copy())
    return merges, np.asarray(root_prior, dtype=np.float64), np.eye(q), np.eye(q)
