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
# Delegation visits per state and year are capped here (P(Poisson(5) > 16) is about 1e-5).
MAX_VISITS = 16


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
        "space_ceiling": np.float64(sp.yearly_ceiling),
    }


def peer_share(members: np.ndarray, flags: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """(replicas, states): the share of each state's subregion, among eligible states, that has ``flags``.

    ``members`` is one-hot (states x groups). Sums run over the states' axis of each replica's own rows (no matrix
    product over replicas), so a replica's share does not depend on the batch; compiled, summed as numpy sums.
    """
    return _peer_share(members, flags, eligible)


@njit(cache=True)
def _peer_share(members, flags, eligible):
    n_rep, n = flags.shape
    n_groups = members.shape[1]
    group = np.empty(n, dtype=np.int64)
    for i in range(n):
        group[i] = np.argmax(members[i])
    flagged, counted = np.empty(n), np.empty(n)
    share = np.empty((n_rep, n_groups))
    for r in range(n_rep):
        for g in range(n_groups):
            for i in range(n):
                flagged[i] = members[i, g] * (flags[r, i] * eligible[r, i])
                counted[i] = members[i, g] * eligible[r, i]
            size = rules.pairwise_sum(counted, 0, n)
            share[r, g] = rules.pairwise_sum(flagged, 0, n) / rules.maximum(size, 1.0)
    out = np.empty((n_rep, n))
    for r in range(n_rep):
        for i in range(n):
            out[r, i] = share[r, group[i]]
    return out


def linear_predictors(k, s, t: int, finance: np.ndarray, us_hold: np.ndarray, peer: np.ndarray) -> np.ndarray:
    """(replicas, states, 5): delegations' log rate, training's, forums' and space's logits, exercises' log-weight.

    A sum over the ten features in a fixed order (not a matrix product, whose rounding may follow the batch's shape),
    then the forums' peer term (the share of recognising states that attended last year) and China's technology offer
    on the space logit (a policy switch).
    """
    out = _feature_sums(k.bias, k.tech_term, k.coef, s.r_china, s.alignment, s.exposure, s.training_prev,
                        s.forum_prev, peer, finance, s.trust, us_hold, s.gate, k.forum_peer, k.n_recognising[:, t],
                        k.space_offer[:, t])
    return out.transpose(0, 2, 1)


def decisions(k, s, t: int, logits: np.ndarray) -> np.ndarray:
    """(3, replicas, states): training, forums and space projects decided (1.0) against each stream's logistic noise,
    where the channel is open (:func:`is_open`); the region's space projects saturate towards China's yearly ceiling."""
    return _decisions(k.noise[:, t], logits, s.gate, k.onset[:, t], k.space_ceiling)


@njit(cache=True)
def _decisions(noise, logits, gate, onset, space_ceiling):
    """:func:`decisions`, compiled. A space project's chance, p_i = logistic(logit), is scaled by one factor per
    replica so that the region's expected count is C (1 - exp(-D / C)) for a demand D = sum of p_i and a ceiling C:
    about D where demand is small, approaching C smoothly as it grows (a saturating link, never a clip), each state's
    share of it its own p_i / D. The same noise decides: logistic(noise) < scaled p_i."""
    n_rep, n = noise.shape[:2]
    out = np.zeros((3, n_rep, n))
    for c, channel in enumerate((TRAINING, FORUM)):
        for r in range(n_rep):
            for i in range(n):
                if noise[r, i, c] < logits[r, i, channel] and gate[r, i] * onset[r, channel] > 0.0:
                    out[c, r, i] = 1.0
    chance = np.zeros(n)
    for r in range(n_rep):
        demand = 0.0
        for i in range(n):
            chance[i] = 1.0 / (1.0 + np.exp(-logits[r, i, SPACE])) if gate[r, i] * onset[r, SPACE] > 0.0 else 0.0
            demand += chance[i]
        ceiling = space_ceiling[r]
        scale = ceiling * (1.0 - np.exp(-demand / ceiling)) / demand if demand > 0.0 and ceiling > 0.0 else 0.0
        for i in range(n):
            if chance[i] > 0.0 and 1.0 / (1.0 + np.exp(-noise[r, i, 2])) < chance[i] * scale:
                out[2, r, i] = 1.0
    return out


def is_open(gate: np.ndarray, onset: np.ndarray, channel: int) -> np.ndarray:
    """(replicas, states): where ``channel`` is open this year: the state recognises Beijing (``gate``) and the
    channel has begun (``onset``, replicas x channels), as a product, so a fractional recognition opens it (PLA
    gating). Made each year from the year's rows, not precomputed for every path's years."""
    return gate * onset[:, channel, None] > 0.0


@njit(cache=True)
def _feature_sums(bias, tech_term, coef, f0, f1, f2, f3, f4, f5, f6, f7, f9, gate, forum_peer, n_recognising,
                  space_offer):
    """(replicas, channels, states): ``bias + tech_term`` plus each feature times its coefficient, added feature by
    feature in the order of their columns (the technology feature, column 8, is in ``tech_term``), then the forums'
    peer term and the space offer; compiled, one pass where numpy made twenty arrays."""
    n_rep, n_ch, n = tech_term.shape
    out = np.empty((n_rep, n_ch, n))
    attended = np.empty(n)
    for r in range(n_rep):
        for i in range(n):
            attended[i] = f4[r, i] * gate[r, i]
        forum_term = forum_peer[r] * (rules.pairwise_sum(attended, 0, n) / n_recognising[r])
        for c in range(n_ch):
            w = coef[r, c]
            for i in range(n):
                out[r, c, i] = (bias[r, c] + tech_term[r, c, i] + f0[r, i] * w[0] + f1[r, i] * w[1] + f2[r, i] * w[2]
                                + f3[r, i] * w[3] + f4[r, i] * w[4] + f5[r, i] * w[5] + f6[r, i] * w[6]
                                + f7[r, i] * w[7] + f9[r, i] * w[9])
                if c == FORUM:
                    out[r, c, i] += forum_term
                elif c == SPACE:
                    out[r, c, i] += space_offer[r, i]
    return out


def delegations(k, s, t: int, year: int, log_rate: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """Poisson visits (capped, by inversion of one pre-drawn uniform per state) plus recurring high-level tours."""
    visits, tour, s.last_tour = _delegations(
        np.exp(log_rate), k.delegation_scale[:, t], k.u_visits[:, t], year, k.delegation_onset, k.tour_from,
        s.last_tour, k.tour_gap, k.u_tour[:, t], k.tour_probability, k.tour_size, priority, k.onset[:, t, DELEGATION],
        k.log_u_tour[:, t])
    return visits, tour


@njit(cache=True)
def _delegations(rate_factor, scale, u_visits, year, onset_year, tour_from, last_tour, tour_gap, u_tour,
                 tour_probability, tour_size, priority, onset, log_u):
    """:func:`delegations` after the rate's exponential, compiled: visits plus tours, tours, and the year of each
    replica's last tour. A tour comes when the channel has begun, at the first year or every ``tour_gap`` years
    from ``tour_from`` with its probability, to ``tour_size`` states picked by priority."""
    n_rep, n = rate_factor.shape
    visits, weight = np.empty((n_rep, n)), np.empty((n_rep, n))
    size = np.zeros(n_rep, dtype=np.int64)
    for r in range(n_rep):
        for i in range(n):
            visits[r, i] = rules.capped_count(u_visits[r, i], rate_factor[r, i] * scale[r, i], MAX_VISITS)
            weight[r, i] = priority[r, i] * onset[r]
        regular = year >= tour_from[r] and year - last_tour[r] >= tour_gap[r] and u_tour[r] < tour_probability[r]
        if year >= onset_year[r] and (last_tour[r] < onset_year[r] or regular):
            size[r] = tour_size[r]
    picked = rules._pick_rows(weight, log_u, size)
    tour = np.zeros((n_rep, n))
    last = last_tour.copy()
    for r in range(n_rep):
        for i in range(n):
            if picked[r, i]:
                tour[r, i] = 1.0
                visits[r, i] += 1.0
                last[r] = year
    return visits, tour, last


def exercises(k, s, t: int, log_weight: np.ndarray, priority: np.ndarray) -> np.ndarray:
    """China's yearly number of exercises (pre-drawn), allocated to partners by priority, ties and past exercises."""
    ties = np.exp(log_weight + k.exercise_persistence[:, None] * s.exercised)
    exercise, s.exercised = _allocate(priority, is_open(s.gate, k.onset[:, t], EXERCISE), ties, k.log_u_exercise[:, t],
                                      k.n_exercises[:, t], s.exercised)
    return exercise


def port_calls(k, s, t: int, priority: np.ndarray) -> np.ndarray:
    """A voyage when naval reach allows; hosts by priority among coastal states, past hosts first."""
    ties = np.exp(k.port_persistence[:, None] * s.hosted)
    port, s.hosted = _allocate(priority, k.coast_weight, ties, k.log_u_hosts[:, t],
                               np.where(k.voyage[:, t], k.n_hosts[:, t], 0), s.hosted)
    return port


@njit(cache=True)
def _allocate(priority, eligible, ties, log_u, count, before):
    """A yearly number of events per replica to states weighted ``priority x eligible x ties`` (compiled): which
    states get one (1.0), and which ever had one."""
    n_rep, n = priority.shape
    weight = np.empty((n_rep, n))
    for r in range(n_rep):
        for i in range(n):
            weight[r, i] = priority[r, i] * eligible[r, i] * ties[r, i]
    picked = rules._pick_rows(weight, log_u, count)
    got, ever = np.zeros((n_rep, n)), before.copy()
    for r in range(n_rep):
        for i in range(n):
            if picked[r, i]:
                got[r, i] = ever[r, i] = 1.0
    return got, ever
