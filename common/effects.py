"""Scenario effects as declared: what each scenario part says it does (issue 14 item 6), parsed and validated.

Every scenario part other than the reference (``baseline``) declares, beside its ``rationale`` and ``drivers``, at
least :data:`MIN_EFFECTS` effects, :data:`MIN_OUTCOMES` of them on outcome variables::

    effects:
      - {variable: officers_training, iso3: LAC, years: [2024, 2040], sign: "-", why: "..."}

``variable`` is a column of the forecast's wide ensemble (:func:`model.schema.column_names`, e.g.
``officers_training.CHN``, ``us_pressure``) or a variable name with a single partner (``officers_training``);
``iso3`` a state or ``LAC`` (the aggregate row; region-only variables have no other); ``years`` ``[start, end]`` in
2024..2040; ``sign`` ``"+"`` or ``"-"``; ``why`` the mechanism in one sentence. A composed scenario carries the union
of its parts' effects. :mod:`experiments.effects` measures them on the forecast.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from model.data import ISO3
from model.params import ConfigError
from model.schema import ALL_VARIABLES, REGION, Channel, column_names

EFFECT_KEYS = ("variable", "iso3", "years", "sign", "why")
FIRST_YEAR, LAST_YEAR = 2024, 2040
SIGNS = ("+", "-")
MIN_EFFECTS, MIN_OUTCOMES = 3, 2
# The reference scenario compares with itself: it declares no effect.
REFERENCE = "baseline"
OUTCOME_CHANNELS = frozenset({Channel.DELEGATIONS, Channel.TRAINING, Channel.FORUMS, Channel.PORT_CALLS,
                              Channel.EXERCISES, Channel.ARMS, Channel.INDUSTRIAL, Channel.AID, Channel.SPACE,
                              Channel.SURVEILLANCE})
# Model states and drivers, not outcomes an analyst observes (whatever their channel).
NOT_OUTCOMES = frozenset({"capability_gap", "us_leverage", "alignment", "r_china", "r_us", "recognises_beijing",
                          "us_pressure", "china_boldness", "us_china_tension"})
# China's red lines and the categories it would offer are its own latent decisions, not observed ties.
NOT_OUTCOME_PREFIXES = ("china_redline_", "china_arms_offered_")

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
