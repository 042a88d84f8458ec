"""Exact yardsticks for sequences a model generates: likelihood, coherence and n-gram laws.

A generated sequence x of L = s**depth symbols (s the arity) is judged against a grammar G
(filtered at some level, or a cfg whose every rule has the same arity, so that each symbol of
level depth - d yields the same aligned block of s**d leaves) by three exact quantities, all
computed from the oracle's log-likelihood of partially masked leaves (`Oracle.posteriors`
with ``full=False``; masked leaves are summed out), so that they hold for any grammar and
filter level that oracle understands, with no sampling involved:

* **log-likelihood** log P_G(x): -inf for a sequence G cannot produce.
* **coherence**: split x into the s**(depth - d) aligned blocks of s**d leaves; the blocks of
  *depth* d parse when each has positive marginal probability under G, P_G(x_block) > 0 with
  every other leaf summed out (equivalently: some symbol that G can put at the root of that
  block's subtree derives the block). A block that parses at depth d is made of blocks that
  parse at depth d - 1 (a marginal of a positive marginal is positive), so the depths at which
  x parses are 0..c(x) for one number, the *coherence depth* c(x) in {-1, 0, .., depth}:
  depth when G can produce x, -1 when even a single symbol is one G never puts at its
  position. It says up to which scale a generated sequence is grammatical.
* **n-gram marginals**: P_G(x_i .. x_{i+n-1} = g) for every window start i and every n-gram g,
  the exact law of the n symbols at those positions (positions aligned: window i is the same
  leaves in every sequence, as the trees fix them).

The cost is one oracle pass over about 2 L rows per sequence for coherence (every block of
every depth, in chunks of `CHUNK_ROWS`), and one over (L - n + 1) q**n rows for the n-gram
marginals (independent of the samples).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hbench.contracts import MASKED, grammar_capabilities
from hbench.errors import invalid

#: Rows of leaves per oracle call, so that memory stays bounded for any number of sequences.
CHUNK_ROWS = 1 << 15
#: The largest table of n-gram marginals computed: (L - n + 1) * q**n rows (oracle passes).
MAX_NGRAM_ROWS = 1 << 18


def _loglik(oracle: Any, model: Any, leaves: np.ndarray) -> np.ndarray:
    """Natural log P_model(observed leaves) of every row, masked leaves summed out, in chunks."""
    out = np.empty(leaves.shape[0])
    for start in range(0, leaves.shape[0], CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, leaves.shape[0])
        post = oracle.posteriors(model, leaves[start:stop], full=False)
        out[start:stop] = np.asarray(post.loglik, dtype=np.float64)
    return out


def _sequences(model: Any, sequences: np.ndarray) -> np.ndarray:
    """``sequences`` as int64 (n, L) symbols in [0, q) of the model's length, else one line."""
    arr = np.asarray(sequences)
    length = grammar_capabilities(model).length(model.depth)
    if arr.ndim != 2 or arr.shape[1] != length:
        raise invalid("sequences", f"array of shape {arr.shape}", f"shape (n, {length})")
    if not np.issubdtype(arr.dtype, np.integer):
        raise invalid("sequences", f"dtype {arr.dtype}", "integer symbols")
    if arr.size and (arr.min() < 0 or arr.max() >= model.q):
        bad = int(arr.min() if arr.min() < 0 else arr.max())
        raise invalid("sequences", bad, f"symbols in [0, {model.q})")
    return arr.astype(np.int64)


def log_likelihood(oracle: Any, model: Any, sequences: np.ndarray) -> np.ndarray:
    """(n,) natural log P_model(x) of whole sequences (-inf where the model cannot make x)."""
    return _loglik(oracle, model, _sequences(model, sequences))


def block_parses(oracle: Any, model: Any, sequences: np.ndarray, d: int) -> np.ndarray:
    """(n, L / s**d) bool: whether each aligned block of s**d leaves has positive marginal
    probability under ``model`` (every other leaf masked)."""
    x = _sequences(model, sequences)
    n, length = x.shape
    size = grammar_capabilities(model).arity ** int(d)
    if d < 0 or size > length:
        raise invalid("d", d, f"a depth in [0, {model.depth}]")
    blocks = length // size
    mine = (np.arange(length) // size)[None, :] == np.arange(blocks)[:, None]  # (blocks, L)
    out = np.empty((n, blocks), dtype=bool)
    step = max(1, CHUNK_ROWS // blocks)  # sequences per chunk: bounded rows in memory
    for start in range(0, n, step):
        chunk = x[start : start + step]
        rows = np.where(mine[None], chunk[:, None, :], MASKED).reshape(-1, length)
        out[start : start + step] = np.isfinite(_loglik(oracle, model, rows)).reshape(-1, blocks)
    return out


def coherence(oracle: Any, model: Any, sequences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(coherence depth (n,) int in -1..depth, log-likelihood (n,)) of every sequence; see the
    module docstring. The whole sequence is the block of depth ``depth``, so its parse is
    its log-likelihood being finite, computed once for both."""
    x = _sequences(model, sequences)
    depth = int(model.depth)
    loglik = _loglik(oracle, model, x)
    parses = np.empty((x.shape[0], depth + 1), dtype=bool)
    for d in range(depth):
        parses[:, d] = block_parses(oracle, model, x, d).all(axis=1)
    parses[:, depth] = np.isfinite(loglik)
    # the parsing depths are 0..c(x): c(x) + 1 of them (a prefix of the levels)
    c = np.cumprod(parses, axis=1).sum(axis=1) - 1
    return c.astype(np.int64), loglik


def ngram_index(sequences: np.ndarray, n: int, q: int) -> np.ndarray:
    """(m, L - n + 1) index of the n-gram starting at each position, first symbol most
    significant: sum_j x_{i+j} q**(n-1-j)."""
    x = np.asarray(sequences, dtype=np.int64)
    windows = x.shape[1] - n + 1
    weights = q ** np.arange(n - 1, -1, -1, dtype=np.int64)
    return sum(x[:, j : j + windows] * weights[j] for j in range(n))


def ngram_frequencies(sequences: np.ndarray, n: int, q: int) -> np.ndarray:
    """(L - n + 1, q**n) empirical law of the n-gram at each window start of ``sequences``."""
    index = ngram_index(sequences, n, q)
    m, windows = index.shape
    flat = index + (np.arange(windows, dtype=np.int64) * q**n)[None, :]
    counts = np.bincount(flat.reshape(-1), minlength=windows * q**n).reshape(windows, q**n)
    return counts / max(m, 1)


def check_order(n: int, q: int, length: int) -> None:
    """Refuse, in one line, an n-gram order outside [1, length] or whose exact table would
    take more than `MAX_NGRAM_ROWS` oracle rows."""
    if not 1 <= n <= length:
        raise invalid("ngram", n, f"an n-gram order in [1, {length}] (the sequence length)")
    if (length - n + 1) * q**n > MAX_NGRAM_ROWS:
        fits = [k for k in range(1, n) if (length - k + 1) * q**k <= MAX_NGRAM_ROWS]
        allowed = f"at most {max(fits)}" if fits else "no order"
        raise invalid("ngram", n, f"{allowed} for q={q} (the table grows as q**n)")


def ngram_marginals(oracle: Any, model: Any, n: int) -> np.ndarray:
    """(L - n + 1, q**n): P_model(x_i .. x_{i+n-1} = g) for each window start i and n-gram g
    (`ngram_index`'s order), exact: the oracle's likelihood of g at the window with every
    other leaf masked."""
    q = int(model.q)
    length = grammar_capabilities(model).length(model.depth)
    check_order(n, q, length)
    windows = length - n + 1
    grams = np.stack(np.unravel_index(np.arange(q**n), (q,) * n), axis=1)  # (q**n, n)
    rows = np.full((windows, q**n, length), MASKED, dtype=np.int64)
    for j in range(n):
        rows[np.arange(windows), :, np.arange(windows) + j] = grams[None, :, j]
    loglik = _loglik(oracle, model, rows.reshape(-1, length))
    return np.exp(loglik).reshape(windows, q**n)


def total_variation(p: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Total variation 1/2 sum_g |p - r| along the last axis."""
    return 0.5 * np.abs(np.asarray(p) - np.asarray(r)).sum(axis=-1)
