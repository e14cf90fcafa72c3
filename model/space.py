"""Space cooperation: projects (decided with the contacts' logits), ground facilities, scheduled programmes (CBERS)
and their continuation (ODD §7.13)."""

from __future__ import annotations

import numpy as np
from numba import njit

from model import rules
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
    # US red line: a project that would be a ground facility goes.
    space, s.ground_station, launched = _projects(space, k.u_ground[:, t], k.ground_share,
                                                  policy.bans_ground_stations(t), s.ground_station,
                                                  k.space_scheduled[:, t])
    policy.crossed(t, space)  # scheduled CBERS launches are not new projects
    return launched


@njit(cache=True)
def _projects(space, u_ground, ground_share, banned, ground_station, scheduled):
    """:func:`projects`, compiled: the new projects after a ban, the ground stations, and projects with launches."""
    n_rep, n = space.shape
    kept, stations, launched = np.empty((n_rep, n)), np.empty((n_rep, n)), np.empty((n_rep, n))
    for r in range(n_rep):
        for i in range(n):
            ground = space[r, i] * (1.0 if u_ground[r, i] < ground_share[r] else 0.0)
            project = space[r, i] - ground if banned[r] else space[r, i]
            ground = 0.0 if banned[r] else ground
            stations[r, i] = rules.maximum(ground_station[r, i], ground)
            kept[r, i] = project
            launched[r, i] = rules.maximum(project, scheduled[r, i])
    return kept, stations, launched
