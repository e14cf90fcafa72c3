"""The forecast tables, computed scenario by scenario from the ensemble dataset of :mod:`experiments.forecast`.

:func:`compute_tables` reads ``<work>/ensemble`` (one row per draw, seed, year and iso3), ``<work>/events`` (one row
per run) and ``<work>/draws.parquet`` (one row per draw) and returns seven frames, every one sorted and deterministic
(the same inputs give identical frames whatever the order of rows or parts on disk):

``forecast``
    Per scenario, state (and ``LAC``), variable and year from ``first_table_year`` to 2040: median, 5/25/75/95%
    quantiles and mean over every run (draws x seeds), and where the variance comes from.

    *Variance shares.* The runs are nested: draw d (its parameters) -> driver path p (seeds 2p and 2p+1 share the
    drivers' shocks past 2023) -> seed (the model's chance). The shares come from the balanced nested random-effects
    ANOVA Y_dpr = mu + a_d + b_dp + e_dpr, estimated by the method of moments (expected mean squares, as in
    Searle, Casella & McCulloch 1992, ch. 3): with D draws, P = seeds // 2 paths per draw and R = 2 seeds per path
    (an odd last seed is left out of this split only),

        MS_A = P R sum_d (mean_d - mean)^2 / (D - 1),  MS_B = R sum_dp (mean_dp - mean_d)^2 / (D (P - 1)),
        MS_E = sum_dpr (Y_dpr - mean_dp)^2 / (D P (R - 1)),
        var_chance = MS_E,  var_drivers = (MS_B - MS_E) / R,  var_parameters = (MS_A - MS_B) / (P R).

    Each component is truncated at 0 and the three are normalised to sum to 1 (``share_parameters``,
    ``share_drivers``, ``share_chance``). They need at least 2 draws and 4 seeds; otherwise, and for cells that are
    constant over all runs, they are NaN.

    *Prior-driven share.* ``share_prior_driven`` estimates Var(E[Y | theta_pd]) / Var(Y), theta_pd the parameters
    the calibration left prior-driven (``prior_driven.csv``), by given-data regression: the per-draw means over seeds
    are regressed on a quadratic response surface in theta_pd (linear terms, squares and pairwise products of the
    standardised parameters; linear only when there are fewer than 4 draws per term) and
    Var(E[Y | theta_pd]) = SS_tot / (D - 1) - SS_res / (D - rank), the variance the surface explains with the
    degrees-of-freedom correction for overfitting (seed noise in the per-draw means is independent of theta and ends up
    in SS_res). The denominator is the ANOVA total (the sum of the three truncated components). Regression on the
    posterior draws themselves needs no independence between parameters, unlike pick-freeze (Saltelli/Sobol')
    designs, which would have to sample theta_pd apart from the rest; it gives the share of the group jointly (the
    question asked), which per-parameter indices do not; the quadratic surface may miss sharper non-linearity, so the
    share errs low. ``prior_driven`` is True where that share is at least 30%. Without ``prior_driven.csv`` the share
    is NaN, the flag False, and a note says so.

    *Judgement share.* ``share_judgement`` is the same estimate for the judgement axes alone (the fixed behavioural
    parameters the forecasts depend on, drawn per draw over their judgement ranges: :mod:`common.axes`; the draw
    table's ``judgement:<name>`` columns): how much of the variance rests on judgement the record never saw. The axes
    count as prior-driven too (nothing narrowed them), so they are also in ``share_prior_driven``'s group. NaN when no
    axis varies (``forecast.judgement=fixed``, or no ``judgement.csv`` beside the posterior).

``comparison``
    Each scenario other than the reference (the job's first label) minus the reference, run by run (paired by draw and
    seed, so common random numbers cancel), in 2030, 2035 and 2040: median, 5% and 95% quantiles and mean of the
    difference, P(diff > 0) and P(diff < 0) (ties make up the rest), and the reference's own level (median, 5% and
    95% quantiles), against which a difference is large or small.

``cumulative``
    Totals of the flow variables (visits, deals, TIV, years attending ...) over 2024-2030 and 2024-2040, run by run:
    median, quartiles, 5% and 95% quantiles and mean of the sum, and ``p_any``, the share of runs with a total above
    zero (for a state's 0/1 series: the probability that it happens at least once in the period); for a scenario
    other than the reference, the paired difference of its totals from the reference's (as ``comparison``). Single-
    year medians of lumpy series are mostly 0; their totals are not.

``events``
    P(event by 2030, 2035, 2040) over the runs, with a 90% Wilson score interval. A state that already had a national
    Chinese surveillance system before 2024 in a run has no adoption left to forecast: such runs are "not applicable"
    (counted in ``n_not_applicable``) and left out of ``n_runs``, so the probability is that of a first national
    adoption given none before 2024 (NaN when every run had one).

``tripwires``
    For each scenario other than the reference, the observable signals of 2024-2030 that best tell it from the
    reference: candidates are every (iso3, variable) level in each year 2024-2030 and, for flow variables, the
    2024-2030 sum. Latent variables (relationship stocks, leverage, capability gap, US pressure, China's boldness)
    and the tension driver (an input of the scenarios, not an outcome) are not candidates; nor are signals constant
    over all runs or identical in every paired run. Score: AUC = P(scenario value > reference value) + P(tie)/2 over
    all runs (Mann-Whitney); a signal separates by max(AUC, 1 - AUC), its direction is ``above`` when AUC > 0.5. Only
    the best year or sum of each (iso3, variable) is kept (ties go to the earlier year), then the 10 best. Each has
    the threshold maximising Youden's J (crossing = value >= threshold above, <= below; ties go to the most permissive
    threshold) and the probabilities of crossing it under the scenario and under the reference.

``sensitivity``
    For key outputs (LAC ``china_arms_share`` 2035, ``forum_attends.CHN`` 2030, ``surveillance_adopters`` 2035),
    SALib's delta analysis (Borgonovo's moment-independent delta, Plischke et al. 2013 given-data estimator; valid
    for given, dependent samples) of the per-draw mean over seeds on the draws' parameters, with its given-data
    first-order index S1. SALib >= 1.6 returns several deltas: ``delta`` is its ``delta_raw`` (bootstrap on the
    draws as they are, i.e. on the posterior), not ``balanced`` (which reweights to an even spread of each input).
    SALib's resampling is seeded; the estimate's own noise (sd about 0.02 at 500 draws, see ``DELTA_RESAMPLES``) is
    the floor below which an index says nothing; a ``dummy (noise floor)`` row measures it, the same estimator on a
    column of uniform noise that no output depends on. ``judgement`` marks the judgement axes (each also
    ``prior_driven``). Empty (with a note) without parameter columns or without SALib.

``scenario_effects``
    One row per (scenario other than the reference, effect it declares; :mod:`experiments.effects`): the paired
    difference (scenario minus reference, same draw and seed) of the effect's statistic (the sum of its variable over
    its years at its row), its median and 5/95% quantiles, ``p_declared_sign`` (share of pairs with the declared sign
    strictly, ties against), ``p_tie`` and ``p_opposite_sign`` (shares with no difference and with the other sign),
    ``holds`` (``p_declared_sign`` >= 0.8), and the parameters driving it (|Spearman rho| >= 0.3
    between the draw-mean difference and a parameter), ``prior_driven`` when one of them is. Read from the same
    cubes as the other tables.

``notes``
    Every caveat met while computing (missing files, skipped cells or outputs), one row each.

:func:`markdown` renders them readably; ``experiments.forecast.write_outputs`` writes both under ``<work>/tables``.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
from scipy.stats import norm, rankdata

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # a dependency of scikit-learn; without it BLAS keeps its threads

    def threadpool_limits(limits: int) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

from common.axes import PREFIX as AXIS_PREFIX
from common.effects import Effect
from common.events import EVENTS_FROM, event_names
from common.posterior import default_prior_driven_path
from experiments import effects as E
from model.data import ISO3
from model.schema import ALL_VARIABLES, REGION, Variable, column_names

LAST_YEAR = 2040
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
COMPARISON_YEARS = (2030, 2035, 2040)
EVENT_YEARS = (2030, 2035, 2040)
TRIPWIRE_WINDOW = (2024, 2030)
TRIPWIRES_KEPT = 10
INTERVAL = 0.90
# judgement: a third of the variance from parameters the record did not narrow makes a forecast "prior-driven".
PRIOR_DRIVEN_SHARE = 0.30
TERMS_PER_DRAW = 4  # draws per response-surface term below which the surface drops to linear, then to nothing
NATIONAL = 2.0  # surveillance_level of a national system
SENSITIVITY_OUTPUTS = ((REGION, "china_arms_share", 2035), (REGION, "forum_attends.CHN", 2030),
                       (REGION, "surveillance_adopters", 2035))
# SALib's bootstrap resamples per index (its default is 100). SALib 1.6 takes its point estimate from one resample, so
# that draw, not the count, sets the estimate's noise: measured on the shipped posterior (500 draws x 25 parameters,
# five resampling seeds), the seed sd of delta is 0.022 at 20 resamples and 0.023 at 100, at a fifth of the time; and
# again at 88a00a9 (3 outputs x 25 parameters x 5 seeds): sd 0.031 at 5 and 10 resamples, 0.030 at 20, mean bootstrap
# half-width 0.029 / 0.032 / 0.031, time 5.3 / 11.6 / 22.6 s. Ten keep the half-width's own noise moderate.
DELTA_RESAMPLES = 10
DELTA_SEED = 20240101
# A parameter column of uniform noise, independent of every output: its delta is what the estimator reports for a
# parameter that does not matter (the noise floor of the sensitivity table and figure).
DUMMY = "dummy (noise floor)"
# Yearly flows (counts or amounts of the year): their 2024-2030 sum is a tripwire candidate too. Stocks and levels
# (ground stations, surveillance level and cameras, recognition, relations, shares, adopters) are not summed.
FLOW_VARIABLES = frozenset({
    "delegations", "delegation_tour", "officers_training", "forum_attends", "port_call", "exercise",
    "china_arms_delivered_tiv", "china_arms_deal_signed", "china_arms_deal_signed_major", "china_arms_deal_failed",
    "china_arms_deal_vetoed", "china_arms_donation", "china_coproduction_deal", "china_aid_usd_m", "space_project",
    "arms_imports_tiv", "arms_domestic_tiv", "arms_deals_signed"})
# Not observable by an analyst in 2024-2030 (model states), or an input of the scenarios rather than an outcome.
NOT_TRIPWIRES = frozenset({"r_china", "r_us", "us_leverage", "capability_gap", "us_pressure", "china_boldness",
                           "us_china_tension"})
KEY_STATES = ("VEN", "ARG", "BRA", "CHL", "PER", "BOL", "ECU", "MEX")
MARKDOWN_YEARS = (2030, 2035, 2040)
MAIN_COLUMNS = ("forum_attends.CHN", "officers_training.CHN", "delegations.CHN", "china_arms_delivered_tiv.CHN",
                "china_arms_deal_signed.CHN", "arms_imports_tiv.USA", "space_ground_station.CHN",
                "surveillance_level.CHN", "r_china.CHN", "alignment", "china_arms_share", "surveillance_adopters")

FORECAST_COLUMNS = ("scenario", "iso3", "partner", "channel", "variable", "year", "median", "q05", "q25", "q75", "q95",
                    "mean", "share_parameters", "share_drivers", "share_chance", "share_prior_driven", "prior_driven",
                    "share_judgement")
COMPARISON_COLUMNS = ("scenario", "iso3", "partner", "channel", "variable", "year", "diff_median", "diff_q05",
                      "diff_q95", "diff_mean", "p_positive", "p_negative", "ref_q05", "ref_median", "ref_q95")
CUMULATIVE_COLUMNS = ("scenario", "iso3", "partner", "channel", "variable", "year_from", "year_to", "median", "q05",
                      "q25", "q75", "q95", "mean", "p_any", "diff_median", "diff_q05", "diff_q95", "diff_mean",
                      "p_positive", "p_negative")
CUMULATIVE_PERIODS = ((2024, 2030), (2024, 2040))
EVENT_COLUMNS = ("scenario", "event", "by_year", "probability", "low", "high", "n_runs", "n_not_applicable")
TRIPWIRE_COLUMNS = ("scenario", "rank", "iso3", "partner", "channel", "variable", "signal", "year_from", "year_to",
                    "auc", "direction", "threshold", "p_scenario", "p_reference", "youden_j")
SENSITIVITY_COLUMNS = ("scenario", "output", "parameter", "delta", "delta_conf", "S1", "S1_conf", "prior_driven",
                       "judgement", "note")
NOTE_COLUMNS = ("table", "scenario", "note")

VARIABLES: dict[str, Variable] = dict(zip(column_names(), ALL_VARIABLES, strict=True))
KEYS = ("draw", "seed", "year", "iso3")
# Rows per scanned batch (Arrow's default is 131,072): smaller batches hold less of the scan in memory at once.
READ_BATCH_ROWS = 1 << 15
AUC_CELLS = 256  # cells ranked at once by the tripwires


# ----------------------------------------------------------------------------------------------------- reading


@dataclass
class Cube:
    """One scenario's values: ``values[year, draw, seed, iso3, column]`` (float32, every run present)."""

    years: tuple[int, ...]
    iso3: tuple[str, ...]
    columns: tuple[str, ...]
    values: np.ndarray

    def at(self, year: int) -> np.ndarray:
        """(draw, seed, iso3, column) values of one year."""
        return self.values[self.years.index(year)]

    def subset(self, years: Sequence[int]) -> Cube:
        keep = [y for y in self.years if y in set(years)]
        return Cube(tuple(keep), self.iso3, self.columns, self.values[[self.years.index(y) for y in keep]].copy())


def _dataset(work: Path, kind: str) -> ds.Dataset:
    part = ds.partitioning(pa.schema([("scenario", pa.string())]), flavor="hive")
    return ds.dataset(work / kind, format="parquet", partitioning=part)


def _iso_codes(column: pa.Array, position: Mapping[str, int]) -> np.ndarray:
    """Each row's index in the iso3 axis (-1 for a code outside it)."""
    if pa.types.is_dictionary(column.type):
        lookup = np.array([position.get(v, -1) for v in column.dictionary.to_pylist()] + [-1], dtype=np.int64)
        idx = column.indices.fill_null(len(lookup) - 1).to_numpy(zero_copy_only=False).astype(np.int64)
        return lookup[idx]
    return np.array([position.get(v, -1) for v in column.to_pylist()], dtype=np.int64)


def _iso3_axis(dset: ds.Dataset, label: str) -> tuple[str, ...]:
    """The iso3 codes of a scenario's rows: the states in model order, then LAC, then any other code sorted."""
    seen: set[str] = set()
    for batch in dset.to_batches(columns=["iso3"], filter=ds.field("scenario") == label):
        col = batch.column("iso3")
        if pa.types.is_dictionary(col.type):
            words = col.dictionary.to_pylist()
            # Which codes occur (a count per code, not a sort: millions of rows, a few dozen codes).
            used = np.bincount(col.indices.drop_null().to_numpy(zero_copy_only=False), minlength=len(words))
            seen.update(words[i] for i in np.flatnonzero(used))
        else:
            seen.update(v for v in col.to_pylist() if v is not None)
    known = [c for c in (*ISO3, REGION) if c in seen]
    return tuple(known + sorted(seen - set(known)))


def read_cube(dset: ds.Dataset, label: str, years: Sequence[int], draws: int, seeds: int,
              iso3: Sequence[str], columns: Sequence[str]) -> Cube:
    """A scenario's values for ``years`` as a :class:`Cube`, read batch by batch (rows may come in any order)."""
    years = tuple(int(y) for y in years)
    n_y, n_i, n_c = len(years), len(iso3), len(columns)
    # Every cell is written exactly once or the read fails below, so nothing needs a fill (0.47 s of a scenario's
    # tables went to filling cubes with NaN).
    values = np.empty((n_y * draws * seeds * n_i, n_c), dtype=np.float32)
    # The last row written to each cell (-1: none yet), and whether a cell was written more than once: a row repeated
    # within a batch finds another row's number there (a fancy assignment writes a repeated cell once), one repeated
    # across batches finds a number already there. Five bytes a cell, where a count and the writer took twelve.
    writer = np.full(n_y * draws * seeds * n_i, -1, dtype=np.int32)
    repeated = np.zeros(n_y * draws * seeds * n_i, dtype=bool)
    rows_seen = 0
    if n_y:
        lo = min(years)
        year_pos = np.full(max(years) - lo + 1, -1, dtype=np.int64)
        year_pos[np.array(years) - lo] = np.arange(n_y)
        position = {c: i for i, c in enumerate(iso3)}
        flt = (ds.field("scenario") == label) & ds.field("year").isin(list(years))
        # One fragment and batch read ahead: the scan's default read-ahead held ~2.5x the memory for no speed here.
        for batch in dset.to_batches(columns=list(KEYS) + list(columns), filter=flt, fragment_readahead=1,
                                     batch_readahead=1, batch_size=READ_BATCH_ROWS):
            if batch.num_rows == 0:
                continue
            d = batch.column("draw").to_numpy(zero_copy_only=False).astype(np.int64)
            s = batch.column("seed").to_numpy(zero_copy_only=False).astype(np.int64)
            y = year_pos[batch.column("year").to_numpy(zero_copy_only=False).astype(np.int64) - lo]
            i = _iso_codes(batch.column("iso3"), position)
            bad = (d < 0) | (d >= draws) | (s < 0) | (s >= seeds) | (i < 0)
            if bad.any():
                raise ValueError(f"ensemble {label}: {int(bad.sum())} rows outside draws 0..{draws - 1}, seeds "
                                 f"0..{seeds - 1} or the scenario's iso3 codes")
            flat = ((y * draws + d) * seeds + s) * n_i + i
            block = np.empty((batch.num_rows, n_c), dtype=np.float32)
            for j, c in enumerate(columns):
                block[:, j] = batch.column(c).to_numpy(zero_copy_only=False)
            values[flat] = block
            earlier = writer[flat] >= 0
            row = np.arange(rows_seen, rows_seen + flat.size, dtype=np.int32)
            writer[flat] = row
            repeated[flat[earlier | (writer[flat] != row)]] = True
            rows_seen += flat.size
    # Arrow keeps the scan's buffers in its pool for reuse: hand them back, the cube is all that is kept.
    pa.default_memory_pool().release_unused()
    missing = writer < 0
    if missing.any() or repeated.any():
        raise ValueError(f"ensemble {label}: {int(missing.sum())} missing and {int(repeated.sum())} repeated "
                         f"(draw, seed, year, iso3) rows in years {years[0]}-{years[-1]}; is the forecast complete?")
    return Cube(years, tuple(iso3), tuple(columns), values.reshape(n_y, draws, seeds, n_i, n_c))


# ----------------------------------------------------------------------------------------------------- estimators


def nested_components(y: np.ndarray) -> np.ndarray:
    """Method-of-moments variance components (parameters, drivers, chance) of ``y[draw, seed, cell]``, untruncated.

    Seeds 2p and 2p+1 form driver path p; an odd last seed is left out. NaN with fewer than 2 draws or 2 paths.
    """
    n_d, n_s, k = y.shape
    n_p, n_r = n_s // 2, 2
    if n_d < 2 or n_p < 2:
        return np.full((3, k), np.nan)
    yb = y[:, : n_p * n_r].reshape(n_d, n_p, n_r, k)
    m_dp = yb.mean(axis=2)
    m_d = m_dp.mean(axis=1)
    m = m_d.mean(axis=0)
    ms_e = ((yb - m_dp[:, :, None]) ** 2).sum(axis=(0, 1, 2)) / (n_d * n_p * (n_r - 1))
    ms_b = n_r * ((m_dp - m_d[:, None]) ** 2).sum(axis=(0, 1)) / (n_d * (n_p - 1))
    ms_a = n_p * n_r * ((m_d - m) ** 2).sum(axis=0) / (n_d - 1)
    return np.stack([(ms_a - ms_b) / (n_p * n_r), (ms_b - ms_e) / n_r, ms_e])


def variance_shares(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shares (3, cells) of parameters, drivers and chance, and the total variance (sum of truncated components).

    Cells constant over all runs get NaN shares and a total of 0.
    """
    comp = np.maximum(nested_components(y), 0.0)
    total = comp.sum(axis=0)
    flat = y.reshape(-1, y.shape[-1])
    constant = flat.max(axis=0) == flat.min(axis=0)
    total[constant] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(total > 0, comp / np.where(total > 0, total, 1.0), np.nan)
    return shares, total


def response_surface(x: np.ndarray) -> tuple[np.ndarray | None, str]:
    """Orthonormal basis (draws, rank) of the quadratic (else linear) surface in the columns of ``x``, with its name.

    None when there are too few draws even for the linear surface; the intercept alone when ``x`` has no column.
    """
    n = x.shape[0]
    if x.shape[1] == 0:
        return np.ones((n, 1)) / np.sqrt(n), "none"
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    k = z.shape[1]
    quad = [z[:, i] * z[:, j] for i in range(k) for j in range(i, k)]
    for name, terms in (("quadratic", [np.ones(n), *z.T, *quad]), ("linear", [np.ones(n), *z.T])):
        if n >= TERMS_PER_DRAW * len(terms):
            a = np.column_stack(terms)
            u, s, _ = np.linalg.svd(a, full_matrices=False)
            rank = int((s > s[0] * 1e-10).sum())
            return u[:, :rank], name
    return None, "too few draws"


def explained_share(per_draw: np.ndarray, basis: np.ndarray | None, total: np.ndarray) -> np.ndarray:
    """Var(E[Y | surface inputs]) / total per cell of ``per_draw[draw, cell]`` (df-corrected, clipped to [0, 1])."""
    n = per_draw.shape[0]
    if basis is None:
        return np.full(per_draw.shape[1], np.nan)
    rank = basis.shape[1]
    ss_tot = ((per_draw - per_draw.mean(axis=0)) ** 2).sum(axis=0)
    ss_res = ((per_draw - basis @ (basis.T @ per_draw)) ** 2).sum(axis=0)
    explained = ss_tot / (n - 1) - (ss_res / (n - rank) if n > rank else ss_tot / (n - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, explained / np.where(total > 0, total, 1.0), np.nan)
    return np.clip(share, 0.0, 1.0)


def column_quantiles(y: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """``np.quantile(y, qs, axis=0)`` (method "linear") of a 2-D array, bit for bit, from one sort along contiguous
    rows: numpy partitions along axis 0, a strided axis, which took 0.86 s of a scenario's 9.8 s of tables
    (cProfile); sorting the transposed copy takes a tenth of that. The interpolation is numpy's ``_lerp``."""
    n = y.shape[0]
    rows = y.T.copy(order="C")  # a copy even when y.T is already C-ordered: y must not be sorted in place
    rows.sort(axis=1)  # NaNs sort last, as numpy's partition puts them
    virtual = (n - 1) * np.asarray(qs, dtype=np.float64)
    previous, following = np.floor(virtual), np.floor(virtual) + 1
    previous[virtual >= n - 1] = following[virtual >= n - 1] = -1
    previous[virtual < 0] = following[virtual < 0] = 0
    previous, following = previous.astype(np.intp), following.astype(np.intp)
    gamma = (virtual - previous)[:, None]
    a, b = rows[:, previous].T, rows[:, following].T
    diff = b - a
    out = np.add(a, diff * gamma)
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    nan = np.isnan(rows[:, -1]) if n else np.zeros(rows.shape[0], dtype=bool)
    out[:, nan] = rows[nan, -1]
    return out


def wilson(hits: np.ndarray, n: np.ndarray, level: float = INTERVAL) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a binomial proportion (NaN where n = 0)."""
    z = norm.ppf(0.5 + level / 2)
    hits, n = np.asarray(hits, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = hits / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def auc(scenario: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """P(scenario > reference) + P(tie)/2 per column, from the ranks of the pooled runs (Mann-Whitney)."""
    n_s, n_r = scenario.shape[0], reference.shape[0]
    ranks = rankdata(np.vstack([scenario, reference]), axis=0)
    return (ranks[:n_s].sum(axis=0) - n_s * (n_s + 1) / 2) / (n_s * n_r)


def youden(scenario: np.ndarray, reference: np.ndarray, above: bool) -> tuple[float, float, float]:
    """Threshold maximising TPR - FPR (crossing = value >= t if ``above`` else <= t), and the two crossing rates."""
    s, r = (scenario, reference) if above else (-scenario, -reference)
    cand = np.unique(np.concatenate([s, r]))
    tpr = 1.0 - np.searchsorted(np.sort(s), cand, side="left") / s.size
    fpr = 1.0 - np.searchsorted(np.sort(r), cand, side="left") / r.size
    j = int(np.argmax(tpr - fpr))
    return float(cand[j] if above else -cand[j]), float(tpr[j]), float(fpr[j])


# ----------------------------------------------------------------------------------------------------- helpers


def _meta(columns: Sequence[str]) -> dict[str, np.ndarray]:
    out = {"partner": [], "channel": [], "variable": []}
    for c in columns:
        v = VARIABLES.get(c)
        name, partner = (c.split(".", 1) + [""])[:2] if v is None else (v.name, v.partner.value)
        out["partner"].append(partner)
        out["channel"].append("" if v is None else v.channel.value)
        out["variable"].append(name)
    return {k: np.array(v, dtype=object) for k, v in out.items()}


_COLUMN_OF = {(v.name, v.partner.value): c for c, v in VARIABLES.items()}


def column_key(variable: str, partner: str) -> str:
    """The wide-table column of a (variable, partner) pair (region-only variables carry no partner suffix)."""
    partner = partner if isinstance(partner, str) else ""
    return _COLUMN_OF.get((variable, partner), f"{variable}.{partner}" if partner else variable)


def _iso_order(codes: pd.Series) -> pd.Series:
    return codes.map(lambda c: (0, "") if c == REGION else (1, c))


def _sorted(frame: pd.DataFrame, labels: Sequence[str], keys: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Rows in job order of scenario, LAC first then iso3 alphabetically, variables in schema order, then ``keys``."""
    if frame.empty:
        return pd.DataFrame({c: pd.Series(dtype=frame[c].dtype if c in frame else object) for c in columns})
    order = {label: i for i, label in enumerate(labels)}
    col_rank = {c: i for i, c in enumerate(column_names())}
    tmp = frame.assign(_s=frame["scenario"].map(order))
    sort_by = ["_s"]
    if "iso3" in frame:
        tmp["_i"] = _iso_order(frame["iso3"])
        tmp["_c"] = [col_rank.get(column_key(v, p), len(col_rank))
                     for v, p in zip(frame["variable"], frame["partner"], strict=True)]
        sort_by += ["_i", "_c", "variable", "partner"]
    out = tmp.sort_values(sort_by + list(keys), kind="mergesort").drop(columns=[c for c in tmp if c.startswith("_")])
    return out[list(columns)].reset_index(drop=True)


def load_prior_driven(path: Path | None) -> tuple[dict[str, bool] | None, str]:
    """``{parameter: prior_driven}`` from the calibration's ``prior_driven.csv``, or None and why."""
    if path is None or not Path(path).is_file():
        return None, (f"{path} not found: no prior-driven parameter list, so share_prior_driven is NaN and "
                      "prior_driven False everywhere")
    frame = pd.read_csv(path)
    if not {"parameter", "prior_driven"} <= set(frame.columns):
        return None, f"{path} lacks the columns parameter and prior_driven: prior_driven False everywhere"
    flags = frame["prior_driven"].map(lambda v: str(v).strip().lower() in ("true", "1", "yes"))
    return dict(zip(frame["parameter"].astype(str), flags.astype(bool), strict=True)), ""


def effective_parameters(draws: pd.DataFrame, boldness: str) -> pd.DataFrame:
    """Each draw's varying parameters as run in a scenario: a boldness variant replaces China's boldness under tension
    by its place in the variant's prior (experiments.forecast.draw_parameters); a judgement axis is named without its
    ``judgement:`` prefix (:func:`judgement_names` lists them). Constant columns are dropped."""
    table = draws.sort_values("draw").reset_index(drop=True)
    params = table.drop(columns=[c for c in ("draw", "particle", "u_boldness") if c in table]).astype(float)
    params = params.rename(columns={c: c[len(AXIS_PREFIX):] for c in params.columns if c.startswith(AXIS_PREFIX)})
    if boldness != "central" and "u_boldness" in table:
        from experiments.forecast import BOLDNESS, BOLDNESS_VARIANTS

        lo, hi = BOLDNESS_VARIANTS[boldness]
        params[BOLDNESS] = lo + (hi - lo) * table["u_boldness"].to_numpy(dtype=float)
    varying = [c for c in params.columns if np.ptp(params[c].to_numpy()) > 0]
    return params[varying]


def judgement_names(draws: pd.DataFrame) -> list[str]:
    """The judgement axes of a draw table (its ``judgement:<name>`` columns), by parameter name."""
    return [c[len(AXIS_PREFIX):] for c in draws.columns if c.startswith(AXIS_PREFIX)]


# ----------------------------------------------------------------------------------------------------- tables


@dataclass
class _Context:
    labels: list[str]
    reference: str
    draws: int
    seeds: int
    first_table_year: int
    first_stored_year: int
    iso3: tuple[str, ...]
    columns: tuple[str, ...]
    prior: dict[str, bool] | None
    notes: list[dict]
    judgement: frozenset[str] = frozenset()

    def note(self, table: str, scenario: str, text: str) -> None:
        self.notes.append({"table": table, "scenario": scenario, "note": text})


def _cells(values: np.ndarray) -> np.ndarray:
    """Cells (flattened iso3 x column) with a value in every run of ``values[draw, seed, iso3, column]``."""
    flat = values.reshape(-1, values.shape[-2] * values.shape[-1])
    return ~np.isnan(flat).any(axis=0)


def _frame(ctx: _Context, label: str, cells: np.ndarray, year: int, stats: Mapping[str, np.ndarray]) -> pd.DataFrame:
    n_c = len(ctx.columns)
    meta = _meta(ctx.columns)
    iso = np.array(ctx.iso3, dtype=object)[cells // n_c]
    col = cells % n_c
    base = {"scenario": label, "iso3": iso, "partner": meta["partner"][col], "channel": meta["channel"][col],
            "variable": meta["variable"][col], "year": np.full(cells.size, year, dtype=np.int64)}
    return pd.DataFrame(base | dict(stats))


def _forecast(ctx: _Context, label: str, cube: Cube, basis: np.ndarray | None,
              judgement_basis: np.ndarray | None = None) -> pd.DataFrame:
    parts = []
    partial = 0
    for year in (y for y in cube.years if y >= ctx.first_table_year):
        v = cube.at(year)
        cells = np.flatnonzero(_cells(v))
        partial += int((~np.isnan(v).all(axis=(0, 1)).ravel()).sum()) - cells.size
        y = v.reshape(ctx.draws, ctx.seeds, -1)[:, :, cells].astype(np.float64)
        q = column_quantiles(y.reshape(ctx.draws * ctx.seeds, -1), QUANTILES)
        shares, total = variance_shares(y)
        per_draw = y.mean(axis=1)
        pd_share = explained_share(per_draw, basis, total)
        stats = {"median": q[2], "q05": q[0], "q25": q[1], "q75": q[3], "q95": q[4], "mean": y.mean(axis=(0, 1)),
                 "share_parameters": shares[0], "share_drivers": shares[1], "share_chance": shares[2],
                 "share_prior_driven": pd_share,
                 "prior_driven": np.nan_to_num(pd_share, nan=0.0) >= PRIOR_DRIVEN_SHARE,
                 "share_judgement": explained_share(per_draw, judgement_basis, total)}
        parts.append(_frame(ctx, label, cells, year, stats))
    if partial:
        ctx.note("forecast", label, f"{partial} (iso3, variable, year) cells missing in some runs only: left out")
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=FORECAST_COLUMNS)


def flow_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The columns of flow variables (FLOW_VARIABLES), in their order."""
    return tuple(c for c, v in zip(columns, _meta(columns)["variable"], strict=True) if v in FLOW_VARIABLES)


def _period_sums(ctx: _Context, label: str, cube: Cube) -> dict[tuple[int, int], np.ndarray]:
    """Each complete period of CUMULATIVE_PERIODS: the runs' totals, (draw x seed, iso3 x column)."""
    sums = {}
    for start, end in CUMULATIVE_PERIODS:
        years = [y for y in cube.years if start <= y <= end]
        if len(years) != end - start + 1:
            ctx.note("cumulative", label, f"{start}-{end}: only {len(years)} of its years stored; no totals")
            continue
        total = np.zeros(cube.values.shape[1:])
        for year in years:
            total += cube.at(year)
        sums[(start, end)] = total.reshape(ctx.draws * ctx.seeds, -1)
    return sums


def _flow_sums(ctx: _Context, label: str, cube: Cube) -> dict[tuple[int, int], np.ndarray]:
    """:func:`_period_sums` of ``cube``'s flow columns (:func:`flow_columns` of ``ctx``'s columns, in that order).

    Called on a cube as it is read, so that only its totals outlive it: the scenario's and the reference's flow cubes
    are never held together (they were the tables' memory peak). A cube with more columns is summed whole and the
    totals' flow columns kept: no copy of its flow columns (each total is its own cell's, in year order either way).
    """
    flows = flow_columns(ctx.columns)
    sums = _period_sums(ctx, label, cube)
    if tuple(cube.columns) == flows:
        return sums
    keep = [cube.columns.index(c) for c in flows]
    n = ctx.draws * ctx.seeds
    return {k: v.reshape(n, len(cube.iso3), -1)[:, :, keep].reshape(n, -1) for k, v in sums.items()}


def _cumulative(ctx: _Context, label: str, own: dict[tuple[int, int], np.ndarray],
                base: dict[tuple[int, int], np.ndarray] | None = None) -> pd.DataFrame:
    """Run-by-run totals of the flow variables over each of CUMULATIVE_PERIODS (module docstring), from ``own``'s
    :func:`_flow_sums`; with the reference's ``base`` (a scenario other than the reference), the paired differences
    of the totals too."""
    flows = replace(ctx, columns=flow_columns(ctx.columns))
    base = base or {}
    parts = []
    for (start, end), y in own.items():
        cells = np.flatnonzero(~np.isnan(y).any(axis=0))
        if (start, end) in base:
            cells = np.intersect1d(cells, np.flatnonzero(~np.isnan(base[(start, end)]).any(axis=0)))
        x = y[:, cells]
        q = column_quantiles(x, QUANTILES)
        stats = {"median": q[2], "q05": q[0], "q25": q[1], "q75": q[3], "q95": q[4], "mean": x.mean(axis=0),
                 "p_any": (x > 0).mean(axis=0)}
        if (start, end) in base:
            diff = x - base[(start, end)][:, cells]
            d = column_quantiles(diff, (0.05, 0.5, 0.95))
            stats |= {"diff_median": d[1], "diff_q05": d[0], "diff_q95": d[2], "diff_mean": diff.mean(axis=0),
                      "p_positive": (diff > 0).mean(axis=0), "p_negative": (diff < 0).mean(axis=0)}
        frame = _frame(flows, label, cells, end, stats)
        parts.append(frame.rename(columns={"year": "year_to"}).assign(year_from=start))
    if not parts:
        return pd.DataFrame(columns=CUMULATIVE_COLUMNS)
    return pd.concat(parts, ignore_index=True).reindex(columns=list(CUMULATIVE_COLUMNS))


def _comparison(ctx: _Context, label: str, cube: Cube, ref: Cube) -> pd.DataFrame:
    parts = []
    for year in (y for y in COMPARISON_YEARS if y in cube.years and y in ref.years):
        a, b = cube.at(year), ref.at(year)
        cells = np.flatnonzero(_cells(a) & _cells(b))
        n = ctx.draws * ctx.seeds
        base = b.reshape(n, -1)[:, cells].astype(np.float64)
        diff = a.reshape(n, -1)[:, cells].astype(np.float64) - base
        q = column_quantiles(diff, (0.05, 0.5, 0.95))
        level = column_quantiles(base, (0.05, 0.5, 0.95))
        stats = {"diff_median": q[1], "diff_q05": q[0], "diff_q95": q[2], "diff_mean": diff.mean(axis=0),
                 "p_positive": (diff > 0).mean(axis=0), "p_negative": (diff < 0).mean(axis=0),
                 "ref_q05": level[0], "ref_median": level[1], "ref_q95": level[2]}
        parts.append(_frame(ctx, label, cells, year, stats))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COMPARISON_COLUMNS)


def _tripwires(ctx: _Context, label: str, cube: Cube, ref: Cube) -> pd.DataFrame:
    window = [y for y in range(max(TRIPWIRE_WINDOW[0], min(cube.years)), TRIPWIRE_WINDOW[1] + 1)
              if y in cube.years and y in ref.years]
    if not window:
        ctx.note("tripwires", label, f"no stored year in {TRIPWIRE_WINDOW[0]}-{TRIPWIRE_WINDOW[1]}")
        return pd.DataFrame(columns=TRIPWIRE_COLUMNS)
    n, n_c = ctx.draws * ctx.seeds, len(ctx.columns)
    meta = _meta(ctx.columns)
    allowed = np.tile(~np.isin(meta["variable"], list(NOT_TRIPWIRES)), len(ctx.iso3))
    flow = np.tile(np.isin(meta["variable"], list(FLOW_VARIABLES)), len(ctx.iso3))

    def signal(c: Cube, kind: str, year: int, cell: slice | int = slice(None)) -> np.ndarray:
        # One cell's column for a kept row: the whole signal, summed over the window for a cumulative one, cost 0.85 s
        # of a scenario's tables when each row rebuilt it (cProfile).
        if kind == "level":
            return c.at(year).reshape(n, -1)[:, cell].astype(np.float64)
        total = np.zeros(c.at(window[0]).reshape(n, -1)[:, cell].shape)
        for y in window:  # in place, in the order of sum(): one running total, not one per year
            total += c.at(y).reshape(n, -1)[:, cell]
        return total

    found = []
    signals = [("level", y, y) for y in window] + ([("cumulative", window[0], window[-1])] if len(window) > 1 else [])
    for kind, y0, y1 in signals:
        s, r = signal(cube, kind, y1), signal(ref, kind, y1)
        ok = allowed & ~np.isnan(s).any(axis=0) & ~np.isnan(r).any(axis=0) & (flow if kind == "cumulative" else True)
        ok &= np.maximum(s.max(axis=0), r.max(axis=0)) > np.minimum(s.min(axis=0), r.min(axis=0))  # not constant
        ok &= (s != r).any(axis=0)  # identical in every paired run
        cells = np.flatnonzero(ok)
        if cells.size:
            # A few hundred cells at a time: ranking every cell at once held five arrays of all runs x cells (the
            # tables' memory peak, about 200 MB a worker); each cell's AUC is its own, so the result is the same.
            parts = np.array_split(cells, -(-cells.size // AUC_CELLS))
            a = np.concatenate([auc(s[:, part], r[:, part]) for part in parts])
            found.append(pd.DataFrame({"cell": cells, "signal": kind, "year_from": y0, "year_to": y1, "auc": a}))
    if not found:
        ctx.note("tripwires", label, "no observable signal differs from the reference in 2024-2030")
        return pd.DataFrame(columns=TRIPWIRE_COLUMNS)
    cand = pd.concat(found, ignore_index=True)
    cand["score"] = np.maximum(cand["auc"], 1 - cand["auc"])
    cand["_kind"] = (cand["signal"] == "cumulative").astype(int)
    cand = cand.sort_values(["score", "year_to", "_kind", "cell"], ascending=[False, True, True, True],
                            kind="mergesort")
    best = cand.drop_duplicates("cell", keep="first").head(TRIPWIRES_KEPT).reset_index(drop=True)
    rows = []
    for rank, row in enumerate(best.itertuples(index=False), start=1):
        s, r = signal(cube, row.signal, row.year_to, row.cell), signal(ref, row.signal, row.year_to, row.cell)
        above = bool(row.auc > 0.5)
        threshold, p_s, p_r = youden(s, r, above)
        c = row.cell % n_c
        rows.append({"scenario": label, "rank": rank, "iso3": ctx.iso3[row.cell // n_c],
                     "partner": meta["partner"][c], "channel": meta["channel"][c], "variable": meta["variable"][c],
                     "signal": row.signal,
                     "year_from": int(row.year_from), "year_to": int(row.year_to), "auc": float(row.auc),
                     "direction": "above" if above else "below", "threshold": threshold, "p_scenario": p_s,
                     "p_reference": p_r, "youden_j": p_s - p_r})
    return pd.DataFrame(rows, columns=TRIPWIRE_COLUMNS)


def _events(ctx: _Context, label: str, events: ds.Dataset, ens: ds.Dataset) -> pd.DataFrame:
    table = events.to_table(filter=ds.field("scenario") == label).to_pandas()
    table = table.drop(columns=[c for c in ("scenario",) if c in table])
    if len(table) != ctx.draws * ctx.seeds or table.duplicated(["draw", "seed"]).any():
        raise ValueError(f"events {label}: {len(table)} rows for {ctx.draws * ctx.seeds} runs; "
                         "is the forecast complete?")
    table = table.sort_values(["draw", "seed"]).reset_index(drop=True)
    known = {e: i for i, e in enumerate(event_names())}
    names = sorted((c for c in table.columns if c not in ("draw", "seed")), key=lambda e: (known.get(e, len(known)), e))
    before = None
    col = "surveillance_level.CHN"
    pre = list(range(ctx.first_stored_year, EVENTS_FROM))
    if any(e.startswith("national_surveillance.") for e in names):
        if pre and col in ens.schema.names:
            cube = read_cube(ens, label, pre, ctx.draws, ctx.seeds, ctx.iso3, [col])
            before = (cube.values[..., 0] >= NATIONAL).any(axis=0).reshape(ctx.draws * ctx.seeds, len(ctx.iso3))
        else:
            ctx.note("events", label, "no stored year before 2024: national surveillance events cannot tell states "
                     "already national from states never adopting; all runs counted")
    rows = []
    for e in names:
        first = table[e].to_numpy(dtype=float)
        applicable = np.ones(first.size, dtype=bool)
        if e.startswith("national_surveillance.") and before is not None and e.split(".", 1)[1] in ctx.iso3:
            applicable = ~before[:, ctx.iso3.index(e.split(".", 1)[1])]
        applicable &= ~(first < EVENTS_FROM)  # a year before EVENTS_FROM (if ever recorded) marks "already" too
        n = int(applicable.sum())
        for by in EVENT_YEARS:
            hits = int((np.nan_to_num(first[applicable], nan=np.inf) <= by).sum())
            low, high = wilson(np.array(hits), np.array(n))
            rows.append({"scenario": label, "event": e, "by_year": by, "probability": hits / n if n else np.nan,
                         "low": float(low), "high": float(high), "n_runs": n, "n_not_applicable": first.size - n})
    return pd.DataFrame(rows, columns=EVENT_COLUMNS)


def _salib_delta() -> Any:
    """SALib's delta module (its per-parameter estimators), or None when SALib is not installed."""
    try:
        from SALib.analyze import delta
    except ImportError:
        return None
    return delta


def _kde(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Each row's Gaussian kernel density on ``grid``, (rows, grid): scipy's ``gaussian_kde(row, "silverman")`` in one
    dimension (bandwidth^2 = the row's variance, ddof 1, times (m * 3 / 4)^(-2/5) for m points)."""
    m = samples.shape[1]
    var = samples.var(axis=1, ddof=1) * (m * 0.75) ** -0.4
    z = grid[None, None, :] - samples[:, :, None]
    return np.exp(-0.5 * z * z / var[:, None, None]).sum(axis=1) / (m * np.sqrt(2.0 * np.pi * var))[:, None]


def plischke_delta(y: np.ndarray, grid: np.ndarray, x: np.ndarray, partition: np.ndarray,
                   rows: np.ndarray) -> np.ndarray:
    """SALib's ``calc_delta`` (Plischke et al. 2013, eqn 26) for each row of indices ``rows`` (resamples, n) at once.

    SALib builds a ``scipy.stats.gaussian_kde`` per class and resample, 12,078 of them for a scenario's sensitivity
    table, whose set-up was 90% of that table's time (cProfile: 8.4 of 9.3 s); the same densities as array sums cost a
    tenth. Equal to SALib's to rounding (``tests/test_tables.py``). Classes are ranges of the ordinal rank of x within
    each resample, so every resample has the same class sizes; a class whose outputs are all equal is skipped, as SALib
    skips it. Raises ``numpy.linalg.LinAlgError`` where scipy's density would (a resample of equal outputs).
    """
    ys, xs = y[rows], x[rows]
    n = ys.shape[1]
    if np.any(np.ptp(ys, axis=1) == 0):
        raise np.linalg.LinAlgError("The data appears to lie in a lower-dimensional subspace of the space in which it "
                                    "is expressed (a resample of equal outputs): no kernel density")
    fy = _kde(ys, grid)
    ranked = np.take_along_axis(ys, np.argsort(xs, axis=1, kind="stable"), axis=1)
    ranks = np.arange(1, n + 1)
    d = np.zeros(len(rows))
    for lo, hi in itertools.pairwise(partition):
        members = (ranks > lo) & (ranks <= hi)
        nm = int(members.sum())
        if nm == 0:
            continue
        cls = ranked[:, members]
        spread = np.ptp(cls, axis=1) != 0
        if not spread.any():
            continue
        gap = np.zeros(len(rows))
        gap[spread] = np.trapezoid(np.abs(fy[spread] - _kde(cls[spread], grid)), grid, axis=1)
        d += nm / (2 * n) * gap
    return d


def delta_analysis(x: np.ndarray, y: np.ndarray, names: Sequence[str], seed: int = DELTA_SEED,
                   resamples: int | None = None) -> pd.DataFrame:
    """Borgonovo's delta of ``y`` on each column of ``x`` on the sample as given (SALib's "raw" estimator, Plischke et
    al. 2013 bias reduction) and the given-data first-order index S1, each with its 95% bootstrap half-width.

    SALib's ``analyze`` also computes its "balanced" and "step" deltas, which the tables do not report and which took
    two thirds of its time (97 of the 157 s the shipped forecast's tables took, cProfile): this follows SALib's
    ``bias_reduced_delta`` for the raw delta only, with SALib's own resampling (the same draws in the same order) on
    ``analyze``'s equal-frequency partition and output grid, each parameter's resamples' densities computed at once
    (:func:`plischke_delta`), and SALib's own estimators for S1. SALib draws from numpy's legacy global random state:
    it is set from ``seed`` and restored. A parameter that cannot be estimated (a constant column, a singular density)
    gets NaN and the reason as its note, as in ``analyze``.
    """
    salib = _salib_delta()
    if salib is None:
        raise ImportError("SALib")
    n, r = y.size, resamples or DELTA_RESAMPLES
    exponent = 2.0 / (7.0 + np.tanh((1500.0 - n) / 500.0))
    partition = np.linspace(0, n, int(np.round(min(int(np.ceil(n ** exponent)), 48))) + 1)
    grid = np.linspace(np.min(y), np.max(y), 100)
    half_width = norm.ppf(0.5 + 0.95 / 2)
    out = {k: np.full(len(names), np.nan) for k in ("delta", "delta_conf", "S1", "S1_conf")}
    notes = [""] * len(names)
    state = np.random.get_state()
    resample = np.random.RandomState([seed, 1])  # the S1 estimate's resample, as analyze draws one
    try:
        # SALib's estimators draw from numpy's legacy global state: this call's seed, restored afterwards.
        np.random.set_state(np.random.RandomState(seed).get_state())
        with warnings.catch_warnings(record=True), np.errstate(all="ignore"):
            for j, name in enumerate(names):
                xj = x[:, j]
                try:
                    # bias_reduced_delta's draws: the estimate's resample, then the bootstrap's.
                    rows = [salib.obtain_resampled_subset(xj, n, "raw", None, name, 10, warn_print=True)]
                    rows += [salib.obtain_resampled_subset(xj, n, "raw", None, name, 10) for _ in range(r)]
                    d_hat, *boot = plischke_delta(y, grid, xj, partition, np.array(rows))
                    d = 2.0 * d_hat - np.array(boot)
                    out["delta"][j], out["delta_conf"][j] = d.mean(), half_width * d.std(ddof=1)
                    drawn = resample.randint(n, size=n)
                    out["S1"][j] = salib.sobol_first(y[drawn], xj[drawn], partition)
                    out["S1_conf"][j] = salib.sobol_first_conf(y, xj, partition, r, 0.95, n)
                except Exception as exc:  # as in SALib's analyze: one parameter's failure is its note
                    notes[j] = str(exc.args[-1] if exc.args else exc)
                    for key in out:
                        out[key][j] = np.nan
    finally:
        np.random.set_state(state)
    return pd.DataFrame({"parameter": list(names), **out, "note": notes})


def _sensitivity(ctx: _Context, label: str, cube: Cube, params: pd.DataFrame) -> pd.DataFrame:
    if params.shape[1] == 0:
        ctx.note("sensitivity", label, "no parameter varies across draws: sensitivity skipped")
        return pd.DataFrame(columns=SENSITIVITY_COLUMNS)
    if _salib_delta() is None:
        ctx.note("sensitivity", label, "SALib is not installed: sensitivity skipped")
        return pd.DataFrame(columns=SENSITIVITY_COLUMNS)
    parts = []
    for iso, column, year in SENSITIVITY_OUTPUTS:
        output = f"{iso} {column} {year}"
        if iso not in ctx.iso3 or column not in ctx.columns or year not in cube.years:
            ctx.note("sensitivity", label, f"{output}: not in the ensemble")
            continue
        y = cube.at(year)[:, :, ctx.iso3.index(iso), ctx.columns.index(column)].astype(np.float64).mean(axis=1)
        if np.ptp(y) == 0:
            ctx.note("sensitivity", label, f"{output}: the same in every draw, no sensitivity")
            continue
        dummy = np.random.default_rng(np.random.SeedSequence(DELTA_SEED, spawn_key=(len(y),))).random(len(y))
        res = delta_analysis(np.column_stack([params.to_numpy(dtype=float), dummy]), y, [*params.columns, DUMMY])
        res.insert(0, "output", output)
        res.insert(0, "scenario", label)
        res["prior_driven"] = res["parameter"].map(lambda p: bool((ctx.prior or {}).get(p, False)))
        res["judgement"] = res["parameter"].isin(ctx.judgement)
        parts.append(res[list(SENSITIVITY_COLUMNS)])
    if not parts:
        return pd.DataFrame(columns=SENSITIVITY_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    order = {label: i for i, label in enumerate(ctx.labels)}
    outputs = {f"{i} {c} {y}": k for k, (i, c, y) in enumerate(SENSITIVITY_OUTPUTS)}
    return (out.assign(_s=out["scenario"].map(order), _o=out["output"].map(outputs))
            .sort_values(["_s", "_o", "parameter"], kind="mergesort").drop(columns=["_s", "_o"]).reset_index(drop=True))


def noise_floor(sensitivity: pd.DataFrame) -> pd.Series:
    """Per (scenario, output): the dummy's delta plus its half-width, below which an index says nothing."""
    d = sensitivity[sensitivity["parameter"] == DUMMY]
    return (d["delta"] + d["delta_conf"].fillna(0.0)).set_axis(pd.MultiIndex.from_frame(d[["scenario", "output"]]))


def compute_tables(work: Path, settings: Any, job: Mapping, prior_driven_path: Path | None = None,
                   effects: Mapping[str, Sequence] | None = None) -> dict[str, pd.DataFrame]:
    """The forecast tables of the module docstring, one scenario in memory at a time (plus the reference's few years).

    The serial composition of :func:`scenario_tables` (one per label, independent of each other: the forecast runs
    them in its worker processes) and :func:`assemble_tables`.

    Args:
        work: the forecast's work folder (``ensemble/``, ``events/``, ``draws.parquet``).
        settings: :class:`experiments.forecast.ForecastSettings` (``draws``, ``seeds``, ``first_table_year``,
            ``first_stored_year``, ``posterior`` are read).
        job: ``labels`` (the first is the reference) and optionally ``boldness`` (``central``/``cautious``/``bold`` per
            label; otherwise taken from the ``@variant`` suffix).
        prior_driven_path: the calibration's ``prior_driven.csv``; by default beside the posterior file.
        effects: each label's declared effects (:class:`experiments.effects.Effect` or their manifest dicts); none
            by default, so ``scenario_effects`` is empty.

    Returns:
        ``forecast, comparison, events, tripwires, sensitivity, scenario_effects, notes`` (see the module docstring).
    """
    parts = [scenario_tables(work, settings, job, label, prior_driven_path, effects) for label in job["labels"]]
    return assemble_tables(work, settings, job, parts, prior_driven_path, effects)


@dataclass
class _Setup:
    ctx: _Context
    labels: list[str]
    boldness: list[str]
    years: list[int]
    keep: list[int]
    draw_table: pd.DataFrame
    declared: dict[str, list[Effect]]


def _setup(work: Path, settings: Any, job: Mapping, prior_driven_path: Path | None,
           effects: Mapping[str, Sequence]) -> _Setup:
    """What every label's tables share: the context (with the job-wide notes), the years, the draws, the effects."""
    labels = [str(x) for x in job["labels"]]
    boldness = list(job.get("boldness") or [x.split("@", 1)[1] if "@" in x else "central" for x in labels])
    draws, seeds = int(settings.draws), int(settings.seeds)
    first_table = int(getattr(settings, "first_table_year", 2024))
    ens = _dataset(work, "ensemble")
    prior_path = default_prior_driven_path(settings) if prior_driven_path is None else Path(prior_driven_path)
    prior, why = load_prior_driven(prior_path)
    ctx = _Context(labels, labels[0], draws, seeds, first_table, int(getattr(settings, "first_stored_year", 2000)),
                   _iso3_axis(ens, labels[0]), tuple(c for c in column_names() if c in ens.schema.names), prior, [])
    if why:
        ctx.note("forecast", "", why)
    if ctx.first_stored_year > first_table:
        raise ValueError(f"first_table_year {first_table} is before first_stored_year {ctx.first_stored_year}")
    draw_file = work / "draws.parquet"
    if draw_file.is_file():
        draw_table = pd.read_parquet(draw_file)
        if sorted(draw_table["draw"]) != list(range(draws)):
            raise ValueError(f"{draw_file}: draws {sorted(draw_table['draw'])[:5]}... are not 0..{draws - 1}")
    else:
        draw_table = pd.DataFrame({"draw": range(draws)})
        ctx.note("forecast", "", f"{draw_file} not found: parameter-based outputs assume no parameter varies")
    axes = judgement_names(draw_table)
    if axes:
        # Nothing narrowed a judgement axis: it is prior-driven wherever the calibration's list is known or not.
        ctx.judgement = frozenset(axes)
        ctx.prior = {**(ctx.prior or {}), **dict.fromkeys(axes, True)}
    years = list(range(min(first_table, TRIPWIRE_WINDOW[0]), LAST_YEAR + 1))
    years = [y for y in years if y >= ctx.first_stored_year]
    keep = [y for y in years if TRIPWIRE_WINDOW[0] <= y <= TRIPWIRE_WINDOW[1] or y in COMPARISON_YEARS]
    declared = {label: [Effect.from_dict(e) for e in effects.get(label) or ()] for label in labels}
    if declared[labels[0]]:
        ctx.note("scenario_effects", labels[0], f"the reference's {len(declared[labels[0]])} declared effects are "
                 "not measured (it is what the other scenarios are compared with)")
    if prior is None and any(declared[x] for x in labels[1:]):
        ctx.note("scenario_effects", "", "no prior-driven parameter list: prior_driven False everywhere")
    if any(declared[x] for x in labels[1:]) and E.chance_of_driver(draws) > 0.001:
        ctx.note("scenario_effects", "", f"{draws} draws: a parameter unrelated to an effect reaches |rho| >= "
                 f"{E.DRIVER_RHO} with probability {E.chance_of_driver(draws):.2g}, so driving_parameters (and "
                 "prior_driven) may name chance correlates")
    return _Setup(ctx, labels, boldness, years, keep, draw_table, declared)


def scenario_tables(work: Path, settings: Any, job: Mapping, label: str, prior_driven_path: Path | None = None,
                    effects: Mapping[str, Sequence] | None = None) -> dict[str, Any]:
    """One label's share of every table: its own rows and, for a scenario other than the reference, its comparison,
    tripwires and effect rows (reading the reference's years it needs from the ensemble). Depends on no other label's
    result, so the labels of a job can run in parallel.

    Returns:
        ``{"frames": {table: DataFrame}, "effect_rows": [dict], "notes": [dict]}`` for :func:`assemble_tables`.
    """
    with threadpool_limits(1):  # small matrix products on a shared machine: BLAS threads only add contention
        return _scenario_tables(Path(work), settings, job, str(label), prior_driven_path, effects or {})


def _scenario_tables(work: Path, settings: Any, job: Mapping, label: str, prior_driven_path: Path | None,
                     effects: Mapping[str, Sequence]) -> dict[str, Any]:
    setup = _setup(work, settings, job, prior_driven_path, effects)
    ctx = setup.ctx
    if label not in setup.labels:
        raise ValueError(f"label {label!r} is not in the job; allowed: {', '.join(setup.labels)}")
    ctx.notes = []  # this label's notes only; the job-wide ones are assemble_tables'
    bold = setup.boldness[setup.labels.index(label)]
    ens, events = _dataset(work, "ensemble"), _dataset(work, "events")
    draws, prior = ctx.draws, ctx.prior
    frames: dict[str, pd.DataFrame] = {}
    effect_rows: list[dict] = []
    params = effective_parameters(setup.draw_table, bold)
    later: list[dict] = []  # the comparison's and tripwires' notes, kept in their place after the sensitivity's
    if label != ctx.reference:
        mine = setup.declared[label]
        # Three reads, each freed before the next holds much: the effects' variables over their years (both
        # scenarios), the comparison's years (both), then this scenario's table years. Two workers each hold one at
        # a time (forecast_peak_rss_mb).
        variables = {e.variable for e in mine}
        spans = [y for y in setup.years if any(e.year_start <= y <= e.year_end for e in mine)]
        narrow = [read_cube(ens, x, spans, draws, ctx.seeds, ctx.iso3, tuple(c for c in ctx.columns if c in variables))
                  for x in (label, ctx.reference)]
        for e in mine:
            a, b = E.statistic(narrow[0], e), E.statistic(narrow[1], e)
            if a is None or b is None:
                ctx.note("scenario_effects", label, f"{e.label()}: not in the stored ensemble (years "
                         f"{ctx.first_stored_year}-{LAST_YEAR}, its row or its column missing); no pairs")
            effect_rows.append(E.effect_row(label, e, None if a is None or b is None else a - b, params, prior))
        del narrow
        own, ref = (read_cube(ens, x, setup.keep, draws, ctx.seeds, ctx.iso3, ctx.columns)
                    for x in (label, ctx.reference))
        ctx.notes, mine_notes = later, ctx.notes
        frames["comparison"] = _comparison(ctx, label, own, ref)
        frames["tripwires"] = _tripwires(ctx, label, own, ref)
        ctx.notes = mine_notes
        del own, ref
        # The totals' paired differences need every forecast year of the reference, its flow columns only.
        flows = flow_columns(ctx.columns)
        span = [y for y in setup.years if y >= CUMULATIVE_PERIODS[0][0]]
        frames["cumulative"] = _cumulative(
            ctx, label, _flow_sums(ctx, label, read_cube(ens, label, span, draws, ctx.seeds, ctx.iso3, flows)),
            _flow_sums(ctx, label, read_cube(ens, ctx.reference, span, draws, ctx.seeds, ctx.iso3, flows)))
    cube = read_cube(ens, label, setup.years, draws, ctx.seeds, ctx.iso3, ctx.columns)
    if prior is None:
        basis = None
    else:
        pd_names = [c for c in params.columns if prior.get(c, False)]
        basis, kind = response_surface(params[pd_names].to_numpy(dtype=float))
        if basis is None:
            ctx.note("forecast", label, f"{len(pd_names)} prior-driven parameters and {draws} draws: too few "
                     "draws for a response surface, share_prior_driven NaN")
        else:
            ctx.note("forecast", label, f"share_prior_driven: {kind} surface in {len(pd_names)} varying "
                     f"prior-driven parameters ({', '.join(pd_names) or 'none, so the share is 0'})")
    judged = [c for c in params.columns if c in ctx.judgement]
    judgement_basis = None
    if judged:
        judgement_basis, kind = response_surface(params[judged].to_numpy(dtype=float))
        ctx.note("forecast", label, f"share_judgement: {kind} surface in {len(judged)} judgement axes"
                 if judgement_basis is not None else f"share_judgement: {len(judged)} judgement axes and {draws} "
                 "draws: too few draws for a response surface, NaN")
    frames["forecast"] = _forecast(ctx, label, cube, basis, judgement_basis)
    if label == ctx.reference:
        frames["cumulative"] = _cumulative(ctx, label, _flow_sums(ctx, label, cube))
    frames["events"] = _events(ctx, label, events, ens)
    frames["sensitivity"] = _sensitivity(ctx, label, cube, params)
    return {"frames": frames, "effect_rows": effect_rows, "notes": ctx.notes + later}


def assemble_tables(work: Path, settings: Any, job: Mapping, parts: Sequence[Mapping[str, Any]],
                    prior_driven_path: Path | None = None,
                    effects: Mapping[str, Sequence] | None = None) -> dict[str, pd.DataFrame]:
    """The tables from each label's :func:`scenario_tables` (``parts`` in the job's label order)."""
    setup = _setup(Path(work), settings, job, prior_driven_path, effects or {})
    ctx, labels = setup.ctx, setup.labels
    if len(parts) != len(labels):
        raise ValueError(f"{len(parts)} scenario parts for {len(labels)} labels")
    out: dict[str, list[pd.DataFrame]] = {k: [] for k in ("forecast", "cumulative", "comparison", "events",
                                                          "tripwires", "sensitivity")}
    effect_rows: list[dict] = []
    for part in parts:
        ctx.notes.extend(part["notes"])
        effect_rows.extend(part["effect_rows"])
        for name, frame in part["frames"].items():
            out[name].append(frame)
    if ctx.seeds < 4 or ctx.draws < 2:
        ctx.note("forecast", "", f"{ctx.draws} draws x {ctx.seeds} seeds: variance shares need >= 2 draws and >= 4 "
                 "seeds (two driver paths of two seeds), so they are NaN")
    spec = {"forecast": (FORECAST_COLUMNS, ["year"]), "cumulative": (CUMULATIVE_COLUMNS, ["year_to"]),
            "comparison": (COMPARISON_COLUMNS, ["year"]),
            "events": (EVENT_COLUMNS, []), "tripwires": (TRIPWIRE_COLUMNS, ["rank"]),
            "sensitivity": (SENSITIVITY_COLUMNS, [])}
    tables = {}
    order = {x: i for i, x in enumerate(labels)}
    for name, (columns, keys) in spec.items():
        frames = [f for f in out[name] if not f.empty]
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
        if name in ("forecast", "cumulative", "comparison"):
            tables[name] = _sorted(frame, labels, keys, columns)
        else:  # already in a fixed order within each scenario
            tables[name] = (frame.assign(_s=frame["scenario"].map(order)).sort_values("_s", kind="mergesort")
                            .drop(columns="_s").reset_index(drop=True)[list(columns)])
    tables["scenario_effects"] = (pd.DataFrame(effect_rows, columns=list(E.TABLE_COLUMNS)) if effect_rows
                                  else E.empty_table())
    tables["notes"] = pd.DataFrame(ctx.notes, columns=NOTE_COLUMNS)
    for name, frame in tables.items():
        frame.attrs["notes"] = [n["note"] for n in ctx.notes if n["table"] == name]
    return tables


# ----------------------------------------------------------------------------------------------------- markdown


def num(x: float) -> str:
    """Three significant figures without exponent (``0.0000909``, ``0.682``, ``26``, ``1,290``, ``48,600``):
    numbers an analyst can paste; trailing zeros dropped, thousands separated."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "–"
    if not np.isfinite(x):
        return "∞" if x > 0 else "−∞"
    if x == 0:
        return "0"
    magnitude = int(np.floor(np.log10(abs(x))))
    rounded = round(float(x), 2 - magnitude)
    text = f"{rounded:,.{max(0, 2 - magnitude)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _md_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "(no rows)\n"
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(num(v) if isinstance(v, (float, np.floating)) else str(v) for v in row) + " |"
            for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


def _key_rows(frame: pd.DataFrame) -> pd.DataFrame:
    col = [column_key(v, p) for v, p in zip(frame["variable"], frame["partner"], strict=True)]
    mask = frame["iso3"].isin((REGION, *KEY_STATES)) & pd.Series(col, index=frame.index).isin(MAIN_COLUMNS)
    return frame[mask & frame["year"].isin(MARKDOWN_YEARS)].assign(column=pd.Series(col, index=frame.index)[mask])


def is_binary(column: str, iso3: str) -> bool:
    """A state's 0/1 series (its region row counts states instead)."""
    v = VARIABLES.get(column)
    return v is not None and v.unit == "0/1" and iso3 != REGION


def unit_label(column: str, iso3: str, binary: str) -> str:
    """``column (unit)`` from the schema (docs/variables.md); a 0/1 series is ``binary`` at a state's row and counts
    states at the region's (or is their mean)."""
    v = VARIABLES.get(column)
    if v is None or not v.unit:
        return column
    unit = v.unit
    if unit == "0/1":
        unit = binary if iso3 != REGION else ("states" if v.lac == "sum" else "share of states")
    return f"{column} ({unit})"


def _pivot_years(frame: pd.DataFrame, cell: Callable[[Any], str], binary: str,
                 periods: Sequence[str] = tuple(map(str, MARKDOWN_YEARS)),
                 period: Callable[[Any], str] = lambda r: str(r.year)) -> pd.DataFrame:
    rows: dict[tuple, dict] = {}
    for r in frame.itertuples(index=False):
        key = (r.scenario, r.iso3, r.column)
        rows.setdefault(key, {"scenario": r.scenario, "iso3": r.iso3,
                              "variable": unit_label(r.column, r.iso3, binary)})[period(r)] = cell(r)
    cols = ["scenario", "iso3", "variable", *periods]
    return pd.DataFrame(list(rows.values())).reindex(columns=cols).fillna("")


def _notes_md(frame: pd.DataFrame) -> str:
    notes = frame.attrs.get("notes") or []
    return "".join(f"> Note: {n}\n" for n in dict.fromkeys(notes)) + ("\n" if notes else "")


def markdown(tables: Mapping[str, pd.DataFrame]) -> dict[str, str]:
    """Readable Markdown of each table; the forecast and comparison are shown for LAC and the key states, the main
    variables and 2030/2035/2040 only (the CSV/Parquet files have everything)."""
    out = {}
    if "forecast" in tables:
        f = _key_rows(tables["forecast"])
        view = _pivot_years(f, lambda r: (f"{r.mean:.2f}" if is_binary(r.column, r.iso3)
                                          else f"{num(r.median)} [{num(r.q05)}, {num(r.q95)}]")
                            + ("†" if r.prior_driven else ""), "probability")
        out["forecast"] = ("# Forecast\n\nMedian [5%, 95%] over every run (posterior draws x seeds), by scenario, for "
                           f"LAC (the region; sums or means of the states) and {', '.join(KEY_STATES)}, main "
                           "variables, units in brackets (docs/variables.md); a state's yes/no series is shown as the "
                           "probability of yes that year. † marks a prior-driven value (≥30% of its variance from "
                           "parameters the calibration did not narrow). Totals over 2024-2030 and 2024-2040 are in "
                           "the cumulative table. The full table (all states, variables and years, quartiles, means, "
                           "the variance shares of parameters / driver paths / chance, and share_judgement, the share "
                           "carried by the judgement axes) is forecast.csv; the CSV "
                           "and Parquet files keep the raw names."
                           "\n\n" + _notes_md(tables["forecast"]) + _md_table(view))
    if "cumulative" in tables:
        c = tables["cumulative"]
        col = pd.Series([column_key(v, p) for v, p in zip(c["variable"], c["partner"], strict=True)], index=c.index,
                        dtype=object)
        c = c[c["iso3"].isin((REGION, *KEY_STATES)) & col.isin(MAIN_COLUMNS)].assign(column=col)
        spans = [f"{a}-{b}" for a, b in CUMULATIVE_PERIODS]
        view = _pivot_years(c, lambda r: f"{num(r.median)} [{num(r.q05)}, {num(r.q95)}]"
                            + (f", at least once {r.p_any:.2f}" if is_binary(r.column, r.iso3) else "")
                            + ("" if pd.isna(r.diff_median) else f"; vs reference {num(r.diff_median)} "
                               f"[{num(r.diff_q05)}, {num(r.diff_q95)}] P+={r.p_positive:.2f} "
                               f"P-={r.p_negative:.2f}"),
                            "years", spans, lambda r: f"{r.year_from}-{r.year_to}")
        out["cumulative"] = ("# Totals over the forecast years\n\nEach flow variable summed over 2024-2030 and "
                             "2024-2040 run by run: median [5%, 95%] of the total; for a state's yes/no series the "
                             "total is the number of years it happens, and `at least once` the probability that it "
                             "happens in the period; for a scenario other than the reference, `vs reference` is the "
                             "paired difference of the totals (same draw and seed), median [5%, 95%], with the "
                             "probabilities that it is positive and negative. LAC and the key states, main "
                             "variables; all of them in cumulative.csv.\n\n" + _notes_md(tables["cumulative"])
                             + _md_table(view))
    if "comparison" in tables:
        c = _key_rows(tables["comparison"])
        view = _pivot_years(c, lambda r: f"{num(r.diff_median)} [{num(r.diff_q05)}, {num(r.diff_q95)}] "
                                         f"P+={r.p_positive:.2f} P-={r.p_negative:.2f}", "0/1")
        out["comparison"] = ("# Scenarios against the reference\n\nScenario minus reference, run by run (same draw "
                             "and seed): median [5%, 95%] of the difference, and the probabilities that it is positive "
                             "(P+) and negative (P-); the rest are ties. LAC and the key states, main variables; all "
                             "of them in comparison.csv.\n\n" + _notes_md(tables["comparison"]) + _md_table(view))
    if "scenario_effects" in tables:
        t = tables["scenario_effects"]
        out["scenario_effects"] = (
            "# Scenario effects\n\nWhat each scenario declares it does (`effects` in configs/scenario/<name>.yaml), "
            "measured: the effect's statistic is its variable summed over its years at its row; the difference is "
            "scenario minus reference run by run (same draw and seed), median [5%, 95%]; P(sign) is the share of "
            "pairs with the declared sign (ties count against) and the effect holds when it is at least "
            f"{E.HOLDS:.1f}; P(tie) and P(opposite) are the shares with no difference and with the other sign, so a "
            "weak effect shows whether runs contradict it or only leave it unmoved. Driving parameters have "
            f"|Spearman rho| >= {E.DRIVER_RHO:.1f} between a draw's mean "
            "difference and the parameter; the effect is prior-driven when one of them is. Effects on latent or "
            "driver variables (outcome: no) check the mechanism.\n\n" + _notes_md(t)
            + (_md_table(view) if len(view := E.markdown_view(t)) else
               "| " + " | ".join(view.columns) + " |\n|" + "|".join("---" for _ in view.columns) + "|\n\n"
               "(no scenario other than the reference declares effects)\n"))
    if "events" in tables:
        e = tables["events"]
        rows: dict[tuple, dict] = {}
        for r in e.itertuples(index=False):
            d = rows.setdefault((r.scenario, r.event), {"scenario": r.scenario, "event": r.event, "runs": r.n_runs,
                                                        "not applicable": r.n_not_applicable})
            d[f"by {r.by_year}"] = "n/a" if r.n_runs == 0 else f"{r.probability:.2f} [{r.low:.2f}, {r.high:.2f}]"
        out["events"] = ("# Events\n\nProbability that the event has happened by the year, over the runs, with a 90% "
                         "Wilson interval. `forums_above_2022`: more states attend China's defence forum in a year "
                         "than the 22 the article reports for 2022 (not a year); "
                         "`national_surveillance.X`: first national Chinese surveillance system in X; "
                         "runs where X already had one before 2024 are not applicable and left out (n/a when all "
                         "are).\n\n" + _notes_md(e) + _md_table(pd.DataFrame(list(rows.values()))))
    if "tripwires" in tables:
        t = tables["tripwires"]
        out["tripwires"] = ("# Tripwires\n\nFor each scenario, the 2024-2030 observable signals that best tell it from "
                            "the reference: AUC = P(value under the scenario > under the reference) (0.5: no signal, "
                            "1 or 0: perfect); crossing the threshold (at or `above`, at or `below` it) happens with "
                            "probability p_scenario under the scenario and p_reference under the reference; "
                            "youden_j = their difference. `cumulative` signals sum year_from..year_to.\n\n"
                            + _notes_md(t) + _md_table(t))
    if "sensitivity" in tables:
        s = tables["sensitivity"]
        group = (s["scenario"] + "|" + s["output"]).map({g: i for i, g in enumerate(dict.fromkeys(
            s["scenario"] + "|" + s["output"]))}) if len(s) else None
        view = (s.assign(_g=group).sort_values(["_g", "delta"], ascending=[True, False], kind="mergesort")
                .drop(columns=["_g"]) if len(s) else s)
        view = view.drop(columns=["note"]) if "note" in view else view
        out["sensitivity"] = ("# Sensitivity to the parameters\n\nBorgonovo's delta (0: the output's distribution does "
                              "not depend on the parameter; moment-independent, estimated on the posterior draws as "
                              "given) and the first-order index S1 (share of the variance of the per-draw mean), each "
                              "± its 95% bootstrap half-width, sorted by delta; prior_driven marks parameters the "
                              "calibration did not narrow, judgement the judgement axes (fixed parameters drawn over "
                              f"their judgement ranges). The `{DUMMY}` row is the same estimator on a column of "
                              "noise: an index at or below it (plus its half-width) says nothing.\n\n"
                              + _notes_md(s) + _md_table(view))
    if "notes" in tables:
        out["notes"] = "# Notes\n\nCaveats met while computing the tables.\n\n" + _md_table(tables["notes"])
    return out
