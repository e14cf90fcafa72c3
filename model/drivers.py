"""Exogenous drivers over the whole run: the historical record 2000-2023 from ``data/``, then rules past 2023.

Past 2023 every driver follows a documented deterministic rule of :class:`DriverParams` (held, mean-reverting or
growing); scenarios change these rules, add dated overrides and set policy switches (US red lines and sanctions, a
state's preference for its own industry, Chinese technology offers). :func:`build_drivers` builds the deterministic
arrays once per scenario; the stochastic part past 2023 (election hazards, recognition switches, AR(1) noise on tension
and the commodity index) is drawn per run by :func:`apply_shocks` from the run's ``drivers`` stream, inside the model,
so every caller gets it and scenarios share their shocks (common random numbers). Nothing here changes 2000-2023.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from model.data import HIST_END, HIST_START, ISO3, ModelData
from model.params import PROJECT_ROOT, ConfigError, check_keys, check_number
from model.schema import ARMS_CATEGORIES, IMPORT_SUPPLIERS

FIRST_YEAR, LAST_YEAR = 2000, 2040
FUTURE_YEARS = LAST_YEAR - HIST_END  # 2024-2040: the years stochastic drivers and policy switches may touch
DEFAULT_DRIVERS_FILE = PROJECT_ROOT / "configs" / "drivers" / "default.yaml"
MILEX_WINDOW = 5
EMBARGO_PARTNERS = tuple(p.value for p in IMPORT_SUPPLIERS)
PATH_DRIVERS = ("us_china_tension", "commodity_index", "pla_navy_reach", "russia_availability")
PATH_HIGH = {"us_china_tension": 1.0, "commodity_index": 5.0, "pla_navy_reach": 1.0, "russia_availability": 1.0}
# A swing of orientation of at least this much is a change of regime (deal failure hazard, §7.11).
REGIME_SWING = 0.5
RED_LINE_YEARS = ("platforms", "space_ground", "surveillance")
RED_LINE_KEYS = (*RED_LINE_YEARS, "categories", "sanctions", "sanction_years")
SWITCH_PERIODS = ("domestic_preference", "china_tech_offer")


@dataclass(frozen=True, slots=True)
class PeriodOverride:
    """A dated override of a per-state driver (government orientation or fiscal stress)."""

    iso3: str
    year_start: int
    year_end: int
    value: float


@dataclass(frozen=True, slots=True)
class RedLines:
    """US red lines enforced from a start year (None: not enforced), and sanctions on partners that cross them.

    Attributes:
        platforms: from this year no Chinese arms deal of ``categories`` is offered, and the undelivered ones in the
            pipeline fail as US vetoes.
        space_ground: from this year no Chinese space ground facility is built (a project that would be one is dropped).
        surveillance: from this year no state adopts a national Chinese surveillance system (subnational ones go on).
        categories: the arms categories ``platforms`` bans.
        sanctions: strength in [0, 1], from the first red-line year: a state that deepens Chinese ties (signs a Chinese
            arms deal, starts a Chinese space project or adopts a Chinese surveillance system) is sanctioned for the
            next ``sanction_years`` years: US arms availability ``1 - sanctions`` and US contacts ``x (1 - sanctions)``.
    """

    platforms: int | None = None
    space_ground: int | None = None
    surveillance: int | None = None
    categories: tuple[str, ...] = ("aircraft", "major_platform")
    sanctions: float = 0.0
    sanction_years: int = 3

    @property
    def start(self) -> int | None:
        """The first year any red line is enforced (sanctions start then)."""
        years = [y for y in (self.platforms, self.space_ground, self.surveillance) if y is not None]
        return min(years) if years else None


@dataclass(frozen=True, slots=True)
class StochasticDrivers:
    """Settings of the stochastic drivers past 2023 (``configs/drivers/default.yaml``); all zero = deterministic.

    Attributes:
        election_hazard: regional mean yearly probability that a state's government changes; each state's hazard is
            this times its own 2000-2023 rate of change, shrunk towards the regional rate by ``election_pooling``
            pseudo-years, relative to the regional rate.
        election_pooling: pseudo-years of the regional rate added to each state's record.
        orientation_persistence: rho of a new government's orientation ``m_i + rho (o - m_i) + orientation_sd z``,
            clipped to [-1, 1], with ``m_i`` the state's 2000-2023 mean orientation and ``o`` the outgoing one.
        orientation_sd: standard deviation of that draw.
        recognition_hazard: yearly probability that a state recognising Taipei switches to Beijing.
        tension_sd, tension_ar: AR(1) shocks added to the tension path, clipped to [0, 1].
        commodity_sd, commodity_ar: AR(1) shocks on the log of the commodity index path, clipped to [0, 5].
        seeds_per_path: consecutive seeds that share one driver path (seed // seeds_per_path keys the stream).
    """

    election_hazard: float = 0.0
    election_pooling: float = 5.0
    orientation_persistence: float = 0.0
    orientation_sd: float = 0.0
    recognition_hazard: float = 0.0
    tension_sd: float = 0.0
    tension_ar: float = 0.0
    commodity_sd: float = 0.0
    commodity_ar: float = 0.0
    seeds_per_path: int = 1

    @property
    def active(self) -> bool:
        """Whether any driver past 2023 is random."""
        return bool(self.election_hazard or self.recognition_hazard or self.tension_sd or self.commodity_sd)


STOCHASTIC_RANGES = {"election_hazard": (0, 1), "election_pooling": (0, 100), "orientation_persistence": (-1, 1),
                     "orientation_sd": (0, 2), "recognition_hazard": (0, 1), "tension_sd": (0, 0.5),
                     "tension_ar": (0, 0.99), "commodity_sd": (0, 1), "commodity_ar": (0, 0.99),
                     "seeds_per_path": (1, 1000)}


@dataclass(frozen=True, slots=True)
class DriverParams:
    """Rules that extend the drivers past 2023, scenario overrides and policy switches.

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
        red_lines: US red lines and sanctions (:class:`RedLines`).
        domestic_preference: dated preference of a state for its own industry in [0, 1], added to its defence-industrial
            capacity in the domestic supplier's utility (``beta_domestic x value``).
        china_tech_offer: dated Chinese technology offer to a state in [0, 1], added to China's technology-transfer
            offer in the arms utility (``beta_tech_transfer x value x tech capacity``) and to the space logit
            (``space.tech x value x tech capacity``).
        stochastic: the random drivers past 2023 (:class:`StochasticDrivers`).
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
    red_lines: RedLines = RedLines()
    domestic_preference: tuple[PeriodOverride, ...] = ()
    china_tech_offer: tuple[PeriodOverride, ...] = ()
    stochastic: StochasticDrivers = StochasticDrivers()

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
            hi = PATH_HIGH[name]
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
        for key in ("orientation", "fiscal_stress", "recognition", "embargo", *SWITCH_PERIODS):
            if not isinstance(values.get(key) or [], (list, tuple)):
                raise ConfigError(f"{prefix}.{key}: {values[key]!r}; allowed: a list")
        for key, lo in (("orientation", -1.0), ("fiscal_stress", 0.0), ("domestic_preference", 0.0),
                        ("china_tech_offer", 0.0)):
            kw[key] = tuple(_period(f"{prefix}.{key}", o, lo) for o in values.get(key) or ())
        rec = []
        for r in values.get("recognition") or ():
            if not isinstance(r, (list, tuple)) or len(r) != 3 or r[0] not in ISO3 or r[2] not in ("PRC", "ROC"):
                raise ConfigError(f"{prefix}.recognition: {r!r}; allowed: [ISO3, year, PRC|ROC] with a CELAC ISO3")
            rec.append((r[0], int(check_number(f"{prefix}.recognition.year", r[1], HIST_END + 1, LAST_YEAR, True)),
                        r[2]))
        kw["recognition"] = tuple(rec)
        embargo = []
        for o in values.get("embargo") or ():
            key = f"{prefix}.embargo"
            if not isinstance(o, Mapping) or set(o) != {"iso3", "partner", "year_start", "year_end", "value"}:
                raise ConfigError(f"{key}: {o!r}; allowed: a mapping with iso3, partner, year_start, year_end, value")
            if o["iso3"] not in ISO3 or o["partner"] not in EMBARGO_PARTNERS:
                raise ConfigError(f"{key}: {o['iso3']!r}/{o['partner']!r}; allowed: a CELAC ISO3 and one of "
                                  f"{', '.join(EMBARGO_PARTNERS)}")
            a = int(check_number(f"{key}.year_start", o["year_start"], HIST_END + 1, LAST_YEAR, True))
            b = int(check_number(f"{key}.year_end", o["year_end"], a, LAST_YEAR, True))
            v = check_number(f"{key}.value", o["value"], 0, 1, True)
            embargo.append((o["iso3"], o["partner"], a, b, float(v)))
        kw["embargo"] = tuple(embargo)
        kw["red_lines"] = _red_lines(f"{prefix}.red_lines", values.get("red_lines") or {})
        if "stochastic" not in values:
            raise ConfigError(f"{prefix}.stochastic: missing key")
        st = values["stochastic"]
        check_keys(f"{prefix}.stochastic", st, list(STOCHASTIC_RANGES))
        kw["stochastic"] = StochasticDrivers(**{
            k: (int if k == "seeds_per_path" else float)(
                check_number(f"{prefix}.stochastic.{k}", st[k], lo, hi, integer=k == "seeds_per_path"))
            for k, (lo, hi) in STOCHASTIC_RANGES.items()})
        return cls(**kw)


def _red_lines(key: str, o: object) -> RedLines:
    check_keys(key, o, RED_LINE_KEYS, required=False)
    kw: dict = {}
    for name in RED_LINE_YEARS:
        year = o.get(name)
        kw[name] = None if year is None else int(check_number(f"{key}.{name}", year, HIST_END + 1, LAST_YEAR, True))
    default = RedLines()
    cats = o.get("categories", default.categories)
    if not isinstance(cats, (list, tuple)) or not cats or any(c not in ARMS_CATEGORIES for c in cats):
        raise ConfigError(f"{key}.categories: {cats!r}; allowed: a non-empty list of {', '.join(ARMS_CATEGORIES)}")
    kw["categories"] = tuple(dict.fromkeys(cats))
    kw["sanctions"] = float(check_number(f"{key}.sanctions", o.get("sanctions", 0.0), 0.0, 1.0))
    years = o.get("sanction_years", default.sanction_years)
    kw["sanction_years"] = int(check_number(f"{key}.sanction_years", years, 1, FUTURE_YEARS, True))
    lines = RedLines(**kw)
    if lines.sanctions > 0 and lines.start is None:
        raise ConfigError(f"{key}.sanctions: {lines.sanctions!r} with no red line set; allowed: 0 unless platforms, "
                          "space_ground or surveillance has a start year")
    return lines


def load_default_drivers(path: Path = DEFAULT_DRIVERS_FILE) -> DriverParams:
    """Read the shipped driver rules straight from YAML (tests, benchmarks and library use without Hydra)."""
    with open(path, encoding="utf-8") as fh:
        return DriverParams.from_dict(yaml.safe_load(fh))


def _period(key: str, o: object, lo: float) -> PeriodOverride:
    if not isinstance(o, Mapping) or set(o) != {"iso3", "year_start", "year_end", "value"}:
        raise ConfigError(f"{key}: {o!r}; allowed: a mapping with iso3, year_start, year_end, value")
    if o["iso3"] not in ISO3:
        raise ConfigError(f"{key}.iso3: {o['iso3']!r} is not one of the 33 CELAC ISO3 codes")
    # Overrides only touch the years after the record: 2000-2023 are the data, the same in every scenario.
    a = int(check_number(f"{key}.year_start", o["year_start"], HIST_END + 1, LAST_YEAR, True))
    b = int(check_number(f"{key}.year_end", o["year_end"], a, LAST_YEAR, True))
    return PeriodOverride(o["iso3"], a, b, float(check_number(f"{key}.value", o["value"], lo, 1.0)))


@dataclass(frozen=True)
class DriverShocks:
    """What :func:`apply_shocks` needs to draw a run's driver path past 2023 (arrays over the years 2024-2040).

    The deterministic future paths are the scenario's; ``*_pinned`` marks what a scenario fixes (a dated orientation
    override, a recognition switch), which the random process never changes.
    """

    settings: StochasticDrivers
    tension_path: np.ndarray
    commodity_path: np.ndarray
    orientation_2023: np.ndarray
    orientation_path: np.ndarray
    orientation_pinned: np.ndarray
    orientation_centre: np.ndarray
    election_hazard: np.ndarray
    recognition_2023: np.ndarray
    recognition_path: np.ndarray
    recognition_pinned: np.ndarray


@dataclass(frozen=True)
class Drivers:
    """Driver arrays over (year) or (year, state) for ``years``; built once per scenario and shared by runs.

    The policy switches are arrays too: ``domestic_preference`` and ``china_tech_offer`` (year, state);
    ``ban_categories`` (year, arms category), ``ban_space_ground``, ``ban_surveillance`` (year) flags of the US red
    lines; ``sanctions`` (year) the strength of US sanctions. ``shocks`` is None once a run's random path is drawn
    (:func:`apply_shocks`) or when no driver past 2023 is random.
    """

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
    domestic_preference: np.ndarray
    china_tech_offer: np.ndarray
    ban_categories: np.ndarray
    ban_space_ground: np.ndarray
    ban_surveillance: np.ndarray
    sanctions: np.ndarray
    sanction_years: int
    shocks: DriverShocks | None


def build_drivers(data: ModelData, dp: DriverParams, first_year: int = FIRST_YEAR,
                  last_year: int = LAST_YEAR) -> Drivers:
    """Historical drivers, extended to ``last_year`` by the rules, overrides and switches of ``dp``."""
    if not FIRST_YEAR <= first_year <= last_year <= LAST_YEAR:
        raise ConfigError(f"years: {first_year}-{last_year}; allowed within {FIRST_YEAR}-{LAST_YEAR}, start <= end")
    years = np.arange(HIST_START, LAST_YEAR + 1)
    h = HIST_END - HIST_START + 1
    ahead = len(years) - h
    steps = np.arange(1, ahead + 1)
    n = len(data.iso3)

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
        embargo[a - HIST_START:b - HIST_START + 1, data.iso3.index(iso), EMBARGO_PARTNERS.index(partner)] = v
    preference, offer = np.zeros((len(years), n)), np.zeros((len(years), n))
    pinned = np.zeros((len(years), n), dtype=bool)
    for arr, overrides in ((orient, dp.orientation), (fiscal, dp.fiscal_stress), (preference, dp.domestic_preference),
                           (offer, dp.china_tech_offer)):
        for o in overrides:
            arr[o.year_start - HIST_START:o.year_end - HIST_START + 1, data.iso3.index(o.iso3)] = o.value
    for o in dp.orientation:  # what a scenario fixes, elections leave alone
        pinned[o.year_start - HIST_START:o.year_end - HIST_START + 1, data.iso3.index(o.iso3)] = True
    for iso, year, to in sorted(dp.recognition, key=lambda r: r[1]):
        recog[year - HIST_START:, data.iso3.index(iso)] = 1.0 if to == "PRC" else 0.0
    # Procurement follows multi-year budgets: the capability target uses the trailing five-year mean of spending.
    # History: the data's budget (SIPRI constant dollars where sound); later years grow it as GDP x share grows.
    spend = gdp * milex
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = np.where(spend[h - 1] > 0, spend[h:] / spend[h - 1], 1.0)
    spend = np.vstack([data.budget_usd_m, data.budget_usd_m[-1] * growth])
    cum = np.cumsum(np.vstack([np.zeros((1, spend.shape[1])), spend]), axis=0)
    lo = np.maximum(np.arange(len(years)) - MILEX_WINDOW + 1, 0)
    milex_usd = (cum[np.arange(len(years)) + 1] - cum[lo]) / (np.arange(len(years)) + 1 - lo)[:, None]
    legacy = np.concatenate([data.legacy_deliveries, np.zeros((ahead,) + data.legacy_deliveries.shape[1:])])
    regime = np.zeros_like(orient)
    regime[1:] = (np.abs(np.diff(orient, axis=0)) >= REGIME_SWING).astype(float)

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

    # US red lines: flags from their start years; sanctions from the first of them.
    rl = dp.red_lines
    ban = np.zeros((len(years), len(ARMS_CATEGORIES)), dtype=bool)
    if rl.platforms is not None:
        ban[rl.platforms - HIST_START:, [ARMS_CATEGORIES.index(c) for c in rl.categories]] = True
    never = LAST_YEAR + 1
    ban_ground, ban_surveillance = (years >= (never if y is None else y) for y in (rl.space_ground, rl.surveillance))
    sanctions = np.where(years >= (rl.start or LAST_YEAR + 1), rl.sanctions, 0.0)

    shocks = None
    if dp.stochastic.active and last_year > HIST_END:
        shocks = _shock_spec(data, dp, series, orient[h - 1:], pinned[h:], recog[h - 1:])
    sel = slice(first_year - HIST_START, last_year - HIST_START + 1)
    return Drivers(
        years=years[sel], china_capacity=capacity[sel], gdp_usd_m=gdp[sel], milex_share=milex[sel],
        alignment_unga=unga[sel], orientation=orient[sel], fiscal_stress=fiscal[sel], recognises_beijing=recog[sel],
        regime_change=regime[sel], embargo=embargo[sel], milex_usd_m=milex_usd[sel], legacy_deliveries=legacy[sel],
        domestic_preference=preference[sel], china_tech_offer=offer[sel], ban_categories=ban[sel],
        ban_space_ground=ban_ground[sel], ban_surveillance=ban_surveillance[sel], sanctions=sanctions[sel],
        sanction_years=rl.sanction_years, shocks=shocks, **{k: v[sel] for k, v in series.items()},
    )


def _shock_spec(data: ModelData, dp: DriverParams, series: dict[str, np.ndarray], orient: np.ndarray,
                pinned: np.ndarray, recog: np.ndarray) -> DriverShocks:
    """The scenario's future paths and each state's election hazard and centre (``orient``, ``recog`` from 2023)."""
    st = dp.stochastic
    hist = data.orientation
    # Election hazards: each state's record of changes 2000-2023, shrunk towards the regional rate (empirical Bayes).
    changes = np.count_nonzero(np.diff(hist, axis=0), axis=0)
    transitions = len(hist) - 1
    regional = max(changes.sum() / (transitions * len(changes)), 1e-12)
    relative = (changes + st.election_pooling * regional) / ((transitions + st.election_pooling) * regional)
    rec_pinned = np.zeros(recog.shape[1], dtype=bool)
    rec_pinned[[data.iso3.index(r[0]) for r in dp.recognition]] = True
    return DriverShocks(
        settings=st, tension_path=series["us_china_tension"][-FUTURE_YEARS:],
        commodity_path=series["commodity_index"][-FUTURE_YEARS:], orientation_2023=orient[0],
        orientation_path=orient[1:], orientation_pinned=pinned, orientation_centre=hist.mean(axis=0),
        election_hazard=np.minimum(st.election_hazard * relative, 1.0), recognition_2023=recog[0],
        recognition_path=recog[1:], recognition_pinned=rec_pinned,
    )
