"""The one output schema (DESIGN.md §7): column names, the channel and partner enums, and the output variables.

Every frame the project writes or reads (simulations, observations, forecast tables) uses these names, so calibration
is a merge rather than a reshape. Variable names here are a stable interface: calibration and forecasts depend on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

COLUMNS = ("scenario", "param_source", "draw", "seed", "year", "iso3", "partner", "channel", "variable", "value")
REGION = "LAC"


class Channel(StrEnum):
    """Channels of defence ties, shared by outputs and observations."""

    DELEGATIONS = "delegations"
    TRAINING = "training"
    EXERCISES = "exercises"
    PORT_CALLS = "port_calls"
    FORUMS = "forums"
    ARMS = "arms"
    AID = "aid"
    SPACE = "space"
    SURVEILLANCE = "surveillance"
    INDUSTRIAL = "industrial"
    RELATIONS = "relations"


class Partner(StrEnum):
    """Counterparts of a tie. ``DOMESTIC`` is a state's own industry (never ``DOM``, the Dominican Republic)."""

    CHN = "CHN"
    USA = "USA"
    RUS = "RUS"
    EUR = "EUR"
    ISR = "ISR"
    DOMESTIC = "DOMESTIC"
    OTHER = "OTHER"
    NONE = ""


# Arms suppliers in the order of the model's supplier axis. CHN is last so that the non-Chinese block is a prefix.
SUPPLIERS = (Partner.USA, Partner.RUS, Partner.EUR, Partner.ISR, Partner.OTHER, Partner.DOMESTIC, Partner.CHN)
IMPORT_SUPPLIERS = tuple(s for s in SUPPLIERS if s is not Partner.DOMESTIC)
# Suppliers' positions in SUPPLIERS (the last axis of the arms arrays).
CHN_IDX, USA_IDX, RUS_IDX = (SUPPLIERS.index(p) for p in (Partner.CHN, Partner.USA, Partner.RUS))
DOMESTIC_IDX = SUPPLIERS.index(Partner.DOMESTIC)
ARMS_CATEGORIES = ("light", "artillery_radar", "air_defence_uav", "aircraft", "major_platform")


@dataclass(frozen=True, slots=True)
class Variable:
    """An output variable: its name, channel, partner, how the LAC row aggregates it, unit and meaning."""

    name: str
    channel: Channel
    partner: Partner
    lac: str  # "sum", "mean", or "only" for series that exist only for the region
    unit: str
    doc: str


def _v(name: str, channel: Channel, partner: Partner, lac: str, unit: str, doc: str) -> Variable:
    return Variable(name, channel, partner, lac, unit, doc)


C, P = Channel, Partner
# Per-state variables (one slot per state and year; LAC row by `lac` aggregation).
STATE_VARIABLES: tuple[Variable, ...] = (
    _v("delegations", C.DELEGATIONS, P.CHN, "sum", "visits", "PLA delegation visits to the state this year"),
    _v("delegation_tour", C.DELEGATIONS, P.CHN, "sum", "0/1", "state visited by a high-level (CMC/minister) tour"),
    _v("officers_training", C.TRAINING, P.CHN, "sum", "0/1", "state sends officers to PLA institutions this year"),
    _v("forum_attends", C.FORUMS, P.CHN, "sum", "0/1", "state attends China's LAC defence forum this year"),
    _v("port_call", C.PORT_CALLS, P.CHN, "sum", "0/1", "a PLA Navy ship visits the state this year"),
    _v("exercise", C.EXERCISES, P.CHN, "sum", "0/1", "a joint exercise with the PLA this year"),
    _v("china_arms_delivered_tiv", C.ARMS, P.CHN, "sum", "TIV m", "Chinese arms delivered, donations included"),
    _v("china_arms_deal_signed", C.ARMS, P.CHN, "sum", "deals", "arms deals signed with China this year"),
    _v("china_arms_deal_signed_major", C.ARMS, P.CHN, "sum", "deals", "of which major-platform deals"),
    _v("china_arms_deal_failed", C.ARMS, P.CHN, "sum", "deals", "Chinese deals that failed this year"),
    _v("china_arms_deal_vetoed", C.ARMS, P.CHN, "sum", "deals", "of which failed through a US veto"),
    _v("china_arms_donation", C.ARMS, P.CHN, "sum", "0/1", "China donated arms (light equipment) this year"),
    _v("china_coproduction_deal", C.INDUSTRIAL, P.CHN, "sum", "deals", "Chinese deals signed with technology transfer"),
    # One block in ARMS_CATEGORIES order: which categories China would sell the state this year (its red lines).
    *(_v(f"china_arms_offered_{c}", C.ARMS, P.CHN, "sum", "0/1",
         f"China offers {c.replace('_', ' ')} arms to the state")
      for c in ARMS_CATEGORIES),
    _v("china_aid_usd_m", C.AID, P.CHN, "sum", "US$ m 2022", "Chinese military aid (non-lethal unless bold)"),
    _v("space_project", C.SPACE, P.CHN, "sum", "events", "new space project with China (contract or CBERS launch)"),
    _v("space_ground_station", C.SPACE, P.CHN, "sum", "0/1", "state hosts a Chinese space ground facility"),
    _v("surveillance_level", C.SURVEILLANCE, P.CHN, "mean", "0/1/2", "none / subnational / national Chinese system"),
    _v("surveillance_cameras", C.SURVEILLANCE, P.CHN, "sum", "cameras", "cameras in Chinese-supplied systems"),
    _v("r_china", C.RELATIONS, P.CHN, "mean", "[0,1]", "relationship stock with China's military elite"),
    _v("r_us", C.RELATIONS, P.USA, "mean", "[0,1]", "relationship stock with the US military elite"),
    _v("alignment", C.RELATIONS, P.NONE, "mean", "[-1,1]", "-1 US-aligned ... +1 China/ALBA-leaning"),
    _v("us_leverage", C.RELATIONS, P.USA, "mean", "[0,1]", "US leverage over the state"),
    _v("recognises_beijing", C.RELATIONS, P.CHN, "sum", "0/1", "state recognises the PRC"),
    _v("capability_gap", C.ARMS, P.NONE, "mean", "[0,1]", "shortfall of capability stock below its target"),
) + tuple(
    # One block in SUPPLIERS order, so a year's deliveries are recorded in one assignment.
    _v("arms_domestic_tiv", C.ARMS, s, "sum", "TIV-equivalent m", "arms from the state's own industry")
    if s is P.DOMESTIC else _v("arms_imports_tiv", C.ARMS, s, "sum", "TIV m", f"arms delivered by {s.value}")
    for s in SUPPLIERS
) + tuple(
    _v("arms_deals_signed", C.ARMS, s, "sum", "deals", f"arms deals signed with {s.value}") for s in SUPPLIERS
)

# Region-level variables (iso3 = LAC only).
REGION_VARIABLES: tuple[Variable, ...] = (
    _v("us_pressure", C.RELATIONS, P.USA, "only", "[0,1]", "US pressure against Chinese defence ties"),
    _v("china_boldness", C.RELATIONS, P.CHN, "only", "[0,1]", "China's readiness to cross US red lines"),
    _v("china_arms_share", C.ARMS, P.CHN, "only", "share", "China's share of LAC arms imports this year"),
    _v("us_china_tension", C.RELATIONS, P.NONE, "only", "[0,1]", "US-China tension (driver)"),
    _v("surveillance_adopters", C.SURVEILLANCE, P.CHN, "only", "states", "states with a Chinese system (any level)"),
) + tuple(
    # The boldness China needs to offer the category, averaged over the states that recognise Beijing.
    _v(f"china_redline_{c}", C.ARMS, P.CHN, "only", "[0,1]",
       f"China's red line for {c.replace('_', ' ')} arms (mean over recognising states)") for c in ARMS_CATEGORIES
)

STATE_SLOTS = {(v.name, v.partner): i for i, v in enumerate(STATE_VARIABLES)}
REGION_SLOTS = {v.name: i for i, v in enumerate(REGION_VARIABLES)}
ALL_VARIABLES = STATE_VARIABLES + REGION_VARIABLES


def column_name(v: Variable) -> str:
    """A variable's column in the wide tables: ``name.PARTNER``, or ``name`` without a partner or for region-only."""
    return v.name if v.partner is Partner.NONE else f"{v.name}.{v.partner.value}"


STATE_COLUMNS = tuple(column_name(v) for v in STATE_VARIABLES)
REGION_COLUMNS = tuple(v.name for v in REGION_VARIABLES)


def column_names() -> tuple[str, ...]:
    """The value columns of the wide table: state variables (``name.PARTNER``), then region-only variables."""
    return STATE_COLUMNS + REGION_COLUMNS
VARIABLE_NAMES = tuple(dict.fromkeys(v.name for v in ALL_VARIABLES))


def variables_markdown() -> str:
    """The reference table of output variables (docs/variables.md is this text; a test keeps it current)."""
    lines = ["# Output variables", "",
             "Generated by `python -m model.schema > docs/variables.md` from `model/schema.py`; do not edit by hand.",
             "Columns of every output frame: `" + ", ".join(COLUMNS) + "`. Rows with `iso3 = LAC` aggregate the 33 "
             "states within each run (`sum` or `mean` below); `only` marks series that exist for the region alone.", "",
             "| variable | channel | partner | LAC row | unit | meaning |", "|---|---|---|---|---|---|"]
    for v in ALL_VARIABLES:
        lines.append(f"| `{v.name}` | {v.channel.value} | {v.partner.value or '(none)'} | {v.lac} | {v.unit} | "
                     f"{v.doc} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(variables_markdown(), end="")
