"""Tests of the configuration layer: ``configs/``, :mod:`model.params`, :mod:`model.drivers` and :mod:`experiments`.

Four groups:

* Every scenario in ``configs/scenario/`` composes with Hydra and validates (globbed, so a new scenario is tested
  without editing this file); the baseline gives exactly the shipped default parameters and driver rules.
* ``configs/params/default.yaml`` and the parameter dataclasses agree (round trip, documentation, ranges).
* Bad values, fed in-process to :func:`common.config.build_experiment`, raise a one-line ``ConfigError`` that
  starts with the dotted key.
* The command line end to end (subprocesses, marked slow): bad overrides exit with status 2, one ``error:`` line and
  no output; a short good run writes exactly its three files; an unwritable output folder is refused.
"""

from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from common.config import build_experiment
from model.drivers import DriverParams, load_default_drivers
from model.params import ConfigError, ModelParams, load_default_params, parameter_table, with_overrides

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "configs"
SCENARIOS = sorted(p.stem for p in (CONFIG_DIR / "scenario").glob("*.yaml"))
DELETE = object()  # marks a key to remove in an edit


def compose_config(overrides: list[str] | None = None) -> dict:
    """The root config composed exactly as the entry points do, as plain containers."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides or [])
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture(scope="module")
def baseline_cfg() -> dict:
    """The composed baseline config; tests edit deep copies of it."""
    return compose_config(["scenario=baseline"])


def edited(cfg: dict, edits: dict[str, object]) -> dict:
    """A deep copy of ``cfg`` with dotted ``edits`` applied (``DELETE`` removes the key)."""
    out = copy.deepcopy(cfg)
    for dotted, value in edits.items():
        *parents, last = dotted.split(".")
        node = out
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return out


# --- every config composes --------------------------------------------------------------------------------------------


def test_scenarios_exist() -> None:
    assert "baseline" in SCENARIOS


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_composes_and_validates(scenario: str) -> None:
    exp = build_experiment(compose_config([f"scenario={scenario}"]))
    assert exp.scenario
    # A scenario only changes driver rules (SCENARIO_KEYS has no params), so every scenario runs the defaults.
    assert exp.params == load_default_params()
    assert isinstance(exp.drivers, DriverParams)


def test_baseline_is_the_shipped_defaults(baseline_cfg: dict) -> None:
    exp = build_experiment(baseline_cfg)
    assert exp.scenario == "baseline"
    assert exp.params == load_default_params()
    assert exp.drivers == load_default_drivers()
    assert exp.run.first_year == 2000
    assert exp.run.last_year == 2040


def test_build_experiment_does_not_mutate_its_input(baseline_cfg: dict) -> None:
    # The composed config is written to the manifest after validation; validation must not alter it.
    before = copy.deepcopy(baseline_cfg)
    build_experiment(baseline_cfg)
    assert baseline_cfg == before


def test_scenario_driver_overrides_merge_into_drivers(baseline_cfg: dict) -> None:
    cfg = edited(baseline_cfg,
                 {"scenario.baseline.drivers": {"gdp_growth": 0.01, "paths": {"us_china_tension": [[2030, 0.9]]}}})
    drivers = build_experiment(cfg).drivers
    assert drivers.gdp_growth == 0.01
    assert drivers.paths["us_china_tension"] == ((2030, 0.9),)
    # Keys the scenario does not mention keep the drivers group's values (merge, not replace).
    assert drivers.paths["commodity_index"] == ()
    assert drivers.commodity_reversion == load_default_drivers().commodity_reversion


# --- params YAML and dataclasses agree --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def params_yaml() -> dict:
    with open(CONFIG_DIR / "params" / "default.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def test_params_yaml_round_trips(params_yaml: dict) -> None:
    params = ModelParams.from_dict(params_yaml)
    assert params.to_dict() == params_yaml
    assert ModelParams.from_dict(params.to_dict()) == params


def test_parameter_table_matches_yaml(params_yaml: dict) -> None:
    names = {row["name"] for row in parameter_table()}
    in_yaml = {f"{g}.{k}" for g, group in params_yaml.items() for k in group}
    assert names == in_yaml


@pytest.mark.parametrize("row", parameter_table(), ids=lambda r: r["name"])
def test_parameter_is_documented_and_default_in_range(row: dict) -> None:
    assert row["doc"].strip()
    assert row["source"].strip()
    assert row["low"] <= row["high"]
    group, name = row["name"].split(".")
    default = getattr(getattr(load_default_params(), group), name)
    values = default if row["length"] else (default,)
    if row["length"]:
        assert len(values) == row["length"]
    for v in values:
        assert math.isfinite(v)
        assert row["low"] <= v <= row["high"]


def test_with_overrides_changes_one_value_only() -> None:
    base = load_default_params()
    new = with_overrides(base, {"arms.fail_veto": 2.0})
    assert new.arms.fail_veto == 2.0
    assert base.arms.fail_veto != 2.0  # the original is untouched (frozen)
    assert with_overrides(new, {"arms.fail_veto": base.arms.fail_veto}) == base


@pytest.mark.parametrize(("overrides", "key"), [
    ({"arms.foo": 1.0}, "params.arms.foo"),
    ({"foo.bar": 1.0}, "params.foo.bar"),
    ({"arms": 1.0}, "params.arms"),
    ({"arms.need_gap": "abc"}, "params.arms.need_gap"),
    ({"arms.lag_min": 9}, "params.arms.lag_min"),
    ({"arms.price": [1.0, 1.0, 1.0]}, "params.arms.price"),
])
def test_with_overrides_refuses_bad_values(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        with_overrides(load_default_params(), overrides)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{key}:"), message


# --- bad values through build_experiment ------------------------------------------------------------------------------


def _period(iso3: str = "ARG", start: object = 2025, end: object = 2030, value: object = 0.5) -> dict:
    return {"iso3": iso3, "year_start": start, "year_end": end, "value": value}


# (edits on the composed baseline, dotted key the message must start with)
BAD_CONFIGS = [
    pytest.param({"foo": 1}, "foo", id="unknown-top-level"),
    pytest.param({"params.foo": 1}, "params.foo", id="unknown-params-group"),
    pytest.param({"params.arms.foo": 1}, "params.arms.foo", id="unknown-param"),
    pytest.param({"run.foo": 1}, "run.foo", id="unknown-run-key"),
    pytest.param({"scenario.foo": 1}, "scenario.foo", id="unknown-scenario-key"),
    pytest.param({"drivers.foo": 1}, "drivers.foo", id="unknown-drivers-key"),
    pytest.param({"drivers.paths.moon_phase": []}, "drivers.paths.moon_phase", id="unknown-driver-path"),
    pytest.param({"params.arms.need_gap": "abc"}, "params.arms.need_gap", id="string-for-float"),
    pytest.param({"params.delegations.onset_year": 2003.5}, "params.delegations.onset_year", id="float-for-int"),
    pytest.param({"params.arms.need_gap": True}, "params.arms.need_gap", id="bool-for-float"),
    pytest.param({"params.delegations.onset_year": True}, "params.delegations.onset_year", id="bool-for-int"),
    pytest.param({"params.arms.price": [1.0, 1.0, 1.0]}, "params.arms.price", id="list-wrong-length"),
    pytest.param({"params.arms.price": 1.0}, "params.arms.price", id="scalar-for-list"),
    pytest.param({"params.arms.price": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, "x"]}, "params.arms.price", id="list-bad-item"),
    pytest.param({"params.arms.need_gap": [1.0]}, "params.arms.need_gap", id="list-for-float"),
    pytest.param({"params.arms.need_gap": float("nan")}, "params.arms.need_gap", id="nan-for-float"),
    pytest.param({"params.arms.fail_veto": -1}, "params.arms.fail_veto", id="below-range"),
    pytest.param({"params.forums.onset_year": 2100}, "params.forums.onset_year", id="above-range"),
    pytest.param({"params.arms.lag_min": 4, "params.arms.lag_max": 2}, "params.arms.lag_min", id="lag-min-above-max"),
    pytest.param({"params.arms.category_weights": [0, 0, 0, 0, 0]}, "params.arms.category_weights",
                 id="category-weights-zero"),
    pytest.param({"params.arms.need_gap": DELETE}, "params.arms.need_gap", id="missing-param"),
    pytest.param({"params.arms": 3}, "params.arms", id="group-not-mapping"),
    pytest.param({"run.last_year": 2050}, "run.last_year", id="last-year-2050"),
    pytest.param({"run.first_year": 1999}, "run.first_year", id="first-year-1999"),
    pytest.param({"run.first_year": 2030, "run.last_year": 2020}, "run.last_year", id="first-after-last"),
    pytest.param({"run.last_year": 2030.0}, "run.last_year", id="float-year"),
    pytest.param({"run.n_seeds": 0}, "run.n_seeds", id="zero-seeds"),
    pytest.param({"run.root_seed": -1}, "run.root_seed", id="negative-root-seed"),
    pytest.param({"run.formats": ["xlsx"]}, "run.formats", id="unknown-format"),
    pytest.param({"run.formats": "csv"}, "run.formats", id="format-not-list"),
    pytest.param({"run.formats": []}, "run.formats", id="no-format"),
    pytest.param({"run.param_source": "posterior"}, "run.param_source", id="unknown-param-source"),
    pytest.param({"run.n_seeds": DELETE}, "run.n_seeds", id="missing-run-key"),
    pytest.param({"scenario.name": ""}, "scenario.name", id="empty-scenario-name"),
    pytest.param({"drivers.gdp_growth": "abc"}, "drivers.gdp_growth", id="driver-string"),
    pytest.param({"drivers.gdp_growth": 0.5}, "drivers.gdp_growth", id="driver-out-of-range"),
    pytest.param({"drivers.gdp_growth": DELETE}, "drivers.gdp_growth", id="driver-missing"),
    pytest.param({"scenario.baseline.drivers": {"fiscal_persistence": 2.0}}, "drivers.fiscal_persistence",
                 id="scenario-driver-out-of-range"),
    pytest.param({"drivers.paths.us_china_tension": [[2030, 1.5]]}, "drivers.paths.us_china_tension.value",
                 id="anchor-value-above-range"),
    pytest.param({"drivers.paths.commodity_index": [[2030, -0.1]]}, "drivers.paths.commodity_index.value",
                 id="anchor-value-below-range"),
    pytest.param({"drivers.paths.pla_navy_reach": [[2023, 0.5]]}, "drivers.paths.pla_navy_reach.year",
                 id="anchor-year-2023"),
    pytest.param({"drivers.paths.pla_navy_reach": [[2041, 0.5]]}, "drivers.paths.pla_navy_reach.year",
                 id="anchor-year-2041"),
    pytest.param({"drivers.paths.pla_navy_reach": [[2030.5, 0.5]]}, "drivers.paths.pla_navy_reach.year",
                 id="anchor-year-not-whole"),
    pytest.param({"drivers.paths.russia_availability": [[2030]]}, "drivers.paths.russia_availability",
                 id="anchor-not-pair"),
    pytest.param({"drivers.orientation": [_period(iso3="XXX")]}, "drivers.orientation.iso3", id="orientation-iso3"),
    pytest.param({"drivers.orientation": [_period(value=1.5)]}, "drivers.orientation.value", id="orientation-value"),
    pytest.param({"drivers.orientation": [_period(start=2030, end=2025)]}, "drivers.orientation.year_end",
                 id="orientation-end-before-start"),
    pytest.param({"drivers.orientation": [{"iso3": "ARG"}]}, "drivers.orientation", id="orientation-incomplete"),
    pytest.param({"drivers.fiscal_stress": [_period(value=-0.5)]}, "drivers.fiscal_stress.value",
                 id="fiscal-stress-negative"),
    pytest.param({"drivers.recognition": [["ARG", 2030]]}, "drivers.recognition", id="recognition-too-short"),
    pytest.param({"drivers.recognition": [["XXX", 2030, "PRC"]]}, "drivers.recognition", id="recognition-iso3"),
    pytest.param({"drivers.recognition": [["PRY", 2030, "TWN"]]}, "drivers.recognition", id="recognition-side"),
    pytest.param({"drivers.recognition": [["PRY", 2020, "PRC"]]}, "drivers.recognition.year",
                 id="recognition-in-history"),
    pytest.param({"drivers.recognition": [["PRY", "soon", "PRC"]]}, "drivers.recognition.year",
                 id="recognition-year-string"),
    pytest.param({"drivers.paths.us_china_tension": 3}, "drivers.paths.us_china_tension", id="anchors-not-list"),
    pytest.param({"drivers.paths": 3}, "drivers.paths", id="paths-not-mapping"),
    pytest.param({"drivers.orientation": 5}, "drivers.orientation", id="orientation-not-list"),
    pytest.param({"scenario.baseline.drivers": 5}, "scenario.baseline.drivers", id="scenario-drivers-not-mapping"),
    pytest.param({"run": DELETE}, "run", id="run-missing"),
    pytest.param({"drivers": DELETE}, "drivers", id="drivers-missing"),
    pytest.param({"run.out_dir": [1]}, "run.out_dir", id="out-dir-not-string"),
]


@pytest.mark.parametrize(("edits", "key"), BAD_CONFIGS)
def test_bad_config_raises_one_line_config_error(baseline_cfg: dict, edits: dict, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_experiment(edited(baseline_cfg, edits))
    message = str(info.value)
    assert message and "\n" not in message
    # Starting with the dotted key (not just containing it) keeps "params.arms" from matching "params.arms.foo".
    assert message.startswith(f"{key}:"), message


# --- the command line -------------------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m experiments.simulate args`` from the repository root, with Hydra's short error mode."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, "-m", "experiments.simulate", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


BAD_OVERRIDES = [
    pytest.param("params.arms.need_gap=abc", "params.arms.need_gap", id="string-for-float"),
    pytest.param("params.arms.foo=1", "params.arms.foo", id="unknown-key"),
    pytest.param("+params.arms.foo=1", "params.arms.foo", id="appended-unknown-key"),
    pytest.param("scenario=nope", "scenario", id="unknown-scenario"),
    pytest.param("run.n_seeds=0", "run.n_seeds", id="zero-seeds"),
    pytest.param("run.last_year=2050", "run.last_year", id="last-year-2050"),
    pytest.param("nonsense", "nonsense", id="no-equals-sign"),
    pytest.param("params.arms=3", "params.arms", id="group-to-scalar"),
    pytest.param("params.delegations.onset_year=2003.5", "params.delegations.onset_year", id="float-for-int"),
    pytest.param("foo=1", "foo", id="unknown-top-level"),
    pytest.param("drivers.recognition=[[ARG,2030]]", "drivers.recognition", id="malformed-recognition"),
    pytest.param("drivers=nope", "drivers", id="unknown-drivers-option"),
    pytest.param("drivers.paths.us_china_tension=3", "drivers.paths.us_china_tension", id="anchors-not-list"),
    pytest.param("~drivers", "drivers", id="delete-drivers"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("override", "key"), BAD_OVERRIDES)
def test_cli_bad_override_exits_2_with_one_line(tmp_path: Path, override: str, key: str) -> None:
    out = tmp_path / "out"
    proc = run_cli(override, f"run.out_dir={out}", f"hydra.run.dir={tmp_path / 'hydra'}")
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert key in lines[0], lines[0]
    # Validation happens before any run, so nothing may be written.
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_cli_good_run_writes_exactly_its_outputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli("run.n_seeds=1", "run.last_year=2003", f"run.out_dir={out}", f"hydra.run.dir={tmp_path / 'h'}")
    assert proc.returncode == 0, proc.stderr
    # No leftover ".partial-*" folder or stray file: the atomic writer moved everything into place.
    channels = ("aid", "arms", "delegations", "exercises", "forums", "port_calls", "space", "surveillance", "training")
    expected = ["manifest.json", "simulation.csv", "simulation.parquet", *(f"trajectory_{c}.png" for c in channels)]
    assert sorted(p.name for p in out.iterdir()) == sorted(expected)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["config"]["run"]["n_seeds"] == 1
    assert manifest["seeds"]["seeds"] == [0]
    assert manifest["data_hashes"]
    frame = pd.read_parquet(out / "simulation.parquet")
    assert set(frame["year"]) <= set(range(2000, 2004))
    assert set(frame["seed"]) == {0}
    assert len(pd.read_csv(out / "simulation.csv")) == len(frame)


@pytest.mark.slow
def test_cli_unwritable_out_dir_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("a regular file, so no folder can be made under it\n", encoding="utf-8")
    proc = run_cli("run.n_seeds=1", "run.last_year=2001", f"run.out_dir={blocker / 'out'}",
                   f"hydra.run.dir={tmp_path / 'h'}")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    # The simulation's progress line may precede it, but the error itself is one line and the last thing printed.
    assert len(errors) == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == errors[0]
    assert "run.out_dir" in errors[0]
    assert blocker.is_file()
