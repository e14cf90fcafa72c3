"""The forecast ensemble's unit of work and its storage: batches of runs in, wide Parquet parts out.

A :class:`Batch` is everything a worker needs for a few posterior draws of one scenario (parameters, drivers, seeds);
:func:`run_group_parquet` runs one or more (scenarios of the same draws) and returns for each a wide table: one row
per (draw, seed, year, iso3), the LAC aggregate as ``iso3 = "LAC"``, and one float32 column per output variable
(:func:`column_names`). Each run's random streams depend only on (root seed, draw, seed), so a batch's rows are the
same whichever worker, executor, batch size or group ran them, and the same draw and seed share their streams across
scenarios (common random numbers: scenario differences are paired). Per run it also records the first year (from
``EVENTS_FROM``) of each event of the forecast tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from common.events import EVENTS_FROM, event_names
from model.data import HIST_END, ISO3, ModelData
from model.drivers import Drivers
from model.params import ModelParams
from model.pipeline import DELIVERED
from model.schema import (
    CHN_IDX,
    REGION,
    STATE_SLOTS,
    STATE_VARIABLES,
    Partner,
    column_names,
)

if TYPE_CHECKING:
    from model.run import RunResult

# The 2022 forum participation the article reports (Results: 22 states): the event is exceeding it.
FORUM_LEVEL_2022 = 22
MAJOR = 4  # model.schema.ARMS_CATEGORIES index of major platforms
# The state variables whose LAC row is the mean over the states (the others sum).
LAC_MEANS = np.array([v.lac == "mean" for v in STATE_VARIABLES])



@dataclass(frozen=True)
class Batch:
    """A worker task: ``params[i]`` is draw ``draws[i]``; every draw runs seeds ``0..seeds-1``."""

    label: str
    index: int
    params: tuple[ModelParams, ...]
    draws: tuple[int, ...]
    seeds: int
    root_seed: int
    drivers: Drivers
    first_stored_year: int


def _first_year(flags: np.ndarray, years: np.ndarray) -> np.ndarray:
    """The first year where ``flags`` (runs, years, ...) holds, per run (and trailing index); NaN if never."""
    first = years[np.argmax(flags, axis=1)].astype(float)
    first[~flags.any(axis=1)] = np.nan
    return first


def batch_events(runs: list[RunResult], full: np.ndarray) -> np.ndarray:
    """First year from EVENTS_FROM of each event of :func:`event_names`, (runs, events), NaN where it does not happen;
    ``full`` is the runs' state records stacked, (runs, years, states, slots).

    Every run of a batch at once: one run at a time, the per-state loop cost 0.44 ms a run (a twentieth of the run).
    """
    years = runs[0].years
    # Slices, not masks: views of the record instead of copies of it (the years are in order).
    split = int(np.searchsorted(years, EVENTS_FROM))
    ys = years[split:]
    st, before = full[:, split:], full[:, :split]

    def slot(variable: str) -> int:
        return STATE_SLOTS[(variable, Partner.CHN)]

    out = [_first_year(st[:, :, ISO3.index(iso), slot("china_arms_deal_signed")] > 0, ys) for iso in ("BRA", "CHL")]
    arg, major = ISO3.index("ARG"), []
    for run in runs:
        d = run.deals
        hit = ((d["supplier"] == CHN_IDX) & (d["signed"] >= EVENTS_FROM) & (d["state"] == arg)
               & (d["category"] == MAJOR) & (d["status"] == DELIVERED))
        # A completed deal counts from its signing year: the question is whether the deal that is signed gets delivered.
        major.append(float(d["signed"][hit].min()) if hit.any() else np.nan)
    out.append(np.array(major))
    out.append(_first_year(st[..., slot("china_arms_deal_signed_major")].sum(axis=2) > 0, ys))
    ground = slot("space_ground_station")
    out.append(_first_year(st[..., ground].sum(axis=2) > before[:, -1:, :, ground].sum(axis=2), ys))
    out.append(_first_year(st[..., slot("forum_attends")].sum(axis=2) > FORUM_LEVEL_2022, ys))
    level = slot("surveillance_level")
    # A state already national before 2024 has no new adoption to forecast: its first year is marked 2023.
    national = np.where(before[..., level].max(axis=1) >= 2, float(EVENTS_FROM - 1),
                        _first_year(st[..., level] >= 2, ys))
    return np.column_stack([*out, national])


def lac_rows(states: np.ndarray) -> np.ndarray:
    """The LAC aggregate of every state variable, (..., years, slots) from (..., years, states, slots): sums or means
    by the variable's ``lac`` rule."""
    agg = states.sum(axis=-2)
    agg[..., LAC_MEANS] /= states.shape[-2]
    return agg


def _replicas(batch: Batch) -> tuple[list[ModelParams], list[int], list[int]]:
    """Every draw and seed of ``batch`` as one replica each, draw-major: parameters, draws, seeds."""
    seeds = list(range(batch.seeds))
    return [p for p in batch.params for _ in seeds], [d for d in batch.draws for _ in seeds], seeds * len(batch.draws)


def batch_tables(batch: Batch, runs: list[RunResult], data: ModelData) -> tuple[pa.Table, pa.Table, list[int]]:
    """``batch``'s runs as the wide record and the per-run event years (Arrow tables), and the record's row groups.

    The record's rows come in two blocks, each run by run (year, then iso3, within a run): the record period's years
    (to HIST_END), then the forecast's. Each block is a row group of its own (:func:`parquet_bytes`), with the years'
    range in its statistics, so a scan of forecast years (every table but the hindcast's) skips the record period's
    rows undecoded: a scenario's 17 table years read in 0.33 s instead of 0.81 s (2,000 runs, every column).
    """
    from experiments.wide import fill_columns  # compiled: numba is for the workers that run the model

    n_states = len(data.iso3)
    keys = [(run.draw, run.seed) for run in runs]
    full = np.stack([run.states for run in runs])
    ev = batch_events(runs, full)
    region = np.stack([run.region for run in runs])
    at = np.flatnonzero(runs[0].years >= batch.first_stored_year)
    years = runs[0].years[at].astype(np.int16)
    names = column_names()
    # Column-major, so that each column is one contiguous buffer Arrow takes without a copy.
    values = np.empty((len(names), len(keys) * len(at) * (n_states + 1)), dtype=np.float32)
    draws, seeds, year_col, codes, groups = [], [], [], [], []
    for part in (years <= HIST_END, years > HIST_END):
        ys = years[part]
        if not ys.size:
            continue
        n_rows_run, start = len(ys) * (n_states + 1), sum(groups)
        fill_columns(full, region, at[part], LAC_MEANS, values, start)
        draws.append(np.repeat(np.array([k[0] for k in keys], dtype=np.int32), n_rows_run))
        seeds.append(np.repeat(np.array([k[1] for k in keys], dtype=np.int16), n_rows_run))
        year_col.append(np.tile(np.repeat(ys, n_states + 1), len(keys)))
        codes.append(np.tile(np.arange(n_states + 1, dtype=np.int8), len(ys) * len(keys)))
        groups.append(n_rows_run * len(keys))
    iso = pa.DictionaryArray.from_arrays(pa.array(np.concatenate(codes)), pa.array(list(data.iso3) + [REGION]))
    columns = {"draw": np.concatenate(draws), "seed": np.concatenate(seeds), "year": np.concatenate(year_col),
               "iso3": iso}
    columns.update({name: values[j] for j, name in enumerate(names)})
    event_cols = {"draw": np.array([k[0] for k in keys], dtype=np.int32),
                  "seed": np.array([k[1] for k in keys], dtype=np.int16)}
    event_cols.update({name: ev[:, j] for j, name in enumerate(event_names())})
    return _required(pa.table(columns)), _required(pa.table(event_cols)), groups


def _required(table: pa.Table) -> pa.Table:
    """``table`` with every field marked non-null (no copy): its values are numbers, NaN where undefined, never null,
    and Parquet then writes no definition levels (a batch of 100 runs encoded in 58 ms instead of 83, read in 24 ms
    instead of 38)."""
    return pa.Table.from_arrays(table.columns, schema=pa.schema([f.with_nullable(False) for f in table.schema]))


def parquet_bytes(table: pa.Table, groups: Sequence[int] | None = None) -> bytes:
    """``table`` as the bytes of a Parquet file (zstd level 1), as the forecast stores its parts; ``groups`` are the
    row groups' sizes, in order (one group by default).

    Dictionary encoding only for ``iso3``: tried on every float column (Arrow's default), it wrote a part in 137 ms
    to 3.2 MB, read back in 67 ms; without it, 79 ms, 2.5 MB and 38 ms (a batch of 100 runs, 2000-2040).
    """
    sink = pa.BufferOutputStream()
    keys = [c for c in ("draw", "seed", "year") if c in table.column_names]
    with pq.ParquetWriter(sink, table.schema, compression="zstd", compression_level=1,
                          use_dictionary=[c for c in ("iso3",) if c in table.column_names],
                          write_statistics=keys) as writer:
        start = 0
        for size in groups or [table.num_rows]:
            writer.write_table(table.slice(start, size), row_group_size=max(size, 1))
            start += size
    return sink.getvalue().to_pybytes()


def same_replicas(a: Batch, b: Batch) -> bool:
    """Whether two batches (of different scenarios) run the same replicas: draws, seeds, root seed, parameters."""
    return (a.draws == b.draws and a.seeds == b.seeds and a.root_seed == b.root_seed
            and a.first_stored_year == b.first_stored_year and len(a.params) == len(b.params)
            and all(p is q or p == q for p, q in zip(a.params, b.params, strict=True)))


def run_group_parquet(group: tuple[Batch, ...], data: ModelData) -> list[tuple[bytes, bytes]]:
    """Run batches of one or more scenarios with the same replicas (:func:`same_replicas`); returns each batch's wide
    record and event years (:func:`batch_tables`) as Parquet bytes.

    The runs go through :func:`model.run.iter_scenarios`: the scenarios after the first start from its state at the
    end of the record when their inputs agree up to then, so a scenario costs its forecast years only, and every
    record is the one the batch would give alone (batches larger than the model's ``MAX_BATCH`` run one by one).
    Both tables are encoded in the worker: a tenth of the bytes to send back, and the main process, which only writes
    them, stays off the cores the workers need.
    """
    # The model's run code is imported here, by the workers that run it: the forecast's main process and its tables'
    # workers use this module's batches and names only (the run code holds about 120 MB resident a process).
    from model.run import MAX_BATCH, iter_scenarios, simulate_batch

    params, draws, seeds = _replicas(group[0])
    if any(not same_replicas(group[0], b) for b in group[1:]):
        raise ValueError("run_group_parquet: the batches of a group must run the same draws, seeds and parameters")
    scenarios = [(params, b.drivers) for b in group]
    if len(params) > MAX_BATCH:  # a batch larger than the model's: no shared years, each batch in pieces
        runs = (simulate_batch(p, data, d, group[0].root_seed, draws=draws, seeds=seeds) for p, d in scenarios)
    else:
        runs = iter_scenarios(scenarios, data, group[0].root_seed, draws=draws, seeds=seeds)
    out = []
    for batch in group:
        # One scenario's records at a time: each is encoded, then let go before the next is run.
        record, events, groups = batch_tables(batch, next(runs), data)
        out.append((parquet_bytes(record, groups), parquet_bytes(events)))
        del record, events
    return out
