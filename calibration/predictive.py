"""``python -m calibration.predictive``: the posterior predictive of a posterior, 2000-2023, as tidy Parquet.

Draws ``draws`` parameter sets from the weighted particles (seeded), runs each with the calibration's seeds, and writes
``posterior_predictive.parquet`` in the tidy schema (``param_source = posterior:<hash>``) with its manifest into
``out_dir``, so anyone can compare calibrated trajectories with other data.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from calibration.check import posterior_draws
from calibration.fit import _run_stub, parse_settings
from experiments.cli import fail, precheck
from experiments.config import build_experiment
from experiments.provenance import manifest, write_atomically, write_json
from model.data import HIST_END, DataError, load_data
from model.drivers import build_drivers
from model.params import PROJECT_ROOT, ConfigError, with_overrides
from model.run import simulate


def warn_if_data_changed(path: Path, hashes: dict[str, str]) -> list[str]:
    """Files whose hash differs from the one recorded in the manifest beside ``path`` (a warning, not an error)."""
    record = path.parent / "manifest.json"
    if not record.is_file():
        print(f"warning: {path} has no manifest.json beside it; its data provenance is unknown", file=sys.stderr)
        return []
    recorded = json.loads(record.read_text(encoding="utf-8")).get("data_hashes", {})
    changed = sorted(k for k in recorded.keys() & hashes.keys() if recorded[k] != hashes[k])
    if changed:
        print(f"warning: {path} was fitted to other data: {', '.join(changed)} changed since", file=sys.stderr)
    return changed


def load_posterior(path: Path) -> tuple[pd.DataFrame, str]:
    """The weighted particles and the ``posterior:<short hash>`` label; one-line errors for a missing or bad file."""
    if not path.is_file():
        raise ConfigError(f"posterior: {path} not found; allowed: a posterior.parquet written by python -m calibration.fit")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"posterior: {path} is not a readable Parquet file ({exc})") from None
    if "weight" not in frame.columns or len(frame) == 0 or not np.isfinite(frame.to_numpy(dtype=float)).all():
        raise ConfigError(f"posterior: {path} lacks a finite 'weight' column and particles")
    return frame, "posterior:" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@hydra.main(version_base="1.3", config_path="../configs", config_name="calibrate")
def main(cfg: DictConfig) -> None:
    """Write the posterior predictive and print where it is."""
    config = OmegaConf.to_container(cfg, resolve=True)
    try:
        exp = build_experiment({k: config[k] for k in ("params", "drivers", "scenario")} | {"run": _run_stub()})
        settings = parse_settings(config["calibration"])
        path = Path(config["posterior"])
        posterior, source = load_posterior(path if path.is_absolute() else PROJECT_ROOT / path)
        draws = int(config["draws"])
        data = load_data()
    except (ConfigError, DataError, ValueError, TypeError) as exc:
        fail(str(exc))
    warn_if_data_changed(path if path.is_absolute() else PROJECT_ROOT / path, data.hashes)
    drivers = build_drivers(data, exp.drivers, 2000, HIST_END)
    rng = np.random.default_rng(np.random.SeedSequence(settings.root_seed, spawn_key=(0xA11,)))
    frames = []
    for d, values in enumerate(posterior_draws(posterior, draws, rng)):
        params = with_overrides(exp.params, values)
        for s in range(settings.seeds_per_particle):
            frames.append(simulate(params, data, drivers, settings.root_seed, draw=d, seed=s).to_tidy(exp.scenario, source))
        if (d + 1) % max(draws // 10, 1) == 0:
            print(f"predictive: draw {d + 1}/{draws}", file=sys.stderr)
    tidy = pd.concat(frames, ignore_index=True)
    for col in ("scenario", "param_source", "iso3", "partner", "channel", "variable"):
        tidy[col] = tidy[col].astype("category")
    out_dir = Path(config["out_dir"])
    seeds = {"root_seed": settings.root_seed, "draws": draws, "seeds_per_draw": settings.seeds_per_particle}
    write_atomically(out_dir, {"posterior_predictive.parquet": lambda p: tidy.to_parquet(p, index=False),
                               "predictive_manifest.json": lambda p: write_json(p, manifest(config, seeds, data.hashes))})
    print(f"predictive: {draws} draws x {settings.seeds_per_particle} seeds of {source} in {out_dir / 'posterior_predictive.parquet'}")


if __name__ == "__main__":
    precheck("calibrate", lambda c: build_experiment({k: c[k] for k in ("params", "drivers", "scenario")} | {"run": _run_stub()}))
    main()
