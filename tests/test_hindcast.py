"""The hindcast (calibration/hindcast.py): CRPS and coverage by hand, the two baselines on a hand-made record, the cut
SIPRI block, bad input, and a tiny end-to-end run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from calibration.hindcast import (
    STATE_BOUNDED,
    covers,
    crps_ensemble,
    hindcast_fit,
    later_sipri,
    linear_trend,
    observed_imports,
    persistence,
    robustness,
    sipri_ids,
    statement_crps,
)
from calibration.objective import Weights
from calibration.priors import parse_priors
from calibration.problem import Problem
from calibration.targets import SIPRI_PERIODS, Target, observed_sipri_blocks
from model.data import ISO3
from model.params import ConfigError
from model.schema import STATE_SLOTS, Partner

ROOT = Path(__file__).resolve().parent.parent


def _target(relation: str, value: float = np.nan, low: float = np.nan, high: float = np.nan) -> Target:
    return Target(id="t", statistic="sum", threshold=0.0, slots=np.array([0]), region_slot=-1, states=np.array([0]),
                  t0=0, t1=0, years=np.array([2000]), relation=relation, value=value, low=low, high=high,
                  tolerance=0.0, kind="count")


@pytest.mark.parametrize(("sample", "y", "expected"), [
    ([0.0, 1.0], 0.0, 0.5 - 0.5 * 0.5),                 # E|X-y| = 1/2; E|X-X'| = (0+1+1+0)/4
    ([1.0, 2.0, 3.0], 2.0, 2 / 3 - 0.5 * 8 / 9),        # E|X-y| = 2/3; E|X-X'| = 2(1+2+1)/9
    ([3.0, 1.0, 2.0], 2.0, 2 / 3 - 0.5 * 8 / 9),        # order does not matter
    ([5.0], 2.0, 3.0),                                  # a point forecast scores its absolute error
    ([4.0, 4.0, 4.0], 4.0, 0.0),
])
def test_ensemble_crps_by_hand(sample, y, expected):
    assert crps_ensemble(np.array(sample), y) == pytest.approx(expected)


def test_ensemble_crps_equals_the_pairwise_definition():
    x = np.random.default_rng(3).normal(size=57)
    pairwise = np.abs(x - 0.4).mean() - 0.5 * np.abs(x[:, None] - x[None, :]).mean()
    assert crps_ensemble(x, 0.4) == pytest.approx(pairwise)


@pytest.mark.parametrize(("target", "sample", "expected"), [
    (_target("ge", 10.0), [8.0, 12.0], 1.0 - 0.5 * 1.0),     # D = (2, 0): E D = 1, E|D-D'| = 1
    (_target("ge", 10.0), [10.0, 15.0], 0.0),                # every member on the allowed side
    (_target("le", 0.0), [-5.0, 5.0], 2.5 - 0.5 * 2.5),      # D = (0, 5)
    (_target("between", low=5.0, high=7.0), [8.0], 2.0),     # against the midpoint 6
    (_target("eq", 3.0), [1.0, 2.0, 3.0], 1.0 - 0.5 * 8 / 9),
])
def test_statement_crps_by_relation(target, sample, expected):
    assert statement_crps(target, np.array(sample)) == pytest.approx(expected)


@pytest.mark.parametrize(("target", "interval", "expected"), [
    (_target("eq", 10.0), (8.0, 12.0), True), (_target("eq", 10.0), (11.0, 12.0), False),
    (_target("ge", 10.0), (3.0, 10.0), True), (_target("ge", 10.0), (3.0, 9.0), False),
    (_target("le", 0.0), (1.0, 5.0), False), (_target("le", 0.0), (-1.0, 5.0), True),
    (_target("between", low=5.0, high=7.0), (6.5, 9.0), True),
    (_target("between", low=5.0, high=7.0), (7.5, 9.0), False),
])
def test_coverage_is_the_interval_meeting_the_allowed_values(target, interval, expected):
    assert covers(target, *interval) is expected


@pytest.fixture
def hand_record():
    """2009-2017, two states, slot 0 a count, slot 1 an index; the cut is 2015, so the baselines read 2011-2015."""
    record = np.zeros((9, 2, 2))
    record[:, 0, 0] = [0, 0, 1, 2, 3, 4, 5, 99, 99]                 # rising count
    record[:, 1, 0] = [0, 0, 5, 4, 3, 2, 1, 99, 99]                 # falling count: the line goes below 0
    record[:, 0, 1] = [0.1, 0.2, 0.2, 0.4, 0.6, 0.8, 0.9, 9, 9]     # index: the line leaves its 2009-2015 range
    record[:, 1, 1] = [0.9, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 9, 9]     # index: the line stays inside it
    return np.arange(2009, 2018), record


def test_persistence_by_hand(hand_record):
    years, record = hand_record
    out = persistence(record, years, 2015)
    assert np.array_equal(out[:7], record[:7]) and record[7, 0, 0] == 99  # the past and the input untouched
    np.testing.assert_allclose(out[7:, 0, 0], [3, 3])
    np.testing.assert_allclose(out[7:, 1, 0], [3, 3])
    np.testing.assert_allclose(out[7:, 0, 1], [0.58, 0.58])
    np.testing.assert_allclose(out[7:, 1, 1], [0.3, 0.3])


def test_linear_trend_by_hand(hand_record):
    years, record = hand_record
    out = linear_trend(record, years, 2015, np.array([False, True]))
    assert np.array_equal(out[:7], record[:7])
    np.testing.assert_allclose(out[7:, 0, 0], [6, 7])        # slope 1 from 3 at 2013; a count has no upper bound
    np.testing.assert_allclose(out[7:, 1, 0], [0, 0])        # 0 and -1, clipped at 0
    np.testing.assert_allclose(out[7:, 0, 1], [0.9, 0.9])    # 0.58 + 0.18 * 3 = 1.12, clipped to the 2009-2015 max
    np.testing.assert_allclose(out[7:, 1, 1], [0.6, 0.7])    # inside [0, 0.9]


def test_bounded_slots_follow_the_units():
    assert STATE_BOUNDED[STATE_SLOTS[("alignment", Partner.NONE)]]
    assert STATE_BOUNDED[STATE_SLOTS[("port_call", Partner.CHN)]]
    assert not STATE_BOUNDED[STATE_SLOTS[("delegations", Partner.CHN)]]
    assert not STATE_BOUNDED[STATE_SLOTS[("arms_imports_tiv", Partner.USA)]]


def test_robustness_names_the_row_a_skill_rests_on():
    rows = pd.DataFrame({"id": ["a", "b", "c"], "model_crps": [1.0, 2.0, 1.0], "trend_crps": [9.0, 1.0, 1.0]})
    r = robustness(rows, "trend")
    # Mean CRPS 4/3 against 11/3 overall; without row a, 1.5 against 1.0: skill 1 - 1.5 / 1.0.
    assert r == {"wins": 1, "losses": 1, "decisive_row": "a", "skill_without_it": pytest.approx(-0.5)}


def test_observed_imports_give_the_observed_sipri_blocks(data):
    years = np.arange(2000, 2000 + data.sipri_imports.shape[0])
    by_state, by_group = observed_sipri_blocks(data)
    later = [i for i, (_, b) in enumerate(SIPRI_PERIODS) if b > 2015]
    expected = np.concatenate([by_state[later].ravel(), by_group[later].ravel()])
    np.testing.assert_allclose(later_sipri(observed_imports(data), years, 2015), expected)
    assert len(sipri_ids(2015)) == len(expected) == 2 * (len(ISO3) + by_group.shape[1])


def test_the_hindcast_problem_fits_only_the_sipri_totals_ending_by_the_cut(params, data):
    from model.drivers import build_drivers, load_default_drivers

    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    priors = parse_priors({"arms": {"beta_lockin": {"dist": "uniform", "low": 0, "high": 5, "why": "t"}}})
    problem = Problem(params, data, drivers, [], 1, 5, Weights(), priors, last_year=2015)
    by_state, by_group = observed_sipri_blocks(data)
    assert problem.sipri_keep.sum() == 3 * (by_state.shape[1] + by_group.shape[1])  # 2000-04, 2005-09, 2010-14
    np.testing.assert_allclose(problem.sipri_obs[: by_state.shape[1]], by_state[0])
    x = problem.simulate({"arms.beta_lockin": 1.0})
    assert x["sipri"].shape == (1, problem.sipri_keep.sum())
    assert np.isfinite(problem.distance(x, problem.observed()))


def test_a_finished_fit_is_reused_only_with_the_same_settings_and_data(tmp_path):
    config = {"params": {}, "drivers": {}, "scenario": {"name": "baseline"}, "out_dir": "x", "draws": 3, "fitted": "",
              "calibration": {"population_size": 20, "last_year": 2015, "priors": {"arms": {"6": 1.0}}}}
    hashes = {"countries.csv": "ab"}
    (tmp_path / "posterior.parquet").write_bytes(b"")
    (tmp_path / "manifest.json").write_text(json.dumps({"config": config, "data_hashes": hashes, "fit": {"n": 1}}))
    setup = SimpleNamespace(config={**config, "draws": 200})  # the draws are not part of the fit
    assert hindcast_fit(setup, 2015, tmp_path, hashes)["fit"] == {"n": 1}
    other = SimpleNamespace(config={**config, "calibration": {**config["calibration"], "population_size": 30}})
    for s, h in ((other, hashes), (setup, {"countries.csv": "cd"})):
        with pytest.raises(ConfigError, match=r"^out_dir: .* holds a finished fit with other settings or data"):
            hindcast_fit(s, 2015, tmp_path, h)


def test_a_cut_without_years_to_forecast_is_a_one_line_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "calibration.hindcast", f"out_dir={tmp_path}",
                          "calibration.last_year=2022"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error: calibration.last_year: 2022")
    assert not any(tmp_path.iterdir())


def _fitted_elsewhere(folder: Path, last_year: int) -> Path:
    """A posterior over the tiny priors with the manifest calibration.npe writes beside a hindcast fit."""
    folder.mkdir()
    posterior = pd.DataFrame({"weight": [0.5, 0.5], "delegations.log_rate": [-3.0, -2.5],
                              "forums.intercept": [-1.0, 0.0], "arms.beta_lockin": [2.0, 3.0],
                              "relations.kappa": [0.0, 0.01]})
    posterior.to_parquet(folder / "posterior.parquet", index=False)
    fit = {"method": "npe", "last_year": last_year, "ensemble": 3, "simulations": 400, "posterior_samples": 2}
    (folder / "manifest.json").write_text(json.dumps({"config": {}, "fit": fit}))
    return folder / "posterior.parquet"


def test_a_posterior_fitted_elsewhere_must_be_fitted_to_the_cut(tmp_path):
    path = _fitted_elsewhere(tmp_path / "npe", 2014)
    setup = SimpleNamespace(config={"fitted": str(path)})
    with pytest.raises(ConfigError, match=r"^fitted: .* was fitted to the record up to 2014; allowed: .* \(2015\)$"):
        hindcast_fit(setup, 2015, tmp_path, {})
    assert hindcast_fit(setup, 2014, tmp_path, {})["fit"]["method"] == "npe"
    with pytest.raises(ConfigError, match=r"^fitted: .*nowhere.parquet or the manifest.json beside it not found"):
        hindcast_fit(SimpleNamespace(config={"fitted": str(tmp_path / "nowhere.parquet")}), 2015, tmp_path, {})


@pytest.mark.slow
def test_a_hindcast_forecasts_from_a_posterior_fitted_elsewhere(tmp_path):
    """fitted=...: no ABC fit runs; the forecast draws from that posterior and the report names the method."""
    path = _fitted_elsewhere(tmp_path / "npe", 2015)
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "calibration.hindcast", f"out_dir={out}", "calibration=tiny",
                          "calibration.last_year=2015", f"fitted={path}", "draws=2"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert not (out / "history.db").exists() and not (out / "posterior.parquet").exists()
    record = json.loads((out / "hindcast_manifest.json").read_text())
    assert record["hindcast"]["fit"]["method"] == "npe" and record["hindcast"]["posterior"].startswith("posterior:")
    assert "Fit: neural posterior estimation (calibration.npe: 3 flows" in (out / "hindcast.md").read_text()
    for cut, fitted, says in ((2016, path, "up to 2015"), (2015, tmp_path / "none.parquet", "not found")):
        wrong = subprocess.run([sys.executable, "-m", "calibration.hindcast", f"out_dir={tmp_path / 'w'}",
                                "calibration=tiny", f"calibration.last_year={cut}", f"fitted={fitted}"], cwd=ROOT,
                               capture_output=True, text=True, timeout=300)
        assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
        assert wrong.stderr.startswith("error: fitted: ") and says in wrong.stderr
        assert not (tmp_path / "w").exists()  # refused before anything is written


@pytest.mark.slow
def test_tiny_hindcast_end_to_end(tmp_path):
    """A tiny fit (configs/calibration/tiny.yaml, 20 particles, 2 generations), 3 draws, scores and report."""
    tiny = [sys.executable, "-m", "calibration.hindcast", f"out_dir={tmp_path}", "calibration=tiny",
            "calibration.population_size=20", "calibration.min_generations=2", "calibration.max_generations=2",
            "draws=3"]
    first = subprocess.run(tiny, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.startswith("hindcast: CRPS of") and first.stdout.count("\n") == 1
    table = pd.read_csv(tmp_path / "hindcast_scores.csv")
    scored = table[table.kind.isin(["count", "level", "trend", "sipri"])]
    binary = table[table.kind.isin(["event", "pattern"])]
    assert len(scored) and len(binary) and (table.year_end > 2015).all()
    for name in ("model", "persistence", "trend"):
        assert np.isfinite(scored[f"{name}_crps"]).all() and (scored[f"{name}_crps"] >= -1e-12).all()
        assert np.isfinite(binary[f"{name}_brier"]).all()
    assert np.isfinite(table.loc[table.kind == "sipri", "data_crps"]).all()
    assert "arms_peak_2015" in set(binary.id) and "ex_2010_peace_angel_per" not in set(table.id)
    record = json.loads((tmp_path / "hindcast_manifest.json").read_text())
    assert record["hindcast"]["last_year"] == 2015 and record["seeds"]["draws"] == 3
    assert json.loads((tmp_path / "manifest.json").read_text())["config"]["calibration"]["last_year"] == 2015
    assert "## Summary" in (tmp_path / "hindcast.md").read_text()
