"""``python -m calibration.fit``: ABC-SMC (pyabc) over the free parameters, resumable from its SQLite history.

Each generation is one ``ABCSMC.run(max_nr_populations=1)`` call on the stored history, so a killed fit loses at most
the generation in progress and a rerun with the same ``out_dir`` continues. Stops after ``min_generations`` when the
acceptance rate falls below ``min_acceptance_rate`` or epsilon improves by less than ``min_epsilon_gain``, or at
``max_generations``. Writes ``posterior.parquet`` (weighted particles) and ``manifest.json`` beside the history.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyabc
from omegaconf import DictConfig

from calibration.batching import BatchedEvalParallelSampler
from calibration.objective import Weights
from calibration.observations import OBSERVATIONS_PATH
from calibration.priors import Prior, distribution, transition
from calibration.problem import Problem
from calibration.setup import FitSettings, prepare, validate
from calibration.targets import compile_targets
from calibration.weights import weigh
from common.cli import fail, precheck
from common.provenance import manifest, write_atomically, write_json
from model.params import PROJECT_ROOT, ConfigError

SHIPPED = PROJECT_ROOT / "calibration" / "posterior"
def _sampler(settings: FitSettings) -> pyabc.sampler.Sampler:
    if settings.dask_scheduler:
        from distributed import Client

        try:
            client = Client(settings.dask_scheduler, timeout=10)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"calibration.dask_scheduler: {settings.dask_scheduler!r} unreachable ({exc}); allowed: "
                              "a running scheduler's host:port") from None
        return pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=20)
    n = settings.n_procs or os.cpu_count() or 1
    if settings.particles_per_batch == 1:
        return pyabc.sampler.SingleCoreSampler() if n == 1 else pyabc.sampler.MulticoreEvalParallelSampler(n_procs=n)
    return BatchedEvalParallelSampler(n_procs=n, particles_per_batch=settings.particles_per_batch)


def truncated_weights(weights: np.ndarray) -> np.ndarray:
    """Importance weights capped at the mean weight times sqrt(N), then normalised (Ionides 2008).

    The last generation's weights are prior over proposal densities, and a particle where the block kernels are thin
    can carry a fifth of the posterior; the cap bounds any one particle's share by 1/sqrt(N) at a bias towards the
    proposal that vanishes as N grows (measured on the recovery harness and on several fits: ODD §10.21, §10.22).
    """
    w = np.asarray(weights, dtype=float)
    capped = np.minimum(w, _cap(w))
    return capped / capped.sum()


def _cap(w: np.ndarray) -> float:
    return float(w.mean() * np.sqrt(w.size))


def truncation(weights: np.ndarray) -> dict:
    """What the cap did to a generation's raw weights: effective sample before and after, particles capped.

    Both from weights normalised the same way, so that with nothing capped the two are equal to the last bit (pyabc's
    weights sum to one only up to rounding, and the effective sample of a rescaled copy can differ in the last place).
    """
    w = np.asarray(weights, dtype=float)
    ess = pyabc.weighted_statistics.effective_sample_size
    return {"ess_raw": float(ess(w / w.sum())), "ess": float(ess(truncated_weights(w))),
            "particles_capped": int((w > _cap(w)).sum())}


def posterior_frame(history: pyabc.History, priors: list[Prior]) -> pd.DataFrame:
    """The last generation's particles, with truncated normalised weights (:func:`truncated_weights`)."""
    particles, weights = history.get_distribution()
    frame = particles[[p.name for p in priors]].reset_index(drop=True).astype(float)
    frame.insert(0, "weight", truncated_weights(weights))
    return frame


def fit_key(settings: FitSettings, problem: Problem, data_hashes: dict) -> str:
    """Hash of what a history's generations depend on: priors, blocks, targets, seeds, weights and data."""
    payload = repr((settings.priors, settings.blocks, settings.seeds_per_particle, settings.root_seed,
                    settings.pilot_draws, settings.pilot_seeds,
                    settings.population_size, settings.epsilon_quantile, settings.kernel_scale,
                    [(t.id, t.relation, t.value, t.low, t.high, t.tolerance) for t in problem.targets],
                    problem.weights, sorted(data_hashes.items())))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def stored_generations(db_path: Path) -> int:
    """Generations stored in the history at ``db_path``: 0 without one, and for a history that a kill left between
    its creation and its first generation (pyabc's ``n_populations`` fails on it), so a rerun starts it afresh."""
    if not db_path.is_file():
        return 0
    last = pyabc.History(f"sqlite:///{db_path}").max_t
    return 0 if last is None else int(last) + 1


def run_fit(settings: FitSettings, problem: Problem, out_dir: Path, config: dict, data_hashes: dict) -> Path:
    """Run or resume the ABC-SMC and write the posterior; returns the posterior's path.

    A history is resumed only by the fit that made it (same :func:`fit_key`); another fit in the same folder is
    refused, since its generations would mix two problems. The distance's information weights come from a pilot
    (:func:`calibration.weights.weigh`, unless ``problem`` already has them) and are written as ``weights.csv``.
    """
    logging.getLogger("ABC").setLevel(logging.WARNING)
    if problem.weight_table is None:
        start = time.perf_counter()
        problem = weigh(problem, settings.pilot_draws, settings.pilot_seeds, settings.root_seed)
        what = {"score": "score units", "projection": "projected summaries"}.get(problem.weights.kind,
                                                                                 "information weights")
        print(f"fit: {what} from {settings.pilot_draws} prior draws x {settings.pilot_seeds} seeds in "
              f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        if problem.weights.projection is not None:
            q = problem.weights.projection.quality
            beyond = q.parameter[q.in_distance & q.observed_pit.isin((0.0, 1.0))].tolist()
            print(f"fit: {int(q.in_distance.sum())} of {len(q)} summaries in the distance (projection.csv)"
                  + (f"; the record's lies beyond every pilot record's for {', '.join(beyond)}" if beyond else ""),
                  file=sys.stderr, flush=True)
    db_path = out_dir / "history.db"
    db = f"sqlite:///{db_path}"
    key, key_path = fit_key(settings, problem, data_hashes), out_dir / "fit_key.txt"
    if db_path.exists() and key_path.is_file() and key_path.read_text().strip() != key:
        raise ConfigError(f"out_dir: {out_dir} holds a fit with other priors, targets, seeds or data; allowed: a new "
                          f"out_dir (or delete {db_path} to start over)")
    out_dir.mkdir(parents=True, exist_ok=True)
    # Only once the folder is known to be this fit's: a refused fit leaves the other fit's weights in place.
    tables = {"weights.csv": lambda p: problem.weight_table.to_csv(p, index=False)}
    if problem.weights.projection is not None:
        tables["projection.csv"] = lambda p: problem.weights.projection.quality.to_csv(p, index=False)
    write_atomically(out_dir, tables)
    key_path.write_text(key + "\n")
    abc = pyabc.ABCSMC(problem.simulate, distribution(list(settings.priors)), problem.distance,
                       population_size=settings.population_size,
                       transitions=transition(settings.blocks, list(settings.priors), settings.kernel_scale),
                       eps=pyabc.QuantileEpsilon(alpha=settings.epsilon_quantile), sampler=_sampler(settings))
    if stored_generations(db_path) > 0:
        abc.load(db, 1)
        print(f"fit: resuming {db_path} at generation {abc.history.max_t + 1}", file=sys.stderr)
    else:
        db_path.unlink(missing_ok=True)
        abc.new(db, problem.observed())
    start = time.perf_counter()
    while True:
        # Each generation starts like a resumed run: epsilon and the distance calibrate on the latest stored
        # population. pyabc caches its first calibration sample across run() calls, which would pin epsilon to the
        # prior sample's median; clearing the cache makes the loop equal to one uninterrupted run.
        abc._initial_population = None
        history = abc.run(max_nr_populations=1)
        pops = history.get_all_populations()
        pops = pops[pops.t >= 0]
        t = int(pops.t.max())
        eps = pops.epsilon.to_numpy()
        sims = int(pops.samples.sum())
        rate = settings.population_size / float(pops.samples.iloc[-1])
        gain = 1.0 - eps[-1] / eps[-2] if len(eps) > 1 and eps[-2] > 0 else 1.0
        ess = pyabc.weighted_statistics.effective_sample_size(history.get_distribution()[1])
        print(f"fit: generation {t + 1}: epsilon {eps[-1]:.4g} (gain {gain:.1%}), acceptance {rate:.1%}, ESS "
              f"{ess:.0f}, {sims} simulations, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        if t + 1 >= settings.max_generations:
            break
        if t + 1 >= settings.min_generations and (rate < settings.min_acceptance_rate
                                                  or gain < settings.min_epsilon_gain):
            break
    posterior = posterior_frame(history, list(settings.priors))
    record = manifest(config, {"root_seed": settings.root_seed, "seeds_per_particle": settings.seeds_per_particle},
                      data_hashes)
    record["fit"] = {"method": "abc-smc", "last_year": problem.last_year, "generations": t + 1, "simulations": sims,
                     "pilot_simulations": settings.pilot_draws * settings.pilot_seeds, "final_epsilon": float(eps[-1]),
                     "acceptance_rate": rate, "wall_s": round(time.perf_counter() - start, 1), "history": str(db_path),
                     **truncation(history.get_distribution()[1])}
    write_atomically(out_dir, {"posterior.parquet": lambda p: posterior.to_parquet(p, index=False),
                               "manifest.json": lambda p: write_json(p, record)})
    return out_dir / "posterior.parquet"


def command(cfg: DictConfig) -> None:
    """Validate, build the problem, fit, print where the posterior is."""
    s = prepare(cfg)
    settings = s.settings
    targets = compile_targets(s.observations, s.drivers.years, s.data, last_year=settings.last_year)
    problem = Problem(s.exp.params, s.data, s.drivers, targets, settings.seeds_per_particle, settings.root_seed,
                      Weights(sipri=settings.sipri_weight, kind=settings.distance), list(settings.priors),
                      last_year=settings.last_year)
    hashes = dict(s.data.hashes)
    hashes["observations.csv"] = hashlib.sha256(OBSERVATIONS_PATH.read_bytes()).hexdigest()
    try:
        path = run_fit(settings, problem, Path(s.config["out_dir"]), s.config, hashes)
    except ConfigError as exc:
        fail(str(exc))
    print(f"fit: {len(targets)} targets, posterior in {path}")
    if s.config["ship"]:
        from calibration.diagnostics import diagnose

        # The diagnostics go with the shipped posterior: forecasts read its prior-driven flags.
        diagnose(path.parent / "history.db", list(settings.priors), path.parent)
        names = ["posterior.parquet", "generations.csv", "prior_driven.csv", "separability_pairs.csv",
                 "separability_directions.csv", "diagnostics.md", "generations.png", "marginals.png", "pairs.png",
                 "weights.csv", "manifest.json"]
        write_atomically(SHIPPED, {n: lambda p, src=path.parent / n: shutil.copy2(src, p) for n in names})
        print(f"fit: shipped to {SHIPPED}")


if __name__ == "__main__":
    precheck("calibrate", validate)
    from calibration.cli import fit

    fit()
