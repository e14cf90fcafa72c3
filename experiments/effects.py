"""Scenario effects (issue 14 item 6): what each scenario declares it does, and whether the forecast bears it out.

Every scenario part other than the reference (``baseline``) declares, beside its ``rationale`` and ``drivers``, at
least :data:`MIN_EFFECTS` effects, :data:`MIN_OUTCOMES` of them on outcome variables::

    effects:
      - {variable: officers_training, iso3: LAC, years: [2024, 2040], sign: "-", why: "..."}

``variable`` is a column of the forecast's wide ensemble (:func:`experiments.ensemble.column_names`, e.g.
``officers_training.CHN``, ``us_pressure``) or a variable name with a single partner (``officers_training``);
``iso3`` a state or ``LAC`` (the aggregate row; region-only variables have no other); ``years`` ``[start, end]`` in
2024..2040; ``sign`` ``"+"`` or ``"-"``; ``why`` the mechanism in one sentence. A composed scenario carries the union
of its parts' effects.

The statistic of an effect in one run is the sum of the variable over the span's years at that row (a single year's
value when start = end). For a scenario and its reference, run by run with the same draw and seed (common random
numbers), the paired difference is scenario minus reference; :func:`summarise` reports its median and 5/95%
quantiles, ``p_declared_sign`` (the share of pairs whose difference has the declared sign strictly; ties count
against), ``holds`` (``p_declared_sign`` >= :data:`HOLDS`), and which calibrated parameters drive it: the Spearman
correlation across draws of the draw's mean difference (over seeds) with each parameter; ``driving_parameters`` are
those with |rho| >= :data:`DRIVER_RHO`, strongest first, and ``prior_driven`` is True when any of them is flagged
prior-driven in the calibration's ``prior_driven.csv``. :mod:`experiments.tables` builds the ``scenario_effects``
table with these functions in the same pass as its other tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from experiments.ensemble import column_names
from model.data import ISO3
from model.params import ConfigError
from model.schema import ALL_VARIABLES, REGION, Channel

EFFECT_KEYS = ("variable", "iso3", "years", "sign", "why")
FIRST_YEAR, LAST_YEAR = 2024, 2040
SIGNS = ("+", "-")
MIN_EFFECTS, MIN_OUTCOMES = 3, 2
# The reference scenario compares with itself: it declares no effect.
REFERENCE = "baseline"
# judgement: a declared effect "holds" when at least 4 paired runs in 5 show it.
HOLDS = 0.8
# judgement: |Spearman rho| of 0.3 between a draw's mean difference and a parameter marks the parameter as driving it
# (with 500 draws, |rho| >= 0.3 is far beyond chance: its null sd is about 0.045).
DRIVER_RHO = 0.3
OUTCOME_CHANNELS = frozenset({Channel.DELEGATIONS, Channel.TRAINING, Channel.FORUMS, Channel.PORT_CALLS,
                              Channel.EXERCISES, Channel.ARMS, Channel.INDUSTRIAL, Channel.AID, Channel.SPACE,
                              Channel.SURVEILLANCE})
# Model states and drivers, not outcomes an analyst observes (whatever their channel).
NOT_OUTCOMES = frozenset({"capability_gap", "us_leverage", "alignment", "r_china", "r_us", "recognises_beijing",
                          "us_pressure", "china_boldness", "us_china_tension"})
# China's red lines and the categories it would offer are its own latent decisions, not observed ties.
NOT_OUTCOME_PREFIXES = ("china_redline_", "china_arms_offered_")
TABLE_COLUMNS = ("scenario", "variable", "iso3", "year_start", "year_end", "sign", "outcome", "n_pairs", "median",
                 "q05", "q95", "p_declared_sign", "holds", "prior_driven", "driving_parameters", "why")

VARIABLES = dict(zip(column_names(), ALL_VARIABLES, strict=True))
_BY_NAME: dict[str, list[str]] = {}
for _column, _var in VARIABLES.items():
    _BY_NAME.setdefault(_var.name, []).append(_column)


def is_outcome(column: str) -> bool:
    """An effect on ``column`` is on an outcome: an observable tie, not a latent state or a driver."""
    v = VARIABLES[column]
    return (v.channel in OUTCOME_CHANNELS and v.name not in NOT_OUTCOMES
            and not v.name.startswith(NOT_OUTCOME_PREFIXES))


@dataclass(frozen=True)
class Effect:
    """One declared effect; ``variable`` is the ensemble column, ``declared_by`` the scenario part."""

    variable: str
    iso3: str
    year_start: int
    year_end: int
    sign: str
    why: str
    declared_by: str = ""

    @property
    def outcome(self) -> bool:
        return is_outcome(self.variable)

    @property
    def key(self) -> tuple:
        return (self.variable, self.iso3, self.year_start, self.year_end, self.sign)

    def label(self) -> str:
        years = str(self.year_start) if self.year_start == self.year_end else f"{self.year_start}-{self.year_end}"
        return f"{self.variable} {self.iso3} {years} {self.sign}"

    def as_dict(self) -> dict:
        """The effect as written in the manifest (and read back by :meth:`from_dict`)."""
        return {"variable": self.variable, "iso3": self.iso3, "years": [self.year_start, self.year_end],
                "sign": self.sign, "why": self.why, "outcome": self.outcome, "declared_by": self.declared_by}

    @classmethod
    def from_dict(cls, d: Mapping | Effect) -> Effect:
        if isinstance(d, Effect):
            return d
        return cls(str(d["variable"]), str(d["iso3"]), int(d["years"][0]), int(d["years"][1]), str(d["sign"]),
                   str(d.get("why", "")), str(d.get("declared_by", "")))


# ----------------------------------------------------------------------------------------------------- parsing


def resolve_variable(key: str, value: object) -> str:
    """The ensemble column an effect's ``variable`` names (a column, or a variable name with one partner)."""
    if isinstance(value, str) and value in VARIABLES:
        return value
    if isinstance(value, str) and len(_BY_NAME.get(value, ())) == 1:
        return _BY_NAME[value][0]
    if isinstance(value, str) and value in _BY_NAME:
        raise ConfigError(f"{key}: {value!r} has several partners; allowed: one of {', '.join(_BY_NAME[value])}")
    raise ConfigError(f"{key}: {value!r} is no forecast variable; allowed: a column of the forecast ensemble "
                      "(name.PARTNER as officers_training.CHN, arms_imports_tiv.USA; region-only as us_pressure; "
                      "docs/variables.md) or a variable name with one partner")


def _year(key: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not FIRST_YEAR <= v <= LAST_YEAR:
        raise ConfigError(f"{key}: {v!r}; allowed: a year (int) in [{FIRST_YEAR}, {LAST_YEAR}]")
    return v


def parse_effect(key: str, entry: object, part: str) -> Effect:
    """One effect mapping, validated; ``key`` is its dotted key (``scenario.<part>.effects[i]``)."""
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{key}: {entry!r}; allowed: a mapping {{{', '.join(EFFECT_KEYS)}}}")
    unknown = sorted(set(map(str, entry)) - set(EFFECT_KEYS))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}: unknown key; allowed: {', '.join(EFFECT_KEYS)}")
    missing = [k for k in EFFECT_KEYS if k not in entry]
    if missing:
        raise ConfigError(f"{key}.{missing[0]}: missing key; allowed: an effect has {', '.join(EFFECT_KEYS)}")
    column = resolve_variable(f"{key}.variable", entry["variable"])
    iso3 = entry["iso3"]
    if iso3 not in (*ISO3, REGION):
        raise ConfigError(f"{key}.iso3: {iso3!r}; allowed: a state's ISO3 code (data/countries.csv) or {REGION}")
    if VARIABLES[column].lac == "only" and iso3 != REGION:
        raise ConfigError(f"{key}.iso3: {iso3!r} for the region-only {column}; allowed: {REGION}")
    years = entry["years"]
    if isinstance(years, str) or not isinstance(years, Sequence) or len(years) != 2:
        raise ConfigError(f"{key}.years: {years!r}; allowed: [start, end], years in [{FIRST_YEAR}, {LAST_YEAR}] "
                          "(the same year twice for one year)")
    start, end = _year(f"{key}.years", years[0]), _year(f"{key}.years", years[1])
    if end < start:
        raise ConfigError(f"{key}.years: {list(years)!r}; allowed: [start, end] with start <= end")
    sign = entry["sign"]
    if sign not in SIGNS:
        raise ConfigError(f"{key}.sign: {sign!r}; allowed: \"+\" or \"-\" (quoted in YAML)")
    why = entry["why"]
    if not isinstance(why, str) or not why.strip():
        raise ConfigError(f"{key}.why: {why!r}; allowed: the mechanism, a non-empty sentence")
    return Effect(column, str(iso3), start, end, str(sign), " ".join(why.split()), part)


def parse_effects(part: str, value: object) -> tuple[Effect, ...]:
    """A scenario part's ``effects``: at least MIN_EFFECTS, MIN_OUTCOMES of them on outcomes; () when none given."""
    key = f"scenario.{part}.effects"
    if value is None or (isinstance(value, (list, tuple)) and not value):
        return ()
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        raise ConfigError(f"{key}: {value!r}; allowed: a list of effects, each "
                          f"{{{', '.join(EFFECT_KEYS)}}}")
    effects = tuple(parse_effect(f"{key}[{i}]", e, part) for i, e in enumerate(value))
    seen: set[tuple] = set()
    for i, e in enumerate(effects):
        if e.key in seen:
            raise ConfigError(f"{key}[{i}]: {e.label()} is declared twice; allowed: each effect once")
        seen.add(e.key)
    if len(effects) < MIN_EFFECTS:
        raise ConfigError(f"{key}: {len(effects)} declared; allowed: at least {MIN_EFFECTS} effects, "
                          f"{MIN_OUTCOMES} of them on outcomes")
    outcomes = sum(e.outcome for e in effects)
    if outcomes < MIN_OUTCOMES:
        raise ConfigError(f"{key}: {outcomes} of {len(effects)} on outcomes; allowed: at least {MIN_OUTCOMES} on "
                          f"outcome variables (channels {', '.join(sorted(c.value for c in OUTCOME_CHANNELS))}; "
                          f"not {', '.join(sorted(NOT_OUTCOMES))})")
    return effects


def require_effects(parts: Mapping[str, Sequence[Effect]], exempt: Sequence[str] = (REFERENCE,)) -> None:
    """Every part but the exempt (the reference) declares its effects."""
    for part, effects in parts.items():
        if part not in exempt and not effects:
            raise ConfigError(f"scenario.{part}.effects: missing; allowed: at least {MIN_EFFECTS} declared effects "
                              f"({MIN_OUTCOMES} on outcomes), each {{{', '.join(EFFECT_KEYS)}}}, in every scenario "
                              f"but the reference {REFERENCE}")


def union(parts: Mapping[str, Sequence[Effect]]) -> tuple[Effect, ...]:
    """The effects of a composed scenario: every part's, in part order, each (variable, iso3, years, sign) once."""
    out, seen = [], set()
    for effects in parts.values():
        for e in effects:
            if e.key not in seen:
                seen.add(e.key)
                out.append(e)
    return tuple(out)


# ----------------------------------------------------------------------------------------------------- statistics


def statistic(cube: Any, effect: Effect) -> np.ndarray | None:
    """(draw, seed) statistic of ``effect`` in every run of ``cube`` (a tables.Cube: ``values[year, draw, seed, iso3,
    column]``): the sum over its years of its variable at its row; None when a year, the row or the column is not
    in the cube."""
    years = list(range(effect.year_start, effect.year_end + 1))
    if (effect.variable not in cube.columns or effect.iso3 not in cube.iso3
            or any(y not in cube.years for y in years)):
        return None
    i, c = cube.iso3.index(effect.iso3), cube.columns.index(effect.variable)
    return sum(cube.at(y)[:, :, i, c].astype(np.float64) for y in years)


def chance_of_driver(draws: int) -> float:
    """Probability that a parameter unrelated to an effect reaches |rho| >= DRIVER_RHO by chance over ``draws`` draws
    (normal approximation, null sd 1 / sqrt(draws - 1))."""
    if draws < 3:
        return 1.0
    return float(2.0 * norm.sf(DRIVER_RHO * np.sqrt(draws - 1)))


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho (average ranks for ties); NaN when either is constant or there are fewer than 3 values."""
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(x), rankdata(y))[0, 1])


def drivers_of(diff: np.ndarray, params: pd.DataFrame) -> list[tuple[str, float]]:
    """Parameters whose |Spearman rho| with the draw-mean difference is at least DRIVER_RHO, strongest first."""
    if params.shape[1] == 0 or diff.shape[0] < 3:
        return []
    finite = np.isfinite(diff)
    count = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(finite, diff, 0.0).sum(axis=1) / count  # NaN for a draw without a finite pair
    ok = count > 0
    found = []
    for name in params.columns:
        rho = spearman(params[name].to_numpy(dtype=float)[ok], mean[ok])
        if np.isfinite(rho) and abs(rho) >= DRIVER_RHO:
            found.append((str(name), rho))
    return sorted(found, key=lambda t: (-abs(t[1]), t[0]))


def summarise(diff: np.ndarray | None, sign: str, params: pd.DataFrame, prior: Mapping[str, bool] | None) -> dict:
    """Statistics of a paired difference ``diff[draw, seed]`` for an effect of the declared ``sign`` (see the module
    docstring); ``params`` holds the draws' varying parameters in draw order; ``prior`` the prior-driven flags."""
    if diff is None:
        return {"n_pairs": 0, "median": np.nan, "q05": np.nan, "q95": np.nan, "p_declared_sign": np.nan,
                "holds": False, "prior_driven": False, "driving_parameters": ""}
    flat = diff.ravel()
    flat = flat[np.isfinite(flat)]
    n = int(flat.size)
    if n == 0:
        q05 = median = q95 = p = np.nan
    else:
        q05, median, q95 = (float(v) for v in np.quantile(flat, (0.05, 0.5, 0.95)))
        p = float(((flat > 0) if sign == "+" else (flat < 0)).mean())
    drivers = drivers_of(diff, params)
    return {"n_pairs": n, "median": median, "q05": q05, "q95": q95, "p_declared_sign": p,
            "holds": bool(n > 0 and p >= HOLDS),
            "prior_driven": bool(any((prior or {}).get(name, False) for name, _ in drivers)),
            "driving_parameters": ", ".join(f"{name} ({rho:+.2f})" for name, rho in drivers)}


def effect_row(label: str, effect: Effect, diff: np.ndarray | None, params: pd.DataFrame,
               prior: Mapping[str, bool] | None) -> dict:
    """One row of the ``scenario_effects`` table."""
    row = {"scenario": label, "variable": effect.variable, "iso3": effect.iso3, "year_start": effect.year_start,
           "year_end": effect.year_end, "sign": effect.sign, "outcome": effect.outcome}
    row.update(summarise(diff, effect.sign, params, prior))
    row["why"] = effect.why
    return row


_DTYPES = {"year_start": "int64", "year_end": "int64", "n_pairs": "int64", "outcome": "bool", "holds": "bool",
           "prior_driven": "bool", "median": "float64", "q05": "float64", "q95": "float64",
           "p_declared_sign": "float64"}


def empty_table() -> pd.DataFrame:
    """The table without rows; numbers and flags keep the types of a full one (text columns are null in Parquet)."""
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES.get(c, object)) for c in TABLE_COLUMNS})


def markdown_view(frame: pd.DataFrame) -> pd.DataFrame:
    """The readable view of the table: one line per effect, the paired difference as median [5%, 95%]."""
    def num(x: float) -> str:
        return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3g}"

    rows = []
    for r in frame.itertuples(index=False):
        years = str(r.year_start) if r.year_start == r.year_end else f"{r.year_start}-{r.year_end}"
        rows.append({"scenario": r.scenario, "effect": f"`{r.variable}` {r.iso3} {years} {r.sign}",
                     "outcome": "yes" if r.outcome else "no", "pairs": str(r.n_pairs),
                     "difference": f"{num(r.median)} [{num(r.q05)}, {num(r.q95)}]",
                     "P(sign)": num(r.p_declared_sign), "holds": "yes" if r.holds else "**no**",
                     "prior_driven": "true" if r.prior_driven else "false",
                     "driving parameters": r.driving_parameters or "–"})
    return pd.DataFrame(rows, columns=["scenario", "effect", "outcome", "pairs", "difference", "P(sign)", "holds",
                                       "prior_driven", "driving parameters"])
