"""Scenario effects (issue 14 item 6): declared in every scenario file, validated, measured by the forecast.

* Every scenario file but the reference declares at least three effects, two on outcomes; bare variable names resolve.
* A malformed or missing declaration is a one-line ConfigError naming the key, the value and what is allowed.
* The ``scenario_effects`` table on a tiny hand-made ensemble: paired differences, ties counted against the declared
  sign, the parameters driving an effect and its prior-driven flag.
* Slow: on the shipped posterior (50 draws x 4 seeds per scenario), every declared effect holds
  (``p_declared_sign`` >= 0.8).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from common import effects as decl
from common.cli import CONFIG_DIR
from common.config import build_experiment, scenario_effects
from experiments import effects as E
from experiments import tables as T
from model.params import ConfigError

SCENARIOS = sorted(p.stem for p in (CONFIG_DIR / "scenario").glob("*.yaml"))
NOT_REFERENCE = [s for s in SCENARIOS if s != decl.REFERENCE]


def _compose(name: str, overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose(name, overrides=overrides), resolve=True)


def _effect(**kw) -> dict:
    base = {"variable": "officers_training", "iso3": "LAC", "years": [2024, 2040], "sign": "-", "why": "a mechanism"}
    return base | kw


def _node(effects: object, part: str = "mine") -> dict:
    return {"name": part, part: {"rationale": "text", "drivers": {}, "effects": effects}}


GOOD = [_effect(), _effect(variable="forum_attends.CHN"), _effect(variable="us_pressure", years=[2030, 2030])]


# ------------------------------------------------------------------------------------------------ declarations


@pytest.mark.parametrize("name", NOT_REFERENCE)
def test_every_scenario_but_the_reference_declares_three_effects_two_on_outcomes(name):
    raw = yaml.safe_load((CONFIG_DIR / "scenario" / f"{name}.yaml").read_text(encoding="utf-8"))
    assert len(raw[name]["effects"]) >= decl.MIN_EFFECTS
    effects = scenario_effects(_compose("config", [f"scenario={name}"])["scenario"], required=True)
    assert len(effects) == len(raw[name]["effects"]) and sum(e.outcome for e in effects) >= decl.MIN_OUTCOMES
    for e in effects:
        assert e.declared_by == name and len(e.why.split()) >= 6 and e.why.endswith("."), e.label()


def test_the_reference_declares_none_and_composed_scenarios_carry_the_union():
    assert scenario_effects(_compose("config", ["scenario=baseline"])["scenario"], required=True) == ()
    node = _compose("config", ["scenario=[russia_exit,commodity_bust]"])["scenario"]
    both = scenario_effects(node, required=True)
    one = scenario_effects(_compose("config", ["scenario=russia_exit"])["scenario"])
    two = scenario_effects(_compose("config", ["scenario=commodity_bust"])["scenario"])
    assert both == one + two


def test_the_forecast_plan_gives_boldness_variants_their_scenarios_effects():
    from experiments.forecast import plan

    ov = ["scenarios=[baseline,us_china_deterioration]"]
    _, ensembles = plan(_compose("forecast", ov), ov)
    declared = {e.label: e.effects for e in ensembles}
    assert declared["baseline"] == ()
    assert declared["us_china_deterioration@bold"] == declared["us_china_deterioration"] != ()


def test_the_forecast_plan_requires_effects_of_every_scenario_but_the_reference(monkeypatch):
    import experiments.forecast as F

    compose_model = F.compose_model

    def without_detente_effects(overrides, scenario):
        cfg = compose_model(overrides, scenario)
        cfg["scenario"].get("detente", {}).pop("effects", None)
        return cfg

    monkeypatch.setattr(F, "compose_model", without_detente_effects)
    ov = ["scenarios=[baseline,detente]"]
    with pytest.raises(ConfigError, match=r"^scenario\.detente\.effects: missing; allowed: at least 3 declared"):
        F.plan(_compose("forecast", ov), ov)
    ov = ["scenarios=[detente,russia_exit]"]
    _, ensembles = F.plan(_compose("forecast", ov), ov)
    assert [len(e.effects) for e in ensembles] == [0, 3]


def test_bare_names_resolve_to_their_only_column():
    effects = decl.parse_effects("mine", GOOD)
    assert [e.variable for e in effects] == ["officers_training.CHN", "forum_attends.CHN", "us_pressure"]
    assert [e.outcome for e in effects] == [True, True, False]
    assert decl.is_outcome("arms_imports_tiv.USA") and decl.is_outcome("china_arms_share")
    assert not any(decl.is_outcome(c) for c in ("capability_gap", "us_leverage.USA", "r_china.CHN", "china_boldness",
                                             "us_china_tension", "recognises_beijing.CHN", "alignment"))


@pytest.mark.parametrize(("effects", "says"), [
    (None, "scenario.mine.effects: missing; allowed: at least 3"),
    ([], "scenario.mine.effects: missing"),
    (GOOD[:2], "scenario.mine.effects: 2 declared; allowed: at least 3"),
    ([GOOD[0], _effect(variable="us_pressure", years=[2030, 2030]), _effect(variable="china_boldness", sign="+",
                                                                          years=[2030, 2030])],
     "scenario.mine.effects: 1 of 3 on outcomes; allowed: at least 2"),
    ([GOOD[0], GOOD[2], _effect(variable="capability_gap", iso3="ARG")], "1 of 3 on outcomes"),
    ([_effect(sign="up"), *GOOD[1:]], "scenario.mine.effects[0].sign: 'up'; allowed: \"+\" or \"-\""),
    ([_effect(sign=1), *GOOD[1:]], "scenario.mine.effects[0].sign: 1"),
    ([*GOOD[:2], _effect(variable="pla_love")],
     "scenario.mine.effects[2].variable: 'pla_love' is no forecast variable"),
    ([*GOOD, _effect(variable="arms_imports_tiv")], ("effects[3].variable: 'arms_imports_tiv' has several partners; "
                                                    "allowed: one of arms_imports_tiv.USA")),
    ([_effect(years=[2020, 2030]), *GOOD[1:]], ("scenario.mine.effects[0].years: 2020; allowed: a year (int) in "
                                                "[2024, 2040]")),
    ([_effect(years=[2030, 2041]), *GOOD[1:]], "scenario.mine.effects[0].years: 2041"),
    ([_effect(years=[2035, 2030]), *GOOD[1:]], "effects[0].years: [2035, 2030]; allowed: [start, end] with start"),
    ([_effect(years=2030), *GOOD[1:]], "effects[0].years: 2030; allowed: [start, end]"),
    ([_effect(years=[2030.0, 2031]), *GOOD[1:]], "effects[0].years: 2030.0"),
    ([_effect(iso3="XXX"), *GOOD[1:]], "scenario.mine.effects[0].iso3: 'XXX'; allowed: a state's ISO3 code"),
    ([*GOOD[:2], _effect(variable="us_pressure", iso3="ARG")], ("effects[2].iso3: 'ARG' for the region-only "
                                                               "us_pressure; allowed: LAC")),
    ([_effect(why="  "), *GOOD[1:]], "scenario.mine.effects[0].why: '  '; allowed: the mechanism"),
    ([{k: v for k, v in _effect().items() if k != "why"}, *GOOD[1:]], "scenario.mine.effects[0].why: missing key"),
    ([_effect(colour="red"), *GOOD[1:]], "scenario.mine.effects[0].colour: unknown key"),
    ([*GOOD, GOOD[0]], "scenario.mine.effects[3]: officers_training.CHN LAC 2024-2040 - is declared twice"),
    ("officers_training", "scenario.mine.effects: 'officers_training'; allowed: a list of effects"),
    ([*GOOD, "oops"], "scenario.mine.effects[3]: 'oops'; allowed: a mapping"),
])
def test_a_bad_declaration_is_a_one_line_error(effects, says):
    with pytest.raises(ConfigError) as info:
        scenario_effects(_node(effects), required=True)
    assert says in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).startswith("scenario.mine.effects")


def test_only_the_forecast_requires_effects_but_every_entry_point_validates_them():
    # A scenario without effects still runs on its own (simulate, calibration) and is exempt as the reference.
    assert scenario_effects(_node(None)) == ()
    assert scenario_effects({"name": "x", "baseline": _node(None, "baseline")["baseline"],
                             "x": _node(GOOD, "x")["x"]}, required=True)[0].declared_by == "x"
    cfg = _compose("config", ["scenario=detente"])
    bad = copy.deepcopy(cfg)
    bad["scenario"]["detente"]["effects"][1]["sign"] = "more"
    with pytest.raises(ConfigError, match=r"^scenario\.detente\.effects\[1\]\.sign: 'more'"):
        build_experiment(bad)
    build_experiment(cfg)


# ------------------------------------------------------------------------------------------------ the table


STATES = ("ARG", "BRA")
ISO = STATES + ("LAC",)
COLS = ("forum_attends.CHN", "officers_training.CHN", "us_pressure")
YEARS = tuple(range(2022, 2041))
D, S = 4, 2


def _write(work: Path, label: str, values: np.ndarray) -> None:
    """One scenario in the forecast's layout: one hive part, iso3 dictionary-encoded, an events part."""
    y, d, s, i = (a.ravel() for a in np.meshgrid(np.arange(len(YEARS)), np.arange(D), np.arange(S),
                                                 np.arange(len(ISO)), indexing="ij"))
    cols = {"draw": d.astype(np.int32), "seed": s.astype(np.int16), "year": np.array(YEARS, dtype=np.int16)[y],
            "iso3": pa.DictionaryArray.from_arrays(pa.array(i.astype(np.int8)), pa.array(list(ISO)))}
    flat = values.reshape(-1, len(COLS))
    cols.update({c: flat[:, j].astype(np.float32) for j, c in enumerate(COLS)})
    path = work / "ensemble" / f"scenario={label}" / "part-00000.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(pa.table(cols), path)
    ev = work / "events" / f"scenario={label}" / "part-00000.parquet"
    ev.parent.mkdir(parents=True)
    dd, ss = np.divmod(np.arange(D * S), S)
    pd.DataFrame({"draw": dd.astype(np.int32), "seed": ss.astype(np.int16),
                  "china_arms_deal.BRA": np.nan}).to_parquet(ev, index=False)


# Paired differences of forum_attends.CHN at ARG summed over 2030-2031, per (draw, seed): a tie and a negative pair.
FORUM_DIFF = np.array([[1.0, -1.0], [2.0, 0.0], [1.0, 3.0], [4.0, 2.0]])  # draw means 0, 1, 2, 3


@pytest.fixture(scope="module")
def effects_table(tmp_path_factory) -> dict[str, pd.DataFrame]:
    work = tmp_path_factory.mktemp("effects")
    base = np.ones((len(YEARS), D, S, len(ISO), len(COLS)))
    base[:, :, :, :2, COLS.index("us_pressure")] = np.nan  # region-only
    base[:, :, :, -1, COLS.index("us_pressure")] = 0.6
    shift = base.copy()
    forum, arg = COLS.index("forum_attends.CHN"), ISO.index("ARG")
    shift[YEARS.index(2030), :, :, arg, forum] += FORUM_DIFF
    shift[YEARS.index(2032), :, :, arg, forum] += 100.0  # outside the declared years: no part of the statistic
    shift[YEARS.index(2030), :, :, -1, COLS.index("us_pressure")] = 0.1
    for label, values in (("base", base), ("shift", shift)):
        _write(work, label, values)
    pd.DataFrame({"draw": range(D), "p.one": [0.1, 0.2, 0.3, 0.4], "p.two": [3.0, 1.0, 4.0, 2.0],
                  "p.three": [4.0, 3.0, 2.0, 1.0], "p.fixed": 1.0, "u_boldness": 0.5}).to_parquet(
        work / "draws.parquet", index=False)
    pd.DataFrame({"parameter": ["p.one", "p.two", "p.three"], "prior_driven": [True, True, False]}).to_csv(
        work / "prior_driven.csv", index=False)
    declared = [decl.Effect("forum_attends.CHN", "ARG", 2030, 2031, "+", "more forums", "shift"),
                decl.Effect("us_pressure", "LAC", 2030, 2030, "-", "less pressure", "shift"),
                decl.Effect("officers_training.CHN", "LAC", 2024, 2040, "-", "unchanged", "shift"),
                decl.Effect("delegations.CHN", "ARG", 2024, 2040, "-", "not in this ensemble", "shift")]
    settings = SimpleNamespace(draws=D, seeds=S, first_table_year=2024, first_stored_year=YEARS[0],
                               posterior="defaults")
    job = {"labels": ["base", "shift"]}
    manifest_form = {"base": [], "shift": [e.as_dict() for e in declared]}  # as write_outputs passes them
    return T.compute_tables(work, settings, job, work / "prior_driven.csv", effects=manifest_form)


def test_the_table_has_a_row_per_declared_effect_in_order(effects_table):
    t = effects_table["scenario_effects"]
    assert list(t.columns) == list(E.TABLE_COLUMNS)
    assert list(t.variable) == ["forum_attends.CHN", "us_pressure", "officers_training.CHN", "delegations.CHN"]
    assert (t.scenario == "shift").all() and list(t.outcome) == [True, False, True, True]


def test_paired_differences_count_ties_against_the_declared_sign(effects_table):
    t = effects_table["scenario_effects"].set_index("variable")
    forum = t.loc["forum_attends.CHN"]
    # Sorted differences -1, 0, 1, 1, 2, 2, 3, 4: six of eight positive; the tie counts against "+".
    assert forum.n_pairs == 8 and forum.p_declared_sign == 0.75 and not forum.holds
    assert forum.p_tie == 0.125 and forum.p_opposite_sign == 0.125  # the 0 and the -1
    assert forum["median"] == 1.5
    assert forum.q05 == pytest.approx(-0.65) and forum.q95 == pytest.approx(3.65)
    assert (forum.year_start, forum.year_end, forum.sign, forum.iso3) == (2030, 2031, "+", "ARG")
    pressure = t.loc["us_pressure"]
    assert pressure.p_declared_sign == 1.0 and pressure.holds and pressure["median"] == pytest.approx(-0.5)
    flat = t.loc["officers_training.CHN"]
    assert flat.n_pairs == 8 and flat.p_declared_sign == 0.0 and not flat.holds and flat["median"] == 0.0
    assert flat.p_tie == 1.0 and flat.p_opposite_sign == 0.0  # unmoved, not contradicted
    missing = t.loc["delegations.CHN"]
    assert missing.n_pairs == 0 and np.isnan(missing.p_declared_sign) and not missing.holds
    assert np.isnan(missing.p_tie) and np.isnan(missing.p_opposite_sign)
    notes = effects_table["notes"].query("table == 'scenario_effects'")["note"]
    assert notes.str.contains("delegations.CHN ARG 2024-2040 -: not in the stored ensemble").any()
    assert notes.str.contains("4 draws: a parameter unrelated to an effect reaches").any()
    assert E.chance_of_driver(500) < 1e-9 and 0.02 < E.chance_of_driver(50) < 0.05


def test_driving_parameters_and_the_prior_driven_flag(effects_table):
    t = effects_table["scenario_effects"].set_index("variable")
    forum = t.loc["forum_attends.CHN"]
    # Draw means 0, 1, 2, 3: rho +1 with p.one (prior-driven), 0 with p.two, -1 with p.three; p.fixed is constant.
    assert forum.driving_parameters == "p.one (+1.00), p.three (-1.00)" and forum.prior_driven
    # The same difference in every draw: nothing drives it.
    pressure = t.loc["us_pressure"]
    assert pressure.driving_parameters == "" and not pressure.prior_driven


def test_summarise_by_hand():
    params = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 1.0]})
    diff = np.array([[-1.0, -2.0], [0.0, -1.0], [-3.0, -5.0]])  # draw means -1.5, -0.5, -4
    out = E.summarise(diff, "-", params, {"b": True})
    assert out["p_declared_sign"] == 5 / 6 and out["holds"] and out["n_pairs"] == 6
    assert out["p_tie"] == 1 / 6 and out["p_opposite_sign"] == 0.0
    # Ranks of the means 2, 3, 1: rho -0.5 with a (ranks 1, 2, 3), +1 with b (ranks 3, 1, 2).
    assert out["driving_parameters"] == "b (+1.00), a (-0.50)" and out["prior_driven"]
    plus = E.summarise(diff, "+", params, None)
    assert plus["p_declared_sign"] == 0.0 and plus["p_tie"] == 1 / 6 and plus["p_opposite_sign"] == 5 / 6
    assert not E.summarise(diff, "-", params, None)["prior_driven"]


def test_markdown_and_report_show_the_table(effects_table):
    from experiments.report import html_report

    md = T.markdown(effects_table)
    text = md["scenario_effects"]
    assert text.startswith("# Scenario effects")
    row = ("| shift | `forum_attends.CHN` ARG 2030-2031 + | yes | 8 | 1.5 [-0.65, 3.65] | 0.75 | 0.125 | 0.125 | "
           "**no** | true |")
    assert row in text
    assert "`us_pressure` LAC 2030 -" in text
    page = html_report(md, effects_table, [], {"forecast": {"labels": ["base", "shift"]}})
    assert 'id="table-scenario_effects"' in page and "p.one (+1.00)" in page
    empty = T.markdown({"scenario_effects": E.empty_table()})["scenario_effects"]
    assert "| scenario | effect |" in empty and "no scenario other than the reference declares effects" in empty


# ------------------------------------------------------------------------------------------------ slow: the posterior


POSTERIOR_DRAWS, POSTERIOR_SEEDS = 50, 4  # 200 paired runs per scenario


@pytest.fixture(scope="module")
def posterior_effects(tmp_path_factory) -> tuple[pd.DataFrame, dict]:
    """The forecast's own code on the shipped posterior: every scenario file against the baseline."""
    from experiments.forecast import run_ensemble, write_outputs

    saved, T.DELTA_RESAMPLES = T.DELTA_RESAMPLES, 10  # the sensitivity table is not what is tested here
    try:
        out = tmp_path_factory.mktemp("posterior_effects")
        ov = [f"scenarios=[{','.join([decl.REFERENCE, *NOT_REFERENCE])}]", f"forecast.draws={POSTERIOR_DRAWS}",
              f"forecast.seeds={POSTERIOR_SEEDS}", "forecast.boldness_scenarios=[]", "forecast.executor=pool",
              "forecast.workers=2", "forecast.batch_size=10", "forecast.formats=[parquet,csv,md]",
              f"forecast.out_root={out}"]
        work, settings, job, record = run_ensemble(_compose("forecast", ov), ov)
        write_outputs(work, settings, job, record)
    finally:
        T.DELTA_RESAMPLES = saved
    for suffix in ("parquet", "csv", "md"):
        assert (work / "tables" / f"scenario_effects.{suffix}").is_file()
    manifest = json.loads((work / "manifest.json").read_text(encoding="utf-8"))
    return pd.read_parquet(work / "tables" / "scenario_effects.parquet"), manifest


# Declared effects that the shipped posterior moves in the declared direction in too few paired runs (measured at
# 50 draws x 4 seeds on posterior:2cc3bcdf4a4b with the judgement axes varied, as the forecast runs them: the audit's
# 38 axes over every scenario (docs/ODD.md §10.51); after the semicolon on posterior:635819883935 with its 37 axes
# (§10.50), in brackets before that; §10.9, §10.10, §10.15, §10.16, §10.19, §10.22, §10.23, §10.27-§10.30,
# §10.32-§10.34, §10.50, §10.51, §12): small or rare, so ties (no change in a run) count against them. Tracked, not
# hidden: each is a strict xfail, so the test fails as soon as one starts to hold, and the list must then shrink
# (Russian deals under the Russian exit left it at §10.32 and came back at §10.33, with the region's exercises under
# tension, when the base rates' ceilings rose to China's world totals; those exercises left it at §10.45, came back at
# §10.50 and left again at §10.51, up in 84% of pairs and down in none, where the bar is 80%; Venezuela's exercises in
# the transition left it at §10.50 and hold at §10.51 too, down in 81% and up in none: both hover at the bar). Since
# §10.34 no arms effect here goes the wrong way in more than 5% of pairs but China's deliveries in a commodity bust
# (28% at §10.51: the bust reallocates China's aid, and with it the arms it donates); the rest are ties. The
# model-core and inference issues revisit them.
WEAK = {
    # Training near its ceiling (every eligible state sends by 2023 on the world figure's prior) leaves most pairs tied.
    ("us_china_deterioration", "officers_training.CHN"): "0.215; 0.23 (0.29; 0.29; 0.275): +0.2 tension moves few "
                                                         "training decisions",
    # Forum attendance near its ceiling leaves most pairs tied.
    ("us_china_deterioration", "forum_attends.CHN"): "0.155; 0.235 (0.365; 0.365; 0.355): as for training",
    ("detente", "forum_attends.CHN"): "0.20; 0.29 (0.445; 0.405; 0.43): as above",
    ("detente", "officers_training.CHN"): "0.29; 0.285 (0.395; 0.35; 0.35): as above",
    ("commodity_bust", "china_arms_deal_signed.CHN"): "0.385; 0.395 (0.295; 0.235; 0.345): few Chinese deals after "
                                                      "2024: ties",
    ("commodity_bust", "china_arms_delivered_tiv.CHN"): "0.605; 0.50 (0.455; 0.44; 0.46): ties, and donations "
                                                        "reallocated both ways",
    ("us_hard_red_lines", "china_arms_deal_signed.CHN"): "0.74; 0.675 (0.51; 0.495; 0.58): as above",
    ("brazil_strategic_autonomy", "arms_imports_tiv.EUR"): "0.525; 0.58 (0.575; 0.555; 0.565): tied where European "
                                                           "lock-in wins all",
    ("russia_exit", "arms_imports_tiv.EUR"): "0.495; 0.47 (0.55; 0.535; 0.51): tied where Russia sells nothing after "
                                             "2024",
    # At the bar before the political regime hazard (docs/ODD.md §10.7: 0.815, 0.815, 0.820, 0.800), just below it
    # after, with the axes fixed; further below with them varied.
    ("argentina_fiscal_recovery", "arms_imports_tiv.USA"): "0.665; 0.645 (0.67; 0.635; 0.64)",
    ("brazil_strategic_autonomy", "arms_domestic_tiv.DOMESTIC"): "0.615; 0.685 (0.675; 0.685; 0.69)",
    ("brazil_strategic_autonomy", "arms_deals_signed.EUR"): "0.555; 0.625 (0.625; 0.605; 0.60)",
    ("russia_exit", "arms_imports_tiv.RUS"): "0.625; 0.74 (0.69; 0.715; 0.705)",
    ("russia_exit", "arms_deals_signed.RUS"): "0.635; 0.755 (0.725; 0.735; 0.74; 0.805 held at §10.32): tied in 36.5% "
                                              "of pairs, never down",
}


def _declared_cases() -> list:
    cases = []
    for scenario in NOT_REFERENCE:
        node = yaml.safe_load((CONFIG_DIR / "scenario" / f"{scenario}.yaml").read_text(encoding="utf-8"))
        for e in decl.parse_effects(scenario, node[scenario]["effects"]):
            weak = WEAK.get((scenario, e.variable))
            marks = ([pytest.mark.xfail(strict=True, reason=f"known weak effect, P(declared sign) {weak}")] if weak
                     else [])
            cases.append(pytest.param(scenario, e.variable, e.iso3, marks=marks,
                                      id=f"{scenario}-{e.variable}-{e.iso3}"))
    return cases


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "variable", "iso3"), _declared_cases())
def test_declared_effects_hold_on_the_posterior(posterior_effects, scenario, variable, iso3):
    table, manifest = posterior_effects
    declared = manifest["scenario_effects_declared"][scenario]
    rows = table[table.scenario == scenario]
    assert len(rows) == len(declared) >= decl.MIN_EFFECTS
    assert (rows.n_pairs == POSTERIOR_DRAWS * POSTERIOR_SEEDS).all()
    row = rows[(rows.variable == variable) & (rows.iso3 == iso3)].iloc[0]
    assert row.p_declared_sign >= E.HOLDS, (
        f"{scenario}: {variable} {iso3} {row.year_start}-{row.year_end} {row.sign}: p_declared_sign "
        f"{row.p_declared_sign:.2f} < {E.HOLDS}, median difference {row['median']:.3g}")


def test_weak_effects_are_declared_effects():
    declared = {(c.values[0], c.values[1]) for c in _declared_cases()}
    assert set(WEAK) <= declared
