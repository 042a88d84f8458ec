"""Exact inference on a layered PCFG: the inside-outside algorithm over spans, batched.

For a sequence x of length n and a symbol a of level d, the *inside* value of the span [i, i+w)
is I_d[w][i, a] = P(a yields x_i .. x_{i+w-1}), and its *outside* value O_d[w][i, a] is the
probability of the root deriving everything outside the span with a at level d spanning it. A
span's posterior is I O / P(x), the root's is prior * I_0[n][0] / P(x), a leaf's is its
outside O_L[1][i] times its evidence, and P(x) = sum_a prior[a] I_0[n][0, a]. A masked leaf (-1)
has evidence all ones (summed out); a padded position (`PAD`) is no position at all: the root
spans exactly [0, n) of each row.

Because the grammar is layered, the charts are indexed by level as well as by span; a level's
spans range over the widths its symbols can yield. Ternary rules a -> b c e are split through a
*pair chart*: P[w][i, (c, e)] = sum over w2 of I[w2][i, c] I[w - w2][i + w2, e], which also
serves the binary rules (I_d[w] = P[w] @ B_d). Then a -> b (c e) combines a single child with a
pair, so every step sums over one split point: the cost per level is O(widths x splits x
positions) array operations of q**2-sized vectors, for a whole batch of sequences at once.

Array code only: the loops run over levels, widths and split points (and chunks of sequences),
never over sequences or spans individually. Each (level, width) slab of a chart is stored
normalised to a maximum of 1 per sequence, with its log-scale beside it (a (batch,) vector), and
terms of different scales are brought to a common one before they are summed: the algorithm is
exact in floating point whatever the length or depth (no underflow, no overflow).

Sequences are processed in chunks sorted by length, so a chunk's charts are as short as its
longest sequence, on a thread pool.

Next-symbol questions come in two forms. `CFGInference.next_token` answers P(x_i | x_<i, the
length), the rest of the sequence masked and its length known: what the built-in next-token
task asks of fixed-length sequences (where the length says nothing). It takes one inside pass
and one *left-context* outside pass for every position at once: the outside of a span with
everything left of it observed and everything right of it masked is the same for every
position i inside the span (the prefix x_<i is exactly what lies left of the span), so the
siblings right of a span contribute the inside of a fully masked stretch, a constant of the
grammar, and the leaves' left-context outside is P(x_<i, x_i, the length)
(`InsideOutside.left_context`). `CFGInference.next_symbol` answers P(x_i | x_<i) with the
length unknown and the end of the sequence as a symbol of its own (q), what a language model
of variable-length text is trained on, by summing over the lengths the rest may have (one
masked pass per position and length: for analyses). Both satisfy the chain rule: the first
sums to log P(x | length), the second to log P(x).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hbench.contracts import MASKED, PAD, Posteriors
from hbench.errors import invalid
from hbench.memory import check_fits

from .grammar import CFGrammar

#: Most numbers the charts of one chunk may hold (1 GiB of float64): chunks shrink below the
#: configured size for grammars with many symbols per level.
CHUNK_NUMBERS = 1 << 27

Slab = tuple[np.ndarray, np.ndarray]  # (array (starts, symbols, B), log-scale (B,))
Part = tuple[np.ndarray, int, Callable[[], np.ndarray]]  # (log-scale, start offset, term)


def check_sequences(leaves: np.ndarray, grammar: CFGrammar) -> tuple[np.ndarray, np.ndarray]:
    """Validate a leaf array of a cfg: (n, N) integers in [0, q), -1 (masked), or `PAD` after
    the end of each row. Returns (leaves as int64, lengths)."""
    arr = np.asarray(leaves)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2:
        raise invalid("leaves", f"array of shape {arr.shape}", "shape (n, length)")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise invalid("leaves", f"array of dtype {arr.dtype}", "integer symbols")
    arr = arr.astype(np.int64)
    if arr.size:
        bad = (arr < PAD) | (arr >= grammar.q)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise invalid(
                f"leaves[{row}, {col}]",
                int(arr[row, col]),
                f"a symbol in [0, {grammar.q}), -1 (masked) or {PAD} (padding)",
            )
        padded = arr == PAD
        early = np.any(padded[:, :-1] & ~padded[:, 1:], axis=1)
        if early.any():
            row = int(np.flatnonzero(early)[0])
            raise invalid(f"leaves[{row}]", "padding before a symbol", f"{PAD} only after the end")
    lengths = (arr != PAD).sum(axis=1)
    return arr, lengths


def _combine(shape: tuple[int, ...], parts: list[Part]) -> Slab:
    """Sum terms of different log-scales into one slab of ``shape`` (starts, symbols, B),
    normalised to a maximum of 1 per sequence (log-scale -inf where it is all zero)."""
    batch = shape[-1]
    out = np.zeros(shape)
    if not parts:
        return out, np.full(batch, -np.inf)
    ref = np.max(np.stack([scale for scale, _, _ in parts]), axis=0)
    ref = np.where(np.isfinite(ref), ref, 0.0)
    for scale, start, make in parts:
        if not np.isfinite(scale).any():
            continue
        term = make()  # a fresh array: scaled in place
        if np.any(scale != ref):
            term *= np.exp(scale - ref)
        out[start : start + term.shape[0]] += term
    peak = out.max(axis=(0, 1))
    with np.errstate(divide="ignore"):
        scale = ref + np.log(peak)
    out /= np.where(peak > 0, peak, 1.0)
    return out, scale


@dataclass
class Charts:
    """The inside and outside charts of one chunk, and what they give. Slabs are
    (starts, symbols, B): the batch axis last, so that every product and sum over symbols
    runs over contiguous rows of B numbers, and a contraction with a rule tensor is one
    matmul per start."""

    inside: list[dict[int, Slab]]
    pairs: list[dict[int, Slab]]  # pairs[d]: pair chart of level d (for the parents at d - 1)
    outside: list[dict[int, Slab]]
    z: list[dict[int, np.ndarray]]  # z[d][w]: pair chart of level d + 1 through the ternary rules
    log_evidence: np.ndarray  # (B,) log P(observed leaves)
    root: np.ndarray  # (B, n_0) root posterior (uniform where impossible)
    evidence: np.ndarray  # (N, q, B) the leaves' evidence


class InsideOutside:
    """The inside-outside algorithm for one `CFGrammar`; the rule tensors are arranged once."""

    def __init__(self, grammar: CFGrammar) -> None:
        self.grammar = grammar
        self.levels = []
        for d in range(grammar.depth):
            n_d, n = grammar.symbols[d], grammar.symbols[d + 1]
            binary = grammar.binary(d)
            ternary = grammar.ternary(d)
            self.levels.append(
                {
                    # bmat @ P[w] (.., n**2, B) -> (.., n_d, B)
                    "bmat": binary.reshape(n_d, n * n) if binary.any() else None,
                    # tmat @ P[w] (.., n**2, B) -> (.., n_d * n, B): Z[.., (a, b), B]
                    "tmat": ternary.reshape(n_d * n, n * n) if ternary.any() else None,
                }
            )

    # --- one chunk ----------------------------------------------------------------------

    def _starts(self, d: int, w: int, length: int) -> int:
        """Start positions kept for a level-d span of width w: every one that fits, except at
        the root level, whose spans all start at 0."""
        return 1 if d == 0 else length - w + 1

    def _widths(self, d: int, length: int) -> range:
        low, high = self.grammar.width_range(d)
        return range(low, min(high, length) + 1)

    def charts(self, x: np.ndarray, lengths: np.ndarray, *, outside: bool = True) -> Charts:
        """Inside (and outside) charts of a chunk: ``x`` (B, N) with -1 masked and `PAD`
        after each row's end, ``lengths`` (B,)."""
        g = self.grammar
        batch, length = x.shape
        q, depth = g.q, g.depth
        evidence = np.zeros((length, q, batch))
        rows, cols = np.nonzero(x == MASKED)
        evidence[cols, :, rows] = 1.0
        rows, cols = np.nonzero(x >= 0)
        evidence[cols, x[rows, cols], rows] = 1.0
        inside: list[dict[int, Slab]] = [{} for _ in range(depth + 1)]
        pairs: list[dict[int, Slab]] = [{} for _ in range(depth + 1)]
        z: list[dict[int, np.ndarray]] = [{} for _ in range(depth)]
        inside[depth][1] = (evidence, np.zeros(batch))
        for d in range(depth - 1, -1, -1):
            z[d] = self._up(d, inside, pairs, batch, length, lengths)

        prior = g.root_prior
        joint = np.zeros((batch, g.symbols[0]))
        log_scale = np.full(batch, -np.inf)
        for w, (slab, scale) in inside[0].items():  # over widths
            hit = lengths == w
            joint[hit] = slab[0][:, hit].T * prior
            log_scale[hit] = scale[hit]
        total = joint.sum(axis=1)
        with np.errstate(divide="ignore"):
            log_evidence = log_scale + np.log(total)
        log_evidence = np.where(total > 0, log_evidence, -np.inf)
        root = np.where(
            total[:, None] > 0, joint / np.where(total > 0, total, 1.0)[:, None], 1 / len(prior)
        )
        outside_charts: list[dict[int, Slab]] = [{} for _ in range(depth + 1)]
        charts = Charts(inside, pairs, outside_charts, z, log_evidence, root, evidence)
        if outside:
            self._down(charts, lengths, batch)
        return charts

    def _up(
        self, d: int, inside, pairs, batch: int, length: int, lengths: np.ndarray
    ) -> dict[int, np.ndarray]:
        """The inside slabs of level d from those of level d + 1 (and their pair chart);
        returns the pair chart through the ternary rules, Z[w][.., a, b, B], for the way
        down. The root level needs only the widths of the chunk's sequences (sorted by
        length, a chunk's lengths are close), and its pair chart only the widths they ask."""
        kernels = self.levels[d]
        n_d, n = self.grammar.symbols[d], self.grammar.symbols[d + 1]
        child = inside[d + 1]
        pair = pairs[d + 1]
        low, high = min(child, default=1), max(child, default=0)
        widths = self._widths(d, length)
        if d == 0:
            widths = range(max(widths.start, int(lengths.min())), widths.stop)
        asked = set(widths) | {w - w1 for w in widths for w1 in child}
        for wp in range(2 * low, min(2 * high, length) + 1):
            if wp not in asked:
                continue
            span = length - wp + 1
            parts: list[Part] = []
            for w2 in range(low, wp - low + 1):
                w3 = wp - w2
                if w2 not in child or w3 not in child:
                    continue
                (left, s2), (right, s3) = child[w2], child[w3]

                def term(left=left, right=right, w2=w2, span=span):
                    outer = left[:span, :, None, :] * right[w2 : w2 + span, None, :, :]
                    return outer.reshape(span, n * n, batch)

                parts.append((s2 + s3, 0, term))
            pair[wp] = _combine((span, n * n, batch), parts)
        zs = {}
        if kernels["tmat"] is not None:
            for wp, (slab, _) in pair.items():
                zs[wp] = np.matmul(kernels["tmat"], slab).reshape(slab.shape[0], n_d, n, batch)
        for w in widths:
            starts = self._starts(d, w, length)
            parts = []
            if kernels["bmat"] is not None and w in pair:
                slab, scale = pair[w]
                parts.append(
                    (scale, 0, lambda slab=slab, s=starts: np.matmul(kernels["bmat"], slab[:s]))
                )
            for w1, (first, s1) in child.items():
                if w - w1 not in zs:
                    continue
                z, sz = zs[w - w1], pair[w - w1][1]

                def term(first=first, z=z, w1=w1, s=starts):
                    return np.einsum("skb,sakb->sab", first[:s], z[w1 : w1 + s])

                parts.append((s1 + sz, 0, term))
            inside[d][w] = _combine((starts, n_d, batch), parts)
        return zs

    def _down(
        self,
        charts: Charts,
        lengths: np.ndarray,
        batch: int,
        free: tuple[list, list] | None = None,
    ) -> list[dict[int, Slab]]:
        """Every outside slab, level by level from the root's, into ``charts.outside``.

        With ``free`` (the inside charts of a fully masked sequence, `free_charts`), the
        *left-context* outside instead: the outside of each span with everything left of it
        observed and everything right of it masked, so that a sibling to the right of a span
        contributes its masked inside (the free one, the same at every start) and a sibling to
        the left its ordinary inside. It is one chart for every position i of a span, since
        the prefix x_<i is all that lies left of any span containing i; at the leaves it is
        P(x_<i, x_i, the length) for every i at once. Returned, not stored."""
        g = self.grammar
        inside, pairs = charts.inside, charts.pairs
        outside: list[dict[int, Slab]] = [{} for _ in range(g.depth + 1)]
        for w in inside[0]:
            hit = lengths == w
            slab = np.where(hit[None, None, :], g.root_prior[None, :, None], 0.0)
            outside[0][w] = (slab, np.where(hit, 0.0, -np.inf))
        for d in range(g.depth):
            bmat, tmat = self.levels[d]["bmat"], self.levels[d]["tmat"]
            n = g.symbols[d + 1]
            child, pair, zs = inside[d + 1], pairs[d + 1], charts.z[d]
            # the inside of what lies right of a span: ordinary, or masked (free)
            right_child = free[0][d + 1] if free else child
            right_z = free[1][d] if free else {w: (z, pair[w][1]) for w, z in zs.items()}
            parent = outside[d]
            pair_out: dict[int, Slab] = {}
            for wp, (pslab, _) in pair.items():
                span = pslab.shape[0]
                parts: list[Part] = []
                if bmat is not None and wp in parent:
                    o, so = parent[wp]
                    parts.append((so, 0, lambda o=o, bmat=bmat: np.matmul(bmat.T, o)))
                if tmat is not None:
                    for w, (o, so) in parent.items():
                        w1 = w - wp
                        if w1 not in child:
                            continue
                        first, s1 = child[w1]

                        def term(o=o, first=first, tmat=tmat):
                            s = o.shape[0]
                            joint = o[:, :, None, :] * first[:s, None, :, :]
                            return np.matmul(tmat.T, joint.reshape(s, -1, batch))

                        parts.append((so + s1, w1, term))
                pair_out[wp] = _combine((span, n * n, batch), parts)
            for w1, (cslab, _) in child.items():
                parts = []
                if tmat is not None:
                    for w, (o, so) in parent.items():
                        if w - w1 not in right_z:
                            continue
                        z, sz = right_z[w - w1]

                        def term(o=o, z=z, w1=w1, masked=free is not None):
                            if masked:  # the same at every start
                                return (o[:, :, None, :] * z).sum(axis=1)
                            return np.einsum("sab,sakb->skb", o, z[w1 : w1 + o.shape[0]])

                        parts.append((so + sz, 0, term))
                for wp, (op, sp) in pair_out.items():
                    other = wp - w1
                    span = op.shape[0]
                    if other in right_child:  # this child first, its sibling to the right
                        sibling, ss = right_child[other]

                        def left(op=op, sibling=sibling, w1=w1, span=span, n=n, masked=bool(free)):
                            grid = op.reshape(span, n, n, batch)
                            if masked:  # the same at every start
                                return (grid * sibling[:, None, :, :]).sum(axis=2)
                            return np.einsum("sceb,seb->scb", grid, sibling[w1 : w1 + span])

                        parts.append((sp + ss, 0, left))
                    if other in child:  # this child second, its sibling to the left
                        sibling, ss = child[other]

                        def right(op=op, sibling=sibling, span=span, n=n):
                            grid = op.reshape(span, n, n, batch)
                            return np.einsum("sceb,scb->seb", grid, sibling[:span])

                        parts.append((sp + ss, other, right))
                outside[d + 1][w1] = _combine(cslab.shape, parts)
        if free is None:
            charts.outside[:] = outside
        return outside

    def free_charts(self, length: int) -> tuple[list, list]:
        """The inside charts of a fully masked sequence up to ``length``: for each level, {w:
        (P(a yields some w symbols) (1, n_d, 1), log-scale (1,))}, and for the parents of each
        level the ternary contraction of the masked pair chart, {w: ((1, n_d, n, 1), (1,))}.
        They do not depend on the start, so one start serves every span."""
        x = np.full((1, length), MASKED)
        charts = self.charts(x, np.array([1]), outside=False)
        spans = [{w: (slab[:1], sc) for w, (slab, sc) in level.items()} for level in charts.inside]
        z = [
            {w: (zw[:1], charts.pairs[d + 1][w][1]) for w, zw in charts.z[d].items()}
            for d in range(self.grammar.depth)
        ]
        return spans, z

    def left_context(
        self, charts: Charts, lengths: np.ndarray, batch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(B, N, q) P(x_i | x_<i, the length) at every position, from the left-context
        outside of the leaves (see `_down`), uniform where the prefix is impossible; and (B,
        N) whether the prefix x_<i is possible (with the length)."""
        law, log_prefix = self.left_joint(charts, lengths, batch)
        return law, np.isfinite(log_prefix)

    def left_joint(
        self, charts: Charts, lengths: np.ndarray, batch: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """`left_context`'s law (B, N, q), and log P(x_<i, the length) (B, N), -inf where the
        prefix is impossible."""
        length = charts.evidence.shape[0]
        free = self.free_charts(length)
        leaf, scale = self._down(charts, lengths, batch, free)[self.grammar.depth][1]
        belief = leaf.transpose(2, 0, 1)
        total = belief.sum(axis=2, keepdims=True)
        q = belief.shape[2]
        possible = total > 0
        law = np.where(possible, belief / np.where(possible, total, 1.0), 1.0 / q)
        with np.errstate(divide="ignore"):
            log_prefix = np.where(possible[..., 0], np.log(total[..., 0]) + scale[:, None], -np.inf)
        return law, log_prefix

    # --- answers --------------------------------------------------------------------------

    @staticmethod
    def leaf_posteriors(charts: Charts, *, leave_one_out: bool = False) -> np.ndarray:
        """(B, N, q) P(x_i | observed leaves), or with ``leave_one_out`` P(x_i | every other
        observed leaf); uniform at padding and where the evidence is impossible."""
        depth = len(charts.inside) - 1
        out_slab, _ = charts.outside[depth][1]
        belief = out_slab if leave_one_out else out_slab * charts.evidence
        belief = belief.transpose(2, 0, 1)
        total = belief.sum(axis=2, keepdims=True)
        q = belief.shape[2]
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total > 0, belief / total, 1.0 / q)
        out[~np.isfinite(charts.log_evidence)] = 1.0 / q
        return out

    @staticmethod
    def span_posteriors(charts: Charts, d: int) -> dict[int, np.ndarray]:
        """{w: (B, starts, n_d)} P(a symbol a of level d spans [i, i + w) | observed leaves)."""
        out = {}
        finite = np.isfinite(charts.log_evidence)
        for w, (islab, si) in charts.inside[d].items():
            oslab, so = charts.outside[d][w]
            with np.errstate(invalid="ignore"):
                factor = np.exp(np.where(finite, si + so - charts.log_evidence, -np.inf))
            factor = np.nan_to_num(factor, nan=0.0)
            out[w] = (islab * oslab * factor).transpose(2, 0, 1)
        return out


class CFGInference:
    """Chunked, length-sorted driver of `InsideOutside` over many sequences, on a thread pool
    (numpy releases the GIL inside each chunk's array work; each chunk writes its own rows)."""

    def __init__(self, grammar: CFGrammar, chunk: int = 256, workers: int | None = None) -> None:
        self.grammar = grammar
        self.engine = InsideOutside(grammar)
        self.chunk = chunk
        self.workers = workers

    def chart_numbers(self, width: int) -> int:
        """Numbers one sequence of length ``width`` holds in its charts (inside, outside, pair
        charts and their ternary contractions, every level): the working memory per sequence."""
        g, total = self.grammar, 0
        for d in range(g.depth):
            n_d, n = g.symbols[d], g.symbols[d + 1]
            low, high = g.width_range(d)
            slabs = sum(1 if d == 0 else width - w + 1 for w in range(low, min(high, width) + 1))
            c_low, c_high = g.width_range(d + 1)
            pairs = sum(width - w + 1 for w in range(2 * c_low, min(2 * c_high, width) + 1))
            total += 2 * slabs * n_d + pairs * (2 * n * n + n_d * n)
        return total

    def chunk_size(self, width: int) -> int:
        """Sequences per chunk: the configured chunk, fewer when its charts would hold more
        than `CHUNK_NUMBERS` numbers (many symbols per level, long sequences)."""
        return max(1, min(self.chunk, CHUNK_NUMBERS // max(self.chart_numbers(width), 1)))

    def _jobs(self, lengths: np.ndarray, width: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The rows sorted by length, and the (start, stop) of each chunk in that order."""
        order = np.argsort(lengths, kind="stable")
        size = self.chunk_size(width)
        return order, [(s, min(s + size, order.shape[0])) for s in range(0, order.shape[0], size)]

    def _run(self, work: Callable[..., None], order: np.ndarray, bounds, *context) -> None:
        from hbench_tree.blocks import default_workers, run_blocks

        jobs = [(order, context, start, stop) for start, stop in bounds]
        workers = default_workers() if self.workers is None else self.workers
        run_blocks(work, jobs, workers, None)

    def _check_memory(self, n: int, width: int, what: str, per_sequence: int) -> None:
        from hbench_tree.blocks import default_workers

        workers = default_workers() if self.workers is None else self.workers
        working = workers * self.chunk_size(width) * self.chart_numbers(width) * 8
        check_fits(n * per_sequence * 8 + working, f"{what} of n={n} sequences of grammar 'cfg'")

    def _chunk(self, order: np.ndarray, context: tuple, start: int, stop: int):
        """The rows of one chunk, trimmed to its longest sequence, and their charts."""
        x, lengths, out_full = context[:3]
        rows = order[start:stop]
        size = max(int(lengths[rows].max()), 1)
        return rows, size, self.engine.charts(x[rows, :size], lengths[rows], outside=out_full)

    def posteriors(
        self, leaves: np.ndarray, *, full: bool = True, leave_one_out: bool = False
    ) -> Posteriors:
        """Root posterior and log-likelihood; with ``full`` leaf posteriors (one-hot at
        observed leaves, uniform at padding); with ``leave_one_out`` P(x_i | every other
        observed leaf). ``root`` is (n, max(q, n_0)), the root level's n_0 symbols first and
        zeros after them, so that a task asking the root reads q columns as for a tree.
        ``nodes`` is filled only when every rule has the same arity s, so that the tree's shape
        is fixed: then node j at depth d spans leaves [j w, (j + 1) w), w = s**(depth - d),
        and ``nodes[d]`` is (n, s**d, max(q, n_d)) as ``root`` (uniform over the n_d symbols
        where the evidence is impossible); otherwise a cfg's nodes have no fixed places (see
        `span_posteriors` and `ancestor_posteriors`)."""
        g = self.grammar
        x, lengths = check_sequences(leaves, g)
        n, width = x.shape
        q, roots = g.q, g.symbols[0]
        arities = {int(a) for level in g.rules for a in np.unique(level.arity)}
        s = max(arities)  # the rules' own: a grammar drawn with 2 and 3 may have only 2
        fixed = full and len(arities) == 1 and width >= s**g.depth
        depths = range(1, g.depth) if fixed else range(0)
        per_sequence = roots + 1 + (width * q if full else 0) + (width * q if leave_one_out else 0)
        per_sequence += sum(s**d * max(q, g.symbols[d]) for d in depths)
        self._check_memory(n, width, "posteriors", per_sequence)
        out = Posteriors(
            root=np.zeros((n, max(roots, q))),
            loglik=np.empty(n),
            leaves=np.full((n, width, q), 1.0 / q) if full else None,
            leave_one_out=np.full((n, width, q), 1.0 / q) if leave_one_out else None,
            nodes={d: np.zeros((n, s**d, max(q, g.symbols[d]))) for d in depths},
        )

        def work(order, context, start, stop) -> None:
            rows, size, charts = self._chunk(order, context, start, stop)
            out.root[rows, :roots] = charts.root
            out.loglik[rows] = charts.log_evidence
            impossible = rows[~np.isfinite(charts.log_evidence)]
            for d in depths:
                w = s ** (g.depth - d)
                spans = self.engine.span_posteriors(charts, d).get(w)
                if spans is not None and size == s**g.depth:
                    out.nodes[d][rows, :, : g.symbols[d]] = spans[:, ::w]
                out.nodes[d][impossible, :, : g.symbols[d]] = 1.0 / g.symbols[d]
            if full:
                out.leaves[rows, :size] = self.engine.leaf_posteriors(charts)
                if leave_one_out:
                    loo = self.engine.leaf_posteriors(charts, leave_one_out=True)
                    out.leave_one_out[rows, :size] = loo

        order, bounds = self._jobs(lengths, width)
        self._run(work, order, bounds, x, lengths, full)
        if full:
            pad = x == PAD
            out.leaves[pad] = 1.0 / q
            if leave_one_out:
                out.leave_one_out[pad] = 1.0 / q
        return out

    def span_posteriors(self, leaves: np.ndarray) -> dict[int, np.ndarray]:
        """{level d: (n, N, N + 1, n_d)} P(symbol a of level d spans [i, j) | observed leaves)
        at [row, i, j, a] (zero where j <= i or the span is impossible), for d = 0..depth - 1.
        Memory grows as N**2 per sequence: for analyses of small batches."""
        x, lengths = check_sequences(leaves, self.grammar)
        n, width = x.shape
        g = self.grammar
        per_sequence = width * (width + 1) * sum(g.symbols[:-1])
        self._check_memory(n, width, "span posteriors", per_sequence)
        out = {d: np.zeros((n, width, width + 1, g.symbols[d])) for d in range(g.depth)}

        def work(order, context, start, stop) -> None:
            rows, _, charts = self._chunk(order, context, start, stop)
            for d in range(g.depth):
                for w, post in self.engine.span_posteriors(charts, d).items():
                    starts = np.arange(post.shape[1])
                    out[d][rows[:, None], starts[None, :], starts[None, :] + w] = post

        order, bounds = self._jobs(lengths, width)
        self._run(work, order, bounds, x, lengths, True)
        return out

    def ancestor_posteriors(self, leaves: np.ndarray) -> dict[int, np.ndarray]:
        """{level d: (n, N, n_d)} P(the level-d ancestor of leaf i is a | observed leaves), for
        d = 0..depth - 1 (uniform at padding and where the evidence is impossible): the sum of
        the posteriors of the level-d spans that contain i."""
        x, lengths = check_sequences(leaves, self.grammar)
        n, width = x.shape
        g = self.grammar
        self._check_memory(n, width, "ancestor posteriors", width * sum(g.symbols[:-1]))
        out = {d: np.zeros((n, width, g.symbols[d])) for d in range(g.depth)}
        loglik = np.empty(n)

        def work(order, context, start, stop) -> None:
            rows, size, charts = self._chunk(order, context, start, stop)
            loglik[rows] = charts.log_evidence
            positions = np.arange(size)
            for d in range(g.depth):
                total = np.zeros((rows.shape[0], size, g.symbols[d]))
                for w, post in self.engine.span_posteriors(charts, d).items():
                    starts = post.shape[1]
                    cumulative = np.concatenate(
                        [np.zeros_like(post[:, :1]), np.cumsum(post, axis=1)], axis=1
                    )
                    high = np.minimum(positions, starts - 1) + 1
                    low = np.clip(positions - w + 1, 0, starts)
                    total += cumulative[:, high] - cumulative[:, np.minimum(low, high)]
                out[d][rows, :size] = total

        order, bounds = self._jobs(lengths, width)
        self._run(work, order, bounds, x, lengths, True)
        bad = (x == PAD)[:, :, None] | ~np.isfinite(loglik)[:, None, None]
        for d in out:
            out[d] = np.where(bad, 1.0 / g.symbols[d], out[d])
        return out

    def next_token(self, leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(x_i | x_<i, the length) at every position of every sequence, the rest of the
        sequence masked but its length known (the padding stays): ``(probabilities (n, N, q),
        log_probabilities (n, N))``, log-probabilities of the observed symbols (0 at masked
        and padded positions, -inf once the prefix is impossible). Their row sums are
        log P(x | length), so add `length_log_probability` for the log-likelihood.

        One inside pass and one left-context outside pass per chunk, for every position at
        once (`InsideOutside.left_context`), not one masked pass per position."""
        x, lengths = check_sequences(leaves, self.grammar)
        n, width = x.shape
        q = self.grammar.q
        self._check_memory(n, width, "next-token posteriors", width * (q + 1))
        probabilities = np.full((n, width, q), 1.0 / q)
        possible = np.zeros((n, width), dtype=bool)

        def work(order, context, start, stop) -> None:
            rows, size, charts = self._chunk(order, context, start, stop)
            law, alive = self.engine.left_context(charts, lengths[rows], rows.shape[0])
            probabilities[rows, :size] = law
            possible[rows, :size] = alive

        order, bounds = self._jobs(lengths, width)
        self._run(work, order, bounds, x, lengths, False)
        probabilities[x == PAD] = 1.0 / q
        chosen = np.take_along_axis(probabilities, np.maximum(x, 0)[..., None], axis=2)[..., 0]
        # an impossible prefix (with the length) has uniform probabilities, and the symbol that
        # follows it log-probability -inf
        with np.errstate(divide="ignore"):
            logs = np.where(possible, np.log(chosen), -np.inf)
        return probabilities, np.where(x >= 0, logs, 0.0)

    def next_symbol(self, leaves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """P(x_i | x_<i) at every position, the length unknown: the language model's question,
        with the end of the sequence as a symbol of its own. Returns ``(probabilities (n, N +
        1, q + 1), log_probabilities (n, N + 1))``: row i of a sequence is the law of what
        follows its prefix x_<i, column q being the end; position i = length asks the end.
        Log-probabilities are those of what does follow (the symbol, or the end at position
        length; 0 after it and at masked positions, -inf once the prefix is impossible), so
        their row sums are the log-likelihoods.

        Exact, by summing over the lengths m the sequence may have: with J(i, m) = P(x_<i,
        length m), P(end | x_<i) = J(i, i) / sum_m J(i, m) and P(x_i = b | x_<i) =
        sum_{m > i} J(i, m) P(x_i = b | x_<i, length m) / sum_m J(i, m). One left-context pass
        per length m (the sequence's prefix, then masked symbols up to m) gives J(i, m) and
        P(x_i | x_<i, length m) for every i < m, and its log-likelihood J(m, m): the longest
        sequence's number of passes per sequence."""
        g = self.grammar
        x, lengths = check_sequences(leaves, g)
        n, width = x.shape
        q, longest = g.q, g.max_length
        columns = max(width, longest)
        x = np.concatenate([x, np.full((n, columns - width), PAD, dtype=np.int64)], axis=1)
        keep = min(width, longest) + 1  # positions whose prefix may be possible
        # what follows each prefix: its symbol (-1: masked), the end (q) at the length, nothing
        # (-1) after it
        at = np.arange(width + 1)[None, :]
        follows = np.where(at < lengths[:, None], np.pad(x[:, :width], ((0, 0), (0, 1))), -1)
        follows = np.where(at == lengths[:, None], q, follows)
        probabilities = np.full((n, width + 1, q + 1), 1.0 / (q + 1))
        logp = np.zeros((n, width + 1))
        self._check_memory(n, longest, "next-symbol posteriors", longest * longest * (q + 1))
        m_of = np.arange(1, longest + 1)  # every length
        block = max(1, self.chunk * 4 // longest)
        positions = np.arange(longest)[None, :]
        for start in range(0, n, block):  # over blocks of sequences
            seq = x[start : start + block, :longest]
            count = seq.shape[0]
            own = lengths[start : start + count]
            rows = np.repeat(seq, longest, axis=0)  # row (r, m)
            m_row = np.tile(m_of, count)[:, None]
            observed = positions < np.minimum(np.repeat(own, longest)[:, None], m_row)
            rows = np.where(observed, rows, np.where(positions < m_row, MASKED, PAD))
            law, log_prefix, loglik = self._left_rows(rows)
            law = law.reshape(count, longest, longest, q)  # [r, m - 1, i, b]
            # log J(i, m) at [r, i, m] for m = 0..longest (m = 0: the empty sequence, never)
            table = np.full((count, longest + 1, longest + 1), -np.inf)
            below = np.less.outer(np.arange(longest), m_of)  # (i, m - 1): i < m
            prefix = log_prefix.reshape(count, longest, longest).transpose(0, 2, 1)
            table[:, :longest, 1:] = np.where(below[None], prefix, -np.inf)
            table[:, m_of, m_of] = loglik.reshape(count, longest)  # J(m, m): the end at m
            top = table.max(axis=2, keepdims=True)
            top = np.where(np.isfinite(top), top, 0.0)
            weights = np.exp(table - top)
            total = weights.sum(axis=2)  # (count, i)
            symbols = np.einsum(
                "cim,cmib->cib", np.where(below[None], weights[:, :longest, 1:], 0.0), law
            )
            end = weights[:, np.arange(longest + 1), np.arange(longest + 1)]
            symbols = np.concatenate([symbols, np.zeros((count, 1, q))], axis=1)
            joint = np.concatenate([symbols, end[..., None]], axis=2)
            possible = total > 0
            with np.errstate(invalid="ignore"):
                result = np.where(possible[..., None], joint / total[..., None], 1.0 / (q + 1))
            probabilities[start : start + count, :keep] = result[:, :keep]
            follow = follows[start : start + count, :keep]
            chosen = np.take_along_axis(result[:, :keep], np.maximum(follow, 0)[..., None], 2)
            with np.errstate(divide="ignore"):
                logs = np.where(possible[:, :keep], np.log(chosen[..., 0]), -np.inf)
            logp[start : start + count, :keep] = np.where(follow >= 0, logs, 0.0)
        # a prefix longer than the longest sequence is impossible
        logp[:, keep:] = np.where(follows[:, keep:] >= 0, -np.inf, 0.0)
        return probabilities, logp

    def _left_rows(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For rows (R, N) (-1 masked, `PAD` after each end): P(x_i | x_<i, the length) (R,
        N, q), log P(x_<i, the length) (R, N) and log P(row) (R,), on the thread pool."""
        x, lengths = check_sequences(rows, self.grammar)
        count, width = x.shape
        law = np.full((count, width, self.grammar.q), 1.0 / self.grammar.q)
        log_prefix = np.full((count, width), -np.inf)
        loglik = np.empty(count)

        def work(order, context, start, stop) -> None:
            rows, size, charts = self._chunk(order, context, start, stop)
            law[rows, :size], log_prefix[rows, :size] = self.engine.left_joint(
                charts, lengths[rows], rows.shape[0]
            )
            loglik[rows] = charts.log_evidence

        order, bounds = self._jobs(lengths, width)
        self._run(work, order, bounds, x, lengths, False)
        return law, log_prefix, loglik

    def length_log_probability(self, lengths: np.ndarray) -> np.ndarray:
        """log P(the sequence has length n) for each n of ``lengths``: the log-likelihood of
        n masked leaves."""
        lengths = np.asarray(lengths, dtype=np.int64)
        width = max(int(lengths.max(initial=0)), 1)
        x = np.where(np.arange(width)[None, :] < lengths[:, None], MASKED, PAD)
        return self.posteriors(x, full=False).loglik
