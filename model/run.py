"""The one way to run the model: :func:`simulate_batch` for any mix of parameter draws and seeds as one array program,
:func:`simulate` for one run (a batch of one), :func:`simulate_many` for seeds of one parameter set."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.agents import CHN_IDX
from model.data import HIST_END, ModelData
from model.drivers import Drivers
from model.model import DefenceTiesModel
from model.params import ModelParams
from model.recorder import tidy


@dataclass(frozen=True)
class RunResult:
    """One run's record arrays and its key; :meth:`to_tidy` gives the long frame of DESIGN.md §7.

    Attributes:
        states: (year, state, slot) array in the order of ``model.schema.STATE_VARIABLES``.
        region: (year, slot) array in the order of ``model.schema.REGION_VARIABLES``.
        deals: every deal of the run as arrays (signed year, state index, supplier index, category index, size,
            delivered TIV, status, donation flag, the highest fiscal stress met, whether China's credit line
            financed it, year closed), in signing order.
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
            "status": d["status"][chinese], "donation": d["donation"][chinese], "financed": d["financed"][chinese],
        })

    def to_tidy(self, scenario: str, param_source: str) -> pd.DataFrame:
        """Long frame with columns
        ``scenario, param_source, draw, seed, year, iso3, partner, channel, variable, value``."""
        return tidy(self.states, self.region, self.years, self.iso3, scenario, param_source, self.draw, self.seed)


# Replicas run as one array program at most; longer batches run in pieces of this size.
MAX_BATCH = 128
# Runs per batch from which the batched model's cost per run levels off (docs/ODD.md §10.2): callers that gather runs
# of many draws or particles gather about this many.
EFFICIENT_BATCH = 64
DEAL_COLUMNS = ("signed", "state", "supplier", "category", "size", "delivered", "status", "donation", "fiscal",
                "financed", "closed")


def simulate_batch(params: ModelParams | Sequence[ModelParams], data: ModelData, drivers: Drivers | Sequence[Drivers],
                   root_seed: int | Sequence[int], draws: int | Sequence[int] = 0,
                   seeds: int | Sequence[int] = 0) -> list[RunResult]:
    """Run R replicas over ``drivers.years`` as one array program and return each replica's record.

    ``params``, ``drivers``, ``root_seed``, ``draws`` and ``seeds`` are one value for all replicas or one per replica
    (at least one of them a sequence to run more than one). Each replica's record equals its run through
    :func:`simulate` (``tests/test_batch.py``). The model is released at the end (:meth:`DefenceTiesModel.release`) so
    that thousands of runs in one process keep memory flat (DESIGN.md §9: Mesa 3.3.1's ``Agent._ids`` trap).
    """
    return simulate_scenarios([(params, drivers)], data, root_seed, draws, seeds)[0]


def _is_seq(v) -> bool:
    return isinstance(v, (list, tuple, np.ndarray))


def _replica_count(*values) -> int:
    """The batch's number of replicas: the length of its per-replica values (1 when every value is shared)."""
    return next((len(v) for v in values if _is_seq(v)), 1)


def _results(model: DefenceTiesModel, data: ModelData) -> list[RunResult]:
    """Finish a batch that has run all its years and return each replica's record."""
    model.finish()
    pl, rec = model.pipeline, model.recorder
    if model.replicas == 1:
        columns = {name: [getattr(pl, name)[: pl.n].copy()] for name in DEAL_COLUMNS}
    else:
        # Each replica's deals in signing order: a stable sort by replica keeps the order within each (on 16-bit keys,
        # numpy's stable sort is a radix sort).
        order = np.argsort(pl.replica[: pl.n].astype(np.uint16), kind="stable")
        edges = [0, *np.searchsorted(pl.replica[: pl.n][order], np.arange(1, model.replicas)).tolist(), pl.n]
        spans = list(itertools.pairwise(edges))
        columns = {}
        for name in DEAL_COLUMNS:
            column = getattr(pl, name)[: pl.n][order]
            columns[name] = [column[a:b] for a, b in spans]
    return [RunResult(model.years, data.iso3, rec.all_states[r], rec.all_region[r], int(model.draws[r]),
                      int(model.seeds[r]), {name: parts[r] for name, parts in columns.items()})
            for r in range(model.replicas)]


def simulate_scenarios(scenarios: Sequence[tuple[ModelParams | Sequence[ModelParams], Drivers | Sequence[Drivers]]],
                       data: ModelData, root_seed: int | Sequence[int], draws: int | Sequence[int] = 0,
                       seeds: int | Sequence[int] = 0, shared_until: int = HIST_END) -> list[list[RunResult]]:
    """The same replicas (root seeds, draws, seeds) under several scenarios, each a (params, drivers) pair as
    :func:`simulate_batch` takes them; returns each scenario's records, each equal to its own :func:`simulate_batch`
    (:func:`iter_scenarios`, in pieces of at most ``MAX_BATCH`` replicas)."""
    size = _replica_count(root_seed, draws, seeds, *(v for pair in scenarios for v in pair))

    def part(v, a):
        return v[a:a + MAX_BATCH] if _is_seq(v) else v

    # A replica's record does not depend on its batch, so a long batch runs in pieces (memory stays bounded).
    pieces = [list(iter_scenarios([(part(p, a), part(d, a)) for p, d in scenarios], data, part(root_seed, a),
                                  part(draws, a), part(seeds, a), shared_until)) for a in range(0, size, MAX_BATCH)]
    return [[run for piece in pieces for run in piece[j]] for j in range(len(scenarios))]


def iter_scenarios(scenarios: Sequence[tuple[ModelParams | Sequence[ModelParams], Drivers | Sequence[Drivers]]],
                   data: ModelData, root_seed: int | Sequence[int], draws: int | Sequence[int] = 0,
                   seeds: int | Sequence[int] = 0, shared_until: int = HIST_END) -> Iterator[list[RunResult]]:
    """:func:`simulate_scenarios` for one batch (at most ``MAX_BATCH`` replicas), each scenario's records as soon as
    they are done: a caller that keeps only what it needs of them holds one scenario's records at a time.

    Scenarios differ only in their future: the first runs every year and keeps its state at the end of
    ``shared_until``; each other scenario whose inputs agree with the first's up to then
    (:meth:`DefenceTiesModel.shares_history`: parameters, constants, noise, drivers and US switches) starts from that
    state and runs only the later years. The others run in full, so the result never depends on the check.
    """
    size = _replica_count(root_seed, draws, seeds, *(v for pair in scenarios for v in pair))
    if size > MAX_BATCH:
        raise ValueError(f"iter_scenarios: {size} replicas; allowed: at most {MAX_BATCH} (simulate_scenarios runs "
                         "more in pieces)")
    history, raw = None, None
    for params, drivers in scenarios:
        # The same replicas: the scenarios after the first take its raw draws instead of drawing them again.
        model = DefenceTiesModel(params, data, drivers, root_seed=root_seed, draw=draws, seed=seeds, raw_noise=raw)
        raw = model.raw_noise
        try:
            if history is not None and model.shares_history(history):
                model.restore(history)
            shared = int(np.searchsorted(model.years, shared_until, side="right"))
            for _ in range(model.t, len(model.years)):
                if history is None and 0 < model.t == shared and len(scenarios) > 1:
                    history = model.history()
                model.step()
            runs = _results(model, data)
        finally:
            model.release()
        yield runs
        del runs  # before the next scenario runs


def simulate(params: ModelParams, data: ModelData, drivers: Drivers, root_seed: int, draw: int = 0,
             seed: int = 0) -> RunResult:
    """Run the model over ``drivers.years`` and return its record (a batch of one)."""
    return simulate_batch([params], data, [drivers], root_seed, [draw], [seed])[0]


def simulate_many(params: ModelParams, data: ModelData, drivers: Drivers, root_seed: int, seeds: list[int],
                  draw: int = 0) -> list[RunResult]:
    """Several seeds of one parameter set, as one batch (the unit of work a worker process or Dask task runs)."""
    return simulate_batch(params, data, drivers, root_seed, draw, list(seeds))
