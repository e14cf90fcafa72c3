"""Chinese surveillance systems: Bass-style national adoption, a subnational path for federal states, cameras towards
a ceiling (ODD §7.14)."""

from __future__ import annotations

import numpy as np
from numba import njit

from model import rules
from model.data import ModelData
from model.drivers import Drivers
from model.params import ModelParams


def precompute(p: ModelParams, data: ModelData, dr: Drivers) -> dict[str, np.ndarray]:
    """One replica's adoption hazards' constant parts and camera ceilings."""
    sv, country = p.surveillance, data.country
    insecurity = country["insecurity"]
    return {
        "surveillance_on": dr.years >= sv.onset_year,
        "insecurity_push": sv.insecurity * insecurity,
        "subnational_hazard": (1.0 - np.exp(-sv.subnational * (1.0 + insecurity))) * country["is_federal"],
        "camera_base": sv.cameras_per_million * country["population_m"],
        "level_factor": np.array([0.0, sv.subnational_scale, 1.0]),  # cameras by level: none, subnational, national
        **{f"sv_{name}": np.float64(getattr(sv, name))
           for name in ("innovation", "imitation", "finance", "us_pressure", "growth")},
    }


def adopt(k, s, t: int, finance: np.ndarray, us_hold: np.ndarray, policy) -> np.ndarray:
    """This year's adoptions (1 where a state adopts a national or subnational system), cameras updated.

    The national hazard is :func:`model.rules.bass_hazard` with the adopters' share and finance and insecurity as its
    push, cut by US pressure x leverage for every state (a ceiling below the 33, smoothly); a US red line allows no
    national system. The arithmetic around the hazard's and the cut's exponentials (one numpy call for both) runs
    compiled (:func:`_exponents`, :func:`_adopt`).
    """
    exponent = _exponents(s.surveillance_level, k.sv_innovation, k.sv_imitation, k.sv_finance, finance,
                          k.insecurity_push, k.sv_us_pressure, us_hold)
    on = k.surveillance_on[:, t]
    s.surveillance_level, s.cameras, adopted = _adopt(
        np.exp(exponent), s.gate, s.surveillance_level, k.u_surveillance[:, t], on & ~policy.bans_surveillance(t), on,
        k.subnational_hazard, k.camera_base, k.level_factor, k.sv_growth, s.cameras)
    policy.crossed(t, adopted)
    return adopted


@njit(cache=True)
def _exponents(level, innovation, imitation, finance_coef, finance, insecurity_push, pressure_coef, us_hold):
    """(2, replicas, states): the exponents of the national hazard's complement (:func:`model.rules.bass_exponent`
    with the adopters' share) and of the cut by US pressure x leverage, for one exponential of both."""
    n_rep, n = level.shape
    out = np.empty((2, n_rep, n))
    national = _national_count(level)
    for r in range(n_rep):
        share = national[r] / n
        for i in range(n):
            push = finance_coef[r] * finance[r, i] + insecurity_push[r, i]
            out[0, r, i] = rules.bass_exponent(innovation[r], imitation[r], share, push)
            out[1, r, i] = -pressure_coef[r] * us_hold[r, i]
    return out
@njit(cache=True)
def _national_count(level: np.ndarray) -> np.ndarray:
    """(replicas,): the number of states with a national system (level 2)."""
    out = np.zeros(level.shape[0])
    for r in range(level.shape[0]):
        for i in range(level.shape[1]):
            out[r] += level[r, i] == 2.0
    return out


@njit(cache=True)
def _adopt(exponential, gate, level, u, national_on, on, subnational_hazard, camera_base, level_factor, growth,
           cameras):
    """New national systems (hazard x cut x gate, states not yet national, where national systems are allowed) and
    subnational ones (federal states with none, where no national system is adopted), the new levels, cameras towards
    the level's ceiling (which only rises, so cameras never exceed it), and the adoptions (1.0 where a state adopts)."""
    n_rep, n = level.shape
    new_level, new_cameras, adopted = np.empty((n_rep, n)), np.empty((n_rep, n)), np.zeros((n_rep, n))
    for r in range(n_rep):
        for i in range(n):
            lv = level[r, i]
            h = (1.0 - exponential[0, r, i]) * exponential[1, r, i] * gate[r, i] * (1.0 if lv < 2 else 0.0)
            new_nat = national_on[r] and u[r, 0, i] < h
            new_sub = (on[r] and u[r, 1, i] < subnational_hazard[r, i] * gate[r, i] * (1.0 if lv == 0 else 0.0)
                       and not new_nat)
            lv = 2.0 if new_nat else (1.0 if new_sub else lv)
            new_level[r, i] = lv
            ceiling = camera_base[r, i] * (1.0 if lv == 2.0 else (level_factor[r, 1] if lv == 1.0 else 0.0))
            new_cameras[r, i] = cameras[r, i] + growth[r] * (ceiling - cameras[r, i])
            if new_nat or new_sub:
                adopted[r, i] = 1.0
    return new_level, new_cameras, adopted
