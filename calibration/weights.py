"""Information weights for the distance, from a pilot on the prior.

A component (a target's loss, or a SIPRI total's) can only tell parameters apart if its loss varies more between
parameter sets than between seeds of one set. A pilot of ``pilot_draws`` prior draws x ``pilot_seeds`` seeds measures
it: per component, the variance of the per-seed loss between draws and within a draw (one-way random-effects
ANOVA, draws as groups), their ratio, the signal-to-noise ratio SNR = between / within, and the total standard
deviation sd. Each component's weight is its base weight (:func:`calibration.objective.base_weights`) x SNR / sd: put
on one scale (Prangle 2017's adaptive distances divide by a scale the same way) and counted by how far its loss
moves with the parameters against how far it moves with the seed, as inverse-variance weights would.

Measured on this record (240 prior draws x 8 seeds, 94 targets + 190 SIPRI totals): the median target has an
intraclass correlation ICC = between / (between + within) of 0.04, and eight (visits 2000-2022 0.97, states training
by the early 2010s 0.91, exercises 2010-2013 0.79, forum participants 2022 0.65 ...) carry most of the parameter
signal. Unweighted, the true parameters' own distance to a synthetic record was 2.5-3.5 against 3.4-3.6 for random
prior draws (the previous release's recovery report), and recovery identified none of 17 parameters. On two synthetic
records (400 particles, 5 generations; calibration.recovery) the truth's median distance was 0.72 of the first
generation's epsilon with weights ICC / sd and 0.43 with SNR / sd, and delegations.log_rate was identified (90%
interval 0.14 of the prior's) only with the latter.

The 190 SIPRI totals are weighed in ten groups, one per five-year period and level (per state, per supplier group):
one by one their ICC is 0.05-0.3, but the mean loss of all of them has an ICC of 0.49 (its correlation with
arms.need_intercept over the prior is -0.87), signal no single total shows. Measured on the record (1000 particles,
8 generations each): with per-total weights the SIPRI block had 7% of the weight and the arms market stayed at its
prior; with one group for all state totals and one for all supplier totals, 65% of the weight, arms.need_intercept
and arms.capability_target narrowed (0.51, 0.59 of the prior's width) but the forums, port-call and space rates no
longer did (0.84-0.97), and the predictive check's Brier score rose from 0.508 to 0.548; with the ten groups, 32% of
the weight, arms.need_intercept narrowed (0.54) as well as the channel rates (0.51-0.88), the check hit as often (41
of 94) with a Brier score of 0.518, and the hindcast's SIPRI skill against persistence moved from -19% to -17%.
Components whose loss never varies with the parameters (the record's one-off dated events the model reaches by chance
alone) get weight 0: they stay in the predictive check, not in the fit.
The weights depend on the record and the priors, never on a fit's result; they are fixed for the whole fit and
recorded beside it (``weights.csv``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from calibration.check import prior_draws
from calibration.objective import SIPRI_LOG_SCALE, Weights, base_weights, rule, score_components
from calibration.problem import Problem
from calibration.projection import RUNS_PER_FEATURE, Projection, fit_projection, observed_features, record_features
from model.params import ConfigError
from model.run import EFFICIENT_BATCH

# A component whose loss barely varies (a pattern almost always kept) would get an unbounded weight from 1 / sd; its
# scale is floored at a tenth of a tolerance unit (judgement).
SD_FLOOR = 0.1
# A pilot estimates SNR with error; no component may claim more than 95% of its variation as signal (ICC 0.95, SNR 19),
# so that a near-deterministic one cannot take the whole distance (judgement).
MAX_ICC = 0.95
# The score distance's unit of a CRPS row is floored at a tenth of its tolerance unit (a SIPRI total: of the log scale
# of the loss): a small state's import total that the prior nearly always gets right (score ~1e-5) would otherwise
# turn one seed's stray delivery into a distance of thousands (judgement, as SD_FLOOR).
SCORE_FLOOR = 0.1
# Spawn key of the pilot's draws (distinct from every other stream of the calibration).
PILOT_STREAM = 0x9170


def pilot_runs(problem: Problem, draws: int, seeds: int, root_seed: int) -> tuple[list[dict], list[dict]]:
    """``draws`` prior draws and their simulated summaries with ``seeds`` seeds, one per draw as the problem returns
    it."""
    rng = np.random.default_rng(np.random.SeedSequence(root_seed, spawn_key=(PILOT_STREAM,)))
    pilot = replace(problem, seeds=seeds)
    particles = prior_draws(problem.priors, draws, rng)
    per_batch = max(1, EFFICIENT_BATCH // seeds)
    return particles, [x for a in range(0, len(particles), per_batch)
                       for x in pilot.simulate_particles(particles[a:a + per_batch])]


def pilot_losses(problem: Problem, draws: int, seeds: int, root_seed: int) -> np.ndarray:
    """Per-seed component losses of ``draws`` prior draws, (draws, seeds, components)."""
    return np.array([problem.components(x) for x in pilot_runs(problem, draws, seeds, root_seed)[1]])


def check_pilot(problem: Problem, draws: int, seeds: int) -> None:
    """A one-line error when the projection distance's pilot has too few records for its regression (a no-op for the
    other distances), so that a command can refuse before it writes anything."""
    n_features = len(problem.targets) + int(problem.sipri_keep.sum())
    if problem.weights.kind == "projection" and draws * seeds < RUNS_PER_FEATURE * n_features:
        raise ConfigError(f"calibration.pilot_draws: {draws} draws x {seeds} seeds = {draws * seeds} records for "
                          f"{n_features} features with distance projection; allowed: at least "
                          f"{RUNS_PER_FEATURE * n_features} records (more draws)")


def projection(problem: Problem, draws: int, seeds: int, root_seed: int) -> Projection:
    """The projection distance's summaries (:mod:`calibration.projection`), fitted on the pilot's records."""
    check_pilot(problem, draws, seeds)
    particles, runs = pilot_runs(problem, draws, seeds, root_seed)
    names = [p.name for p in problem.priors]
    units = np.column_stack([p.frozen().cdf(np.array([x[p.name] for x in particles])) for p in problem.priors])
    units = np.repeat(units, seeds, axis=0)
    features = np.concatenate([record_features(problem.targets, x["stats"], x["sipri"]) for x in runs])
    return fit_projection(names, units, features, np.repeat(np.arange(draws), seeds),
                          observed_features(problem.targets, problem.sipri_obs))


def score_units(problem: Problem, runs: list[dict]) -> pd.DataFrame:
    """The score distance's scale: the prior predictive's score of every component on the problem's record.

    The pilot's runs pooled are the prior predictive. A CRPS row (a value, a range, a SIPRI total) weighs one over the
    prior's score on it, so that the prior scores 1 on every such row whatever its units, as in R; a Brier row weighs
    1 (its score is already a probability's error); a CRPS row the prior never misses (score 0) weighs 0: no
    parameter can do better there. The units are floored (SCORE_FLOOR), so a row the prior nearly always gets right
    cannot take the distance.
    """
    stats = np.concatenate([x["stats"] for x in runs])
    sipri = np.concatenate([x["sipri"] for x in runs])
    prior = score_components(problem.targets, stats, sipri, problem.sipri_obs)
    n_sipri = int(problem.sipri_keep.sum())
    part = np.array([rule(t) for t in problem.targets] + ["sipri"] * n_sipri)
    floor = np.concatenate([[SCORE_FLOOR * max(t.tolerance, 1.0) for t in problem.targets],
                            np.full(n_sipri, SCORE_FLOOR * SIPRI_LOG_SCALE)])
    unit = np.where(part == "brier", 1.0, np.where(prior > 0, np.maximum(prior, floor), 0.0))
    weight = np.divide(1.0, unit, out=np.zeros_like(unit), where=unit > 0)
    return pd.DataFrame({"part": part, "prior_score": prior, "unit": unit, "weight": weight})


def information_weights(losses: np.ndarray, base: np.ndarray, groups: np.ndarray | None = None) -> pd.DataFrame:
    """ICC, SNR, sd and weight of every component from pilot losses (draws, seeds, components).

    Components in one group (``groups``: a group number per component; ``None``: each its own) are weighed as one:
    by the ICC, SNR and sd of their mean loss, the group's weight shared among them by their base weights. Many weakly
    informative components that move together (the SIPRI totals, all driven by the same demand terms) carry more
    signal than any one of them.
    """
    if groups is None:
        groups = np.arange(losses.shape[2])
    labels, index = np.unique(groups, return_inverse=True)
    members = np.zeros((len(groups), len(labels)))
    members[np.arange(len(groups)), index] = base
    group_base = members.sum(axis=0)
    shares = np.divide(members, group_base, out=np.zeros_like(members), where=group_base > 0)
    group = _weights(losses @ shares, group_base)
    table = group.iloc[index].reset_index(drop=True)
    table["base"] = base
    table["weight"] = group.weight.to_numpy()[index] * shares[np.arange(len(groups)), index]
    return table


def _weights(losses: np.ndarray, base: np.ndarray) -> pd.DataFrame:
    _, seeds, _ = losses.shape
    within = losses.var(axis=1, ddof=1).mean(axis=0)
    between = np.maximum(losses.mean(axis=1).var(axis=0, ddof=1) - within / seeds, 0.0)
    total = between + within
    icc = np.minimum(np.divide(between, total, out=np.zeros_like(total), where=total > 0), MAX_ICC)
    snr = icc / (1.0 - icc)
    sd = np.sqrt(total)
    return pd.DataFrame({"base": base, "icc": icc, "snr": snr, "sd": sd,
                         "weight": base * snr / np.maximum(sd, SD_FLOOR)})


def _groups(ids: list[str]) -> np.ndarray:
    """Each target its own group; the SIPRI totals one group per five-year period and level (states, supplier
    groups)."""
    return np.array([i.rsplit('_', 1)[0] if i.startswith('sipri_') else i for i in ids])


def weigh(problem: Problem, draws: int, seeds: int, root_seed: int) -> Problem:
    """``problem`` with its distance's weights from a pilot on the prior, and their table: information weights for
    the loss distance (``draws`` 0: the base weights), the prior's score units for the score distance, the fitted
    summaries for the projection distance (its table: each component's pull on them)."""
    base = base_weights(problem.targets, int(problem.sipri_keep.sum()), problem.weights.sipri)
    ids = [t.id for t in problem.targets] + problem.sipri_ids()
    kind = problem.weights.kind
    if kind == "projection":
        fitted = projection(problem, draws, seeds, root_seed)
        weighted = replace(problem, weights=Weights(sipri=problem.weights.sipri, kind=kind, projection=fitted))
        weighted.weight_table = fitted.component_table(ids)
        return weighted
    if kind == "score":
        if draws < 2:
            raise ConfigError(f"calibration.pilot_draws: {draws} with distance score; allowed: at least 2")
        table = score_units(problem, pilot_runs(problem, draws, seeds, root_seed)[1])
        weighted = replace(problem, weights=Weights(sipri=problem.weights.sipri, kind=kind,
                                                    components=tuple(float(w) for w in table.weight)))
    elif draws == 0:
        table = pd.DataFrame({"base": base, "icc": np.nan, "snr": np.nan, "sd": np.nan, "weight": base})
        weighted = replace(problem, weights=Weights(sipri=problem.weights.sipri))
    else:
        table = information_weights(pilot_losses(problem, draws, seeds, root_seed), base, _groups(ids))
        if not (table.weight > 0).any():
            raise ConfigError(f"calibration.pilot_draws: {draws} prior draws x {seeds} seeds found no component whose "
                              "loss varies with the parameters; allowed: more pilot draws or seeds, "
                              "or 0 for the base weights")
        weighted = replace(problem, weights=Weights(sipri=problem.weights.sipri,
                                                    components=tuple(float(w) for w in table.weight)))
    table.insert(0, "component", ids)
    table["share"] = table.weight / table.weight.sum()
    weighted.weight_table = table
    return weighted
