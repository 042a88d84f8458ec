"""The next-token oracle: P(x_i | x_0 .. x_{i-1}) at every position i, the suffix unobserved.

Asking it as L separate BP calls (each with positions >= i masked) costs L full passes. One
pass of each direction suffices, because of what the prefix x_<i looks like from the tree: for
every node v, the leaves left of v's subtree are all observed and the leaves right of it are all
unobserved, whatever leaf i of v's subtree is asked. So the downward message to v,

    C_v[b] = P(node v = b, every leaf left of v's subtree)   (the suffix summed out),

is one message per node, shared by all the positions below it, and P(x_i | x_<i) is C_i
normalised at leaf i. It is computed top-down from the *left context* of the parent and the full
upward messages of the left siblings: for child i of p,

    C_{c_i}[b_i] = sum over a, b_1 .. b_{i-1} of
                   C_p[a] M_d[a, b_1, .., b_i, ...] u_1[b_1] .. u_{i-1}[b_{i-1}],

M_d summed over the children right of i (they are unobserved). The upward messages are the
ordinary ones of the whole sequence (the leaves of a left sibling are all in the prefix). Above
the filter level k the root sees the s**k star factors v_j = T_j u_j; the left context of star
node j is the prior times the product of the factors left of j, taken down the star's tree of
products, then through T_j^T. In all: one upward pass and one downward pass that contracts only
with the left siblings, about the cost of one full BP pass, for all L positions at once.

Conventions (as `brute_force.next_token` in the tests): a masked leaf (-1) is summed out of
the prefix of the positions after it and gets log-probability 0; once the prefix is impossible
under the model the probabilities are uniform and the log-probabilities -inf. The sum of a
sequence's log-probabilities is its log-likelihood (the chain rule), which the tests check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from hbench.run.memory import check_fits

from .bp import (
    WORKING_ARRAYS,
    _beliefs,
    _children,
    _contract,
    _interleave,
    _normalise,
    check_leaves,
)
from .sampler import default_workers, run_blocks

if TYPE_CHECKING:
    from .bp import BeliefPropagation


class NextToken(NamedTuple):
    """Exact next-token answers for n sequences of length L (a tuple: unpack it)."""

    probabilities: np.ndarray
    """(n, L, q) P(x_i = b | x_0 .. x_{i-1}); uniform where the prefix is impossible."""
    log_probabilities: np.ndarray
    """(n, L) natural log of P(x_i | x_0 .. x_{i-1}) at the observed symbol; 0 at a masked
    leaf, -inf from the first impossible symbol on. Their sum over i is the log-likelihood, and
    minus their mean over sampled sequences estimates the exact conditional entropy."""


def left_kernels(model) -> tuple[tuple[np.ndarray, ...], ...]:
    """For each level d (one when the tensor is shared) and child i: M_d summed over the
    children right of i, with child i's axis first and (parent, children left of i) flattened:
    shape (q, q**(i+1)). Child 0's is the transposed marginal matrix."""
    q, s = model.q, model.arity
    levels = model.depth if model.per_level else 1
    out = []
    for d in range(levels):
        m = model.level_productions(d)
        kernels = []
        for i in range(s):
            summed = m.sum(axis=tuple(range(i + 2, s + 1))) if i < s - 1 else m
            kernels.append(np.ascontiguousarray(np.moveaxis(summed, i + 1, 0).reshape(q, -1)))
        out.append(tuple(kernels))
    return tuple(out)


def _left_products(messages: np.ndarray, s: int) -> np.ndarray:
    """Each node's product of the messages of the siblings to its left (ones for the first)."""
    w, q, m = messages.shape
    groups = messages.reshape(w // s, s, q, m)
    out = np.empty_like(groups)
    out[:, 0] = 1.0
    for i in range(1, s):  # over the arity, not over nodes
        out[:, i] = out[:, i - 1] * groups[:, i - 1]
    return out.reshape(w, q, m)


def next_token(
    bp: BeliefPropagation,
    leaves: np.ndarray,
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> NextToken:
    """P(x_i | x_0 .. x_{i-1}) for every position i of every sequence, the suffix unobserved.

    ``leaves``: int array (n, L) with L = s**depth (-1 = masked, summed out). Returns
    `NextToken` (probabilities (n, L, q), log_probabilities (n, L)), in one upward and one
    downward pass per chunk of sequences, on the thread pool like `BeliefPropagation.run`.
    """
    model = bp.model
    x = check_leaves(leaves, model)
    n, q, length = x.shape[0], model.q, model.length
    chunk = bp.chunk_size()
    workers = default_workers() if workers is None else workers
    working = min(workers, -(-n // chunk)) * chunk * length * (q * WORKING_ARRAYS) * 8
    check_fits(
        n * length * (q + 1) * 8 + working,
        f"next-token posteriors of n={n} sequences of depth {model.depth} (q={q})",
    )
    out = NextToken(np.empty((n, length, q)), np.empty((n, length)))
    # run_blocks reads a job's start and stop rows at its 3rd and 4th places
    jobs = [(x, out, start, min(start + chunk, n), bp) for start in range(0, n, chunk)]

    def warm_up() -> None:
        bp.warm_up()
        _ = bp.left_kernels

    run_blocks(_chunk, jobs, workers, progress, warm_up)
    return out


def _chunk(
    leaves: np.ndarray, out: NextToken, start: int, stop: int, bp: BeliefPropagation
) -> None:
    model = bp.model
    x = leaves[start:stop].astype(np.intp)
    m, k, depth, s = x.shape[0], model.filter_level, model.depth, model.arity
    scratch = np.zeros(m)  # the upward pass's normalisers: not needed here

    up = bp.upward(x, scratch)
    context = np.repeat(model.root_prior[None, :, None], m, axis=2)  # (1, q, m)
    if k:
        products = bp.star_products(up[k], scratch)
        for i in range(k - 1, -1, -1):
            left = _left_products(products[i], s)
            context = _normalise(np.repeat(context, s, axis=0) * left)
        _, star_down = bp.star_kernels
        context = _normalise(np.matmul(star_down, context))
    kernels = bp.left_kernels
    for d in range(k, depth):
        below = up[d + 1] if d + 1 < depth else bp.leaf_messages(x)
        children = _children(below, s)
        level = kernels[d if model.per_level else 0]
        context = _normalise(
            _interleave([_contract([context, *children[:i]], level[i]) for i in range(s)])
        )

    # context: (L, q, m), normalised (all zeros where the prefix is impossible)
    probabilities = _beliefs(context)  # (m, L, q)
    out.probabilities[start:stop] = probabilities
    length = x.shape[1]
    chosen = context[np.arange(length)[None, :], x, np.arange(m)[:, None]]  # (m, L)
    with np.errstate(divide="ignore"):
        out.log_probabilities[start:stop] = np.where(x >= 0, np.log(chosen), 0.0)


__all__ = ["NextToken", "left_kernels", "next_token"]
