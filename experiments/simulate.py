"""``python -m experiments.simulate``: N seeds of one scenario with given parameters, as tidy Parquet and CSV.

The Hydra entry point is thin: it validates the composed config into frozen objects (:mod:`common.config`) and
calls :func:`run_simulation`, which any script or test can call without Hydra.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from calibration.observations import load_observations
from calibration.trajectories import plot_trajectories
from common.cli import fail, precheck
from common.config import Experiment, build_experiment
from common.provenance import manifest, write_atomically, write_json
from experiments.executor import dask_client, run_tasks
from model.data import DataError, ModelData, load_data
from model.drivers import Drivers, build_drivers
from model.params import ConfigError, ModelParams
from model.run import simulate_many


@dataclass(frozen=True)
class Chunk:
    """A task: some seeds of the experiment's parameter set (draw 0)."""

    params: ModelParams
    drivers: Drivers
    root_seed: int
    seeds: tuple[int, ...]
    scenario: str
    param_source: str


def run_chunk(chunk: Chunk, data: ModelData) -> list[pd.DataFrame]:
    """The tidy frame of each seed of ``chunk`` (module level: worker processes import it by name)."""
    return [run.to_tidy(chunk.scenario, chunk.param_source)
            for run in simulate_many(chunk.params, data, chunk.drivers, chunk.root_seed, list(chunk.seeds))]


def run_simulation(exp: Experiment, data: ModelData, out_dir: Path, config: dict, client=None) -> list[Path]:
    """Run ``exp.run.n_seeds`` seeds; write ``simulation.parquet``/``.csv``, trajectory PNGs and ``manifest.json``.

    Seeds go to ``run.executor`` in chunks of ``run.batch_size``; the frame is assembled in seed order, so it is the
    same whatever the executor, the workers or the chunk size.
    """
    rs = exp.run
    drivers = build_drivers(data, exp.drivers, rs.first_year, rs.last_year)
    chunks = [Chunk(exp.params, drivers, rs.root_seed, tuple(range(a, min(a + rs.batch_size, rs.n_seeds))),
                    exp.scenario, rs.param_source) for a in range(0, rs.n_seeds, rs.batch_size)]
    frames: dict[int, pd.DataFrame] = {}
    # Progress on one rewritten line at a terminal; one line per tenth of the runs in a log.
    tty = sys.stderr.isatty()
    step = max(rs.n_seeds // 10, 1)

    def done(chunk: Chunk, result: list[pd.DataFrame]) -> None:
        before = len(frames)
        frames.update(zip(chunk.seeds, result, strict=True))
        if tty:
            print(f"\rsimulate: run {len(frames)}/{rs.n_seeds}", end="", file=sys.stderr, flush=True)
        elif len(frames) // step > before // step or len(frames) == rs.n_seeds:
            print(f"simulate: run {len(frames)}/{rs.n_seeds}", file=sys.stderr, flush=True)

    run_tasks(run_chunk, chunks, data, rs.executor, rs.workers, done, client)
    if tty:
        print(file=sys.stderr)
    tidy = pd.concat([frames[s] for s in range(rs.n_seeds)], ignore_index=True)
    for col in ("scenario", "param_source", "iso3", "partner", "channel", "variable"):
        tidy[col] = tidy[col].astype("category")
    writers = {}
    figures = tempfile.TemporaryDirectory() if "png" in rs.formats else None
    if figures is not None:
        # Trajectory figures (median and bands over seeds, observations marked), drawn in a scratch folder and moved
        # in with the tables, so a failure leaves no figure behind either.
        for path in plot_trajectories(tidy, load_observations(), Path(figures.name), last_year=rs.last_year):
            writers[path.name] = lambda p, src=path: shutil.copyfile(src, p)
    if "parquet" in rs.formats:
        writers["simulation.parquet"] = lambda p: tidy.to_parquet(p, index=False)
    if "csv" in rs.formats:
        writers["simulation.csv"] = lambda p: tidy.to_csv(p, index=False)
    seeds = {"root_seed": rs.root_seed, "draw": 0, "seeds": list(range(rs.n_seeds))}
    writers["manifest.json"] = lambda p: write_json(p, manifest(config, seeds, data.hashes))
    try:
        return write_atomically(out_dir, writers)
    finally:
        if figures is not None:
            figures.cleanup()


def command(cfg: DictConfig) -> None:
    """Validate the config, run, and print where the outputs are."""
    config = OmegaConf.to_container(cfg, resolve=True)
    try:
        exp = build_experiment(config)
        data = load_data()
    except (ConfigError, DataError) as exc:
        fail(str(exc))
    out_dir = (Path(exp.run.out_dir) if exp.run.out_dir
               else Path(hydra.core.hydra_config.HydraConfig.get().runtime.output_dir))
    try:
        client = dask_client(exp.run.dask_scheduler, "run.dask_scheduler") if exp.run.executor == "dask" else None
    except ConfigError as exc:
        fail(str(exc))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)  # fail before the runs, not after them
        paths = run_simulation(exp, data, out_dir, config, client)
    except OSError as exc:
        fail(f"run.out_dir: cannot write {out_dir} ({exc.strerror}); allowed: a writable folder")
    finally:
        if client is not None:
            client.close()
    print(f"simulate: {exp.run.n_seeds} runs of scenario '{exp.scenario}', {exp.run.first_year}-{exp.run.last_year}")
    for path in paths:
        print(f"  {path}")


if __name__ == "__main__":
    precheck("config", build_experiment)
    from experiments.cli import simulate

    simulate()
