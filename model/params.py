"""Frozen, validated parameters of the model.

Names, types, ranges, meanings and sources live here; values live in ``configs/params/default.yaml`` (the only place
they are written). :meth:`ModelParams.from_dict` refuses unknown keys, missing keys, wrong types and values outside a
field's range, naming the dotted key and the allowed range. Build variants with :func:`with_overrides`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PARAMS_FILE = PROJECT_ROOT / "configs" / "params" / "default.yaml"


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range (message is one line)."""


def p(lo: float, hi: float, doc: str, source: str, kind: type = float, length: int = 0):
    """Declare a parameter field: allowed range [lo, hi], meaning, source or prior, type and optional tuple length."""
    return field(metadata={"range": (lo, hi), "doc": doc, "source": source, "kind": kind, "length": length})


J = "judgement"
# Sources stated by a rule that reads no fitted row (ODD §10.29): calibrated priors, and the fixed channels' alignment.
BASE_RATE = f"calibrated: prior by the base-rate rule (docs/ODD.md §10.29); default: {J} (medium), a start value"
SHARED_ALIGNMENT = f"{J} (medium): the shared alignment rule, equal to delegations.alignment (docs/ODD.md §10.29)"
RULE_RANGE = f"calibrated: prior the arms alignment weight's range (docs/ODD.md §10.29); default: {J} (medium), a start"
ALLOWED_RANGE = f"calibrated: prior the allowed range (docs/ODD.md §10.30, §10.32); default: {J} (medium), a start"
WORLD_CEILING = (f"calibrated: prior up to China's worldwide total (docs/ODD.md §10.33, data/world_totals.csv); "
                 f"default: {J} (medium), a start value")
# An article fact read as an input; the row that states it is context, not a target (docs/ODD.md §10.32).
OF_RECORD = "an input of record, its row context (docs/ODD.md §10.32)"
BASS_RULE = (f"calibrated: prior from none to the Bass model's mean innovation coefficient (docs/ODD.md §10.30); "
             f"default: {J} (medium), a start value")


class _Group:
    """Validation shared by every parameter group: types and ranges from each field's metadata."""

    __slots__ = ()
    _prefix: ClassVar[str] = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            _check_value(f"{self._prefix}.{f.name}", getattr(self, f.name), f.metadata)


def check_keys(prefix: str, values: object, allowed: list[str] | tuple[str, ...], required: bool = True) -> None:
    """Refuse a non-mapping, an unknown key and (when ``required``) a missing key, naming the dotted key."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{prefix}: expected a mapping, got {values!r}")
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}: unknown key; allowed: {', '.join(allowed)}")
    missing = [n for n in allowed if n not in values] if required else []
    if missing:
        raise ConfigError(f"{prefix}.{missing[0]}: missing key")


def check_number(key: str, v: object, lo: float, hi: float, integer: bool = False) -> float:
    """A finite number (a whole one if ``integer``) in [lo, hi], or a one-line ConfigError naming the key."""
    kind = "int" if integer else "float"
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not float(v).is_integer()):
        raise ConfigError(f"{key}: expected {kind} in [{lo}, {hi}], got {v!r} ({type(v).__name__})")
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ConfigError(f"{key}: {v!r} is out of range; allowed [{lo}, {hi}]")
    return v


def _check_value(key: str, value: object, meta: Mapping) -> None:
    lo, hi = meta["range"]
    kind, length = meta["kind"], meta["length"]
    values = value if length else (value,)
    if length and (not isinstance(value, tuple) or len(value) != length):
        raise ConfigError(f"{key}: expected a list of {length} numbers in [{lo}, {hi}], got {value!r}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not float(v).is_integer()):
            raise ConfigError(f"{key}: expected {kind.__name__} in [{lo}, {hi}], got {v!r} ({type(v).__name__})")
        if not math.isfinite(v) or not lo <= v <= hi:
            raise ConfigError(f"{key}: {v!r} is out of range; allowed [{lo}, {hi}]")


@dataclass(frozen=True, slots=True)
class ChinaParams(_Group):
    """China's strategy: boldness, priorities, discount, finance and aid."""

    _prefix: ClassVar[str] = "china"
    boldness_base: float = p(-6, 6, "logit of boldness at US-China tension 0.5",
                             f"{J} (medium): cautious default; article Results")
    boldness_tension: float = p(0, 10, "rise of boldness's logit per unit of tension",
                                f"{J} (low): article's conjecture only; unidentified")
    priority_exposure: float = p(0, 5, "weight of economic exposure in China's country priority",
                                 f"{J} (medium): article Introduction [2]")
    priority_alignment: float = p(0, 5, "weight of alignment in China's country priority", f"{J} (medium)")
    priority_size: float = p(0, 2, "weight of log GDP share in China's country priority", f"{J} (medium)")
    discount: float = p(0, 0.9, "price discount on Chinese arms", f"{J} (medium): article 'significant discounts'")
    finance_boom: float = p(0, 3, "concessional finance per unit of exposure", f"{J} (medium): CDB loans, article [15]")
    capacity_elasticity: float = p(0, 2, "elasticity of Chinese activity to China's capacity index", f"{J} (medium)")
    aid_packages_per_year: float = p(0, 5, "expected military aid packages a year at capacity 1",
                                     "derived: AidData GCOF v1 grants to LAC armed and security forces 2000-2014, one "
                                     "per state-year (6: BOL 2012, 2013; CRI 2008, 2011, 2012, 2014) / the sum of "
                                     "capacity^elasticity 2000-2014 (19.24) = 0.31; GCOF is media-based, an "
                                     "undercount, so the floor of its calibration prior")
    aid_package_usd_m: float = p(1, 100, "median aid package, US$ m 2022",
                                 "derived: median of AidData GCOF v1 grants to LAC armed forces with a stated amount, "
                                 "2000-2014 (Bolivia 2012 and 2013: 5.8 and 10.0 in 2022 US$; n = 2)")
    aid_persistence: float = p(0, 5, "log-weight of a past aid recipient in the pick of this year's recipients",
                               f"{J} (low): aid follows standing programmes; "
                               "a past recipient is e^1.5 = 4.5 times as likely")
    aid_size_sigma: float = p(0, 2, "log-sd of aid package size", f"{J} (low)")
    donation_share: float = p(0, 1, "probability an aid package includes donated light arms", ALLOWED_RANGE)
    tiv_per_usd_m: float = p(0, 2, "TIV m per US$ m of donated light equipment",
                             f"{J} (low): TIV values light vehicles below price")
    arms_credit_tiv: float = p(0, 2000,
                               "yearly Chinese arms credit line at capacity 1 (TIV m); buyers draw on it in turn",
                               f"{J} (low): CDB credit, article [15]")
    tech_transfer_threshold: float = p(0, 1, "defence-industrial capacity above which a Chinese deal is co-production",
                                       "derived: the lowest defence_industry (MEX 0.3) among the states SIPRI records "
                                       "producing imported arms locally on orders before 2000 (ARG, BRA, CHL, MEX)")


@dataclass(frozen=True, slots=True)
class USParams(_Group):
    """The United States: pressure, leverage and veto, and its own contacts."""

    _prefix: ClassVar[str] = "us"
    pressure_base: float = p(-6, 6, "logit of US pressure at tension 0.5 and footprint 0.5", f"{J} (medium)")
    pressure_tension: float = p(0, 10, "rise of pressure's logit per unit of tension",
                                f"{J} (medium): article Results [41-44]")
    pressure_footprint: float = p(0, 10, "rise of pressure's logit per unit of China's regional footprint",
                                  f"{J} (low)")
    leverage_intercept: float = p(-6, 6, "logit of leverage with no proximity and no US arms", f"{J} (medium)")
    leverage_proximity: float = p(0, 10, "rise of leverage's logit per unit of proximity (Central America, Caribbean)",
                                  f"{J} (medium)")
    leverage_orientation: float = p(0, 10, "fall of leverage's logit per unit of the government's orientation (+1 "
                                    "towards China, -1 towards the US)",
                                    f"{J} (medium): leverage is influence over a government's choices, which one that "
                                    "leans away from the US resists; at 2, a government at +1 has e^-2 = 0.14 of a "
                                    "neutral one's leverage odds, one at -1 e^2 = 7.4 times")
    leverage_installed: float = p(0, 10, "rise of leverage's logit per unit of US share of the installed base",
                                  "Sislin 1994: arms as influence")
    contact_rate: float = p(0, 3, "yearly US contact intensity for a neutral state",
                            f"{J} (medium): US and Europe train far more, article")


@dataclass(frozen=True, slots=True)
class DelegationParams(_Group):
    """PLA delegations: a Poisson count per state, plus recurring high-level tours."""

    _prefix: ClassVar[str] = "delegations"
    onset_year: int = p(1995, 2040, "first year of PLA delegations",
                       f"article: first delegation 2003 [26]; {OF_RECORD}", int)
    log_rate: float = p(-6, 3, "log yearly visits of a state with no ties", f"{J} (medium): >200 visits 2000-2022 [45]")
    relationship: float = p(0, 6, "effect of R_cn on the log rate", f"{J} (medium)")
    exposure: float = p(0, 6, "effect of exposure on the log rate", f"{J} (medium)")
    alignment: float = p(-3, 3, "effect of alignment on the log rate", f"{J} (medium)")
    tour_size: int = p(1, 33, "states visited by a high-level tour",
                       f"article: 2003 tour to nine states [26]; {OF_RECORD}", int)
    tour_regular_from: int = p(2000, 2040, "year from which tours recur",
                               f"article: regular after 2009 [26]; {OF_RECORD}", int)
    tour_min_gap: int = p(1, 10, "minimum years between tours", f"article: every 2-3 years [26]; {OF_RECORD}", int)
    tour_probability: float = p(0, 1, "yearly tour probability once the gap has passed",
                                "article: every 2-3 years [26]: at a minimum gap of 2, 0.6 makes 84% of gaps 2 or 3 "
                                f"years; {OF_RECORD}")


@dataclass(frozen=True, slots=True)
class TrainingParams(_Group):
    """Officers sent to PLA institutions: logistic in R_cn, peers, weak alignment, persistence."""

    _prefix: ClassVar[str] = "training"
    onset_year: int = p(1995, 2040, "first year LAC officers train in China",
                        f"{J} (medium): 18 states by early 2010s [26]", int)
    intercept: float = p(-10, 10, "logit intercept", BASE_RATE)
    relationship: float = p(0, 10, "effect of R_cn", f"{J} (medium)")
    peer: float = p(0, 10, "effect of the subregion's share already sending", f"{J} (medium)")
    alignment: float = p(-3, 3, "effect of alignment", SHARED_ALIGNMENT)
    persistence: float = p(0, 10, "effect of having sent officers last year",
                           f"{J} (medium): long-term college agreements [26]")
    us_pressure: float = p(0, 10, "fall of the logit per unit of US pressure x leverage (exit and ceiling)",
                           f"{J} (low): the US discourages PLA education of partner officers; article Results: "
                           "stiff US opposition")


@dataclass(frozen=True, slots=True)
class PortCallParams(_Group):
    """PLA Navy port calls: China decides a voyage; hosts by priority and coast."""

    _prefix: ClassVar[str] = "port_calls"
    intercept: float = p(-10, 5, "logit of a voyage with zero naval reach", WORLD_CEILING)
    reach: float = p(0, 10, "effect of PLA Navy reach on the voyage logit", f"{J} (medium)")
    hosts_mean: float = p(1, 10, "mean hosts per voyage at capacity 1", ALLOWED_RANGE)
    persistence: float = p(0, 5, "log-weight of a past host in the pick of hosts",
                           f"{J} (low): navies reuse ports with standing port-visit arrangements")


@dataclass(frozen=True, slots=True)
class ExerciseParams(_Group):
    """Joint exercises, proposed by China where ties and boldness suffice."""

    _prefix: ClassVar[str] = "exercises"
    onset_year: int = p(1995, 2040, "first year of joint exercises", "article: Peace Angel 2010 [22]", int)
    intercept: float = p(-10, 5, "log of China's yearly exercises in the region at boldness 0 and capacity 1",
                         WORLD_CEILING)
    relationship: float = p(0, 10, "log-weight of R_cn in the pick of partners", f"{J} (medium)")
    boldness: float = p(0, 10, "rise of the log yearly exercises per unit of China's boldness", f"{J} (low)")
    alignment: float = p(-3, 5, "log-weight of alignment in the pick of partners, beyond China's priority",
                         f"{J} (medium): 0, as China's country priority (china.priority_alignment) "
                         "already weighs alignment")
    persistence: float = p(0, 5, "log-weight of a past exercise partner",
                           f"{J} (low): standing arrangements make a past partner 4.5 times as likely (e^1.5)")


@dataclass(frozen=True, slots=True)
class ForumParams(_Group):
    """Attendance at China's LAC defence forums (one attendance decision for both series of forums)."""

    _prefix: ClassVar[str] = "forums"
    onset_year: int = p(1995, 2040, "first forum", "article: October 2015 logistics forum [29]", int)
    intercept: float = p(-10, 10, "logit intercept", BASE_RATE)
    relationship: float = p(0, 10, "effect of R_cn", f"{J} (medium)")
    peer: float = p(0, 10, "effect of last year's attendance share", BASE_RATE)
    alignment: float = p(-3, 3, "effect of alignment", f"{J} (medium)")
    persistence: float = p(0, 10, "effect of having attended last year", f"{J} (medium): forums became regular [29]")
    us_pressure: float = p(0, 10, "fall of the logit per unit of US pressure x leverage (exit and ceiling)",
                           f"{J} (low): article Results: stiff US opposition even to tiny cooperation")


@dataclass(frozen=True, slots=True)
class ArmsParams(_Group):
    """Arms: need, supplier choice by multinomial logit, signature, delivery or failure."""

    _prefix: ClassVar[str] = "arms"
    capability_decay: float = p(0.01, 0.5, "yearly depreciation of the capability stock",
                                f"{J} (medium): 15-25 year service lives")
    initial_gap: float = p(0, 0.9, "capability gap of every state in 2000 (less where pre-2000 orders due exceed it)",
                           f"{J} (medium): a stationary stock sits below its target")
    capability_target: float = p(0.001, 2, "target capability stock per US$ m of military spending (TIV m)",
                                 "derived: SIPRI LAC imports 1995-1999 (1,202 TIV m a year) / (0.06 decay x 38,906 "
                                 "US$ m, the 2000-2004 budget net of fiscal stress) = 0.515, pre-sample")
    intensity_weight: float = p(0, 1,
                                "exponent on the state's 1995-1999 import intensity in its capability target "
                                "(0: one target per dollar)",
                                f"{J} (medium): import shares of budgets persist (log correlation 0.49 between "
                                "1995-1999 and 2000-2023, SIPRI)")
    no_army_target: float = p(0, 1,
                              "capability target of a state without armed forces, as a share of the rule's (its police "
                              "and coast guard buy for it)",
                              f"{J} (low): 1 treats a police force's budget as an army's; calibrated, prior U(0, 1)")
    nonconvertible_target: float = p(-3.5, 0,
                                     "log-multiplier of the capability target of a state whose budget is valued at an "
                                     "official rate that buys no dollars (countries.csv convertible_budget 0)",
                                     f"{J} (low): 0 takes the official rate at its word; log(1/24) = -3.18 values the "
                                     "whole budget at the rate at which the currency bought dollars (Cuba's CADECA "
                                     "rate, about 24); calibrated, prior U(-3.18, 0)")
    buildup: float = p(0, 5,
                       "log-multiplier of the capability target per unit of squared anti-US orientation x commodity "
                       "index x resource dependence",
                       f"{J} (low): commodity-financed rearmament of anti-US governments where the economy earns "
                       "resource rents (WDI, data/raw/PROVENANCE.md section 6); squared so moderate left governments "
                       "(Brazil 0.4) barely count")
    need_intercept: float = p(-10, 5, "need logit with no capability gap",
                              f"{J} (medium): low regional tension, article")
    need_gap: float = p(0, 20, "effect of the capability gap on buying", f"{J} (medium)")
    need_fiscal: float = p(0, 20, "effect of fiscal stress on buying", ALLOWED_RANGE)
    deal_share: float = p(0.01, 1, "share of the gap ordered in a year at full need", f"{J} (medium)")
    deal_sigma: float = p(0, 2, "log-sd of contract size around the buyer's median",
                          "derived: residual sd of log deal TIV on log spending, SIPRI deals ordered 1995-1999 (1.47), "
                          "less the category factors' spread (1.39)")
    lag_min: int = p(0, 10, "minimum years from signature to first delivery", "DESIGN.md §4: 1-4 years", int)
    lag_max: int = p(0, 10, "maximum years from signature to first delivery", "DESIGN.md §4: 1-4 years", int)
    delivery_years: tuple = p(1, 10, "years over which a deal delivers, by category",
                              f"{J} (medium): SIPRI delivery spreads", float, 5)
    category_weights: tuple = p(0, 1, "probability of each category in a purchase",
                                "derived: SIPRI deals ordered 1995-1999 by category (19, 31, 36, 116, 30)", float, 5)
    category_size: tuple = p(0.05, 20, "relative deal size by category",
                             "derived: SIPRI deals ordered 1995-1999, TIV per deal by category over the mean", float,
                             5)
    china_redline: tuple = p(0.01, 0.99,
                             "boldness China needs to offer each category to a neutral buyer with no US pressure on it",
                             f"{J} (low): article, China avoids US red lines", float, 5)
    redline_leverage: float = p(0, 10, "rise of the red line's logit per unit of US pressure x the buyer's leverage",
                                f"{J} (low): China avoids US red lines (article Abstract); at 2, full pressure and "
                                "leverage double the odds China needs")
    redline_alignment: float = p(0, 10, "fall of the red line's logit per unit of the buyer's alignment",
                                 f"{J} (low): a sale to a friendly government carries less political risk; "
                                 "half the leverage term")
    fail_base: float = p(0, 1, "yearly failure hazard of any deal in the pipeline", f"{J} (medium)")
    fail_fiscal: float = p(0, 5,
                           "failure hazard per unit of rise of fiscal stress above the highest the deal has met (at "
                           "signing or since) of a deal not yet in delivery; of one in delivery, the year's "
                           "instalment is postponed with share 1 - exp(-hazard)",
                           "article: Argentine VN1/P18, FC-1 failures [5,6]")
    cooling_years: int = p(0, 10, "years a failed order still counts against the gap before the state orders again",
                           f"{J} (low): a new budget cycle and tender", int)
    fail_veto: float = p(0, 5,
                         "failure hazard of a Chinese deal per unit of US pressure x leverage x component exposure",
                         f"{J} (low): a fully exposed deal with a fully leveraged buyer under full pressure fails "
                         "within about two years (hazard 0.5); the veto acts through US-licensed components")
    veto_categories: tuple = p(0, 1, "exposure of each category to third-country components (veto)",
                               f"{J} (medium): MBT-2000 engines [1]", float, 5)
    fail_regime: float = p(0, 5, "failure hazard per unit of a change of government's move away from the supplier",
                           f"{J} (medium)")
    price: tuple = p(0, 3, "relative price by supplier (USA RUS EUR ISR OTHER DOMESTIC CHN)", f"{J} (medium)", float, 7)
    quality: tuple = p(0, 3, "relative quality by supplier", f"{J} (medium)", float, 7)
    supplier_orientation: tuple = p(-1, 1, "political orientation of each supplier (-1 US ... +1 China)",
                                    f"{J} (high): sign only", float, 7)
    tech_transfer_offer: tuple = p(0, 1, "technology transfer each supplier offers",
                                   "article: China ready for transfers (Argentina)", float, 7)
    supplier_constant: tuple = p(-10, 10, "supplier constants in the logit",
                                 "derived: log SIPRI 1995-1999 (pre-sample) shares net of price and quality utility "
                                 "(CHN, DOMESTIC: judgement)", float, 7)
    beta_price: float = p(0, 10, "disutility of price", f"{J} (medium)")
    beta_quality: float = p(0, 10, "utility of quality", f"{J} (medium)")
    beta_lockin: float = p(0, 10, "utility of the supplier's share of the installed base",
                           "DESIGN.md §4 hypothesis; tested on SIPRI")
    beta_quality_tech: float = p(0, 10, "extra utility of quality per unit of the buyer's tech capacity",
                                 f"{J} (medium): industrial states buy for quality and interoperability")
    beta_alignment: float = p(0, 10, "utility of political alignment with the supplier", "Pamp et al. 2021; Kinne 2018")
    beta_finance: float = p(0, 10, "utility of Chinese concessional finance", "article [15]: CDB loans")
    beta_tech_transfer: float = p(0, 10, "utility of technology transfer, times the buyer's tech capacity",
                                  "article: China's edge with Brazil, Argentina")
    beta_new_supplier: float = p(0, 10, "entry barrier of a supplier new to the state (under 1% of its installed base)",
                                 "DESIGN.md §4 lock-in hypothesis; Pamp et al. 2021")
    beta_hedge: float = p(0, 10, "bonus for a new supplier when one supplier dominates", "Kuik 2021: hedging")
    beta_us_pressure: float = p(0, 20, "disutility of Chinese and Russian offers per unit of US pressure x leverage",
                                "Sislin 1994; article [1]")
    beta_domestic: float = p(0, 10, "utility of own industry per unit of defence-industrial capacity",
                             "article Results: domestic industry")
    installed_decay: float = p(0.01, 0.5, "yearly decay of the installed base by supplier", f"{J} (medium)")


@dataclass(frozen=True, slots=True)
class SpaceParams(_Group):
    """Space: rare project events; CBERS as a scheduled Brazilian programme."""

    _prefix: ClassVar[str] = "space"
    onset_year: int = p(1995, 2040, "first year of non-CBERS space deals", "article: Venesat-1 contract 2008 [15]", int)
    intercept: float = p(-15, 5, "logit of a project", WORLD_CEILING)
    tech: float = p(0, 10, "effect of tech capacity", f"{J} (medium)")
    alignment: float = p(0, 10, "effect of alignment", RULE_RANGE)
    finance: float = p(0, 10, "effect of Chinese finance", RULE_RANGE)
    trust: float = p(0, 10, "effect of dual-use trust", f"{J} (low)")
    ground_share: float = p(0, 1, "share of projects that are ground facilities while China's need is open",
                            ALLOWED_RANGE)
    yearly_ceiling: int = p(0, 33, "new space projects a year that the region's expected count saturates towards",
                            f"{J} (medium): China's worldwide rate, 7 in-orbit delivery contracts in 2004-2011 "
                            "(data/world_totals.csv), about one a year, bounds the region's (docs/ODD.md §7.13)", int)
    ground_need: int = p(0, 33, "ground facilities China seeks in the region",
                         f"{J} (medium): a deep-space network needs stations about 120 degrees of longitude apart "
                         "(NASA's Goldstone, Madrid, Canberra); China's own sites span about 55 degrees, so its "
                         "network has one slot in the western hemisphere (docs/ODD.md §7.13)", int)
    cbers_continuation: float = p(0, 1, "yearly probability of a new CBERS launch after the schedule", ALLOWED_RANGE)


@dataclass(frozen=True, slots=True)
class SurveillanceParams(_Group):
    """Surveillance diffusion (Bass-style), subnational and national, with camera scale."""

    _prefix: ClassVar[str] = "surveillance"
    onset_year: int = p(1995, 2040, "first year Chinese systems are on offer", "article: Mexico City 2007 [20]", int)
    innovation: float = p(0, 1, "Bass innovation hazard (national)", f"{J} (medium)")
    imitation: float = p(0, 5, "Bass imitation per share of adopters", f"{J} (medium)")
    finance: float = p(0, 5, "hazard per unit of Chinese finance",
                       "calibrated: prior from none to the Bass model's mean innovation coefficient per unit of "
                       f"finance (docs/ODD.md §10.32); default: {J} (medium), a start value")
    insecurity: float = p(0, 5, "hazard per unit of insecurity", "Feldstein 2019")
    us_pressure: float = p(0, 10, "log-hazard cut per unit of US pressure x leverage (a ceiling below the 33 states)",
                           f"{J} (low): the US campaigns against Chinese surveillance systems (article Analysis); at "
                           "2, a state under full pressure and leverage adopts at e^-2 = 0.14 of the rate")
    subnational: float = p(0, 1, "subnational hazard for federal states", BASS_RULE)
    growth: float = p(0, 1, "yearly approach of cameras to their ceiling", ALLOWED_RANGE)
    cameras_per_million: float = p(0, 5000, "camera ceiling per million people, national system", ALLOWED_RANGE)
    subnational_scale: float = p(0, 1, "subnational ceiling relative to national", f"{J} (medium)")


@dataclass(frozen=True, slots=True)
class RelationsParams(_Group):
    """Relationship stocks, dual-use trust and alignment."""

    _prefix: ClassVar[str] = "relations"
    decay_china: float = p(0, 1, "yearly decay of R_cn", f"{J} (medium)")
    decay_us: float = p(0, 1, "yearly decay of R_us", f"{J} (medium)")
    weight_delegation: float = p(0, 5, "contact weight of one delegation visit", f"{J} (medium)")
    weight_training: float = p(0, 5, "contact weight of sending officers", f"{J} (medium)")
    weight_exercise: float = p(0, 5, "contact weight of an exercise", f"{J} (medium)")
    weight_port_call: float = p(0, 5, "contact weight of a port call", f"{J} (medium)")
    weight_forum: float = p(0, 5, "contact weight of forum attendance", f"{J} (medium)")
    weight_aid: float = p(0, 5, "contact weight of an aid package", f"{J} (medium)")
    weight_arms: float = p(0, 5, "contact weight of a year with deliveries", f"{J} (medium)")
    weight_dual_use: float = p(0, 5, "contact weight of a space project or surveillance system", f"{J} (medium)")
    kappa: float = p(-1, 1, "alignment drift per unit of R_cn - R_us", "DESIGN.md §4: tight prior at 0, unidentified")
    unga_weight: float = p(0, 1, "weight of UNGA-derived alignment against government orientation", f"{J} (medium)")
    trust_decay: float = p(0, 1, "yearly decay of dual-use trust", f"{J} (medium)")
    trust_redline: float = p(0, 10, "fall of the red line's logit per unit of dual-use trust", "DESIGN.md §4")


GROUPS = {
    "china": ChinaParams,
    "us": USParams,
    "delegations": DelegationParams,
    "training": TrainingParams,
    "port_calls": PortCallParams,
    "exercises": ExerciseParams,
    "forums": ForumParams,
    "arms": ArmsParams,
    "space": SpaceParams,
    "surveillance": SurveillanceParams,
    "relations": RelationsParams,
}


@dataclass(frozen=True, slots=True)
class ModelParams:
    """All behavioural parameters, one frozen group per agent or channel."""

    china: ChinaParams
    us: USParams
    delegations: DelegationParams
    training: TrainingParams
    port_calls: PortCallParams
    exercises: ExerciseParams
    forums: ForumParams
    arms: ArmsParams
    space: SpaceParams
    surveillance: SurveillanceParams
    relations: RelationsParams

    def __post_init__(self) -> None:
        if self.arms.lag_min > self.arms.lag_max:
            raise ConfigError(f"params.arms.lag_min: {self.arms.lag_min} exceeds "
                              f"params.arms.lag_max={self.arms.lag_max}; allowed: lag_min <= lag_max")
        if sum(self.arms.category_weights) <= 0:
            raise ConfigError(f"params.arms.category_weights: {list(self.arms.category_weights)} sum to zero; allowed: "
                              "a positive sum")

    @classmethod
    def from_dict(cls, values: Mapping, prefix: str = "params") -> ModelParams:
        """Build from a nested mapping, refusing unknown, missing and invalid keys (one-line errors)."""
        return _build(cls, values, prefix)

    def to_dict(self) -> dict:
        """Nested plain dict (tuples as lists), the inverse of :meth:`from_dict`."""
        return {g: {f.name: _plain(getattr(getattr(self, g), f.name)) for f in dataclasses.fields(getattr(self, g))}
                for g in GROUPS}


def _plain(v: object) -> object:
    return list(v) if isinstance(v, tuple) else v


def _build(cls: type, values: Mapping, prefix: str):
    names = [f.name for f in dataclasses.fields(cls)]
    check_keys(prefix, values, names)
    if cls is ModelParams:
        return cls(**{g: _build(GROUPS[g], values[g], f"{prefix}.{g}") for g in names})
    kwargs = {}
    for f in dataclasses.fields(cls):
        v = values[f.name]
        if f.metadata["length"]:
            v = tuple(v) if isinstance(v, (list, tuple)) else v
        _check_value(f"{prefix}.{f.name}", v, f.metadata)
        kwargs[f.name] = int(v) if f.metadata["kind"] is int else (v if f.metadata["length"] else float(v))
    return cls(**kwargs)


def load_default_params(path: Path = DEFAULT_PARAMS_FILE) -> ModelParams:
    """Read the shipped defaults straight from YAML (tests, benchmarks and library use without Hydra)."""
    with open(path, encoding="utf-8") as fh:
        return ModelParams.from_dict(yaml.safe_load(fh))


def with_overrides(params: ModelParams, overrides: Mapping[str, object]) -> ModelParams:
    """Return a copy with dotted overrides applied, validated like YAML.

    Keys are ``group.name`` (``{"arms.fail_veto": 2.0}``) or, for one element of a list parameter, ``group.name.k``
    (``{"arms.supplier_constant.6": -1.0}``, the element for CHN). Only the groups overridden are rebuilt (a
    calibration builds one parameter set per particle).
    """
    changes: dict[str, dict[str, object]] = {}
    for key, v in overrides.items():
        group, _, rest = key.partition(".")
        name, _, index = rest.partition(".")
        field = _FIELDS.get(group, {}).get(name)
        if field is None:
            raise ConfigError(f"params.{key}: unknown parameter")
        if index:
            current = changes.get(group, {}).get(name, getattr(getattr(params, group), name))
            length = field.metadata["length"]
            if not length or not index.isdigit() or int(index) >= length:
                raise ConfigError(f"params.{key}: no element {index!r}; allowed: 0..{length - 1 if length else -1}")
            v = (*current[:int(index)], v, *current[int(index) + 1:])
        changes.setdefault(group, {})[name] = v
    groups = {}
    for group, values in changes.items():
        kwargs = {}
        for name, v in values.items():
            meta = _FIELDS[group][name].metadata
            if meta["length"]:
                v = tuple(v) if isinstance(v, (list, tuple)) else v
            _check_value(f"params.{group}.{name}", v, meta)
            kwargs[name] = int(v) if meta["kind"] is int else (v if meta["length"] else float(v))
        groups[group] = dataclasses.replace(getattr(params, group), **kwargs)
    return dataclasses.replace(params, **groups)


_FIELDS = {g: {f.name: f for f in dataclasses.fields(cls)} for g, cls in GROUPS.items()}


def parameter_table() -> list[dict]:
    """One row per parameter (dotted name, meaning, range, source, type) for docs and the priors."""
    rows = []
    for g, cls in GROUPS.items():
        for f in dataclasses.fields(cls):
            m = f.metadata
            rows.append({"name": f"{g}.{f.name}", "doc": m["doc"], "low": m["range"][0], "high": m["range"][1],
                         "source": m["source"], "kind": m["kind"].__name__, "length": m["length"]})
    return rows


def parameters_markdown() -> str:
    """The parameter reference (docs/parameters.md is this text plus the shipped defaults; a test keeps it current)."""
    defaults = load_default_params().to_dict()
    lines = ["# Parameters", "",
             "Generated by `python -m model.params > docs/parameters.md` from `model/params.py` "
             "(names, ranges, meanings,",
             "sources) and `configs/params/default.yaml` (defaults); do not edit by hand. Override any of them on the",
             "command line as `params.<group>.<name>=<value>`; values outside the range are refused before any run.",
             "",
             "| parameter | default | range | meaning | source or prior |", "|---|---|---|---|---|"]
    for row in parameter_table():
        group, name = row["name"].split(".")
        lines.append(f"| `{row['name']}` | {defaults[group][name]} | [{row['low']}, {row['high']}] | "
                     f"{row['doc']} | {row['source']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(parameters_markdown(), end="")
