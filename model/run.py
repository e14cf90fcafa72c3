"""The one way to run the model: :func:`simulate` for one run, :func:`simulate_many` for seeds in one process."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.agents import CHN_IDX
from model.data import ModelData
from model.drivers import Drivers
from model.model import DefenceTiesModel
from model.params import ModelParams
from model.recorder import Recorder


@dataclass(frozen=True)
class RunResult:
    """One run's record arrays and its key; :meth:`to_tidy` gives the long frame of DESIGN.md §7.

    Attributes:
        states: (year, state, slot) array in the order of ``model.schema.STATE_VARIABLES``.
        region: (year, slot) array in the order of ``model.schema.REGION_VARIABLES``.
        deals: every deal of the run as arrays (signed year, state index, supplier index, category index, size,
            delivered TIV, status, donation flag, fiscal stress at signing, year closed), in signing order.
    """

    years: np.ndarray
    iso3: tuple[str, ...]
    states: np.ndarray
    region: np.ndarray
    draw: int
    seed: int
    deals: dict[str, np.ndarray]

    @property
    def china_deals(self) -> pd.DataFrame:
        """The Chinese deals (donations included) as a frame; ``status`` follows :mod:`model.pipeline`."""
        d = self.deals
        chinese = d["supplier"] == CHN_IDX
        return pd.DataFrame({
            "signed": d["signed"][chinese], "iso3": np.array(self.iso3, dtype=object)[d["state"][chinese]],
            "category": d["category"][chinese], "size_tiv": d["size"][chinese],
            "delivered_tiv": d["delivered"][chinese],
            "status": d["status"][chinese], "donation": d["donation"][chinese],
        })

    def to_tidy(self, scenario: str, param_source: str) -> pd.DataFrame:
        """Long frame with columns
        ``scenario, param_source, draw, seed, year, iso3, partner, channel, variable, value``."""
        rec = Recorder(self.years, self.iso3)
        rec.states, rec.region = self.states, self.region
        return rec.to_tidy(scenario, param_source, self.draw, self.seed)


def simulate(params: ModelParams, data: ModelData, drivers: Drivers, root_seed: int, draw: int = 0,
             seed: int = 0) -> RunResult:
    """Run the model over ``drivers.years`` and return its record.

    The model is released at the end (:meth:`DefenceTiesModel.release`) so that thousands of runs in one process keep
    memory flat (DESIGN.md §9: Mesa 3.3.1's ``Agent._ids`` trap).
    """
    model = DefenceTiesModel(params, data, drivers, root_seed=root_seed, draw=draw, seed=seed)
    try:
        for _ in range(len(drivers.years)):
            model.step()
        model.finish()
        pl = model.pipeline
        deals = {name: getattr(pl, name)[: pl.n] for name in ("signed", "state", "supplier", "category", "size",
                                                              "delivered", "status", "donation", "fiscal", "closed")}
        return RunResult(drivers.years, data.iso3, model.recorder.states, model.recorder.region, draw, seed, deals)
    finally:
        model.release()


def simulate_many(params: ModelParams, data: ModelData, drivers: Drivers, root_seed: int, seeds: list[int],
                  draw: int = 0) -> list[RunResult]:
    """Several seeds of one parameter set, serially (the unit of work a worker process or Dask task runs)."""
    return [simulate(params, data, drivers, root_seed, draw, s) for s in seeds]
