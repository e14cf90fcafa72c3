"""Scenarios past 2023: policy switches, stochastic drivers and composition (issue 4 §1).

Five groups:

* Every scenario file composes, builds and runs; the issue's nine scenarios exist, each with its rationale.
* Policy switches act: under ``us_hard_red_lines`` no Chinese platform deal, ground station or national surveillance
  system after the start year, and sanctions bite; under ``brazil_strategic_autonomy`` Brazil buys more from its own
  industry than in the baseline on the same seeds.
* Stochastic drivers: reproducible per (root seed, draw, seed // seeds_per_path), shared by every scenario (common
  random numbers), in range, re-derived where they feed other series, and off (exactly the deterministic drivers) when
  their scales are zero.
* 2000-2023 is bit-identical with and without the stochastic drivers and switches.
* Composition merges driver overrides and refuses conflicts with one line naming both scenarios; bad switch values and
  malformed user-written scenario files are one-line errors too.
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from common.config import build_experiment
from model.agents import CHN_IDX, DOMESTIC_IDX, USA_IDX
from model.data import HIST_END
from model.drivers import DEFAULT_DRIVERS_FILE, FUTURE_YEARS, DriverParams, build_drivers
from model.model import DRIVER_STREAM, STREAMS, DefenceTiesModel, stream_seed
from model.params import ConfigError, with_overrides
from model.pipeline import FAILED
from model.run import simulate
from model.schema import ARMS_CATEGORIES, STATE_SLOTS, SUPPLIERS, Partner
from model.shocks import apply_shocks

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "configs"
SCENARIOS = sorted(p.stem for p in (CONFIG_DIR / "scenario").glob("*.yaml"))
ISSUE_SCENARIOS = ("baseline", "us_china_deterioration", "detente", "argentina_fiscal_recovery", "venezuela_transition",
                   "us_hard_red_lines", "brazil_strategic_autonomy", "russia_exit", "commodity_bust")
BASE = yaml.safe_load(DEFAULT_DRIVERS_FILE.read_text(encoding="utf-8"))
ROOT = 424242
H = HIST_END - 2000 + 1  # rows 0..H-1 are 2000-2023
S_GROUND = STATE_SLOTS[("space_ground_station", Partner.CHN)]
S_LEVEL = STATE_SLOTS[("surveillance_level", Partner.CHN)]
S_SIGNED = STATE_SLOTS[("arms_deals_signed", SUPPLIERS[0])]
PLATFORMS = [ARMS_CATEGORIES.index(c) for c in ("aircraft", "major_platform")]


def compose_config(overrides: list[str], config_dir: Path = CONFIG_DIR) -> dict:
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return OmegaConf.to_container(compose(config_name="config", overrides=overrides), resolve=True)


@functools.cache
def experiment(*names: str):
    return build_experiment(compose_config([f"scenario=[{','.join(names)}]" if len(names) > 1
                                            else f"scenario={names[0]}"]))


@functools.cache
def drivers_of(*names: str, first: int = 2000, last: int = 2040):
    return build_drivers(_data(), experiment(*names).drivers, first, last)


@functools.lru_cache(maxsize=1)
def _data():
    from model.data import load_data

    return load_data()


def run_drivers(params, data, drivers, seed: int = 0, draw: int = 0, root: int = ROOT):
    """The driver arrays a run actually used (after its shocks)."""
    model = DefenceTiesModel(params, data, drivers, root_seed=root, draw=draw, seed=seed)
    try:
        return model.drivers
    finally:
        model.release()


def without_shocks(dp: DriverParams) -> DriverParams:
    import dataclasses

    st = dataclasses.replace(dp.stochastic, election_hazard=0.0, recognition_hazard=0.0, tension_sd=0.0,
                             commodity_sd=0.0)
    return dataclasses.replace(dp, stochastic=st)


# --- every scenario composes, builds and runs -------------------------------------------------------------------------


def test_the_issue_scenarios_exist():
    assert set(ISSUE_SCENARIOS) <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_file_composes_builds_and_runs(name, params, data):
    exp = experiment(name)
    assert exp.scenario == name
    raw = yaml.safe_load((CONFIG_DIR / "scenario" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert raw["name"] == name and set(raw) == {"name", name}
    assert len(raw[name]["rationale"].split()) >= 40, "a paragraph of rationale"
    text = (CONFIG_DIR / "scenario" / f"{name}.yaml").read_text(encoding="utf-8")
    if raw[name].get("drivers"):
        assert "judgement" in text  # every number carries a judgement comment or a source
    run = simulate(exp.params, data, drivers_of(name), ROOT, seed=0)
    assert run.states.shape[0] == 41 and np.isfinite(run.states).all()


# --- policy switches --------------------------------------------------------------------------------------------------


def test_red_lines_become_per_year_arrays():
    dr = drivers_of("us_hard_red_lines")
    start = 2025 - 2000
    assert not dr.ban_categories[:start].any() and dr.ban_categories[start:, PLATFORMS].all()
    assert not dr.ban_categories[:, [0, 1, 2]].any()
    assert dr.ban_space_ground.tolist() == dr.ban_surveillance.tolist() == [y >= 2025 for y in range(2000, 2041)]
    assert (dr.sanctions[:start] == 0).all() and (dr.sanctions[start:] == 0.5).all() and dr.sanction_years == 3
    base = drivers_of("baseline")
    assert not base.ban_categories.any() and not base.ban_space_ground.any() and not base.sanctions.any()


@pytest.mark.parametrize("names", [("us_hard_red_lines",), ("us_china_deterioration", "us_hard_red_lines")])
def test_hard_red_lines_stop_platforms_ground_stations_and_national_surveillance(names, params, data):
    """Across seeds: what the paired scenario without red lines does after 2025 never happens under them."""
    without = drivers_of(*names[:-1]) if len(names) > 1 else drivers_of("baseline")
    counts = {"with": np.zeros(3), "without": np.zeros(3)}
    # A new ground station after 2025 is rare at the defaults (2 runs in 64 without red lines, docs/ODD.md §10.45), and
    # none comes once China's need is met (§7.13): the need is left open here, so that the ban alone stops them.
    params = with_overrides(params, {"space.ground_need": 33})
    for seed in range(64):
        for key, dr in (("with", drivers_of(*names)), ("without", without)):
            run = simulate(params, data, dr, ROOT, seed=seed)
            d = run.deals
            chinese = d["supplier"] == CHN_IDX
            platform = chinese & np.isin(d["category"], PLATFORMS)
            counts[key] += [
                np.count_nonzero(platform & (d["signed"] >= 2025)),
                np.count_nonzero(run.states[25:, :, S_GROUND].max(axis=0) > run.states[24, :, S_GROUND]),
                np.count_nonzero((run.states[25:, :, S_LEVEL] == 2).any(axis=0) & (run.states[24, :, S_LEVEL] < 2)),
            ]
            if key == "with":
                # Platform deals signed before the ban and not delivered by 2025 failed (enforced, as vetoes).
                assert (d["status"][platform & (d["delivered"] < d["size"] - 1e-9)] == FAILED).all()
    assert (counts["with"] == 0).all(), counts
    assert (counts["without"] > 0).all(), counts  # the test would be empty otherwise


def test_sanctions_close_us_arms_to_offenders_for_their_years(params, data):
    import dataclasses

    dp = experiment("us_hard_red_lines").drivers
    dp = dataclasses.replace(dp, red_lines=dataclasses.replace(dp.red_lines, sanctions=1.0))
    dr = build_drivers(data, dp)
    offences = sanctioned_years = 0
    for seed in range(4):
        model = DefenceTiesModel(params, data, dr, root_seed=ROOT, seed=seed)
        try:
            for t, year in enumerate(model.years):
                before = model.us.policy.sanctioned_until.copy()
                model.step()
                rec = model.recorder.states[t]
                if year < 2025:
                    assert not model.us.policy.sanctioned.any() and (model.us.policy.sanctioned_until == -1).all()
                    continue
                # A sanctioned buyer never signs with the US at strength 1 (availability 0).
                assert not (rec[model.us.policy.sanctioned, S_SIGNED + USA_IDX] > 0).any()
                sanctioned_years += int(model.us.policy.sanctioned.sum())
                new = model.us.policy.sanctioned_until != before
                offences += int(new.sum())
                assert (model.us.policy.sanctioned_until[new] == year + 3).all()
                # Sanctions bite from the year after the offence, not in it.
                assert not (model.us.policy.sanctioned & (before < year)).any()
        finally:
            model.release()
    assert offences > 0 and sanctioned_years > 0


def test_brazil_strategic_autonomy_raises_the_domestic_share(params, data):
    bra = data.iso3.index("BRA")
    shares = {}
    for name in ("baseline", "brazil_strategic_autonomy"):
        signed = np.zeros(len(SUPPLIERS))
        for seed in range(12):
            run = simulate(params, data, drivers_of(name), ROOT, seed=seed)
            signed += run.states[25:, bra, S_SIGNED:S_SIGNED + len(SUPPLIERS)].sum(axis=0)
            if name == "brazil_strategic_autonomy":
                base = simulate(params, data, drivers_of("baseline"), ROOT, seed=seed)
                assert np.array_equal(run.states[:25], base.states[:25])  # the switch starts in 2025
        shares[name] = signed[DOMESTIC_IDX] / signed.sum()
    assert shares["brazil_strategic_autonomy"] > shares["baseline"] + 0.05, shares


def test_autonomy_switches_enter_the_utility_and_the_space_logit(params, data):
    bra = data.iso3.index("BRA")
    runs = {}
    for name in ("baseline", "brazil_strategic_autonomy"):
        model = DefenceTiesModel(params, data, drivers_of(name), root_seed=ROOT, seed=0)
        runs[name] = (model._static_utility.copy(), model._space_offer.copy())
        model.release()
    (u0, _), (u1, offer) = runs["baseline"], runs["brazil_strategic_autonomy"]
    assert np.array_equal(np.isinf(u0), np.isinf(u1))  # unavailable suppliers stay unavailable
    diff = np.where(np.isinf(u0), 0.0, u1 - np.where(np.isinf(u0), 0.0, u0))
    tech = data.country["tech_capacity"][bra]
    assert (diff[:25] == 0).all() and (offer[:25] == 0).all()
    assert np.allclose(diff[25:, bra, DOMESTIC_IDX], params.arms.beta_domestic * 0.5)
    assert np.allclose(diff[25:, bra, CHN_IDX], params.arms.beta_tech_transfer * 0.5 * tech)
    assert np.allclose(offer[25:, bra], params.space.tech * 0.5 * tech)
    others = np.ones(diff.shape, dtype=bool)
    others[25:, bra, [DOMESTIC_IDX, CHN_IDX]] = False
    assert (diff[others] == 0).all()


# --- stochastic drivers -----------------------------------------------------------------------------------------------


def test_driver_stream_is_its_own_and_keyed_by_seed_pairs(params, data):
    keys = {stream_seed(11, 2, 5, name).generate_state(2).tobytes() for name in (*STREAMS, DRIVER_STREAM)}
    assert len(keys) == len(STREAMS) + 1
    dr = drivers_of("baseline")
    assert dr.shocks is not None and dr.shocks.settings.seeds_per_path == 2
    a, b, c = (run_drivers(params, data, dr, seed=s) for s in (4, 5, 6))
    again = run_drivers(params, data, dr, seed=4)
    other_draw, other_root = (run_drivers(params, data, dr, seed=4, draw=1),
                              run_drivers(params, data, dr, seed=4, root=1))
    for name in ("us_china_tension", "commodity_index", "orientation", "recognises_beijing", "regime_change"):
        assert np.array_equal(getattr(a, name), getattr(again, name)), name
        assert np.array_equal(getattr(a, name), getattr(b, name)), name  # seeds 4 and 5 share a path
    for name in ("us_china_tension", "commodity_index", "orientation"):
        for other in (c, other_draw, other_root):
            assert not np.array_equal(getattr(a, name), getattr(other, name)), name
    assert a.shocks is None  # drawn once
    # Seeds 4 and 5 share the drivers but not the channels' noise.
    assert not np.array_equal(simulate(params, data, dr, ROOT, seed=4).states,
                              simulate(params, data, dr, ROOT, seed=5).states)


def test_scenarios_share_their_shocks(params, data):
    """Common random numbers: the same run key gives every scenario the same shocks around its own path."""
    ven = data.iso3.index("VEN")
    for seed in (0, 3):
        base = run_drivers(params, data, drivers_of("baseline"), seed=seed)
        arg = run_drivers(params, data, drivers_of("argentina_fiscal_recovery"), seed=seed)
        for name in ("us_china_tension", "commodity_index", "orientation", "recognises_beijing", "regime_change"):
            assert np.array_equal(getattr(base, name), getattr(arg, name)), name
        venz = run_drivers(params, data, drivers_of("venezuela_transition"), seed=seed)
        keep = np.ones(base.orientation.shape, dtype=bool)
        keep[26:, ven] = False  # the scenario pins Venezuela's government from 2026
        assert np.array_equal(base.orientation[keep], venz.orientation[keep])
        assert (venz.orientation[26:, ven] == -0.5).all()
        # Tension: the same AR(1) shocks on each scenario's own path (where the clip does not bind).
        up = run_drivers(params, data, drivers_of("us_china_deterioration"), seed=seed)
        paths = {k: drivers_of(k).us_china_tension for k in ("baseline", "us_china_deterioration")}
        shock_base = base.us_china_tension - paths["baseline"]
        shock_up = up.us_china_tension - paths["us_china_deterioration"]
        inside = (up.us_china_tension < 1.0) & (up.us_china_tension > 0.0) & (base.us_china_tension > 0.0)
        assert np.allclose(shock_base[inside], shock_up[inside])
        assert np.abs(shock_base[H:]).max() > 0


def test_stochastic_drivers_stay_in_range_and_rederive_regime_changes(params, data):
    dr = drivers_of("baseline")
    moved = {"orientation": 0, "recognises_beijing": 0}
    for seed in range(0, 40, 2):
        d = run_drivers(params, data, dr, seed=seed)
        assert ((d.us_china_tension >= 0) & (d.us_china_tension <= 1)).all()
        assert ((d.commodity_index >= 0) & (d.commodity_index <= 5)).all()
        assert ((d.orientation >= -1) & (d.orientation <= 1)).all()
        assert set(np.unique(d.recognises_beijing)) <= {0.0, 1.0}
        # Recognition only moves to Beijing, and only for states recognising Taipei in 2023.
        assert (d.recognises_beijing[H:] >= dr.recognises_beijing[H:]).all()
        swings = np.abs(np.diff(d.orientation, axis=0)) >= 0.5
        assert np.array_equal(d.regime_change[1:], swings.astype(float))
        moved["orientation"] += int((d.orientation != dr.orientation).any())
        moved["recognises_beijing"] += int((d.recognises_beijing != dr.recognises_beijing).any())
    assert moved["orientation"] == 20 and moved["recognises_beijing"] > 0


def test_zero_scales_give_exactly_the_deterministic_drivers(params, data):
    dp = without_shocks(experiment("venezuela_transition").drivers)
    dr = build_drivers(data, dp)
    assert dr.shocks is None
    assert run_drivers(params, data, dr, seed=3) is dr
    # One setting at a time: only its driver moves.
    import dataclasses

    full = experiment("venezuela_transition").drivers
    det = build_drivers(data, dp)
    moves = {"tension_sd": {"us_china_tension"}, "commodity_sd": {"commodity_index"},
             "election_hazard": {"orientation", "regime_change"}, "recognition_hazard": {"recognises_beijing"}}
    for setting, expected in moves.items():
        one = dataclasses.replace(dp, stochastic=dataclasses.replace(dp.stochastic,
                                                                     **{setting: getattr(full.stochastic, setting)}))
        got = apply_shocks(build_drivers(data, one), np.random.default_rng(7))
        changed = {f for f in ("us_china_tension", "commodity_index", "orientation", "regime_change",
                               "recognises_beijing")
                   if not np.array_equal(getattr(got, f), getattr(det, f))}
        assert changed == expected, setting


def test_shocks_follow_the_run_years(params, data):
    """A run starting or ending elsewhere gets the same shocks for the same calendar years; none before 2024."""
    full = run_drivers(params, data, drivers_of("baseline"), seed=2)
    part = run_drivers(params, data, drivers_of("baseline", first=2030, last=2035), seed=2)
    assert np.array_equal(part.orientation, full.orientation[30:36])
    assert np.array_equal(part.us_china_tension, full.us_china_tension[30:36])
    hist = drivers_of("baseline", first=2000, last=2023)
    assert hist.shocks is None


# --- 2000-2023 is untouched -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("names",
                         [("baseline",), ("us_hard_red_lines", "brazil_strategic_autonomy", "venezuela_transition")])
def test_history_is_identical_with_and_without_shocks_and_switches(names, params, data):
    plain = build_drivers(data, without_shocks(experiment("baseline").drivers))
    full = drivers_of(*names)
    for seed in range(3):
        a = simulate(params, data, plain, ROOT, draw=1, seed=seed)
        b = simulate(params, data, full, ROOT, draw=1, seed=seed)
        assert np.array_equal(a.states[:H], b.states[:H])
        assert np.array_equal(a.region[:H], b.region[:H])
        early = a.deals["signed"] <= HIST_END
        for key in ("signed", "state", "supplier", "category", "size"):
            assert np.array_equal(a.deals[key][early], b.deals[key][: early.sum()]), key


# --- composition ------------------------------------------------------------------------------------------------------


def test_composition_merges_paths_switches_and_dated_lists():
    exp = experiment("us_china_deterioration", "argentina_fiscal_recovery", "commodity_bust", "us_hard_red_lines")
    assert exp.scenario == "us_china_deterioration+argentina_fiscal_recovery+commodity_bust+us_hard_red_lines"
    assert exp.drivers.paths["us_china_tension"] == ((2030, 0.95),)
    assert exp.drivers.paths["commodity_index"] == ((2027, 0.6),)
    assert exp.drivers.red_lines.platforms == 2025
    assert [o.iso3 for o in exp.drivers.fiscal_stress] == ["ARG", "ARG"]
    both = experiment("venezuela_transition", "argentina_fiscal_recovery")
    assert [(o.iso3, o.year_start) for o in both.drivers.fiscal_stress] == [("VEN", 2026), ("VEN", 2029), ("ARG", 2024),
                                                                          ("ARG", 2026)]
    assert len(both.drivers.embargo) == 2 and both.drivers.orientation[0].iso3 == "VEN"
    # The order of the parts names the scenario; the drivers do not depend on it.
    other = experiment("argentina_fiscal_recovery", "venezuela_transition")
    assert other.scenario == "argentina_fiscal_recovery+venezuela_transition"
    assert set(other.drivers.fiscal_stress) == set(both.drivers.fiscal_stress)


def test_single_scenario_usage_is_unchanged():
    cfg = compose_config(["scenario=venezuela_transition"])
    assert cfg["scenario"]["name"] == "venezuela_transition"
    assert build_experiment(cfg).scenario == "venezuela_transition"
    assert experiment("venezuela_transition") == build_experiment(compose_config(["scenario=[venezuela_transition]"]))


def one_line_error(cfg: dict) -> str:
    with pytest.raises(ConfigError) as info:
        build_experiment(cfg)
    message = str(info.value)
    assert message and "\n" not in message
    return message


def test_conflicting_parts_are_one_line_errors_naming_both():
    msg = one_line_error(compose_config(["scenario=[us_china_deterioration,detente]"]))
    assert (msg.startswith("scenario.drivers.paths.us_china_tension:") and "us_china_deterioration" in msg
            and "detente" in msg)
    cfg = compose_config(["scenario=[venezuela_transition,argentina_fiscal_recovery]"])
    cfg["scenario"]["argentina_fiscal_recovery"]["drivers"]["orientation"] = [
        {"iso3": "VEN", "year_start": 2030, "year_end": 2031, "value": 0.0}]
    msg = one_line_error(cfg)
    assert msg.startswith("scenario.drivers.orientation:") and "VEN" in msg and "venezuela_transition" in msg
    # The same state in periods that do not overlap is fine.
    cfg["scenario"]["argentina_fiscal_recovery"]["drivers"]["orientation"] = [
        {"iso3": "VEN", "year_start": 2024, "year_end": 2025, "value": 0.0}]
    assert build_experiment(cfg).drivers.orientation[-1].year_start == 2024
    cfg = compose_config(["scenario=[us_hard_red_lines,baseline]"])
    cfg["scenario"]["baseline"]["drivers"] = {"red_lines": {"sanctions": 0.2}}
    msg = one_line_error(cfg)
    assert msg.startswith("scenario.drivers.red_lines.sanctions:") and "us_hard_red_lines" in msg and "baseline" in msg
    cfg["scenario"]["baseline"]["drivers"] = {"red_lines": {"space_ground": None}}
    assert one_line_error(cfg).startswith("scenario.drivers.red_lines.space_ground:")
    cfg["scenario"]["baseline"]["drivers"] = {"recognition": [["PRY", 2030, "PRC"]]}
    cfg["scenario"]["us_hard_red_lines"]["drivers"]["recognition"] = [["PRY", 2035, "ROC"]]
    assert one_line_error(cfg).startswith("scenario.drivers.recognition: PRY set by both")


def _period(iso3="BRA", start=2025, end=2040, value=0.5):
    return {"iso3": iso3, "year_start": start, "year_end": end, "value": value}


BAD_SWITCHES = [
    ({"red_lines": {"platforms": 2020}}, "drivers.red_lines.platforms"),
    ({"red_lines": {"platforms": "soon"}}, "drivers.red_lines.platforms"),
    ({"red_lines": {"space_ground": 2041}}, "drivers.red_lines.space_ground"),
    ({"red_lines": {"surveillance": 2030.5}}, "drivers.red_lines.surveillance"),
    ({"red_lines": {"categories": ["tanks"]}}, "drivers.red_lines.categories"),
    ({"red_lines": {"categories": "aircraft"}}, "drivers.red_lines.categories"),
    ({"red_lines": {"categories": []}}, "drivers.red_lines.categories"),
    ({"red_lines": {"platforms": 2025, "sanctions": 1.5}}, "drivers.red_lines.sanctions"),
    ({"red_lines": {"sanctions": 0.5}}, "drivers.red_lines.sanctions"),
    ({"red_lines": {"platforms": 2025, "sanction_years": 0}}, "drivers.red_lines.sanction_years"),
    ({"red_lines": {"bases": 2030}}, "drivers.red_lines.bases"),
    ({"red_lines": 2025}, "drivers.red_lines"),
    ({"domestic_preference": [_period(iso3="XXX")]}, "drivers.domestic_preference.iso3"),
    ({"domestic_preference": [_period(value=2.0)]}, "drivers.domestic_preference.value"),
    ({"domestic_preference": [_period(value=-0.1)]}, "drivers.domestic_preference.value"),
    ({"domestic_preference": [_period(start=2023)]}, "drivers.domestic_preference.year_start"),
    ({"domestic_preference": [_period(end=2041)]}, "drivers.domestic_preference.year_end"),
    ({"domestic_preference": 0.5}, "drivers.domestic_preference"),
    ({"china_tech_offer": [{"iso3": "BRA", "value": 0.5}]}, "drivers.china_tech_offer"),
    ({"china_tech_offer": [_period(value="high")]}, "drivers.china_tech_offer.value"),
    ({"orientation": [_period(iso3="ARG", start=2010, end=2012, value=0.0)]}, "drivers.orientation.year_start"),
]


@pytest.mark.parametrize(("overrides", "key"), BAD_SWITCHES, ids=lambda v: v if isinstance(v, str) else None)
def test_bad_switch_values_are_one_line_errors(overrides, key):
    cfg = compose_config(["scenario=baseline"])
    cfg["scenario"]["baseline"]["drivers"] = overrides
    assert one_line_error(cfg).startswith(f"{key}:")


@pytest.mark.parametrize(("edit", "key"), [
    ({"foo": 1}, "drivers.stochastic.foo"),
    ({"tension_sd": -0.1}, "drivers.stochastic.tension_sd"),
    ({"election_hazard": 2}, "drivers.stochastic.election_hazard"),
    ({"commodity_ar": 1.0}, "drivers.stochastic.commodity_ar"),
    ({"seeds_per_path": 0}, "drivers.stochastic.seeds_per_path"),
    ({"seeds_per_path": 1.5}, "drivers.stochastic.seeds_per_path"),
    ({"orientation_sd": "wide"}, "drivers.stochastic.orientation_sd"),
    (None, "drivers.stochastic"),
])
def test_bad_stochastic_settings_are_one_line_errors(edit, key):
    cfg = compose_config(["scenario=baseline"])
    if edit is None:
        del cfg["drivers"]["stochastic"]
    else:
        cfg["drivers"]["stochastic"].update(edit)
    assert one_line_error(cfg).startswith(f"{key}:")


@pytest.fixture()
def user_configs(tmp_path: Path) -> Path:
    """A copy of configs/ to write user scenarios into (the shared tree is left alone)."""
    target = tmp_path / "configs"
    shutil.copytree(CONFIG_DIR, target)
    return target


def write_scenario(configs: Path, name: str, body: dict) -> None:
    (configs / "scenario" / f"{name}.yaml").write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")


def test_a_user_scenario_composes_like_ours(user_configs: Path):
    write_scenario(user_configs, "mine", {"name": "mine", "mine": {
        "rationale": "A test scenario: Paraguay recognises Beijing in 2030 and Chile prefers its own industry.",
        "drivers": {"recognition": [["PRY", 2030, "PRC"]], "domestic_preference": [_period("CHL", 2026, 2040, 0.3)]}}})
    exp = build_experiment(compose_config(["scenario=[mine,us_china_deterioration]"], user_configs))
    assert exp.scenario == "mine+us_china_deterioration"
    assert exp.drivers.recognition == (("PRY", 2030, "PRC"),)
    assert exp.drivers.paths["us_china_tension"] == ((2030, 0.95),)


@pytest.mark.parametrize(("body", "key"), [
    ({"name": "mine", "rationale": "flat, old style", "drivers": {}}, "scenario.rationale"),
    ({"name": "mine", "mine": {"rationale": "text", "drivers": {}, "colour": "red"}}, "scenario.mine.colour"),
    ({"name": "mine", "mine": {"drivers": {}}}, "scenario.mine.rationale"),
    ({"name": "mine", "mine": {"rationale": "text", "drivers": [1]}}, "scenario.mine.drivers"),
    ({"name": "yours", "mine": {"rationale": "text", "drivers": {}}}, "scenario.name"),
    ({"name": "mine", "mine": {"rationale": "text", "drivers": {"gdp_growth": "fast"}}}, "drivers.gdp_growth"),
    ({"name": "mine", "mine": {"rationale": "text", "drivers": {"weather": 1}}}, "drivers.weather"),
    ({"name": "mine", "mine": {"rationale": "text", "drivers": {"paths": {"us_china_tension": [[2050, 0.9]]}}}},
     "drivers.paths.us_china_tension.year"),
    ({"name": "mine", "mine": {"rationale": "text", "drivers": {"recognition": [["XXX", 2030, "PRC"]]}}},
     "drivers.recognition"),
    ({"name": "mine", "mine": {"rationale": "text", "drivers": {"fiscal_stress": [_period("ARG", 1999, 2030)]}}},
     "drivers.fiscal_stress.year_start"),
])
def test_a_bad_user_scenario_is_a_one_line_error(user_configs: Path, body: dict, key: str):
    write_scenario(user_configs, "mine", body)
    assert one_line_error(compose_config(["scenario=mine"], user_configs)).startswith(f"{key}:")


def test_hydra_resolver_names_a_composed_scenario():
    cfg = OmegaConf.create({"scenario": compose_config(["scenario=[detente,russia_exit]"])["scenario"],
                            "dir": "outputs/simulate/${scenario_name:${scenario}}"})
    assert OmegaConf.to_container(cfg, resolve=True)["dir"] == "outputs/simulate/detente+russia_exit"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run([sys.executable, "-m", "experiments.simulate", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_composes_scenarios(tmp_path: Path):
    out = tmp_path / "out"
    proc = run_cli("scenario=[us_china_deterioration,argentina_fiscal_recovery]", "run.n_seeds=1", "run.last_year=2026",
                   "run.formats=[parquet]", f"run.out_dir={out}", f"hydra.run.dir={tmp_path / 'h'}")
    assert proc.returncode == 0, proc.stderr
    frame = pd.read_parquet(out / "simulation.parquet")
    assert set(frame["scenario"]) == {"us_china_deterioration+argentina_fiscal_recovery"}
    bad = run_cli("scenario=[us_china_deterioration,detente]", f"run.out_dir={tmp_path / 'bad'}",
                  f"hydra.run.dir={tmp_path / 'h2'}")
    lines = [line for line in bad.stderr.splitlines() if line.strip()]
    assert (bad.returncode == 2 and len(lines) == 1
            and lines[0].startswith("error: scenario.drivers.paths.us_china_tension"))
    assert not (tmp_path / "bad").exists()


def test_build_experiment_leaves_the_composed_config_alone():
    cfg = compose_config(["scenario=[venezuela_transition,argentina_fiscal_recovery]"])
    before = copy.deepcopy(cfg)
    build_experiment(cfg)
    assert cfg == before


def test_future_years_constant():
    assert FUTURE_YEARS == 2040 - HIST_END
