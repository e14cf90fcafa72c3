"""simulate on every executor: the same frames whatever runs the seeds and however they are chunked."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from common.cli import CONFIG_DIR
from common.config import build_experiment
from experiments.executor import dask_client
from experiments.simulate import run_simulation
from model.params import ConfigError


def _experiment(*overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        config = OmegaConf.to_container(compose("config", overrides=list(overrides)), resolve=True)
    return build_experiment(config), config


@pytest.mark.slow
def test_simulate_gives_the_same_frame_on_every_executor_and_chunk_size(data, tmp_path):
    from distributed import LocalCluster

    exp, config = _experiment("run.n_seeds=5", "run.first_year=2000", "run.last_year=2030", "run.formats=[parquet]")
    frames = {}
    for name, run in [("serial", dict(executor="serial", batch_size=5)), ("pool", dict(executor="pool", batch_size=2)),
                      ("dask", dict(executor="dask", batch_size=3))]:
        e = dataclasses.replace(exp, run=dataclasses.replace(exp.run, **run))
        out = tmp_path / name
        if name == "dask":
            with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
                client = dask_client(cluster.scheduler_address, "run.dask_scheduler")
                try:
                    run_simulation(e, data, out, config, client)
                finally:
                    client.close()
        else:
            run_simulation(e, data, out, config)
        frames[name] = pd.read_parquet(out / "simulation.parquet")
    assert sorted(frames["serial"].seed.unique()) == [0, 1, 2, 3, 4]
    for name in ("pool", "dask"):
        pd.testing.assert_frame_equal(frames[name], frames["serial"], check_exact=True)


@pytest.mark.parametrize(("override", "says"), [
    ("run.executor=gpu", "run.executor: 'gpu'; allowed: serial, pool, dask"),
    ("run.executor=dask", "run.dask_scheduler: ''"),
    ("run.workers=0", "run.workers"),
    ("run.batch_size=0", "run.batch_size"),
])
def test_bad_executor_settings_are_named(override, says):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        config = OmegaConf.to_container(compose("config", overrides=[override]), resolve=True)
    with pytest.raises(ConfigError) as info:
        build_experiment(config)
    assert str(info.value).startswith(says.split(":")[0]) and says in str(info.value) and "\n" not in str(info.value)


def test_an_unreachable_scheduler_is_one_line():
    with pytest.raises(ConfigError, match=r"^run.dask_scheduler: '127.0.0.1:1' unreachable .*allowed: a running dask"):
        dask_client("127.0.0.1:1", "run.dask_scheduler")
