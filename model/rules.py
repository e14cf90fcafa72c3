"""The channel rules as pure numpy functions over all states at once (documented in docs/ODD.md, §Submodels).

Each function takes arrays and parameters and returns arrays; none draws random numbers itself: noise is drawn per run
from the channel's own stream and passed in, so the rules can be checked against numbers worked by hand.
"""

from __future__ import annotations

import numpy as np


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


def weighted_pick(weights: np.ndarray, log_u: np.ndarray, k: int) -> np.ndarray:
    """Indices of ``k`` states sampled without replacement with probability proportional to ``weights``.

    Efraimidis-Spirakis keys ``log(u) / w`` with ``u`` uniform (``log_u`` is passed in, drawn once per run): the ``k``
    largest keys are a weighted sample. States with zero weight are never picked, so fewer than ``k`` come back when
    fewer are eligible.
    """
    k = min(int(k), int(np.count_nonzero(weights)))
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    # Zero weights get keys near -1e300 (below every eligible key) without a division warning.
    keys = log_u / np.maximum(weights, 1e-300)
    return np.argpartition(-keys, k - 1)[:k]


def failure_rate(base: float, fiscal: np.ndarray, fiscal_met: np.ndarray, fiscal_coef: float, veto: np.ndarray,
                 regime: np.ndarray, regime_coef: float) -> np.ndarray:
    """Yearly failure rate of deals; the failure probability is ``1 - exp(-rate)``, of which ``veto / rate`` is the US
    veto.

    ``rate = base + fiscal_coef max(F - F_met, 0) + veto + regime_coef G``: ability to pay acts at signing, so only a
    rise of fiscal stress above the highest the deal has met (at signing or in a year it survived) fails it: a rise
    is a one-off shock, and a deal that weathered it is not failed again by the same stress. ``veto`` is already
    ``fail_veto x category exposure x pressure x leverage`` for Chinese deals and zero otherwise (competing risks).
    """
    return base + fiscal_coef * np.maximum(fiscal - fiscal_met, 0.0) + veto + regime_coef * regime


def bass_hazard(innovation: float, imitation: float, adopter_share: float, push: np.ndarray) -> np.ndarray:
    """Bass-style adoption probability ``1 - exp(-max(0, p + q s + push))``; ``push`` holds the state-level terms."""
    return 1.0 - np.exp(-np.maximum(0.0, innovation + imitation * adopter_share + push))
