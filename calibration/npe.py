"""``python -m calibration.npe``: neural posterior estimation (NPE) of the calibrated parameters, on the recovery
harness (issue 16 §1).

ABC-SMC scores each particle on one or two seeded records, and its proposal loses most particles' weight over the 13
parameter blocks (docs/ODD.md §10.4). NPE (the ``sbi`` package; optional extra ``npe``, which brings torch) learns the
posterior p(θ | x) from simulations of the prior, as a conditional normalising flow: seed noise is in its training
pairs rather than in a distance, and one trained network gives the posterior of any record, so the harness can check
far more truths than ABC's ten fits afford.

* θ: every calibrated parameter on its prior's quantile scale u = F(θ), modelled as logit(u) (a standard logistic
  prior, the image of the uniform), drawn as a scrambled Sobol sequence.
* x, the record as the observations state it (:func:`features`): for each statement row (events, patterns and
  bounds, the Brier rows of the scores) whether it held in the run, 1 or 0 (the real record: 1); for each value row
  (counts, levels and trends given as values) the statistic plus the record's own error, uniform within the row's
  tolerance (judgement: the tolerance is the precision the record states); for each SIPRI five-year total, log1p of
  the TIV m.
* Simulations are stored in chunks (``sims/chunk_<k>.npz``, written atomically): a killed run resumes where it
  stopped. The truths are the recovery harness's (``recovery.sets``, ``recovery.seed``, same Latin hypercube and
  records) plus ``npe.extra_truths`` draws from the prior, each with a record of its own.

Writes ``npe_recovery.csv`` (truth x parameter, as ``recovery.csv``), ``npe_recovery.md``, ``observed_check.csv``
(where the real record falls among the simulations, feature by feature), ``row_conflicts.csv`` (pairs of fit rows
the prior's runs seldom meet together, :func:`row_conflicts`), ``posterior_npe.parquet`` (the real record's
posterior, equal weights), ``manifest.json`` and the training curves (``training_log/``) into ``out_dir``; with
``npe.hindcast_cut`` also the posterior of the record up to that year (``hindcast_fit/``, for ``calibration.hindcast
fitted=``); with ``ship=true`` the real record's posterior, its diagnostics and the recovery table go to
calibration/posterior/ (:func:`ship`). With ``npe.conflicts_only=true`` it stops after the prior's runs and writes
only ``row_conflicts.{csv,md}`` and ``manifest.json``: no training, so neither sbi nor torch is imported.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from omegaconf import DictConfig
from scipy.stats import qmc

from calibration.diagnostics import (
    parameters_markdown,
    posterior_figures,
    prior_driven,
    separability,
    separability_markdown,
)
from calibration.fit import SHIPPED
from calibration.objective import Weights, target_losses
from calibration.observations import OBSERVATIONS_PATH
from calibration.priors import Prior
from calibration.problem import Problem
from calibration.projection import observed_features as record_observed
from calibration.projection import record_features, statement_rows
from calibration.recovery import binomial_band, coverage, known_sets, parse_recovery, recovery_table
from calibration.setup import prepare
from calibration.targets import compile_targets
from common.cli import fail, precheck
from common.provenance import manifest, write_atomically, write_json
from model.data import HIST_END, HIST_START
from model.params import ConfigError, check_keys, check_number

SETTINGS = ("simulations", "seeds", "chunk", "statement_error", "sipri_error", "estimator", "ensemble",
            "training_batch_size", "stop_after_epochs", "max_epochs", "posterior_samples", "extra_truths",
            "hindcast_cut", "seed", "workers", "conflicts_only")
ESTIMATORS = ("nsf", "maf")
# Quantile scale kept off 0 and 1, where logit(u) is infinite.
U_EDGE = 1e-6
# Parameter sets a model batch holds when the prior simulations run (times `seeds` runs): 64 runs at the default 2
# seeds, the batch size of the benchmark's batched figure (benchmarks/results/latest.json: run_ms_batched, R = 64).
CHUNK_BATCH = 32


@dataclass(frozen=True)
class NpeSettings:
    """Validated ``npe`` settings (configs/npe.yaml documents each)."""

    simulations: int
    seeds: int
    chunk: int
    statement_error: float
    sipri_error: float
    estimator: str
    ensemble: int
    training_batch_size: int
    stop_after_epochs: int
    max_epochs: int
    posterior_samples: int
    extra_truths: int
    hindcast_cut: int
    seed: int
    workers: int
    conflicts_only: bool


def parse_npe(cfg: Mapping) -> NpeSettings:
    """One-line errors for every bad ``npe`` setting."""
    check_keys("npe", cfg, SETTINGS)
    s = dict(cfg)
    for key, (lo, hi) in {"simulations": (64, 10_000_000), "seeds": (1, 100), "chunk": (1, 100_000),
                          "ensemble": (1, 64), "training_batch_size": (8, 100_000), "stop_after_epochs": (1, 10_000),
                          "max_epochs": (1, 100_000), "posterior_samples": (100, 1_000_000),
                          "extra_truths": (0, 100_000), "seed": (0, 2**63 - 1), "workers": (1, 1024)}.items():
        s[key] = int(check_number(f"npe.{key}", s[key], lo, hi, integer=True))
    s["statement_error"] = float(check_number("npe.statement_error", s["statement_error"], 0.0, 0.5))
    s["sipri_error"] = float(check_number("npe.sipri_error", s["sipri_error"], 0.0, 5.0))
    s["hindcast_cut"] = int(check_number("npe.hindcast_cut", s["hindcast_cut"], 0, HIST_END - 3, integer=True))
    if 0 < s["hindcast_cut"] < HIST_START + 5:
        raise ConfigError(f"npe.hindcast_cut: {s['hindcast_cut']} leaves under five years to fit; allowed: 0 (no "
                          f"hindcast fit) or {HIST_START + 5}-{HIST_END - 3}")
    if s["estimator"] not in ESTIMATORS:
        raise ConfigError(f"npe.estimator: {s['estimator']!r}; allowed: {', '.join(ESTIMATORS)}")
    if not isinstance(s["conflicts_only"], bool):
        raise ConfigError(f"npe.conflicts_only: {s['conflicts_only']!r}; allowed: true (simulate the prior and write "
                          "row_conflicts only) or false")
    return NpeSettings(**s)


def validate(config: Mapping) -> None:
    """Everything the command line can get wrong (for :func:`common.cli.precheck`)."""
    from calibration.recovery import validate as validate_recovery

    validate_recovery(config)
    if parse_npe(config["npe"]).conflicts_only and config.get("ship"):
        raise ConfigError("ship: true with npe.conflicts_only; allowed: false (a conflicts-only run trains no "
                          "posterior to ship)")


def features(problem: Problem, stats: np.ndarray, sipri: np.ndarray, rng: np.random.Generator,
             statement_error: float = 0.0, sipri_error: float = 0.0) -> np.ndarray:
    """The record as the observations state it, per run (:func:`calibration.projection.record_features`), with the
    record's own errors: (runs, targets + SIPRI totals).

    Value rows get a uniform error within the row's tolerance (from ``rng``; a statistic the run cannot compute stays
    0); statement rows are read wrongly with probability ``statement_error``; SIPRI totals get a normal error of
    standard deviation ``sipri_error`` when it is positive (drawn last, so the other rows' errors do not depend on it).
    """
    stats = np.atleast_2d(np.asarray(stats, dtype=float))
    x = record_features(problem.targets, stats, sipri)
    n = stats.shape[1]
    statement = statement_rows(problem.targets)
    tol = np.array([t.tolerance for t in problem.targets])
    error = np.where(np.isnan(stats), 0.0, rng.uniform(-1.0, 1.0, stats.shape) * tol)
    x[:, :n] += np.where(statement, 0.0, error)
    if statement_error > 0:
        flip = (rng.random(stats.shape) < statement_error) & statement
        x[:, :n] = np.where(flip, 1.0 - x[:, :n], x[:, :n])
    if sipri_error > 0:
        x[:, n:] += rng.normal(0.0, sipri_error, x[:, n:].shape)
    return x


def observed_features(problem: Problem) -> np.ndarray:
    """The real record in the layout of :func:`features`: every statement holds, each value row as recorded."""
    return record_observed(problem.targets, problem.sipri_obs)


def prior_units(n: int, dims: int, seed: int) -> np.ndarray:
    """``n`` points on the priors' quantile scale: a scrambled Sobol sequence, kept U_EDGE off 0 and 1."""
    u = qmc.Sobol(d=dims, scramble=True, rng=np.random.default_rng(seed)).random(n)
    return np.clip(u, U_EDGE, 1.0 - U_EDGE)


def _simulate_chunk(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Statistics (sets, seeds, targets) and SIPRI totals (sets, seeds, totals) of one chunk's parameter sets."""
    problem, priors, units = args
    particles = posterior_frame(priors, units).drop(columns="weight").to_dict("records")
    # Sets run as model batches, each run as it would be alone (calibration.problem): the same records, less
    # per-run overhead.
    runs = [x for a in range(0, len(particles), CHUNK_BATCH)
            for x in problem.simulate_particles(particles[a:a + CHUNK_BATCH])]
    return np.stack([r["stats"] for r in runs]), np.stack([r["sipri"] for r in runs])


def simulate_prior(problem: Problem, priors: list[Prior], s: NpeSettings, out_dir: Path,
                   progress=print) -> tuple[np.ndarray, np.ndarray]:
    """θ on the quantile scale (sets, parameters) and x (sets, seeds, features) of the prior simulations, each
    chunk read from ``out_dir/sims`` when it is there, simulated (and stored) when not."""
    units = prior_units(s.simulations, len(priors), s.seed)
    sims = out_dir / "sims"
    starts = list(range(0, s.simulations, s.chunk))
    paths = [sims / f"chunk_{k:05d}.npz" for k in range(len(starts))]
    todo = [k for k, p in enumerate(paths) if not p.is_file()]
    batch = replace(problem, seeds=s.seeds)
    if todo:
        progress(f"npe: simulating {len(todo)} of {len(paths)} chunks ({s.chunk} sets x {s.seeds} seeds each)")
        with ProcessPoolExecutor(s.workers) as pool:
            tasks = [(batch, priors, units[starts[k]:starts[k] + s.chunk]) for k in todo]
            # Each chunk records the wall time from the previous chunk's arrival (or the pool's start): over a run,
            # they add up to its simulation wall time, across interruptions too.
            last = time.perf_counter()
            for n, (k, (stats, sipri)) in enumerate(zip(todo, pool.map(_simulate_chunk, tasks), strict=True), 1):
                now = time.perf_counter()
                write_atomically(sims, {paths[k].name: lambda p, a=stats, b=sipri, u=tasks[n - 1][2], t=now - last:
                                        _save(p, u=u, stats=a, sipri=b, seconds=np.array(t))})
                last = now
                progress(f"npe: chunk {n}/{len(todo)}")
    xs = []
    for k, path in enumerate(paths):
        with np.load(path) as part:
            if not np.array_equal(part["u"], units[starts[k]:starts[k] + s.chunk]):
                raise ConfigError(f"out_dir: {path} holds other parameter sets; allowed: a fresh out_dir, or the "
                                  "settings it was made with")
            rng = np.random.default_rng([s.seed, k])
            st, sp = part["stats"], part["sipri"]
            xs.append(features(problem, st.reshape(-1, st.shape[-1]), sp.reshape(-1, sp.shape[-1]), rng,
                               s.statement_error, s.sipri_error)
                      .reshape(st.shape[0], st.shape[1], -1))
    return units, np.concatenate(xs)


def simulation_seconds(out_dir: Path, s: NpeSettings) -> float | None:
    """The prior simulations' wall time: the chunks' recorded seconds (each from the run that simulated it), summed.
    None when a chunk predates the timing."""
    total = 0.0
    for k in range(len(range(0, s.simulations, s.chunk))):
        with np.load(out_dir / "sims" / f"chunk_{k:05d}.npz") as part:
            if "seconds" not in part:
                return None
            total += float(part["seconds"])
    return total


def _save(path: Path, **arrays: np.ndarray) -> None:
    with path.open("wb") as f:
        np.savez(f, **arrays)


def train(units: np.ndarray, x: np.ndarray, s: NpeSettings, log_dir: Path):
    """The NPE posterior (sbi) of logit(u) given x, trained on every (set, seed) pair; x's constant columns dropped.

    With ``s.ensemble`` > 1, that many flows, each from its own torch seed (initial weights, validation split, batch
    order), make one equally weighted mixture (sbi's EnsemblePosterior): where one flow is overconfident the others
    widen the mixture. Training curves go to TensorBoard logs under ``log_dir`` (sbi's default would write them into
    the working directory).

    Returns:
        (posterior, kept columns, training summary).
    """
    import torch
    from sbi.inference import NPE
    from sbi.inference.posteriors import EnsemblePosterior
    from sbi.utils.tracking import TensorBoardTracker
    from torch.distributions import Independent, SigmoidTransform, TransformedDistribution, Uniform
    from torch.utils.tensorboard.writer import SummaryWriter

    dims = units.shape[1]
    flat = x.reshape(-1, x.shape[-1])
    keep = flat.std(axis=0) > 1e-9
    theta = torch.tensor(np.repeat(np.log(units) - np.log1p(-units), x.shape[1], axis=0), dtype=torch.float32)
    data = torch.tensor(flat[:, keep], dtype=torch.float32)
    prior = Independent(TransformedDistribution(Uniform(torch.zeros(dims), torch.ones(dims)),
                                                [SigmoidTransform().inv]), 1)
    members, epochs, losses = [], [], []
    for k in range(s.ensemble):
        torch.manual_seed((s.seed + k) % 2**32)
        tracker = TensorBoardTracker(SummaryWriter(str(log_dir / f"flow_{k}")))
        inference = NPE(prior=prior, density_estimator=s.estimator, show_progress_bars=False, tracker=tracker)
        inference.append_simulations(theta, data)
        estimator = inference.train(training_batch_size=s.training_batch_size, stop_after_epochs=s.stop_after_epochs,
                                    max_num_epochs=s.max_epochs)
        members.append(inference.build_posterior(estimator))
        epochs.append(int(inference.summary["epochs_trained"][-1]))
        losses.append(float(inference.summary["best_validation_loss"][-1]))
    posterior = members[0] if s.ensemble == 1 else EnsemblePosterior(members)
    summary = {"epochs": epochs, "best_validation_loss": losses, "pairs": len(flat), "features": int(keep.sum())}
    return posterior, keep, summary


# Redraws allowed for flow samples that overflow (a non-finite coordinate) before posterior_units gives up.
MAX_REDRAWS = 10


def posterior_units(posterior, keep: np.ndarray, x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` posterior draws for the record ``x``, on the quantile scale (n, parameters); torch seeded with ``seed``,
    so the draws do not depend on what was sampled before.

    A flow's inverse can overflow far in its tails (seen on a flow trained for two epochs: one coordinate of one draw
    of 100 at -inf). Such a draw is no point of the parameter space, and mapped through the logistic it would sit
    exactly on a prior bound, so it is drawn again from the same torch stream; still non-finite after
    ``MAX_REDRAWS`` rounds is an error.
    """
    import torch

    torch.manual_seed(seed % 2**32)
    xo = torch.tensor(x[keep], dtype=torch.float32)
    z = posterior.sample((n,), x=xo, show_progress_bars=False).numpy().astype(float)
    for attempt in range(MAX_REDRAWS + 1):
        bad = ~np.isfinite(z).all(axis=1)
        if not bad.any():
            return 1.0 / (1.0 + np.exp(-z))
        if attempt < MAX_REDRAWS:
            z[bad] = posterior.sample((int(bad.sum()),), x=xo, show_progress_bars=False).numpy()
    raise ValueError(f"npe posterior: {int(bad.sum())} of {n} draws still non-finite after {MAX_REDRAWS} redraws; "
                     "allowed: finite draws (train the flows longer)")


def _draws(posterior, keep: np.ndarray, x: np.ndarray, s: NpeSettings, seed: int) -> np.ndarray:
    """:func:`posterior_units` for the command: flows that keep drawing non-finite points stop it with one line that
    names the training setting to raise."""
    try:
        return posterior_units(posterior, keep, x, s.posterior_samples, seed)
    except ValueError as exc:
        fail(f"npe.max_epochs: {s.max_epochs} ({exc}); allowed: more training (npe.max_epochs, npe.simulations)")


def posterior_frame(priors: list[Prior], u: np.ndarray) -> pd.DataFrame:
    """Points on the quantile scale (rows) as parameter values, equally weighted: posterior draws in the layout of
    calibration.fit's posterior, or prior draws."""
    frame = pd.DataFrame({p.name: p.frozen().ppf(u[:, i]) for i, p in enumerate(priors)})
    frame.insert(0, "weight", 1.0 / len(frame))
    return frame


def feature_ids(problem: Problem) -> list[str]:
    """The id of each feature of :func:`features`: the targets', then the SIPRI totals'."""
    return [t.id for t in problem.targets] + problem.sipri_ids()


def observed_check(problem: Problem, x: np.ndarray, observed: np.ndarray) -> pd.DataFrame:
    """Where the real record falls among the prior simulations, feature by feature: the share of runs below it, at
    it and above it, and the runs' 5%, 50% and 95% quantiles. A record outside every run's range (``outside``) is
    where the network would extrapolate: its posterior is then not to be trusted there."""
    flat = x.reshape(-1, x.shape[-1])
    q = np.quantile(flat, (0.05, 0.5, 0.95), axis=0)
    return pd.DataFrame({
        "feature": feature_ids(problem), "observed": observed, "sim_q05": q[0], "sim_median": q[1], "sim_q95": q[2],
        "share_below": (flat < observed).mean(axis=0), "share_equal": (flat == observed).mean(axis=0),
        "share_above": (flat > observed).mean(axis=0),
        "outside": (observed < flat.min(axis=0)) | (observed > flat.max(axis=0))})


def truths_and_records(problem: Problem, priors: list[Prior], rec, s: NpeSettings) -> tuple[pd.DataFrame, np.ndarray]:
    """The harness's known sets and ``extra_truths`` prior draws, and each one's record in the layout of x."""
    truths = known_sets(priors, rec.sets, rec.seed, rec.margin)
    extra = np.random.default_rng([s.seed, 1]).random((s.extra_truths, len(priors)))
    truths = pd.concat([truths, posterior_frame(priors, extra).drop(columns="weight")], ignore_index=True)
    one = replace(problem, seeds=1)
    records = []
    for k, truth in enumerate(truths.to_dict("records")):
        # The harness's sets keep its record seed (their records are the ABC harness's); the others get their own.
        run = replace(one, root_seed=rec.seed + (0 if k < rec.sets else k)).simulate(truth)
        records.append(features(problem, run["stats"], run["sipri"], np.random.default_rng([s.seed, 2, k]),
                                s.statement_error, s.sipri_error)[0])
    return truths, np.stack(records)


def markdown(summary: pd.DataFrame, harness: pd.DataFrame, n_sets: int, training: Mapping, s: NpeSettings,
             wall: float) -> str:
    low, high = binomial_band(int(harness.sets.sum()))
    lines = ["# Parameter recovery with neural posterior estimation", "",
             f"NPE ({s.ensemble} x {s.estimator}, sbi) trained on {s.simulations} prior draws x {s.seeds} seeds "
             f"({training['pairs']} pairs, {training['features']} features, "
             f"{'/'.join(map(str, training['epochs']))} epochs); "
             f"{s.posterior_samples} posterior draws per record; {wall:.0f} s.", "",
             f"The harness's {n_sets} sets: truth inside the 90% interval in {int(harness.inside.sum())}/"
             f"{int(harness.sets.sum())} (binomial 90% band {low}-{high}); identified: "
             f"{int(harness.identified.sum())} ({', '.join(harness.parameter[harness.identified]) or 'none'}).", "",
             f"All {int(summary.sets.iloc[0])} truths: truth inside in {int(summary.inside.sum())}/"
             f"{int(summary.sets.sum())}; identified: {int(summary.identified.sum())}.", "",
             "| parameter | harness inside | harness median width share | harness identified | all inside | "
             "all median width share | all identified |", "|---|---|---|---|---|---|---|"]
    for h, a in zip(harness.itertuples(), summary.itertuples(), strict=True):
        lines.append(f"| {h.parameter} | {h.inside}/{h.sets} | {h.median_width_share:.2f} | "
                     f"{'yes' if h.identified else 'no'} | {a.inside}/{a.sets} | {a.median_width_share:.2f} | "
                     f"{'yes' if a.identified else 'no'} |")
    return "\n".join(lines) + "\n"


def prior_statistics(s: NpeSettings, out_dir: Path) -> np.ndarray:
    """Each fit row's statistic in each stored prior run, (sets x seeds, targets), without the record's error models
    of :func:`features`; whether a row held is ``target_losses(...) == 0``."""
    paths = [out_dir / "sims" / f"chunk_{k:05d}.npz" for k in range(-(-s.simulations // s.chunk))]
    stats = []
    for path in paths:
        with np.load(path) as part:
            stats.append(part["stats"].reshape(-1, part["stats"].shape[-1]))
    return np.concatenate(stats)


def row_conflicts(problem: Problem, stats: np.ndarray, max_lift: float = 0.5,
                  min_expected: float = 10.0) -> pd.DataFrame:
    """Pairs of fit rows that the prior's runs seldom meet together: the share of runs meeting both over the share
    independence would give (``lift``), for pairs with ``lift <= max_lift`` among those independence would have met
    together in at least ``min_expected`` runs, fewest first. Row a is the rarer of the two, and each pair also gives
    the median of row b's statistic in the runs that meet row a and in the others: what meeting the rarer row does to
    the other.

    A record whose rows conflict in the model's own runs is one the model reaches only by a compromise: an inference
    that weighs every row, such as NPE, may give up a row that the prior's runs meet most of the time (docs/ODD.md
    §10.18). The table names where the model's structure, not its parameters, stands between it and the record.
    """
    held = target_losses(problem.targets, stats) == 0.0
    n = len(held)
    p = held.mean(axis=0)
    both = (held.T.astype(np.float64) @ held.astype(np.float64)) / n
    a, b = np.triu_indices(len(p), k=1)
    expected = p[a] * p[b]
    keep = expected * n >= min_expected
    a, b, expected = a[keep], b[keep], expected[keep]
    rarer = p[a] <= p[b]
    a, b = np.where(rarer, a, b), np.where(rarer, b, a)
    lift = both[a, b] / expected
    ids = np.array([t.id for t in problem.targets])
    table = pd.DataFrame({"row_a": ids[a], "row_b": ids[b], "p_a": p[a], "p_b": p[b], "p_both": both[a, b],
                          "runs_both": np.rint(both[a, b] * n).astype(np.int64), "lift": lift, "ia": a, "ib": b})
    table = table[table.lift <= max_lift].sort_values(["lift", "row_a", "row_b"], kind="stable")
    # A statistic a run cannot compute (NaN: no event to date a year by) is left out of its median.
    with np.errstate(all="ignore"):
        table["b_median_given_a"] = [np.nanmedian(stats[held[:, i], j]) if held[:, i].any() else np.nan
                                     for i, j in zip(table.ia, table.ib, strict=True)]
        table["b_median_otherwise"] = [np.nanmedian(stats[~held[:, i], j]) if (~held[:, i]).any() else np.nan
                                       for i, j in zip(table.ia, table.ib, strict=True)]
    return table.drop(columns=["ia", "ib"]).reset_index(drop=True)


def conflicts_markdown(conflicts: pd.DataFrame, runs: int, top: int = 10) -> str:
    """The strongest conflicts in a few lines (row_conflicts.csv has them all)."""
    lines = ["", "## Rows of the record the prior's runs seldom meet together", "",
             f"Pairs of fit rows met together in at most half as many of the {runs} prior runs as independence would "
             f"give: {len(conflicts)} (`row_conflicts.csv`). The strongest {min(top, len(conflicts))}:", "",
             "| row a | row b | P(a) | P(b) | P(a and b) | lift | median of b's statistic where a holds / elsewhere |",
             "|---|---|---|---|---|---|---|"]
    for r in conflicts.head(top).itertuples():
        lines.append(f"| {r.row_a} | {r.row_b} | {r.p_a:.4f} | {r.p_b:.4f} | {r.p_both:.5f} | {r.lift:.2f} | "
                     f"{r.b_median_given_a:.4g} / {r.b_median_otherwise:.4g} |")
    return "\n".join(lines) + "\n"


def observed_markdown(check: pd.DataFrame, shipped: bool) -> str:
    """The real record among the simulations, in a few lines (observed_check.csv has every feature)."""
    statement = check[check["observed"].isin([0.0, 1.0]) & (check["sim_q05"] >= 0) & (check["sim_q95"] <= 1)]
    rare = statement[statement["share_equal"] < 0.05]
    lines = ["", "## The real record among the prior simulations", "",
             f"Features outside every simulated run's range: {int(check.outside.sum())} of {len(check)}"
             + (f" ({', '.join(check.feature[check.outside])})" if check.outside.any() else "") + ".",
             f"Statements the prior's runs make true in under 5% of runs: {len(rare)}"
             + (f" ({', '.join(f'{r.feature} {r.share_equal:.3f}' for r in rare.itertuples())})" if len(rare) else "")
             + ".", "",
             "The posterior of the real record is `posterior_npe.parquet` (equal weights)"
             + (", shipped as calibration/posterior/posterior.parquet" if shipped else ", not shipped")
             + ": it is to be trusted only where the record lies within the simulations (docs/ODD.md §10.5)."]
    return "\n".join(lines) + "\n"


def cut_columns(problem: Problem, observations: pd.DataFrame, cut: int) -> np.ndarray:
    """The features the record up to ``cut`` states, as a mask over :func:`features`: the targets of observations
    with year_end <= cut (as compile_targets cuts them) and the SIPRI totals ending by it (as Problem does)."""
    ends = observations.set_index("id").year_end
    sipri = set(replace(problem, last_year=cut).sipri_ids())
    return np.array([ends[t.id] <= cut for t in problem.targets] + [i in sipri for i in problem.sipri_ids()])


def diagnostics_markdown(table: pd.DataFrame, training: Mapping, s: NpeSettings, separable: str) -> str:
    """``diagnostics.md`` of an NPE posterior: the training, the prior-driven table, then ``separable`` (the
    separability section)."""
    return "\n".join([
        "# Calibration diagnostics", "", "## Neural posterior estimation", "",
        f"{s.ensemble} x {s.estimator} (sbi) trained on {s.simulations} prior draws x {s.seeds} seeds "
        f"({training['pairs']} pairs, {training['features']} features); epochs per flow "
        f"{', '.join(map(str, training['epochs']))}; best validation loss per flow "
        f"{', '.join(f'{v:.2f}' for v in training['best_validation_loss'])}; statements read wrongly with "
        f"probability {s.statement_error}, SIPRI totals with a normal error of {s.sipri_error} on log1p(TIV m). "
        f"The posterior is {s.posterior_samples} equally weighted draws.", "",
        parameters_markdown(table), separable])


# The ABC fit's own diagnostics, which an NPE posterior does not have: removed when one is shipped, so that nothing
# in calibration/posterior describes another fit.
ABC_ONLY = ("generations.csv", "generations.png", "weights.csv")


def ship(priors: list[Prior], real: pd.DataFrame, recovery: pd.DataFrame, recovery_report: str, record: Mapping,
         training: Mapping, s: NpeSettings, out: Path) -> None:
    """Make the real record's posterior the shipped calibration in ``out``: the posterior, its manifest, diagnostics
    (prior_driven.csv, the separability tables, diagnostics.md, marginals.png, pairs.png) and the recovery harness's
    table and report."""
    particles, weights = real.drop(columns="weight"), real["weight"].to_numpy()
    table = prior_driven(priors, particles, weights)
    pairs, directions, summary = separability(priors, particles, weights)
    report = diagnostics_markdown(table, training, s, separability_markdown(pairs, directions, summary))
    figures = posterior_figures(table, priors, particles, weights)
    writers = {"posterior.parquet": lambda p: real.to_parquet(p, index=False),
               "manifest.json": lambda p: write_json(p, dict(record)),
               "prior_driven.csv": lambda p: table.to_csv(p, index=False),
               "separability_pairs.csv": lambda p: pairs.to_csv(p, index=False),
               "separability_directions.csv": lambda p: directions.to_csv(p, index=False),
               "diagnostics.md": lambda p: p.write_text(report, encoding="utf-8"),
               "recovery.csv": lambda p: recovery.to_csv(p, index=False),
               "recovery.md": lambda p: p.write_text(recovery_report, encoding="utf-8"),
               "recovery_manifest.json": lambda p: write_json(p, dict(record))}
    for name, fig in figures.items():
        writers[name] = lambda p, f=fig: f.savefig(p, dpi=110, format="png")
    write_atomically(out, writers)
    for fig in figures.values():
        plt.close(fig)
    for name in ABC_ONLY:
        (out / name).unlink(missing_ok=True)


def command(cfg: DictConfig) -> None:
    """Simulate the prior (resumable), train, recover every truth, write the report, print one summary line."""
    start = time.perf_counter()
    setup = prepare(cfg)
    settings = setup.settings
    try:
        rec = parse_recovery(setup.config["recovery"])
        s = parse_npe(setup.config["npe"])
    except ConfigError as exc:
        fail(str(exc))
    targets = compile_targets(setup.observations, setup.drivers.years, setup.data, last_year=settings.last_year)
    priors = list(settings.priors)
    problem = Problem(setup.exp.params, setup.data, setup.drivers, targets, s.seeds, settings.root_seed,
                      Weights(sipri=settings.sipri_weight, kind=settings.distance), priors,
                      last_year=settings.last_year)
    out_dir = Path(setup.config["out_dir"])
    begin = time.perf_counter()
    try:
        units, x = simulate_prior(problem, priors, s, out_dir)
    except ConfigError as exc:
        fail(str(exc))
    simulating = time.perf_counter() - begin
    prior_stats = prior_statistics(s, out_dir)
    conflicts = row_conflicts(problem, prior_stats)
    hashes = dict(setup.data.hashes)
    hashes["observations.csv"] = hashlib.sha256(OBSERVATIONS_PATH.read_bytes()).hexdigest()
    if s.conflicts_only:
        # The screen of a model change against the record (docs/ODD.md §10.18): the prior's runs only, no training,
        # so neither sbi nor torch is needed.
        record = manifest(setup.config, {"root_seed": settings.root_seed, "npe_seed": s.seed}, hashes)
        record["npe"] = {"conflicts_only": True, "runs": len(prior_stats),
                         "wall_s": round(time.perf_counter() - start, 1)}
        text = "# Rows of the record against the prior's runs\n" + conflicts_markdown(conflicts, len(prior_stats))
        write_atomically(out_dir, {"row_conflicts.csv": lambda p: conflicts.to_csv(p, index=False),
                                   "row_conflicts.md": lambda p: p.write_text(text, encoding="utf-8"),
                                   "manifest.json": lambda p: write_json(p, json.loads(json.dumps(record)))})
        print(f"npe: {len(prior_stats)} prior runs, {len(conflicts)} pairs of rows with lift <= 0.5; "
              f"{time.perf_counter() - start:.0f} s; report in {out_dir / 'row_conflicts.md'}")
        return
    print(f"npe: {len(units)} sets simulated; training", flush=True)
    posterior, keep, training = train(units, x, s, out_dir / "training_log")
    truths, records = truths_and_records(problem, priors, rec, s)
    frames = [posterior_frame(priors, _draws(posterior, keep, r, s, s.seed + 1 + k))
              for k, r in enumerate(records)]
    table = recovery_table(priors, truths, frames)
    observed = observed_features(problem)
    check = observed_check(problem, x, observed)
    real = posterior_frame(priors, _draws(posterior, keep, observed, s, s.seed))
    summary, harness = coverage(table), coverage(table[table["set"] < rec.sets])
    wall = round(time.perf_counter() - start, 1)
    simulated = simulation_seconds(out_dir, s)
    record = manifest(setup.config, {"root_seed": settings.root_seed, "recovery_seed": rec.seed, "npe_seed": s.seed},
                      hashes)
    record["npe"] = {"wall_s": wall, "harness_sets": rec.sets, "truths": len(truths)}
    # The fit's wall time, as calibration.fit reports it: the prior simulations on the workers (however many runs it
    # took to finish them) and this run's training, sampling and harness checks; the hindcast fit after it is not
    # counted.
    fit = {"method": "npe", "ensemble": s.ensemble, "simulations": s.simulations * s.seeds,
           "posterior_samples": s.posterior_samples, "training": training, "simulation_wall_s": simulated}
    record["fit"] = {**fit, "last_year": settings.last_year,
                     "wall_s": None if simulated is None else round(simulated + wall - simulating, 1)}
    report = (markdown(summary, harness, rec.sets, training, s, wall) + observed_markdown(check, setup.config["ship"])
              + conflicts_markdown(conflicts, len(prior_stats)))
    write_atomically(out_dir, {"npe_recovery.csv": lambda p: table.to_csv(p, index=False),
                               "npe_recovery.md": lambda p: p.write_text(report, encoding="utf-8"),
                               "observed_check.csv": lambda p: check.to_csv(p, index=False),
                               "row_conflicts.csv": lambda p: conflicts.to_csv(p, index=False),
                               "posterior_npe.parquet": lambda p: real.to_parquet(p, index=False),
                               "manifest.json": lambda p: write_json(p, json.loads(json.dumps(record)))})
    if s.hindcast_cut:
        begin = time.perf_counter()
        cols = cut_columns(problem, setup.observations, s.hindcast_cut)
        print(f"npe: hindcast fit to {s.hindcast_cut} on {int(cols.sum())} of {len(cols)} features", flush=True)
        cut_posterior, cut_keep, cut_training = train(units, x[..., cols], s, out_dir / "training_log" / "hindcast")
        cut_frame = posterior_frame(priors, _draws(cut_posterior, cut_keep, observed[cols], s, s.seed))
        took = time.perf_counter() - begin
        cut_record = {**record, "fit": {**fit, "training": cut_training, "last_year": s.hindcast_cut,
                                        "wall_s": None if simulated is None else round(simulated + took, 1)}}
        write_atomically(out_dir / "hindcast_fit", {
            "posterior.parquet": lambda p: cut_frame.to_parquet(p, index=False),
            "manifest.json": lambda p: write_json(p, json.loads(json.dumps(cut_record)))})
    if setup.config["ship"]:
        ship(priors, real, table, report, record, training, s, SHIPPED)
        print(f"npe: shipped to {SHIPPED}")
    print(f"npe: harness {rec.sets} sets x {len(harness)} parameters, truth inside the 90% interval in "
          f"{int(harness.inside.sum())}/{int(harness.sets.sum())}, identified {int(harness.identified.sum())}; all "
          f"{len(truths)} truths: inside {int(summary.inside.sum())}/{int(summary.sets.sum())}, identified "
          f"{int(summary.identified.sum())}; {wall:.0f} s; report in {out_dir / 'npe_recovery.md'}")


if __name__ == "__main__":
    precheck("npe", validate)
    from calibration.cli import npe

    npe()
