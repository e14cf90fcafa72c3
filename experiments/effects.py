"""Scenario effects measured: whether the forecast bears out what each scenario declares (:mod:`common.effects`).

The statistic of an effect in one run is the sum of the variable over the span's years at that row (a single year's
value when start = end). For a scenario and its reference, run by run with the same draw and seed (common random
numbers), the paired difference is scenario minus reference; :func:`summarise` reports its median and 5/95%
quantiles, ``p_declared_sign`` (the share of pairs whose difference has the declared sign strictly; ties count
against), ``p_tie`` and ``p_opposite_sign`` (the shares of pairs with no difference and with the other sign: the
three sum to one, so a weak effect shows whether runs disagree with it or only leave it unmoved), ``holds``
(``p_declared_sign`` >= :data:`HOLDS`), and which calibrated parameters drive it: the Spearman
correlation across draws of the draw's mean difference (over seeds) with each parameter; ``driving_parameters`` are
those with |rho| >= :data:`DRIVER_RHO`, strongest first, and ``prior_driven`` is True when any of them is flagged
prior-driven in the calibration's ``prior_driven.csv``. :mod:`experiments.tables` builds the ``scenario_effects``
table with these functions in the same pass as its other tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from common.effects import Effect

# judgement: a declared effect "holds" when at least 4 paired runs in 5 show it.
HOLDS = 0.8
# judgement: |Spearman rho| of 0.3 between a draw's mean difference and a parameter marks the parameter as driving it
# (with 500 draws, |rho| >= 0.3 is far beyond chance: its null sd is about 0.045).
DRIVER_RHO = 0.3
TABLE_COLUMNS = ("scenario", "variable", "iso3", "year_start", "year_end", "sign", "outcome", "n_pairs", "median",
                 "q05", "q95", "p_declared_sign", "p_tie", "p_opposite_sign", "holds", "prior_driven",
                 "driving_parameters", "why")


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
                "p_tie": np.nan, "p_opposite_sign": np.nan, "holds": False, "prior_driven": False,
                "driving_parameters": ""}
    flat = diff.ravel()
    flat = flat[np.isfinite(flat)]
    n = int(flat.size)
    if n == 0:
        q05 = median = q95 = p = tie = opposite = np.nan
    else:
        q05, median, q95 = (float(v) for v in np.quantile(flat, (0.05, 0.5, 0.95)))
        p = float(((flat > 0) if sign == "+" else (flat < 0)).mean())
        tie = float((flat == 0).mean())
        opposite = float(((flat < 0) if sign == "+" else (flat > 0)).mean())
    drivers = drivers_of(diff, params)
    return {"n_pairs": n, "median": median, "q05": q05, "q95": q95, "p_declared_sign": p, "p_tie": tie,
            "p_opposite_sign": opposite, "holds": bool(n > 0 and p >= HOLDS),
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
           "p_declared_sign": "float64", "p_tie": "float64", "p_opposite_sign": "float64"}


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
                     "P(sign)": num(r.p_declared_sign), "P(tie)": num(r.p_tie),
                     "P(opposite)": num(r.p_opposite_sign), "holds": "yes" if r.holds else "**no**",
                     "prior_driven": "true" if r.prior_driven else "false",
                     "driving parameters": r.driving_parameters or "–"})
    return pd.DataFrame(rows, columns=["scenario", "effect", "outcome", "pairs", "difference", "P(sign)", "P(tie)",
                                       "P(opposite)", "holds", "prior_driven", "driving parameters"])
