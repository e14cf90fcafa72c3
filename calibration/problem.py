"""The calibration problem: a picklable simulator from a particle (parameter dict) to summary statistics.

pyabc reseeds numpy's global state in its workers, so the model's own streams are keyed instead by a seed derived
from the particle's values: each simulation is reproducible from its recorded parameters (the calibration as a whole
is reproducible in distribution only).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from calibration import batching
from calibration.objective import Weights, components, distance
from calibration.priors import Prior
from calibration.targets import SIPRI_PERIODS, Target, observed_sipri_blocks, run_statistics, sipri_total_ids
from model.data import HIST_END, ModelData
from model.drivers import Drivers
from model.params import ModelParams, with_overrides
from model.run import simulate_batch


def particle_seed(root_seed: int, particle: dict) -> int:
    """A 63-bit root seed for a particle's runs, from the base seed and the particle's values (sorted by name)."""
    payload = repr((root_seed, sorted((k, float(v)) for k, v in particle.items()))).encode()
    return int.from_bytes(hashlib.blake2b(payload, digest_size=8).digest(), "little") >> 1


@dataclass
class Problem:
    """Everything a worker needs to turn a particle into summary statistics, and to score them."""

    base: ModelParams
    data: ModelData
    drivers: Drivers
    targets: list[Target]
    seeds: int
    root_seed: int
    weights: Weights
    priors: list[Prior]
    last_year: int = HIST_END
    # The information weights' table (calibration.weights.weigh), written beside the fit.
    weight_table: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        blocks = observed_sipri_blocks(self.data)
        ends = np.array([b for _, b in SIPRI_PERIODS])
        # Only the five-year totals that end by last_year: a fit cut at a year (the hindcast) must not see later
        # imports.
        self.sipri_keep = (np.concatenate([np.broadcast_to(ends[:, None], b.shape).ravel() for b in blocks])
                           <= self.last_year)
        self.sipri_obs = np.concatenate([b.ravel() for b in blocks])[self.sipri_keep]

    def simulate(self, particle: dict) -> dict:
        """Run ``seeds`` seeds of the particle's parameters; statistics per seed. In a batched sampler's worker
        (:mod:`calibration.batching`) the particle joins the other threads' particles in one model batch."""
        batcher = batching.active()
        if batcher is not None:
            return batcher.submit(self, particle)
        return self.simulate_particles([particle])[0]

    def simulate_particles(self, particles: list[dict]) -> list[dict]:
        """:meth:`simulate` of each particle, all particles' seeds as one batch (each run as it would be alone)."""
        values = [{p.name: float(particle[p.name]) for p in self.priors} for particle in particles]
        params = [with_overrides(self.base, v) for v in values]
        roots = [particle_seed(self.root_seed, v) for v in values]
        seeds = list(range(self.seeds))
        runs = simulate_batch([p for p in params for _ in seeds], self.data, self.drivers,
                              [r for r in roots for _ in seeds], 0, seeds * len(particles))
        # Every statistic is one array program over the runs, each run's row its own (tests/test_batching.py).
        stats, sipri = run_statistics(self.targets, runs, self.data)
        sipri = sipri[:, self.sipri_keep]
        rows = [slice(i * self.seeds, (i + 1) * self.seeds) for i in range(len(roots))]
        return [{"stats": stats[r].copy(), "sipri": sipri[r].copy(), "root_seed": root}
                for r, root in zip(rows, roots, strict=True)]

    def sipri_ids(self) -> list[str]:
        """Ids of the SIPRI totals the problem fits, in the order of its statistics."""
        return [i for i, keep in zip(sipri_total_ids(), self.sipri_keep, strict=True) if keep]

    def components(self, x: dict) -> np.ndarray:
        """Per-seed losses of every component (targets, then SIPRI totals) of a simulated summary."""
        return components(self.targets, x["stats"], x["sipri"], self.sipri_obs[None, :])

    def distance(self, x: dict, x0: dict) -> float:  # x0 unused: observed values live in the targets
        """pyabc's distance: the weighted expected loss over the particle's seeds."""
        return distance(self.targets, x["stats"], x["sipri"], self.sipri_obs[None, :], self.weights)

    def observed(self) -> dict:
        """The observed summary in the simulator's layout (what pyabc stores as the data)."""
        return {"stats": np.array([[t.value for t in self.targets]]), "sipri": self.sipri_obs[None, :], "root_seed": 0}
