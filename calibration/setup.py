"""What every calibration entry point shares: validated settings, the model's config, data, and the posterior.

:func:`prepare` turns the composed ``calibrate`` config into a :class:`Setup`, ending the process with a one-line
error (exit 2) on any bad setting, data file or posterior before anything runs or is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from calibration.objective import DISTANCES
from calibration.observations import load_observations
from calibration.priors import Prior, parse_blocks, parse_priors
from common.cli import fail
from common.config import Experiment, build_model
from common.posterior import load_posterior, warn_if_data_changed
from model.data import HIST_END, DataError, ModelData, load_data
from model.drivers import Drivers, build_drivers
from model.params import PROJECT_ROOT, ConfigError, check_keys, check_number

SETTINGS = ("population_size", "min_generations", "max_generations", "min_acceptance_rate", "min_epsilon_gain",
            "seeds_per_particle", "pilot_draws", "pilot_seeds", "last_year", "sipri_weight", "n_procs",
            "particles_per_batch", "dask_scheduler", "root_seed", "distance", "epsilon_quantile", "kernel_scale",
            "priors", "blocks")


@dataclass(frozen=True)
class FitSettings:
    """Validated calibration settings."""

    population_size: int
    min_generations: int
    max_generations: int
    min_acceptance_rate: float
    min_epsilon_gain: float
    seeds_per_particle: int
    pilot_draws: int
    pilot_seeds: int
    last_year: int
    sipri_weight: float
    n_procs: int
    particles_per_batch: int
    dask_scheduler: str
    root_seed: int
    distance: str
    epsilon_quantile: float
    kernel_scale: float
    priors: tuple[Prior, ...]
    blocks: tuple[tuple[str, ...], ...]


def parse_settings(cfg: Mapping) -> FitSettings:
    """One-line errors for every bad setting, before any simulation."""
    check_keys("calibration", cfg, SETTINGS)
    s = {k: cfg[k] for k in SETTINGS if k not in ("priors", "blocks")}
    for key, (lo, hi, integer) in {"population_size": (10, 1e6, True), "min_generations": (1, 100, True),
                                   "max_generations": (1, 100, True), "min_acceptance_rate": (0, 1, False),
                                   "min_epsilon_gain": (0, 1, False), "seeds_per_particle": (1, 100, True),
                                   "pilot_draws": (0, 100_000, True), "pilot_seeds": (2, 100, True),
                                   "last_year": (2005, HIST_END, True), "sipri_weight": (0, 1e3, False),
                                   "n_procs": (0, 256, True), "particles_per_batch": (1, 1024, True),
                                   "root_seed": (0, 2**62, True), "epsilon_quantile": (0.05, 0.95, False),
                                   "kernel_scale": (0.1, 10, False)}.items():
        s[key] = check_number(f"calibration.{key}", s[key], lo, hi, integer)
    if s["min_generations"] > s["max_generations"]:
        raise ConfigError(f"calibration.min_generations: {s['min_generations']} > max_generations "
                          f"{s['max_generations']}")
    if s["pilot_draws"] == 1:
        raise ConfigError("calibration.pilot_draws: 1; allowed: 0 (base weights) "
                          "or at least 2 (a variance between draws)")
    if s["distance"] not in DISTANCES:
        raise ConfigError(f"calibration.distance: {s['distance']!r}; allowed: {', '.join(DISTANCES)}")
    if s["distance"] == "score" and s["pilot_draws"] == 0:
        raise ConfigError("calibration.pilot_draws: 0 with distance score; allowed: at least 2 (the prior "
                          "predictive's scores put the rows on one scale)")
    if s["distance"] == "projection" and s["pilot_draws"] == 0:
        raise ConfigError("calibration.pilot_draws: 0 with distance projection; allowed: enough prior draws for the "
                          "regression (at least two records per feature)")
    if s["distance"] == "score" and s["seeds_per_particle"] < 2:
        raise ConfigError(f"calibration.seeds_per_particle: {s['seeds_per_particle']} with distance score; allowed: "
                          "at least 2 (a particle's seeds are scored as an ensemble)")
    if not isinstance(s["dask_scheduler"], str):
        raise ConfigError(f"calibration.dask_scheduler: {s['dask_scheduler']!r}; allowed: host:port or empty")
    priors = parse_priors(cfg["priors"])
    return FitSettings(priors=tuple(priors), blocks=parse_blocks(cfg["blocks"], priors),
                       **{k: (int(v) if k in ("population_size", "min_generations", "max_generations",
                                              "seeds_per_particle", "pilot_draws", "pilot_seeds", "last_year",
                                              "n_procs", "particles_per_batch", "root_seed") else v)
                          for k, v in s.items()})



def validate(config: Mapping) -> None:
    """Everything the command line can get wrong (for :func:`common.cli.precheck`)."""
    build_model(config)
    parse_settings(config["calibration"])


@dataclass
class Setup:
    """A calibration entry point's inputs, validated.

    Attributes:
        config: the resolved config (recorded in manifests).
        exp: the model's parameters and drivers.
        settings: the calibration settings and priors.
        data, observations: inputs; ``drivers`` cover 2000-2023.
        posterior, source: the weighted particles and their ``posterior:<hash>`` label, when asked for.
        draws: predictive draws (``draws`` key).
    """

    config: dict
    exp: Experiment
    settings: FitSettings
    data: ModelData
    observations: pd.DataFrame
    drivers: Drivers
    posterior: pd.DataFrame | None = None
    source: str = ""
    draws: int = 0


def prepare(cfg: DictConfig, with_posterior: bool = False) -> Setup:
    """Validate the composed config and load what the entry point needs; one-line error and exit 2 on any problem."""
    config = OmegaConf.to_container(cfg, resolve=True)
    posterior, source, draws, path = None, "", 0, None
    try:
        exp = build_model(config)
        settings = parse_settings(config["calibration"])
        if with_posterior:
            path = Path(config["posterior"])
            path = path if path.is_absolute() else PROJECT_ROOT / path
            posterior, source = load_posterior(path)
            draws = int(check_number("draws", config["draws"], 1, 1_000_000, integer=True))
        data = load_data()
        observations = load_observations()
    except (ConfigError, DataError) as exc:
        fail(str(exc))
    if path is not None:
        warn_if_data_changed(path, data.hashes)
    drivers = build_drivers(data, exp.drivers, 2000, HIST_END)
    return Setup(config, exp, settings, data, observations, drivers, posterior, source, draws)
