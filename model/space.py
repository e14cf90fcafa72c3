"""Space cooperation: projects (decided with the contacts' logits), ground facilities, scheduled programmes (CBERS)
and their continuation (ODD §7.13)."""

from __future__ import annotations

import numpy as np

from model.data import ModelData
from model.drivers import Drivers
from model.params import ModelParams


def precompute(p: ModelParams, data: ModelData, dr: Drivers) -> dict[str, np.ndarray]:
    """One replica's space constants: the Chinese technology offer's lift of the project logit (a policy switch)."""
    sp = p.space
    return {"space_offer": sp.tech * dr.china_tech_offer * data.country["tech_capacity"],
            "ground_share": np.float64(sp.ground_share)}


def projects(k, s, t: int, space: np.ndarray, policy) -> np.ndarray:
    """Ground facilities among this year's projects (dropped under a US ban), then the scheduled launches."""
    ground = space * (k.u_ground[:, t] < k.ground_share[:, None])
    banned = policy.bans_ground_stations(t)[:, None]  # US red line: a project that would be a ground facility goes
    space = np.where(banned, space - ground, space)
    ground = np.where(banned, 0.0, ground)
    s.ground_station = np.maximum(s.ground_station, ground)
    policy.crossed(t, space)  # scheduled CBERS launches are not new projects
    return np.maximum(space, k.space_scheduled[:, t])
