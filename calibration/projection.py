"""Semi-automatic ABC summaries (Fearnhead & Prangle 2012): the record projected onto the parameters.

The loss distance reads each target through its tolerance (no loss inside it) and adds the components up with weights
from a pilot; the score distance scores a particle's seeds as an ensemble. Neither reads the record as a whole the way
an estimator would. Here a pilot on the prior (``pilot_draws`` draws x ``pilot_seeds`` seeds, each run one record)
fits a ridge regression of every free parameter's prior quantile on the run's record, read as the observations state
it (:func:`record_features`: each statement held or not, each value row's statistic, each SIPRI total's
log1p(TIV m)), on the features that vary in enough of the pilot's records to estimate a coefficient
(:data:`MIN_SUPPORT`). The fitted values are the summaries: one per parameter, each an estimate of that parameter's
quantile from one record, so that the summaries are on one scale (the prior's CDF) and a statistic weighs as much as
it tells about some parameter. A particle's distance is the mean over its seeds of the Euclidean distance between the
seed's summaries and the record's, over the summaries that read their parameter on held-out draws (:data:`MIN_R2`):
each seed's record is compared with the observed one as ABC's kernel does, the seeds only average the kernel.

Each parameter's regression is also scored on the pilot's draws it was not fitted on (the last
``HOLDOUT`` of the draws): its residual standard deviation there, as a share of the prior's 90% interval
(2 x 1.645 x sd / 0.9 on the CDF scale), says how narrow a posterior from these summaries can be, before any fit.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from calibration.objective import rule, target_losses
from calibration.targets import Target
from model.params import ConfigError

# Ridge penalty on the standardised coefficients (judgement: measured on the record, 6,000 prior runs, 285 features,
# the held-out residual sd of every parameter moved by less than 0.002 between penalties 1 and 100; the penalty only
# keeps the solve well conditioned when features are nearly collinear).
RIDGE = 1.0
# Share of the pilot's draws held out to score each parameter's regression (the regression is then refitted on all).
HOLDOUT = 0.2
# A regression needs more records than features: at least this many pilot runs per feature.
RUNS_PER_FEATURE = 2
# A feature enters a regression only when at least this many pilot records differ from its most common value. A
# statement the prior almost never makes true gets a coefficient fitted on a handful of records, and the record, which
# holds every statement, then sits far outside the pilot (judgement, from the regression's leverage: on the real
# record's pilot of 3,000 draws x 2 seeds, one statement held in 1 of 6,000 records put the record's leverage at 1.3,
# above every pilot record's (at most 1.0, 99% below 0.11), and moved three summaries by 0.26-0.35 on its own; with 30,
# 0.18, and no held-out residual sd moved by more than 0.001).
MIN_SUPPORT = 30
# A summary enters the distance only when its held-out R² reaches this: one that explains less of its parameter's
# prior variance narrows the parameter's interval by under 5% (width share about sqrt(1 - R²)), so it adds nothing
# but seed noise and the pull of records unlike the prior's (judgement).
MIN_R2 = 0.1
# The prior's 90% interval on the CDF scale, against which a summary's residual sd is read as an interval width.
PRIOR_WIDTH_90 = 0.9
Z90 = 1.6448536269514722


def statement_rows(targets: list[Target]) -> np.ndarray:
    """Which targets are statements that hold or not (the Brier rows), as opposed to values."""
    return np.array([rule(t) == "brier" for t in targets], dtype=bool)


def record_features(targets: list[Target], stats: np.ndarray, sipri: np.ndarray) -> np.ndarray:
    """The record as the observations state it, per run: (runs, targets + SIPRI totals).

    Statement rows: whether the statement held (1/0). Value rows: the statistic (0 where a run cannot compute it, no
    event to date a year by, its own "did not happen" value). SIPRI totals: log1p(TIV m).
    """
    stats = np.atleast_2d(np.asarray(stats, dtype=float))
    held = (target_losses(targets, stats) == 0.0).astype(float)
    values = np.where(statement_rows(targets), held, np.nan_to_num(stats, nan=0.0))
    totals = np.log1p(np.maximum(np.atleast_2d(sipri), 0.0))
    return np.concatenate([values, totals], axis=1)


def observed_features(targets: list[Target], sipri_obs: np.ndarray) -> np.ndarray:
    """The record itself in the layout of :func:`record_features`: every statement holds, each value row as
    recorded."""
    values = np.array([1.0 if rule(t) == "brier" else t.value for t in targets])
    return np.concatenate([values, np.log1p(np.maximum(np.ravel(sipri_obs), 0.0))])


def _predict(fit: tuple, features: np.ndarray) -> np.ndarray:
    """The fitted values of a :func:`_ridge` fit for records ``features``."""
    keep, mean, scale, coef, intercept = fit
    return (np.atleast_2d(features)[:, keep] - mean) / scale @ coef + intercept


def supported(x: np.ndarray) -> np.ndarray:
    """Which features vary in at least :data:`MIN_SUPPORT` records away from their most common value."""
    return np.array([len(col) - np.unique(col, return_counts=True)[1].max() >= MIN_SUPPORT for col in x.T], dtype=bool)


def _ridge(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Standardise the features with support (:func:`supported`), and solve the ridge regression of ``y`` on them."""
    keep = supported(x)
    mean, scale = x[:, keep].mean(axis=0), x[:, keep].std(axis=0)
    z = (x[:, keep] - mean) / scale
    intercept = y.mean(axis=0)
    coef = np.linalg.solve(z.T @ z + RIDGE * np.eye(z.shape[1]), z.T @ (y - intercept))
    return keep, mean, scale, coef, intercept


@dataclass(frozen=True, eq=False)
class Projection:
    """A fitted projection of records onto the parameters' quantiles, and the observed record's projection.

    Attributes:
        names: the free parameters, in the order of the summaries.
        keep: which features vary in enough of the pilot's records to inform a regression (:func:`supported`).
        mean, scale: the kept features' standardisation.
        coef: (kept features, parameters) ridge coefficients on the standardised features.
        intercept: (parameters,) the pilot's mean quantile.
        observed: (parameters,) the observed record's summaries.
        used: (parameters,) which summaries the distance compares (held-out R² at least :data:`MIN_R2`).
        quality: per parameter, the held-out residual sd, R² and the interval width share they imply, whether the
            summary is in the distance, the record's summary and its rank among the pilot's (``observed_pit``: the
            share of pilot records whose summary is lower; 0 or 1 is a record unlike any the prior makes).
    """

    names: tuple[str, ...]
    keep: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    observed: np.ndarray
    used: np.ndarray
    quality: pd.DataFrame = field(repr=False)

    def summaries(self, features: np.ndarray) -> np.ndarray:
        """(runs, parameters): each run's estimate of every parameter's quantile."""
        return _predict((self.keep, self.mean, self.scale, self.coef, self.intercept), features)

    def distance(self, targets: list[Target], stats: np.ndarray, sipri: np.ndarray) -> float:
        """Mean over a particle's seeds of the Euclidean distance of the seed's summaries in the distance to the
        record's."""
        z = self.summaries(record_features(targets, stats, sipri))
        return float(np.linalg.norm((z - self.observed)[:, self.used], axis=1).mean())

    def digest(self) -> str:
        """A short hash of the fitted arrays (the fit's identity in :func:`calibration.fit.fit_key`)."""
        h = hashlib.sha256()
        for a in (self.keep, self.mean, self.scale, self.coef, self.intercept, self.observed, self.used):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        return (f"Projection({int(self.used.sum())} of {len(self.names)} summaries, {int(self.keep.sum())} features, "
                f"{self.digest()})")

    def component_table(self, ids: list[str]) -> pd.DataFrame:
        """Per component (target or SIPRI total): how far one standard deviation of it moves the summaries (the
        Euclidean norm of its standardised coefficients; 0 for a component that never varies), and its share."""
        weight = np.zeros(len(ids))
        weight[self.keep] = np.linalg.norm(self.coef, axis=1)
        return pd.DataFrame({"component": ids, "weight": weight, "share": weight / weight.sum()})


def fit_projection(names: list[str], units: np.ndarray, features: np.ndarray, draw: np.ndarray,
                   observed: np.ndarray) -> Projection:
    """Fit the projection on pilot records.

    Args:
        names: the free parameters.
        units: (runs, parameters) each run's parameter quantiles in their priors.
        features: (runs, features) each run's :func:`record_features`.
        draw: (runs,) each run's pilot draw: the held-out score leaves whole draws out, so that no seed of a scored
            draw was fitted on.
        observed: the observed record's features.
    """
    draws = np.unique(draw)
    scored = np.isin(draw, draws[round(len(draws) * (1.0 - HOLDOUT)):])
    residual = units[scored] - _predict(_ridge(features[~scored], units[~scored]), features[scored])
    sd = residual.std(axis=0)
    r2 = 1.0 - residual.var(axis=0) / units[scored].var(axis=0)
    fit = _ridge(features, units)
    record = _predict(fit, observed)[0]
    quality = pd.DataFrame({"parameter": names, "heldout_residual_sd": sd,
                            "width_share": np.minimum(2.0 * Z90 * sd / PRIOR_WIDTH_90, 1.0), "heldout_r2": r2,
                            "in_distance": r2 >= MIN_R2, "observed": record,
                            "observed_pit": (_predict(fit, features) < record).mean(axis=0)})
    if not (r2 >= MIN_R2).any():
        raise ConfigError(f"calibration.pilot_draws: {len(draws)} draws read no parameter from the record (held-out R² "
                          f"at most {r2.max():.2f}); allowed: a pilot whose projection reads at least one parameter "
                          f"(R² >= {MIN_R2}): more draws")
    return Projection(tuple(names), *fit, record, r2 >= MIN_R2, quality)
