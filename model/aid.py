"""Chinese military aid: packages to recipients by priority and ties, some with donated light arms (ODD §7.12)."""

from __future__ import annotations

import numpy as np
from numba import njit

from model import rules
from model.arms import CHN_IDX, LIGHT
from model.data import ModelData
from model.params import ModelParams
from model.pipeline import Pipeline


def precompute(p: ModelParams, data: ModelData) -> dict[str, np.ndarray]:
    """One replica's aid constants."""
    cp = p.china
    return {
        # A donation of light arms is a political signal (alignment) and of little use where industry makes the kit.
        "donation_base": cp.donation_share * 0.5 * (1.0 - data.country["defence_industry"]),
        "aid_persistence": np.float64(cp.aid_persistence), "tiv_per_usd_m": np.float64(cp.tiv_per_usd_m),
    }


def packages(k, s, t: int, year: int, aid_priority: np.ndarray, pipeline: Pipeline) -> np.ndarray:
    """The year's packages (US$ m per state): China's yearly number (pre-drawn) to recipients weighted by priority,
    ties and past aid; where the light category is offered, a package may include donated arms (a pipeline deal that
    cannot fail)."""
    ties = np.exp(k.aid_persistence[:, None] * s.aided)
    aid, s.aided, donors, gift, on_order = _packages(
        aid_priority, s.r_china, ties, k.log_u_aid[:, t], k.n_aid[:, t], k.aid_size[:, t], s.aided,
        s.offered[:, :, LIGHT], k.u_aid[:, t], k.donation_base, s.alignment, k.tiv_per_usd_m, s.on_order)
    if donors.any():
        rep, state = np.nonzero(donors)
        pipeline.add(state, CHN_IDX, LIGHT, gift[rep, state], year, 0, 1, donation=True, replica=rep)
        s.on_order = on_order
    return aid


@njit(cache=True)
def _packages(priority, r_china, ties, log_u, count, size, aided, light_offered, u_donation, donation_base, alignment,
              tiv_per_usd_m, on_order):
    """:func:`packages` after the ties' exponential, compiled: aid (US$ m), who was ever aided, the donors of light
    arms, the donations' TIV and the arms on order with them."""
    n_rep, n = priority.shape
    weight = np.empty((n_rep, n))
    for r in range(n_rep):
        for i in range(n):
            weight[r, i] = priority[r, i] * (0.2 + r_china[r, i]) * ties[r, i]
    picked = rules._pick_rows(weight, log_u, count)
    aid, ever, gift = np.zeros((n_rep, n)), aided.copy(), np.zeros((n_rep, n))
    donors = np.zeros((n_rep, n), dtype=np.bool_)
    ordered = on_order.copy()
    for r in range(n_rep):
        for i in range(n):
            if picked[r, i]:
                aid[r, i], ever[r, i] = size[r, i], 1.0
                if light_offered[r, i] and u_donation[r, i] < donation_base[r, i] * (1.0 + alignment[r, i]):
                    donors[r, i] = True
                    gift[r, i] = aid[r, i] * tiv_per_usd_m[r]
                    ordered[r, i] = on_order[r, i] + gift[r, i]
    return aid, ever, donors, gift, ordered
