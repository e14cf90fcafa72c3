"""The bad-input catalogue: every kind of mistake a user can make gets one line naming the key or file and what is
allowed, a non-zero exit for command lines, and no output.

Command-line cases go through each entry point's own front door (:func:`common.cli.precheck` with the same
validator the ``__main__`` block uses, which exits 2 before Hydra starts); file cases through the loaders the entry
points call. ``tests/test_forecast.py``, ``test_configs.py``, ``test_data.py`` and ``test_observations.py`` hold more
cases of each kind, and run some of them as real subprocesses.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from calibration.observations import OBSERVATIONS_PATH, load_observations
from calibration.setup import validate as validate_calibration
from common.cli import precheck
from common.config import build_experiment
from common.posterior import load_posterior
from experiments.executor import dask_client
from experiments.forecast import validate as validate_forecast
from model.data import DATA_DIR, DataError, load_data
from model.params import ConfigError

ENTRY = {"simulate": ("config", build_experiment), "forecast": ("forecast", validate_forecast),
         "calibrate": ("calibrate", validate_calibration)}

# (entry point, command line, what the one line must say)
COMMAND_LINES = [
    ("simulate", ["run.nothing=1"], "run.nothing: unknown key"),
    ("simulate", ["params.arms.nothing=1"], "params.arms.nothing: unknown key"),
    ("simulate", ["params.arms.need_gap=abc"], "params.arms.need_gap: expected float"),
    ("simulate", ["params.arms.need_gap=99"], "params.arms.need_gap"),
    ("simulate", ["scenario=atlantis"], "scenario: 'atlantis' is not a known option"),
    ("simulate", ["run.last_year=2050"], "run.last_year"),
    ("simulate", ["run.first_year=1990"], "run.first_year"),
    ("simulate", ["run.n_seeds=-1"], "run.n_seeds"),
    ("simulate", ["run.n_seeds=2.5"], "run.n_seeds"),
    ("simulate", ["drivers.gdp_growth=nan"], "drivers.gdp_growth"),
    ("simulate", ["run.formats=[xls]"], "run.formats"),
    ("simulate", ["run.executor=gpu"], "run.executor: 'gpu'"),
    ("simulate", ["scenario=venezuela_transition",
                  "scenario.venezuela_transition.drivers.orientation=[{iso3:XXX,year_start:2030,year_end:2031,value:0}]"],
     "XXX"),
    ("simulate", ["scenario=us_hard_red_lines", "scenario.us_hard_red_lines.drivers.red_lines.platforms=2050"],
     "platforms"),
    ("simulate", ["scenario=[detente,us_china_deterioration]"], "us_china_tension"),
    ("forecast", ["scenarios=[baseline,atlantis]"], "scenario: 'atlantis' is not a known option"),
    ("forecast", ["forecast.draws=0"], "forecast.draws"),
    ("forecast", ["forecast.seeds=many"], "forecast.seeds"),
    ("forecast", ["forecast.executor=gpu"], "forecast.executor: 'gpu'; allowed: serial, pool, dask"),
    ("forecast", ["forecast.executor=dask"], "forecast.dask_scheduler: empty"),
    ("forecast", ["forecast.first_table_year=2041"], "forecast.first_table_year"),
    ("forecast", ["forecast.out_root=/etc/hostname/forecast"],
     "forecast.out_root: '/etc/hostname/forecast' cannot be written"),
    ("calibrate", ["calibration.priors.arms.beta_lockin.low=9"],
     "calibration.priors.arms.beta_lockin: low 9.0 >= high"),
    ("calibrate", ["+calibration.priors.arms.nothing={dist:uniform,low:0,high:1,why:x}"],
     "calibration.priors.arms.nothing: unknown parameter"),
    ("calibrate", ["calibration.priors.arms.beta_lockin.dist=gamma"], "calibration.priors.arms.beta_lockin.dist"),
    ("calibrate", ["calibration.blocks=[[arms.nothing]]"], "calibration.blocks: 'arms.nothing' is not a calibrated"),
    ("calibrate", ["calibration.population_size=0"], "calibration.population_size"),
    ("calibrate", ["calibration.last_year=2030"], "calibration.last_year"),
    ("calibrate", ["calibration.pilot_seeds=1"], "calibration.pilot_seeds: 1 is out of range; allowed [2, 100]"),
    ("calibrate", ["calibration.epsilon_quantile=1"],
     "calibration.epsilon_quantile: 1 is out of range; allowed [0.05, 0.95]"),
    ("calibrate", ["calibration.kernel_scale=0"], "calibration.kernel_scale: 0 is out of range; allowed [0.1, 10]"),
    ("calibrate", ["calibration.pilot_draws=-3"], "calibration.pilot_draws: -3 is out of range"),
    ("calibrate", ["calibration.pilot_draws=1"], "calibration.pilot_draws: 1; allowed: 0 (base weights) or at least 2"),
    ("calibrate", ["calibration.distance=l2"], "calibration.distance: 'l2'; allowed: loss, score, projection"),
    ("calibrate", ["calibration.distance=score", "calibration.pilot_draws=0"],
     "calibration.pilot_draws: 0 with distance score; allowed: at least 2"),
    ("calibrate", ["calibration.distance=score", "calibration.seeds_per_particle=1"],
     "calibration.seeds_per_particle: 1 with distance score; allowed: at least 2"),
    ("calibrate", ["calibration.distance=projection", "calibration.pilot_draws=0"],
     "calibration.pilot_draws: 0 with distance projection; allowed: enough prior draws for the regression"),
]


@pytest.mark.parametrize(("entry", "args", "says"), COMMAND_LINES, ids=[" ".join(c[1])[:60] for c in COMMAND_LINES])
def test_bad_command_lines(entry, args, says, monkeypatch, capsys):
    name, validate = ENTRY[entry]
    monkeypatch.setattr(sys, "argv", [entry, *args])
    with pytest.raises(SystemExit) as exit_info:
        precheck(name, validate)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0], err


def _copy_data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target


def _edit(path: Path, edit) -> None:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    edit(frame).to_csv(path, index=False)


def _set(row: int, column: str, value: str):
    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, column] = value
        return frame
    return edit


# (file under data/, edit, what the message must say besides the file name)
DATA_FILES = [
    ("countries.csv", _set(0, "iso3", "XXX"), "XXX"),
    ("countries.csv", lambda f: pd.concat([f, f.iloc[[5]]]), "duplicate"),
    ("countries.csv", lambda f: f.drop(columns="confidence"), "confidence"),
    ("countries.csv", lambda f: f.iloc[0:0], ""),
    ("global_drivers.csv", _set(2, "value", "NaN"), "value"),
    ("global_drivers.csv", _set(2, "year", "1950"), "year"),
    ("fiscal_stress.csv", _set(3, "value", "-0.5"), "value"),
]


@pytest.mark.parametrize(("name", "edit", "says"), DATA_FILES, ids=[f"{c[0]}-{i}" for i, c in enumerate(DATA_FILES)])
def test_bad_data_files(name, edit, says, tmp_path):
    data_dir = _copy_data(tmp_path)
    _edit(data_dir / name, edit)
    with pytest.raises(DataError) as info:
        load_data(data_dir)
    message = str(info.value)
    assert "\n" not in message and name in message and says in message, message


OBSERVATION_EDITS = [
    (lambda f: f.drop(columns="tolerance"), "tolerance"),
    (lambda f: pd.concat([f, f.iloc[[3]]]), "duplicate"),
    (_set(4, "iso3", "XXX"), "XXX"),
    (_set(4, "tolerance", "-1"), "tolerance"),
    (_set(4, "year_end", "1990"), "year_end"),
    (_set(4, "kind", "vibe"), "kind"),
]


@pytest.mark.parametrize(("edit", "says"), OBSERVATION_EDITS, ids=[c[1] for c in OBSERVATION_EDITS])
def test_bad_observation_files(edit, says, tmp_path):
    path = tmp_path / "observations.csv"
    shutil.copyfile(OBSERVATIONS_PATH, path)
    _edit(path, edit)
    with pytest.raises(Exception) as info:
        load_observations(path)
    message = str(info.value)
    assert "\n" not in message and "observations.csv" in message and says in message, message


def test_an_empty_observation_file(tmp_path):
    path = tmp_path / "observations.csv"
    path.write_text("")
    with pytest.raises(Exception) as info:
        load_observations(path)
    assert "\n" not in str(info.value) and "observations.csv" in str(info.value)


@pytest.mark.parametrize(("frame", "says"), [
    (None, "not found"),
    (pd.DataFrame({"arms.beta_lockin": [1.0, 2.0]}), "lacks a finite 'weight' column"),
    (pd.DataFrame({"weight": [0.5, np.nan], "arms.beta_lockin": [1.0, 2.0]}), "lacks a finite 'weight' column"),
])
def test_bad_posteriors(frame, says, tmp_path):
    path = tmp_path / "posterior.parquet"
    if frame is not None:
        frame.to_parquet(path)
    with pytest.raises(ConfigError) as info:
        load_posterior(path)
    assert str(info.value).startswith("posterior: ") and says in str(info.value) and "\n" not in str(info.value)


def test_an_unreachable_dask_scheduler():
    with pytest.raises(ConfigError, match=r"^forecast.dask_scheduler: '127.0.0.1:1' unreachable"):
        dask_client("127.0.0.1:1", "forecast.dask_scheduler")



def test_the_debug_flag_adds_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["simulate", "params.arms.need_gap=abc"])
    monkeypatch.setenv("LACDEF_DEBUG", "1")
    with pytest.raises(SystemExit):
        precheck("config", build_experiment)
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and err.strip().splitlines()[-1].startswith("error: ")
