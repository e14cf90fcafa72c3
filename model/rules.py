"""The channel rules as pure numpy functions over all states at once (documented in docs/ODD.md, §Submodels).

Each function takes arrays and parameters and returns arrays; none draws random numbers itself: noise is drawn per run
from the channel's own stream and passed in, so the rules can be checked against numbers worked by hand.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, vectorize
from scipy.special import ndtri, pdtr


def decide(logit: np.ndarray, noise: np.ndarray, is_open: np.ndarray) -> np.ndarray:
    """Yes/no decisions: ``is_open and noise < logit`` with standard logistic ``noise`` (any trailing channel axis).

    Comparing logistic noise with the logit is the same event as ``u < sigmoid(logit)``, without computing a sigmoid.
    """
    return ((noise < logit) & is_open).astype(float)


def peer_matrix(members: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Matrices P with ``P @ flags`` = the share of each state's group, among eligible states, that has ``flags``.

    ``members`` is one-hot (states x groups); ``eligible`` is (states,) or (years, states), giving P of shape
    (states, states) or (years, states, states): ``P[i, j] = [same group] eligible_j / max(eligible in i's group, 1)``.
    """
    sizes = np.maximum(eligible @ members, 1.0) @ members.T  # each state's number of eligible group members
    same = members @ members.T
    return same * eligible[..., None, :] / sizes[..., :, None]


def update_stock(stock: np.ndarray, contacts: np.ndarray, decay: float | np.ndarray) -> np.ndarray:
    """Relationship stock in [0, 1]: decays by ``decay``; contacts close the remaining gap by ``1 - exp(-contacts)``.

    ``R' = (1-d) R + (1 - (1-d) R) (1 - exp(-c))``: with no contact the stock only decays; it never leaves [0, 1].
    """
    kept = (1.0 - decay) * stock
    return kept + (1.0 - kept) * (1.0 - np.exp(-contacts))


def weighted_pick_mask(weights: np.ndarray, log_u: np.ndarray, k: np.ndarray | int) -> np.ndarray:
    """Which of the last axis's states are among the ``k`` sampled without replacement with probability proportional
    to ``weights`` (one sample per leading index, ``k`` per leading index or one for all).

    Efraimidis-Spirakis keys ``log(u) / w`` with ``u`` uniform (``log_u`` is passed in, drawn once per run): the ``k``
    largest keys are a weighted sample. States with zero weight are never picked, so fewer than ``k`` come back when
    fewer are eligible. The ``k``-th largest key comes from a sort along the states' axis, so each row's sample is its
    own (keys are continuous: ties have probability zero).
    """
    k = np.minimum(k, np.count_nonzero(weights, axis=-1))
    # Zero weights get keys near -1e300 (below every eligible key) without a division warning.
    keys = log_u / np.maximum(weights, 1e-300)
    ranked = np.sort(keys, axis=-1)  # ascending: the k-th largest is at position n - k
    rows = keys.reshape(-1, keys.shape[-1])
    kth = ranked.reshape(rows.shape)[np.arange(len(rows)), rows.shape[-1] - np.maximum(np.ravel(k), 1)]
    return (keys >= kth.reshape(keys.shape[:-1])[..., None]) & (np.asarray(k) > 0)[..., None]


def weighted_pick(weights: np.ndarray, log_u: np.ndarray, k: int) -> np.ndarray:
    """Indices (ascending) of the ``k`` states of :func:`weighted_pick_mask` for one sample."""
    return np.flatnonzero(weighted_pick_mask(weights, log_u, k))


# The deal pipeline's rules are numpy ufuncs compiled by numba: called with arrays from Python (the by-hand tests), and
# on scalars from the pipeline's compiled yearly loop over open deals (model.arms), which runs one formula, not two.
@vectorize(["float64(float64, float64)"], cache=True)
def regime_exposure(swing: float, supplier_orientation: float) -> float:
    """How far a change of government moves a state away from a supplier's politics: ``max(0, -swing x o_j)``.

    ``swing`` is the change of orientation in a year of government change (0 otherwise; positive towards China,
    negative towards the US), ``o_j`` the supplier's orientation (-1 US ... +1 China). A new government reviews the
    deals its predecessor signed with suppliers on the other side of its move (a turn towards the US exposes Chinese
    and Russian deals, a turn away from it US, Israeli and European ones), and leaves politically neutral suppliers'
    deals alone.
    """
    return max(-swing * supplier_orientation, 0.0)


@vectorize(["float64(float64, float64, float64)"], cache=True)
def fiscal_shock(fiscal: float, fiscal_met: float, fiscal_coef: float) -> float:
    """Hazard of a rise of fiscal stress on an open deal: ``fiscal_coef max(F - F_met, 0)``.

    Ability to pay acts at signing, so only a rise above the highest stress the deal has met (at signing or in a year
    it survived) shocks it: a rise is a one-off shock, and a deal that weathered it is not shocked again by the same
    stress.
    """
    return fiscal_coef * max(fiscal - fiscal_met, 0.0)


@vectorize(["float64(float64, float64, boolean, float64, float64, float64)"], cache=True)
def failure_rate(base: float, shock: float, begun: bool, veto: float, regime: float, regime_coef: float) -> float:
    """Yearly failure rate of deals; the failure probability is ``1 - exp(-rate)``, of which ``veto / rate`` is the US
    veto.

    ``rate = base + shock [deliveries not begun] + veto + regime_coef E``. A fiscal ``shock`` (:func:`fiscal_shock`)
    fails only deals whose deliveries have not begun: once the supplier is building and delivering, a buyer in arrears
    gets its deliveries slowed and rescheduled, not cancelled (:func:`delivery_pace`). ``veto`` is already
    ``fail_veto x category exposure x pressure x leverage`` for Chinese deals and zero otherwise (competing risks);
    ``regime`` is the deal's :func:`regime_exposure` this year.
    """
    return base + (0.0 if begun else shock) + veto + regime_coef * regime


@vectorize(["float64(float64, boolean)"], cache=True)
def delivery_pace(shock: float, begun: bool) -> float:
    """Share of a deal's yearly instalment delivered this year: ``exp(-shock)`` for deals whose deliveries have begun,
    1 otherwise; the rest is delivered after the deal's scheduled end, so a fiscal shock delays a deal in delivery by
    the same probability that it would fail one not yet begun."""
    return math.exp(-shock) if begun else 1.0


def bass_hazard(innovation: float, imitation: float, adopter_share: float, push: np.ndarray) -> np.ndarray:
    """Bass-style adoption probability ``1 - exp(-max(0, p + q s + push))``; ``push`` holds the state-level terms."""
    return 1.0 - np.exp(-np.maximum(0.0, innovation + imitation * adopter_share + push))


def poisson_quantile(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson counts by inversion: the smallest ``k`` with ``P(X <= k) >= u``, for uniforms ``u`` and means ``lam``.

    One uniform per count, so a count's draw does not depend on any other count's value (batches of replicas draw
    theirs up front). Counts of zero (``u <= exp(-lam)``) cost nothing more; the others start from the normal
    approximation and step to the exact quantile with scipy's Poisson distribution function ``pdtr`` (usually zero to
    two steps), so the cost does not grow with the count.
    """
    lam = np.asarray(lam, dtype=float)
    k = np.zeros(lam.shape, dtype=np.int64)
    flat_u, flat_lam = u.ravel(), lam.ravel()
    idx = np.flatnonzero(flat_u > np.exp(-flat_lam))
    if len(idx):
        ui, li = flat_u[idx], flat_lam[idx]
        ki = np.maximum(np.floor(li + np.sqrt(li) * ndtri(ui)), 0.0)
        # Steps only on the counts still moving; a count that stepped up is at its quantile (its last step was below
        # u), so only the others may need to step down.
        move = np.flatnonzero(pdtr(ki, li) < ui)
        stepped_up = np.zeros(len(ki), dtype=bool)
        stepped_up[move] = True
        while len(move):
            ki[move] += 1.0
            move = move[pdtr(ki[move], li[move]) < ui[move]]
        move = np.flatnonzero(~stepped_up & (ki > 0))
        move = move[pdtr(ki[move] - 1.0, li[move]) >= ui[move]]
        while len(move):
            ki[move] -= 1.0
            move = move[(ki[move] > 0) & (pdtr(ki[move] - 1.0, li[move]) >= ui[move])]
        k.ravel()[idx] = ki.astype(np.int64)
    return k


@njit(cache=True)
def logit_choice(utility: np.ndarray, u_choice: np.ndarray, u_other: np.ndarray, column: int,
                 boost: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial-logit choices of rows of ``utility`` (``-inf`` = unavailable) from two uniforms per row.

    The same joint law as adding Gumbel noise to every column and taking the argmax, twice (without and with
    ``boost`` on ``column``), with two draws instead of one per column: the best of the other columns is column ``j``
    with probability proportional to ``exp(V_j)`` (``u_other``), independently of its value ``LSE + Gumbel``; so
    ``column`` beats it when ``V_c - LSE + L > 0`` with ``L`` standard logistic (``u_choice``). Returns the choice
    without the boost and whether ``column`` wins with it. Compiled (numba): the arms market calls it from its loop
    over contracts.
    """
    rows, cols = utility.shape
    choice = np.empty(rows, dtype=np.int64)
    margin = np.empty(rows)
    weight = np.empty(cols)
    for i in range(rows):
        top = -np.inf
        for j in range(cols):
            if j != column and utility[i, j] > top:
                top = utility[i, j]
        finite = np.isfinite(top)
        shift = top if finite else 0.0
        total = 0.0
        for j in range(cols):
            weight[j] = 0.0 if j == column else math.exp(utility[i, j] - shift)
            total += weight[j]
        # The other column whose cumulative weight first reaches u_other x total; it can only fall on an unavailable
        # (zero-weight) column if it equals a cumulative sum: the heaviest column then.
        target, cum, best = u_other[i] * total, 0.0, 0
        for j in range(cols):
            cum += weight[j]
            best += cum < target
        best = min(best, cols - 1)
        if weight[best] <= 0.0:
            best = np.argmax(weight)
        lse = top + math.log(total) if finite else -np.inf
        margin[i] = utility[i, column] - lse + (math.log(u_choice[i]) - math.log1p(-u_choice[i]))
        choice[i] = column if margin[i] > 0 else (best if finite else 0)
    return choice, margin + boost > 0
