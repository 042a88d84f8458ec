"""A chi-square goodness-of-fit test without scipy (Wilson-Hilferty approximation of the tail)."""

from __future__ import annotations

import math

import numpy as np


def chi_square_pvalue(counts: np.ndarray, probabilities: np.ndarray, min_expected: float = 5.0):
    """P-value of observed counts under the given cell probabilities.

    Cells with expected count below ``min_expected`` are pooled into one, as the chi-square
    approximation asks; a count in a cell of probability 0 gives p-value 0.
    """
    counts = np.asarray(counts, dtype=float)
    probabilities = np.asarray(probabilities, dtype=float)
    n = counts.sum()
    if np.any(counts[probabilities == 0] > 0):
        return 0.0
    expected = n * probabilities
    big = expected >= min_expected
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    obs, exp = obs[keep], exp[keep]
    statistic = float(((obs - exp) ** 2 / exp).sum())
    dof = len(obs) - 1
    if dof < 1:
        return 1.0
    z = ((statistic / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))
