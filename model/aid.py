"""Chinese military aid: packages to recipients by priority and ties, some with donated light arms (ODD §7.12)."""

from __future__ import annotations

import numpy as np

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
    weight = aid_priority * (0.2 + s.r_china) * np.exp(k.aid_persistence[:, None] * s.aided)
    picked = rules.weighted_pick_mask(weight, k.log_u_aid[:, t], k.n_aid[:, t])
    aid = np.where(picked, k.aid_size[:, t], 0.0)
    s.aided = np.where(picked, 1.0, s.aided)
    donors = (picked & s.offered[:, :, LIGHT]) & (k.u_aid[:, t, 1] < k.donation_base * (1.0 + s.alignment))
    if donors.any():
        gift = aid * k.tiv_per_usd_m[:, None]
        rep, state = np.nonzero(donors)
        pipeline.add(state, CHN_IDX, LIGHT, gift[rep, state], year, 0, 1, donation=True, replica=rep)
        s.on_order = np.where(donors, s.on_order + gift, s.on_order)
    return aid
