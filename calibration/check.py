"""Posterior and prior predictive checks: draws, simulated statistics, and the check table of the calibration issue.

A count or level is a *hit* when the observation lies in the simulated 90% interval and that interval is no wider
than half the prior predictive's (an interval that says nothing is no hit); an event or pattern is a hit when its
probability on the observed side is at least 0.5, and events are also scored by the Brier score.

A miss can be the calibration's or the model's: :func:`reachability` asks whether *any* of a sweep of prior draws,
each run with several seeds, reaches the observation: an event, a pattern or a bound within its tolerance in at least
half of the draw's seeds; a count, level or trend stated as a value or a range inside the span of the draw's seeds
(widened by the tolerance). A target no draw reaches is out of the model's reach within the priors, and no posterior
over them can hit it.

What the check can attain at all: :func:`attainable` scores a model that is exactly right, its parameters known,
against records it simulated itself, by the same rule (the *oracle*). Its hit rate is about the most the model's own
seed noise allows; the gap between it and the real record's rate is misfit (the model's structure and the calibration's)
or what the record cannot identify.
"""

from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np
import pandas as pd

from calibration.objective import BINARY_KINDS, target_losses
from calibration.priors import Prior
from calibration.targets import Target, run_statistics
from model.data import ModelData
from model.drivers import Drivers
from model.params import ModelParams, with_overrides
from model.run import EFFICIENT_BATCH, simulate_batch
from model.schema import REGION_VARIABLES, STATE_VARIABLES

# Statistics that count states or years, or are a year: whole numbers.
WHOLE_STATISTICS = ("states_any", "states_by", "years_any", "first_year", "last_year", "peak_year", "top_states")
# Units of variables counted in whole events: a sum of them is a whole number.
COUNT_UNITS = ("0/1", "deals", "events", "visits", "states")


def whole_valued(target: Target) -> bool:
    """Whether the target's statistic only takes whole numbers (so "x < v" is "x <= v - 1")."""
    if target.statistic in WHOLE_STATISTICS:
        return True
    if target.statistic != "sum":
        return False
    units = [REGION_VARIABLES[target.region_slot].unit] if target.region_slot >= 0 else \
        [STATE_VARIABLES[i].unit for i in target.slots]
    return all(u in COUNT_UNITS for u in units)


def restated(target: Target, truth: float) -> Target:
    """The target as a record in which its statistic took the value ``truth`` would state it.

    A point statement (relation ``eq``) takes the value, with the same tolerance. A bound or a range
    (:func:`calibration.objective.target_losses`: ``ge``/``le`` ignore the tolerance, ``between`` is widened by it)
    stays as it is if it held, and becomes its complement on the side the truth lies if not ("x >= v" -> "x <= v - 1"
    for whole numbers, "x <= v" for shares), so that a draw hits exactly when it agrees with the record about the
    statement. Either way the record itself has loss 0.
    """
    if target.relation == "eq":
        return replace(target, value=float(truth))
    if target_losses([target], np.array([[truth]]))[0, 0] == 0.0:
        return target
    gap = 1.0 if whole_valued(target) else 0.0
    if target.relation == "ge" or (target.relation == "between" and truth < target.low - target.tolerance):
        lower_edge = target.value if target.relation == "ge" else target.low - target.tolerance
        return replace(target, relation="le", value=lower_edge - gap, low=np.nan, high=np.nan)
    upper_edge = target.value if target.relation == "le" else target.high + target.tolerance
    return replace(target, relation="ge", value=upper_edge + gap, low=np.nan, high=np.nan)


def posterior_draws(posterior: pd.DataFrame, n: int, rng: np.random.Generator) -> list[dict[str, float]]:
    """``n`` parameter sets resampled from the weighted particles (with replacement, by weight)."""
    weights = posterior["weight"].to_numpy(dtype=float)
    rows = rng.choice(len(posterior), size=n, p=weights / weights.sum())
    values = posterior.drop(columns="weight")
    return [{k: float(v) for k, v in values.iloc[i].items()} for i in rows]


def prior_draws(priors: list[Prior], n: int, rng: np.random.Generator) -> list[dict[str, float]]:
    """``n`` parameter sets from the priors."""
    columns = {p.name: p.frozen().rvs(size=n, random_state=rng) for p in priors}
    return [{name: float(values[i]) for name, values in columns.items()} for i in range(n)]


def predictive_ensemble(base: ModelParams, data: ModelData, drivers: Drivers, targets: list[Target],
                        draws: list[dict[str, float]], seeds: int, root_seed: int,
                        label: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Statistics of every target, (draws x seeds, targets), and every SIPRI five-year total, (draws x seeds, totals),
    draw-major; with a ``label``, a progress line on stderr every fifth of the draws."""
    stats, sipri = [], []
    # Draws in batches of about EFFICIENT_BATCH runs; each run's record and statistics are its own (test_batch.py).
    per_batch = max(1, EFFICIENT_BATCH // seeds)
    step = max(len(draws) // 5, 1)
    for a in range(0, len(draws), per_batch):
        chunk = range(a, min(a + per_batch, len(draws)))
        params = [with_overrides(base, draws[d]) for d in chunk]
        runs = simulate_batch([p for p in params for _ in range(seeds)], data, drivers, root_seed,
                              [d for d in chunk for _ in range(seeds)], list(range(seeds)) * len(chunk))
        chunk_stats, chunk_sipri = run_statistics(targets, runs, data)
        stats.extend(chunk_stats)
        sipri.extend(chunk_sipri)
        done = chunk[-1] + 1
        if label and (done // step > a // step or done == len(draws)):  # about every fifth of the draws
            print(f"{label}: {done}/{len(draws)} draws x {seeds} seeds", file=sys.stderr, flush=True)
    return np.array(stats), np.array(sipri)


def predictive_statistics(base: ModelParams, data: ModelData, drivers: Drivers, targets: list[Target],
                          draws: list[dict[str, float]], seeds: int, root_seed: int) -> np.ndarray:
    """Statistics of every target for each draw and seed: (draws x seeds, targets)."""
    return predictive_ensemble(base, data, drivers, targets, draws, seeds, root_seed)[0]


def reachability(targets: list[Target], sweep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per target of a sweep (draws, seeds, targets): the highest share of a draw's seeds within tolerance, and
    whether some draw reaches the observation (module docstring)."""
    draws, seeds, k = sweep.shape
    ok = (target_losses(targets, sweep.reshape(draws * seeds, k)) == 0.0).reshape(draws, seeds, k)
    best = ok.mean(axis=1).max(axis=0)
    reached = best >= 0.5
    low, high = sweep.min(axis=1), sweep.max(axis=1)
    for j, t in enumerate(targets):
        if t.kind not in BINARY_KINDS and t.relation in ("eq", "between"):
            lo, hi = (t.value, t.value) if t.relation == "eq" else (t.low, t.high)
            reached[j] = bool(((low[:, j] - t.tolerance <= hi) & (lo <= high[:, j] + t.tolerance)).any())
    return best, reached


def check_table(targets: list[Target], posterior: np.ndarray, prior: np.ndarray) -> pd.DataFrame:
    """One row per target: observed, simulated median and 90% interval, probability of the observed side, hit, Brier."""
    post_ok = target_losses(targets, posterior) == 0.0
    rows = []
    for j, t in enumerate(targets):
        sims, prior_sims = posterior[:, j], prior[:, j]
        lo, med, hi = np.percentile(sims, [5, 50, 95])
        plo, phi = np.percentile(prior_sims, [5, 95])
        probability = float(post_ok[:, j].mean())
        if t.kind in BINARY_KINDS:
            hit = probability >= 0.5
        else:
            inside = (lo <= t.value <= hi) if t.relation == "eq" else probability >= 0.5
            hit = bool(inside and (hi - lo) <= 0.5 * (phi - plo) if phi > plo else inside)
        rows.append({
            "id": t.id, "kind": t.kind, "statistic": t.statistic, "relation": t.relation,
            "observed": t.value if t.relation != "between" else np.nan, "observed_low": t.low, "observed_high": t.high,
            "tolerance": t.tolerance, "median": med, "q05": lo, "q95": hi, "prior_q05": plo, "prior_q95": phi,
            "probability": probability, "hit": bool(hit),
            "brier": (1.0 - probability) ** 2 if t.kind == "event" else np.nan,
        })
    return pd.DataFrame(rows)


def attainable(targets: list[Target], runs: np.ndarray, prior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hits of the oracle: a model exactly right, its parameters known, checked against records it simulated.

    ``runs`` (sets, 1 + seeds, targets): per known parameter set, its first run is the record, every target restated
    as that run has it (:func:`restated`), and its other runs the predictive the check scores against it, by the rule
    of :func:`check_table` with the prior predictive ``prior`` setting the width rule. A calibration that learned the
    parameters exactly would score about this; where the oracle misses, the model's seed noise is the reason (a dated
    event of probability below one half, an interval wider than half the prior's).

    Returns hits and *as stated*, both (sets, targets). A record restated in full says "none" of every event that did
    not happen, which the model mostly predicts; the article reports what happened. As stated marks the rows such a
    record would state as the article does: a value (a count or level the article gives as a number) always, any other
    statement only where it held in the record.
    """
    hits, stated = [], []
    for run in runs:
        record, predictive = run[0], run[1:]
        hits.append(check_table([restated(t, x) for t, x in zip(targets, record, strict=True)], predictive, prior)
                    .hit.to_numpy())
        held = target_losses(targets, record[None, :])[0] == 0.0
        stated.append(np.array([(t.relation == "eq" and t.kind not in BINARY_KINDS) or h
                                for t, h in zip(targets, held, strict=True)]))
    return np.array(hits), np.array(stated)
