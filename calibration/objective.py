"""The distance between simulated and observed: one loss per summary component, a pattern filter, and their weights.

Losses follow the tolerances of data/OBSERVATIONS.md, fixed before any fit: a statistic within its tolerance (or on
the right side of a one-sided bound) costs nothing; beyond it, the cost is the excess in units of the tolerance (at
least one unit), capped at LOSS_CAP units so that no single component can swamp the rest. One-sided statements
(">200", "at least 18") are hinge losses. Rows of kind ``pattern`` also form the pattern filter (Grimm et al. 2005): a
draw that breaks patterns pays for them at PATTERN_WEIGHT times a plain target's weight: a soft filter that keeps the
distance on one scale (a hard filter on ~30 stochastic patterns would reject almost every draw). The SIPRI block
compares five-year non-Chinese import totals on a log scale; together its totals weigh as ``Weights.sipri`` targets.

Those are the *base* weights. A fit multiplies them by information weights from a pilot on the prior
(:mod:`calibration.weights`): most components of this record vary with the model's seed far more than with its
parameters, and unweighted they bury the few that carry the signal.

The *score* distance (``Weights.kind = "score"``) scores a particle's seeds as an ensemble predictive of the record,
row by row, with the proper scores of the scores issue (:mod:`calibration.scores`): the Brier score of the probability
that a statement holds (events, patterns, bounds), the interval CRPS of a value or range, the CRPS of log1p(TIV m) of
a SIPRI total, each CRPS in units of the prior predictive's score on the same row (from the pilot), so rows weigh alike
as they do in R. A particle is scored on what its seeds say together (a probability, a spread), not on how lucky one
seed was: the seed noise that carried the expected per-seed loss averages out, and the distance a fit minimises is the
numerator of R.

The *projection* distance (``Weights.kind = "projection"``) reads the record through one summary per parameter, fitted
on the prior (:mod:`calibration.projection`, semi-automatic ABC).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from calibration.proper import brier, crps_interval
from calibration.targets import Target

if TYPE_CHECKING:
    from calibration.projection import Projection

# A miss of five tolerance units already says "wrong"; beyond it the loss stops growing (robust to outliers).
LOSS_CAP = 5.0
# Patterns (kind = pattern) weigh this many plain targets.
PATTERN_WEIGHT = 3.0
# SIPRI five-year totals: log1p error with this scale (a factor of about e^0.5 = 1.65 is one unit), judgement.
SIPRI_LOG_SCALE = 0.5


# Kinds whose rows are statements that hold or not (scored by the Brier score).
BINARY_KINDS = ("event", "pattern")
DISTANCES = ("loss", "score", "projection")


@dataclass(frozen=True)
class Weights:
    """How the components add up.

    Attributes:
        sipri: the SIPRI block's base weight, in targets (each of its totals weighs ``sipri / totals``); loss only.
        components: one weight per component (targets, then SIPRI totals) replacing the base weights; ``None`` keeps
            the base weights. For the score distance, one over the prior's score of each CRPS row, 1 for Brier rows.
        kind: ``loss`` (the expected per-seed loss), ``score`` (the proper score of the seeds as an ensemble) or
            ``projection`` (semi-automatic ABC summaries, :mod:`calibration.projection`).
        projection: the fitted projection (``projection`` only).
    """

    sipri: float = 20.0
    components: tuple[float, ...] | None = None
    kind: str = "loss"
    projection: Projection | None = None


DEFAULT_WEIGHTS = Weights()  # frozen, so one shared default is safe


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
    return np.minimum(excess / unit, LOSS_CAP)


def sipri_losses(sipri_sim: np.ndarray, sipri_obs: np.ndarray) -> np.ndarray:
    """Per-seed losses of the SIPRI totals: the log1p error in units of SIPRI_LOG_SCALE, capped like the targets."""
    return np.minimum(np.abs(np.log1p(sipri_sim) - np.log1p(sipri_obs)) / SIPRI_LOG_SCALE, LOSS_CAP)


def hits(targets: list[Target], sims: np.ndarray) -> np.ndarray:
    """Whether each seed's statistic satisfies each target within its tolerance, (seeds, targets)."""
    return target_losses(targets, sims) == 0.0


def base_weights(targets: list[Target], sipri_totals: int, sipri: float) -> np.ndarray:
    """One per target (PATTERN_WEIGHT for patterns), then ``sipri / sipri_totals`` per SIPRI total."""
    weight = [PATTERN_WEIGHT if t.kind == "pattern" else 1.0 for t in targets]
    return np.array(weight + [sipri / sipri_totals] * sipri_totals) if sipri_totals else np.array(weight)


def components(targets: list[Target], sims: np.ndarray, sipri_sim: np.ndarray | None = None,
               sipri_obs: np.ndarray | None = None) -> np.ndarray:
    """Per-seed losses of every component, (seeds, targets + SIPRI totals)."""
    losses = target_losses(targets, sims)
    if sipri_sim is None or sipri_obs is None:
        return losses
    return np.concatenate([losses, sipri_losses(sipri_sim, sipri_obs)], axis=1)


def statement_range(target: Target) -> tuple[float, float]:
    """The values a statement allows, as the distance reads it: ``eq`` and ``between`` widened by the tolerance,
    one-sided bounds as they stand."""
    if target.relation == "eq":
        return target.value - target.tolerance, target.value + target.tolerance
    if target.relation == "between":
        return target.low - target.tolerance, target.high + target.tolerance
    return (target.value, np.inf) if target.relation == "ge" else (-np.inf, target.value)


def rule(target: Target) -> str:
    """``brier`` for statements that hold or not (events, patterns, bounds), ``crps`` for values and ranges."""
    return "brier" if target.kind in BINARY_KINDS or target.relation in ("ge", "le") else "crps"


def holds(targets: list[Target], stats: np.ndarray) -> np.ndarray:
    """P(statement holds) per target over the ensemble's runs."""
    return (target_losses(targets, stats) == 0.0).mean(axis=0)


def raw_scores(targets: list[Target], stats: np.ndarray) -> np.ndarray:
    """Per target: the Brier score (brier rows) or the interval CRPS (crps rows) of an ensemble (runs, targets), both
    in their fair forms."""
    ranges = np.array([statement_range(t) for t in targets]).reshape(-1, 2)
    crps = crps_interval(stats, ranges[:, 0], ranges[:, 1])
    return np.where([rule(t) == "brier" for t in targets], brier(holds(targets, stats), len(stats)), crps)


def sipri_crps(sipri: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """CRPS of log1p(TIV m) per SIPRI total."""
    return crps_interval(np.log1p(sipri), np.log1p(observed), np.log1p(observed))


def score_components(targets: list[Target], sims: np.ndarray, sipri_sim: np.ndarray | None = None,
                     sipri_obs: np.ndarray | None = None) -> np.ndarray:
    """Raw proper scores of the seeds as an ensemble, one per component (targets, then SIPRI totals)."""
    scores = raw_scores(targets, sims)
    if sipri_sim is None or sipri_obs is None:
        return scores
    return np.concatenate([scores, sipri_crps(sipri_sim, np.ravel(sipri_obs))])


def distance(targets: list[Target], sims: np.ndarray, sipri_sim: np.ndarray | None = None,
             sipri_obs: np.ndarray | None = None, weights: Weights = DEFAULT_WEIGHTS) -> float:
    """Weighted mean over components of the expected loss over seeds, or of the seeds' proper scores, or the mean
    distance of the seeds' projected summaries to the record's (``weights.kind``).

    Args:
        targets: compiled targets.
        sims: simulated statistics, (seeds, targets).
        sipri_sim: simulated five-year import totals, (seeds, ...) matching ``sipri_obs``; ``None`` skips the block.
        sipri_obs: observed totals.
        weights: the SIPRI block's base weight, or one weight per component.
    """
    if weights.kind == "projection":
        if weights.projection is None or sipri_sim is None:
            raise ValueError("the projection distance needs its projection (calibration.weights.weigh) and the SIPRI "
                             "totals")
        return weights.projection.distance(targets, sims, sipri_sim)
    if weights.kind == "score":
        if weights.components is None:
            raise ValueError("the score distance needs component weights (calibration.weights.weigh)")
        # The mean relative score over the rows that count, as R sums them: not divided by the weights' sum, which
        # the CRPS rows' units (one over the prior's score) would make a sum of arbitrary units.
        w = np.asarray(weights.components)
        return float(score_components(targets, sims, sipri_sim, sipri_obs) @ w / np.count_nonzero(w))
    losses = components(targets, sims, sipri_sim, sipri_obs).mean(axis=0)
    if weights.components is not None:
        w = np.asarray(weights.components)
    else:
        w = base_weights(targets, losses.size - len(targets), weights.sipri)
    return float(losses @ w / w.sum())
