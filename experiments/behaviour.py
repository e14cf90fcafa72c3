"""``python -m experiments.behaviour [OUT.json]``: the model-behaviour figures of docs/ODD.md §10.1, on the posterior.

Writes ``calibration/posterior/behaviour.json`` (or OUT.json), measured on the shipped posterior.

What a reviewer checks before trusting a scenario model, measured on posterior draws x seeds (paired by draw and
seed across scenarios):

* the responsive links: per year 2005-2040 the 5th-95th percentiles of US pressure, LAC-mean US leverage and China's
  boldness, and the share of run-years within 0.01 of a bound (0 or 1);
* the arms market of 2000-2023: Chinese deals signed, failed and vetoed per run, the buyers' shares, how often
  Venezuela is the largest buyer and the share of deals with states the article does not name as buyers; and, out of
  fit, the deals the other suppliers sign that begin delivering, by state, against SIPRI's count of deals ordered in
  the same years (``ModelData.sipri_deals_ordered``);
* participation: states training, attending forums and with Chinese surveillance, delegation visits, exercises;
* the tension scenario against the baseline at 2030: paired differences of pressure, boldness, vetoes and Chinese
  deals by state, and how often the set of states offered Chinese arms changes.

The same functions back the behaviour tests (tests/test_behaviour.py), so the shipped figures and the tests agree.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.cli import fail
from common.config import build_model
from common.posterior import load_posterior
from common.provenance import manifest, write_atomically
from experiments.forecast import ForecastSettings, compose_model, draw_parameters, draw_table
from model.agents import CHN_IDX
from model.data import DEALS_ORDERED, ModelData, load_data
from model.drivers import FIRST_YEAR, LAST_YEAR, build_drivers
from model.params import PROJECT_ROOT, ConfigError
from model.run import RunResult, simulate_batch
from model.schema import ARMS_CATEGORIES, REGION_SLOTS, STATE_SLOTS, SUPPLIERS, Partner

# The article's Chinese arms buyers 2000-2023 (Analysis section: Venezuela, Bolivia, Ecuador, Peru, Argentina,
# Mexico, the Bahamas' patrol boats); donations are not deals.
NAMED_BUYERS = ("ARG", "BHS", "BOL", "ECU", "MEX", "PER", "VEN")
LINKS = ("us_pressure", "us_leverage", "china_boldness")
# The suppliers whose deals SIPRI's file leaves out of the deal counts: China (held out) and the state's own industry.
OWN_SUPPLIERS = np.array([CHN_IDX, SUPPLIERS.index(Partner.DOMESTIC)])
NEAR_BOUND = 0.01


@dataclass(frozen=True)
class Runs:
    """Records of one scenario: region (run, year, slot) and per-state (run, year, state, slot), plus Chinese deals."""

    years: np.ndarray
    iso3: tuple[str, ...]
    region: np.ndarray
    states: np.ndarray
    china_deals: list[dict[str, np.ndarray]]
    # (run, state): deals with suppliers other than China (imports only) signed in DEALS_ORDERED that delivered
    # anything, as SIPRI lists a deal once deliveries begin.
    import_deals: np.ndarray
    sipri_deals: np.ndarray

    def state_series(self, name: str, partner: Partner = Partner.CHN) -> np.ndarray:
        return self.states[:, :, :, STATE_SLOTS[(name, partner)]]

    def region_series(self, name: str) -> np.ndarray:
        return self.region[:, :, REGION_SLOTS[name]]

    def link(self, name: str) -> np.ndarray:
        """(run, year) of a link: region-level, or the LAC mean of a per-state link."""
        if name == "us_leverage":
            return self.state_series("us_leverage", Partner.USA).mean(axis=2)
        return self.region_series(name)


def run_scenario(scenario: str, draws: int, seeds: int, data: ModelData, posterior: Path | None,
                 root_seed: int = 20240101) -> Runs:
    """``draws`` posterior draws x ``seeds`` seeds of one scenario, 2000-2040, as the forecast draws them, with the
    judgement axes at their defaults (as the calibration fitted the record)."""
    exp = build_model(compose_model([], scenario))
    settings = ForecastSettings(posterior=str(posterior) if posterior else "defaults", draws=draws, seeds=seeds,
                                root_seed=root_seed, first_stored_year=FIRST_YEAR, first_table_year=2024,
                                executor="serial", workers=1, dask_scheduler="", batch_size=draws,
                                boldness_scenarios=(), judgement="fixed", out_root="outputs", formats=())
    table = draw_table(settings, load_posterior(posterior)[0] if posterior else None)
    params = draw_parameters(exp.params, table, "central")
    drivers = build_drivers(data, exp.drivers, FIRST_YEAR, LAST_YEAR)
    results: list[RunResult] = simulate_batch([p for p in params for _ in range(seeds)], data, drivers, root_seed,
                                              draws=[d for d in range(len(params)) for _ in range(seeds)],
                                              seeds=list(range(seeds)) * len(params))
    deals, imports = [], []
    for r in results:
        d = r.deals
        chinese = (d["supplier"] == CHN_IDX) & ~d["donation"]
        deals.append({k: v[chinese] for k, v in d.items()})
        counted = (~np.isin(d["supplier"], OWN_SUPPLIERS) & (d["signed"] >= DEALS_ORDERED[0])
                   & (d["signed"] <= DEALS_ORDERED[1]) & (d["delivered"] > 0))
        imports.append(np.bincount(d["state"][counted], minlength=len(data.iso3)))
    return Runs(results[0].years, data.iso3, np.stack([r.region for r in results]),
                np.stack([r.states for r in results]), deals, np.stack(imports), data.sipri_deals_ordered)


def link_bounds(runs: Runs, first: int = 2005, last: int = 2040) -> dict:
    """Per link: the widest 5-95% band over the years and the share of run-years within NEAR_BOUND of 0 or 1."""
    sel = (runs.years >= first) & (runs.years <= last)
    out = {}
    for name in LINKS:
        x = runs.link(name)[:, sel]
        q5, q95 = np.percentile(x, [5, 95], axis=0)
        near = (x <= NEAR_BOUND) | (x >= 1.0 - NEAR_BOUND)
        out[name] = {"min_q05": round(float(q5.min()), 4), "max_q95": round(float(q95.max()), 4),
                     "share_near_bound": round(float(near.mean()), 4),
                     "median_2030": round(float(np.median(x[:, list(runs.years[sel]).index(2030)])), 4)}
    return out


def arms_market(runs: Runs, last_year: int = 2023) -> dict:
    """Chinese deals signed (donations excluded), failed and vetoed per run up to ``last_year``, and their buyers."""
    hist = runs.years <= last_year
    signed = np.array([np.count_nonzero(d["signed"] <= last_year) for d in runs.china_deals])
    failed = runs.state_series("china_arms_deal_failed")[:, hist].sum(axis=(1, 2))
    vetoed = runs.state_series("china_arms_deal_vetoed")[:, hist].sum(axis=(1, 2))
    by_state = np.stack([np.bincount(d["state"][d["signed"] <= last_year], minlength=len(runs.iso3))
                         for d in runs.china_deals])
    named = np.isin(np.array(runs.iso3), NAMED_BUYERS)
    ven = runs.iso3.index("VEN")
    largest = by_state.argmax(axis=1)
    total = by_state.sum()
    shares = by_state.sum(axis=0) / max(total, 1)
    top = np.argsort(-shares)[:8]
    # Accounting identity per supplier: every signed deal is delivered in full, failed or still open.
    return {
        "signed_per_run": round(float(signed.mean()), 2), "failed_per_run": round(float(failed.mean()), 2),
        "vetoed_per_run": round(float(vetoed.mean()), 2),
        "share_outside_named_buyers": round(float(by_state[:, ~named].sum() / max(total, 1)), 4),
        "venezuela_largest_buyer": round(float(np.mean((largest == ven) & (by_state[:, ven] > 0))), 4),
        "runs_without_chinese_deal": round(float(np.mean(signed == 0)), 4),
        "buyer_shares": {runs.iso3[i]: round(float(shares[i]), 4) for i in top if shares[i] > 0},
        f"other_suppliers_deals_{DEALS_ORDERED[0]}_{DEALS_ORDERED[1]}": deal_counts(runs),
    }


def deal_counts(runs: Runs, min_deals: int = 20) -> dict:
    """The deals other suppliers sign (and begin delivering) against SIPRI's count: the region's total and each state
    with at least ``min_deals`` in SIPRI or in the median run, as [5%, median, 95%] over runs and SIPRI's count, and
    how many of the 33 states' counts lie within their run's 5-95% range. Out of fit: no calibration row is a deal
    count, so this checks how the model turns its fitted TIV into contracts."""
    q = np.percentile(runs.import_deals, [5, 50, 95], axis=0)
    total = np.percentile(runs.import_deals.sum(axis=1), [5, 50, 95])
    inside = (runs.sipri_deals >= q[0]) & (runs.sipri_deals <= q[2])
    shown = np.flatnonzero((runs.sipri_deals >= min_deals) | (q[1] >= min_deals))
    return {"lac": {"model_q05_median_q95": [float(v) for v in total], "sipri": int(runs.sipri_deals.sum())},
            "states_inside_90": int(inside.sum()),
            "by_state": {runs.iso3[i]: {"model_q05_median_q95": [float(v) for v in q[:, i]],
                                         "sipri": int(runs.sipri_deals[i])}
                         for i in shown[np.argsort(-runs.sipri_deals[shown], kind="stable")]}}


def participation(runs: Runs) -> dict:
    """Medians over runs of the participation channels (saturation, ceilings) and the concentration of exercises."""
    years = list(runs.years)

    def at(name: str, year: int) -> float:
        return float(np.median(runs.state_series(name)[:, years.index(year)].sum(axis=1)))

    exercises = runs.state_series("exercise")[:, runs.years <= 2023]
    per = runs.iso3.index("PER")
    return {
        "training_states_2023": at("officers_training", 2023), "training_states_2040": at("officers_training", 2040),
        "forum_states_2025": at("forum_attends", 2025), "forum_states_2040": at("forum_attends", 2040),
        "surveillance_adopters_2040": float(np.median(runs.region_series("surveillance_adopters")[:, -1])),
        "delegation_visits_2000_2022": float(np.median(
            runs.state_series("delegations")[:, runs.years <= 2022].sum(axis=(1, 2)))),
        "exercise_state_years_2000_2023": float(np.median(exercises.sum(axis=(1, 2)))),
        "exercise_partners_2000_2023": float(np.median((exercises.sum(axis=1) > 0).sum(axis=1))),
        "p_exercise_per_2010_or_2012": round(float(np.mean(
            exercises[:, [years.index(2010), years.index(2012)], per].sum(axis=1) > 0)), 3),
        "port_call_hosts_2000_2023": float(np.median(
            (runs.state_series("port_call")[:, runs.years <= 2023].sum(axis=1) > 0).sum(axis=1))),
    }


def paired(base: Runs, other: Runs, year: int = 2030) -> dict:
    """Paired differences (other - base) at ``year`` and over 2024-``year``: medians, 90% intervals, P(> 0)."""
    t = list(base.years).index(year)
    fut = (base.years >= 2024) & (base.years <= year)

    def summary(d: np.ndarray) -> dict:
        q5, q50, q95 = np.percentile(d, [5, 50, 95])
        return {"median": round(float(q50), 4), "q05": round(float(q5), 4), "q95": round(float(q95), 4),
                "p_up": round(float(np.mean(d > 0)), 3), "p_down": round(float(np.mean(d < 0)), 3)}

    out = {name: summary(other.link(name)[:, t] - base.link(name)[:, t]) for name in LINKS}
    for name in ("china_arms_deal_vetoed", "china_arms_deal_signed", "china_arms_deal_failed"):
        out[f"{name}_2024_{year}"] = summary(other.state_series(name)[:, fut].sum(axis=(1, 2))
                                             - base.state_series(name)[:, fut].sum(axis=(1, 2)))
    deals = other.state_series("china_arms_deal_signed")[:, fut].sum(axis=1) - base.state_series(
        "china_arms_deal_signed")[:, fut].sum(axis=1)
    out["china_deals_by_state_2024_" + str(year)] = {
        base.iso3[i]: {"mean": round(float(deals[:, i].mean()), 3), "p_up": round(float(np.mean(deals[:, i] > 0)), 3),
                       "p_down": round(float(np.mean(deals[:, i] < 0)), 3)}
        for i in np.argsort(-np.abs(deals).mean(axis=0))[:8]}
    offered = [f"china_arms_offered_{c}" for c in ARMS_CATEGORIES]
    offered_b = np.stack([base.state_series(v)[:, t] for v in offered], axis=-1) > 0
    offered_o = np.stack([other.state_series(v)[:, t] for v in offered], axis=-1) > 0
    out[f"offers_changed_{year}"] = {
        "share_of_runs": round(float(np.mean((offered_b != offered_o).any(axis=(1, 2)))), 3),
        "state_categories_added_per_run": round(float((offered_o & ~offered_b).sum(axis=(1, 2)).mean()), 3),
        "state_categories_removed_per_run": round(float((offered_b & ~offered_o).sum(axis=(1, 2)).mean()), 3)}
    return out


def measure(draws: int = 200, seeds: int = 4, posterior: Path | None = None) -> dict:
    """Every figure of the module docstring; ``posterior=None`` runs the shipped default parameters."""
    data = load_data()
    base = run_scenario("baseline", draws, seeds, data, posterior)
    tension = run_scenario("us_china_deterioration", draws, seeds, data, posterior)
    return {"draws": draws, "seeds": seeds, "posterior": str(posterior) if posterior else "defaults",
            "links_baseline": link_bounds(base), "arms_2000_2023": arms_market(base),
            "participation_baseline": participation(base),
            "tension_minus_baseline_2030": paired(base, tension)}


def output_path(args: list[str], default: Path) -> Path:
    """The JSON file to write: the one optional argument, checked before any run (one-line ConfigError)."""
    if len(args) > 1:
        raise ConfigError(f"arguments: {' '.join(args)!r}; allowed: at most one, the output .json path")
    out = Path(args[0]) if args else default
    allowed = "allowed: a .json path in a writable folder"
    if out.suffix != ".json" or out.is_dir():
        raise ConfigError(f"output: {str(out)!r} is not a .json file path; {allowed}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"output: {str(out)!r} cannot be written ({exc.strerror}); {allowed}") from None
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise ConfigError(f"output: {str(out)!r} cannot be written (folder not writable); {allowed}")
    return out


if __name__ == "__main__":
    shipped = PROJECT_ROOT / "calibration" / "posterior"
    try:
        out = output_path(sys.argv[1:], shipped / "behaviour.json")
    except ConfigError as exc:
        fail(str(exc))
    result = measure(posterior=shipped / "posterior.parquet")
    result["posterior"] = load_posterior(shipped / "posterior.parquet")[1]
    result["provenance"] = manifest({"draws": result["draws"], "seeds": result["seeds"],
                                     "scenarios": ["baseline", "us_china_deterioration"]},
                                    {"root_seed": 20240101}, load_data().hashes)
    write_atomically(out.parent, {out.name: lambda p: p.write_text(json.dumps(result, indent=1) + "\n")})
    print(f"behaviour: {out}")
