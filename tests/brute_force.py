"""Reference answers by enumerating every assignment of a small tree: slow, obvious, independent.

Nothing here shares code with the sampler or BP: the filtered law is written from its
definition (root, then each depth-k node from the product of marginal matrices along its path,
then M below), and every posterior is a ratio of sums over the enumerated joint table.
"""

from __future__ import annotations

import itertools
from functools import cache, reduce

import numpy as np


def path_transition(productions: np.ndarray, depth_k: int, j: int) -> np.ndarray:
    """P(node j at depth k | root), multiplying M^L / M^R along the path, root first."""
    left, right = productions.sum(axis=2), productions.sum(axis=1)
    bits = [(j >> (depth_k - 1 - i)) & 1 for i in range(depth_k)]
    return reduce(np.matmul, [right if b else left for b in bits], np.eye(productions.shape[0]))


def joint_table(productions: np.ndarray, prior: np.ndarray, depth: int, k: int):
    """Every assignment of (root, nodes at depths max(k, 1)..depth) with its probability.

    Returns (roots (R,), {depth: (R, 2**depth) node values}, probabilities (R,)).
    """
    return _joint_table(productions.tobytes(), prior.tobytes(), productions.shape[0], depth, k)


@cache
def _joint_table(productions_bytes, prior_bytes, q, depth, k):
    productions = np.frombuffer(productions_bytes).reshape(q, q, q)
    prior = np.frombuffer(prior_bytes)
    depths = list(range(max(k, 1), depth + 1))
    free = sum(1 << d for d in depths)
    table = np.array(list(itertools.product(range(q), repeat=1 + free)), dtype=np.int64)
    roots, columns = table[:, 0], table[:, 1:]
    nodes, offset = {}, 0
    for d in depths:
        nodes[d] = columns[:, offset : offset + (1 << d)]
        offset += 1 << d
    p = prior[roots].copy()
    for j in range(1 << k if k else 0):
        p *= path_transition(productions, k, j)[roots, nodes[k][:, j]]
    for d in range(k, depth):
        parents = roots[:, None] if d == 0 else nodes[d]
        for j in range(parents.shape[1]):
            p *= productions[parents[:, j], nodes[d + 1][:, 2 * j], nodes[d + 1][:, 2 * j + 1]]
    keep = p > 0
    return roots[keep], {d: v[keep] for d, v in nodes.items()}, p[keep]


def leaf_law(productions, prior, depth, k) -> dict[tuple, float]:
    """P(leaf string) for every string with positive probability."""
    _, nodes, p = joint_table(productions, prior, depth, k)
    law: dict[tuple, float] = {}
    for leaves, prob in zip(map(tuple, nodes[depth]), p, strict=True):
        law[leaves] = law.get(leaves, 0.0) + prob
    return law


def _distribution(values: np.ndarray, weights: np.ndarray, q: int) -> np.ndarray:
    """(R, w) values with (R,) weights -> (w, q) normalised histograms."""
    out = np.zeros((values.shape[1], q))
    for s in range(q):
        out[:, s] = ((values == s) * weights[:, None]).sum(axis=0)
    total = out.sum(axis=1, keepdims=True)
    return out / np.where(total > 0, total, 1.0)


def posteriors(productions, prior, depth, k, observed):
    """Exact answers for one leaf string with -1 at masked positions.

    Returns (root posterior, leaf posteriors, leave-one-out posteriors, node posteriors by depth,
    log-likelihood); posteriors are meaningless when the log-likelihood is -inf.
    """
    q = productions.shape[0]
    roots, nodes, p = joint_table(productions, prior, depth, k)
    observed = np.asarray(observed)
    leaves = nodes[depth]
    agrees = (observed < 0) | (leaves == observed)  # (R, length)
    weight = p * agrees.all(axis=1)
    evidence = weight.sum()
    root = _distribution(roots[:, None], weight, q)[0]
    leaf = _distribution(leaves, weight, q)
    loo = np.zeros((leaves.shape[1], q))
    for i in range(leaves.shape[1]):
        others = np.delete(agrees, i, axis=1).all(axis=1)
        loo[i] = _distribution(leaves[:, [i]], p * others, q)[0]
    node_post = {d: _distribution(v, weight, q) for d, v in nodes.items() if d < depth}
    loglik = np.log(evidence) if evidence > 0 else -np.inf
    return root, leaf, loo, node_post, loglik
