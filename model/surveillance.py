"""Chinese surveillance systems: Bass-style national adoption, a subnational path for federal states, cameras towards
a ceiling (ODD §7.14)."""

from __future__ import annotations

import numpy as np

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
    """This year's adoptions (1 where a state adopts a national or subnational system), cameras updated."""
    n = s.gate.shape[1]
    on = (k.surveillance_on[:, t] & ~policy.bans_surveillance(t))[:, None]  # US red line: no national system
    level = s.surveillance_level
    push = k.sv_finance[:, None] * finance + k.insecurity_push
    # US pressure x leverage cuts the hazard of every state (a ceiling below the 33), smoothly.
    national = np.count_nonzero(level == 2.0, axis=1)[:, None]
    h_nat = (rules.bass_hazard(k.sv_innovation[:, None], k.sv_imitation[:, None], national / n, push)
             * np.exp(-k.sv_us_pressure[:, None] * us_hold) * s.gate * (level < 2))
    u = k.u_surveillance[:, t]
    new_nat = on & (u[:, 0] < h_nat)
    new_sub = (k.surveillance_on[:, t][:, None] & (u[:, 1] < k.subnational_hazard * s.gate * (level == 0))
               & ~new_nat)
    level = np.where(new_nat, 2.0, np.where(new_sub, 1.0, level))
    s.surveillance_level = level
    ceiling = k.camera_base * np.where(level == 2.0, 1.0, np.where(level == 1.0, k.level_factor[:, 1:2], 0.0))
    # The ceiling only rises and cameras start at zero, so cameras never exceed it (so no clipping is needed).
    s.cameras = s.cameras + k.sv_growth[:, None] * (ceiling - s.cameras)
    adopted = (new_nat | new_sub).astype(float)
    policy.crossed(t, adopted)
    return adopted
