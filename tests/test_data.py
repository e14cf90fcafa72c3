"""Tests of :mod:`model.data`: the shipped inputs load, agree with the raw files, and bad files are refused.

Three groups:

* The shipped ``data/`` folder loads into arrays of the documented shapes and ranges, with the recognition history
  written in ``data/README.md``.
* A few numbers recomputed by hand from ``data/raw/`` with the ``csv`` module (never with model code), so that a bug in
  the pandas pipeline cannot hide behind a test that repeats it.
* Bad files: each case copies ``data/`` to a temporary folder, applies one defect and expects a one-line
  :class:`~model.data.DataError` naming the file and, for row-level defects, the row and column.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import statistics
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from model.data import (
    DATA_DIR,
    HIST_END,
    HIST_START,
    ISO3,
    DataError,
    ModelData,
    _us_deflator,
    contract_size,
    import_intensity,
    load_data,
    military_budget,
)
from model.schema import IMPORT_SUPPLIERS, Partner

N_YEARS = HIST_END - HIST_START + 1
SIPRI_RAW = "raw/lac_deliveries_1995_2024_excl_china.csv"
UNGA_RAW = "raw/ideal_points_lac_chn_usa_1995_2023.csv"
GDP_RAW = "raw/gdp_current_usd_lac_chn_usa_1990_2022.csv"
MILEX_RAW = "raw/milex_lac_chn_usa_1995_2023.csv"


@pytest.fixture(scope="module")
def data() -> ModelData:
    """The shipped data, loaded once here (independent of conftest.py's fixture of the same name)."""
    return load_data()


def _rows(rel: str, data_dir: Path = DATA_DIR) -> list[dict[str, str]]:
    with open(data_dir / rel, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _t(year: int) -> int:
    return year - HIST_START


def _j(iso3: str) -> int:
    return ISO3.index(iso3)


# --- the shipped data ------------------------------------------------------------------------------------------------


def test_states_are_the_33_celac_codes_in_sorted_order(data: ModelData) -> None:
    assert len(data.iso3) == 33
    assert list(data.iso3) == sorted(set(data.iso3))
    # Every static attribute is indexed by the same states.
    assert all(len(v) == 33 for v in data.country.values())


@pytest.mark.parametrize("name", [
    "gdp_usd_m", "milex_share", "alignment_unga", "orientation", "fiscal_stress", "recognises_beijing",
    "space_schedule",
])
def test_year_by_state_arrays_cover_2000_to_2023(data: ModelData, name: str) -> None:
    assert N_YEARS == 24
    assert getattr(data, name).shape == (24, 33)


@pytest.mark.parametrize("name", ["sipri_imports", "legacy_deliveries", "embargo"])
def test_year_state_supplier_arrays(data: ModelData, name: str) -> None:
    assert getattr(data, name).shape == (24, 33, len(IMPORT_SUPPLIERS))


@pytest.mark.parametrize("name", ["us_china_tension", "commodity_index", "pla_navy_reach", "russia_availability"])
def test_global_drivers_cover_every_year(data: ModelData, name: str) -> None:
    series = data.drivers[name]
    assert series.shape == (24,)
    assert np.isfinite(series).all()


@pytest.mark.parametrize(("name", "low", "high"), [
    ("fiscal_stress", 0.0, 1.0),
    ("orientation", -1.0, 1.0),
    ("alignment_unga", -1.0, 1.0),
    ("milex_share", 0.0, 0.2),
])
def test_values_in_documented_ranges(data: ModelData, name: str, low: float, high: float) -> None:
    values = getattr(data, name)
    assert np.isfinite(values).all()
    assert values.min() >= low
    assert values.max() <= high


def test_recognition_is_zero_or_one(data: ModelData) -> None:
    assert set(np.unique(data.recognises_beijing)) <= {0.0, 1.0}


def test_gdp_positive_and_finite(data: ModelData) -> None:
    assert np.isfinite(data.gdp_usd_m).all()
    assert (data.gdp_usd_m > 0).all()


def test_recognition_of_taipei_2000_and_2023(data: ModelData) -> None:
    taipei_2000 = {c for c, b in zip(data.iso3, data.recognises_beijing[_t(2000)], strict=True) if b == 0}
    taipei_2023 = {c for c, b in zip(data.iso3, data.recognises_beijing[_t(2023)], strict=True) if b == 0}
    assert len(taipei_2000) == 14
    assert taipei_2000 == {"BLZ", "CRI", "DMA", "DOM", "SLV", "GRD", "GTM", "HTI", "HND", "NIC", "PAN", "PRY", "KNA",
                           "VCT"}
    assert taipei_2023 == {"BLZ", "GTM", "HTI", "PRY", "KNA", "LCA", "VCT"}


@pytest.mark.parametrize(("iso3", "year", "beijing"), [
    ("PAN", 2016, 0.0),
    ("PAN", 2017, 1.0),  # a switch takes effect in its own year
    ("LCA", 2006, 1.0),
    ("LCA", 2007, 0.0),  # the one switch back to Taipei
    ("LCA", 2023, 0.0),
    ("HND", 2022, 0.0),
    ("HND", 2023, 1.0),
])
def test_recognition_switches(data: ModelData, iso3: str, year: int, beijing: float) -> None:
    assert data.recognises_beijing[_t(year), _j(iso3)] == beijing


def test_hashes_cover_every_csv_with_its_sha256(data: ModelData) -> None:
    # Every CSV shipped in data/ is an input (but the calibration targets, whose hash calibration outputs record, the
    # input audit, a registry about the inputs that no run reads, and the world totals that priors' ceilings were
    # computed from, which runs record as the priors themselves); one missing from the hashes would be unrecorded
    # provenance.
    csv_files = {p.relative_to(DATA_DIR).as_posix() for p in DATA_DIR.rglob("*.csv")} - {
        "observations.csv", "input_audit.csv", "world_totals.csv"}
    assert csv_files <= set(data.hashes)
    for rel, digest in data.hashes.items():
        assert len(digest) == 64
        assert digest == hashlib.sha256((DATA_DIR / rel).read_bytes()).hexdigest(), rel


def test_china_column_of_sipri_imports_is_zero(data: ModelData) -> None:
    # China's SIPRI rows are held out for calibration; any TIV here would leak the target into the inputs.
    k = IMPORT_SUPPLIERS.index(Partner.CHN)
    assert (data.sipri_imports[:, :, k] == 0).all()
    assert (data.installed_base_1995_1999[:, k] == 0).all()
    # The held-out column must not be trivially empty because everything is empty.
    assert data.sipri_imports.sum() > 0


def test_legacy_deliveries_are_part_of_imports(data: ModelData) -> None:
    assert (data.legacy_deliveries >= 0).all()
    assert (data.legacy_deliveries <= data.sipri_imports + 1e-12).all()
    assert data.legacy_deliveries.sum() > 0


# --- numbers checked by hand against data/raw -------------------------------------------------------------------------


@pytest.mark.parametrize(("recipient", "iso3"), [("Brazil", "BRA"), ("Chile", "CHL"), ("Saint Lucia", "LCA")])
def test_sipri_tiv_total_matches_raw_file(data: ModelData, recipient: str, iso3: str) -> None:
    expected = sum(float(r["TIV delivery values"]) for r in _rows(SIPRI_RAW)
                   if r["Recipient"] == recipient and HIST_START <= int(r["Delivery year"]) <= HIST_END)
    assert data.sipri_imports[:, _j(iso3), :].sum() == pytest.approx(expected, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(("recipient", "iso3"), [("Venezuela", "VEN"), ("Colombia", "COL"), ("Saint Lucia", "LCA")])
def test_sipri_deals_ordered_count_the_raw_files_deals(data: ModelData, recipient: str, iso3: str) -> None:
    """Distinct SIPRI deal ids ordered 2000-2019, one per deal however many delivery rows it has."""
    expected = {r["SIPRI AT Database ID"] for r in _rows(SIPRI_RAW)
                if r["Recipient"] == recipient and HIST_START <= int(r["Order date"]) <= 2019}
    assert data.sipri_deals_ordered[_j(iso3)] == len(expected)
    rows = sum(1 for r in _rows(SIPRI_RAW)
               if r["Recipient"] == recipient and HIST_START <= int(r["Order date"]) <= 2019)
    if iso3 != "LCA":  # a deal delivered over several years has several rows: the count is of deals, not rows
        assert rows > len(expected) > 0


def test_brazil_us_tiv_by_year_matches_raw_file(data: ModelData) -> None:
    us_suppliers = {r["supplier"] for r in _rows("sipri_supplier_map.csv") if r["partner"] == "USA"}
    expected = np.zeros(N_YEARS)
    for r in _rows(SIPRI_RAW):
        year = int(r["Delivery year"])
        if r["Recipient"] == "Brazil" and r["Supplier"] in us_suppliers and HIST_START <= year <= HIST_END:
            expected[_t(year)] += float(r["TIV delivery values"])
    assert expected.sum() > 0  # otherwise the comparison below proves nothing
    got = data.sipri_imports[:, _j("BRA"), IMPORT_SUPPLIERS.index(Partner.USA)]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_budget_takes_sipri_constant_dollars_where_sound(data: ModelData) -> None:
    # Brazil's constant-dollar series is complete and near GDP x share: it is the budget, read here with csv.
    with (DATA_DIR / MILEX_RAW).open(newline="", encoding="utf-8") as fh:
        bra = {int(r["year"]): float(r["milex_constant_2022_usd_m"]) for r in csv.DictReader(fh) if r["iso3"] == "BRA"}
    assert data.budget_usd_m[:, _j("BRA")] == pytest.approx([bra[y] for y in range(HIST_START, HIST_END + 1)])
    # Venezuela's series is broken by hyperinflation, Panama's is zero (no armed forces): GDP x share stands.
    for iso in ("VEN", "PAN"):
        j = _j(iso)
        assert data.budget_usd_m[:, j] == pytest.approx(data.gdp_usd_m[:, j] * data.milex_share[:, j])


def test_military_budget_rule_by_hand() -> None:
    gdp, share = np.full((3, 4), 1000.0), np.full((3, 4), 0.02)  # GDP x share = 20 everywhere
    constant = np.array([[18.0, 0.02, np.nan, 41.0], [22.0, 0.03, 20.0, 39.0], [19.0, 0.02, 21.0, 40.0]])
    budget = military_budget(gdp, share, constant)
    # Sound (ratio 0.95), broken (ratio 0.001), incomplete, and at the bound (ratio 2): kept, replaced, replaced, kept.
    assert budget[:, 0].tolist() == [18.0, 22.0, 19.0]
    assert budget[:, 1].tolist() == [20.0, 20.0, 20.0]
    assert budget[:, 2].tolist() == [20.0, 20.0, 20.0]
    assert budget[:, 3].tolist() == [41.0, 39.0, 40.0]


def test_import_intensity_by_hand() -> None:
    imports, budget = np.array([30.0, 0.0, 10.0]), np.array([1000.0, 9000.0, 0.0])
    regional = 40.0 / 10000.0
    expected = [(30 + 1000 * regional) / 2000 / regional, (0 + 1000 * regional) / 10000 / regional,
                (10 + 1000 * regional) / 1000 / regional]
    assert import_intensity(imports, budget, pseudo=1000.0) == pytest.approx(expected)
    # The regional ratio maps to 1 however large the pseudo-budget; none shrinks nothing.
    assert import_intensity(np.array([4.0, 8.0]), np.array([100.0, 200.0])) == pytest.approx([1.0, 1.0])
    assert import_intensity(imports[:2], budget[:2], pseudo=0.0) == pytest.approx([0.03 / 0.003, 0.0])


def test_contract_size_is_least_squares_on_log_budget() -> None:
    import pandas as pd

    budget = np.array([10.0, 100.0, 1000.0])
    deals = pd.DataFrame({"state": [0, 0, 1, 2, 2], "tiv": [2.0, 4.0, 8.0, 40.0, 0.0]})  # a zero-TIV deal is left out
    a, b, sd = contract_size(deals, budget)
    x, y = np.log([10.0, 10.0, 100.0, 1000.0]), np.log([2.0, 4.0, 8.0, 40.0])
    slope, intercept = np.polyfit(x, y, 1)
    resid = y - (intercept + slope * x)
    assert (a, b) == pytest.approx((intercept, slope))
    assert sd == pytest.approx(np.sqrt(resid @ resid / 2))


def test_shipped_contract_law_and_intensity(data: ModelData) -> None:
    _, b, sd = data.contract_size
    # SIPRI deals ordered 1995-1999: larger budgets buy larger items, and sizes are heavy-tailed.
    assert 0.2 < b < 0.5 and 1.0 < sd < 2.0
    assert data.import_intensity.min() > 0
    # Chile and Peru imported far more per dollar in 1995-1999 than Cuba, which imported nothing with a large budget.
    assert (data.import_intensity[_j("CHL")] > 2 and data.import_intensity[_j("PER")] > 2
            and data.import_intensity[_j("CUB")] < 0.2)


def test_us_deflator_is_one_in_2022() -> None:
    assert _us_deflator(DATA_DIR, {}).loc[2022] == pytest.approx(1.0, abs=1e-9)


def test_gdp_2022_equals_world_bank_current_dollars(data: ModelData) -> None:
    # Money is in constant 2022 US$, so 2022 GDP must equal the World Bank's current-dollar figure.
    raw = {r["iso3"]: float(r["gdp_current_usd"]) for r in _rows(GDP_RAW) if r["year"] == "2022"}
    assert data.gdp_usd_m[_t(2022), _j("BRA")] == pytest.approx(raw["BRA"] / 1e6, rel=1e-9)


def test_a_gdp_series_break_grows_the_last_comparable_year(data: ModelData) -> None:
    # Cuba's World Bank dollars jump 4.85-fold in 2021 (the monetary unification): from the break on, its GDP is 2020's
    # grown by the real growth rows, so its budget stays near 2020's instead of reaching Brazil's.
    ext = {int(r["year"]): float(r["real_growth"]) for r in _rows("gdp_extension.csv") if r["iso3"] == "CUB"}
    cub = data.gdp_usd_m[:, _j("CUB")]
    for year in (2021, 2022, 2023):
        assert cub[_t(year)] == pytest.approx(cub[_t(year - 1)] * (1 + ext[year]), rel=1e-12)
    budget = data.budget_usd_m[:, _j("CUB")]
    assert budget[_t(2023)] < 1.1 * budget[_t(2020)] < 0.3 * data.budget_usd_m[_t(2023), _j("BRA")]


@pytest.mark.parametrize(("iso3", "year"), [("BRA", 2010), ("CUB", 2010), ("COL", 2015)])
def test_alignment_is_clipped_distance_from_lac_median(data: ModelData, iso3: str, year: int) -> None:
    points = {r["iso3c"]: float(r["IdealPointAll"]) for r in _rows(UNGA_RAW)
              if r["year"] == str(year) and r["iso3c"] in ISO3}
    assert len(points) == 33  # hand-picked years where every state voted, so no carry-forward is involved
    expected = min(1.0, max(-1.0, statistics.median(points.values()) - points[iso3]))
    assert data.alignment_unga[_t(year), _j(iso3)] == pytest.approx(expected, abs=1e-12)


def test_alignment_signs_follow_the_docstring(data: ModelData) -> None:
    # +1 is the China/ALBA side: Cuba must sit on it, Colombia on the US side (a sign flip would swap them).
    assert data.alignment_unga[_t(2010), _j("CUB")] > 0
    assert data.alignment_unga[_t(2010), _j("COL")] < 0


# --- bad files --------------------------------------------------------------------------------------------------------

Mutation = Callable[[Path], None]


def _read_table(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _write_table(path: Path, table: list[list[str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(table)


def _file_row(rel: str, **match: str) -> int:
    """File row (header = 1) of the first shipped row whose columns equal ``match``; fixes expected row numbers."""
    for i, r in enumerate(_rows(rel), start=2):
        if all(r[k] == v for k, v in match.items()):
            return i
    raise LookupError(f"{rel}: no row with {match}")


def set_cell(row: int, column: str, value: str) -> Mutation:
    def mutate(path: Path) -> None:
        table = _read_table(path)
        table[row - 1][table[0].index(column)] = value
        _write_table(path, table)
    return mutate


def drop_column(column: str) -> Mutation:
    def mutate(path: Path) -> None:
        table = _read_table(path)
        k = table[0].index(column)
        _write_table(path, [r[:k] + r[k + 1:] for r in table])
    return mutate


def append_copy_of(row: int) -> Mutation:
    def mutate(path: Path) -> None:
        table = _read_table(path)
        _write_table(path, table + [list(table[row - 1])])
    return mutate


def delete_row(row: int) -> Mutation:
    def mutate(path: Path) -> None:
        table = _read_table(path)
        _write_table(path, table[:row - 1] + table[row:])
    return mutate


def header_only(path: Path) -> None:
    _write_table(path, _read_table(path)[:1])


def zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def remove(path: Path) -> None:
    path.unlink()


def append_line(line: str) -> Mutation:
    def mutate(path: Path) -> None:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
    return mutate


def drop_rows(column: str, keep: Callable[[str], bool]) -> Mutation:
    def mutate(path: Path) -> None:
        table = _read_table(path)
        col = table[0].index(column)
        _write_table(path, table[:1] + [r for r in table[1:] if keep(r[col])])
    return mutate


def case(case_id: str, rel: str, mutate: Mutation, expected: list[str]):
    """One bad-file case."""
    return pytest.param(rel, mutate, expected, id=case_id)


COMMODITY_2003 = _file_row("global_drivers.csv", year="2003", variable="commodity_index")
TENSION_2005 = _file_row("global_drivers.csv", year="2005", variable="us_china_tension")
ARG_TECH = _file_row("countries.csv", iso3="ARG", attribute="tech_capacity")
ARG_COAST = _file_row("countries.csv", iso3="ARG", attribute="has_coast")
ARG_SUBREGION = _file_row("countries.csv", iso3="ARG", attribute="subregion")
PAN_SWITCH = _file_row("recognition_switches.csv", iso3="PAN")
AUSTRALIA = _file_row("sipri_supplier_map.csv", supplier="Australia")
BRA_GDP_2010 = _file_row(GDP_RAW, iso3="BRA", year="2010")
BRA_UNGA_2010 = _file_row(UNGA_RAW, iso3c="BRA", year="2010")
FIRST_BRAZIL_DELIVERY = _file_row(SIPRI_RAW, Recipient="Brazil")
CHILE_MILEX_2010 = _file_row(MILEX_RAW, iso3="CHL", year="2010")
CHINA_MILEX_2010 = _file_row(MILEX_RAW, iso3="CHN", year="2010")

# (id, file, mutation, substrings the message must contain). Row-level cases name "row N" and the column.
BAD_CASES = [
    case("missing-column", "countries.csv", drop_column("confidence"),
         ["countries.csv", "confidence", "missing column"]),
    case("missing-column-raw", SIPRI_RAW, drop_column("TIV delivery values"), [SIPRI_RAW, "TIV delivery values"]),
    case("unknown-iso3", "governments.csv", set_cell(2, "iso3", "XXX"), ["governments.csv", "row 2", "iso3", "XXX"]),
    case("lowercase-iso3", "fiscal_stress.csv", set_cell(3, "iso3", "arg"), ["fiscal_stress.csv", "row 3", "iso3"]),
    case("duplicate-country-row", "countries.csv", append_copy_of(ARG_TECH),
         ["countries.csv", "row 398", "iso3+attribute", "duplicate"]),
    case("duplicate-recognition-switch", "recognition_switches.csv", append_copy_of(PAN_SWITCH),
         ["recognition_switches.csv", "row 11", "iso3+year", "duplicate"]),
    case("orientation-1.5", "governments.csv", set_cell(2, "orientation", "1.5"),
         ["governments.csv", "row 2", "orientation", "1.5", "out of range"]),
    case("fiscal-stress-negative", "fiscal_stress.csv", set_cell(4, "value", "-0.1"),
         ["fiscal_stress.csv", "row 4", "value", "-0.1"]),
    case("tech-capacity-2", "countries.csv", set_cell(ARG_TECH, "value", "2"),
         ["countries.csv", f"row {ARG_TECH}", "value", "tech_capacity"]),
    case("has-coast-not-whole", "countries.csv", set_cell(ARG_COAST, "value", "0.5"),
         ["countries.csv", f"row {ARG_COAST}", "value", "has_coast"]),
    case("bad-subregion", "countries.csv", set_cell(ARG_SUBREGION, "value", "europe"),
         ["countries.csv", f"row {ARG_SUBREGION}", "value", "subregion"]),
    case("empty-orientation", "governments.csv", set_cell(3, "orientation", ""),
         ["governments.csv", "row 3", "orientation", "not a number"]),
    case("nan-fiscal-stress", "fiscal_stress.csv", set_cell(2, "value", "NaN"),
         ["fiscal_stress.csv", "row 2", "value"]),
    case("inf-growth", "gdp_extension.csv", set_cell(2, "real_growth", "inf"),
         ["gdp_extension.csv", "row 2", "real_growth"]),
    case("empty-country-value", "countries.csv", set_cell(ARG_TECH, "value", ""),
         ["countries.csv", f"row {ARG_TECH}", "value"]),
    case("abc-year", "recognition_switches.csv", set_cell(3, "year", "abc"),
         ["recognition_switches.csv", "row 3", "year", "'abc'"]),
    case("abc-global-driver", "global_drivers.csv", set_cell(COMMODITY_2003, "value", "abc"),
         ["global_drivers.csv", f"row {COMMODITY_2003}", "value"]),
    case("abc-raw-gdp", GDP_RAW, set_cell(BRA_GDP_2010, "gdp_current_usd", "abc"),
         [GDP_RAW, f"row {BRA_GDP_2010}", "gdp_current_usd"]),
    case("abc-raw-ideal-point", UNGA_RAW, set_cell(BRA_UNGA_2010, "IdealPointAll", "abc"),
         [UNGA_RAW, f"row {BRA_UNGA_2010}", "IdealPointAll"]),
    case("abc-raw-milex-share", MILEX_RAW, set_cell(CHILE_MILEX_2010, "milex_share_of_gdp", "abc"),
         [MILEX_RAW, f"row {CHILE_MILEX_2010}", "milex_share_of_gdp"]),
    case("china-milex-year-missing", MILEX_RAW, delete_row(CHINA_MILEX_2010),
         [MILEX_RAW, "milex_constant_2022_usd_m", "China"]),
    case("abc-sipri-delivery-year", SIPRI_RAW, set_cell(FIRST_BRAZIL_DELIVERY, "Delivery year", "abc"),
         [SIPRI_RAW, f"row {FIRST_BRAZIL_DELIVERY}", "column Delivery year"]),
    case("no-sipri-deliveries-1995-1999", SIPRI_RAW, drop_rows("Delivery year", lambda v: int(v) >= 2000),
         [SIPRI_RAW, "Delivery year", "no deliveries in 1995-1999"]),
    case("no-sipri-orders-1995-1999", SIPRI_RAW, drop_rows("Order date", lambda v: not 1995 <= int(v) <= 1999),
         [SIPRI_RAW, "Order date", "0 deals", "at least 3"]),
    case("negative-sipri-tiv", SIPRI_RAW, set_cell(FIRST_BRAZIL_DELIVERY, "TIV delivery values", "-1"),
         [SIPRI_RAW, f"row {FIRST_BRAZIL_DELIVERY}", "TIV delivery values"]),
    case("unknown-sipri-recipient", SIPRI_RAW, set_cell(FIRST_BRAZIL_DELIVERY, "Recipient", "Atlantis"),
         [SIPRI_RAW, f"row {FIRST_BRAZIL_DELIVERY}", "Recipient", "Atlantis"]),
    case("header-only", "fiscal_stress.csv", header_only, ["fiscal_stress.csv", "no rows"]),
    case("zero-bytes", "milex_fill.csv", zero_bytes, ["milex_fill.csv", "unreadable"]),
    case("ragged-row", "space_schedule.csv", append_line("BRA,2010,x,judgement,high,note,extra,fields"),
         ["space_schedule.csv"]),
    case("year-uncovered", "governments.csv", set_cell(2, "year_end", "2000"), ["governments.csv", "ARG", "2001"]),
    case("overlapping-periods", "governments.csv", set_cell(3, "year_start", "2001"),
         ["governments.csv", "row 3", "year_start", "overlaps"]),
    case("period-end-before-start", "fiscal_stress.csv", set_cell(2, "year_end", "2000"),
         ["fiscal_stress.csv", "row 2", "year_end"]),
    case("judgement-empty-note", "countries.csv", set_cell(2, "note", ""), ["countries.csv", "row 2", "note"]),
    case("empty-source", "arms_embargoes.csv", set_cell(2, "source", ""), ["arms_embargoes.csv", "row 2", "source"]),
    case("bad-confidence", "global_drivers.csv", set_cell(5, "confidence", "certain"),
         ["global_drivers.csv", "row 5", "confidence", "certain"]),
    case("bad-recognition-value", "recognition_switches.csv", set_cell(2, "recognises", "TWN"),
         ["recognition_switches.csv", "row 2", "recognises", "TWN"]),
    case("recognition-year-not-whole", "recognition_switches.csv", set_cell(2, "year", "2004.5"),
         ["recognition_switches.csv", "row 2", "year"]),
    case("supplier-missing-from-map", "sipri_supplier_map.csv", delete_row(AUSTRALIA),
         ["sipri_supplier_map.csv", "supplier", "Australia"]),
    case("unknown-partner-in-map", "sipri_supplier_map.csv", set_cell(AUSTRALIA, "partner", "MARS"),
         ["sipri_supplier_map.csv", f"row {AUSTRALIA}", "partner", "MARS"]),
    case("unknown-model-category", "sipri_category_map.csv", set_cell(2, "model_category", "spaceship"),
         ["sipri_category_map.csv", "row 2", "model_category"]),
    case("unknown-embargo-partner", "arms_embargoes.csv", set_cell(2, "partner", "MARS"),
         ["arms_embargoes.csv", "row 2", "partner"]),
    case("missing-file", "arms_embargoes.csv", remove, ["arms_embargoes.csv", "not found"]),
    case("missing-raw-file", UNGA_RAW, remove, [UNGA_RAW, "not found"]),
    case("global-driver-year-missing", "global_drivers.csv", delete_row(TENSION_2005),
         ["global_drivers.csv", "us_china_tension", "2005"]),
    case("unknown-global-driver", "global_drivers.csv", set_cell(2, "variable", "moon_phase"),
         ["global_drivers.csv", "row 2", "variable", "moon_phase"]),
    case("unknown-attribute", "countries.csv", set_cell(ARG_COAST, "attribute", "colour"),
         ["countries.csv", f"row {ARG_COAST}", "attribute", "colour"]),
    case("missing-attribute", "countries.csv", delete_row(ARG_COAST), ["countries.csv", "ARG", "has_coast"]),
    case("gdp-extension-overlaps-world-bank", "gdp_extension.csv", set_cell(2, "year", "2010"),
         ["gdp_extension.csv", "row 2", "year", "World Bank"]),
    case("milex-fill-out-of-range", "milex_fill.csv", set_cell(2, "milex_share_of_gdp", "0.5"),
         ["milex_fill.csv", "row 2", "milex_share_of_gdp"]),
    case("gdp-break-unknown-iso3", "gdp_breaks.csv", set_cell(2, "iso3", "XXX"), ["gdp_breaks.csv", "row 2", "XXX"]),
    case("gdp-break-in-2000", "gdp_breaks.csv", set_cell(2, "year", "2000"), ["gdp_breaks.csv", "row 2", "year"]),
    case("gdp-break-unsourced", "gdp_breaks.csv", set_cell(2, "source", ""), ["gdp_breaks.csv", "row 2", "source"]),
    # A break drops the World Bank values from its year on: without growth rows for them the GDP is missing.
    case("gdp-break-without-growth", "gdp_extension.csv", drop_rows("iso3", lambda v: v != "CUB"),
         ["gdp_extension.csv", "CUB", "2021", "growth row"]),
]


@pytest.mark.parametrize(("rel", "mutate", "expected"), BAD_CASES)
def test_bad_file_raises_one_line_data_error(tmp_path: Path, rel: str, mutate: Mutation, expected: list[str]) -> None:
    data_dir = tmp_path / "data"
    shutil.copytree(DATA_DIR, data_dir)
    mutate(data_dir / rel)
    with pytest.raises(DataError) as info:
        load_data(data_dir)
    message = str(info.value)
    assert message and "\n" not in message and "\r" not in message
    # The message starts with the file, so a reader knows where to look before reading the problem.
    assert message.startswith(rel), message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_copied_data_folder_loads(tmp_path: Path) -> None:
    # The bad-file cases rely on an unmutated copy loading; otherwise they could pass for the wrong reason.
    shutil.copytree(DATA_DIR, tmp_path / "data")
    copy = load_data(tmp_path / "data")
    assert copy.hashes == load_data().hashes
