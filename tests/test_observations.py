"""Tests of :mod:`calibration.observations`: the shipped record loads, holds the article's key facts, follows its
written tolerance rule, and bad files are refused.

Three groups:

* The shipped ``data/observations.csv`` loads with the documented dtypes, at least 80 rows and 30 fit targets.
* Specific facts from the article are present with the right windows and values (looked up by id, so a renamed id
  fails loudly rather than silently dropping a target).
* Bad files: each case copies the CSV to a temporary folder, changes one cell (or drops a column) and expects a
  one-line :class:`~model.data.DataError` naming the file and, for cell defects, the row and column.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from calibration.observations import COLUMNS, OBSERVATIONS_PATH, STATISTICS, load_observations
from model.data import DataError
from model.schema import VARIABLE_NAMES

DOC = OBSERVATIONS_PATH.parent / "OBSERVATIONS.md"


@pytest.fixture(scope="module")
def obs() -> pd.DataFrame:
    return load_observations()


def _row(obs: pd.DataFrame, ident: str) -> pd.Series:
    match = obs[obs["id"] == ident]
    assert len(match) == 1, f"no observation {ident!r}"
    return match.iloc[0]


# --- the shipped record ----------------------------------------------------------------------------------------------


def test_shipped_file_loads_with_documented_columns_and_dtypes(obs: pd.DataFrame) -> None:
    assert list(obs.columns) == list(COLUMNS) + ["iso3_list"]
    assert len(obs) >= 80
    assert (obs["use"] == "fit").sum() >= 30
    for col in ("year_start", "year_end", "year_tolerance"):
        assert obs[col].dtype == "int64"
    for col in ("value", "value_low", "value_high", "tolerance"):
        assert obs[col].dtype == "float64"
    for col in ("channel", "kind", "relation", "use"):
        assert isinstance(obs[col].dtype, pd.CategoricalDtype)
    assert all(isinstance(t, tuple) and t for t in obs["iso3_list"])
    assert obs["id"].is_unique


def test_path_argument_accepts_str_and_defaults_to_shipped_file(obs: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(load_observations(str(OBSERVATIONS_PATH)), obs)


def test_fit_rows_name_a_model_output_and_statistic(obs: pd.DataFrame) -> None:
    fit = obs[obs["use"] == "fit"]
    assert fit["variable"].isin(VARIABLE_NAMES).all()
    assert (fit["statistic"] != "").all()
    # Africa and trade are comparisons the model cannot make.
    assert not fit["iso3"].eq("AFR").any()
    assert not fit["channel"].isin(["trade", "context"]).any()


def test_every_channel_has_targets(obs: pd.DataFrame) -> None:
    fit_channels = set(obs.loc[obs["use"] == "fit", "channel"])
    assert {"delegations", "training", "exercises", "port_calls", "forums", "arms", "aid", "space", "surveillance",
            "industrial"} <= fit_channels


def test_rows_follow_the_written_tolerance_rule(obs: pd.DataFrame) -> None:
    """Spot checks of data/OBSERVATIONS.md §1.2, so a later edit cannot loosen one row quietly."""
    assert (obs.loc[obs["kind"] == "event", "tolerance"] == 0).all()
    money = obs[obs["unit"].str.startswith("US$ m")]
    assert len(money) >= 5
    assert ((money["tolerance"] - 0.1 * money["value"]).abs() < 1e-9).all()
    trend = obs[obs["statistic"] == "pct_change"]
    assert (trend["tolerance"] == 10).all()
    ge_counts = obs[(obs["relation"] == "ge") & (obs["kind"] == "count")]
    assert (ge_counts["tolerance"] == ge_counts["value"].mul(0.1).apply(lambda v: max(1, math.ceil(v - 1e-9)))).all()
    year_valued = obs[obs["statistic"].str.match(r"^(first|last|peak)_year")]
    assert year_valued["tolerance"].isin([0, 1, 2]).all()
    assert (year_valued["unit"] == "year").all()


def test_tolerance_rule_comes_first_and_statistics_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0].startswith("## 1. Tolerance rule")
    missing = [s for s in STATISTICS if f"`{s}`" not in text]
    assert not missing, missing


# --- the article's facts ---------------------------------------------------------------------------------------------


def _check(row: pd.Series, years: tuple[int, int], iso3: str, variable: str, relation: str, value: float,
           use: str = "fit") -> None:
    assert (row["year_start"], row["year_end"]) == years
    assert row["iso3"] == iso3
    assert row["variable"] == variable
    assert row["relation"] == relation
    assert row["value"] == value
    assert row["use"] == use


def test_delegations(obs: pd.DataFrame) -> None:
    # Context since docs/ODD.md §10.32: the tour's nine states are the input delegations.tour_size.
    _check(_row(obs, "del_2003_tour"), (2003, 2003), "LAC", "delegation_tour", "eq", 9, use="context")
    row = _row(obs, "del_visits_2000_2022")
    _check(row, (2000, 2022), "LAC", "delegations", "ge", 200)
    assert row["tolerance"] == 20
    assert "[44]" in row["note"]  # the shifted reference is flagged
    row = _row(obs, "train_18_early_2010s")
    _check(row, (2010, 2013), "LAC", "officers_training", "ge", 18)
    assert row["year_tolerance"] == 1 and row["statistic"] == "states_by"


def test_forums(obs: pd.DataFrame) -> None:
    _check(_row(obs, "fora_2015_participants"), (2015, 2015), "LAC", "forum_attends", "eq", 11)
    _check(_row(obs, "fora_2022_participants"), (2022, 2022), "LAC", "forum_attends", "eq", 22)


def test_exercises_and_port_calls(obs: pd.DataFrame) -> None:
    for ident, year, iso3 in (("ex_2010_peace_angel_per", 2010, "PER"), ("ex_2012_peace_angel_per", 2012, "PER"),
                              ("ex_2011_cooperation_ven", 2011, "VEN"), ("ex_2013_chl_naval", 2013, "CHL")):
        _check(_row(obs, ident), (year, year), iso3, "exercise", "ge", 1)
    for year in (2002, 2009, 2012, 2013, 2015):
        _check(_row(obs, f"port_{year}"), (year, year), "LAC", "port_call", "ge", 1)


def test_arms_recipients_and_closed_markets(obs: pd.DataFrame) -> None:
    _check(_row(obs, "arms_recipients_count"), (2000, 2022), "LAC", "china_arms_delivered_tiv", "eq", 7)
    listed = _row(obs, "arms_recipients_listed")
    assert set(listed["iso3_list"]) == {"ARG", "MEX", "BHS", "BOL", "ECU", "PER", "VEN"}
    assert listed["value"] == 7 and listed["statistic"] == "states_any"
    for iso3 in ("BRA", "CHL"):
        _check(_row(obs, f"arms_closed_{iso3.lower()}"), (2000, 2022), iso3, "china_arms_delivered_tiv", "eq", 0)
        _check(_row(obs, f"arms_nodeal_{iso3.lower()}"), (2000, 2022), iso3, "china_arms_deal_signed", "eq", 0)
    _check(_row(obs, "arms_ven_biggest"), (2000, 2022), "VEN", "china_arms_delivered_tiv", "eq", 1)
    peak = _row(obs, "arms_peak_2015")
    assert (peak["statistic"], peak["value"], peak["tolerance"]) == ("peak_year", 2015, 2)
    _check(_row(obs, "arms_bol_2018_donation"), (2018, 2018), "BOL", "china_arms_donation", "ge", 1)
    _check(_row(obs, "arms_per_mbt2000_veto"), (2009, 2022), "PER", "china_arms_deal_vetoed", "ge", 1)
    _check(_row(obs, "ind_arg_2015_mou"), (2015, 2015), "ARG", "china_coproduction_deal", "ge", 1)


def test_sipri_trends_as_printed_with_corrections_noted(obs: pd.DataFrame) -> None:
    row = _row(obs, "sipri_sa_change")
    assert row["value"] == -34 and (row["year_start"], row["year_end"]) == (2013, 2022)
    assert len(row["iso3_list"]) == 12
    assert "2017-2022" in row["note"] and "arms imports" in row["note"]
    assert _row(obs, "sipri_bra_change")["value"] == 48
    assert _row(obs, "sipri_chl_change")["value"] == 56
    assert _row(obs, "sipri_bra_chl_share")["value"] == 68


def test_aid_and_surveillance_levels(obs: pd.DataFrame) -> None:
    _check(_row(obs, "aid_per_2017"), (2017, 2017), "PER", "china_aid_usd_m", "eq", 18)
    _check(_row(obs, "aid_arg_2018"), (2018, 2018), "ARG", "china_aid_usd_m", "eq", 18)
    assert _row(obs, "aid_per_2017")["unit"] == "US$ m (current)"
    _check(_row(obs, "surv_ecu_2018_cameras"), (2018, 2018), "ECU", "surveillance_cameras", "eq", 4300)
    first = _row(obs, "surv_first_year_2007")
    assert (first["statistic"], first["value"], first["tolerance"]) == ("first_year", 2007, 0)
    _check(_row(obs, "surv_mex_2007_subnational"), (2007, 2007), "MEX", "surveillance_level", "eq", 1)
    loan = _row(obs, "surv_ecu_2012_loan")
    assert loan["use"] == "context" and "misprint" in loan["note"]


def test_context_rows_for_what_the_model_cannot_say(obs: pd.DataFrame) -> None:
    for ident in ("intro_trade_lac_2021", "pk_afr_40000", "pk_hti_2004_2010", "ind_bra_embraer_harbin"):
        row = _row(obs, ident)
        assert row["use"] == "context" and row["variable"] == ""


# --- bad files -------------------------------------------------------------------------------------------------------

Rows = list[dict[str, str]]


def _set(ident: str, col: str, value: str) -> Callable[[Rows], None]:
    def mutate(rows: Rows) -> None:
        next(r for r in rows if r["id"] == ident)[col] = value
    return mutate


def _row_number(ident: str) -> int:
    with open(OBSERVATIONS_PATH, encoding="utf-8", newline="") as fh:
        ids = [r["id"] for r in csv.DictReader(fh)]
    return ids.index(ident) + 2


# (case name, id of the row changed, column expected in the message, mutation)
BAD_CELLS = [
    ("empty id", "port_2009", "id", _set("port_2009", "id", "")),
    ("duplicate id", "port_2009", "id", _set("port_2009", "id", "port_2002")),
    ("year not a number", "del_2003_tour", "year_start", _set("del_2003_tour", "year_start", "2003a")),
    ("year not whole", "del_2003_tour", "year_end", _set("del_2003_tour", "year_end", "2003.5")),
    ("year before 1997", "del_2003_tour", "year_start", _set("del_2003_tour", "year_start", "1989")),
    ("year after 2040", "del_2003_tour", "year_end", _set("del_2003_tour", "year_end", "2041")),
    ("start after end", "del_visits_2000_2022", "year_end", _set("del_visits_2000_2022", "year_end", "1999")),
    ("negative year tolerance", "train_18_early_2010s", "year_tolerance",
     _set("train_18_early_2010s", "year_tolerance", "-1")),
    ("unknown iso3", "ex_2013_chl_naval", "iso3", _set("ex_2013_chl_naval", "iso3", "CHN")),
    ("article spelling of a code", "train_col", "iso3", _set("train_col", "iso3", "Columbia")),
    ("region mixed with states", "arms_big4_significant", "iso3",
     _set("arms_big4_significant", "iso3", "LAC;VEN")),
    ("unknown channel", "port_2002", "channel", _set("port_2002", "channel", "navy")),
    ("channel not the variable's", "ind_arg_2015_mou", "channel", _set("ind_arg_2015_mou", "channel", "arms")),
    ("unknown variable", "del_2003_tour", "variable", _set("del_2003_tour", "variable", "delegation_tours")),
    ("unknown statistic", "arms_peak_2015", "statistic", _set("arms_peak_2015", "statistic", "argmax")),
    ("unknown kind", "del_2003_tour", "kind", _set("del_2003_tour", "kind", "fact")),
    ("unknown relation", "del_visits_2000_2022", "relation", _set("del_visits_2000_2022", "relation", "gt")),
    ("value not a number", "fora_2015_participants", "value", _set("fora_2015_participants", "value", "eleven")),
    ("value missing for ge", "del_visits_2000_2022", "value", _set("del_visits_2000_2022", "value", "")),
    ("value infinite", "aid_per_2017", "value", _set("aid_per_2017", "value", "inf")),
    ("between reversed", "del_tour_recurrence", "value_high", _set("del_tour_recurrence", "value_high", "4")),
    ("between without bound", "del_tour_recurrence", "value_low", _set("del_tour_recurrence", "value_low", "")),
    ("negative tolerance", "surv_ecu_2018_cameras", "tolerance", _set("surv_ecu_2018_cameras", "tolerance", "-430")),
    ("unknown use", "port_2002", "use", _set("port_2002", "use", "target")),
    ("fit without variable", "port_2002", "variable", _set("port_2002", "variable", "")),
    ("Africa as a fit", "pk_afr_40000", "use", _set("pk_afr_40000", "use", "fit")),
    ("empty source", "aid_arg_2018", "source", _set("aid_arg_2018", "source", " ")),
    ("empty note", "aid_arg_2018", "note", _set("aid_arg_2018", "note", "")),
]


def _write(tmp_path: Path, mutate: Callable[[Rows], None], drop: str | None = None) -> Path:
    with open(OBSERVATIONS_PATH, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = [f for f in reader.fieldnames or [] if f != drop]
        rows = [{k: v for k, v in r.items() if k != drop} for r in reader]
    mutate(rows)
    path = tmp_path / "observations.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.parametrize(("ident", "column", "mutate"), [c[1:] for c in BAD_CELLS], ids=[c[0] for c in BAD_CELLS])
def test_bad_cell_is_refused_naming_file_row_and_column(tmp_path: Path, ident: str, column: str,
                                                         mutate: Callable[[Rows], None]) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(DataError) as err:
        load_observations(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}, row {_row_number(ident)}, column {column}:"), msg


@pytest.mark.parametrize("column", ["tolerance", "iso3", "statistic"])
def test_missing_column_is_refused_naming_it(tmp_path: Path, column: str) -> None:
    path = _write(tmp_path, lambda rows: None, drop=column)
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}, column {column}: missing column") as err:
        load_observations(path)
    assert "\n" not in str(err.value)


def test_missing_file_and_empty_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_observations(tmp_path / "observations.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.csv: unreadable CSV"):
        load_observations(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text(OBSERVATIONS_PATH.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="no rows"):
        load_observations(header_only)
