"""``python -m calibration.fit``: ABC-SMC (pyabc) over the free parameters, resumable from its SQLite history.

Each generation is one ``ABCSMC.run(max_nr_populations=1)`` call on the stored history, so a killed fit loses at most
the generation in progress and a rerun with the same ``out_dir`` continues. Stops after ``min_generations`` when the
acceptance rate falls below ``min_acceptance_rate`` or epsilon improves by less than ``min_epsilon_gain``, or at
``max_generations``. Writes ``posterior.parquet`` (weighted particles) and ``manifest.json`` beside the history.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
import pyabc
from omegaconf import DictConfig, OmegaConf

from calibration.objective import Weights
from calibration.observations import OBSERVATIONS_PATH, load_observations
from calibration.priors import Prior, distribution, parse_priors, to_parameters
from calibration.problem import Problem
from calibration.targets import compile_targets
from experiments.cli import fail, precheck
from experiments.config import build_experiment
from experiments.provenance import manifest, write_atomically, write_json
from model.data import HIST_END, DataError, load_data
from model.drivers import build_drivers
from model.params import PROJECT_ROOT, ConfigError, check_keys, check_number

SHIPPED = PROJECT_ROOT / "calibration" / "posterior"
SETTINGS = ("population_size", "min_generations", "max_generations", "min_acceptance_rate", "min_epsilon_gain",
            "seeds_per_particle", "last_year", "sipri_weight", "n_procs", "dask_scheduler", "root_seed", "priors")


@dataclass(frozen=True)
class FitSettings:
    """Validated calibration settings."""

    population_size: int
    min_generations: int
    max_generations: int
    min_acceptance_rate: float
    min_epsilon_gain: float
    seeds_per_particle: int
    last_year: int
    sipri_weight: float
    n_procs: int
    dask_scheduler: str
    root_seed: int
    priors: tuple[Prior, ...]


def parse_settings(cfg: Mapping) -> FitSettings:
    """One-line errors for every bad setting, before any simulation."""
    check_keys("calibration", cfg, SETTINGS)
    s = {k: cfg[k] for k in SETTINGS if k != "priors"}
    for key, (lo, hi, integer) in {"population_size": (10, 1e6, True), "min_generations": (1, 100, True),
                                   "max_generations": (1, 100, True), "min_acceptance_rate": (0, 1, False),
                                   "min_epsilon_gain": (0, 1, False), "seeds_per_particle": (1, 100, True),
                                   "last_year": (2005, HIST_END, True), "sipri_weight": (0, 1e3, False),
                                   "n_procs": (0, 256, True), "root_seed": (0, 2**62, True)}.items():
        s[key] = check_number(f"calibration.{key}", s[key], lo, hi, integer)
    if s["min_generations"] > s["max_generations"]:
        raise ConfigError(f"calibration.min_generations: {s['min_generations']} > max_generations {s['max_generations']}")
    if not isinstance(s["dask_scheduler"], str):
        raise ConfigError(f"calibration.dask_scheduler: {s['dask_scheduler']!r}; allowed: host:port or empty")
    return FitSettings(priors=tuple(parse_priors(cfg["priors"])), **{k: (int(v) if k in ("population_size", "min_generations", "max_generations", "seeds_per_particle", "last_year", "n_procs", "root_seed") else v) for k, v in s.items()})


def _sampler(settings: FitSettings) -> pyabc.sampler.Sampler:
    if settings.dask_scheduler:
        from distributed import Client

        try:
            client = Client(settings.dask_scheduler, timeout=10)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"calibration.dask_scheduler: {settings.dask_scheduler!r} unreachable ({exc}); allowed: a running scheduler's host:port") from None
        return pyabc.sampler.DaskDistributedSampler(dask_client=client, batch_size=20)
    n = settings.n_procs or os.cpu_count() or 1
    return pyabc.sampler.SingleCoreSampler() if n == 1 else pyabc.sampler.MulticoreEvalParallelSampler(n_procs=n)


def posterior_frame(history: pyabc.History, priors: list[Prior]) -> pd.DataFrame:
    """The last generation's particles in parameter space, with normalised weights."""
    particles, weights = history.get_distribution()
    frame = pd.DataFrame([to_parameters(priors, row) for row in particles.to_dict("records")])
    frame.insert(0, "weight", np.asarray(weights) / np.sum(weights))
    return frame


def run_fit(settings: FitSettings, problem: Problem, out_dir: Path, config: dict, data_hashes: dict) -> Path:
    """Run or resume the ABC-SMC and write the posterior; returns the posterior's path."""
    logging.getLogger("ABC").setLevel(logging.WARNING)
    out_dir.mkdir(parents=True, exist_ok=True)
    db_path = out_dir / "history.db"
    db = f"sqlite:///{db_path}"
    abc = pyabc.ABCSMC(problem.simulate, distribution(list(settings.priors)), problem.distance,
                       population_size=settings.population_size, sampler=_sampler(settings))
    if db_path.exists() and pyabc.History(db).n_populations > 0:
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
        print(f"fit: generation {t + 1}: epsilon {eps[-1]:.4g} (gain {gain:.1%}), acceptance {rate:.1%}, ESS {ess:.0f}, "
              f"{sims} simulations, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        if t + 1 >= settings.max_generations:
            break
        if t + 1 >= settings.min_generations and (rate < settings.min_acceptance_rate or gain < settings.min_epsilon_gain):
            break
    posterior = posterior_frame(history, list(settings.priors))
    record = manifest(config, {"root_seed": settings.root_seed, "seeds_per_particle": settings.seeds_per_particle},
                      data_hashes)
    record["fit"] = {"generations": t + 1, "simulations": sims, "final_epsilon": float(eps[-1]),
                     "acceptance_rate": rate, "wall_s": round(time.perf_counter() - start, 1), "history": str(db_path)}
    write_atomically(out_dir, {"posterior.parquet": lambda p: posterior.to_parquet(p, index=False),
                               "manifest.json": lambda p: write_json(p, record)})
    return out_dir / "posterior.parquet"


@hydra.main(version_base="1.3", config_path="../configs", config_name="calibrate")
def main(cfg: DictConfig) -> None:
    """Validate, build the problem, fit, print where the posterior is."""
    config = OmegaConf.to_container(cfg, resolve=True)
    try:
        exp = build_experiment({k: config[k] for k in ("params", "drivers", "scenario")} | {"run": _run_stub()})
        settings = parse_settings(config["calibration"])
        data = load_data()
        observations = load_observations()
    except (ConfigError, DataError) as exc:
        fail(str(exc))
    drivers = build_drivers(data, exp.drivers, 2000, HIST_END)
    targets = compile_targets(observations, drivers.years, data, last_year=settings.last_year)
    problem = Problem(exp.params, data, drivers, targets, settings.seeds_per_particle, settings.root_seed,
                      Weights(sipri=settings.sipri_weight if settings.last_year >= HIST_END else 0.0),
                      list(settings.priors))
    hashes = dict(data.hashes)
    hashes["observations.csv"] = __import__("hashlib").sha256(OBSERVATIONS_PATH.read_bytes()).hexdigest()
    try:
        path = run_fit(settings, problem, Path(config["out_dir"]), config, hashes)
    except ConfigError as exc:
        fail(str(exc))
    print(f"fit: {len(targets)} targets, posterior in {path}")
    if config["ship"]:
        SHIPPED.mkdir(parents=True, exist_ok=True)
        for name in ("posterior.parquet", "manifest.json"):
            shutil.copy2(path.parent / name, SHIPPED / name)
        print(f"fit: shipped to {SHIPPED}")


def _run_stub() -> dict:
    """Run settings are not used by the fit; a valid stub lets the experiment validator check the model config."""
    return {"root_seed": 0, "n_seeds": 1, "first_year": 2000, "last_year": HIST_END, "param_source": "defaults",
            "formats": ["parquet"], "out_dir": ""}


if __name__ == "__main__":
    precheck("calibrate", lambda c: (build_experiment({k: c[k] for k in ("params", "drivers", "scenario")} | {"run": _run_stub()}),
                                     parse_settings(c["calibration"])))
    main()
