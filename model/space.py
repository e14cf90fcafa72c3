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
            "ground_share": np.float64(sp.ground_share), "ground_need": np.float64(sp.ground_need)}


def projects(k, s, t: int, space: np.ndarray, policy) -> np.ndarray:
    """Ground facilities among this year's projects while China's need for them is open (dropped under a US ban),
    then the scheduled launches."""
    # US red line: a project that would be a ground facility goes.
    space, s.ground_station, launched = _projects(space, k.u_ground[:, t], k.ground_share, k.ground_need,
                                                  policy.bans_ground_stations(t), s.ground_station,
                                                  k.space_scheduled[:, t])
    policy.crossed(t, space)  # scheduled CBERS launches are not new projects
    return launched


@njit(cache=True)
def _projects(space, u_ground, ground_share, ground_need, banned, ground_station, scheduled):
    """:func:`projects`, compiled: the new projects after a ban, the ground stations, and projects with launches.

    A project is a ground facility (u < ground_share) only while the region holds fewer than ``ground_need`` of them;
    when more candidates than open slots come in one year, the lowest u take the slots, so no state's place in the
    list decides."""
    n_rep, n = space.shape
    kept, stations, launched = np.empty((n_rep, n)), np.empty((n_rep, n)), np.empty((n_rep, n))
    for r in range(n_rep):
        open_slots = ground_need[r]
        for i in range(n):
            open_slots -= ground_station[r, i]
        ground = np.zeros(n)
        while open_slots > 0:
            best, best_u = -1, ground_share[r]
            for i in range(n):
                if space[r, i] > 0.0 and ground[i] == 0.0 and ground_station[r, i] == 0.0 and u_ground[r, i] < best_u:
                    best, best_u = i, u_ground[r, i]
            if best < 0:
                break
            ground[best] = 1.0
            open_slots -= 1.0
        for i in range(n):
            project = space[r, i] - ground[i] if banned[r] else space[r, i]
            g = 0.0 if banned[r] else ground[i]
            stations[r, i] = rules.maximum(ground_station[r, i], g)
            kept[r, i] = project
            launched[r, i] = rules.maximum(project, scheduled[r, i])
    return kept, stations, launched
