"""Parameter recovery: known sets, the synthetic record, the coverage table, and a tiny end-to-end recovery."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from calibration.check import whole_valued
from calibration.objective import Weights, target_losses
from calibration.observations import load_observations
from calibration.priors import Prior, parse_priors
from calibration.problem import Problem
from calibration.recovery import (
    binomial_band,
    coverage,
    edge_coverage,
    known_sets,
    parse_recovery,
    recovery_table,
    synthetic_problem,
    synthetic_record,
    synthetic_target,
    truth_distances,
)
from calibration.targets import Target, compile_targets
from model.params import ConfigError
from model.schema import STATE_VARIABLES

ROOT = Path(__file__).resolve().parent.parent
PRIORS = parse_priors(yaml.safe_load((ROOT / "configs" / "calibration" / "default.yaml").read_text())["priors"])


def _target(relation: str, kind: str, value: float = np.nan, low: float = np.nan, high: float = np.nan,
            tolerance: float = 0.0, statistic: str = "sum", variable: str = "exercise") -> Target:
    return Target(id="t", statistic=statistic, threshold=0.0,
                  slots=np.array([i for i, v in enumerate(STATE_VARIABLES) if v.name == variable]), region_slot=-1,
                  states=np.array([0]), t0=0, t1=9, years=np.arange(2000, 2010), relation=relation, value=value,
                  low=low, high=high, tolerance=tolerance, kind=kind)


def test_known_sets_are_spread_inside_the_priors_margins():
    sets = known_sets(PRIORS, 5, seed=3, margin=0.1)
    assert sets.shape == (5, len(PRIORS)) and list(sets.columns) == [p.name for p in PRIORS]
    for p in PRIORS:
        q = p.frozen().cdf(sets[p.name].to_numpy())
        assert ((q > 0.1 - 1e-9) & (q < 0.9 + 1e-9)).all()
        # Latin hypercube: one set in each fifth of the [10%, 90%] quantile range.
        assert sorted(np.floor((q - 0.1) / 0.16).astype(int)) == [0, 1, 2, 3, 4]
    assert known_sets(PRIORS, 5, seed=3, margin=0.1).equals(sets)


@pytest.mark.parametrize(("target", "truth", "relation", "value"), [
    (_target("eq", "count", value=11.0), 7.0, "eq", 7.0),                    # a point: the synthetic value
    (_target("eq", "pattern", value=2003.0, statistic="first_year"), 2006.0, "eq", 2006.0),
    (_target("ge", "count", value=200.0, tolerance=20.0, variable="delegations"), 150.0, "eq", 150.0),  # a quantity
    (_target("le", "trend", value=0.0, tolerance=10.0, statistic="pct_change"), 35.0, "eq", 35.0),
    (_target("ge", "event", value=1.0), 3.0, "ge", 1.0),                     # it happened: the statement stays
    (_target("ge", "event", value=1.0), 0.0, "le", 0.0),                     # it did not: "none"
    (_target("ge", "pattern", value=2.0, variable="china_arms_deal_failed"), 1.0, "le", 1.0),
    (_target("le", "pattern", value=10.0, tolerance=2.5, statistic="pct_of_lac_imports"), 14.0, "ge", 10.0),
    (_target("between", "pattern", low=5.0, high=7.0, tolerance=1.0, statistic="years_any"), 3.0, "le", 3.0),
    (_target("between", "pattern", low=5.0, high=7.0, tolerance=1.0, statistic="years_any"), 9.0, "ge", 9.0),
    (_target("between", "pattern", low=2000.0, high=2009.0, statistic="first_year"), 2010.0, "ge", 2010.0),
    (_target("between", "pattern", low=5.0, high=7.0, tolerance=1.0, statistic="years_any"), 8.0, "between", np.nan),
])
def test_synthetic_targets_state_the_synthetic_record(target, truth, relation, value):
    synthetic = synthetic_target(target, truth)
    assert synthetic.relation == relation and synthetic.tolerance == target.tolerance and synthetic.kind == target.kind
    assert synthetic.value == pytest.approx(value, nan_ok=True)
    # The synthetic record hits its own target; for a yes/no statement, a draw hits exactly when it agrees with it.
    assert target_losses([synthetic], np.array([[truth]]))[0, 0] == 0.0
    if target.kind in ("event", "pattern") and target.relation != "eq":
        # Shares are continuous: their complement shares the boundary point, so the grid steps around it.
        draws = np.arange(-5.0, 2020.0)[:, None] + (0.0 if whole_valued(target) else 0.5)
        agree = (target_losses([target], draws) == 0) == (target_losses([target], np.array([[truth]]))[0, 0] == 0)
        if target.relation == "between" and relation != "between":
            # A missed range's complement is stated on the truth's side only.
            agree &= draws <= target.low if relation == "le" else draws >= target.high
        assert np.array_equal(target_losses([synthetic], draws) == 0, agree)


def test_a_synthetic_record_has_distance_zero_to_the_run_it_came_from(params, data):
    from model.drivers import build_drivers, load_default_drivers

    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    targets = compile_targets(load_observations(), drivers.years, data)
    problem = Problem(params, data, drivers, targets, seeds=1, root_seed=11, weights=Weights(), priors=PRIORS)
    truth = known_sets(PRIORS, 1, seed=1, margin=0.1).iloc[0].to_dict()
    stats, sipri = synthetic_record(problem, truth, seed=11)
    synthetic = synthetic_problem(problem, stats, sipri)
    # The same particle under the same root seed is the same run: distance exactly 0.
    again = problem.simulate(truth)
    assert synthetic.distance(again, synthetic.observed()) == 0.0
    assert len(synthetic.targets) == len(targets) and synthetic.sipri_obs.shape == problem.sipri_obs.shape
    assert not np.array_equal(synthetic.sipri_obs, problem.sipri_obs)  # the record, not SIPRI's data
    other = problem.simulate({**truth, "delegations.log_rate": -1.5, "forums.intercept": 0.8})
    assert synthetic.distance(other, synthetic.observed()) > 0.0
    # Fresh realisations of the truth: other seeds, so the record's noise shows as a positive distance.
    floor = truth_distances(synthetic, truth, seed=11, runs=3)
    assert floor.shape == (3,) and (floor > 0).all() and len(set(floor)) == 3


def test_coverage_table_by_hand():
    priors = [Prior(name="a.x", dist="uniform", low=0.0, high=10.0, why="t"),
              Prior(name="b.y", dist="uniform", low=0.0, high=1.0, why="t")]
    truths = pd.DataFrame({"a.x": [5.0, 2.0], "b.y": [0.5, 0.5]})
    # Set 0: x narrow around 5 (holds 5), y as wide as the prior; set 1: x narrow around 5 (misses 2).
    grid = np.linspace(0.0, 1.0, 101)
    post = pd.DataFrame({"weight": np.full(101, 1 / 101), "a.x": 4.0 + 2.0 * grid, "b.y": grid})
    table = recovery_table(priors, truths, [post, post])
    assert len(table) == 4 and list(table.columns) == ["set", "parameter", "true", "posterior_median", "posterior_q05",
                                                       "posterior_q95", "inside_90", "width_share", "truth_quantile"]
    # The truths' places on their priors' CDF: x = 5 and 2 of U(0, 10), y = 0.5 of U(0, 1).
    assert table.truth_quantile.tolist() == pytest.approx([0.5, 0.5, 0.2, 0.5])
    x = table[table.parameter == "a.x"].set_index("set")
    assert x.inside_90.tolist() == [True, False]
    assert x.posterior_median.iloc[0] == pytest.approx(5.0) and x.posterior_q05.iloc[0] == pytest.approx(4.1, abs=0.02)
    # On the prior's CDF scale: the uniform's 90% interval is 9 wide, the posterior's 1.8.
    assert x.width_share.iloc[0] == pytest.approx(1.8 / 9.0, abs=0.01)
    summary = coverage(table).set_index("parameter")
    assert summary.loc["a.x", "inside"] == 1 and summary.loc["a.x", "coverage"] == 0.5
    # Narrowed in both sets: identified; one of two inside is within the binomial band for two sets (1-2).
    assert summary.loc["a.x", "narrowed_sets"] == 1.0 and summary.loc["a.x", "identified"]
    assert summary.loc["a.x", "recovered"]
    assert not summary.loc["b.y", "identified"] and not summary.loc["b.y", "recovered"]
    # Ten sets, eight narrowed (80%): identified; nine narrowed of ten but the truth inside in 6: not recovered.
    ten = pd.DataFrame({"set": range(10), "parameter": "c.z", "inside_90": [True] * 6 + [False] * 4,
                        "width_share": [0.3] * 8 + [0.9] * 2})
    row = coverage(ten).iloc[0]
    assert row.identified and row.narrowed_sets == 0.8 and not row.recovered and binomial_band(10) == (7, 10)
    assert not coverage(ten.assign(width_share=[0.3] * 7 + [0.9] * 3)).iloc[0].identified


def test_edge_coverage_splits_the_cases_by_where_the_truth_lies():
    """Truths at the prior's CDF 0.05, 0.5, 0.95 and 0.1 (the inner 80% includes its ends): inner and outer counts."""
    table = pd.DataFrame({"truth_quantile": [0.05, 0.5, 0.95, 0.1, 0.9, 0.97],
                          "inside_90": [False, True, True, True, False, False]})
    assert edge_coverage(table) == {"inner": 3, "inner_inside": 2, "outer": 3, "outer_inside": 1}


def test_width_share_is_measured_on_the_priors_scale():
    """A normal prior: the share is the posterior interval's prior probability over 0.9, not a ratio of units."""
    priors = [Prior(name="k", dist="normal", mean=0.0, sd=1.0, low=-5.0, high=5.0, why="t")]
    post = pd.DataFrame({"weight": np.full(101, 1 / 101), "k": np.linspace(0.0, 2.0, 101)})
    share = recovery_table(priors, pd.DataFrame({"k": [1.0]}), [post]).width_share.iloc[0]
    lo, hi = 0.1, 1.9
    from scipy.stats import norm
    assert share == pytest.approx((norm.cdf(hi) - norm.cdf(lo)) / 0.9, abs=0.01)


@pytest.mark.parametrize(("cfg", "key"), [
    ({"sets": 0, "seed": 1, "margin": 0.1, "population_size": 100, "generations": 2}, "recovery.sets"),
    ({"sets": 5, "seed": 1, "margin": 0.5, "population_size": 100, "generations": 2}, "recovery.margin"),
    ({"sets": 5, "seed": 1, "margin": 0.1, "population_size": 100}, "recovery.generations"),
    ({"sets": 5, "seed": 1, "margin": 0.1, "population_size": 100, "generations": 2, "x": 1}, "recovery.x"),
])
def test_bad_recovery_settings_give_one_line_errors(cfg, key):
    with pytest.raises(ConfigError) as info:
        parse_recovery(cfg)
    assert str(info.value).startswith(key) and "\n" not in str(info.value)


@pytest.mark.slow
def test_tiny_recovery_writes_one_row_per_set_and_parameter_and_resumes(tmp_path):
    """Two known sets on the tiny priors, 20 particles, two generations; a rerun reuses the finished fits."""
    args = [sys.executable, "-m", "calibration.recovery", f"out_dir={tmp_path}", "calibration=tiny",
            "recovery.sets=2", "recovery.population_size=20", "recovery.generations=2"]
    first = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.startswith("recovery: 2 sets x 4 parameters")
    table = pd.read_csv(tmp_path / "recovery.csv")
    assert len(table) == 2 * 4 and sorted(table.set.unique()) == [0, 1]
    assert table.groupby("set").parameter.nunique().eq(4).all() and table.inside_90.dtype == bool
    report = (tmp_path / "recovery.md").read_text()
    assert "# Parameter recovery" in report
    edges = edge_coverage(table)
    assert edges["inner"] + edges["outer"] == len(table)
    assert (f"inside in {edges['inner_inside']} of {edges['inner']} cases with the truth in the prior's inner 80%, "
            f"and in {edges['outer_inside']} of {edges['outer']} with it in the outer tenths") in report
    record = json.loads((tmp_path / "manifest.json").read_text())
    assert [f["generations"] for f in record["recovery"]["fits"]] == [2, 2]
    assert all(0 < f["truth_distance_median"] < np.inf for f in record["recovery"]["fits"])
    for k in (0, 1):
        assert (tmp_path / f"set_{k}" / "posterior.parquet").is_file()
        assert json.loads((tmp_path / f"set_{k}" / "truth.json").read_text())["parameters"] == table[table.set == k] \
            .set_index("parameter").true.to_dict()
    second = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and "fit: generation" not in second.stderr
    assert pd.read_csv(tmp_path / "recovery.csv").equals(table)
    other = subprocess.run(args + ["recovery.seed=1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and other.stderr.startswith("error: out_dir:") and other.stderr.count("\n") == 1
    assert "another synthetic record" in other.stderr


@pytest.mark.slow
def test_tiny_recovery_runs_on_a_dask_cluster(tmp_path):
    """The same harness with its fits' particles evaluated by a Dask scheduler's workers
    (calibration.dask_scheduler)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        run = subprocess.run([sys.executable, "-m", "calibration.recovery", f"out_dir={tmp_path}", "calibration=tiny",
                              "recovery.sets=1", "recovery.population_size=20", "recovery.generations=2",
                              f"calibration.dask_scheduler={cluster.scheduler_address}"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("recovery: 1 sets x 4 parameters")
    record = json.loads((tmp_path / "set_0" / "manifest.json").read_text())
    assert record["config"]["calibration"]["dask_scheduler"] == cluster.scheduler_address
    assert len(pd.read_csv(tmp_path / "recovery.csv")) == 4


def test_a_pilot_refused_by_the_distance_leaves_no_set_behind(tmp_path, monkeypatch, capsys):
    """The projection's refusal of a pilot (no summary reads a parameter) comes at a set's pilot: the set's truth is
    written only after it, so the refusal leaves the output folder empty."""
    from hydra import compose, initialize_config_dir

    from calibration import recovery

    def refuse(*args, **kwargs):
        raise ConfigError("calibration.pilot_draws: 300 draws read no parameter from the record")

    monkeypatch.setattr(recovery, "weigh", refuse)
    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose("recovery", overrides=[f"out_dir={tmp_path / 'out'}", "calibration=tiny", "recovery.sets=2",
                                             "recovery.population_size=20", "recovery.generations=2"])
    with pytest.raises(SystemExit) as info:
        recovery.command(cfg)
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: calibration.pilot_draws: 300 draws read no parameter")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
