"""``python -m calibration.report``: the posterior predictive check of a posterior against every fit observation.

Simulates ``draws`` posterior draws and as many prior draws (each with the calibration's seeds), computes every
target's statistic, and writes ``ppc.csv`` and ``calibration_report.md`` into ``out_dir``: per observation the observed
value, the simulated median and 90% interval (for events the probability), hit or miss by the rule of
:mod:`calibration.check`, and the Brier score of events; the hit rate and mean Brier score are printed. A sweep of
REACH_DRAWS prior draws x REACH_SEEDS seeds marks the targets no parameter set in the priors reaches
(:func:`calibration.check.reachability`), and the report gives the hit rate among the reachable ones beside the overall
one: the misses the model's structure makes, not the calibration. The oracle (:func:`calibration.check.attainable`:
ORACLE_SETS posterior draws taken as known truths, each checked against a record it simulated, with ORACLE_SEEDS runs)
gives the hit rate the model's own seed noise allows, and per target the share of truths that hit it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from calibration.check import attainable, check_table, posterior_draws, predictive_statistics, prior_draws, reachability
from calibration.headline import headline_sentence, load_headline
from calibration.setup import prepare, validate
from calibration.targets import compile_targets
from common.cli import precheck
from common.provenance import manifest, write_atomically, write_json
from model.params import PROJECT_ROOT

# The reachability sweep: enough draws to cover 17 priors coarsely, enough seeds that "half its seeds" means something.
REACH_DRAWS = 100
REACH_SEEDS = 8
# The oracle: its hit rate varies over truths with a standard deviation of about 5 points (65-82% over twenty draws
# of the shipped posterior), so twenty give its mean to about one; a hundred runs each give a truth's event
# probabilities to about 0.05.
ORACLE_SETS = 20
ORACLE_SEEDS = 100


def markdown(table: pd.DataFrame, oracle: np.ndarray, source: str, scores: dict | None = None) -> str:
    """The report: summary figures, then one row per observation; ``oracle``: the oracle's hit rate per truth, over
    all rows and over the rows its record states as the article would (2, truths); ``scores``: the proper scores'
    headline of this posterior (calibration.headline), shown first when there is one."""
    hits = table.hit.mean()
    brier = table.brier.dropna().mean()
    reach = table[table.reachable]
    lines = [f"# Posterior predictive check ({source})", "",
             headline_sentence(scores) if scores else "No proper scores of this posterior yet (python -m "
             "calibration.scores).", "",
             "The hit rate below is secondary: the hit rule is not a proper score (issue 13 withdrew its 90% target).",
             "",
             f"- observations checked: {len(table)}; hits: {int(table.hit.sum())} ({hits:.0%})",
             f"- mean Brier score of events: {brier:.3f} ({int(table.brier.notna().sum())} events)",
             f"- reachable (some of {REACH_DRAWS} prior draws x {REACH_SEEDS} seeds reaches the observation: events, "
             "patterns and bounds within tolerance in at least half its seeds, values and ranges inside the span of "
             f"its seeds; calibration.check): {len(reach)} of {len(table)}; hits among them: {int(reach.hit.sum())} "
             f"({reach.hit.mean():.0%}). Out of reach within the priors: "
             f"{', '.join(table.id[~table.reachable]) or 'none'}",
             f"- attainable (the oracle: {ORACLE_SETS} posterior draws taken as known truths, each checked by the same "
             f"rule against a record it simulated, with {ORACLE_SEEDS} runs; calibration.check.attainable): hit rate "
             f"{oracle[0].mean():.0%} on average, {oracle[0].min():.0%}-{oracle[0].max():.0%} over the truths; "
             f"{oracle[1].mean():.0%} ({oracle[1].min():.0%}-{oracle[1].max():.0%}) on the rows its record states as "
             "the article would (values always, events and bounds only where they held: the article reports what "
             "happened). A calibration that learned the parameters exactly would score about this: the rest of the "
             "way to 100% is the model's seed noise; the gap between it and the record's hit rate is misfit, or what "
             "the record cannot identify. Column 'oracle': the share of truths that hit the target.", "",
             "| id | kind | statistic | observed | median | 90% interval | prior 90% | P(observed side) "
             "| best prior draw | oracle | hit |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples(index=False):
        observed = f"{r.observed:.4g}" if np.isfinite(r.observed) else f"[{r.observed_low:.4g}, {r.observed_high:.4g}]"
        lines.append(f"| {r.id} | {r.kind} | {r.statistic} | {r.relation} {observed} | {r.median:.4g} | "
                     f"[{r.q05:.4g}, {r.q95:.4g}] | [{r.prior_q05:.4g}, {r.prior_q95:.4g}] | {r.probability:.2f} | "
                     f"{r.best_prior_draw:.2f} | {r.oracle:.2f} | {'hit' if r.hit else 'miss'} |")
    return "\n".join(lines) + "\n"


def command(cfg: DictConfig) -> None:
    """Run the check and print the hit rate and Brier score."""
    s = prepare(cfg, with_posterior=True)
    settings, draws = s.settings, s.draws
    targets = compile_targets(s.observations, s.drivers.years, s.data, last_year=settings.last_year)
    rng = np.random.default_rng(np.random.SeedSequence(settings.root_seed, spawn_key=(0xC4EC,)))
    seeds = settings.seeds_per_particle
    post = predictive_statistics(s.exp.params, s.data, s.drivers, targets, posterior_draws(s.posterior, draws, rng),
                                 seeds, settings.root_seed)
    prior = predictive_statistics(s.exp.params, s.data, s.drivers, targets,
                                  prior_draws(list(settings.priors), draws, rng), seeds, settings.root_seed + 1)
    table = check_table(targets, post, prior)
    sweep = predictive_statistics(s.exp.params, s.data, s.drivers, targets,
                                  prior_draws(list(settings.priors), REACH_DRAWS, rng), REACH_SEEDS,
                                  settings.root_seed + 2)
    table["best_prior_draw"], table["reachable"] = reachability(targets,
                                                                sweep.reshape(REACH_DRAWS, REACH_SEEDS, len(targets)))
    runs = predictive_statistics(s.exp.params, s.data, s.drivers, targets,
                                 posterior_draws(s.posterior, ORACLE_SETS, rng),
                                 1 + ORACLE_SEEDS, settings.root_seed + 3)
    oracle_hits, as_stated = attainable(targets, runs.reshape(ORACLE_SETS, 1 + ORACLE_SEEDS, len(targets)), prior)
    table["oracle"] = oracle_hits.mean(axis=0)
    oracle = np.stack([oracle_hits.mean(axis=1), (oracle_hits & as_stated).sum(axis=1) / as_stated.sum(axis=1)])
    out_dir = Path(s.config["out_dir"])
    posterior_path = Path(s.config["posterior"])
    headline = load_headline(posterior_path if posterior_path.is_absolute() else PROJECT_ROOT / posterior_path,
                             s.source)
    record = manifest(s.config, {"root_seed": settings.root_seed, "draws": draws, "seeds_per_draw": seeds},
                      s.data.hashes)
    record["check"] = {"hit_rate": float(table.hit.mean()), "mean_brier": float(table.brier.dropna().mean()),
                       "reachable": int(table.reachable.sum()),
                       "hit_rate_reachable": float(table.hit[table.reachable].mean()),
                       "oracle_hit_rate": float(oracle[0].mean()), "oracle_hit_rate_min": float(oracle[0].min()),
                       "oracle_hit_rate_max": float(oracle[0].max()),
                       "oracle_hit_rate_as_stated": float(oracle[1].mean())}
    write_atomically(out_dir, {"ppc.csv": lambda p: table.to_csv(p, index=False),
                               "calibration_report.md":
                                   lambda p: p.write_text(markdown(table, oracle, s.source, headline),
                                                          encoding="utf-8"),
                               "report_manifest.json": lambda p: write_json(p, record)})
    print(f"report: hit rate {table.hit.mean():.1%} of {len(table)} observations "
          f"({table.hit[table.reachable].mean():.1%} of the {int(table.reachable.sum())} reachable; the oracle "
          f"{oracle[0].mean():.1%}), mean Brier {table.brier.dropna().mean():.3f}; {out_dir / 'calibration_report.md'}")


if __name__ == "__main__":
    precheck("calibrate", validate)
    from calibration.cli import report

    report()
