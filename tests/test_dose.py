"""The dose-response command: one driver at several levels, paired draws and seeds, a table and a figure."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import experiments.dose as D
import experiments.forecast as F
from common.cli import CONFIG_DIR
from model.params import ConfigError


def _config(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("dose", overrides=overrides), resolve=True)


SMALL = ["forecast.draws=4", "forecast.seeds=2", "forecast.executor=serial", "dose.levels=[0.45,0.75,1.0]"]


def test_each_level_sets_the_drivers_path_and_nothing_else():
    settings, ensembles = D.plan_dose(_config(SMALL), SMALL)
    assert [e.label for e in ensembles] == ["us_china_tension_0.45", "us_china_tension_0.75", "us_china_tension_1"]
    assert [e.exp.drivers.paths["us_china_tension"] for e in ensembles] == [((2030, 0.45),), ((2030, 0.75),),
                                                                            ((2030, 1.0),)]
    # Apart from the dosed path, the levels run the same experiment (the pairing is by draw and seed).
    first = ensembles[0].exp
    for e in ensembles[1:]:
        assert e.exp.params == first.params and e.exp.scenario == first.scenario
    assert settings.draws == 4 and settings.first_stored_year == 2024


@pytest.mark.parametrize(("override", "says"), [
    ("dose.driver=moon", "dose.driver: 'moon'; allowed: us_china_tension"),
    ("dose.levels=[0.5]", "dose.levels"),
    ("dose.levels=[0.5,1.5]", "dose.levels"),
    ("dose.year=2020", "dose.year"),
    ("dose.scenario=us_china_deterioration", "sets drivers.paths.us_china_tension itself"),
])
def test_bad_dose_settings_are_named(override, says):
    with pytest.raises(ConfigError, match=says.replace("[", r"\[")):
        D.plan_dose(_config([*SMALL, override]), [*SMALL, override])


def test_the_levels_are_paired_and_pressure_rises_with_tension(tmp_path):
    ov = [*SMALL, f"forecast.out_root={tmp_path}"]
    config = _config(ov)
    work, settings, _job, record = F.run_ensemble(config, ov, D.plan_dose)
    dose = D.parse_dose(config["dose"])
    paths = D.write_outputs(work, settings, dose, record)
    assert {p.name for p in paths} >= {"dose_response.parquet", "dose_response.csv", "dose_response.md",
                                       "dose_response.png", "manifest.json"}
    table = pd.read_parquet(work / "dose" / "dose_response.parquet")
    assert list(table.columns) == list(D.TABLE_COLUMNS) and (table["runs"] == 8).all()
    reference = table[table["level"] == 0.45]
    assert (reference[["diff_median", "diff_q05", "diff_q95", "p_higher", "p_lower"]] == 0).all().all()
    pressure = table[(table["output"] == "us_pressure") & (table["statistic"] == "2030")].sort_values("level")
    assert np.all(np.diff(pressure["median"]) > 0) and pressure["p_higher"].iloc[-1] == 1.0
    flows = table[table["output"] == "china_arms_deal_signed.CHN"]
    assert set(flows["statistic"]) == {"2030", "2040", "sum 2024-2040"}
    text = (work / "dose" / "dose_response.md").read_text()
    assert text.startswith("# Dose-response: us_china_tension by 2030 (baseline)") and "| us_pressure | 2030 |" in text
    assert record["dose"]["levels"] == [0.45, 0.75, 1.0]


@pytest.mark.slow
def test_the_command_runs_and_bad_input_is_one_line(tmp_path):
    root = CONFIG_DIR.parent
    done = subprocess.run([sys.executable, "-m", "experiments.dose", *SMALL, f"forecast.out_root={tmp_path}"],
                          cwd=root, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "latest" / "dose" / "dose_response.png").is_file()
    bad = subprocess.run([sys.executable, "-m", "experiments.dose", "dose.driver=moon",
                          f"forecast.out_root={tmp_path}"], cwd=root, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: dose.driver: 'moon'; allowed: us_china_tension, commodity_index, pla_navy_reach, russia_availability"]
