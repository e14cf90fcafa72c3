"""The historical record the model is calibrated to: ``data/observations.csv``, loaded and validated.

Each row is one dated, counted or stated fact from the source article (Kashin & Kosevich 2024), with the window it
covers, how precise the article is about it (``year_tolerance``, ``tolerance``: the rule is written in
``data/OBSERVATIONS.md`` before any value), and, where the model can speak to it, the output ``variable`` and the
``statistic`` that reduces the model's output to the number compared. Context rows (trade, Africa, the authors'
explanations) are kept beside the targets so that the record is complete and every omission is visible.

A bad file stops the load with :class:`model.data.DataError`: one line naming the file, the row (1-based, header =
row 1, as in :mod:`model.data`) and the column.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from pathlib import Path

import pandas as pd

from model.data import DATA_DIR, ISO3, DataError
from model.schema import ALL_VARIABLES, VARIABLE_NAMES, Channel

OBSERVATIONS_PATH = DATA_DIR / "observations.csv"
# The frozen target set: the fit rows as they define targets (not their prose), hashed. Changing a target or a
# tolerance needs a commit that refreezes it and says why, here and in data/OBSERVATIONS.md; never to raise a score.
FROZEN_TARGETS_PATH = DATA_DIR / "targets_frozen.json"
FROZEN_COLUMNS = ("id", "year_start", "year_end", "year_tolerance", "iso3", "channel", "variable", "statistic", "kind",
                  "relation", "value", "value_low", "value_high", "unit", "tolerance")
REPO_DIR = DATA_DIR.parent

COLUMNS = (
    "id", "year_start", "year_end", "year_tolerance", "iso3", "channel", "variable", "statistic", "kind", "relation",
    "value", "value_low", "value_high", "unit", "tolerance", "source", "use", "note",
)
# The article's record starts with the first PLA Navy visit (1997); 2040 is the model's forecast horizon.
YEAR_MIN, YEAR_MAX = 1997, 2040
REGIONS = ("LAC", "AFR")
CHANNELS = tuple(c.value for c in Channel) + ("trade", "context")
KINDS = ("event", "count", "level", "trend", "pattern")
RELATIONS = ("eq", "ge", "le", "between")
USES = ("fit", "context")
# How a fit row reduces model output to one number (data/OBSERVATIONS.md, section 2).
STATISTICS = (
    "sum", "states_any", "states_by", "years_any", "first_year", "last_year", "peak_year", "top_states", "pct_change",
    "pct_of_lac_imports", "pct_of_south_america_imports",
)
# Statistics that test "x > 0" and so accept a threshold suffix "@k" (test "x >= k" instead).
THRESHOLD_STATISTICS = ("states_any", "states_by", "years_any", "first_year", "last_year")
_STATISTIC = re.compile(r"^(?P<base>[a-z_]+)(?:@(?P<k>\d+(?:\.\d+)?))?$")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# A variable's channel, so that a row cannot file (say) a co-production deal under arms.
_VARIABLE_CHANNEL = {v.name: v.channel.value for v in ALL_VARIABLES}
_CATEGORIES = {"channel": CHANNELS, "kind": KINDS, "relation": RELATIONS, "use": USES}


def load_observations(path: Path | str | None = None) -> pd.DataFrame:
    """Read and validate the observations file.

    Args:
        path: the CSV to read; ``None`` reads the shipped ``data/observations.csv`` of this repository.

    Returns:
        One row per observation, columns in :data:`COLUMNS` order plus ``iso3_list`` (a tuple of the ``iso3`` items).
        Years are ``int64``; ``value``, ``value_low``, ``value_high`` and ``tolerance`` are ``float64`` (NaN where
        empty); ``channel``, ``kind``, ``relation`` and ``use`` are categorical; other text columns are ``str``
        (empty string where empty).

    Raises:
        DataError: the file is missing or unreadable, lacks a column, or a cell breaks a rule; the message is one line
            naming the file and, for a cell, its row and column.
    """
    path = OBSERVATIONS_PATH if path is None else Path(path)
    name = _display_name(path)
    if not path.is_file():
        raise _fail(name, None, None, "file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _fail(name, None, None, f"unreadable CSV ({str(exc).strip().splitlines()[0]})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise _fail(name, None, missing[0], f"missing column; expected columns: {', '.join(COLUMNS)}")
    if df.empty:
        raise _fail(name, None, None, "no rows")
    # Short rows leave NaN even with keep_default_na=False; treat them as empty cells so the checks name the cell.
    df = df.fillna("")

    _check_ids(df, name)
    years = {col: _integers(df, name, col) for col in ("year_start", "year_end", "year_tolerance")}
    for i, (a, b) in enumerate(zip(years["year_start"], years["year_end"], strict=True)):
        if not YEAR_MIN <= a <= YEAR_MAX:
            raise _fail(name, i + 2, "year_start", f"{a} is out of range; allowed [{YEAR_MIN}, {YEAR_MAX}]")
        if not YEAR_MIN <= b <= YEAR_MAX:
            raise _fail(name, i + 2, "year_end", f"{b} is out of range; allowed [{YEAR_MIN}, {YEAR_MAX}]")
        if a > b:
            raise _fail(name, i + 2, "year_end", f"{b} is before year_start {a}")
    for i, t in enumerate(years["year_tolerance"]):
        if t < 0:
            raise _fail(name, i + 2, "year_tolerance", f"{t} is negative")
    for col, allowed in _CATEGORIES.items():
        _check_enum(df, name, col, allowed)
    iso3_lists = _iso3_lists(df, name)
    numbers = {col: _optional_numbers(df, name, col) for col in ("value", "value_low", "value_high", "tolerance")}
    _check_values(df, name, numbers)
    _check_targets(df, name, years, iso3_lists)
    for col in ("source", "note"):
        empty = df[col].str.strip() == ""
        if empty.any():
            raise _fail(name, _first(empty), col, "empty; every observation needs a source and a note")

    out = df.loc[:, list(COLUMNS)].copy()
    for col, vals in years.items():
        out[col] = pd.Series(vals, index=out.index, dtype="int64")
    for col, vals in numbers.items():
        out[col] = pd.Series(vals, index=out.index, dtype="float64")
    for col, allowed in _CATEGORIES.items():
        out[col] = pd.Categorical(out[col], categories=list(allowed))
    out["iso3_list"] = pd.Series(iso3_lists, index=out.index, dtype=object)
    return out.reset_index(drop=True)


def _display_name(path: Path) -> str:
    """The file as a user would name it: relative to the repository where it lies inside it."""
    try:
        return str(path.resolve().relative_to(REPO_DIR))
    except ValueError:
        return str(path)


def _fail(file: str, row: int | None, column: str | None, msg: str) -> DataError:
    where = file + (f", row {row}" if row is not None else "") + (f", column {column}" if column else "")
    return DataError(f"{where}: {msg}")


def _first(mask: pd.Series) -> int:
    """The file row (header = 1) of the first True in a row mask."""
    return int(mask.to_numpy().nonzero()[0][0]) + 2


def _check_ids(df: pd.DataFrame, name: str) -> None:
    for i, ident in enumerate(df["id"]):
        if not _ID.match(ident):
            raise _fail(name, i + 2, "id", f"{ident!r} is not a short id (lower-case letters, digits, '_')")
    dup = df["id"].duplicated(keep="first")
    if dup.any():
        raise _fail(name, _first(dup), "id", f"duplicate id {df['id'].iloc[_first(dup) - 2]!r}")


def _integers(df: pd.DataFrame, name: str, col: str) -> list[int]:
    out = []
    for i, cell in enumerate(df[col]):
        number = _parse(cell)
        if number is None or not number.is_integer():
            raise _fail(name, i + 2, col, f"{cell!r} is not a whole number")
        out.append(int(number))
    return out


def _parse(cell: str) -> float | None:
    """A finite number, or None; pandas' to_numeric would accept 'inf' and 'nan', which a record must not hold."""
    try:
        number = float(cell)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _optional_numbers(df: pd.DataFrame, name: str, col: str) -> list[float]:
    out = []
    for i, cell in enumerate(df[col]):
        if cell.strip() == "":
            out.append(math.nan)
            continue
        number = _parse(cell)
        if number is None:
            raise _fail(name, i + 2, col, f"{cell!r} is not a number (leave the cell empty if unused)")
        out.append(number)
    return out


def _check_enum(df: pd.DataFrame, name: str, col: str, allowed: tuple[str, ...]) -> None:
    bad = ~df[col].isin(allowed)
    if bad.any():
        i = _first(bad)
        raise _fail(name, i, col, f"{df[col].iloc[i - 2]!r}; allowed: {', '.join(allowed)}")


def _iso3_lists(df: pd.DataFrame, name: str) -> list[tuple[str, ...]]:
    out = []
    for i, (cell, use) in enumerate(zip(df["iso3"], df["use"], strict=True)):
        items = tuple(cell.split(";"))
        for item in items:
            if item not in ISO3 and item not in REGIONS:
                raise _fail(name, i + 2, "iso3", f"unknown code {item!r}; allowed: the 33 CELAC ISO3 codes, LAC, AFR "
                                                  "(';'-separated, no spaces)")
        if len(set(items)) < len(items):
            raise _fail(name, i + 2, "iso3", f"{cell!r} repeats a code")
        # A region stands for a whole set of states, so it cannot be listed beside states.
        if len(items) > 1 and set(items) & set(REGIONS):
            raise _fail(name, i + 2, "iso3", f"{cell!r} mixes a region with other codes")
        if items == ("AFR",) and use != "context":
            raise _fail(name, i + 2, "use", "an Africa comparison (iso3 AFR) can only be context")
        out.append(items)
    return out


def _check_values(df: pd.DataFrame, name: str, numbers: dict[str, list[float]]) -> None:
    for i, relation in enumerate(df["relation"]):
        value, low, high = (numbers[c][i] for c in ("value", "value_low", "value_high"))
        if relation == "between":
            for col, v in (("value_low", low), ("value_high", high)):
                if math.isnan(v):
                    raise _fail(name, i + 2, col, "empty; relation between needs value_low and value_high")
            if low > high:
                raise _fail(name, i + 2, "value_high", f"{high:g} is below value_low {low:g}")
        else:
            if math.isnan(value):
                raise _fail(name, i + 2, "value", f"empty; relation {relation} needs a value")
            for col, v in (("value_low", low), ("value_high", high)):
                if not math.isnan(v):
                    raise _fail(name, i + 2, col, f"set, but relation is {relation}; use relation between for a range")
        tolerance = numbers["tolerance"][i]
        if math.isnan(tolerance) or tolerance < 0:
            raise _fail(name, i + 2, "tolerance", f"{df['tolerance'].iloc[i]!r}; a number >= 0 is required")


def _check_targets(df: pd.DataFrame, name: str, years: dict[str, list[int]], iso3_lists: list[tuple[str, ...]]) -> None:
    """Variable, channel, statistic and use must agree: a fit row is one the calibration can compute."""
    for i, row in enumerate(df.itertuples(index=False)):
        variable, statistic = row.variable, row.statistic
        if variable:
            if variable not in VARIABLE_NAMES:
                raise _fail(name, i + 2, "variable", f"{variable!r} is not a model output; see docs/variables.md")
            if _VARIABLE_CHANNEL[variable] != row.channel:
                raise _fail(name, i + 2, "channel", f"{row.channel!r}, but {variable} belongs to channel "
                                                    f"{_VARIABLE_CHANNEL[variable]!r}")
        if statistic:
            match = _STATISTIC.match(statistic)
            base = match["base"] if match else None
            if base not in STATISTICS or (match["k"] and base not in THRESHOLD_STATISTICS):
                raise _fail(name, i + 2, "statistic", f"{statistic!r}; allowed: {', '.join(STATISTICS)} "
                                                      f"(threshold '@k' only on {', '.join(THRESHOLD_STATISTICS)})")
            if not variable:
                raise _fail(name, i + 2, "variable", f"empty, but statistic {statistic!r} needs a variable")
            span = years["year_end"][i] - years["year_start"][i] + 1
            # pct_change compares the two halves of the window, so the halves must be equal.
            if base == "pct_change" and span % 2:
                raise _fail(name, i + 2, "year_end", f"pct_change needs a window of even length, got {span} years")
            if base == "top_states" and iso3_lists[i] == ("LAC",):
                raise _fail(name, i + 2, "iso3", "top_states needs the states that rank first, not LAC")
        if row.use == "fit":
            if not variable:
                raise _fail(name, i + 2, "variable", "empty; use fit needs a model output (else use context)")
            if not statistic:
                raise _fail(name, i + 2, "statistic", "empty; use fit needs a statistic (data/OBSERVATIONS.md §2)")


def fit_snapshot(observations: pd.DataFrame) -> dict:
    """The ``use = fit`` rows' defining columns (FROZEN_COLUMNS) in file order, and their SHA-256."""
    fit = observations[observations.use == "fit"]
    rows = [{c: (None if isinstance(v, float) and math.isnan(v) else v.item() if hasattr(v, "item") else v)
             for c, v in zip(FROZEN_COLUMNS, row, strict=True)}
            for row in fit[list(FROZEN_COLUMNS)].itertuples(index=False)]
    payload = json.dumps(rows, sort_keys=True, separators=(",", ":"), default=str)
    return {"sha256": hashlib.sha256(payload.encode()).hexdigest(), "rows": len(rows), "targets": rows}


def check_frozen_targets(observations: pd.DataFrame, path: Path = FROZEN_TARGETS_PATH) -> str:
    """The frozen target set's hash; DataError (one line) when the fit rows differ from it."""
    name = _display_name(path)
    if not path.is_file():
        raise _fail(name, None, None, "file not found; freeze the target set with python -m calibration.observations "
                    "freeze")
    frozen = json.loads(path.read_text(encoding="utf-8"))
    now = fit_snapshot(observations)
    if now["sha256"] != frozen.get("sha256"):
        # strict=False: the two lists may differ in length; the symmetric difference names added and removed rows.
        changed = sorted({r["id"] for r in now["targets"]} ^ {r["id"] for r in frozen.get("targets", [])}
                         | {a["id"] for a, b in zip(now["targets"], frozen.get("targets", []), strict=False) if a != b})
        raise _fail(name, None, None, f"the fit rows of data/observations.csv differ from the frozen target set "
                    f"({', '.join(changed[:5]) or 'order'}{' ...' if len(changed) > 5 else ''}); allowed: the frozen "
                    "rows, or a separate commit that refreezes them (python -m calibration.observations freeze) and "
                    "says why in its message and in data/OBSERVATIONS.md")
    return now["sha256"]


if __name__ == "__main__":
    # python -m calibration.observations: check the fit rows against the frozen target set; "freeze": rewrite it.
    if sys.argv[1:] not in ([], ["freeze"]):
        sys.exit(f"error: arguments: {' '.join(sys.argv[1:])!r}; allowed: none (check the fit rows against the frozen "
                 "target set) or freeze (rewrite it)")
    current = fit_snapshot(load_observations())
    if sys.argv[1:] == ["freeze"]:
        FROZEN_TARGETS_PATH.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"froze {current['rows']} fit rows: sha256 {current['sha256']} in {FROZEN_TARGETS_PATH}")
    else:
        try:
            print(f"{current['rows']} fit rows match the frozen target set: sha256 "
                  f"{check_frozen_targets(load_observations())}")
        except DataError as exc:
            sys.exit(f"error: {exc}")
