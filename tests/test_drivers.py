"""Drivers past 2023: the default rules, dated overrides and scenario switches, against values worked by hand."""

from __future__ import annotations

import dataclasses

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
    ({"embargo": [{"iso3": "VEN", "partner": "XXX", "year_start": 2027, "year_end": 2030, "value": 0}]},
     "drivers.embargo"),
    ({"embargo": [{"iso3": "VEN", "partner": "USA", "year_start": 2020, "year_end": 2030, "value": 0}]},
     "drivers.embargo.year_start"),
    ({"embargo": [{"iso3": "VEN", "partner": "USA", "year_start": 2027, "year_end": 2030, "value": 0.5}]},
     "drivers.embargo.value"),
    ({"embargo": [{"iso3": "VEN", "partner": "USA"}]}, "drivers.embargo"),
    ({"embargo": 3}, "drivers.embargo"),
])
def test_bad_embargo_overrides_are_one_line_errors(change, key):
    with pytest.raises(ConfigError) as info:
        DriverParams.from_dict({**BASE, **change})
    assert "\n" not in str(info.value) and str(info.value).startswith(key)


def test_scenario_venezuela_transition_lifts_the_embargoes(data):
    from pathlib import Path

    from common.config import merge_drivers

    scen = yaml.safe_load((Path(DEFAULT_DRIVERS_FILE).parent.parent / "scenario" / "venezuela_transition.yaml")
                          .read_text())
    dr = build_drivers(data, DriverParams.from_dict(merge_drivers(BASE, scen["venezuela_transition"]["drivers"])))
    j = data.iso3.index("VEN")
    assert dr.embargo[26, j, :].sum() == 2 and dr.embargo[27, j, :].sum() == 0
    assert np.isclose(dr.orientation[27, j], -0.5)


# --- stochastic drivers past 2023 -------------------------------------------------------------------------------------


def reference_shocks(dr, rng):
    """apply_shocks written year by year, the plain way."""
    from model.drivers import FUTURE_YEARS

    sh, st = dr.shocks, dr.shocks.settings
    n = len(sh.orientation_2023)
    z, u, z_new = (rng.standard_normal((2, FUTURE_YEARS)), rng.random((2, FUTURE_YEARS, n)),
                   rng.standard_normal((FUTURE_YEARS, n)))
    e, tension, comm = [0.0, 0.0], [], []
    for k in range(FUTURE_YEARS):
        e = [st.tension_ar * e[0] + st.tension_sd * z[0, k], st.commodity_ar * e[1] + st.commodity_sd * z[1, k]]
        tension.append(min(max(sh.tension_path[k] + e[0], 0.0), 1.0))
        comm.append(min(max(sh.commodity_path[k] * np.exp(e[1]), 0.0), 5.0))
    o, m = sh.orientation_2023.copy(), sh.orientation_centre
    orient = np.empty((FUTURE_YEARS, n))
    for k in range(FUTURE_YEARS):
        for i in range(n):
            if u[0, k, i] < sh.election_hazard[i]:
                o[i] = min(max(m[i] + st.orientation_persistence * (o[i] - m[i]) + st.orientation_sd * z_new[k, i],
                               -1.0), 1.0)
        orient[k] = o
    orient = np.where(sh.orientation_pinned, sh.orientation_path, orient)
    return np.array(tension), np.array(comm), orient


@pytest.mark.parametrize("seed", range(5))
def test_apply_shocks_matches_a_year_by_year_reference(data, seed):
    from model.shocks import apply_shocks

    scen = {"orientation": [{"iso3": "VEN", "year_start": 2026, "year_end": 2030, "value": -0.5}],
            "paths": {**BASE["paths"], "us_china_tension": [[2030, 0.95]]}}
    dr = drivers_with(data, **scen)
    got = apply_shocks(dr, np.random.default_rng(seed))
    tension, comm, orient = reference_shocks(dr, np.random.default_rng(seed))
    assert np.allclose(got.us_china_tension[24:], tension, rtol=0, atol=1e-12)
    assert np.allclose(got.commodity_index[24:], comm, rtol=1e-12, atol=0)
    assert np.array_equal(got.orientation[24:], orient)
    j = data.iso3.index("VEN")
    assert (got.orientation[26:31, j] == -0.5).all()
    assert np.array_equal(got.orientation[:24], dr.orientation[:24])


def test_a_path_changes_only_the_shocked_drivers_and_the_arms_market_reads_none(data):
    # The model computes the arms market's path-free arrays once for all the paths of a scenario: that holds only if
    # a path shares every driver but SHOCKED with its scenario and the market reads none of SHOCKED.
    from model import arms
    from model.params import load_default_params
    from model.shocks import SHOCKED, apply_shocks

    dr = drivers_with(data)
    path = apply_shocks(dr, np.random.default_rng(3))
    kept = [f.name for f in dataclasses.fields(path) if f.name not in (*SHOCKED, "shocks")]
    assert all(getattr(path, name) is getattr(dr, name) for name in kept)
    assert all(not np.array_equal(getattr(path, name), getattr(dr, name)) for name in SHOCKED)
    p = load_default_params()
    poisoned = dataclasses.replace(dr, **{name: np.full(getattr(dr, name).shape, np.nan) for name in SHOCKED})
    market, from_poisoned = arms.precompute_market(p, data, dr), arms.precompute_market(p, data, poisoned)
    assert all(np.array_equal(market[k], from_poisoned[k]) for k in market)
    row = arms.precompute(p, data, path)
    assert all(np.array_equal(v, row[k]) for k, v in market.items() if not k.startswith("_"))
    assert not any(k.startswith("_") for k in row)  # (the market's private factors stay out of the model's arrays)


def test_election_hazards_follow_each_states_record(data):
    dr = drivers_with(data)
    h = dr.shocks.election_hazard
    changes = np.count_nonzero(np.diff(data.orientation, axis=0), axis=0)
    assert np.isclose(h[changes == changes.max()].max(), h.max()) and h[changes == 0].max() == h.min() > 0
    assert np.isclose(h.mean(), BASE["stochastic"]["election_hazard"])  # shrinkage keeps the regional mean
    assert np.allclose(dr.shocks.orientation_centre, data.orientation.mean(axis=0))


def test_default_switches_are_off(data):
    dr = drivers_with(data)
    assert not dr.ban_categories.any() and not dr.ban_space_ground.any() and not dr.ban_surveillance.any()
    assert not dr.sanctions.any() and not dr.domestic_preference.any() and not dr.china_tech_offer.any()


def test_switch_periods_build_arrays(data):
    j = data.iso3.index("CHL")
    dr = drivers_with(data, domestic_preference=[{"iso3": "CHL", "year_start": 2030, "year_end": 2032, "value": 0.4}],
                      china_tech_offer=[{"iso3": "CHL", "year_start": 2035, "year_end": 2040, "value": 1}],
                      red_lines={"surveillance": 2031, "sanctions": 0.2})
    assert (dr.domestic_preference[29, j] == 0 and (dr.domestic_preference[30:33, j] == 0.4).all()
            and dr.domestic_preference[33, j] == 0)
    assert (dr.china_tech_offer[35:, j] == 1).all() and dr.china_tech_offer.sum() == 6
    assert dr.ban_surveillance[30] == 0 and dr.ban_surveillance[31:].all() and not dr.ban_space_ground.any()
    assert (dr.sanctions[31:] == 0.2).all() and not dr.sanctions[:31].any()
