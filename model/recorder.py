"""Preallocated record of a run: (year x state x slot) and (year x region-slot) arrays, tidied once at the end."""

from __future__ import annotations

import numpy as np
import pandas as pd

from model.schema import COLUMNS, REGION, REGION_VARIABLES, STATE_VARIABLES


class Recorder:
    """Holds one run's outputs in arrays; :meth:`to_tidy` turns them into the schema of DESIGN.md §7."""

    def __init__(self, years: np.ndarray, iso3: tuple[str, ...]) -> None:
        self.years = years
        self.iso3 = iso3
        self.states = np.zeros((len(years), len(iso3), len(STATE_VARIABLES)))
        self.region = np.zeros((len(years), len(REGION_VARIABLES)))

    def state_frame(self) -> np.ndarray:
        """(year, state+LAC, slot): the LAC row aggregates states by each variable's rule (sum or mean)."""
        lac = np.where([v.lac == "mean" for v in STATE_VARIABLES], self.states.mean(axis=1), self.states.sum(axis=1))
        return np.concatenate([self.states, lac[:, None, :]], axis=1)

    def to_tidy(self, scenario: str, param_source: str, draw: int, seed: int) -> pd.DataFrame:
        """Long frame with columns ``COLUMNS``; categorical labels, int year, float value."""
        full = self.state_frame()
        ny, ns, nv = full.shape
        places = list(self.iso3) + [REGION]
        iso = np.tile(np.repeat(np.arange(ns), nv), ny)
        slot = np.tile(np.arange(nv), ny * ns)
        year = np.repeat(self.years, ns * nv)
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
            "year": np.concatenate([year, np.repeat(self.years, nr)]).astype(np.int64),
            "iso3": pd.Categorical.from_codes(iso_codes, categories=places),
            "partner": pd.Categorical(np.array(partners, dtype=object)[var_codes]),
            "channel": pd.Categorical(np.array(channels, dtype=object)[var_codes]),
            "variable": pd.Categorical(np.array(names, dtype=object)[var_codes]),
            "value": np.concatenate([full.reshape(-1), self.region.reshape(-1)]),
        })
        return frame[list(COLUMNS)]
