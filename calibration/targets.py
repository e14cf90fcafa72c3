"""Summary statistics: each ``fit`` observation compiled into a target that reduces a run's record to one number.

A :class:`Target` holds the slots, states and year indices its statistic reads (``data/OBSERVATIONS.md`` §2 defines
each statistic); :func:`evaluate` applies all targets to one run's arrays, straight from the recorder (no tidy frame:
calibration runs the model tens of thousands of times). The non-Chinese SIPRI deliveries, the one annual per-state
series the project has, become a second block of targets: five-year import totals per state and per supplier group.
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


def evaluate_one(target: Target, states: np.ndarray, region: np.ndarray, south_america: np.ndarray) -> float:
    """The statistic of one target on one run's record: ``states`` (year, state, slot), ``region`` (year, slot)."""
    w = slice(target.t0, target.t1 + 1)
    s = target.statistic
    if target.region_slot >= 0:
        series = region[w, target.region_slot]
        x = series[:, None]
    else:
        x = states[w][:, target.states][:, :, target.slots].sum(axis=2)  # (years, states)
        series = x.sum(axis=1)
    if s == "sum":
        return float(series.sum())
    if s in ("states_any", "states_by"):
        return float(_present(x, target.threshold).any(axis=0).sum())
    if s == "years_any":
        return float(_present(series, target.threshold).sum())
    if s in ("first_year", "last_year"):
        hit = np.flatnonzero(_present(series, target.threshold))
        years = target.years[w]
        if len(hit) == 0:
            # Never happened in the window: one year past its end, so a missing event is a miss, not a crash.
            return float(years[-1] + 1) if s == "first_year" else float(years[0] - 1)
        return float(years[hit[0]] if s == "first_year" else years[hit[-1]])
    if s == "peak_year":
        return float(target.years[w][int(np.argmax(series))]) if series.max() > 0 else float(target.years[w][-1] + 1)
    if s == "top_states":
        totals = states[w][:, :, target.slots].sum(axis=(0, 2))
        top = np.argsort(-totals, kind="stable")[: len(target.states)]
        return float(set(top.tolist()) == set(target.states.tolist()) and totals[target.states].min() > 0)
    if s == "pct_change":
        half = (target.t1 - target.t0 + 1) // 2
        first, second = series[:half].sum(), series[half:].sum()
        return 100.0 * (second / first - 1.0) if first > 0 else (0.0 if second == 0 else 100.0)
    if s in ("pct_of_lac_imports", "pct_of_south_america_imports"):
        pool = np.arange(states.shape[1]) if s == "pct_of_lac_imports" else south_america
        total = states[w][:, pool][:, :, _ARMS_IMPORT_SLOTS].sum()
        return 100.0 * float(series.sum()) / total if total > 0 else 0.0
    raise ValueError(f"statistic {s!r} is not implemented")


def evaluate(targets: list[Target], states: np.ndarray, region: np.ndarray, data: ModelData) -> np.ndarray:
    """Every target's statistic on one run."""
    south_america = np.flatnonzero(data.country["subregion"] == SUBREGIONS.index("south_america"))
    return np.array([evaluate_one(t, states, region, south_america) for t in targets])


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
