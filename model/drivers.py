"""Exogenous drivers over the whole run: the historical record 2000-2023 from ``data/``, then rules past 2023.

Past 2023 every driver follows a documented deterministic rule of :class:`DriverParams` (held, mean-reverting or
growing); scenarios change these rules and add dated overrides. Stochastic driver paths (election hazards, noise on
tension and commodities) belong to the forecast layer, which passes its own overrides.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np
import yaml

from model.data import HIST_END, HIST_START, ISO3, ModelData
from model.params import PROJECT_ROOT, ConfigError, check_keys, check_number
from model.schema import IMPORT_SUPPLIERS

FIRST_YEAR, LAST_YEAR = 2000, 2040
DEFAULT_DRIVERS_FILE = PROJECT_ROOT / "configs" / "drivers" / "default.yaml"
MILEX_WINDOW = 5
EMBARGO_PARTNERS = tuple(p.value for p in IMPORT_SUPPLIERS)
PATH_DRIVERS = ("us_china_tension", "commodity_index", "pla_navy_reach", "russia_availability")


@dataclass(frozen=True, slots=True)
class PeriodOverride:
    """A dated override of a per-state driver (government orientation or fiscal stress)."""

    iso3: str
    year_start: int
    year_end: int
    value: float


@dataclass(frozen=True, slots=True)
class DriverParams:
    """Rules that extend the drivers past 2023, and scenario overrides.

    Attributes:
        gdp_growth: real GDP growth per year past 2023.
        fiscal_persistence: share of 2023 fiscal stress left after each later year.
        commodity_reversion: share of the commodity index's gap to 1.0 left after each later year.
        pla_reach_growth: yearly rise of PLA Navy reach past 2023, capped at 1.
        china_capacity_growth: real growth of China's military spending past 2023.
        (Values and their sources: ``configs/drivers/default.yaml``.)
        paths: anchors ``{driver: [[year, value], ...]}`` after 2023, linearly interpolated from the 2023 value and
            held after the last anchor, for us_china_tension, commodity_index, pla_navy_reach, russia_availability.
        orientation: dated overrides of governments' orientation in [-1, 1].
        fiscal_stress: dated overrides of fiscal stress in [0, 1].
        recognition: switches ``(iso3, year, "PRC"|"ROC")`` after 2023.
        embargo: dated arms embargoes after 2023 ``{iso3, partner, year_start, year_end, value}``, value 1 closes the
            supplier to the state, 0 lifts an embargo of data/arms_embargoes.csv (held past 2023 otherwise).
    """

    gdp_growth: float
    fiscal_persistence: float
    commodity_reversion: float
    pla_reach_growth: float
    china_capacity_growth: float
    paths: Mapping[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)
    orientation: tuple[PeriodOverride, ...] = ()
    fiscal_stress: tuple[PeriodOverride, ...] = ()
    recognition: tuple[tuple[str, int, str], ...] = ()
    embargo: tuple[tuple[str, str, int, int, float], ...] = ()

    @classmethod
    def from_dict(cls, values: Mapping, prefix: str = "drivers") -> DriverParams:
        """Build from a plain mapping with one-line errors naming the key and the allowed values."""
        check_keys(prefix, values, [f.name for f in dataclasses.fields(cls)], required=False)
        kw: dict = {}
        for key, (lo, hi) in {"gdp_growth": (-0.2, 0.2), "fiscal_persistence": (0, 1), "commodity_reversion": (0, 1),
                              "pla_reach_growth": (0, 0.2), "china_capacity_growth": (-0.2, 0.3)}.items():
            if key not in values:
                raise ConfigError(f"{prefix}.{key}: missing key")
            kw[key] = check_number(f"{prefix}.{key}", values[key], lo, hi)
        paths = {}
        raw_paths = values.get("paths") or {}
        if not isinstance(raw_paths, Mapping):
            raise ConfigError(f"{prefix}.paths: expected a mapping of driver: [[year, value], ...], got {raw_paths!r}")
        for name, anchors in raw_paths.items():
            if name not in PATH_DRIVERS:
                raise ConfigError(f"{prefix}.paths.{name}: unknown driver; allowed: {', '.join(PATH_DRIVERS)}")
            hi = 5.0 if name == "commodity_index" else 1.0
            if not isinstance(anchors, (list, tuple)):
                raise ConfigError(f"{prefix}.paths.{name}: {anchors!r}; allowed: a list of [year, value] pairs")
            pts = []
            for a in anchors or ():
                if not isinstance(a, (list, tuple)) or len(a) != 2:
                    raise ConfigError(f"{prefix}.paths.{name}: anchor {a!r}; allowed: [year, value] pairs")
                pts.append((int(check_number(f"{prefix}.paths.{name}.year", a[0], HIST_END + 1, LAST_YEAR, True)),
                            check_number(f"{prefix}.paths.{name}.value", a[1], 0.0, hi)))
            paths[name] = tuple(sorted(pts))
        kw["paths"] = paths
        for key in ("orientation", "fiscal_stress", "recognition", "embargo"):
            if not isinstance(values.get(key) or [], (list, tuple)):
                raise ConfigError(f"{prefix}.{key}: {values[key]!r}; allowed: a list")
        for key, lo in (("orientation", -1.0), ("fiscal_stress", 0.0)):
            kw[key] = tuple(_period(f"{prefix}.{key}", o, lo) for o in values.get(key) or ())
        rec = []
        for r in values.get("recognition") or ():
            if not isinstance(r, (list, tuple)) or len(r) != 3 or r[0] not in ISO3 or r[2] not in ("PRC", "ROC"):
                raise ConfigError(f"{prefix}.recognition: {r!r}; allowed: [ISO3, year, PRC|ROC] with a CELAC ISO3")
            rec.append((r[0], int(check_number(f"{prefix}.recognition.year", r[1], HIST_END + 1, LAST_YEAR, True)), r[2]))
        kw["recognition"] = tuple(rec)
        embargo = []
        for o in values.get("embargo") or ():
            key = f"{prefix}.embargo"
            if not isinstance(o, Mapping) or set(o) != {"iso3", "partner", "year_start", "year_end", "value"}:
                raise ConfigError(f"{key}: {o!r}; allowed: a mapping with iso3, partner, year_start, year_end, value")
            if o["iso3"] not in ISO3 or o["partner"] not in EMBARGO_PARTNERS:
                raise ConfigError(f"{key}: {o['iso3']!r}/{o['partner']!r}; allowed: a CELAC ISO3 and one of {', '.join(EMBARGO_PARTNERS)}")
            a = int(check_number(f"{key}.year_start", o["year_start"], HIST_END + 1, LAST_YEAR, True))
            b = int(check_number(f"{key}.year_end", o["year_end"], a, LAST_YEAR, True))
            v = check_number(f"{key}.value", o["value"], 0, 1, True)
            embargo.append((o["iso3"], o["partner"], a, b, float(v)))
        kw["embargo"] = tuple(embargo)
        return cls(**kw)


def load_default_drivers(path: Path = DEFAULT_DRIVERS_FILE) -> DriverParams:
    """Read the shipped driver rules straight from YAML (tests, benchmarks and library use without Hydra)."""
    with open(path, encoding="utf-8") as fh:
        return DriverParams.from_dict(yaml.safe_load(fh))


def _period(key: str, o: object, lo: float) -> PeriodOverride:
    if not isinstance(o, Mapping) or set(o) != {"iso3", "year_start", "year_end", "value"}:
        raise ConfigError(f"{key}: {o!r}; allowed: a mapping with iso3, year_start, year_end, value")
    if o["iso3"] not in ISO3:
        raise ConfigError(f"{key}.iso3: {o['iso3']!r} is not one of the 33 CELAC ISO3 codes")
    a = int(check_number(f"{key}.year_start", o["year_start"], FIRST_YEAR, LAST_YEAR, True))
    b = int(check_number(f"{key}.year_end", o["year_end"], a, LAST_YEAR, True))
    return PeriodOverride(o["iso3"], a, b, check_number(f"{key}.value", o["value"], lo, 1.0))


@dataclass(frozen=True)
class Drivers:
    """Driver arrays over (year) or (year, state) for ``years``; built once per scenario and shared by runs."""

    years: np.ndarray
    us_china_tension: np.ndarray
    commodity_index: np.ndarray
    pla_navy_reach: np.ndarray
    russia_availability: np.ndarray
    china_capacity: np.ndarray
    gdp_usd_m: np.ndarray
    milex_share: np.ndarray
    alignment_unga: np.ndarray
    orientation: np.ndarray
    fiscal_stress: np.ndarray
    recognises_beijing: np.ndarray
    regime_change: np.ndarray
    embargo: np.ndarray
    milex_usd_m: np.ndarray
    legacy_deliveries: np.ndarray


def build_drivers(data: ModelData, dp: DriverParams, first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR) -> Drivers:
    """Historical drivers, extended to ``last_year`` by the rules and overrides of ``dp``."""
    if not FIRST_YEAR <= first_year <= last_year <= LAST_YEAR:
        raise ConfigError(f"years: {first_year}-{last_year}; allowed within {FIRST_YEAR}-{LAST_YEAR}, start <= end")
    years = np.arange(HIST_START, LAST_YEAR + 1)
    h = HIST_END - HIST_START + 1
    ahead = len(years) - h
    steps = np.arange(1, ahead + 1)

    def extend_state(hist: np.ndarray, rule: np.ndarray) -> np.ndarray:
        return np.vstack([hist, rule])

    gdp = extend_state(data.gdp_usd_m, data.gdp_usd_m[-1] * (1 + dp.gdp_growth) ** steps[:, None])
    milex = extend_state(data.milex_share, np.repeat(data.milex_share[-1:], ahead, axis=0))
    unga = extend_state(data.alignment_unga, np.repeat(data.alignment_unga[-1:], ahead, axis=0))
    orient = extend_state(data.orientation, np.repeat(data.orientation[-1:], ahead, axis=0))
    fiscal = extend_state(data.fiscal_stress, data.fiscal_stress[-1] * dp.fiscal_persistence ** steps[:, None])
    recog = extend_state(data.recognises_beijing, np.repeat(data.recognises_beijing[-1:], ahead, axis=0))
    embargo = np.concatenate([data.embargo, np.repeat(data.embargo[-1:], ahead, axis=0)])
    for iso, partner, a, b, v in dp.embargo:
        embargo[a - HIST_START:b - HIST_START + 1, ISO3.index(iso), EMBARGO_PARTNERS.index(partner)] = v
    for arr, overrides in ((orient, dp.orientation), (fiscal, dp.fiscal_stress)):
        for o in overrides:
            arr[o.year_start - HIST_START:o.year_end - HIST_START + 1, ISO3.index(o.iso3)] = o.value
    for iso, year, to in sorted(dp.recognition, key=lambda r: r[1]):
        recog[year - HIST_START:, ISO3.index(iso)] = 1.0 if to == "PRC" else 0.0
    # Procurement follows multi-year budgets: the capability target uses the trailing five-year mean of spending.
    spend = gdp * milex
    cum = np.cumsum(np.vstack([np.zeros((1, spend.shape[1])), spend]), axis=0)
    lo = np.maximum(np.arange(len(years)) - MILEX_WINDOW + 1, 0)
    milex_usd = (cum[np.arange(len(years)) + 1] - cum[lo]) / (np.arange(len(years)) + 1 - lo)[:, None]
    legacy = np.concatenate([data.legacy_deliveries, np.zeros((ahead,) + data.legacy_deliveries.shape[1:])])
    regime = np.zeros_like(orient)
    regime[1:] = (np.abs(np.diff(orient, axis=0)) >= 0.5).astype(float)

    d = data.drivers
    rules = {
        "us_china_tension": np.full(ahead, d["us_china_tension"][-1]),
        "commodity_index": 1.0 + (d["commodity_index"][-1] - 1.0) * dp.commodity_reversion ** steps,
        "pla_navy_reach": np.minimum(1.0, d["pla_navy_reach"][-1] + dp.pla_reach_growth * steps),
        "russia_availability": np.full(ahead, d["russia_availability"][-1]),
    }
    series = {}
    for name in PATH_DRIVERS:
        future = rules[name]
        anchors = dp.paths.get(name, ())
        if anchors:
            xs = [HIST_END] + [a[0] for a in anchors]
            ys = [d[name][-1]] + [a[1] for a in anchors]
            future = np.interp(years[h:], xs, ys)
        series[name] = np.concatenate([d[name], future])
    capacity = np.concatenate([data.china_capacity, data.china_capacity[-1] * (1 + dp.china_capacity_growth) ** steps])
    sel = slice(first_year - HIST_START, last_year - HIST_START + 1)
    return Drivers(
        years=years[sel], china_capacity=capacity[sel], gdp_usd_m=gdp[sel], milex_share=milex[sel],
        alignment_unga=unga[sel], orientation=orient[sel], fiscal_stress=fiscal[sel], recognises_beijing=recog[sel],
        regime_change=regime[sel], embargo=embargo[sel], milex_usd_m=milex_usd[sel], legacy_deliveries=legacy[sel], **{k: v[sel] for k, v in series.items()},
    )
