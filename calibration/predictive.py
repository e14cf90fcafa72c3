"""``python -m calibration.predictive``: the posterior predictive of a posterior, 2000-2023, as tidy Parquet.

Draws ``draws`` parameter sets from the weighted particles (seeded), runs each with the calibration's seeds, and writes
``posterior_predictive.parquet`` in the tidy schema (``param_source = posterior:<hash>``) with its manifest into
``out_dir``, so anyone can compare calibrated trajectories with other data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from calibration.check import posterior_draws
from calibration.setup import prepare, validate
from common.cli import precheck
from common.provenance import manifest, write_atomically, write_json
from model.params import with_overrides
from model.run import simulate_many


def command(cfg: DictConfig) -> None:
    """Write the posterior predictive and print where it is."""
    s = prepare(cfg, with_posterior=True)
    settings, draws = s.settings, s.draws
    rng = np.random.default_rng(np.random.SeedSequence(settings.root_seed, spawn_key=(0xA11,)))
    frames = []
    for d, values in enumerate(posterior_draws(s.posterior, draws, rng)):
        params = with_overrides(s.exp.params, values)
        for run in simulate_many(params, s.data, s.drivers, settings.root_seed,
                                 list(range(settings.seeds_per_particle)), draw=d):
            frames.append(run.to_tidy(s.exp.scenario, s.source))
        if (d + 1) % max(draws // 10, 1) == 0:
            print(f"predictive: draw {d + 1}/{draws}", file=sys.stderr)
    tidy = pd.concat(frames, ignore_index=True)
    for col in ("scenario", "param_source", "iso3", "partner", "channel", "variable"):
        tidy[col] = tidy[col].astype("category")
    out_dir = Path(s.config["out_dir"])
    seeds = {"root_seed": settings.root_seed, "draws": draws, "seeds_per_draw": settings.seeds_per_particle}
    write_atomically(out_dir, {"posterior_predictive.parquet": lambda p: tidy.to_parquet(p, index=False),
                               "predictive_manifest.json":
                                   lambda p: write_json(p, manifest(s.config, seeds, s.data.hashes))})
    print(f"predictive: {draws} draws x {settings.seeds_per_particle} seeds of {s.source} in "
          f"{out_dir / 'posterior_predictive.parquet'}")


if __name__ == "__main__":
    precheck("calibrate", validate)
    from calibration.cli import predictive

    predictive()
