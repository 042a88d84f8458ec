"""Reference answers by enumerating every assignment of a small tree: slow, obvious, independent.

Nothing here shares code with the sampler or BP: the filtered law is written from its
definition (root, then each depth-k node from the product of the per-level, per-child-position
marginal matrices along its path, then each level's M below), for any arity s, one tensor per
level or one shared, and any root prior; every posterior is a ratio of sums over the enumerated
joint table. `next_token` conditions on a prefix by masking the suffix.
"""

from __future__ import annotations

import itertools
from functools import cache, reduce

import numpy as np


def _levels(productions, depth: int, per_level: bool) -> list[np.ndarray]:
    """The production tensor of each level d (parents at depth d)."""
    return [productions[d] if per_level else productions for d in range(depth)]


def _marginal(m: np.ndarray, i: int) -> np.ndarray:
    """P(child i = b | parent = a), summing out every other child."""
    return m.sum(axis=tuple(j for j in range(1, m.ndim) if j != i + 1))


def path_transition(
    productions: np.ndarray, depth_k: int, j: int, *, arity: int = 2, per_level: bool = False
) -> np.ndarray:
    """P(node j at depth k | root), multiplying child marginals along the path, root first:
    at level d, the marginal of the child position given by base-s digit d of j."""
    digits = [(j // arity ** (depth_k - 1 - d)) % arity for d in range(depth_k)]
    q = productions.shape[-1]
    levels = _levels(productions, depth_k, per_level) if depth_k else []
    factors = [_marginal(levels[d], digit) for d, digit in enumerate(digits)]
    return reduce(np.matmul, factors, np.eye(q))


def joint_table(
    productions: np.ndarray,
    prior: np.ndarray,
    depth: int,
    k: int,
    *,
    arity: int = 2,
    per_level: bool = False,
):
    """Every assignment of (root, nodes at depths max(k, 1)..depth) with its probability.

    ``productions`` is one tensor (q,) * (arity + 1) shared by all levels, or with
    ``per_level`` a stack (depth, q, ..., q). Returns (roots (R,), {depth: (R, arity**depth)
    node values}, probabilities (R,)); assignments of probability 0 are dropped.
    """
    productions = np.ascontiguousarray(productions, dtype=np.float64)
    return _joint_table(
        productions.tobytes(),
        productions.shape,
        np.asarray(prior, dtype=np.float64).tobytes(),
        depth,
        k,
        arity,
        per_level,
    )


@cache
def _joint_table(productions_bytes, shape, prior_bytes, depth, k, arity, per_level):
    productions = np.frombuffer(productions_bytes).reshape(shape)
    prior = np.frombuffer(prior_bytes)
    q = shape[-1]
    levels = _levels(productions, depth, per_level)
    depths = list(range(max(k, 1), depth + 1))
    free = sum(arity**d for d in depths)
    table = np.array(list(itertools.product(range(q), repeat=1 + free)), dtype=np.int64)
    roots, columns = table[:, 0], table[:, 1:]
    nodes, offset = {}, 0
    for d in depths:
        nodes[d] = columns[:, offset : offset + arity**d]
        offset += arity**d
    p = prior[roots].copy()
    for j in range(arity**k if k else 0):
        transition = path_transition(productions, k, j, arity=arity, per_level=per_level)
        p *= transition[roots, nodes[k][:, j]]
    for d in range(k, depth):
        parents = roots[:, None] if d == 0 else nodes[d]
        for j in range(parents.shape[1]):
            children = tuple(nodes[d + 1][:, arity * j + i] for i in range(arity))
            p *= levels[d][(parents[:, j], *children)]
    keep = p > 0
    return roots[keep], {d: v[keep] for d, v in nodes.items()}, p[keep]


def grammar_args(model) -> tuple:
    """(productions, prior, depth, k) and the keywords of a model, for the functions here."""
    return (
        (model.productions, model.root_prior, model.depth, model.filter_level),
        {"arity": model.arity, "per_level": model.per_level},
    )


def leaf_law(productions, prior, depth, k, **structure) -> dict[tuple, float]:
    """P(leaf string) for every string with positive probability."""
    _, nodes, p = joint_table(productions, prior, depth, k, **structure)
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


def posteriors(productions, prior, depth, k, observed, **structure):
    """Exact answers for one leaf string with -1 at masked positions.

    Returns (root posterior, leaf posteriors, leave-one-out posteriors, node posteriors by depth,
    log-likelihood); posteriors are meaningless when the log-likelihood is -inf.
    """
    q = productions.shape[-1]
    roots, nodes, p = joint_table(productions, prior, depth, k, **structure)
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


def next_token(productions, prior, depth, k, observed, **structure):
    """(P(x_i | x_0..x_{i-1}) for every i as (length, q), log P(x_i | x_0..x_{i-1}) as
    (length,)) for one leaf string, from the joint table with the suffix masked."""
    observed = np.asarray(observed)
    length, q = observed.size, productions.shape[-1]
    probabilities, logs = np.zeros((length, q)), np.zeros(length)
    for i in range(length):
        prefix = np.where(np.arange(length) < i, observed, -1)
        _, leaf, _, _, loglik = posteriors(productions, prior, depth, k, prefix, **structure)
        probabilities[i] = leaf[i] if np.isfinite(loglik) else 1.0 / q
        if observed[i] < 0:
            continue
        with np.errstate(divide="ignore"):
            logs[i] = np.log(probabilities[i][observed[i]]) if np.isfinite(loglik) else -np.inf
    return probabilities, logs
