"""The channel rules as pure numpy functions over all states at once (documented in docs/ODD.md, §Submodels).

Each function takes arrays and parameters and returns arrays; none draws random numbers itself: noise is drawn per run
from the channel's own stream and passed in, so the rules can be checked against numbers worked by hand.
"""

from __future__ import annotations

import numpy as np
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


def regime_exposure(swing: np.ndarray, supplier_orientation: np.ndarray) -> np.ndarray:
    """How far a change of government moves a state away from a supplier's politics: ``max(0, -swing x o_j)``.

    ``swing`` is the change of orientation in a year of government change (0 otherwise; positive towards China,
    negative towards the US), ``o_j`` the supplier's orientation (-1 US ... +1 China). A new government reviews the
    deals its predecessor signed with suppliers on the other side of its move (a turn towards the US exposes Chinese
    and Russian deals, a turn away from it US, Israeli and European ones), and leaves politically neutral suppliers'
    deals alone.
    """
    return np.maximum(-swing * supplier_orientation, 0.0)


def fiscal_shock(fiscal: np.ndarray, fiscal_met: np.ndarray, fiscal_coef: float) -> np.ndarray:
    """Hazard of a rise of fiscal stress on an open deal: ``fiscal_coef max(F - F_met, 0)``.

    Ability to pay acts at signing, so only a rise above the highest stress the deal has met (at signing or in a year
    it survived) shocks it: a rise is a one-off shock, and a deal that weathered it is not shocked again by the same
    stress.
    """
    return fiscal_coef * np.maximum(fiscal - fiscal_met, 0.0)


def failure_rate(base: float, shock: np.ndarray, begun: np.ndarray, veto: np.ndarray, regime: np.ndarray,
                 regime_coef: float) -> np.ndarray:
    """Yearly failure rate of deals; the failure probability is ``1 - exp(-rate)``, of which ``veto / rate`` is the US
    veto.

    ``rate = base + shock [deliveries not begun] + veto + regime_coef E``. A fiscal ``shock`` (:func:`fiscal_shock`)
    fails only deals whose deliveries have not begun: once the supplier is building and delivering, a buyer in arrears
    gets its deliveries slowed and rescheduled, not cancelled (:func:`delivery_pace`). ``veto`` is already
    ``fail_veto x category exposure x pressure x leverage`` for Chinese deals and zero otherwise (competing risks);
    ``regime`` is the deal's :func:`regime_exposure` this year.
    """
    return base + np.where(begun, 0.0, shock) + veto + regime_coef * regime


def delivery_pace(shock: np.ndarray, begun: np.ndarray) -> np.ndarray:
    """Share of a deal's yearly instalment delivered this year: ``exp(-shock)`` for deals whose deliveries have begun,
    1 otherwise; the rest is delivered after the deal's scheduled end, so a fiscal shock delays a deal in delivery by
    the same probability that it would fail one not yet begun."""
    return np.where(begun, np.exp(-shock), 1.0)


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


def logit_choice(utility: np.ndarray, u_choice: np.ndarray, u_other: np.ndarray, column: int,
                 boost: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial-logit choices of rows of ``utility`` (``-inf`` = unavailable) from two uniforms per row.

    The same joint law as adding Gumbel noise to every column and taking the argmax, twice (without and with
    ``boost`` on ``column``), with two draws instead of one per column: the best of the other columns is column ``j``
    with probability proportional to ``exp(V_j)`` (``u_other``), independently of its value ``LSE + Gumbel``; so
    ``column`` beats it when ``V_c - LSE + L > 0`` with ``L`` standard logistic (``u_choice``). Returns the choice
    without the boost and whether ``column`` wins with it.
    """
    # Supplier-major (columns x rows): the reductions over the few suppliers then run along contiguous rows, and the
    # running sum is the same sequence of additions as np.cumsum along a row.
    others = utility.T.copy()
    others[column] = -np.inf
    top = np.maximum.reduce(others, axis=0)
    finite = np.isfinite(top)
    others -= np.where(finite, top, 0.0)
    weight = np.exp(others, out=others)
    cum = weight.copy()
    for j in range(1, len(cum)):
        np.add(cum[j - 1], cum[j], out=cum[j])
    total = cum[-1]
    best_other = np.minimum(np.count_nonzero(cum < u_other * total, axis=0), utility.shape[1] - 1)
    # u_other * total can only fall on an unavailable (zero-weight) column if it equals a cumulative sum: skip those.
    bad = np.flatnonzero(weight[best_other, np.arange(len(total))] <= 0)
    if len(bad):
        best_other[bad] = weight[:, bad].argmax(axis=0)
    with np.errstate(divide="ignore"):
        lse = np.where(finite, top + np.log(np.where(finite, total, 1.0)), -np.inf)
        noise = np.log(u_choice) - np.log1p(-u_choice)
    margin = utility[:, column] - lse + noise
    choice = np.where(margin > 0, column, np.where(finite, best_other, 0))
    return choice, margin + boost > 0
