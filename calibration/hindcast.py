"""``python -m calibration.hindcast``: fit on the record to 2015, forecast 2016-2023, and score against naive baselines.

Issue 3 §4. Everything goes into ``out_dir`` (default ``outputs/calibration/hindcast``; ``configs/hindcast.yaml``):

1. **Fit.** The ABC-SMC of :func:`calibration.fit.run_fit` on the ``fit`` observations with ``year_end <=
   calibration.last_year`` (the cut, 2015). The pattern filter is cut the same way because its rows are observations:
   "peak in 2013-2017" and "Venezuela the largest customer" rest on later facts and leave the fit. The SIPRI block
   keeps the five-year totals that end by the cut (2000-04, 2005-09, 2010-14) at the calibration's weight, instead of
   being dropped as ``calibration.fit`` does for any cut: those totals identify the arms market's parameters, so
   without them the hindcast would test a prior-driven calibration rather than the shipped one, and they hold nothing
   after the cut. The fit resumes from ``history.db``; a finished fit with the same settings and data is reused.
2. **Forecast.** ``draws`` parameter sets from the hindcast posterior, each run with the calibration's seeds over
   2000-2023 with the recorded drivers: the forecast is conditional on the drivers (GDP, tension, governments) of
   2016-2023, an ex-post hindcast.
3. **Baselines**, built from the same runs by replacing each run's record after the cut, then computing the same
   statistics on it:

   - *persistence*: each slot of each state (and each region slot) at its mean over the five years to the cut
     (2011-2015);
   - *linear trend*: the OLS line of each slot of each state over those five years, extrapolated, and clipped to the
     range of the run's own values 2000-cut for indices and indicators (units 0/1, 0/1/2, [0,1], [-1,1], share) and
     below at 0 for counts, flows and money;
   - for the SIPRI five-year totals also a data-only baseline: the observed 2011-2015 annual mean of each state and
     supplier, persisted (a point forecast).

4. **Scores** of every fit observation with ``year_end`` after the cut, and of the SIPRI totals per state and per
   supplier group of the periods that end after it (2015-19, 2020-23):

   - counts, levels, trends: ensemble CRPS, E|X - y| - E|X - X'| / 2, in units of max(tolerance, 1) as in
     :mod:`calibration.objective`. y is the value (``eq``) or the midpoint of the range (``between``). A one-sided
     statement (``ge``/``le``) says only which side the truth is on, so it scores the distance to the allowed side,
     D = max(value - X, 0) for ``ge`` and max(X - value, 0) for ``le``, by the CRPS of D against 0: zero when every
     member is on the allowed side, the mean shortfall less half its spread otherwise (a hinge, as in the objective);
   - SIPRI totals: CRPS of log1p(TIV) in units of :data:`calibration.objective.SIPRI_LOG_SCALE`, the objective's scale;
   - events and patterns: Brier score (1 - p)^2, p the share of members whose statistic satisfies the statement within
     its tolerance (:func:`calibration.objective.hits`); the statements are true, so the outcome is 1;
   - 90% coverage: whether the members' 5-95% interval meets the set of values the statement allows (the value, the
     range, or the half-line of a one-sided statement).

   Skill against a baseline is 1 - CRPS_model / CRPS_baseline on the mean scaled CRPS of a set of rows. Since such a
   mean over a few rows can rest on one of them, the report also counts the rows each side wins and gives the skill
   without the row that favours the model most.
5. **Outputs**, written atomically: ``hindcast_scores.csv`` (one row per later observation or SIPRI total),
   ``hindcast.md`` and ``hindcast_manifest.json``; one summary line is printed.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from calibration.check import posterior_draws
from calibration.fit import run_fit
from calibration.objective import BINARY_KINDS, SIPRI_LOG_SCALE, Weights, hits
from calibration.observations import OBSERVATIONS_PATH
from calibration.problem import Problem
from calibration.setup import Setup, prepare, validate
from calibration.targets import (
    NON_CHINESE,
    SIPRI_PERIODS,
    Target,
    compile_targets,
    evaluate,
    sipri_blocks,
    sipri_total_ids,
)
from common.cli import fail, precheck
from common.posterior import load_posterior
from common.provenance import manifest, write_atomically, write_json
from model.data import HIST_END, HIST_START, ISO3, ModelData
from model.params import ConfigError, check_number, with_overrides
from model.run import simulate_many
from model.schema import IMPORT_SUPPLIERS, REGION_VARIABLES, STATE_SLOTS, STATE_VARIABLES

# Baselines are built from this many years up to the cut (2011-2015 for a 2015 cut).
BASELINE_YEARS = 5
# At least this many years to forecast, so that the later observations are not a handful of one-year windows.
MIN_FORECAST_YEARS = 3
MIN_CUT = HIST_START + BASELINE_YEARS
MAX_CUT = HIST_END - MIN_FORECAST_YEARS
# Units of variables that are indices or indicators: a trend is held inside the run's own past range of them.
BOUNDED_UNITS = frozenset({"0/1", "0/1/2", "[0,1]", "[-1,1]", "share"})
STATE_BOUNDED = np.array([v.unit in BOUNDED_UNITS for v in STATE_VARIABLES])
REGION_BOUNDED = np.array([v.unit in BOUNDED_UNITS for v in REGION_VARIABLES])
CRPS_KINDS = ("count", "level", "trend")
SIPRI_KIND = "sipri"
ENSEMBLES = ("model", "persistence", "trend")
BASELINES = ("persistence", "trend", "data")
FIT_SECTIONS = ("params", "drivers", "scenario", "calibration")


# --- scores ---------------------------------------------------------------------------------------------------------

def crps_ensemble(sample: np.ndarray, y: float) -> float:
    """CRPS of an equally weighted ensemble against ``y``: E|X - y| - E|X - X'| / 2 (Gneiting & Raftery 2007)."""
    x = np.sort(np.asarray(sample, dtype=float))
    n = len(x)
    # The sum of |x_i - x_j| over ordered pairs is 2 * sum_i (2i - n + 1) x_(i) (i from 0): O(n log n), not O(n^2).
    spread = 2.0 * float(np.dot(2.0 * np.arange(n) - n + 1, x)) / n**2
    return float(np.mean(np.abs(x - y))) - 0.5 * spread


def statement_crps(target: Target, sample: np.ndarray) -> float:
    """CRPS of the members' statistics against the observation, in the statistic's units (module docstring, 4)."""
    if target.relation == "ge":
        return crps_ensemble(np.maximum(target.value - sample, 0.0), 0.0)
    if target.relation == "le":
        return crps_ensemble(np.maximum(sample - target.value, 0.0), 0.0)
    if target.relation == "between":
        return crps_ensemble(sample, 0.5 * (target.low + target.high))
    return crps_ensemble(sample, target.value)


def covers(target: Target, q05: float, q95: float) -> bool:
    """Whether the interval [q05, q95] meets the values the statement allows."""
    low, high = {"eq": (target.value, target.value), "between": (target.low, target.high),
                 "ge": (target.value, np.inf), "le": (-np.inf, target.value)}[target.relation]
    return bool(q05 <= high and q95 >= low)


def skill(model: float, baseline: float) -> float:
    """1 - model / baseline: positive when the model's CRPS is lower; undefined when the baseline is perfect."""
    return 1.0 - model / baseline if baseline > 0 else float("nan")


# --- baselines ------------------------------------------------------------------------------------------------------

def _window(years: np.ndarray, cut: int) -> np.ndarray:
    return (years > cut - BASELINE_YEARS) & (years <= cut)


def persistence(record: np.ndarray, years: np.ndarray, cut: int) -> np.ndarray:
    """``record`` (year first) with every year after ``cut`` at the mean of the BASELINE_YEARS years to ``cut``."""
    out = record.copy()
    out[years > cut] = record[_window(years, cut)].mean(axis=0)
    return out


def linear_trend(record: np.ndarray, years: np.ndarray, cut: int, bounded: np.ndarray) -> np.ndarray:
    """``record`` with every year after ``cut`` on the OLS line of the BASELINE_YEARS years to ``cut``, clipped.

    ``bounded`` (broadcast over the trailing axes) marks indices and indicators, held to the range of their values up
    to ``cut``; everything else is held at or above 0.
    """
    window = _window(years, cut)
    centre = years[window].mean()
    t = years[window] - centre
    level = record[window].mean(axis=0)
    # The centred years sum to zero, so the OLS slope is t.x / t.t without centring x.
    slope = np.tensordot(t, record[window], axes=1) / float(t @ t)
    ahead = (years[years > cut] - centre).reshape((-1,) + (1,) * (record.ndim - 1))
    past = record[years <= cut]
    lower = np.where(bounded, past.min(axis=0), 0.0)
    upper = np.where(bounded, past.max(axis=0), np.inf)
    out = record.copy()
    out[years > cut] = np.clip(level + ahead * slope, lower, upper)
    return out


def observed_imports(data: ModelData) -> np.ndarray:
    """The SIPRI data in the model's record layout (year, state, slot), non-Chinese import slots only."""
    record = np.zeros((data.sipri_imports.shape[0], len(ISO3), len(STATE_VARIABLES)))
    for p in NON_CHINESE:
        record[:, :, STATE_SLOTS[("arms_imports_tiv", p)]] = data.sipri_imports[:, :, IMPORT_SUPPLIERS.index(p)]
    return record


# --- the fit --------------------------------------------------------------------------------------------------------

def hindcast_settings(config: dict) -> tuple[int, int]:
    """The cut and the number of draws; one-line errors naming the key."""
    cut = int(check_number("calibration.last_year", config["calibration"]["last_year"], MIN_CUT, MAX_CUT, integer=True))
    draws = int(check_number("draws", config["draws"], 1, 100_000, integer=True))
    return cut, draws


def validate_hindcast(config: dict) -> None:
    """Everything the command line can get wrong (for :func:`common.cli.precheck`)."""
    # The hindcast's own range first: the calibration's allows cuts up to 2023, which leave nothing to forecast.
    cut, _ = hindcast_settings(config)
    validate(config)
    if config["fitted"]:
        fitted_elsewhere(Path(config["fitted"]), cut)


def _fit_key(config: dict, hashes: dict) -> str:
    """What a fit depends on, normalised as the manifest stores it (JSON), to tell a reusable fit from a stale one."""
    return json.dumps({"config": {k: config[k] for k in FIT_SECTIONS}, "data_hashes": hashes}, sort_keys=True,
                      default=str)


def fitted_elsewhere(path: Path, cut: int) -> dict:
    """The manifest of a posterior fitted to the record up to ``cut`` by another command (``fitted``: e.g. the one
    calibration.npe writes with ``npe.hindcast_cut``); one-line errors when it is missing or fitted to another cut."""
    record_path = path.parent / "manifest.json"
    if not path.is_file() or not record_path.is_file():
        raise ConfigError(f"fitted: {path} or the manifest.json beside it not found; allowed: a posterior.parquet "
                          "with its manifest (calibration.npe's hindcast_fit/), or empty for this command's ABC fit")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    last = record.get("fit", {}).get("last_year")
    if last != cut:
        raise ConfigError(f"fitted: {path} was fitted to the record up to {last}; allowed: a posterior fitted up to "
                          f"calibration.last_year ({cut})")
    return record


def hindcast_fit(s: Setup, cut: int, out_dir: Path, hashes: dict) -> dict:
    """Run, resume or reuse the hindcast fit; returns its manifest record."""
    if s.config["fitted"]:
        return fitted_elsewhere(Path(s.config["fitted"]), cut)
    record_path, posterior_path = out_dir / "manifest.json", out_dir / "posterior.parquet"
    if record_path.is_file() and posterior_path.is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if "fit" in record and _fit_key(record["config"], record["data_hashes"]) == _fit_key(s.config, hashes):
            print(f"hindcast: reusing the finished fit in {out_dir}", file=sys.stderr)
            return record
        raise ConfigError(f"out_dir: {out_dir} holds a finished fit with other settings or data; allowed: the same "
                          "settings, or another out_dir")
    settings = s.settings
    targets = compile_targets(s.observations, s.drivers.years, s.data, last_year=cut)
    problem = Problem(s.exp.params, s.data, s.drivers, targets, settings.seeds_per_particle, settings.root_seed,
                      Weights(sipri=settings.sipri_weight, kind=settings.distance), list(settings.priors),
                      last_year=cut)
    print(f"hindcast: fitting {len(targets)} targets with year_end <= {cut} and {int(problem.sipri_keep.sum())} SIPRI "
          f"totals", file=sys.stderr, flush=True)
    run_fit(settings, problem, out_dir, s.config, hashes)
    return json.loads(record_path.read_text(encoding="utf-8"))


# --- forecast and scores --------------------------------------------------------------------------------------------

def later_targets(s: Setup, cut: int) -> list[Target]:
    """Targets of the fit observations whose window ends after the cut."""
    ends = s.observations.set_index("id").year_end
    return [t for t in compile_targets(s.observations, s.drivers.years, s.data) if ends[t.id] > cut]


def sipri_ids(cut: int) -> list[str]:
    """Row ids of the SIPRI totals scored, in the order of :func:`later_sipri`."""
    return sipri_total_ids(tuple((a, b) for a, b in SIPRI_PERIODS if b > cut))


def later_sipri(states: np.ndarray, years: np.ndarray, cut: int) -> np.ndarray:
    """The SIPRI totals of the periods ending after the cut, per state then per supplier group, flattened."""
    later = np.array([b > cut for _, b in SIPRI_PERIODS])
    by_state, by_group = sipri_blocks(states, years)
    return np.concatenate([by_state[later].ravel(), by_group[later].ravel()])


def forecast(s: Setup, posterior: pd.DataFrame, targets: list[Target], cut: int,
             draws: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Statistics and SIPRI totals of every member, (draws x seeds, ...), for the model and each run-based baseline."""
    settings, years = s.settings, s.drivers.years
    rng = np.random.default_rng(np.random.SeedSequence(settings.root_seed, spawn_key=(0x41DC,)))
    stats: dict[str, list] = {name: [] for name in ENSEMBLES}
    sipri: dict[str, list] = {name: [] for name in ENSEMBLES}
    for d, values in enumerate(posterior_draws(posterior, draws, rng)):
        params = with_overrides(s.exp.params, values)
        for run in simulate_many(params, s.data, s.drivers, settings.root_seed,
                                 list(range(settings.seeds_per_particle)), draw=d):
            records = {"model": (run.states, run.region),
                       "persistence": (persistence(run.states, years, cut), persistence(run.region, years, cut)),
                       "trend": (linear_trend(run.states, years, cut, STATE_BOUNDED),
                                 linear_trend(run.region, years, cut, REGION_BOUNDED))}
            for name, (states, region) in records.items():
                stats[name].append(evaluate(targets, states, region, s.data))
                sipri[name].append(later_sipri(states, years, cut))
        if (d + 1) % max(draws // 10, 1) == 0:
            print(f"hindcast: draw {d + 1}/{draws}", file=sys.stderr, flush=True)
    return ({k: np.array(v) for k, v in stats.items()}, {k: np.array(v) for k, v in sipri.items()})


def _members(sample: np.ndarray) -> dict[str, float]:
    q05, median, q95 = np.percentile(sample, [5, 50, 95])
    return {"q05": q05, "median": median, "q95": q95}


def observation_scores(targets: list[Target], stats: dict[str, np.ndarray], year_end: pd.Series) -> pd.DataFrame:
    """One row per later observation: the observation, then each ensemble's interval and CRPS or Brier and coverage."""
    satisfied = {name: hits(targets, sims) for name, sims in stats.items()}
    rows = []
    for j, t in enumerate(targets):
        unit, binary = max(t.tolerance, 1.0), t.kind in BINARY_KINDS
        row = {"id": t.id, "kind": t.kind, "statistic": t.statistic, "relation": t.relation,
               "observed": t.value if t.relation != "between" else np.nan, "observed_low": t.low,
               "observed_high": t.high, "year_end": int(year_end[t.id]), "unit": unit}
        for name, sims in stats.items():
            m = _members(sims[:, j])
            row |= {f"{name}_{k}": v for k, v in m.items()}
            probability = float(satisfied[name][:, j].mean())
            row[f"{name}_probability"] = probability
            row[f"{name}_crps"] = np.nan if binary else statement_crps(t, sims[:, j]) / unit
            row[f"{name}_brier"] = (1.0 - probability) ** 2 if binary else np.nan
            row[f"{name}_covered"] = np.nan if binary else float(covers(t, m["q05"], m["q95"]))
        rows.append(row)
    return pd.DataFrame(rows)


def sipri_scores(cut: int, sipri: dict[str, np.ndarray], observed: np.ndarray, data_point: np.ndarray) -> pd.DataFrame:
    """One row per later SIPRI total: CRPS on the log1p scale of the objective, coverage on TIV."""
    def scale(v: np.ndarray) -> np.ndarray:
        return np.log1p(v) / SIPRI_LOG_SCALE

    rows = []
    for j, rid in enumerate(sipri_ids(cut)):
        row = {"id": rid, "kind": SIPRI_KIND, "statistic": "sum", "relation": "eq", "observed": observed[j],
               "observed_low": np.nan, "observed_high": np.nan, "year_end": int(rid.split("_")[2]),
               "unit": SIPRI_LOG_SCALE}
        for name, sims in sipri.items():
            m = _members(sims[:, j])
            row |= {f"{name}_{k}": v for k, v in m.items()}
            row[f"{name}_crps"] = crps_ensemble(scale(sims[:, j]), float(scale(observed[j])))
            row[f"{name}_covered"] = float(m["q05"] <= observed[j] <= m["q95"])
        row["data_median"] = data_point[j]
        row["data_crps"] = abs(float(scale(data_point[j]) - scale(observed[j])))
        rows.append(row)
    return pd.DataFrame(rows)


def robustness(rows: pd.DataFrame, baseline: str) -> dict:
    """Rows where the model's CRPS is lower, and the skill without the one row that favours the model most.

    A mean over a few rows on different scales can rest on one of them; this says whether it does.
    """
    gain = rows[f"{baseline}_crps"] - rows["model_crps"]
    top = gain.idxmax()
    rest = rows.drop(index=top)
    return {"wins": int((gain > 0).sum()), "losses": int((gain < 0).sum()), "decisive_row": str(rows.id[top]),
            "skill_without_it": skill(float(rest.model_crps.mean()), float(rest[f"{baseline}_crps"].mean()))}


def summarise(table: pd.DataFrame) -> dict:
    """Mean scaled CRPS and skills of the counts/levels/trends and of the SIPRI totals, mean Brier, coverage."""
    out: dict = {}
    for label, rows, baselines in (("observations", table[table.kind.isin(CRPS_KINDS)], ENSEMBLES[1:]),
                                   ("sipri", table[table.kind == SIPRI_KIND], BASELINES)):
        crps = {name: float(rows[f"{name}_crps"].mean()) for name in ("model", *baselines)}
        out[label] = {"rows": len(rows), "crps": crps,
                      "skill": {b: skill(crps["model"], crps[b]) for b in baselines},
                      "coverage": {name: float(rows[f"{name}_covered"].mean()) for name in ENSEMBLES},
                      "beats_all": all(crps["model"] < crps[b] for b in baselines),
                      "robustness": {b: robustness(rows, b) for b in baselines}}
    binary = table[table.kind.isin(BINARY_KINDS)]
    out["events"] = {"rows": len(binary), "brier": {name: float(binary[f"{name}_brier"].mean()) for name in ENSEMBLES}}
    return out


# --- report ---------------------------------------------------------------------------------------------------------

def _verdict(part: dict, what: str) -> str:
    crps, skills, rob = part["crps"], part["skill"], part["robustness"]
    against = "; ".join(f"{b} {crps[b]:.3f} (skill {skills[b]:+.1%})" for b in skills)
    if part["beats_all"]:
        head = f"The model beats every baseline on CRPS for {what}: model {crps['model']:.3f} against {against}."
    else:
        lost = ", ".join(b for b in skills if not crps["model"] < crps[b])
        head = (f"The model does **not** beat every baseline on CRPS for {what} (not {lost}): model "
                f"{crps['model']:.3f} against {against}.")
    rows = "; ".join(f"against {b}, lower CRPS in {r['wins']} of {part['rows']} rows (higher in {r['losses']}), "
                     f"skill {r['skill_without_it']:+.1%} without {r['decisive_row']}" for b, r in rob.items())
    return f"{head} Row by row: {rows}."


def markdown(table: pd.DataFrame, summary: dict, cut: int, fit_record: dict, fitted: list[Target], source: str,
             draws: int, seeds: int) -> str:
    """The report: what was done, the summary, the verdict, then every scored row."""
    obs, sip, ev = summary["observations"], summary["sipri"], summary["events"]
    f = fit_record["fit"]
    window = f"{cut - BASELINE_YEARS + 1}-{cut}"
    if f.get("method") == "npe":
        how = (f"neural posterior estimation (calibration.npe: {f['ensemble']} flows trained on {f['simulations']} "
               f"prior simulations)")
        sizes = f"{f['posterior_samples']} posterior draws"
    else:
        how = "ABC-SMC"
        sizes = (f"{fit_record['config']['calibration']['population_size']} particles, {f['generations']} "
                 f"generations, final epsilon {f['final_epsilon']:.4g}, {f['simulations']} simulations")
    lines = [
        f"# Hindcast: fit to {cut}, forecast {cut + 1}-{HIST_END}", "",
        f"Fit: {how} on the {len(fitted)} fit observations with year_end <= {cut} "
        f"({sum(t.kind == 'pattern' for t in fitted)} of them patterns) and the SIPRI five-year totals ending by "
        f"{cut}; {sizes}. Forecast: {draws} draws of {source} x {seeds} seeds, 2000-{HIST_END} "
        f"with the recorded drivers (conditional on the drivers after {cut}).", "",
        f"Baselines, from the same runs with the years after {cut} replaced: *persistence* = each slot's mean over "
        f"{window} per state; *trend* = each slot's OLS line over {window} per state, extrapolated, clipped to the "
        f"run's own 2000-{cut} range for indices and indicators and at 0 below for counts, flows and money. SIPRI "
        f"totals also against *data*: the observed {window} annual mean per state and supplier, persisted.", "",
        "CRPS: ensemble CRPS in units of max(tolerance, 1); `between` against the range's midpoint; `ge`/`le` as the "
        "CRPS against 0 of the distance to the allowed side (max(value - X, 0) for ge, max(X - value, 0) for le). "
        f"SIPRI totals: CRPS of log1p(TIV) / {SIPRI_LOG_SCALE}. Brier: (1 - P(statement holds within tolerance))^2. "
        "Coverage: the 5-95% interval meets the values the statement allows.", "",
        f"Scored: {len(table) - summary['sipri']['rows']} fit observations with year_end > {cut} "
        f"({int((table.kind == 'pattern').sum())} of them patterns) and {summary['sipri']['rows']} SIPRI totals.", "",
        "## Summary", "",
        "| scored | rows | model | persistence | trend | data | skill vs persistence | skill vs trend "
        "| skill vs data |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| mean CRPS, counts/levels/trends | {obs['rows']} | {obs['crps']['model']:.3f} | "
        f"{obs['crps']['persistence']:.3f} | {obs['crps']['trend']:.3f} | | {obs['skill']['persistence']:+.1%} | "
        f"{obs['skill']['trend']:+.1%} | |",
        f"| mean CRPS, SIPRI totals | {sip['rows']} | {sip['crps']['model']:.3f} | {sip['crps']['persistence']:.3f} | "
        f"{sip['crps']['trend']:.3f} | {sip['crps']['data']:.3f} | {sip['skill']['persistence']:+.1%} | "
        f"{sip['skill']['trend']:+.1%} | {sip['skill']['data']:+.1%} |",
        f"| mean Brier, events/patterns | {ev['rows']} | {ev['brier']['model']:.3f} | "
        f"{ev['brier']['persistence']:.3f} | {ev['brier']['trend']:.3f} | | | | |",
        f"| 90% coverage, counts/levels/trends | {obs['rows']} | {obs['coverage']['model']:.0%} | "
        f"{obs['coverage']['persistence']:.0%} | {obs['coverage']['trend']:.0%} | | | | |",
        f"| 90% coverage, SIPRI totals | {sip['rows']} | {sip['coverage']['model']:.0%} | "
        f"{sip['coverage']['persistence']:.0%} | {sip['coverage']['trend']:.0%} | | | | |", "",
        _verdict(obs, "the later counts, levels and trends"), "",
        _verdict(sip, "the later SIPRI totals"), "",
        "## Later observations", "",
        "| id | kind | year_end | statement | model median [90%] | CRPS or Brier: model / persistence / trend |",
        "|---|---|---|---|---|---|"]
    for r in table[table.kind != SIPRI_KIND].itertuples(index=False):
        statement = (f"{r.relation} {r.observed:.4g}" if r.relation != "between"
                     else f"between {r.observed_low:.4g} and {r.observed_high:.4g}")
        score = "brier" if r.kind in BINARY_KINDS else "crps"
        values = " / ".join(f"{getattr(r, f'{n}_{score}'):.3f}" for n in ENSEMBLES)
        lines.append(f"| {r.id} | {r.kind} | {r.year_end} | {statement} | {r.model_median:.4g} "
                     f"[{r.model_q05:.4g}, {r.model_q95:.4g}] | {score}: {values} |")
    lines += ["", "## SIPRI five-year totals (TIV m, non-Chinese suppliers)", "",
              "| id | observed | model median [90%] | data baseline | CRPS: model / persistence / trend / data |",
              "|---|---|---|---|---|"]
    for r in table[table.kind == SIPRI_KIND].itertuples(index=False):
        lines.append(f"| {r.id} | {r.observed:.4g} | {r.model_median:.4g} [{r.model_q05:.4g}, {r.model_q95:.4g}] | "
                     f"{r.data_median:.4g} | {r.model_crps:.3f} / {r.persistence_crps:.3f} / {r.trend_crps:.3f} / "
                     f"{r.data_crps:.3f} |")
    return "\n".join(lines) + "\n"


def summary_line(summary: dict, path: Path) -> str:
    """The one line printed at the end."""
    obs, sip, ev = summary["observations"], summary["sipri"], summary["events"]
    return (f"hindcast: CRPS of {obs['rows']} later counts/levels/trends: model {obs['crps']['model']:.3f}, "
            f"persistence {obs['crps']['persistence']:.3f} (skill {obs['skill']['persistence']:+.1%}), trend "
            f"{obs['crps']['trend']:.3f} (skill {obs['skill']['trend']:+.1%}): "
            f"{'beats both' if obs['beats_all'] else 'does NOT beat both'} (skill without the row most in its favour: "
            f"{obs['robustness']['persistence']['skill_without_it']:+.1%} / "
            f"{obs['robustness']['trend']['skill_without_it']:+.1%}); "
            "SIPRI totals: model "
            f"{sip['crps']['model']:.3f}, skill {sip['skill']['persistence']:+.1%} / {sip['skill']['trend']:+.1%} / "
            f"{sip['skill']['data']:+.1%} (persistence/trend/data); Brier {ev['brier']['model']:.3f} / "
            f"{ev['brier']['persistence']:.3f} / {ev['brier']['trend']:.3f}; 90% coverage "
            f"{obs['coverage']['model']:.0%}; {path}")


def command(cfg: DictConfig) -> None:
    """Fit (or reuse the fit), forecast, score, write the report, print the summary line."""
    start = time.perf_counter()
    s = prepare(cfg)
    out_dir = Path(s.config["out_dir"])
    hashes = dict(s.data.hashes)
    hashes["observations.csv"] = hashlib.sha256(OBSERVATIONS_PATH.read_bytes()).hexdigest()
    try:
        cut, draws = hindcast_settings(s.config)
        fit_record = hindcast_fit(s, cut, out_dir, hashes)
        posterior, source = load_posterior(Path(s.config["fitted"]) if s.config["fitted"]
                                           else out_dir / "posterior.parquet")
    except ConfigError as exc:
        fail(str(exc))
    fit_s = time.perf_counter() - start
    fitted = compile_targets(s.observations, s.drivers.years, s.data, last_year=cut)
    targets = later_targets(s, cut)
    stats, sipri = forecast(s, posterior, targets, cut, draws)
    years = np.arange(HIST_START, HIST_START + s.data.sipri_imports.shape[0])
    imports = observed_imports(s.data)
    observed = later_sipri(imports, years, cut)
    data_point = later_sipri(persistence(imports, years, cut), years, cut)
    table = pd.concat([observation_scores(targets, stats, s.observations.set_index("id").year_end),
                       sipri_scores(cut, sipri, observed, data_point)], ignore_index=True)
    summary = summarise(table)
    seeds = s.settings.seeds_per_particle
    record = manifest(s.config, {"root_seed": s.settings.root_seed, "draws": draws, "seeds_per_draw": seeds}, hashes)
    record["hindcast"] = {"last_year": cut, "posterior": source, "fit": fit_record["fit"], "summary": summary,
                          "fit_wall_s": round(fit_s, 1), "wall_s": round(time.perf_counter() - start, 1)}
    write_atomically(out_dir, {
        "hindcast_scores.csv": lambda p: table.to_csv(p, index=False),
        "hindcast.md": lambda p: p.write_text(markdown(table, summary, cut, fit_record, fitted, source, draws, seeds),
                                              encoding="utf-8"),
        "hindcast_manifest.json": lambda p: write_json(p, record)})
    print(summary_line(summary, out_dir / "hindcast.md"))


if __name__ == "__main__":
    precheck("hindcast", validate_hindcast)
    from calibration.cli import hindcast

    hindcast()
