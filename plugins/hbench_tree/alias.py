"""Walker's alias method, vectorised over many categorical distributions at once.

Drawing from a categorical with K outcomes costs O(1) with an alias table: pick a column i
uniformly, keep it with probability prob[i], else take alias[i]. One uniform number u in [0, 1)
gives both choices: i = floor(u K) and the fraction u K - i. Tables for all rows are built
together in K - 1 vectorised steps of O(rows) each, so that 2**16 * q rows, or q**2 outcomes
for large q, build without a Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AliasTable:
    """Alias tables for R categorical distributions over K outcomes, flattened row-major."""

    prob: np.ndarray  # (R * K,) probability of keeping the drawn column
    alias: np.ndarray  # (R * K,) outcome taken otherwise
    outcomes: int  # K

    @classmethod
    def build(cls, probabilities: np.ndarray) -> AliasTable:
        """Tables for each row of a (R, K) array of probabilities (rows summing to 1).

        Vose's pairing on each row's columns sorted by mass: a front pointer walks up the
        small columns, a back pointer holds the current large one. Each step finishes one
        column: the current large if it has dropped below 1 (paired with the next largest,
        which is untouched and so >= 1), else the smallest untouched one (<= 1, since the
        unfinished mean is 1), which borrows the rest of its unit from the current large.
        """
        scaled = np.array(probabilities, dtype=np.float64) * probabilities.shape[1]
        rows, k = scaled.shape
        order = np.argsort(scaled, axis=1, kind="stable")
        prob = np.ones((rows, k))
        alias = np.tile(np.arange(k), (rows, 1))
        r = np.arange(rows)
        front = np.zeros(rows, dtype=np.intp)
        back = np.full(rows, k - 1, dtype=np.intp)
        for _ in range(k - 1):
            large = order[r, back]
            large_done = scaled[r, large] < 1.0
            small = np.where(large_done, large, order[r, front])
            donor = np.where(large_done, order[r, np.maximum(back - 1, 0)], large)
            mass = scaled[r, small]
            prob[r, small] = np.minimum(mass, 1.0)
            alias[r, small] = donor
            scaled[r, donor] -= 1.0 - mass
            back -= large_done
            front += ~large_done
        # The last unfinished column keeps prob 1, absorbing rounding error.
        return cls(prob.ravel(), alias.ravel(), k)

    def draw(self, rows: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
        """One outcome per element: from distribution ``rows[i]``, using ``uniforms[i]``."""
        scaled = uniforms * self.outcomes
        column = scaled.astype(np.intp)
        np.minimum(column, self.outcomes - 1, out=column)  # u * K can round up to K
        fraction = scaled - column
        flat = rows.astype(np.intp, copy=False) * self.outcomes + column
        keep = fraction < self.prob[flat]
        return np.where(keep, column, self.alias[flat])
