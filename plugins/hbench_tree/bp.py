"""Exact belief propagation on a (filtered) tree of arity s, batched over sequences and nodes.

The factor graph of a model filtered at level k has two parts:

* below depth k, the tree with the production factor M_d[a, b_1, ..., b_s] of its level on every
  internal node;
* above it, a star: the root linked to each depth-k node j by the transition T_j[a, b].

Upward (inside) messages u are P(leaves below | node), computed one level at a time for all
nodes and sequences of a chunk at once: u_parent = (u_1 (x) ... (x) u_s) @ M_d, one outer
product and a single matmul (for s = 2: u_parent = (u_left (x) u_right) @ M). The star's s**k
factors v_j = T_j u_j meet at the root; they are multiplied in groups of s in a tree of
products, which also gives every "all but j" product (the cavity of j) on the way down without
a division, so zero probabilities (ambiguous or sparse grammars) need no special case.
Downward (outside) messages o are P(node, leaves outside its subtree) up to a constant: the
message to child i is (o_parent (x) the other children's u) @ M_d, summed over all but child i
(for s = 2: o_left = (o_parent (x) u_right) @ M and likewise on the right). Beliefs are
normalised o * u.

Every message is normalised to sum 1 when it is made; the logs of the normalisers of the upward
pass add up to log P(observed leaves), which stays finite at any depth. Masked leaves (-1) get
the all-ones message, so they are summed out and get their posterior from the downward pass.

The next-token pass (`BeliefPropagation.next_token`) answers P(x_i | x_0 .. x_{i-1}) at every
position i, the suffix unobserved. Asking it as L separate BP calls (each with positions >= i
masked) costs L full passes. One pass of each direction suffices, because of what the prefix
x_<i looks like from the tree: for every node v, the leaves left of v's subtree are all observed
and the leaves right of it are all unobserved, whatever leaf i of v's subtree is asked. So the
downward message to v,

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, reduce
from typing import NamedTuple

import numpy as np

from hbench.contracts import MASKED, Posteriors
from hbench.errors import invalid
from hbench.memory import check_fits

from .blocks import default_workers, run_blocks
from .grammar import TreeGrammar
from .messages import beliefs, child_slices, contract, interleave, normalise, others

#: Leaf positions per chunk (sequences x leaves) at q = 4, scaled by 16 / q**2 for other q: the
#: outer products of a level take q**2 numbers per node, and a chunk should stay near the cache.
CHUNK_LEAVES = 1 << 17
#: Arrays of q numbers per leaf position alive at once inside a chunk (messages of every
#: level, up and down, and temporaries), for the working-memory estimate.
WORKING_ARRAYS = 8


def check_leaves(leaves: np.ndarray, model: TreeGrammar, field: str = "leaves") -> np.ndarray:
    """Validate a leaf array: shape (n, s**depth), integer symbols in [-1, q)."""
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


#: Largest table of parents-of-leaves messages, (q + 1)**s * q numbers: above it the leaves'
#: parents are contracted like any other level.
MAX_LEAF_TABLE = 1 << 20


class NextToken(NamedTuple):
    """Exact next-token answers for n sequences of length L (a tuple: unpack it)."""

    probabilities: np.ndarray
    """(n, L, q) P(x_i = b | x_0 .. x_{i-1}); uniform where the prefix is impossible."""
    log_probabilities: np.ndarray
    """(n, L) natural log of P(x_i | x_0 .. x_{i-1}) at the observed symbol; 0 at a masked
    leaf, -inf from the first impossible symbol on. Their sum over i is the log-likelihood, and
    minus their mean over sampled sequences estimates the exact conditional entropy."""


@dataclass(frozen=True, eq=False)
class BeliefPropagation:
    """Exact inference for one `TreeGrammar`; kernels are built once and reused for every chunk."""

    model: TreeGrammar

    @cached_property
    def level_kernels(self) -> tuple[tuple[np.ndarray, tuple[np.ndarray, ...]], ...]:
        """For each level d (parents at depth d): M_d arranged for the up pass, (q, q**s), and
        for the down pass to each child i, (q, q**s) with child i's axis first and the others
        (parent, other children in order) flattened. Levels share one entry when the grammar
        shares its tensor."""
        model, q = self.model, self.model.q
        levels = model.depth if model.per_level else 1
        out = []
        for d in range(levels):
            m = model.level_productions(d)
            up = m.reshape(q, -1)  # [a, (b_1, ..., b_s)]
            down = tuple(
                np.ascontiguousarray(np.moveaxis(m, i + 1, 0).reshape(q, -1))  # [b_i, (a, ...)]
                for i in range(model.arity)
            )
            out.append((up, down))
        return tuple(out)

    def kernels_at(self, d: int) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """The (up, down) kernels of the parents at depth d."""
        return self.level_kernels[d if self.model.per_level else 0]

    @property
    def kernels(self) -> tuple[np.ndarray, ...]:
        """M arranged for the up pass and the down pass to each child (top level), each
        (q, q**s): for s = 2, (up, down_left, down_right)."""
        up, down = self.level_kernels[0]
        return (up, *down)

    @cached_property
    def evidence(self) -> np.ndarray:
        """Row s: the message of a leaf showing symbol s; the last row (index -1, masked):
        all ones, so that a masked leaf is summed out."""
        return np.vstack([np.eye(self.model.q), np.ones(self.model.q)])

    @cached_property
    def one_hot(self) -> np.ndarray:
        """Row s: the posterior of an observed leaf s (the last row, for masked: zeros)."""
        return np.vstack([np.eye(self.model.q), np.zeros(self.model.q)])

    @property
    def uses_leaf_table(self) -> bool:
        """Whether the leaves' parents are looked up in `pair_table` (small (q + 1)**s)."""
        return (self.model.q + 1) ** self.model.arity * self.model.q <= MAX_LEAF_TABLE

    @cached_property
    def pair_table(self) -> np.ndarray:
        """The up message of a parent of s leaves, for every tuple of leaf values (mask
        included): row sum_i x_i (q + 1)**(s-1-i), with x_i in 0..q (q = masked)."""
        e, s = self.evidence, self.model.arity
        children = "bcdefghjklmnopqrstuvwxyz"[:s]
        values = "ijkl" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        operands = ",".join(f"{values[i]}{children[i]}" for i in range(s))
        spec = f"a{children},{operands}->{values[:s]}a"  # s = 2: "abc,ib,jc->ija"
        table = np.einsum(spec, self.model.level_productions(self.model.depth - 1), *[e] * s)
        return table.reshape(-1, self.model.q)

    def leaf_messages(self, x: np.ndarray) -> np.ndarray:
        """(length, q, m): one-hot at an observed leaf, all ones at a masked one."""
        return np.ascontiguousarray(np.take(self.evidence, x.T, axis=0).transpose(0, 2, 1))

    def parents_of_leaves(self, x: np.ndarray) -> np.ndarray:
        """(length / s, q, m) up messages of the leaves' parents (unnormalised): gathered from
        `pair_table` (the same numbers as the contraction, without building the leaf messages)
        when it is small, else contracted."""
        s = self.model.arity
        if not self.uses_leaf_table:
            up, _ = self.kernels_at(self.model.depth - 1)
            return contract(child_slices(self.leaf_messages(x), s), up)
        q1 = self.model.q + 1
        index = x[:, 0::s] % q1  # -1 % (q + 1) == q: masked
        for i in range(1, s):
            index = index * q1 + x[:, i::s] % q1
        return np.ascontiguousarray(np.take(self.pair_table, index.T, axis=0).transpose(0, 2, 1))

    @cached_property
    def star_kernels(self) -> tuple[np.ndarray, np.ndarray]:
        """T_j (up: v_j = T_j u_j) and T_j transposed (down: o_j = T_j^T C_j), (s**k, q, q)."""
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
        """Posteriors for a batch of leaf sequences (int array (n, s**depth), -1 = masked).

        ``full=False`` computes only the root posterior and the log-likelihood (no downward
        pass), which is what root classification needs. ``leave_one_out`` adds P(x_i | all
        other observed leaves) for every leaf, which costs the downward pass to every leaf;
        without it that last step runs only where a leaf is masked (an observed leaf's
        posterior is one-hot).
        """
        model = self.model
        x = check_leaves(leaves, model)
        n, q, length, s = x.shape[0], model.q, model.length, model.arity
        internal = range(max(model.filter_level, 1), model.depth) if full else range(0)
        per_sequence = q * (1 + (length if full else 0) + (length if leave_one_out else 0))
        per_sequence += q * sum(s**d for d in internal)
        chunk = self.chunk_size()
        workers = default_workers() if workers is None else workers
        working = (
            min(workers, -(-n // chunk))
            * chunk
            * length
            * (self._outer_size + q * WORKING_ARRAYS)
            * 8
        )
        check_fits(
            n * per_sequence * 8 + working,
            f"posteriors of n={n} sequences of depth {model.depth} (q={q})",
        )
        out = Posteriors(
            root=np.empty((n, q)),
            loglik=np.empty(n),
            leaves=np.empty((n, length, q)) if full else None,
            leave_one_out=np.empty((n, length, q)) if leave_one_out else None,
            nodes={d: np.empty((n, s**d, q)) for d in internal},
        )
        jobs = [(x, out, s0, min(s0 + chunk, n)) for s0 in range(0, n, chunk)]
        run_blocks(self._chunk, jobs, workers, progress, warm_up=self.warm_up)
        return out

    @property
    def _outer_size(self) -> int:
        """Numbers per leaf of one level's outer products: q**s per parent, about
        length / (s - 1) parents in all."""
        s = self.model.arity
        return self.model.q**s // (s - 1)

    def chunk_size(self) -> int:
        """Sequences per chunk: CHUNK_LEAVES leaf positions at q = 4, s = 2, scaled by the
        size of the outer products, so a chunk's working set stays near the cache."""
        return max(1, CHUNK_LEAVES * 16 // (self.model.length * self._outer_size))

    def warm_up(self) -> None:
        """Build the kernels before threads share them."""
        _ = self.level_kernels, self.evidence, self.one_hot
        if self.uses_leaf_table:
            _ = self.pair_table
        if self.model.filter_level:
            _ = self.star_kernels

    def upward(self, x: np.ndarray, log_norm: np.ndarray) -> dict[int, np.ndarray]:
        """Normalised up messages of every depth from the filter level k to the leaves'
        parents (to the leaves when k = depth): {depth: (s**depth, q, m)}; the logs of the
        normalisers are added to ``log_norm``."""
        model = self.model
        k, depth, s = model.filter_level, model.depth, model.arity
        if k == depth:
            return {depth: self.leaf_messages(x)}
        up = {depth - 1: normalise(self.parents_of_leaves(x), log_norm)}
        for d in range(depth - 2, k - 1, -1):
            kernel, _ = self.kernels_at(d)
            up[d] = normalise(contract(child_slices(up[d + 1], s), kernel), log_norm)
        return up

    def star_products(self, up_k: np.ndarray, log_norm: np.ndarray) -> list[np.ndarray]:
        """The star's factors v_j = T_j u_j (entry 0) and their products over aligned groups
        of s**i (entry i), up to the single product of all of them (entry k)."""
        s = self.model.arity
        star_up, _ = self.star_kernels
        products = [normalise(np.matmul(star_up, up_k), log_norm)]
        for _ in range(self.model.filter_level):
            products.append(normalise(reduce(np.multiply, child_slices(products[-1], s)), log_norm))
        return products

    def _chunk(self, leaves: np.ndarray, out: Posteriors, start: int, stop: int) -> None:
        model = self.model
        x = leaves[start:stop].astype(np.intp)
        depth = model.depth
        log_norm = np.zeros(x.shape[0])
        up = self.upward(x, log_norm)
        passed = self.root_and_down(up, log_norm, out, start, stop, depth - 1)
        if passed is None:
            return
        outside, total = passed
        if model.filter_level < depth and depth - 1:
            out.nodes[depth - 1][start:stop] = beliefs(outside * up[depth - 1])
        self._leaves(x, outside, up, out, start, stop)
        impossible = total == 0
        if impossible.any():  # posteriors given impossible evidence: uniform, as documented
            out.leaves[start:stop][impossible] = 1.0 / model.q

    def root_and_down(
        self,
        up: dict[int, np.ndarray],
        log_norm: np.ndarray,
        out: Posteriors,
        start: int,
        stop: int,
        last: int,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """From the up messages of every depth (`upward`, or given leaf evidence): the root
        posterior and the log-likelihood into ``out``; then, where leaves are asked, the
        downward pass to depth ``last``, with the internal nodes' posteriors of the depths it
        passes. Returns the outside messages of the depth-``last`` nodes and each sequence's
        total probability (0: impossible evidence), or None without leaves. Hard and soft
        evidence differ only in how the leaves enter: this is everything between."""
        model = self.model
        q, k, s = model.q, model.filter_level, model.arity
        m = log_norm.shape[0]
        if k:
            products = self.star_products(up[k], log_norm)
            root_factor = products[-1][0]
        else:
            root_factor = up[0][0]
        joint = model.root_prior[:, None] * root_factor  # (q, m)
        total = joint.sum(axis=0)
        with np.errstate(divide="ignore"):
            out.loglik[start:stop] = log_norm + np.log(total)
        out.root[start:stop] = beliefs(joint[None])[:, 0]
        if out.leaves is None:
            return None

        # Downward pass. The cavity of a star factor is the prior times all other factors.
        prior = np.broadcast_to(model.root_prior[None, :, None], (1, q, m))
        if k:
            _, star_down = self.star_kernels
            cavity = prior
            for i in range(k - 1, -1, -1):
                cavity = normalise(np.repeat(cavity, s, axis=0) * others(products[i], s))
            outside = normalise(np.matmul(star_down, cavity))
        else:
            outside = prior
        for d in range(k, last):
            if d:
                out.nodes[d][start:stop] = beliefs(outside * up[d])
            outside = normalise(self._down(d, outside, child_slices(up[d + 1], s)))
        return outside, total

    def _down(self, d: int, outside: np.ndarray, children: Sequence[np.ndarray]) -> np.ndarray:
        """Outside messages of the children of the depth-d nodes (unnormalised), interleaved:
        to child i, the parent's outside times the other children's up messages, through M_d."""
        _, down = self.kernels_at(d)
        s = self.model.arity
        return interleave(
            [
                contract([outside, *(children[j] for j in range(s) if j != i)], down[i])
                for i in range(s)
            ]
        )

    def _leaves(self, x, outside, up, out: Posteriors, start: int, stop: int) -> None:
        """Leaf posteriors from the outside messages of the leaves' parents (of the leaves
        themselves when k = depth): in full where leave-one-out is asked, else only at the
        masked leaves, the observed ones being one-hot."""
        model = self.model
        depth = model.depth
        if model.filter_level == depth:
            leaf_outside, leaf_up = outside, up[depth]
        elif out.leave_one_out is not None:
            leaf_up = self.leaf_messages(x)
            leaf_outside = normalise(
                self._down(depth - 1, outside, child_slices(leaf_up, model.arity))
            )
        else:
            _masked_leaf_posteriors(self, x, outside, out.leaves[start:stop])
            return
        if out.leave_one_out is not None:
            out.leave_one_out[start:stop] = beliefs(leaf_outside)
        out.leaves[start:stop] = beliefs(leaf_outside * leaf_up)

    @cached_property
    def left_kernels(self) -> tuple[tuple[np.ndarray, ...], ...]:
        """Kernels of the next-token downward pass. For each level d (one when the tensor is
        shared) and child i: M_d summed over the children right of i, with child i's axis
        first and (parent, children left of i) flattened: shape (q, q**(i+1)). Child 0's is
        the transposed marginal matrix."""
        model = self.model
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

    def next_token(
        self,
        leaves: np.ndarray,
        *,
        workers: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> NextToken:
        """P(x_i | x_0 .. x_{i-1}) at every position i of every sequence, the suffix unobserved,
        in one upward and one downward pass per chunk of sequences (not L masked passes), on
        the thread pool like `run`.

        ``leaves``: int (n, L), L = s**depth, -1 = masked (summed out). Returns the named tuple
        `NextToken` ``(probabilities (n, L, q), log_probabilities (n, L))``:
        ``probabilities, logp = bp.next_token(leaves)``. ``logp`` is the log of the observed
        symbol's probability (0 at masked leaves, -inf once the prefix is impossible); its row
        sums are the log-likelihoods.
        """
        model = self.model
        x = check_leaves(leaves, model)
        n, q, length = x.shape[0], model.q, model.length
        chunk = self.chunk_size()
        workers = default_workers() if workers is None else workers
        working = min(workers, -(-n // chunk)) * chunk * length * (q * WORKING_ARRAYS) * 8
        check_fits(
            n * length * (q + 1) * 8 + working,
            f"next-token posteriors of n={n} sequences of depth {model.depth} (q={q})",
        )
        out = NextToken(np.empty((n, length, q)), np.empty((n, length)))
        # run_blocks reads a job's start and stop rows at its 3rd and 4th places
        jobs = [(x, out, start, min(start + chunk, n), self) for start in range(0, n, chunk)]

        def warm_up() -> None:
            self.warm_up()
            _ = self.left_kernels

        run_blocks(_next_token_chunk, jobs, workers, progress, warm_up)
        return out


def check_likelihoods(
    likelihoods: np.ndarray, model: TreeGrammar, field: str = "likelihoods"
) -> np.ndarray:
    """Validate soft leaf evidence: (n, s**depth, q) finite, non-negative numbers."""
    arr = np.asarray(likelihoods)
    shape = (model.length, model.q)
    if arr.ndim == 2 and arr.shape == shape:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != shape:
        raise invalid(field, f"array of shape {arr.shape}", f"shape (n, {shape[0]}, {shape[1]})")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise invalid(field, f"array of dtype {arr.dtype}", "real numbers")
    arr = arr.astype(np.float64, copy=False)
    if arr.size and (not np.all(np.isfinite(arr)) or arr.min() < 0):
        raise invalid(field, "array with negative or non-finite entries", "finite numbers >= 0")
    return arr


def soft_evidence(
    bp: BeliefPropagation,
    likelihoods: np.ndarray,
    *,
    full: bool = True,
    workers: int | None = None,
) -> Posteriors:
    """Posteriors given *soft* leaf evidence: ``likelihoods[r, i, a]`` = P(observation i of
    row r | leaf i = a), e.g. a noisy channel's column for the symbol received. Hard evidence
    is the special case of one-hot rows (all ones for a masked leaf), which `BeliefPropagation.run`
    handles faster. Returns `Posteriors` with ``root``, ``loglik`` = log P(observations), and
    with ``full`` the clean leaves' posteriors P(x_i | observations) and the internal nodes';
    no leave-one-out. The same passes as `BeliefPropagation.run`, with the leaves' messages
    given instead of looked up."""
    model = bp.model
    lik = check_likelihoods(likelihoods, model)
    n, q, length, s = lik.shape[0], model.q, model.length, model.arity
    internal = range(max(model.filter_level, 1), model.depth) if full else range(0)
    per_sequence = q * (1 + (2 * length if full else length) + sum(s**d for d in internal))
    chunk = bp.chunk_size()
    workers = default_workers() if workers is None else workers
    working = min(workers, -(-n // chunk)) * chunk * length * (bp._outer_size + q * 8) * 8
    check_fits(
        n * per_sequence * 8 + working,
        f"soft-evidence posteriors of n={n} sequences of depth {model.depth} (q={q})",
    )
    out = Posteriors(
        root=np.empty((n, q)),
        loglik=np.empty(n),
        leaves=np.empty((n, length, q)) if full else None,
        nodes={d: np.empty((n, s**d, q)) for d in internal},
    )
    jobs = [(lik, out, start, min(start + chunk, n), bp) for start in range(0, n, chunk)]
    run_blocks(_soft_chunk, jobs, workers, None, warm_up=bp.warm_up)
    return out


def _soft_chunk(
    lik: np.ndarray, out: Posteriors, start: int, stop: int, bp: BeliefPropagation
) -> None:
    model = bp.model
    k, depth, s = model.filter_level, model.depth, model.arity
    leaf = np.ascontiguousarray(lik[start:stop].transpose(1, 2, 0))  # (L, q, m)
    log_norm = np.zeros(leaf.shape[2])
    leaf = normalise(leaf, log_norm)
    up = {depth: leaf}
    for d in range(depth - 1, k - 1, -1):
        kernel, _ = bp.kernels_at(d)
        up[d] = normalise(contract(child_slices(up[d + 1], s), kernel), log_norm)
    passed = bp.root_and_down(up, log_norm, out, start, stop, depth)
    if passed is None:
        return
    outside, total = passed
    out.leaves[start:stop] = beliefs(outside * leaf)
    impossible = total == 0
    if impossible.any():  # posteriors given impossible evidence: uniform, as documented
        out.leaves[start:stop][impossible] = 1.0 / model.q


def _masked_leaf_posteriors(
    bp: BeliefPropagation, x: np.ndarray, outside: np.ndarray, target: np.ndarray
) -> None:
    """One-hot rows for observed leaves; for masked ones, the downward step from their parent,
    computed only for the (parent, sequence) pairs that have a masked child."""
    np.take(bp.one_hot, x, axis=0, out=target)
    s = bp.model.arity
    masked = x < 0  # (m, length)
    parents = reduce(np.logical_or, child_slices(masked.T, s)).T  # (m, length / s)
    seq, node = np.nonzero(parents)
    if seq.size == 0:
        return
    _, down = bp.kernels_at(bp.model.depth - 1)
    selected = outside[node, :, seq].T[None]  # (1, q, count)
    ups = [bp.evidence[x[seq, s * node + i]].T[None] for i in range(s)]
    for side in range(s):
        siblings = [ups[j] for j in range(s) if j != side]
        message = normalise(contract([selected, *siblings], down[side]))[0]  # (q, count)
        leaf = s * node + side
        hit = masked[seq, leaf]
        target[seq[hit], leaf[hit]] = beliefs(message[None, :, hit])[:, 0]


def _left_products(messages: np.ndarray, s: int) -> np.ndarray:
    """Each node's product of the messages of the siblings to its left (ones for the first)."""
    w, q, m = messages.shape
    groups = messages.reshape(w // s, s, q, m)
    out = np.empty_like(groups)
    out[:, 0] = 1.0
    for i in range(1, s):  # over the arity, not over nodes
        out[:, i] = out[:, i - 1] * groups[:, i - 1]
    return out.reshape(w, q, m)


def _next_token_chunk(
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
            context = normalise(np.repeat(context, s, axis=0) * left)
        _, star_down = bp.star_kernels
        context = normalise(np.matmul(star_down, context))
    kernels = bp.left_kernels
    for d in range(k, depth):
        below = up[d + 1] if d + 1 < depth else bp.leaf_messages(x)
        children = child_slices(below, s)
        level = kernels[d if model.per_level else 0]
        context = normalise(
            interleave([contract([context, *children[:i]], level[i]) for i in range(s)])
        )

    # context: (L, q, m), normalised (all zeros where the prefix is impossible)
    probabilities = beliefs(context)  # (m, L, q)
    out.probabilities[start:stop] = probabilities
    length = x.shape[1]
    chosen = context[np.arange(length)[None, :], x, np.arange(m)[:, None]]  # (m, L)
    with np.errstate(divide="ignore"):
        out.log_probabilities[start:stop] = np.where(x >= 0, np.log(chosen), 0.0)
