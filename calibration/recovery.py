"""``python -m calibration.recovery``: can the calibration find parameters it is given? (issue 3 §4)

For ``recovery.sets`` known parameter sets drawn from the priors (a Latin hypercube on their quantiles, fixed seed),
simulate a synthetic record (one realisation, as the real record is one), calibrate on it with the main fit's priors,
blocks, seeds and distance (:func:`run_fit`, one resumable fit per set in ``out_dir/set_<k>/``, on processes or a Dask
scheduler as the calibration settings say), and report for every parameter whether its known value lies inside the
posterior's 90% interval and how wide that interval is as a share of the prior's, both measured on the prior's own
scale (its CDF), so that the share means the same for a uniform and a normal prior. A parameter is *identified* when
that share is at most IDENTIFIED_RATIO in at least IDENTIFIED_SETS of the sets. With truths drawn from the prior, a
calibrated posterior's 90% intervals hold the truth in 90% of all parameter x set cases, within the binomial band.

The synthetic record replaces each observed value by the simulated one and keeps each target's tolerance, kind and
weight, so it says about as much as the real record (:func:`synthetic_target`; counts and trends the article gives as
bounds become point values, a little more), and replaces the SIPRI blocks by the simulated blocks. Writes
``recovery.csv`` (set x parameter), ``recovery.md`` (with the distance's noise floor per set) and ``manifest.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyabc
from omegaconf import DictConfig
from scipy.stats import binom, qmc

from calibration.check import restated
from calibration.diagnostics import IDENTIFIED_RATIO, generations, markdown_table, prior_driven
from calibration.fit import posterior_frame, run_fit, stored_generations
from calibration.objective import Weights
from calibration.observations import OBSERVATIONS_PATH
from calibration.priors import Prior
from calibration.problem import Problem
from calibration.setup import FitSettings, prepare
from calibration.setup import validate as validate_calibration
from calibration.targets import Target, compile_targets
from calibration.weights import check_pilot, weigh
from common.cli import fail, precheck
from common.provenance import manifest, write_atomically, write_json
from model.params import ConfigError, check_keys, check_number

SETTINGS = ("sets", "seed", "margin", "population_size", "generations")
# Identified: the record narrows the 90% interval to at most half the prior's (IDENTIFIED_RATIO) in at least 80% of
# the sets.
IDENTIFIED_SETS = 0.8
# Fresh realisations of each known set scored against its synthetic record: how far the truth itself lies from the
# record (the noise floor of the distance). Twenty give its median to about a tenth of its spread.
FLOOR_RUNS = 20
# Kinds whose rows are statements about the record (it happened, it held); their synthetic version states whether
# the statement held in the synthetic record instead of pinning the statistic's exact value.
STATEMENT_KINDS = ("event", "pattern")


@dataclass(frozen=True)
class RecoverySettings:
    """Validated ``recovery`` settings (configs/recovery.yaml explains each)."""

    sets: int
    seed: int
    margin: float
    population_size: int
    generations: int


def parse_recovery(cfg: object) -> RecoverySettings:
    """One-line errors for every bad ``recovery`` setting."""
    check_keys("recovery", cfg, SETTINGS)
    ranges = {"sets": (1, 1000, True), "seed": (0, 2**62, True), "margin": (0.0, 0.49, False),
              "population_size": (10, 1e6, True), "generations": (1, 100, True)}
    values = {k: check_number(f"recovery.{k}", cfg[k], lo, hi, integer) for k, (lo, hi, integer) in ranges.items()}
    return RecoverySettings(**{k: (float(v) if k == "margin" else int(v)) for k, v in values.items()})


def validate(config: Mapping) -> None:
    """Everything the command line can get wrong (for :func:`common.cli.precheck`)."""
    validate_calibration(config)
    parse_recovery(config["recovery"])


def known_sets(priors: list[Prior], n: int, seed: int, margin: float) -> pd.DataFrame:
    """``n`` parameter sets, one per row: a Latin hypercube on the priors' quantiles in [margin, 1 - margin].

    A Latin hypercube puts one set in each of ``n`` equal quantile slices of every parameter, so five sets already
    span each prior from low to high; the margin keeps them off the bounds, where a posterior piles up against the
    edge and an interval cannot straddle the truth.
    """
    unit = qmc.LatinHypercube(d=len(priors), optimization="random-cd", rng=np.random.default_rng(seed)).random(n)
    quantiles = margin + (1.0 - 2.0 * margin) * unit
    return pd.DataFrame({p.name: p.frozen().ppf(quantiles[:, i]) for i, p in enumerate(priors)})


def synthetic_target(target: Target, truth: float) -> Target:
    """The target as the synthetic record states it, given the statistic's value ``truth`` in that record.

    A point statement (relation ``eq``) and a quantity stated as a bound (count or trend ``ge``/``le``) become
    ``eq truth`` with the same tolerance; an event or pattern stated as a bound or a range is a yes/no statement, kept
    if it held in the synthetic record and complemented if not (:func:`calibration.check.restated`). Either way the
    synthetic record itself has loss 0.
    """
    if target.relation == "eq" or target.kind not in STATEMENT_KINDS:
        return replace(target, relation="eq", value=float(truth), low=np.nan, high=np.nan)
    return restated(target, truth)


def synthetic_record(problem: Problem, truth: Mapping[str, float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One realisation of the known set: its statistics (targets,) and SIPRI blocks, run from root seed ``seed``."""
    run = replace(problem, seeds=1, root_seed=seed).simulate(dict(truth))
    return run["stats"][0], run["sipri"][0]


def synthetic_problem(problem: Problem, stats: np.ndarray, sipri: np.ndarray) -> Problem:
    """``problem`` with the synthetic record in place of the observed one (targets and SIPRI blocks)."""
    synthetic = replace(problem, targets=[synthetic_target(t, x) for t, x in zip(problem.targets, stats, strict=True)])
    synthetic.sipri_obs = np.asarray(sipri, dtype=float).copy()
    return synthetic


def truth_distances(synthetic: Problem, truth: Mapping[str, float], seed: int, runs: int = FLOOR_RUNS) -> np.ndarray:
    """Distances of ``runs`` fresh realisations of the truth (root seeds ``seed + 1 ...``) to the synthetic record.

    Each is scored as a particle is (the fit's seeds per particle). An epsilon below their median rejects the truth
    more often than not, so a fit whose epsilon has reached it has taken from the record all the distance can tell.
    """
    return np.array([synthetic.distance(replace(synthetic, root_seed=seed + 1 + r).simulate(dict(truth)), {})
                     for r in range(runs)])


def recovery_table(priors: list[Prior], truths: pd.DataFrame, posteriors: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per set and parameter: truth, posterior median and 90% interval, coverage, width against the prior.

    ``width_share`` is the posterior 90% interval's width on the prior's CDF scale divided by the prior's (0.9);
    ``truth_quantile`` is the truth's place on that scale (its prior's CDF), which :func:`edge_coverage` reads.
    """
    frames = []
    for k, posterior in enumerate(posteriors):
        table = prior_driven(priors, posterior, posterior["weight"].to_numpy(dtype=float))
        true = truths.iloc[k][table.parameter].to_numpy(dtype=float)
        share = [(p.frozen().cdf(hi) - p.frozen().cdf(lo)) / 0.9
                 for p, lo, hi in zip(priors, table.posterior_q05, table.posterior_q95, strict=True)]
        where = [float(p.frozen().cdf(x)) for p, x in zip(priors, true, strict=True)]
        frames.append(pd.DataFrame({
            "set": k, "parameter": table.parameter, "true": true, "posterior_median": table.posterior_median,
            "posterior_q05": table.posterior_q05, "posterior_q95": table.posterior_q95,
            "inside_90": (table.posterior_q05 <= true) & (true <= table.posterior_q95),
            "width_share": np.asarray(share, dtype=float), "truth_quantile": np.asarray(where, dtype=float)}))
    return pd.concat(frames, ignore_index=True)


# The prior's outer tenths: a truth there lies outside the interval of a posterior that learned nothing (the prior's
# 5%-95%) half the time, so a coverage miss concentrated there is an uninformed posterior near the edges, not a bias.
EDGE = 0.1


def edge_coverage(table: pd.DataFrame) -> dict[str, int]:
    """Cases and truths inside, for truths in the prior's inner 80% and in its outer tenths (``truth_quantile``)."""
    outer = (table.truth_quantile < EDGE) | (table.truth_quantile > 1.0 - EDGE)
    return {"inner": int((~outer).sum()), "inner_inside": int(table.inside_90[~outer].sum()),
            "outer": int(outer.sum()), "outer_inside": int(table.inside_90[outer].sum())}


def coverage(table: pd.DataFrame) -> pd.DataFrame:
    """Per parameter: sets, sets whose 90% interval holds the truth, width shares, identified, recovered.

    ``narrowed_sets``: the share of sets whose width share is at most IDENTIFIED_RATIO; identified when it is at least
    IDENTIFIED_SETS. ``recovered``: identified, and the truth inside the 90% interval in at least the binomial 90%
    band's lower end of the sets (a calibrated interval misses now and then).
    """
    table = table.assign(narrow=table.width_share <= IDENTIFIED_RATIO)
    summary = table.groupby("parameter", sort=False).agg(sets=("set", "size"), inside=("inside_90", "sum"),
                                                          median_width_share=("width_share", "median"),
                                                          narrowed_sets=("narrow", "mean"))
    summary["inside"] = summary["inside"].astype(int)
    summary["coverage"] = summary["inside"] / summary["sets"]
    summary["identified"] = summary["narrowed_sets"] >= IDENTIFIED_SETS
    floor = np.array([binomial_band(int(n))[0] for n in summary["sets"]])
    summary["recovered"] = summary["identified"] & (summary["inside"] >= floor)
    return summary.reset_index()


def binomial_band(n: int, level: float = 0.9) -> tuple[int, int]:
    """The central 90% range of how many of ``n`` calibrated ``level`` intervals hold the truth."""
    return int(binom.ppf(0.05, n, level)), int(binom.ppf(0.95, n, level))


def markdown(summary: pd.DataFrame, fits: pd.DataFrame, rec: RecoverySettings, settings: FitSettings,
             edges: dict[str, int]) -> str:
    """The report: method, verdict on the identified parameters, coverage overall and by where the truths lie,
    per-parameter coverage, per-set fits."""
    identified = summary[summary.identified]
    failed = identified[~identified.recovered]
    total, inside = int(summary.sets.sum()), int(summary.inside.sum())
    low, high = binomial_band(total)
    if identified.empty:
        verdict = ("no parameter is identified, so none can be recovered: the posteriors stay about as wide as the "
                   "priors, and their coverage of the truth says nothing about bias")
    elif failed.empty:
        verdict = "every identified parameter was recovered"
    else:
        verdict = "FAILED: " + ", ".join(f"{r.parameter} (truth inside the 90% interval in {r.inside} of {r.sets} sets)"
                                        for r in failed.itertuples())
    lines = [
        "# Parameter recovery", "",
        f"{rec.sets} known parameter sets drawn from the priors (a Latin hypercube on their "
        f"{rec.margin:.0%}-{1 - rec.margin:.0%} quantiles, seed {rec.seed}); for each, one simulated "
        f"2000-{settings.last_year} record (root seed {rec.seed}, one seed) replaces the observations and the SIPRI "
        f"blocks, and ABC-SMC calibrates on it with the main fit's priors, blocks and distance ({settings.distance}; "
        f"{rec.population_size} particles, {rec.generations} generations, {settings.seeds_per_particle} seeds per "
        "particle).", "",
        f"Identified (posterior 90% interval at most {IDENTIFIED_RATIO:.0%} of the prior's, on the prior's CDF scale, "
        f"in at least {IDENTIFIED_SETS:.0%} of the sets): {len(identified)} of {len(summary)} parameters: "
        f"{', '.join(identified.parameter) or 'none'}.", "",
        f"Verdict: {verdict}.", "",
        f"Coverage over all parameters: the truth lies inside the 90% interval in {inside} of {total} cases "
        f"({inside / total:.0%}); calibrated 90% intervals give {low}-{high} of {total} (binomial 90% band). "
        f"Above the band, the posteriors are wider than the record warrants (the fit stopped short of what the record "
        "says); below it, they are too narrow or biased.", "",
        f"Where the truths lie, on their priors' CDF: inside in {edges['inner_inside']} of {edges['inner']} cases "
        f"with the truth in the prior's inner {1 - 2 * EDGE:.0%}, and in {edges['outer_inside']} of {edges['outer']} "
        "with it in the outer tenths. A posterior that learned nothing (its interval the prior's 5%-95%) holds an "
        "outer truth half the time and an inner one always, so a miss concentrated in the outer tenths is the "
        "uninformed posterior near the priors' edges, not a biased fit (docs/ODD.md §10.36).", "",
        "## Per parameter", "", markdown_table(summary), "",
        "## Per set", "",
        f"`truth_distance_*`: the distance to the synthetic record of {FLOOR_RUNS} fresh realisations of the known set "
        "itself, scored as a particle is (10%, 50%, 90% quantiles). A final epsilon near their median means the fit "
        "has reached the seed noise of the distance: a smaller epsilon would reject the truth more often than not, so "
        "what the posterior has not narrowed by then, this distance cannot narrow.", "", markdown_table(fits), "",
        "Every set x parameter (truth, posterior median and 90% interval, width share) is in `recovery.csv`.", ""]
    return "\n".join(lines)


def _fit_record(set_dir: Path, history: pyabc.History) -> dict:
    """A fit's size and end state; its wall time from the manifest run_fit wrote (None if killed before it)."""
    gens = generations(history)
    made = set_dir / "manifest.json"
    wall = json.loads(made.read_text(encoding="utf-8"))["fit"]["wall_s"] if made.is_file() else None
    return {"generations": len(gens), "final_epsilon": float(gens.epsilon.iloc[-1]),
            "final_ess": float(gens.ess.iloc[-1]), "simulations": int(gens.simulations.sum()), "wall_s": wall}


def recover(settings: FitSettings, rec: RecoverySettings, problem: Problem, out_dir: Path, config: dict,
            data_hashes: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run (or resume) every set's fit; returns the set x parameter table, the per-parameter summary, the fits."""
    priors = list(settings.priors)
    fit_settings = replace(settings, population_size=rec.population_size, min_generations=rec.generations,
                           max_generations=rec.generations)
    truths = known_sets(priors, rec.sets, rec.seed, rec.margin)
    posteriors, fits = [], []
    for k, truth in enumerate(truths.to_dict("records")):
        set_dir = out_dir / f"set_{k}"
        stats, sipri = synthetic_record(problem, truth, rec.seed)
        record = {"parameters": truth, "record_root_seed": rec.seed,
                  "statistics": {t.id: float(x) for t, x in zip(problem.targets, stats, strict=True)}}
        stored = set_dir / "truth.json"
        # A resumed fit must continue on the same record: other settings, data or model code make another one.
        if stored.is_file() and json.loads(stored.read_text(encoding="utf-8")) != json.loads(json.dumps(record)):
            raise ConfigError(f"out_dir: {set_dir} was fitted to another synthetic record; allowed: a fresh out_dir, "
                              "or the settings, data and code it was made with")
        # Weighted once, so that the fit and the noise floor below score with the same distance; before the set's
        # first write, so that a pilot the distance refuses (no summary reads a parameter) leaves nothing behind.
        synthetic = weigh(synthetic_problem(problem, stats, sipri), fit_settings.pilot_draws, fit_settings.pilot_seeds,
                          fit_settings.root_seed)
        write_atomically(set_dir, {"truth.json": lambda p, r=record: write_json(p, r)})
        db = f"sqlite:///{set_dir / 'history.db'}"
        done = stored_generations(set_dir / "history.db") >= rec.generations
        if not done:
            run_fit(fit_settings, synthetic, set_dir, {**config, "recovery_set": {"set": k, "truth": truth}},
                    data_hashes)
        history = pyabc.History(db)
        posteriors.append(posterior_frame(history, priors))
        floor = np.quantile(truth_distances(synthetic, truth, rec.seed), (0.1, 0.5, 0.9))
        fits.append({"set": k, **_fit_record(set_dir, history), "truth_distance_q10": float(floor[0]),
                     "truth_distance_median": float(floor[1]), "truth_distance_q90": float(floor[2])})
    table = recovery_table(priors, truths, posteriors)
    return table, coverage(table), pd.DataFrame(fits)


def command(cfg: DictConfig) -> None:
    """Recover every known set, write the report, print one summary line."""
    start = time.perf_counter()
    s = prepare(cfg)
    settings = s.settings
    try:
        rec = parse_recovery(s.config["recovery"])
    except ConfigError as exc:
        fail(str(exc))
    targets = compile_targets(s.observations, s.drivers.years, s.data, last_year=settings.last_year)
    problem = Problem(s.exp.params, s.data, s.drivers, targets, settings.seeds_per_particle, settings.root_seed,
                      Weights(sipri=settings.sipri_weight, kind=settings.distance), list(settings.priors),
                      last_year=settings.last_year)
    hashes = dict(s.data.hashes)
    hashes["observations.csv"] = hashlib.sha256(OBSERVATIONS_PATH.read_bytes()).hexdigest()
    out_dir = Path(s.config["out_dir"])
    try:
        check_pilot(problem, settings.pilot_draws, settings.pilot_seeds)
        table, summary, fits = recover(settings, rec, problem, out_dir, s.config, hashes)
    except ConfigError as exc:
        fail(str(exc))
    wall = round(time.perf_counter() - start, 1)
    record = manifest(s.config, {"root_seed": settings.root_seed, "recovery_seed": rec.seed,
                                 "seeds_per_particle": settings.seeds_per_particle}, hashes)
    record["recovery"] = {"sets": rec.sets, "wall_s": wall, "fits": fits.to_dict("records")}
    report = markdown(summary, fits, rec, settings, edge_coverage(table))
    write_atomically(out_dir, {"recovery.csv": lambda p: table.to_csv(p, index=False),
                               "recovery.md": lambda p: p.write_text(report, encoding="utf-8"),
                               "manifest.json": lambda p: write_json(p, record)})
    identified = summary[summary.identified]
    failed = identified[~identified.recovered]
    print(f"recovery: {rec.sets} sets x {len(summary)} parameters, truth inside the 90% interval in "
          f"{int(summary.inside.sum())}/{int(summary.sets.sum())}; identified: {len(identified)} "
          f"({', '.join(identified.parameter) or 'none'}); identified but not recovered: "
          f"{', '.join(f'{r.parameter} {r.inside}/{r.sets}' for r in failed.itertuples()) or 'none'}; "
          f"{wall:.0f} s; report in {out_dir / 'recovery.md'}")


if __name__ == "__main__":
    precheck("recovery", validate)
    from calibration.cli import recovery

    recovery()
