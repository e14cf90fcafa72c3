"""Drivers past 2023: the default rules, dated overrides and scenario switches, against values worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from model.drivers import DEFAULT_DRIVERS_FILE, DriverParams, build_drivers
from model.params import ConfigError

BASE = yaml.safe_load(DEFAULT_DRIVERS_FILE.read_text(encoding="utf-8"))


def drivers_with(data, **changes):
    return build_drivers(data, DriverParams.from_dict({**BASE, **changes}))


def test_default_rules_hold_2023_levels_and_grow_gdp(data):
    dr = drivers_with(data)
    t23, t40 = 23, 40
    assert (dr.us_china_tension[t23:] == dr.us_china_tension[t23]).all()
    assert (dr.fiscal_stress[t40] == dr.fiscal_stress[t23]).all()  # fiscal_persistence 1.0 in the baseline
    assert dr.gdp_usd_m[t40] == pytest.approx(dr.gdp_usd_m[t23] * 1.02 ** 17)
    assert (dr.recognises_beijing[t40] == dr.recognises_beijing[t23]).all()


def test_path_anchors_interpolate_from_2023_and_hold(data):
    dr = drivers_with(data, paths={**BASE["paths"], "us_china_tension": [[2030, 0.95]]})
    start = dr.us_china_tension[23]
    assert dr.us_china_tension[30] == pytest.approx(0.95)
    assert dr.us_china_tension[26] == pytest.approx(start + (0.95 - start) * 3 / 7)
    assert (dr.us_china_tension[30:] == 0.95).all()


def test_overrides_of_orientation_fiscal_stress_recognition_and_embargo(data):
    j = data.iso3.index("VEN")
    dr = drivers_with(
        data,
        orientation=[{"iso3": "VEN", "year_start": 2026, "year_end": 2040, "value": -0.5}],
        fiscal_stress=[{"iso3": "VEN", "year_start": 2026, "year_end": 2040, "value": 0.3}],
        recognition=[["PRY", 2030, "PRC"]],
        embargo=[{"iso3": "VEN", "partner": "USA", "year_start": 2027, "year_end": 2040, "value": 0}],
    )
    assert dr.orientation[26, j] == -0.5 and dr.orientation[25, j] == dr.orientation[23, j]
    assert dr.regime_change[26, j] == 1.0  # a swing of at least 0.5 is a change of regime
    assert dr.fiscal_stress[26, j] == 0.3
    k = data.iso3.index("PRY")
    assert dr.recognises_beijing[29, k] == 0 and dr.recognises_beijing[30, k] == 1
    assert dr.embargo[26, j, 0] == 1 and dr.embargo[27, j, 0] == 0


@pytest.mark.parametrize(("change", "key"), [
    ({"embargo": [{"iso3": "VEN", "partner": "XXX", "year_start": 2027, "year_end": 2030, "value": 0}]}, "drivers.embargo"),
    ({"embargo": [{"iso3": "VEN", "partner": "USA", "year_start": 2020, "year_end": 2030, "value": 0}]}, "drivers.embargo.year_start"),
    ({"embargo": [{"iso3": "VEN", "partner": "USA", "year_start": 2027, "year_end": 2030, "value": 0.5}]}, "drivers.embargo.value"),
    ({"embargo": [{"iso3": "VEN", "partner": "USA"}]}, "drivers.embargo"),
    ({"embargo": 3}, "drivers.embargo"),
])
def test_bad_embargo_overrides_are_one_line_errors(change, key):
    with pytest.raises(ConfigError) as info:
        DriverParams.from_dict({**BASE, **change})
    assert "\n" not in str(info.value) and str(info.value).startswith(key)


def test_scenario_venezuela_transition_lifts_the_embargoes(data):
    from pathlib import Path

    from experiments.config import merge_drivers

    scen = yaml.safe_load((Path(DEFAULT_DRIVERS_FILE).parent.parent / "scenario" / "venezuela_transition.yaml").read_text())
    dr = build_drivers(data, DriverParams.from_dict(merge_drivers(BASE, scen["drivers"])))
    j = data.iso3.index("VEN")
    assert dr.embargo[26, j, :].sum() == 2 and dr.embargo[27, j, :].sum() == 0
    assert np.isclose(dr.orientation[27, j], -0.5)
