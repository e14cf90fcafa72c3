"""PLA contacts: delegations and tours, officer training, forums, exercises and port calls (docs/ODD.md §7.2-7.6).

``precompute`` builds one replica's arrays from its parameters and drivers (the model stacks replicas on a leading
axis); the kernels work on arrays shaped (replicas, states) with the year's pre-drawn noise, and return the year's
decisions. No function here draws a random number.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from model import rules
from model.data import ModelData
from model.drivers import Drivers
from model.params import ModelParams

# Columns of the yearly linear predictors; EXERCISE is a partner's log-weight.
DELEGATION, TRAINING, FORUM, EXERCISE, SPACE = range(5)
DECIDED = [TRAINING, FORUM, SPACE]
# r_china, alignment, exposure, trained last year, attended last year, peer share, finance, trust, tech, US pressure
# x leverage
N_FEATURES = 10


def boldness_path(p: ModelParams, tension: np.ndarray) -> np.ndarray:
    """China's boldness for each year's US-China tension: a logistic link, so it responds over its whole range and
    never sits at a bound (ODD §10): ``expit(b0 + b_tau (tension - 0.5))``."""
    cp = p.china
    return 1.0 / (1.0 + np.exp(-(cp.boldness_base + cp.boldness_tension * (tension - 0.5))))


def precompute(p: ModelParams, data: ModelData, dr: Drivers) -> dict[str, np.ndarray]:
    """One replica's coefficients, onsets, open channels, delegation scale and China's exercise budget."""
    dp, tp, fp, ep, sp = p.delegations, p.training, p.forums, p.exercises, p.space
    years = dr.years
    coef = np.zeros((N_FEATURES, 5))
    coef[0] = dp.relationship, tp.relationship, fp.relationship, ep.relationship, 0.0
    coef[1] = dp.alignment, tp.alignment, fp.alignment, ep.alignment, sp.alignment
    coef[2, DELEGATION] = dp.exposure
    coef[3, TRAINING], coef[4, FORUM], coef[5, TRAINING] = tp.persistence, fp.persistence, tp.peer
    coef[6, SPACE], coef[7, SPACE], coef[8, SPACE] = sp.finance, sp.trust, sp.tech
    coef[9, TRAINING], coef[9, FORUM] = -tp.us_pressure, -fp.us_pressure
    onsets = np.array([dp.onset_year, tp.onset_year, fp.onset_year, ep.onset_year, sp.onset_year])
    onset = (years[:, None] >= onsets).astype(float)
    capacity = dr.china_capacity ** p.china.capacity_elasticity
    boldness = boldness_path(p, dr.us_china_tension)
    # The linear predictors' constant part: the bias plus the technology feature's term (static). Channel-major
    # (channels x features, channels x states), so the yearly sums run along the states.
    tech = data.country["tech_capacity"]
    return {
        "coef": coef.T.copy(),
        "bias": np.array([dp.log_rate, tp.intercept, fp.intercept, 0.0, sp.intercept]),
        "tech_term": np.outer(coef[8], tech),
        "onset": onset,
        # Channels open to a state in a year: recognition of Beijing and the channel's onset (PLA gating).
        "open": (dr.recognises_beijing[:, :, None] * onset[:, None, TRAINING:]) > 0,
        "delegation_scale": dr.recognises_beijing * onset[:, DELEGATION:DELEGATION + 1] * capacity[:, None],
        "capacity": capacity,
        "boldness": boldness,
        # China's regional budget of exercises: a yearly expected number that grows with boldness and capacity.
        "exercise_rate": np.exp(ep.intercept + ep.boldness * boldness) * capacity * onset[:, EXERCISE],
        "n_recognising": np.maximum(dr.recognises_beijing.sum(axis=1), 1.0),
        "coast_weight": data.country["has_coast"].astype(float),
        "tour_from": np.float64(dp.tour_regular_from), "tour_gap": np.float64(dp.tour_min_gap),
        "tour_probability": np.float64(dp.tour_probability), "tour_size": np.int64(dp.tour_size),
        "delegation_onset": np.float64(dp.onset_year), "forum_peer": np.float64(fp.peer),
        "exercise_persistence": np.float64(ep.persistence), "port_persistence": np.float64(p.port_calls.persistence),
    }


def peer_share(members: np.ndarray, flags: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(replicas, states): the share of each state's subregion, among eligible states, that has ``flags``.

    ``members`` is one-hot (states x groups). Sums run over the states' axis of each replica's own rows (no matrix
    product over replicas), so a replica's share does not depend on the batch.
    """
    groups = members.T[None, :, :]  # (1, groups, states)
    flagged = (groups * (flags * eligible)[:, None, :]).sum(axis=2)
    size = np.maximum((groups * eligible[:, None, :]).sum(axis=2), 1.0)
    return (flagged / size)[:, members.argmax(axis=1)]


def linear_predictors(k, s, t: int, finance: np.ndarray, us_hold: np.ndarray, peer: np.ndarray) -> np.ndarray:
    """(replicas, states, 5): delegations' log rate, training's, forums' and space's logits, exercises' log-weight.

    A sum over the ten features in a fixed order (not a matrix product, whose rounding may follow the batch's shape).
    """
    out = _feature_sums(k.bias, k.tech_term, k.coef, s.r_china, s.alignment, s.exposure, s.training_prev,
                        s.forum_prev, peer, finance, s.trust, us_hold)
    forum_share = (s.forum_prev * s.gate).sum(axis=1) / k.n_recognising[:, t]
    out[:, FORUM] += (k.forum_peer * forum_share)[:, None]
    return out.transpose(0, 2, 1)


@njit(cache=True)
def _feature_sums(bias, tech_term, coef, f0, f1, f2, f3, f4, f5, f6, f7, f9):
    """(replicas, channels, states): ``bias + tech_term`` plus each feature times its coefficient, added feature by
    feature in the order of their columns (the technology feature, column 8, is in ``tech_term``); compiled, one pass
    where numpy made twenty arrays."""
    n_rep, n_ch, n = tech_term.shape
    out = np.empty((n_rep, n_ch, n))
    for r in range(n_rep):
        for c in range(n_ch):
            w = coef[r, c]
            for i in range(n):
                out[r, c, i] = (bias[r, c] + tech_term[r, c, i] + f0[r, i] * w[0] + f1[r, i] * w[1] + f2[r, i] * w[2]
                                + f3[r, i] * w[3] + f4[r, i] * w[4] + f5[r, i] * w[5] + f6[r, i] * w[6]
                                + f7[r, i] * w[7] + f9[r, i] * w[9])
    return out


def delegations(k, s, t: int, year: int, log_rate: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Poisson visits (pre-drawn unit-exponential arrivals within the rate, capped) plus recurring high-level tours."""
    rate = np.exp(log_rate) * k.delegation_scale[:, t]
    visits = _arrivals_within(k.arrivals, t, rate)
    started = year >= k.delegation_onset
    regular = ((year >= k.tour_from) & (year - s.last_tour >= k.tour_gap) & (k.u_tour[:, t] < k.tour_probability))
    touring = started & ((s.last_tour < k.delegation_onset) | regular)
    tour = rules.weighted_pick_mask(priority * k.onset[:, t, DELEGATION:DELEGATION + 1], k.log_u_tour[:, t],
                                    np.where(touring, k.tour_size, 0)).astype(float)
    s.last_tour = np.where(tour.any(axis=1), year, s.last_tour)
    return visits + tour, tour


@njit(cache=True)
def _arrivals_within(arrivals: np.ndarray, t: int, rate: np.ndarray) -> np.ndarray:
    """(replicas, states): how many of year ``t``'s cumulative arrivals (replicas, years, states, MAX_VISITS) are at
    most ``rate``; compiled, since numpy counts along a short last axis slowly. The arrivals are running sums of
    non-negative draws, so the count stops at the first beyond the rate."""
    n_rep, n = rate.shape
    out = np.zeros((n_rep, n))
    for r in range(n_rep):
        for i in range(n):
            c = 0
            for a in arrivals[r, t, i]:
                if not a <= rate[r, i]:  # (a NaN rate counts none, as a comparison would)
                    break
                c += 1
            out[r, i] = c
    return out


def exercises(k, s, t: int, log_weight: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """China's yearly number of exercises (pre-drawn), allocated to partners by priority, ties and past exercises."""
    weight = priority * k.open[:, t, :, 2] * np.exp(log_weight + k.exercise_persistence[:, None] * s.exercised)
    exercise = rules.weighted_pick_mask(weight, k.log_u_exercise[:, t], k.n_exercises[:, t]).astype(float)
    s.exercised = np.maximum(s.exercised, exercise)
    return exercise


def port_calls(k, s, t: int, priority: np.ndarray) -> np.ndarray:
    """A voyage when naval reach allows; hosts by priority among coastal states, past hosts first."""
    weight = priority * k.coast_weight * np.exp(k.port_persistence[:, None] * s.hosted)
    port = rules.weighted_pick_mask(weight, k.log_u_hosts[:, t], np.where(k.voyage[:, t], k.n_hosts[:, t], 0))
    port = port.astype(float)
    s.hosted = np.maximum(s.hosted, port)
    return port
