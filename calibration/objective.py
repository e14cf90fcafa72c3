"""The distance between simulated and observed: one loss per target, a pattern filter, and the SIPRI block.

Losses follow the tolerances of data/OBSERVATIONS.md, fixed before any fit: a statistic within its tolerance (or on
the right side of a one-sided bound) costs nothing; beyond it, the cost is the squared excess in units of the
tolerance (at least one unit), capped so that no single target can swamp the rest. One-sided statements (">200",
"at least 18") are hinge losses. Rows of kind ``pattern`` also form the pattern filter (Grimm et al. 2005): a draw that
breaks patterns pays for them at PATTERN_WEIGHT times a plain target's weight: a soft filter that keeps the distance
on one scale (a hard filter on ~30 stochastic patterns would reject almost every draw). The SIPRI block compares five-year
non-Chinese import totals on a log scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from calibration.targets import Target

# A miss of five tolerance units already says "wrong"; beyond it the loss stops growing (robust to outliers).
LOSS_CAP = 25.0
# Patterns (kind = pattern) weigh this many plain targets.
PATTERN_WEIGHT = 3.0
# SIPRI five-year totals: log1p error with this scale (a factor of about e^0.5 = 1.65 is one unit), judgement.
SIPRI_LOG_SCALE = 0.5


@dataclass(frozen=True)
class Weights:
    """Relative weight of the SIPRI block against the article's targets (one unit per target)."""

    sipri: float = 20.0


def target_losses(targets: list[Target], sims: np.ndarray) -> np.ndarray:
    """Per-seed losses, (seeds, targets), of simulated statistics ``sims`` (seeds, targets)."""
    value = np.array([t.value for t in targets])
    low = np.array([t.low for t in targets])
    high = np.array([t.high for t in targets])
    tol = np.array([t.tolerance for t in targets])
    rel = np.array([t.relation for t in targets])
    unit = np.maximum(tol, 1.0)
    with np.errstate(invalid="ignore"):
        excess = np.select(
            [rel == "eq", rel == "ge", rel == "le", rel == "between"],
            [np.maximum(np.abs(sims - value) - tol, 0.0), np.maximum(value - sims, 0.0),
             np.maximum(sims - value, 0.0), np.maximum(np.maximum(low - sims, sims - high) - tol, 0.0)],
        )
    return np.minimum((excess / unit) ** 2, LOSS_CAP)


def hits(targets: list[Target], sims: np.ndarray) -> np.ndarray:
    """Whether each seed's statistic satisfies each target within its tolerance, (seeds, targets)."""
    return target_losses(targets, sims) == 0.0


def distance(targets: list[Target], sims: np.ndarray, sipri_sim: np.ndarray | None = None,
             sipri_obs: np.ndarray | None = None, weights: Weights = Weights()) -> float:
    """Expected loss over seeds, per unit of weight (patterns weighted PATTERN_WEIGHT, the SIPRI block its weight).

    Args:
        targets: compiled targets.
        sims: simulated statistics, (seeds, targets).
        sipri_sim: simulated five-year import totals, (seeds, ...) matching ``sipri_obs``; ``None`` skips the block.
        sipri_obs: observed totals.
        weights: the SIPRI block's weight.
    """
    losses = target_losses(targets, sims)
    weight = np.array([PATTERN_WEIGHT if t.kind == "pattern" else 1.0 for t in targets])
    total = float(losses.mean(axis=0) @ weight)
    n = float(weight.sum())
    if sipri_sim is not None and sipri_obs is not None:
        err = ((np.log1p(sipri_sim) - np.log1p(sipri_obs)) / SIPRI_LOG_SCALE) ** 2
        total += weights.sipri * float(np.minimum(err, LOSS_CAP).mean())
        n += weights.sipri
    return total / n
