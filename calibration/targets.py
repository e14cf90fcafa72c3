"""Summary statistics: each ``fit`` observation compiled into a target that reduces a run's record to one number.

A :class:`Target` holds the slots, states and year indices its statistic reads (``data/OBSERVATIONS.md`` §2 defines
each statistic); :func:`evaluate_batch` applies all targets to a batch of runs' arrays, straight from the recorder (no
tidy frame: calibration runs the model tens of thousands of times). The non-Chinese SIPRI deliveries, the one annual
per-state series the project has, become a second block of targets: five-year import totals per state and per supplier
group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.data import ISO3, SUBREGIONS, ModelData
from model.schema import IMPORT_SUPPLIERS, REGION_SLOTS, STATE_SLOTS, STATE_VARIABLES, Partner

REGION_CODE = "LAC"
SIPRI_PERIODS = ((2000, 2004), (2005, 2009), (2010, 2014), (2015, 2019), (2020, 2023))
NON_CHINESE = tuple(p for p in IMPORT_SUPPLIERS if p is not Partner.CHN)
_ARMS_IMPORT_SLOTS = np.array([STATE_SLOTS[("arms_imports_tiv", p)] for p in IMPORT_SUPPLIERS])


@dataclass(frozen=True)
class Target:
    """One observation as a computable statistic.

    Attributes:
        id: the observation's id.
        statistic: base statistic (``sum``, ``states_any`` ... of OBSERVATIONS.md §2).
        threshold: the ``x > 0`` test becomes ``x >= threshold`` for ``@k`` statistics; 0 means ``x > 0``.
        slots: recorder slots summed (a variable over all its partners); empty for region-only variables.
        region_slot: slot in the region record for region-only variables, else -1.
        states: indices of the row's states (all 33 for LAC).
        t0, t1: first and last year index of the window (inclusive), already widened by ``year_tolerance``.
        years: the calendar years of the run (for year-valued statistics).
        relation, value, low, high, tolerance: what the statistic is compared with (data/OBSERVATIONS.md §1).
        kind: the observation's kind; ``pattern`` rows also form the pattern filter.
        year_valued: whether the statistic is a year (first/last/peak).
    """

    id: str
    statistic: str
    threshold: float
    slots: np.ndarray
    region_slot: int
    states: np.ndarray
    t0: int
    t1: int
    years: np.ndarray
    relation: str
    value: float
    low: float
    high: float
    tolerance: float
    kind: str

    @property
    def year_valued(self) -> bool:
        """First, last and peak years are compared in years."""
        return self.statistic in ("first_year", "last_year", "peak_year")


def compile_targets(observations: pd.DataFrame, years: np.ndarray, data: ModelData,
                    last_year: int | None = None) -> list[Target]:
    """Targets for the ``fit`` rows whose window lies within the run (and ends by ``last_year`` when given).

    Money observations (US$ m, current) are deflated to the model's constant 2022 US$ with the project's deflator;
    the relative tolerance is deflated with them.
    """
    fit = observations[observations.use == "fit"]
    deflator = data.us_deflator
    targets = []
    for row in fit.itertuples(index=False):
        if row.year_start < years[0] or row.year_end > years[-1] or (last_year is not None
                                                                     and row.year_end > last_year):
            continue
        base, _, k = row.statistic.partition("@")
        scale = 1.0
        if isinstance(row.unit, str) and row.unit.startswith("US$"):
            scale = float(deflator.get(int(row.year_end), deflator.iloc[-1]))
        is_year = base in ("first_year", "last_year", "peak_year")
        widen = 0 if is_year else int(row.year_tolerance)
        t0 = max(int(row.year_start) - widen - int(years[0]), 0)
        t1 = min(int(row.year_end) + widen - int(years[0]), len(years) - 1)
        if base == "states_by":
            t0 = 0
        region_only = row.variable in REGION_SLOTS
        slots = np.array([i for i, v in enumerate(STATE_VARIABLES) if v.name == row.variable], dtype=np.intp)
        codes = row.iso3_list
        states = np.arange(len(ISO3)) if codes == (REGION_CODE,) else np.array([ISO3.index(c) for c in codes])
        tolerance = float(row.tolerance) + (float(row.year_tolerance) if is_year else 0.0)
        targets.append(Target(
            id=row.id, statistic=base, threshold=float(k) if k else 0.0, slots=slots,
            region_slot=REGION_SLOTS[row.variable] if region_only else -1,
            states=states,
            t0=t0, t1=t1, years=years, relation=row.relation, value=float(row.value) * scale,
            low=float(row.value_low) * scale, high=float(row.value_high) * scale, tolerance=tolerance * scale,
            kind=row.kind,
        ))
    return targets


def _present(x: np.ndarray, threshold: float) -> np.ndarray:
    return x >= threshold if threshold else x > 0


def statistic(target: Target, states: np.ndarray, region: np.ndarray, south_america: np.ndarray) -> np.ndarray:
    """The statistic of one target on a batch of runs' records: ``states`` (run, year, state, slot), ``region`` (run,
    year, slot); one value per run, each from its own run's rows alone (a run's value does not depend on its batch)."""
    w = slice(target.t0, target.t1 + 1)
    s = target.statistic
    if target.region_slot >= 0:
        series = region[:, w, target.region_slot]
        x = series[:, :, None]
    else:
        # The target's slots first: gathering its states first would copy every slot of the record.
        x = states[:, w][:, :, :, target.slots][:, :, target.states].sum(axis=3)  # (runs, years, states)
        series = x.sum(axis=2)
    if s == "sum":
        return series.sum(axis=1)
    if s in ("states_any", "states_by"):
        return _present(x, target.threshold).any(axis=1).sum(axis=1).astype(float)
    if s == "years_any":
        return _present(series, target.threshold).sum(axis=1).astype(float)
    if s in ("first_year", "last_year"):
        hit = _present(series, target.threshold)
        years = target.years[w]
        if s == "first_year":
            # Never happened in the window: one year past its end, so a missing event is a miss, not a crash.
            return np.where(hit.any(axis=1), years[hit.argmax(axis=1)], years[-1] + 1).astype(float)
        return np.where(hit.any(axis=1), years[len(years) - 1 - hit[:, ::-1].argmax(axis=1)],
                        years[0] - 1).astype(float)
    if s == "peak_year":
        years = target.years[w]
        return np.where(series.max(axis=1) > 0, years[series.argmax(axis=1)], years[-1] + 1).astype(float)
    if s == "top_states":
        totals = states[:, w][:, :, :, target.slots].sum(axis=3).sum(axis=1)  # (runs, states)
        top = np.argsort(-totals, axis=1, kind="stable")[:, : len(target.states)]
        in_top = np.zeros(totals.shape, dtype=bool)
        np.put_along_axis(in_top, top, True, axis=1)
        # As many top states as named ones: the sets are equal when every named state is among the top.
        return (in_top[:, target.states].all(axis=1) & (totals[:, target.states].min(axis=1) > 0)).astype(float)
    if s == "pct_change":
        half = (target.t1 - target.t0 + 1) // 2
        first, second = series[:, :half].sum(axis=1), series[:, half:].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(first > 0, 100.0 * (second / first - 1.0), np.where(second == 0, 0.0, 100.0))
    if s in ("pct_of_lac_imports", "pct_of_south_america_imports"):
        pool = np.arange(states.shape[2]) if s == "pct_of_lac_imports" else south_america
        # One flat sum per run: a multi-axis sum may group its terms by the batch's shape.
        total = states[:, w][:, :, :, _ARMS_IMPORT_SLOTS][:, :, pool].reshape(len(states), -1).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, 100.0 * series.sum(axis=1) / total, 0.0)
    raise ValueError(f"statistic {s!r} is not implemented")


def evaluate_batch(targets: list[Target], states: np.ndarray, region: np.ndarray, data: ModelData) -> np.ndarray:
    """Every target's statistic on a batch of runs, (runs, targets): ``states`` (run, year, state, slot), ``region``
    (run, year, slot). One numpy program per target for the whole batch: a particle's seeds cost about as much as one.
    """
    south_america = np.flatnonzero(data.country["subregion"] == SUBREGIONS.index("south_america"))
    if not targets:
        return np.empty((len(states), 0))
    return np.stack([statistic(t, states, region, south_america) for t in targets], axis=1)


def evaluate(targets: list[Target], states: np.ndarray, region: np.ndarray, data: ModelData) -> np.ndarray:
    """Every target's statistic on one run (a batch of one)."""
    return evaluate_batch(targets, states[None], region[None], data)[0]


def run_statistics(targets: list[Target], runs: list, data: ModelData) -> tuple[np.ndarray, np.ndarray]:
    """A batch of runs' (``model.run.RunResult``) target statistics, (runs, targets), and SIPRI five-year totals,
    (runs, totals) flattened as :func:`sipri_total_ids`."""
    stats = evaluate_batch(targets, np.stack([r.states for r in runs]), np.stack([r.region for r in runs]), data)
    sipri = np.array([np.concatenate([b.ravel() for b in sipri_blocks(r.states, r.years)]) for r in runs])
    return stats, sipri


def sipri_blocks(states: np.ndarray, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Five-year non-Chinese import totals: (period, state) and (period, supplier group), in TIV m."""
    slots = np.array([STATE_SLOTS[("arms_imports_tiv", p)] for p in NON_CHINESE])
    by_state, by_group = [], []
    for a, b in SIPRI_PERIODS:
        w = (years >= a) & (years <= b)
        block = states[w][:, :, slots]
        by_state.append(block.sum(axis=(0, 2)))
        by_group.append(block.sum(axis=(0, 1)))
    return np.array(by_state), np.array(by_group)


def sipri_total_ids(periods: tuple[tuple[int, int], ...] = SIPRI_PERIODS) -> list[str]:
    """Ids of the totals of :func:`sipri_blocks` in ``periods``, flattened as by state then by supplier group."""
    return ([f"sipri_{a}_{b}_state_{c}" for a, b in periods for c in ISO3]
            + [f"sipri_{a}_{b}_supplier_{p.value}" for a, b in periods for p in NON_CHINESE])


def observed_sipri_blocks(data: ModelData) -> tuple[np.ndarray, np.ndarray]:
    """The same blocks from the SIPRI data (China's rows are absent from the data by construction)."""
    years = np.arange(2000, 2000 + data.sipri_imports.shape[0])
    cols = np.array([IMPORT_SUPPLIERS.index(p) for p in NON_CHINESE])
    by_state, by_group = [], []
    for a, b in SIPRI_PERIODS:
        w = (years >= a) & (years <= b)
        block = data.sipri_imports[w][:, :, cols]
        by_state.append(block.sum(axis=(0, 2)))
        by_group.append(block.sum(axis=(0, 1)))
    return np.array(by_state), np.array(by_group)
