"""The model answers its scenarios (ODD §10, issue 14): responsive links, binding red lines, an arms market that orders
what it can buy, and no rule that names a state or a year.

The ensemble checks run the shipped posterior through :mod:`experiments.behaviour`, the module that writes the figures
quoted in docs/ODD.md, so the documented figures and these tests measure the same thing.
"""

from __future__ import annotations

import ast

import numpy as np
import pytest

from experiments.behaviour import NEAR_BOUND, arms_market, link_bounds, paired, run_scenario
from model.data import ISO3
from model.model import DefenceTiesModel
from model.params import PROJECT_ROOT, with_overrides
from model.pipeline import ACTIVE, DELIVERED, FAILED
from model.run import simulate
from model.schema import CHN_IDX, STATE_SLOTS, SUPPLIERS, Partner

POSTERIOR = PROJECT_ROOT / "calibration" / "posterior" / "posterior.parquet"
RULE_MODULES = ("model.py", "agents.py", "rules.py", "pipeline.py", "policy.py", "contacts.py", "arms.py", "aid.py",
                "space.py", "surveillance.py", "relations.py")


@pytest.mark.parametrize("name", RULE_MODULES)
def test_no_rule_names_a_state_or_a_year(name):
    """Red lines, the arms market and every channel act on attributes, never on a state's name or a calendar year."""
    tree = ast.parse((PROJECT_ROOT / "model" / name).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            assert node.value not in ISO3, f"model/{name}:{node.lineno} names the state {node.value!r}"
            if isinstance(node.value, int) and not isinstance(node.value, bool):
                assert not 1990 <= node.value <= 2050, f"model/{name}:{node.lineno} names the year {node.value}"


EDGES = ({}, {"arms.cooling_years": 0, "arms.fail_veto": 5.0, "arms.fail_base": 0.3},
         {"arms.cooling_years": 10, "china.boldness_base": 6.0, "arms.fail_fiscal": 5.0})


@pytest.mark.parametrize("edge", EDGES)
def test_every_signed_deal_is_delivered_failed_or_open(edge, params, data, drivers):
    """Per run and supplier: deals signed = delivered in full + failed + still open, and the record agrees."""
    p = with_overrides(params, edge)
    for seed in range(3):
        run = simulate(p, data, drivers, root_seed=7, seed=seed)
        d = run.deals
        signed = ~d["donation"]
        recorded = run.states[:, :, STATE_SLOTS[("arms_deals_signed", SUPPLIERS[0])]:][:, :, :len(SUPPLIERS)]
        for j in range(len(SUPPLIERS)):
            mine = signed & (d["supplier"] == j)
            done, failed, open_ = (np.count_nonzero(mine & (d["status"] == s)) for s in (DELIVERED, FAILED, ACTIVE))
            assert done + failed + open_ == np.count_nonzero(mine) == recorded[:, :, j].sum()
            full = mine & (d["status"] == DELIVERED)
            assert np.allclose(d["delivered"][full], d["size"][full])
            assert (d["delivered"][mine] <= d["size"][mine] + 1e-9).all()
        chinese = signed & (d["supplier"] == SUPPLIERS.index(Partner.CHN))
        assert np.count_nonzero(chinese & (d["status"] == FAILED)) == run.states[
            :, :, STATE_SLOTS[("china_arms_deal_failed", Partner.CHN)]].sum()


def test_a_change_of_government_fails_only_deals_on_the_other_side_of_its_move(params, data, drivers):
    """With the other hazards off, every failed deal of 2000-2023 failed in a year its state changed government, and
    its supplier stood on the other side of the move (a turn towards the US fails Chinese and Russian deals, one away
    from it US, Israeli and European deals; neutral suppliers' deals never fail)."""
    p = with_overrides(params, {"arms.fail_base": 0.0, "arms.fail_fiscal": 0.0, "arms.fail_veto": 0.0,
                                "arms.fail_regime": 5.0})
    orientation = np.asarray(p.arms.supplier_orientation)
    years = list(drivers.years)
    swing = drivers.regime_change * np.diff(drivers.orientation, axis=0, prepend=drivers.orientation[:1])
    failures = 0
    for seed in range(3):
        d = simulate(p, data, drivers, root_seed=11, seed=seed).deals
        failed = (d["status"] == FAILED) & (d["closed"] <= 2023)
        for state, supplier, year in zip(d["state"][failed], d["supplier"][failed], d["closed"][failed], strict=True):
            move = swing[years.index(year), state]
            assert move != 0 and -move * orientation[supplier] > 0, (ISO3[state], SUPPLIERS[supplier], year, move)
        failures += np.count_nonzero(failed)
    assert failures > 10


def test_a_fiscal_shock_fails_deals_not_yet_begun_and_delays_those_in_delivery(params, data, drivers):
    """With the other hazards off, no deal fails after its deliveries began; deals in delivery at a rise of fiscal
    stress are delivered in full after their scheduled years (rescheduled, as arrears are), and still every failure
    falls in a year the buyer's stress rose above what the deal had met."""
    p = with_overrides(params, {"arms.fail_base": 0.0, "arms.fail_veto": 0.0, "arms.fail_regime": 0.0,
                                "arms.fail_fiscal": 5.0})
    fiscal, years = drivers.fiscal_stress, list(drivers.years)
    failures = late = 0
    for seed in range(3):
        m = DefenceTiesModel(p, data, drivers, root_seed=5, seed=seed)
        try:
            pl = m.pipeline
            for _ in range(len(years)):
                before = pl.delivered[: pl.n].copy()
                t, n = m.t, pl.n
                m.step()
                now = pl.status[:n]
                failed = (now == FAILED) & (pl.closed[:n] == years[t])
                assert not (before[failed] > 0).any(), years[t]
                assert (fiscal[t, pl.state[:n][failed]] > fiscal[t - 1, pl.state[:n][failed]]).all()
                failures += np.count_nonzero(failed)
            done = np.flatnonzero(pl.status[: pl.n] == DELIVERED)
            scheduled_end = pl.start[done] + np.rint(pl.size[done] / pl.yearly[done]).astype(int) - 1
            assert np.allclose(pl.delivered[done], pl.size[done])
            late += np.count_nonzero(pl.closed[done] > scheduled_end)
        finally:
            m.release()
    assert failures > 5 and late > 5, (failures, late)


def test_a_deal_on_chinas_credit_is_neither_failed_nor_slowed_by_a_fiscal_shock(params, data, drivers):
    """With fiscal shocks the only hazard and a credit line large enough to finance many Chinese deals, no financed
    deal fails and every one delivered in full closes in its scheduled last year, though many were open when their
    buyer's stress rose; deals the credit did not finance still fail."""
    p = with_overrides(params, {"arms.fail_base": 0.0, "arms.fail_veto": 0.0, "arms.fail_regime": 0.0,
                                "arms.fail_fiscal": 5.0, "china.arms_credit_tiv": 2000.0})
    fiscal, first = drivers.fiscal_stress, int(drivers.years[0])
    financed = shocked = other_failed = 0
    for seed in range(3):
        m = DefenceTiesModel(p, data, drivers, root_seed=5, seed=seed)
        try:
            for _ in range(len(drivers.years)):
                m.step()
            pl, n = m.pipeline, m.pipeline.n
            on_credit, status = pl.financed[:n], pl.status[:n]
            assert (pl.supplier[:n][on_credit] == CHN_IDX).all()
            assert not (on_credit & (status == FAILED)).any()
            done = np.flatnonzero(on_credit & (status == DELIVERED))
            scheduled_end = pl.start[done] + np.rint(pl.size[done] / pl.yearly[done]).astype(int) - 1
            assert (pl.closed[done] == scheduled_end).all()
            for i in np.flatnonzero(on_credit):
                end = pl.closed[i] if status[i] != ACTIVE else int(drivers.years[-1])
                stress = fiscal[pl.signed[i] - first: end - first + 1, pl.state[i]]
                shocked += bool((stress > stress[0]).any())
            financed += np.count_nonzero(on_credit)
            other_failed += np.count_nonzero(~on_credit & (status == FAILED))
        finally:
            m.release()
    assert financed > 20 and shocked > 3 and other_failed > 5, (financed, shocked, other_failed)


@pytest.mark.parametrize("cooling", [0, 4])
def test_a_failed_order_counts_against_the_gap_while_it_cools_off(cooling, params, data, drivers):
    """After each year, the cooling-off stock that next year's signing sees is the undelivered TIV of the deals that
    failed in the last ``cooling_years`` years (this year's included)."""
    p = with_overrides(params, {"arms.fail_base": 1.0, "arms.cooling_years": cooling})
    m = DefenceTiesModel(p, data, drivers, root_seed=3)
    try:
        for _ in range(len(drivers.years) - 1):
            y = m.year
            m.step()
            pl = m.pipeline
            failed = (pl.status[: pl.n] == FAILED) & (pl.closed[: pl.n] > y - cooling)
            lost = np.bincount(pl.state[: pl.n][failed], weights=(pl.size - pl.delivered)[: pl.n][failed],
                               minlength=m.n)
            assert m.cooling - m._cool_release[m.t] == pytest.approx(lost, abs=1e-6), y
        assert np.count_nonzero(m.pipeline.status[: m.pipeline.n] == FAILED) > 20
    finally:
        m.release()


# The runs of behaviour.json (200 draws x 4 seeds, its root seed), so the tests hold the figures docs/ODD.md quotes: at
# 100 x 2 the sampling noise of the buyers' share and of the vetoes' paired signs exceeded their margins (§10.16).
@pytest.fixture(scope="module")
def ensembles(data):
    return {s: run_scenario(s, 200, 4, data, POSTERIOR) for s in ("baseline", "us_china_deterioration")}


@pytest.mark.slow
def test_links_stay_off_their_bounds(ensembles):
    """US pressure, US leverage (LAC mean) and China's boldness: every year 2005-2040 has its 5-95% within
    [0.02, 0.98], and at most 5% of run-years lie within 0.01 of 0 or 1."""
    base = ensembles["baseline"]
    sel = (base.years >= 2005) & (base.years <= 2040)
    for name in ("us_pressure", "us_leverage", "china_boldness"):
        x = base.link(name)[:, sel]
        q5, q95 = np.percentile(x, [5, 95], axis=0)
        assert (q5 >= 0.02).all() and (q95 <= 0.98).all(), (name, q5.min(), q95.max())
        assert np.mean((x <= NEAR_BOUND) | (x >= 1 - NEAR_BOUND)) <= 0.05, name
    assert set(link_bounds(base)) == {"us_pressure", "us_leverage", "china_boldness"}


@pytest.mark.slow
def test_the_tension_scenario_moves_pressure_vetoes_and_offers(ensembles):
    d = paired(ensembles["baseline"], ensembles["us_china_deterioration"])
    assert d["us_pressure"]["median"] >= 0.05 and d["china_boldness"]["p_up"] == 1.0
    veto = d["china_arms_deal_vetoed_2024_2030"]
    assert veto["p_up"] > veto["p_down"]
    offers = d["offers_changed_2030"]
    assert offers["share_of_runs"] >= 0.5 and offers["state_categories_added_per_run"] > 0


# It rests on the prior-driven china.boldness_tension (docs/ODD.md §10.1): on the fit of §10.16 the paired 2030 median
# is +0.056 on behaviour.json's 200 draws x 4 seeds (§10.15's: +0.068; §10.10's: +0.062).
@pytest.mark.slow
def test_the_tension_scenario_raises_boldness_by_at_least_005(ensembles):
    d = paired(ensembles["baseline"], ensembles["us_china_deterioration"])
    assert d["china_boldness"]["median"] >= 0.05


def test_deal_counts_set_each_state_against_sipri():
    from experiments.behaviour import Runs, deal_counts

    n = len(ISO3)
    counts = np.zeros((20, n), dtype=np.int64)
    counts[:, 0] = np.arange(20)  # 0..19: 5-95% range [0.95, 18.05]
    counts[:, 1] = 30  # every run 30
    sipri = np.zeros(n, dtype=np.int64)
    sipri[0], sipri[1], sipri[2] = 25, 30, 1
    runs = Runs(np.arange(2000, 2041), ISO3, np.zeros((20, 41, 1)), np.zeros((20, 41, n, 1)), [], counts, sipri)
    d = deal_counts(runs)
    assert d["lac"] == {"model_q05_median_q95": [30.95, 39.5, 48.05], "sipri": 56}
    # Inside: the second state (30 in 30), every state with none in SIPRI and none in the runs; outside: the first (25
    # above 18.05) and the third (1 above 0).
    assert d["states_inside_90"] == n - 2
    assert list(d["by_state"]) == [ISO3[1], ISO3[0]]  # at least 20 in SIPRI or in the median run, most in SIPRI first
    assert d["by_state"][ISO3[1]] == {"model_q05_median_q95": [30.0, 30.0, 30.0], "sipri": 30}


@pytest.mark.slow
def test_venezuela_is_the_largest_chinese_buyer_in_most_runs(ensembles):
    m = arms_market(ensembles["baseline"])
    assert m["venezuela_largest_buyer"] > 0.5, m


@pytest.mark.slow
def test_brazil_and_chile_sign_no_chinese_deal_in_most_runs(ensembles):
    """The article: both arms markets have so far been closed to Chinese suppliers (2000-2023)."""
    base = ensembles["baseline"]
    deals = base.state_series("china_arms_deal_signed")[:, base.years <= 2023].sum(axis=1)
    for iso in ("BRA", "CHL"):
        assert np.median(deals[:, base.iso3.index(iso)]) == 0, iso


# Met since a fiscal shock delays deals in delivery instead of failing them (docs/ODD.md §10.16): 4.9 a run on the
# refit (9.1 before, the mean carried by the top tenth of draws in Venezuela's 2014 collapse).
@pytest.mark.slow
def test_few_chinese_deals_fail(ensembles):
    assert arms_market(ensembles["baseline"])["failed_per_run"] <= 8


# Met since Cuba's GDP series break was corrected (docs/ODD.md §10.15: 16.1% -> 12.0%); 14.3% on the refit of §10.16,
# with more of the unnamed share in Brazil (2.3%) and Chile (0.9%).
@pytest.mark.slow
def test_few_chinese_deals_go_to_buyers_the_article_does_not_name(ensembles):
    assert arms_market(ensembles["baseline"])["share_outside_named_buyers"] <= 0.15


@pytest.mark.parametrize(("args", "says"), [
    (["a.json", "b.json"], "arguments: 'a.json b.json'; allowed: at most one"),
    (["out.txt"], "is not a .json file path"),
    (["/proc/none/out.json"], "cannot be written"),
])
def test_behaviour_command_refuses_a_bad_output_in_one_line_before_running(args, says, tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "experiments.behaviour", *args], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"}, timeout=120,
                          check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_behaviour_output_path_defaults_and_accepts_a_new_folder(tmp_path):
    from experiments.behaviour import output_path

    assert output_path([], tmp_path / "b.json") == tmp_path / "b.json"
    assert output_path([str(tmp_path / "new" / "b.json")], tmp_path / "x.json").parent.is_dir()
