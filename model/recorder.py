"""Preallocated record of a batch of runs: (replica x year x state x slot) and (replica x year x region-slot) arrays,
tidied once at the end."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.schema import COLUMNS, REGION, REGION_VARIABLES, STATE_VARIABLES


def state_frame(states: np.ndarray) -> np.ndarray:
    """(year, state+LAC, slot) from one run's (year, state, slot): the LAC row aggregates states by each variable's rule
    (sum or mean)."""
    lac = np.where([v.lac == "mean" for v in STATE_VARIABLES], states.mean(axis=1), states.sum(axis=1))
    return np.concatenate([states, lac[:, None, :]], axis=1)


def tidy(states: np.ndarray, region: np.ndarray, years: np.ndarray, iso3: tuple[str, ...], scenario: str,
         param_source: str, draw: int, seed: int) -> pd.DataFrame:
    """One run's long frame with columns ``COLUMNS``; categorical labels, int year, float value."""
    full = state_frame(states)
    ny, ns, nv = full.shape
    places = list(iso3) + [REGION]
    iso = np.tile(np.repeat(np.arange(ns), nv), ny)
    slot = np.tile(np.arange(nv), ny * ns)
    year = np.repeat(years, ns * nv)
    nr = len(REGION_VARIABLES)
    names = [v.name for v in STATE_VARIABLES] + [v.name for v in REGION_VARIABLES]
    partners = [v.partner.value for v in STATE_VARIABLES] + [v.partner.value for v in REGION_VARIABLES]
    channels = [v.channel.value for v in STATE_VARIABLES] + [v.channel.value for v in REGION_VARIABLES]
    var_codes = np.concatenate([slot, np.tile(nv + np.arange(nr), ny)])
    iso_codes = np.concatenate([iso, np.full(ny * nr, ns - 1)])
    n = len(var_codes)
    frame = pd.DataFrame({
        "scenario": pd.Categorical([scenario] * n),
        "param_source": pd.Categorical([param_source] * n),
        "draw": np.full(n, draw, dtype=np.int64),
        "seed": np.full(n, seed, dtype=np.int64),
        "year": np.concatenate([year, np.repeat(years, nr)]).astype(np.int64),
        "iso3": pd.Categorical.from_codes(iso_codes, categories=places),
        "partner": pd.Categorical(np.array(partners, dtype=object)[var_codes]),
        "channel": pd.Categorical(np.array(channels, dtype=object)[var_codes]),
        "variable": pd.Categorical(np.array(names, dtype=object)[var_codes]),
        "value": np.concatenate([full.reshape(-1), region.reshape(-1)]),
    })
    return frame[list(COLUMNS)]


class Recorder:
    """Holds a batch's outputs in arrays, replicas first; :attr:`states` and :attr:`region` show the viewed replica.

    Attributes:
        all_states: (replica, year, state, slot) in the order of ``model.schema.STATE_VARIABLES``.
        all_region: (replica, year, slot) in the order of ``model.schema.REGION_VARIABLES``.
        replica: the replica :attr:`states` and :attr:`region` show.
    """

    def __init__(self, years: np.ndarray, iso3: tuple[str, ...], replicas: int = 1) -> None:
        self.years = years
        self.iso3 = iso3
        self.all_states = np.zeros((replicas, len(years), len(iso3), len(STATE_VARIABLES)))
        self.all_region = np.zeros((replicas, len(years), len(REGION_VARIABLES)))
        self.replica = 0

    @property
    def states(self) -> np.ndarray:
        """(year, state, slot) of the viewed replica."""
        return self.all_states[self.replica]

    @property
    def region(self) -> np.ndarray:
        """(year, slot) of the viewed replica."""
        return self.all_region[self.replica]
