"""Input data: loading, schema validation and derived covariates.

Every file lives in ``data/`` with its provenance (``data/README.md``, ``data/raw/PROVENANCE.md``). Hand-coded files
carry ``source, confidence, note`` on every row. A bad file stops the run with :class:`DataError`, one line naming the
file, the row (1-based, header = row 1) and the column. Money is in constant 2022 US$ m; arms in SIPRI TIV m.

Alignment from UN votes (written down, as the design asks): the Bailey–Strezhnev–Voeten ideal point (higher = closer
to the US-led order) is centred each year on the LAC median and scaled by one ideal-point unit, with the sign flipped,
so ``a_unga = clip((median_LAC,t - IP_i,t) / 1.0, -1, 1)``: +1 far on the China/ALBA side of the region, -1 far on the
US side. Missing years (Venezuela 2022-2023) carry the state's last value forward.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.schema import IMPORT_SUPPLIERS, Partner

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
HIST_START, HIST_END = 2000, 2023
HIST_YEARS = np.arange(HIST_START, HIST_END + 1)
ISO3 = tuple(sorted([
    "ATG", "ARG", "BHS", "BRB", "BLZ", "BOL", "BRA", "CHL", "COL", "CRI", "CUB",
    "DMA", "DOM", "ECU", "SLV", "GRD", "GTM", "GUY", "HTI", "HND", "JAM", "MEX",
    "NIC", "PAN", "PRY", "PER", "KNA", "LCA", "VCT", "SUR", "TTO", "URY", "VEN",
]))
SUBREGIONS = ("south_america", "central_america", "caribbean", "north_america")
CONFIDENCE = ("high", "medium", "low")
PARTNERS = tuple(p.value for p in Partner if p is not Partner.NONE)
MODEL_CATEGORIES = ("light", "artillery_radar", "air_defence_uav", "aircraft", "major_platform")

# attribute -> (kind, low, high); kind "str" values are checked against an enum where one is given.
COUNTRY_ATTRIBUTES: dict[str, tuple] = {
    "name": ("str", None, None),
    "subregion": ("enum", SUBREGIONS, None),
    "has_coast": ("int", 0, 1),
    "is_federal": ("int", 0, 1),
    "armed_forces": ("int", 0, 1),
    "convertible_budget": ("int", 0, 1),
    "tech_capacity": ("float", 0.0, 1.0),
    "defence_industry": ("float", 0.0, 1.0),
    "insecurity": ("float", 0.0, 1.0),
    "population_m": ("float", 0.01, 300.0),
    "recognises_beijing_2000": ("int", 0, 1),
    "us_proximity": ("float", 0.0, 1.0),
}
GLOBAL_DRIVERS = {
    "us_china_tension": (0.0, 1.0),
    "commodity_index": (0.0, 5.0),
    "pla_navy_reach": (0.0, 1.0),
    "russia_availability": (0.0, 1.0),
}
RAW_FILES = {
    "sipri": "raw/lac_deliveries_1995_2024_excl_china.csv",
    "unga": "raw/ideal_points_lac_chn_usa_1995_2023.csv",
    "gdp": "raw/gdp_current_usd_lac_chn_usa_1990_2022.csv",
    "milex": "raw/milex_lac_chn_usa_1995_2023.csv",
    "aiddata": "raw/gcof_v1_lac_projects_2000_2014.csv",
    "rents": "raw/resource_rents_lac_1995_2004.csv",
}
HAND_FILES = (
    "countries.csv", "recognition_switches.csv", "governments.csv", "fiscal_stress.csv", "global_drivers.csv",
    "gdp_extension.csv", "gdp_breaks.csv", "milex_fill.csv", "sipri_supplier_map.csv", "sipri_category_map.csv",
    "space_schedule.csv", "arms_embargoes.csv",
)
SOURCED = ("source", "confidence", "note")


class DataError(ValueError):
    """A data file is missing, malformed or out of range (message is one line: file, row, column)."""


@dataclass(frozen=True)
class ModelData:
    """Validated inputs as arrays over (historical year, state), states in ``iso3`` order.

    Attributes:
        iso3: the 33 states, sorted.
        country: static attributes, each an array over states (``subregion`` as an index into ``SUBREGIONS``).
        gdp_usd_m: GDP, constant 2022 US$ m, 2000-2023 (extensions applied).
        milex_share: military (or security) spending share of GDP, 2000-2023.
        budget_usd_m: military spending, constant 2022 US$ m, 2000-2023 (:func:`military_budget`).
        alignment_unga: UN-vote alignment in [-1, 1] (module docstring), 2000-2023.
        orientation: governments' orientation in [-1, 1], 2000-2023.
        fiscal_stress: in [0, 1], 2000-2023.
        recognises_beijing: 0/1, 2000-2023 (switches take effect in their year).
        drivers: global drivers by name, each over 2000-2023.
        china_capacity: China's military spending relative to 2000 (SIPRI), 2000-2023.
        finance_exposure: Chinese official finance 2000-2014, log-scaled to [0, 1] per state.
        installed_base_1995_1999: SIPRI TIV delivered 1995-1999 by import supplier (states x IMPORT_SUPPLIERS).
        import_intensity: each state's 1995-1999 imports per US$ of 2000-2004 spending, relative to the region's and
            shrunk towards it (:func:`import_intensity`); 1 is the regional ratio.
        resource_dependence: each state's 1995-2004 mean natural-resource rents (World Bank WDI, % of GDP) over the
            region's highest, in [0, 1] (:func:`_resource_dependence`): how much a commodity boom finances its budget.
        contract_size: intercept, budget elasticity and residual sd of log deal size (TIV m) on log yearly spending
            (US$ m), from SIPRI's deals ordered 1995-1999 (:func:`contract_size`).
        sipri_imports: SIPRI TIV delivered 2000-2023 by (year, state, IMPORT_SUPPLIERS); CHN column is zero (held out).
        legacy_deliveries: the part of ``sipri_imports`` from deals ordered before 2000: the pipeline the model
            inherits.
        sipri_deals_by_category: SIPRI 2000-2023 deal counts and TIV by model category.
        sipri_deals_ordered: per state, SIPRI's deals (suppliers other than China) ordered in ``DEALS_ORDERED``
            (the years whose deals have all had time to begin delivering by the file's last delivery year): an
            out-of-fit check of how many contracts the model signs (experiments.behaviour), not a calibration target.
        space_schedule: scheduled space events (CBERS launches) 0/1 over (2000-2023, state).
        space_last_year: last scheduled event per state (0 where a state has no scheduled programme).
        embargo: 1 where a supplier does not sell to a state, over (2000-2023, state, IMPORT_SUPPLIERS).
        us_deflator: factor turning current US$ of a year into constant 2022 US$, by year.
        hashes: sha256 of every file read, by relative path.
    """

    iso3: tuple[str, ...]
    country: dict[str, np.ndarray]
    gdp_usd_m: np.ndarray
    milex_share: np.ndarray
    budget_usd_m: np.ndarray
    alignment_unga: np.ndarray
    orientation: np.ndarray
    fiscal_stress: np.ndarray
    recognises_beijing: np.ndarray
    drivers: dict[str, np.ndarray]
    china_capacity: np.ndarray
    finance_exposure: np.ndarray
    installed_base_1995_1999: np.ndarray
    import_intensity: np.ndarray
    resource_dependence: np.ndarray
    contract_size: tuple[float, float, float]
    sipri_imports: np.ndarray
    legacy_deliveries: np.ndarray
    sipri_deals_by_category: pd.DataFrame
    sipri_deals_ordered: np.ndarray
    space_schedule: np.ndarray
    space_last_year: np.ndarray
    embargo: np.ndarray
    us_deflator: pd.Series
    hashes: dict[str, str]


def _fail(file: str, row: int | None, column: str | None, msg: str) -> DataError:
    where = file + (f", row {row}" if row is not None else "") + (f", column {column}" if column else "")
    return DataError(f"{where}: {msg}")


def _read(data_dir: Path, rel: str, columns: tuple[str, ...], hashes: dict[str, str]) -> pd.DataFrame:
    path = data_dir / rel
    if not path.is_file():
        raise _fail(rel, None, None, "file not found")
    raw = path.read_bytes()
    hashes[rel] = hashlib.sha256(raw).hexdigest()
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype=str)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _fail(rel, None, None, f"unreadable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise _fail(rel, None, missing[0], f"missing column; expected columns: {', '.join(columns)}")
    if df.empty:
        raise _fail(rel, None, None, "no rows")
    return df


def _num(df: pd.DataFrame, rel: str, col: str, lo: float, hi: float, integer: bool = False) -> np.ndarray:
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    for i, v in enumerate(vals):
        if not np.isfinite(v):
            raise _fail(rel, i + 2, col, f"{df[col].iloc[i]!r} is not a number")
        if integer and not float(v).is_integer():
            raise _fail(rel, i + 2, col, f"{v} is not a whole number")
        if not lo <= v <= hi:
            raise _fail(rel, i + 2, col, f"{v} is out of range; allowed [{lo}, {hi}]")
    return vals


def _optional_num(df: pd.DataFrame, rel: str, col: str, lo: float, hi: float) -> np.ndarray:
    """Numbers where empty cells are missing values (NaN) but any other non-number is an error naming its row."""
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = (np.isnan(vals) & df[col].notna().to_numpy()) | np.isinf(vals) | (vals < lo) | (vals > hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _fail(rel, i + 2, col,
                    f"{df[col].iloc[i]!r} is not a number in [{lo}, {hi}] (leave the cell empty if missing)")
    return vals


def _check_iso3(df: pd.DataFrame, rel: str, col: str = "iso3") -> None:
    bad = ~df[col].isin(ISO3)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise _fail(rel, i + 2, col, f"unknown ISO3 {df[col].iloc[i]!r}; allowed: the 33 CELAC codes")


def _check_unique(df: pd.DataFrame, rel: str, key: list[str]) -> None:
    dup = df.duplicated(key, keep="first")
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise _fail(rel, i + 2, "+".join(key), f"duplicate key {tuple(df.loc[df.index[i], key])}")


def _check_sourced(df: pd.DataFrame, rel: str) -> None:
    for i, (src, conf, note) in enumerate(zip(df["source"], df["confidence"], df["note"], strict=True)):
        if not isinstance(src, str) or not src.strip():
            raise _fail(rel, i + 2, "source", "empty; every value needs a source or 'judgement'")
        if conf not in CONFIDENCE:
            raise _fail(rel, i + 2, "confidence", f"{conf!r}; allowed: {', '.join(CONFIDENCE)}")
        if src.strip().lower().startswith("judgement") and (not isinstance(note, str) or not note.strip()):
            raise _fail(rel, i + 2, "note", "empty; a judgement needs a line of reasoning")


def _periods(df: pd.DataFrame, rel: str, value_col: str, lo: float, hi: float, full_cover: bool) -> np.ndarray:
    """Expand (iso3, year_start, year_end, value) periods to a (year, state) array; zero where uncovered."""
    _check_iso3(df, rel)
    _check_sourced(df, rel)
    y0 = _num(df, rel, "year_start", HIST_START, HIST_END, True).astype(int)
    y1 = _num(df, rel, "year_end", HIST_START, HIST_END, True).astype(int)
    vals = _num(df, rel, value_col, lo, hi)
    out = np.zeros((len(HIST_YEARS), len(ISO3)))
    seen = np.zeros_like(out, dtype=bool)
    index = {c: j for j, c in enumerate(ISO3)}
    for i, (c, a, b, v) in enumerate(zip(df["iso3"], y0, y1, vals, strict=True)):
        if a > b:
            raise _fail(rel, i + 2, "year_end", f"{b} is before year_start {a}")
        rows = slice(a - HIST_START, b - HIST_START + 1)
        if seen[rows, index[c]].any():
            raise _fail(rel, i + 2, "year_start", f"period {a}-{b} of {c} overlaps another period")
        seen[rows, index[c]] = True
        out[rows, index[c]] = v
    if full_cover and not seen.all():
        t, j = np.argwhere(~seen)[0]
        raise _fail(rel, None, "year_start",
                    f"{ISO3[j]} has no period covering {HIST_YEARS[t]}; every year 2000-2023 is needed")
    return out


def _countries(df: pd.DataFrame, rel: str) -> dict[str, np.ndarray]:
    _check_iso3(df, rel)
    _check_sourced(df, rel)
    _check_unique(df, rel, ["iso3", "attribute"])
    unknown = ~df["attribute"].isin(COUNTRY_ATTRIBUTES)
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise _fail(rel, i + 2, "attribute",
                    f"unknown attribute {df['attribute'].iloc[i]!r}; allowed: {', '.join(COUNTRY_ATTRIBUTES)}")
    empty = df["value"].isna()
    if empty.any():
        i = int(np.flatnonzero(empty.to_numpy())[0])
        raise _fail(rel, i + 2, "value", f"empty value of {df['attribute'].iloc[i]!r}")
    table = df.pivot(index="iso3", columns="attribute", values="value")
    row_of = {(a, b): i + 2 for i, (a, b) in enumerate(zip(df["iso3"], df["attribute"], strict=True))}
    out: dict[str, np.ndarray] = {}
    for attr, (kind, lo, hi) in COUNTRY_ATTRIBUTES.items():
        col = table[attr] if attr in table else pd.Series(dtype=str)
        for c in ISO3:
            if c not in col.index or not isinstance(col.get(c), str):
                raise _fail(rel, None, "attribute", f"{c} lacks attribute {attr!r}")
        vals = col.reindex(list(ISO3))
        if kind == "str":
            out[attr] = vals.to_numpy(dtype=object)
        elif kind == "enum":
            for c, v in vals.items():
                if v not in lo:
                    raise _fail(rel, row_of[(c, attr)], "value", f"{attr} {v!r}; allowed: {', '.join(lo)}")
            out[attr] = np.array([lo.index(v) for v in vals])
        else:
            num = pd.to_numeric(vals, errors="coerce")
            for c, v in num.items():
                if not np.isfinite(v) or not lo <= v <= hi or (kind == "int" and not float(v).is_integer()):
                    raise _fail(rel, row_of[(c, attr)], "value", f"{attr} {vals[c]!r}; allowed {kind} in [{lo}, {hi}]")
            out[attr] = num.to_numpy(dtype=float)
    return out


def _recognition(df: pd.DataFrame, rel: str, start: np.ndarray) -> np.ndarray:
    _check_iso3(df, rel)
    _check_sourced(df, rel)
    years = _num(df, rel, "year", HIST_START, HIST_END, True).astype(int)
    bad = ~df["recognises"].isin(["PRC", "ROC"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise _fail(rel, i + 2, "recognises", f"{df['recognises'].iloc[i]!r}; allowed: PRC, ROC")
    _check_unique(df, rel, ["iso3", "year"])
    out = np.tile(start, (len(HIST_YEARS), 1))
    order = np.argsort(years, kind="stable")
    for i in order:
        j = ISO3.index(df["iso3"].iloc[i])
        out[years[i] - HIST_START:, j] = 1.0 if df["recognises"].iloc[i] == "PRC" else 0.0
    return out


def _global_drivers(df: pd.DataFrame, rel: str) -> dict[str, np.ndarray]:
    _check_sourced(df, rel)
    years = _num(df, rel, "year", HIST_START, HIST_END, True).astype(int)
    _check_unique(df, rel, ["year", "variable"])
    out = {}
    for i, var in enumerate(df["variable"]):
        if var not in GLOBAL_DRIVERS:
            raise _fail(rel, i + 2, "variable", f"unknown driver {var!r}; allowed: {', '.join(GLOBAL_DRIVERS)}")
    values = _num(df, rel, "value", -np.inf, np.inf)
    for var, (lo, hi) in GLOBAL_DRIVERS.items():
        rows = (df["variable"] == var).to_numpy()
        for i in np.flatnonzero(rows):
            if not lo <= values[i] <= hi:
                raise _fail(rel, int(i) + 2, "value", f"{var} {values[i]} is out of range; allowed [{lo}, {hi}]")
        series = np.full(len(HIST_YEARS), np.nan)
        series[years[rows] - HIST_START] = values[rows]
        if np.isnan(series).any():
            raise _fail(rel, None, "year",
                        f"{var} lacks year {HIST_YEARS[np.isnan(series)][0]}; every year 2000-2023 is needed")
        out[var] = series
    return out


def _pivot_years(df: pd.DataFrame, value: str, iso_col: str = "iso3") -> pd.DataFrame:
    return df.pivot_table(index="year", columns=iso_col, values=value, aggfunc="first")


def load_data(data_dir: Path = DATA_DIR) -> ModelData:
    """Read, validate and derive every input; raise :class:`DataError` on the first problem."""
    hashes: dict[str, str] = {}
    n = len(ISO3)
    rel = "countries.csv"
    country = _countries(_read(data_dir, rel, ("iso3", "attribute", "value") + SOURCED, hashes), rel)

    rel = "recognition_switches.csv"
    recog = _recognition(_read(data_dir, rel, ("iso3", "year", "recognises") + SOURCED, hashes), rel,
                         country["recognises_beijing_2000"])
    rel = "governments.csv"
    orientation = _periods(_read(data_dir, rel, ("iso3", "year_start", "year_end", "orientation", "leader") + SOURCED,
                                 hashes),
                           rel, "orientation", -1.0, 1.0, full_cover=True)
    rel = "fiscal_stress.csv"
    fiscal = _periods(_read(data_dir, rel, ("iso3", "year_start", "year_end", "value") + SOURCED, hashes),
                      rel, "value", 0.0, 1.0, full_cover=False)
    rel = "global_drivers.csv"
    drivers = _global_drivers(_read(data_dir, rel, ("year", "variable", "value") + SOURCED, hashes), rel)

    gdp = _gdp(data_dir, hashes)
    milex_share, china_capacity, milex_constant = _milex(data_dir, hashes)
    budget = military_budget(gdp, milex_share, milex_constant)
    alignment = _unga(data_dir, hashes)
    exposure = _aiddata(data_dir, hashes)
    installed, imports, legacy, categories, early_deals, ordered = _sipri(data_dir, hashes)
    rel = "space_schedule.csv"
    sched_df = _read(data_dir, rel, ("iso3", "year", "event") + SOURCED, hashes)
    _check_iso3(sched_df, rel)
    _check_sourced(sched_df, rel)
    _check_unique(sched_df, rel, ["iso3", "year"])
    sched_years = _num(sched_df, rel, "year", 1990, HIST_END, True).astype(int)
    schedule = np.zeros((len(HIST_YEARS), n))
    last = np.zeros(n)
    for c, yr in zip(sched_df.iso3, sched_years, strict=True):
        j = ISO3.index(c)
        last[j] = max(last[j], yr)
        if yr >= HIST_START:
            schedule[yr - HIST_START, j] = 1.0
    assert gdp.shape == (len(HIST_YEARS), n)
    return ModelData(
        iso3=ISO3, country=country, gdp_usd_m=gdp, milex_share=milex_share, alignment_unga=alignment,
        orientation=orientation, fiscal_stress=fiscal, recognises_beijing=recog, drivers=drivers,
        china_capacity=china_capacity, finance_exposure=exposure, installed_base_1995_1999=installed,
        budget_usd_m=budget,
        import_intensity=import_intensity(installed.sum(axis=1), budget[FIRST_BUDGETS].sum(axis=0)),
        resource_dependence=_resource_dependence(data_dir, hashes),
        contract_size=contract_size(early_deals, budget[FIRST_BUDGETS].mean(axis=0)),
        sipri_imports=imports, legacy_deliveries=legacy, sipri_deals_by_category=categories,
        sipri_deals_ordered=ordered, space_schedule=schedule,
        space_last_year=last, embargo=_embargoes(data_dir, hashes), us_deflator=_us_deflator(data_dir, hashes),
        hashes=dict(sorted(hashes.items())),
    )


def _embargoes(data_dir: Path, hashes: dict[str, str]) -> np.ndarray:
    rel = "arms_embargoes.csv"
    df = _read(data_dir, rel, ("iso3", "partner", "year_start", "year_end") + SOURCED, hashes)
    _check_iso3(df, rel)
    _check_sourced(df, rel)
    allowed = [p.value for p in IMPORT_SUPPLIERS]
    bad = ~df.partner.isin(allowed)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise _fail(rel, i + 2, "partner", f"{df.partner.iloc[i]!r}; allowed: {', '.join(allowed)}")
    y0 = _num(df, rel, "year_start", HIST_START, HIST_END, True).astype(int)
    y1 = _num(df, rel, "year_end", HIST_START, HIST_END, True).astype(int)
    out = np.zeros((len(HIST_YEARS), len(ISO3), len(IMPORT_SUPPLIERS)))
    for i, (c, partner, a, b) in enumerate(zip(df.iso3, df.partner, y0, y1, strict=True)):
        if a > b:
            raise _fail(rel, i + 2, "year_end", f"{b} is before year_start {a}")
        out[a - HIST_START:b - HIST_START + 1, ISO3.index(c), allowed.index(partner)] = 1.0
    return out


def _us_deflator(data_dir: Path, hashes: dict[str, str]) -> pd.Series:
    """Factor turning current US$ of year t into constant 2022 US$: SIPRI's own US-CPI deflation, read off its data.

    SIPRI gives US military spending in constant 2022 US$ and as a share of current GDP; with the World Bank's current
    US GDP, milex_const / (share x GDP_current) = CPI_2022 / CPI_t. This keeps every dollar in the project on one basis.
    """
    milex = _read(data_dir, RAW_FILES["milex"], ("iso3", "year", "milex_constant_2022_usd_m", "milex_share_of_gdp"),
                  hashes)
    gdp = _read(data_dir, RAW_FILES["gdp"], ("iso3", "year", "gdp_current_usd"), hashes)
    m_year = _num(milex, RAW_FILES["milex"], "year", 1900, 2100, True).astype(int)
    const = _optional_num(milex, RAW_FILES["milex"], "milex_constant_2022_usd_m", 0.0, np.inf)
    share = _optional_num(milex, RAW_FILES["milex"], "milex_share_of_gdp", 0.0, 1.0)
    g_year = _num(gdp, RAW_FILES["gdp"], "year", 1900, 2100, True).astype(int)
    current = _optional_num(gdp, RAW_FILES["gdp"], "gdp_current_usd", 0.0, np.inf)
    us_m = milex.iso3.to_numpy() == "USA"
    us_g = gdp.iso3.to_numpy() == "USA"
    implied = pd.Series(const[us_m] * 1e6 / share[us_m], index=m_year[us_m])
    factor = (implied / pd.Series(current[us_g], index=g_year[us_g])).dropna()
    if 2022 not in factor.index:
        raise _fail(RAW_FILES["gdp"], None, "gdp_current_usd", "US GDP and SIPRI US spending are both needed for 2022")
    # SIPRI's GDP (IMF) differs from the World Bank's by about 1%: normalise so that 2022 dollars stay 2022 dollars.
    return factor / factor.loc[2022]


def _gdp(data_dir: Path, hashes: dict[str, str]) -> np.ndarray:
    rel = RAW_FILES["gdp"]
    raw = _read(data_dir, rel, ("iso3", "year", "gdp_current_usd"), hashes)
    raw = raw.assign(year=_num(raw, rel, "year", 1900, 2100, True).astype(int),
                     v=_optional_num(raw, rel, "gdp_current_usd", 0.0, np.inf))
    raw = raw[raw.iso3.isin(ISO3)]
    deflator = _us_deflator(data_dir, hashes)
    const = raw.assign(v=raw.v * raw.year.map(deflator) / 1e6).dropna(subset=["v"])
    table = _pivot_years(const, "v").reindex(index=HIST_YEARS, columns=list(ISO3))
    # A break in the World Bank's dollar series (a currency reform that changes the price basis, not output): its
    # values from the break on are dropped, and gdp_extension.csv grows the last comparable year by real growth.
    brk_rel = "gdp_breaks.csv"
    brk = _read(data_dir, brk_rel, ("iso3", "year") + SOURCED, hashes)
    _check_iso3(brk, brk_rel)
    _check_sourced(brk, brk_rel)
    _check_unique(brk, brk_rel, ["iso3"])
    for c, y in zip(brk.iso3, _num(brk, brk_rel, "year", HIST_START + 1, HIST_END, True).astype(int), strict=True):
        table.loc[y:, c] = np.nan
    ext_rel = "gdp_extension.csv"
    ext = _read(data_dir, ext_rel, ("iso3", "year", "real_growth") + SOURCED, hashes)
    _check_iso3(ext, ext_rel)
    _check_sourced(ext, ext_rel)
    _check_unique(ext, ext_rel, ["iso3", "year"])
    years = _num(ext, ext_rel, "year", HIST_START, HIST_END, True).astype(int)
    growth = _num(ext, ext_rel, "real_growth", -0.9, 1.0)
    for y, c, g, i in sorted(zip(years, ext.iso3, growth, range(len(ext)), strict=True)):
        if y == HIST_START or not np.isfinite(table.loc[y - 1, c]):
            raise _fail(ext_rel, i + 2, "year", f"{c} {y}: no GDP for {y - 1} to grow from")
        if np.isfinite(table.loc[y, c]):
            raise _fail(ext_rel, i + 2, "year", f"{c} {y}: World Bank GDP exists; extensions only fill gaps")
        table.loc[y, c] = table.loc[y - 1, c] * (1.0 + g)
    if table.isna().any().any():
        t, j = np.argwhere(table.isna().to_numpy())[0]
        y, c = table.index[t], table.columns[j]
        raise _fail(ext_rel, None, "iso3", f"GDP of {c} in {y} is missing: add a growth row")
    return table.to_numpy(dtype=float)


def _milex(data_dir: Path, hashes: dict[str, str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Military spending share of GDP per state: SIPRI, gaps filled from the nearest year, else milex_fill.csv.

    A state in milex_fill.csv with at least 10 SIPRI years keeps them and takes the fill value for the gaps; with fewer,
    the fill value (a documented judgement) replaces the sparse series.
    """
    rel = RAW_FILES["milex"]
    raw = _read(data_dir, rel, ("iso3", "year", "milex_constant_2022_usd_m", "milex_share_of_gdp"), hashes)
    raw = raw.assign(year=_num(raw, rel, "year", 1900, 2100, True).astype(int),
                     share=_optional_num(raw, rel, "milex_share_of_gdp", 0.0, 1.0),
                     const=_optional_num(raw, rel, "milex_constant_2022_usd_m", 0.0, np.inf))
    chn = raw[raw.iso3 == "CHN"].set_index("year").const.reindex(HIST_YEARS)
    if chn.isna().any():
        raise _fail(RAW_FILES["milex"], None, "milex_constant_2022_usd_m", "China's series has gaps in 2000-2023")
    table = _pivot_years(raw[raw.iso3.isin(ISO3)], "share").reindex(index=HIST_YEARS, columns=list(ISO3))
    rel = "milex_fill.csv"
    fill = _read(data_dir, rel, ("iso3", "milex_share_of_gdp") + SOURCED, hashes)
    _check_iso3(fill, rel)
    _check_sourced(fill, rel)
    _check_unique(fill, rel, ["iso3"])
    fill_vals = dict(zip(fill.iso3, _num(fill, rel, "milex_share_of_gdp", 0.0, 0.2), strict=True))
    for c in ISO3:
        col = table[c]
        if c in fill_vals:
            table[c] = col.fillna(fill_vals[c]) if col.notna().sum() >= 10 else fill_vals[c]
        elif col.notna().any():
            table[c] = col.ffill().bfill()
        else:
            raise _fail(rel, None, "iso3", f"{c} has no SIPRI share of GDP and no fill row")
    const = _pivot_years(raw[raw.iso3.isin(ISO3)], "const").reindex(index=HIST_YEARS, columns=list(ISO3))
    return table.to_numpy(dtype=float), (chn / chn.iloc[0]).to_numpy(dtype=float), const.to_numpy(dtype=float)


# SIPRI's constant-dollar series stands in for GDP x share only where its median ratio to it lies within these bounds.
BUDGET_RATIO_BOUNDS = (0.5, 2.0)


def military_budget(gdp: np.ndarray, share: np.ndarray, constant: np.ndarray) -> np.ndarray:
    """Yearly military spending (constant 2022 US$ m) over (years, states).

    SIPRI's constant-dollar series deflates by local prices and converts at 2022 exchange rates, so a currency's swings
    do not read as budget swings (Brazil's real 2003-2012: GDP x share in current dollars deflated by US prices rose
    3.2-fold, SIPRI's series 1.6-fold). It is used where it covers every year and its median ratio to GDP x share lies
    within ``BUDGET_RATIO_BOUNDS`` (18 states); elsewhere (no or incomplete series, Venezuela's hyperinflation-broken
    one, Costa Rica's and Panama's zero for having no armed forces while their security forces buy) GDP x share stands.
    """
    spend = gdp * share
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = pd.DataFrame(np.where(spend > 0, constant / spend, np.nan)).median().to_numpy()
    lo, hi = BUDGET_RATIO_BOUNDS
    sound = np.isfinite(constant).all(axis=0) & (ratio >= lo) & (ratio <= hi)
    return np.where(sound, constant, spend)


def _unga(data_dir: Path, hashes: dict[str, str]) -> np.ndarray:
    rel = RAW_FILES["unga"]
    raw = _read(data_dir, rel, ("iso3c", "year", "IdealPointAll"), hashes)
    raw = raw.assign(year=_num(raw, rel, "year", 1900, 2100, True).astype(int),
                     ip=_optional_num(raw, rel, "IdealPointAll", -10.0, 10.0))
    table = _pivot_years(raw[raw.iso3c.isin(ISO3)], "ip", "iso3c").reindex(index=HIST_YEARS, columns=list(ISO3))
    table = table.ffill().bfill()
    if table.isna().any().any():
        raise _fail(RAW_FILES["unga"], None, "IdealPointAll", "a state has no ideal point at all")
    centred = table.median(axis=1).to_numpy()[:, None] - table.to_numpy()
    return np.clip(centred / 1.0, -1.0, 1.0)


# Projects that are outcomes of the model's own channels (satellites, security and surveillance systems, the armed
# forces and police), by their title.
CHANNEL_PROJECT = re.compile(r"satellite|\bspace\b|ECU[- ]?911|surveillance|camera|security|militar|\barmy\b|"
                             r"armed forces|\bnav(?:y|al)\b|police|defen[cs]e|\bPLA\b", re.IGNORECASE)


def _aiddata(data_dir: Path, hashes: dict[str, str]) -> np.ndarray:
    """Chinese official finance committed 2000-2014 (constant 2014 US$), log-scaled to [0, 1] over states.

    Outside the channels the model simulates (:data:`CHANNEL_PROJECT`): the loans for Bolivia's and Venezuela's
    satellites, Ecuador's ECU 911 and Bolivia's cameras are fitted events themselves, so counting them in the exposure
    that raises their probability would make the fit circular (data/README.md, second audit).
    """
    rel = RAW_FILES["aiddata"]
    raw = _read(data_dir, rel, ("recipient_iso3", "year", "usd_defl_2014", "recommended_for_research", "title"), hashes)
    raw = raw[(raw.recommended_for_research.str.lower() == "true") & ~raw.title.str.contains(CHANNEL_PROJECT)]
    usd = pd.to_numeric(raw.usd_defl_2014, errors="coerce").fillna(0.0)
    total = usd.groupby(raw.recipient_iso3).sum().reindex(list(ISO3), fill_value=0.0) / 1e6
    scaled = np.log1p(total.to_numpy())
    return scaled / scaled.max()


def _resource_dependence(data_dir: Path, hashes: dict[str, str]) -> np.ndarray:
    """Mean natural-resource rents 1995-2004 (% of GDP) per state, over the region's highest mean.

    Pre-sample years only, as for the import intensity: the rents say which economies a commodity boom finances
    (Venezuela's oil, Guyana's gold and bauxite) without looking at any arms purchase the calibration targets.
    """
    rel = RAW_FILES["rents"]
    raw = _read(data_dir, rel, ("iso3", "year", "value", "indicator"), hashes)
    _check_iso3(raw, rel)
    _check_unique(raw, rel, ["iso3", "year"])
    _num(raw, rel, "year", 1995, 2004, True)  # pre-sample years only
    value = _num(raw, rel, "value", 0.0, 100.0)
    missing = sorted(set(ISO3) - set(raw.iso3))
    if missing:
        raise _fail(rel, None, "iso3", f"no rows for {', '.join(missing)}; allowed: every one of the 33 states")
    mean = pd.Series(value, index=raw.iso3).groupby(level=0).mean().reindex(list(ISO3)).to_numpy()
    return mean / mean.max()


def _sipri(data_dir: Path, hashes: dict[str, str]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame, pd.DataFrame, np.ndarray]:
    rel = RAW_FILES["sipri"]
    cols = ("Supplier", "Recipient", "Armament category", "Order date", "Delivery year", "TIV delivery values",
            "SIPRI AT Database ID")
    raw = _read(data_dir, rel, cols, hashes)
    smap_rel, cmap_rel = "sipri_supplier_map.csv", "sipri_category_map.csv"
    smap = _read(data_dir, smap_rel, ("supplier", "partner", "note"), hashes)
    _check_unique(smap, smap_rel, ["supplier"])
    bad = ~smap.partner.isin([p.value for p in IMPORT_SUPPLIERS if p is not Partner.CHN])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise _fail(smap_rel, i + 2, "partner", f"{smap.partner.iloc[i]!r}; allowed: USA, RUS, EUR, ISR, OTHER")
    cmap = _read(data_dir, cmap_rel, ("armament_category", "model_category", "note"), hashes)
    _check_unique(cmap, cmap_rel, ["armament_category"])
    bad = ~cmap.model_category.isin(MODEL_CATEGORIES)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise _fail(cmap_rel, i + 2, "model_category",
                    f"{cmap.model_category.iloc[i]!r}; allowed: {', '.join(MODEL_CATEGORIES)}")
    for col, mapping, mrel in (("Supplier", smap.supplier, smap_rel),
                               ("Armament category", cmap.armament_category, cmap_rel)):
        unmapped = sorted(set(raw[col]) - set(mapping))
        if unmapped:
            raise _fail(mrel, None, mapping.name, f"no row for {col} {unmapped[0]!r} of the SIPRI file")
    names = country_names(data_dir)
    recipient = raw.Recipient.map(names)
    if recipient.isna().any():
        i = int(np.flatnonzero(recipient.isna().to_numpy())[0])
        raise _fail(rel, i + 2, "Recipient", f"{raw.Recipient.iloc[i]!r} is not a CELAC state's name in countries.csv")
    df = pd.DataFrame({
        "iso3": recipient, "partner": raw.Supplier.map(dict(zip(smap.supplier, smap.partner, strict=True))),
        "category": raw["Armament category"].map(dict(zip(cmap.armament_category, cmap.model_category, strict=True))),
        "year": pd.to_numeric(raw["Delivery year"], errors="coerce"),
        "ordered": pd.to_numeric(raw["Order date"], errors="coerce"),
        "tiv": pd.to_numeric(raw["TIV delivery values"], errors="coerce"), "deal": raw["SIPRI AT Database ID"],
    })
    for col, values, lo in (("Order date", df.ordered, 1900), ("Delivery year", df.year, 1900),
                            ("TIV delivery values", df.tiv, 0)):
        bad = values.isna() | (values < lo)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise _fail(rel, i + 2, col, f"{raw[col].iloc[i]!r} is not a number >= {lo}")
    sup_index = {p.value: k for k, p in enumerate(IMPORT_SUPPLIERS)}
    state_index = {c: j for j, c in enumerate(ISO3)}
    installed = np.zeros((len(ISO3), len(IMPORT_SUPPLIERS)))
    early = df[df.year.between(1995, 1999)]
    if early.tiv.sum() <= 0:
        raise _fail(rel, None, "Delivery year",
                    "no deliveries in 1995-1999; the installed base and import intensity need them")
    np.add.at(installed, (early.iso3.map(state_index).to_numpy(), early.partner.map(sup_index).to_numpy()),
              early.tiv.to_numpy())
    imports = np.zeros((len(HIST_YEARS), len(ISO3), len(IMPORT_SUPPLIERS)))
    hist = df[df.year.between(HIST_START, HIST_END)]
    legacy = np.zeros_like(imports)
    for target, rows in ((imports, hist), (legacy, hist[hist.ordered < HIST_START])):
        np.add.at(target, ((rows.year - HIST_START).astype(int).to_numpy(), rows.iso3.map(state_index).to_numpy(),
                           rows.partner.map(sup_index).to_numpy()), rows.tiv.to_numpy())
    deals = hist.groupby("category").agg(deals=("deal", "nunique"),
                                         tiv=("tiv", "sum")).reindex(list(MODEL_CATEGORIES), fill_value=0)
    # Whole deals ordered 1995-1999 (before the fitted years; every delivery counted): the sizes contracts are drawn
    # like.
    pre = df[df.ordered.between(1995, HIST_START - 1)].groupby("deal").agg(iso3=("iso3", "first"), tiv=("tiv", "sum"))
    early_deals = pd.DataFrame({"state": pre.iso3.map(state_index).to_numpy(), "tiv": pre.tiv.to_numpy()})
    if (early_deals.tiv > 0).sum() < MIN_EARLY_DEALS:
        raise _fail(rel, None, "Order date",
                    f"{int((early_deals.tiv > 0).sum())} deals with TIV > 0 ordered 1995-1999; "
                    f"allowed: at least {MIN_EARLY_DEALS} (the contract-size law is fitted on them)")
    counted = df[df.ordered.between(*DEALS_ORDERED)].groupby("iso3").deal.nunique()
    ordered = counted.reindex(list(ISO3), fill_value=0).to_numpy(dtype=np.int64)
    return installed, imports, legacy, deals, early_deals, ordered


# The budgets nearest the 1995-1999 deliveries and orders that the drivers cover (2000-2004).
FIRST_BUDGETS = slice(0, 5)

# The order years of the deal counts checked against the model (ModelData.sipri_deals_ordered): SIPRI lists a deal
# once deliveries begin, and the model's contracts begin delivering within arms.lag_max years of signing (4, fixed), so
# deals ordered after 2019 may be missing from a file whose deliveries end in 2024.
DEALS_ORDERED = (HIST_START, 2019)
# Fewest pre-sample deals the contract-size regression (two coefficients and a residual sd) is fitted on.
MIN_EARLY_DEALS = 3

# Pseudo-budget (US$ m) by which import_intensity shrinks a state's ratio towards the region's: judgement (medium),
# about five years of a small state's spending, so one small state's lack of early imports says little and a large
# budget without imports (Cuba) says much.
INTENSITY_PSEUDO_BUDGET = 1000.0


def import_intensity(imports: np.ndarray, budget: np.ndarray, pseudo: float = INTENSITY_PSEUDO_BUDGET) -> np.ndarray:
    """Each state's imports per unit of budget relative to the region's, shrunk towards 1.

    ``imports`` are SIPRI's 1995-1999 non-Chinese deliveries (the pre-sample installed base: no fitted year enters),
    ``budget`` the 2000-2004 spending (the first years the drivers cover). States differ in how much of their budget
    buys imported major weapons (Chile's copper law, Cuba's isolation, Panama's police forces) far more than a common
    target per dollar allows; ``arms.intensity_weight`` sets how much of it persists.
    """
    regional = imports.sum() / budget.sum()
    return (imports + pseudo * regional) / (budget + pseudo) / regional


def contract_size(deals: pd.DataFrame, budget: np.ndarray) -> tuple[float, float, float]:
    """Least squares of log deal TIV on log yearly spending of the buyer: (intercept, elasticity, residual sd).

    ``deals`` holds whole SIPRI deals ordered 1995-1999 (``state``, ``tiv``), ``budget`` each state's mean yearly
    spending 2000-2004 (the nearest years the drivers cover). Larger budgets buy larger items (Brazil's submarines,
    Jamaica's patrol boats), and the sizes are heavy-tailed; the model draws its contracts from this law.
    """
    keep = deals.tiv.to_numpy() > 0
    x = np.log(np.maximum(budget[deals.state.to_numpy()[keep]], 1.0))
    y = np.log(deals.tiv.to_numpy()[keep])
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    return float(coef[0]), float(coef[1]), float(np.sqrt(resid @ resid / (len(y) - 2)))


def country_names(data_dir: Path = DATA_DIR) -> dict[str, str]:
    """Map every name a source uses for a state (English short name in countries.csv, SIPRI's spelling) to ISO3."""
    df = pd.read_csv(data_dir / "countries.csv", dtype=str, keep_default_na=False)
    names = df[df.attribute == "name"].set_index("value").iso3.to_dict()
    names.update(SIPRI_NAME_ALIASES)
    return names


# SIPRI's recipient spellings that differ from the short names in countries.csv.
SIPRI_NAME_ALIASES = {
    "Bahamas": "BHS", "Dominican Republic": "DOM", "Saint Kitts and Nevis": "KNA", "Saint Lucia": "LCA",
    "Saint Vincent and the Grenadines": "VCT", "Trinidad and Tobago": "TTO", "Antigua and Barbuda": "ATG",
}
