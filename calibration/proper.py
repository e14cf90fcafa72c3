"""Proper scores of an ensemble predictive against one record: CRPS (of a value or of a range), Brier, PIT.

All functions take ensembles as arrays (runs, rows) and score every row at once. A *range* statement (the record says
only that the value lies in [low, high], one end possibly infinite) is scored by the interval CRPS

    CRPS(F, [a, b]) = integral_{-inf}^{a} F(x)^2 dx + integral_{b}^{inf} (1 - F(x))^2 dx,

which is zero for the part of the predictive inside the range, charges mass outside it by its distance to the nearest
edge, and is the ordinary CRPS when a = b (Gneiting & Raftery 2007; the censored-observation form of the CRPS). A
statement that holds or not is scored by the Brier score of the predictive probability that it holds.
"""

from __future__ import annotations

import numpy as np


def crps_interval(samples: np.ndarray, low: np.ndarray, high: np.ndarray, fair: bool = True) -> np.ndarray:
    """Interval CRPS (module docstring) of the ensemble's empirical CDF, per row.

    Args:
        samples: (runs, rows) ensemble values.
        low, high: (rows,) the range the record states; ``low == high`` for a point, ``-inf``/``inf`` for a bound.
        fair: the ensemble-size-unbiased form (module docstring); False: the empirical CDF's plain CRPS.
    """
    x = np.sort(np.asarray(samples, dtype=float), axis=0)
    n = x.shape[0]
    # Outside the ensemble's span F is 0 (below) or 1 (above), so clipping the range's ends to the span changes
    # neither integral and keeps every length finite.
    a = np.maximum(np.asarray(low, dtype=float), x[0])
    b = np.minimum(np.asarray(high, dtype=float), x[-1])
    cdf = (np.arange(1, n + 1) / n)[:, None]  # F on [x_i, x_{i+1})
    right = np.vstack([x[1:], np.maximum(x[-1], a)[None, :]])  # the last segment only matters up to a
    below = np.clip(np.minimum(right, a) - x, 0.0, None)
    above = np.clip(x[1:] - np.maximum(x[:-1], b), 0.0, None)
    square = cdf * (n * cdf - 1.0) / (n - 1.0) if fair and n > 1 else cdf ** 2
    upper = 1.0 - cdf[:-1]
    upper_square = upper * (n * upper - 1.0) / (n - 1.0) if fair and n > 1 else upper ** 2
    return (square * below).sum(axis=0) + (upper_square * above).sum(axis=0) + np.clip(x[0] - b, 0.0, None)


def brier(probability: np.ndarray, members: int | None = None) -> np.ndarray:
    """Brier score of a statement the record says held, predicted to hold with ``probability``.

    With ``members``, ``probability`` is an ensemble's share of that many runs, and the score is the fair form (Ferro
    2014): (1 - p)^2 - p(1 - p)/(m - 1), unbiased for the Brier score of the ensemble's true probability, so that
    ensembles of different sizes compare.
    """
    p = np.asarray(probability, dtype=float)
    if members is None or members < 2:
        return (1.0 - p) ** 2
    return (1.0 - p) ** 2 - p * (1.0 - p) / (members - 1)


def mid_pit(samples: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """PIT of each row's observation under its ensemble: P(X < y) + P(X = y) / 2 (ties split, for counts)."""
    x = np.asarray(samples, dtype=float)
    y = np.asarray(observed, dtype=float)[None, :]
    return (x < y).mean(axis=0) + 0.5 * (x == y).mean(axis=0)


def pit_mean_reference(samples: np.ndarray, selected: np.ndarray, draws: int,
                       rng: np.random.Generator) -> np.ndarray:
    """``draws`` means over rows of the mid-PIT a record drawn from the predictive itself would get: the reference
    the observed mean PIT is read against.

    Each row's observation is one of its own runs, scored against the whole ensemble (for any predictive its mid-PIT
    then averages 0.5). A ``selected`` row is one the record holds because an event occurred, its value 0 in a run
    where it did not: its observation is drawn from the runs in which the value is above 0, as the record's was, and
    where no run has one, the record's value lies above every run (PIT 1).
    """
    x = np.asarray(samples, dtype=float)
    order = np.sort(x, axis=0)
    means = np.zeros(draws)
    for j in range(x.shape[1]):
        own = 0.5 * (np.searchsorted(order[:, j], x[:, j], "left")
                     + np.searchsorted(order[:, j], x[:, j], "right")) / len(x)
        pool = own[x[:, j] > 0] if selected[j] else own
        means += pool[rng.integers(0, len(pool), size=draws)] if len(pool) else 1.0
    return means / x.shape[1]


def covered(pit: np.ndarray, level: float) -> np.ndarray:
    """Whether the observation lies in the predictive's central ``level`` interval (read from its PIT)."""
    return np.abs(np.asarray(pit, dtype=float) - 0.5) <= level / 2.0 + 1e-12


def skill_ratio(gain: np.ndarray, attainable: np.ndarray, bootstrap: int, rng: np.random.Generator,
                level: float = 0.9) -> tuple[float, float, float]:
    """Sum of ``gain`` over sum of ``attainable`` and a bootstrap ``level`` interval over rows (resampled together).

    Returns NaNs when there are no rows or the attainable sum is not positive (nothing to learn).
    """
    gain, attainable = np.asarray(gain, dtype=float), np.asarray(attainable, dtype=float)
    if gain.size == 0 or attainable.sum() <= 0:
        return np.nan, np.nan, np.nan
    idx = rng.integers(0, gain.size, size=(bootstrap, gain.size))
    den = attainable[idx].sum(axis=1)
    ratios = np.where(den > 0, gain[idx].sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)
    if np.isnan(ratios).all():
        return float(gain.sum() / attainable.sum()), np.nan, np.nan
    low, high = np.nanquantile(ratios, [(1 - level) / 2, (1 + level) / 2])
    return float(gain.sum() / attainable.sum()), float(low), float(high)
