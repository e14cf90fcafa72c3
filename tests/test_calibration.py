"""Calibration pieces: priors, targets (statistics by hand), per-particle seeds, and a tiny resumable fit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from calibration.objective import distance, target_losses
from calibration.observations import FROZEN_TARGETS_PATH, load_observations
from calibration.priors import parse_priors
from calibration.problem import Problem, particle_seed
from calibration.targets import Target, compile_targets, statistic
from model.data import ISO3, SUBREGIONS
from model.params import ConfigError, parameter_table
from model.schema import STATE_SLOTS, STATE_VARIABLES, Partner

ROOT = Path(__file__).resolve().parent.parent
PRIORS = yaml.safe_load((ROOT / "configs" / "calibration" / "default.yaml").read_text())["priors"]
WIDE = yaml.safe_load((ROOT / "configs" / "calibration" / "wide.yaml").read_text())["priors"]


@pytest.mark.parametrize("config", [PRIORS, WIDE], ids=["default", "wide"])
def test_shipped_priors_parse_and_lie_in_the_allowed_ranges(config):
    priors = parse_priors(config)
    ranges = {r["name"]: (r["low"], r["high"]) for r in parameter_table()}
    assert len(priors) >= 15
    for p in priors:
        lo, hi = ranges[p.name.rsplit(".", 1)[0] if p.name.count(".") == 2 else p.name]
        assert lo <= p.low < p.high <= hi and p.why
    kappa = next(p for p in priors if p.name == "relations.kappa")
    assert kappa.dist == "normal" and kappa.mean == 0.0 and kappa.frozen().std() < 0.06


@pytest.mark.parametrize(("edit", "key"), [
    ({"arms": {"beta_lockin": {"dist": "uniform", "low": 3, "high": 1, "why": "x"}}},
     "calibration.priors.arms.beta_lockin"),
    ({"arms": {"nothing": {"dist": "uniform", "low": 0, "high": 1, "why": "x"}}}, "calibration.priors.arms.nothing"),
    ({"nothing": {"x": {"dist": "uniform", "low": 0, "high": 1, "why": "x"}}}, "calibration.priors.nothing.x"),
    ({"arms": {"beta_lockin": {"dist": "gamma", "low": 0, "high": 1, "why": "x"}}},
     "calibration.priors.arms.beta_lockin.dist"),
    ({"arms": {"beta_lockin": {"dist": "uniform", "low": 0, "high": 99, "why": "x"}}},
     "calibration.priors.arms.beta_lockin"),
    ({"arms": {"beta_lockin": {"dist": "uniform", "low": 0, "high": 1}}}, "calibration.priors.arms.beta_lockin.why"),
    ({"arms": {"beta_lockin": {"dist": "uniform", "low": "a", "high": 1, "why": "x"}}},
     "calibration.priors.arms.beta_lockin.low"),
    ({"relations": {"kappa": {"dist": "normal", "mean": 0, "sd": 0, "low": -1, "high": 1, "why": "x"}}},
     "calibration.priors.relations.kappa.sd"),
    ({"delegations": {"onset_year": {"dist": "uniform", "low": 2000, "high": 2005, "why": "x"}}},
     "calibration.priors.delegations.onset_year"),
    ({"arms": {"supplier_constant": {"9": {"dist": "uniform", "low": 0, "high": 1, "why": "x"}}}},
     "calibration.priors.arms.supplier_constant.9"),
    ({"arms": {"beta_lockin": {"dist": "uniform", "low": 0, "high": 1, "why": "x", "extra": 1}}},
     "calibration.priors.arms.beta_lockin.extra"),
])
def test_bad_priors_give_one_line_errors_naming_the_key(edit, key):
    with pytest.raises(ConfigError) as info:
        parse_priors(edit)
    assert "\n" not in str(info.value) and str(info.value).startswith(key)


def _target(statistic: str, states: list[str], years: tuple[int, int], variable: str = "exercise",
            threshold: float = 0.0, relation: str = "eq", value: float = 0.0) -> Target:
    all_years = np.arange(2000, 2010)
    return Target(id="t", statistic=statistic, threshold=threshold,
                  slots=np.array([i for i, v in enumerate(STATE_VARIABLES) if v.name == variable]), region_slot=-1,
                  states=np.array([ISO3.index(c) for c in states]) if states != ["LAC"] else np.arange(len(ISO3)),
                  t0=years[0] - 2000, t1=years[1] - 2000, years=all_years, relation=relation, value=value,
                  low=np.nan, high=np.nan, tolerance=0.0, kind="count")


@pytest.fixture(scope="module")
def record(data):
    """A hand-made record over 2000-2009: exercises with PER in 2002 and 2004 (value 2 in 2004), VEN in 2004."""
    states = np.zeros((10, len(ISO3), len(STATE_VARIABLES)))
    ex = STATE_SLOTS[("exercise", Partner.CHN)]
    states[2, ISO3.index("PER"), ex] = 1
    states[4, ISO3.index("PER"), ex] = 2
    states[4, ISO3.index("VEN"), ex] = 1
    # Imports: USA 30 to BRA, CHN 10 to VEN in 2005; 60 RUS to MEX in 2006.
    states[5, ISO3.index("BRA"), STATE_SLOTS[("arms_imports_tiv", Partner.USA)]] = 30
    states[5, ISO3.index("VEN"), STATE_SLOTS[("arms_imports_tiv", Partner.CHN)]] = 10
    states[6, ISO3.index("MEX"), STATE_SLOTS[("arms_imports_tiv", Partner.RUS)]] = 60
    south_america = np.flatnonzero(data.country["subregion"] == SUBREGIONS.index("south_america"))
    return states, np.zeros((10, 5)), south_america


@pytest.mark.parametrize(("target", "expected"), [
    (_target("sum", ["LAC"], (2000, 2009)), 4.0),
    (_target("sum", ["PER"], (2003, 2004)), 2.0),
    (_target("states_any", ["LAC"], (2000, 2009)), 2.0),
    (_target("states_any", ["LAC"], (2000, 2009), threshold=2), 1.0),   # "@2": only Peru's 2004 value reaches 2
    (_target("states_by", ["LAC"], (2000, 2003)), 1.0),
    (_target("years_any", ["LAC"], (2000, 2009)), 2.0),
    (_target("first_year", ["LAC"], (2000, 2009)), 2002.0),
    (_target("last_year", ["LAC"], (2000, 2009)), 2004.0),
    (_target("first_year", ["BRA"], (2000, 2009)), 2010.0),             # never: one year past the window
    (_target("peak_year", ["LAC"], (2000, 2009)), 2004.0),
    (_target("top_states", ["PER"], (2000, 2009)), 1.0),
    (_target("top_states", ["VEN"], (2000, 2009)), 0.0),
    (_target("top_states", ["PER", "VEN"], (2000, 2009)), 1.0),
    (_target("pct_change", ["LAC"], (2002, 2005)), 100.0 * (2 + 1) / 1 - 100.0),  # 2002-03: 1, 2004-05: 3
    (_target("pct_of_lac_imports", ["VEN"], (2005, 2006), "arms_imports_tiv"), 10.0),  # 10 of 100
    (_target("pct_of_south_america_imports", ["BRA"], (2005, 2006), "arms_imports_tiv"), 75.0),  # 30 of BRA+VEN 40
])
def test_statistics_by_hand(record, target, expected):
    states, region, south_america = record
    assert statistic(target, states[None], region[None], south_america)[0] == pytest.approx(expected)


def test_compile_targets_deflates_money_and_cuts_the_hindcast(data):
    observations = load_observations()
    years = np.arange(2000, 2024)
    full = compile_targets(observations, years, data)
    assert len(full) == (observations.use == "fit").sum()
    aid = next(t for t in full if t.id == "aid_per_2017")
    assert aid.value == pytest.approx(18.0 * data.us_deflator.loc[2017])
    early = compile_targets(observations, years, data, last_year=2015)
    assert 0 < len(early) < len(full)
    ends = observations.set_index("id").year_end
    assert all(ends[t.id] <= 2015 for t in early)


def test_pyabc_prior_is_the_stated_prior():
    from calibration.priors import distribution

    priors = parse_priors(PRIORS)
    prior = distribution(priors)
    lockin = next(p for p in priors if p.name == "arms.beta_lockin")
    kappa = next(p for p in priors if p.name == "relations.kappa")
    inside = {p.name: (p.low + p.high) / 2 if p.dist == "uniform" else p.mean for p in priors}
    expected = np.prod([1 / (p.high - p.low) if p.dist == "uniform" else p.frozen().pdf(p.mean) for p in priors])
    assert prior.pdf(inside) == pytest.approx(expected)
    assert prior.pdf({**inside, lockin.name: lockin.high + 0.1}) == 0.0
    assert prior.pdf({**inside, kappa.name: kappa.high + 0.01}) == 0.0


def test_blocks_cover_every_prior_once_and_bad_blocks_are_named():
    from calibration.priors import parse_blocks, transition

    priors = parse_priors(PRIORS)
    blocks = parse_blocks(yaml.safe_load((ROOT / "configs" / "calibration" / "default.yaml").read_text())["blocks"],
                          priors)
    flat = [n for b in blocks for n in b]
    assert sorted(flat) == sorted(p.name for p in priors)
    assert ("forums.intercept", "forums.peer") in blocks and ("delegations.log_rate",) in blocks
    assert transition(blocks, priors).blocks == blocks
    for bad, says in [([["arms.nothing"]], "'arms.nothing' is not a calibrated parameter"),
                      ([["forums.peer"], ["forums.peer"]], "'forums.peer' is in two blocks"),
                      ("forums.peer", "allowed: a list of non-empty lists"),
                      ([[]], "allowed: a list of non-empty lists")]:
        with pytest.raises(ConfigError, match=says) as info:
            parse_blocks(bad, priors)
        assert str(info.value).startswith("calibration.blocks: ") and "\n" not in str(info.value)


def test_block_kernel_is_pyabcs_kernel_density_per_block():
    """The fast kernel has the density of pyabc's own per-block MultivariateNormalTransition, and stays in the box."""
    import pyabc

    from calibration.priors import parse_blocks, transition

    priors = parse_priors(PRIORS)
    blocks = parse_blocks([["forums.intercept", "forums.peer"], ["arms.beta_lockin", "arms.beta_alignment"]], priors)
    rng = np.random.default_rng(5)
    X = pd.DataFrame({p.name: p.frozen().rvs(size=200, random_state=rng) for p in priors})
    w = rng.random(200)
    ours = transition(blocks, priors)
    ours.fit(X, w)
    theirs = pyabc.AggregatedTransition({b: pyabc.MultivariateNormalTransition() for b in blocks})
    theirs.fit(X, w)
    points = X.iloc[:5] + 0.01
    assert ours.pdf(points) == pytest.approx(theirs.pdf(points), rel=1e-9)
    assert ours.pdf(points.iloc[0]) == pytest.approx(float(theirs.pdf(points.iloc[0])), rel=1e-9)
    # kernel_scale multiplies the bandwidth: pyabc's scaling multiplies the covariance, by its square.
    wide = transition(blocks, priors, 1.5)
    wide.fit(X, w)
    theirs_wide = pyabc.AggregatedTransition({b: pyabc.MultivariateNormalTransition(scaling=2.25) for b in blocks})
    theirs_wide.fit(X, w)
    assert wide.pdf(points) == pytest.approx(theirs_wide.pdf(points), rel=1e-9)
    np.random.seed(0)
    draws = pd.DataFrame([dict(ours.rvs_single()) for _ in range(500)])
    for p in priors:
        assert draws[p.name].between(p.low, p.high).all()
    assert draws["forums.peer"].std() > 0.1
    # The same law as the kernel's definition, drawn one vector at a time: each block from a parent drawn by weight
    # plus the block's noise (its covariance is pyabc's, as the densities above show), redrawn until inside the box.
    # On a population near one edge of the box, so that both the bandwidth and the truncation show in the marginals.
    from scipy.stats import ks_2samp

    rng = np.random.default_rng(1)
    X = pd.DataFrame({p.name: p.low + (p.high - p.low) * rng.beta(2, 12, size=200) for p in priors})
    ours.fit(X, w)
    np.random.seed(0)
    draws = pd.DataFrame([dict(ours.rvs_single()) for _ in range(1000)])
    lo, hi = np.array([p.low for p in priors]), np.array([p.high for p in priors])
    cdf, values = np.cumsum(w) / w.sum(), X.to_numpy()
    reference = []
    while len(reference) < 1000:
        x = np.empty(len(priors))
        for idx, chol, _, _ in ours._parts:
            x[idx] = values[np.searchsorted(cdf, rng.random()), idx] + chol @ rng.standard_normal(len(idx))
        if np.all((x >= lo) & (x <= hi)):
            reference.append(x)
    reference = pd.DataFrame(reference, columns=X.columns)
    assert min(ks_2samp(draws[p.name], reference[p.name]).pvalue for p in priors) > 0.01 / len(priors)


def test_particle_seed_is_stable_and_distinct():
    a = {"arms.beta_lockin": 1.5, "china.boldness_base": 0.3}
    assert particle_seed(1, a) == particle_seed(1, dict(reversed(list(a.items()))))
    assert particle_seed(1, a) != particle_seed(2, a) != particle_seed(1, {**a, "arms.beta_lockin": 1.50001})
    assert 0 <= particle_seed(1, a) < 2**63


def test_problem_is_reproducible_per_particle(params, data):
    from model.drivers import build_drivers, load_default_drivers

    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    targets = compile_targets(load_observations(), drivers.years, data)
    from calibration.objective import Weights

    priors = parse_priors(PRIORS)
    problem = Problem(params, data, drivers, targets, seeds=2, root_seed=5, weights=Weights(), priors=priors)
    particle = {p.name: p.low + 0.3 * (p.high - p.low) for p in priors}  # inside every prior's range
    a, b = problem.simulate(particle), problem.simulate(particle)
    assert np.array_equal(a["stats"], b["stats"]) and a["stats"].shape == (2, len(targets))
    assert np.isfinite(problem.distance(a, problem.observed()))
    assert distance(targets, a["stats"]) >= 0


def test_information_weights_on_the_record(params, data):
    from calibration.objective import Weights
    from calibration.weights import weigh
    from model.drivers import build_drivers, load_default_drivers

    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    targets = compile_targets(load_observations(), drivers.years, data)
    priors = parse_priors(PRIORS)
    problem = Problem(params, data, drivers, targets, seeds=2, root_seed=5, weights=Weights(), priors=priors)
    weighted = weigh(problem, draws=24, seeds=2, root_seed=3)
    table = weighted.weight_table.set_index("component")
    assert list(table.index) == [t.id for t in targets] + problem.sipri_ids()
    assert len(weighted.weights.components) == len(table) and table.share.sum() == pytest.approx(1.0)
    # A tour visits Venezuela in every run: its loss never varies, so it carries no weight (the 2003 tour's row, which
    # held by construction, is context since docs/ODD.md §10.32); visits vary with the base rate.
    assert table.loc["del_tour_ven", "weight"] == 0.0
    assert table.loc["del_visits_2000_2022", "icc"] > 0.5 and table.loc["del_visits_2000_2022", "weight"] > 0
    # Same pilot, same weights; and the distance is the weighted mean of the components' mean losses.
    assert weigh(problem, draws=24, seeds=2, root_seed=3).weights == weighted.weights
    x = problem.simulate({p.name: p.frozen().mean() for p in priors})
    w = np.asarray(weighted.weights.components)
    assert weighted.distance(x, {}) == pytest.approx(weighted.components(x).mean(axis=0) @ w / w.sum())
    assert weigh(problem, draws=0, seeds=2, root_seed=3).weights == Weights()


def test_a_particles_statistics_are_each_seeds_own(params, data):
    # The particle's seeds run and are evaluated as one batch; each seed's row equals its run evaluated alone.
    from calibration.objective import Weights
    from calibration.targets import evaluate, sipri_blocks
    from model.drivers import build_drivers, load_default_drivers
    from model.params import with_overrides
    from model.run import simulate

    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    targets = compile_targets(load_observations(), drivers.years, data)
    priors = parse_priors(PRIORS)
    problem = Problem(params, data, drivers, targets, seeds=5, root_seed=5, weights=Weights(), priors=priors)
    particle = {p.name: p.frozen().ppf(0.3) for p in priors}
    x = problem.simulate(particle)
    for seed in range(5):
        run = simulate(with_overrides(params, particle), data, drivers, x["root_seed"], seed=seed)
        assert np.array_equal(x["stats"][seed], evaluate(targets, run.states, run.region, data))
        sipri = np.concatenate([b.ravel() for b in sipri_blocks(run.states, run.years)])[problem.sipri_keep]
        assert np.array_equal(x["sipri"][seed], sipri)


def test_score_units_from_the_prior_predictive(params, data):
    from calibration.objective import SIPRI_LOG_SCALE, Weights, rule, score_components
    from calibration.weights import SCORE_FLOOR, weigh
    from model.drivers import build_drivers, load_default_drivers

    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    targets = compile_targets(load_observations(), drivers.years, data)
    priors = parse_priors(PRIORS)
    problem = Problem(params, data, drivers, targets, seeds=4, root_seed=5, weights=Weights(kind="score"),
                      priors=priors)
    weighted = weigh(problem, draws=12, seeds=2, root_seed=3)
    table = weighted.weight_table.set_index("component")
    assert list(table.index) == [t.id for t in targets] + problem.sipri_ids()
    # Brier rows weigh 1; a CRPS row one over the prior's score, floored; a row the prior never misses weighs 0.
    brier = table.part == "brier"
    assert (table.weight[brier] == 1.0).all()
    crps = table[~brier]
    floor = np.array([SCORE_FLOOR * max(t.tolerance, 1.0) for t in targets if rule(t) == "crps"]
                     + [SCORE_FLOOR * SIPRI_LOG_SCALE] * int(problem.sipri_keep.sum()))
    expected = np.where(crps.prior_score > 0, 1.0 / np.maximum(crps.prior_score, floor), 0.0)
    assert np.allclose(crps.weight, expected) and (crps.weight > 0).any() and (crps.weight == 0).any()
    # The distance is the weighted mean relative score over the rows that count, per particle.
    x = weighted.simulate({p.name: p.frozen().mean() for p in priors})
    w = np.asarray(weighted.weights.components)
    scores = score_components(targets, x["stats"], x["sipri"], problem.sipri_obs)
    assert weighted.distance(x, {}) == pytest.approx(scores @ w / np.count_nonzero(w))


def test_a_history_broken_off_at_its_start_counts_as_no_generation(tmp_path, monkeypatch):
    """pyabc creates a fit's history before it stores the observed data; a fit stopped in between (measured: the
    harness's working folder removed under it, so pyabc's git lookup failed) leaves a history whose ``n_populations``
    fails, and the fit, the harness and the diagnostics must read it as no generation, not crash on it."""
    import pyabc

    from calibration.fit import stored_generations

    db = tmp_path / "history.db"
    assert stored_generations(db) == 0
    abc = pyabc.ABCSMC(lambda p: {"x": p["a"]}, pyabc.Distribution(a=pyabc.RV("uniform", 0, 1)),
                       lambda x, y: abs(x["x"] - y["x"]), population_size=5)

    def lost(*_):
        raise FileNotFoundError("the working folder is gone")

    with monkeypatch.context() as m:
        m.setattr(pyabc.storage.history, "git_hash", lost)
        with pytest.raises(FileNotFoundError):
            abc.new(f"sqlite:///{db}", {"x": 0.5})
    with pytest.raises(TypeError):
        _ = pyabc.History(f"sqlite:///{db}").n_populations
    assert stored_generations(db) == 0
    db.unlink()
    abc.new(f"sqlite:///{db}", {"x": 0.5})
    abc.run(max_nr_populations=2)
    assert stored_generations(db) == 2


@pytest.mark.slow
def test_tiny_fit_runs_writes_a_posterior_and_resumes(tmp_path):
    """The whole path: a tiny ABC-SMC (configs/calibration/tiny.yaml), then a rerun continuing to a third generation."""
    base = [sys.executable, "-m", "calibration.fit", f"out_dir={tmp_path}", "calibration=tiny"]
    first = subprocess.run(base + ["calibration.min_generations=2", "calibration.max_generations=2"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    posterior = pd.read_parquet(tmp_path / "posterior.parquet")
    assert len(posterior) == 20 and posterior.weight.sum() == pytest.approx(1.0)
    assert "relations.kappa" in posterior.columns
    second = subprocess.run(base + ["calibration.min_generations=3", "calibration.max_generations=3"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resuming" in second.stderr and "generation 3:" in second.stderr
    # Another fit (other pilot, so other weights) in the same folder is refused and leaves the folder as it was.
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    other = subprocess.run(base + ["calibration.pilot_draws=12"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    last = other.stderr.strip().splitlines()[-1]  # after the pilot's progress line
    assert other.returncode == 2 and other.stderr.count("error:") == 1
    assert last.startswith("error: out_dir:") and "holds a fit with other" in last
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before

    record = json.loads((tmp_path / "manifest.json").read_text())
    assert record["fit"]["generations"] == 3 and "observations.csv" in record["data_hashes"]
    assert 0 < record["fit"]["ess_raw"] <= record["fit"]["ess"] <= 20 and record["fit"]["particles_capped"] >= 0

    # The posterior predictive and the check report on that posterior.
    common = [f"out_dir={tmp_path}", "calibration=tiny", f"posterior={tmp_path / 'posterior.parquet'}", "draws=3"]
    pred = subprocess.run([sys.executable, "-m", "calibration.predictive", *common], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert pred.returncode == 0, pred.stderr[-2000:]
    frame = pd.read_parquet(tmp_path / "posterior_predictive.parquet")
    assert set(frame.draw) == {0, 1, 2} and frame.param_source.iloc[0].startswith("posterior:")
    assert frame.year.max() == 2023
    report = subprocess.run([sys.executable, "-m", "calibration.report", *common], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-2000:]
    table = pd.read_csv(tmp_path / "ppc.csv")
    fit_rows = json.loads(FROZEN_TARGETS_PATH.read_text(encoding="utf-8"))["rows"]  # every fit row, as frozen
    assert len(table) == fit_rows and table.hit.dtype == bool and table.reachable.dtype == bool
    assert table.oracle.between(0, 1).all() and "the oracle" in report.stdout

    diag = subprocess.run([sys.executable, "-m", "calibration.diagnostics", f"out_dir={tmp_path}", "calibration=tiny"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert diag.returncode == 0, diag.stderr[-2000:]
    gens = pd.read_csv(tmp_path / "generations.csv")
    assert gens.generation.tolist() == [1, 2, 3] and (gens.ess > 0).all()
    assert len(pd.read_csv(tmp_path / "prior_driven.csv")) == 4
    assert "truncated at the mean weight times sqrt(N)" in (tmp_path / "diagnostics.md").read_text()
    assert "## Separability" in (tmp_path / "diagnostics.md").read_text()
    assert len(pd.read_csv(tmp_path / "separability_pairs.csv")) == 6  # 4 parameters
    assert len(pd.read_csv(tmp_path / "separability_directions.csv")) == 4
    for name in ("generations.png", "marginals.png", "pairs.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_a_missing_posterior_is_a_one_line_error(tmp_path):
    out = subprocess.run([sys.executable, "-m", "calibration.predictive", f"out_dir={tmp_path}",
                          f"posterior={tmp_path / 'none.parquet'}"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error: posterior:")
    assert not any(tmp_path.iterdir())


def test_check_table_hits_by_hand():
    from calibration.check import check_table

    count = Target(id="c", statistic="sum", threshold=0.0, slots=np.array([0]), region_slot=-1, states=np.array([0]),
                   t0=0, t1=0, years=np.array([2000]), relation="eq", value=10.0, low=np.nan, high=np.nan,
                   tolerance=0.0, kind="count")
    event = Target(id="e", statistic="sum", threshold=0.0, slots=np.array([0]), region_slot=-1, states=np.array([0]),
                   t0=0, t1=0, years=np.array([2000]), relation="ge", value=1.0, low=np.nan, high=np.nan,
                   tolerance=0.0, kind="event")
    posterior = np.column_stack([np.linspace(8, 12, 101), (np.arange(101) < 70).astype(float)])
    prior = np.column_stack([np.linspace(0, 40, 101), np.zeros(101)])
    table = check_table([count, event], posterior, prior).set_index("id")
    # The count's 90% interval (8.2, 11.8) holds 10 and is narrower than half the prior's (2, 38).
    assert table.loc["c", "hit"] and table.loc["c", "q05"] == pytest.approx(8.2)
    # The event happens in 70 of 101 draws: probability 0.69, a hit, Brier (1 - 0.69)^2.
    assert table.loc["e", "probability"] == pytest.approx(70 / 101)
    assert table.loc["e", "hit"] and table.loc["e", "brier"] == pytest.approx((1 - 70 / 101) ** 2)
    wide = check_table([count], np.column_stack([np.linspace(0, 40, 101)]), prior[:, :1])
    assert not wide.hit.iloc[0]  # an interval as wide as the prior's says nothing


def test_reachability_is_the_best_draws_share_of_seeds_within_tolerance():
    from calibration.check import reachability

    event = Target(id="e", statistic="sum", threshold=0.0, slots=np.array([0]), region_slot=-1, states=np.array([0]),
                   t0=0, t1=0, years=np.array([2000]), relation="ge", value=1.0, low=np.nan, high=np.nan,
                   tolerance=0.0, kind="event")
    # Three draws x four seeds: the event happens in 0, 1 and 3 of their seeds.
    sweep = np.array([[0, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 1]], dtype=float)[:, :, None]
    best, reached = reachability([event], sweep)
    assert best[0] == pytest.approx(0.75) and reached[0]
    best, reached = reachability([event], sweep[:2])
    assert best[0] == pytest.approx(0.25) and not reached[0]
    # A count of exactly 10: never hit in half the seeds, but inside the span 8-12 of one draw's seeds.
    count = Target(id="c", statistic="sum", threshold=0.0, slots=np.array([0]), region_slot=-1, states=np.array([0]),
                   t0=0, t1=0, years=np.array([2000]), relation="eq", value=10.0, low=np.nan, high=np.nan,
                   tolerance=0.0, kind="count")
    counts = np.array([[1, 2, 3, 4], [8, 12, 9, 11]], dtype=float)[:, :, None]
    best, reached = reachability([count], counts)
    assert best[0] == 0.0 and reached[0]
    assert not reachability([count], counts[:1])[1][0]


def _one_target(relation: str, kind: str, value: float, variable: str = "delegations",
                statistic: str = "sum") -> Target:
    return Target(id="t", statistic=statistic, threshold=0.0,
                  slots=np.array([i for i, v in enumerate(STATE_VARIABLES) if v.name == variable]), region_slot=-1,
                  states=np.array([0]), t0=0, t1=0, years=np.array([2000]), relation=relation, value=value,
                  low=np.nan, high=np.nan, tolerance=0.0, kind=kind)


@pytest.mark.parametrize(("target", "truth", "relation", "value"), [
    (_one_target("eq", "count", 11.0), 7.0, "eq", 7.0),              # a point statement takes the record's value
    (_one_target("ge", "count", 200.0), 250.0, "ge", 200.0),         # a bound that held is stated as it is
    (_one_target("ge", "count", 200.0), 150.0, "le", 199.0),         # one that did not: its complement (whole visits)
    (_one_target("le", "trend", 0.0, statistic="pct_change"), 35.0, "ge", 0.0),   # shares: no gap
    (_one_target("ge", "event", 1.0), 0.0, "le", 0.0),
])
def test_a_record_restates_each_statement_as_it_happened(target, truth, relation, value):
    from calibration.check import restated

    stated = restated(target, truth)
    assert (stated.relation, stated.value, stated.kind, stated.tolerance) == (relation, value, target.kind, 0.0)
    assert target_losses([stated], np.array([[truth]]))[0, 0] == 0.0


def test_the_oracle_checks_each_truth_against_its_own_record():
    from calibration.check import attainable

    event = _one_target("ge", "event", 1.0)
    count = _one_target("eq", "count", 50.0)
    runs = np.zeros((2, 101, 2))
    # Truth 0: its record has the event and a count of 10; its runs have the event in 70 of 100, counts 8-12.
    runs[0, 0] = (1.0, 10.0)
    runs[0, 1:, 0] = np.arange(100) < 70
    runs[0, 1:, 1] = np.linspace(8, 12, 100)
    # Truth 1: no event in its record (restated "none", which 30 of its 100 runs agree with), counts 0-40.
    runs[1, 0] = (0.0, 10.0)
    runs[1, 1:, 0] = np.arange(100) < 70
    runs[1, 1:, 1] = np.linspace(0, 40, 100)
    prior = np.column_stack([np.zeros(101), np.linspace(0, 40, 101)])
    hits, stated = attainable([event, count], runs, prior)
    # The count's interval (8.2, 11.8) holds 10 and is narrow; truth 1's is as wide as the prior's: no hit.
    assert hits.tolist() == [[True, True], [False, False]]
    # The article would report truth 1's event only had it happened; a count it gives whatever its value.
    assert stated.tolist() == [[True, True], [False, True]]


def test_posterior_draws_follow_the_weights():
    from calibration.check import posterior_draws

    post = pd.DataFrame({"weight": [0.9, 0.1], "arms.beta_lockin": [1.0, 2.0]})
    draws = posterior_draws(post, 2000, np.random.default_rng(0))
    assert np.mean([d["arms.beta_lockin"] == 1.0 for d in draws]) == pytest.approx(0.9, abs=0.03)


def test_a_posterior_fitted_to_other_data_warns(tmp_path, data, capsys):

    from common.posterior import warn_if_data_changed

    post = tmp_path / "posterior.parquet"
    post.write_bytes(b"")
    assert warn_if_data_changed(post, data.hashes) == []
    assert "no manifest.json" in capsys.readouterr().err
    recorded = dict(data.hashes, **{"countries.csv": "0" * 64})
    (tmp_path / "manifest.json").write_text(json.dumps({"data_hashes": recorded}))
    assert warn_if_data_changed(post, data.hashes) == ["countries.csv"]
    assert "countries.csv changed" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_text(json.dumps({"data_hashes": dict(data.hashes)}))
    assert warn_if_data_changed(post, data.hashes) == [] and capsys.readouterr().err == ""


def test_truncated_weights_by_hand():
    from calibration.fit import truncated_weights, truncation

    # Four weights, mean 2.5, cap 2.5 * sqrt(4) = 5: the 7 is cut to 5, the rest kept, then normalised over 8.
    assert truncated_weights(np.array([1.0, 1.0, 1.0, 7.0])) == pytest.approx(np.array([1, 1, 1, 5]) / 8)
    # Effective sample (sum w)^2 / sum w^2: 100 / 52 before, 64 / 28 after; one particle capped.
    assert truncation(np.array([1.0, 1.0, 1.0, 7.0])) == pytest.approx(
        {"ess_raw": 100 / 52, "ess": 64 / 28, "particles_capped": 1})
    # A heavy tail: every particle over the cap ends with the cap's share, and the weights keep their order.
    w = np.random.default_rng(3).pareto(1.2, 1000) + 1e-3
    cap = w.mean() * np.sqrt(1000)
    t = truncated_weights(w)
    assert (w > cap).sum() >= 1 and t.sum() == pytest.approx(1.0)
    assert t[w > cap] == pytest.approx(cap / np.minimum(w, cap).sum())
    assert np.all(np.diff(t[np.argsort(w)]) >= 0)
    assert truncated_weights(np.full(9, 0.5)) == pytest.approx(np.full(9, 1 / 9))  # nothing over the cap
    # Nothing capped: the effective sample is the same number before and after, to the last bit, whatever the scale of
    # the raw weights (a tiny fit's weights summed to one only up to rounding, and ess_raw came out 1 ulp above ess).
    raw = np.random.default_rng(3).uniform(0.5, 1.5, 20)
    raw = raw / raw.sum() * (1 + 2e-16)
    t = truncation(raw)
    assert t["particles_capped"] == 0 and t["ess_raw"] == t["ess"]


def test_separability_finds_a_duplicate_pair_and_its_narrow_combination():
    from calibration.diagnostics import IDENTIFIED_RATIO, separability, separability_markdown
    from calibration.priors import Prior

    priors = [Prior(name=f"p{i}", dist="uniform", low=0.0, high=10.0, why="t") for i in range(4)]
    rng = np.random.default_rng(5)
    a = rng.uniform(0, 10, 2000)
    # p1 follows p0 to within a tenth of the prior's sd: the record would fix only their sum; p2, p3 stay at the prior.
    b = np.clip(a + rng.normal(0, 0.1 * 10 / np.sqrt(12), a.size), 0, 10)
    particles = pd.DataFrame({"p0": a, "p1": b, "p2": rng.uniform(0, 10, a.size), "p3": rng.uniform(0, 10, a.size)})
    pairs, directions, summary = separability(priors, particles, np.ones(a.size), draws=100, seed=1)
    top = pairs.iloc[0]
    assert (top.parameter_a, top.parameter_b) == ("p0", "p1") and top.correlation > 0.99
    assert top.traded_off and top.duplicate and summary["duplicates"] == 1 == summary["pairs_traded_off"]
    assert (np.abs(pairs.correlation.iloc[1:]) < summary["traded_off_threshold"]).all()
    assert summary["traded_off_threshold"] < 0.2
    # The narrowest direction is p0 - p1 (sd about a tenth of the prior's along it, over sqrt(2)); the others are not.
    first = directions.iloc[0]
    loads = directions[[f"loading:p{i}" for i in range(4)]].to_numpy()
    assert first.sd_ratio < 0.1 and first.narrowed and first.halved and IDENTIFIED_RATIO == 0.5
    assert abs(first["loading:p0"]) == pytest.approx(abs(first["loading:p1"]), abs=0.02)
    assert first["loading:p0"] * first["loading:p1"] < 0 and np.allclose(np.linalg.norm(loads, axis=1), 1.0)
    assert np.all(loads[np.arange(4), np.argmax(np.abs(loads), axis=1)] > 0)  # each direction's largest loading > 0
    assert summary["directions_halved"] == summary["directions_narrowed"] == 1
    assert list(directions.sd_ratio) == sorted(directions.sd_ratio) and summary["ess"] == pytest.approx(2000)
    report = separability_markdown(pairs, directions, summary)
    assert "1 of 6 traded off" in report and "| p0 | p1 | +" in report and "1 of 4 narrowed" in report
    # On draws from the prior itself nothing is traded off, narrowed or duplicated (the null's own levels).
    prior_only = pd.DataFrame({f"p{i}": rng.uniform(0, 10, 1000) for i in range(4)})
    _, _, none = separability(priors, prior_only, rng.uniform(0.5, 1.5, 1000), draws=100, seed=2)
    assert none["pairs_traded_off"] == none["duplicates"] == none["directions_narrowed"] == 0


def test_weighted_quantiles_and_the_prior_driven_flag_by_hand():
    from calibration.diagnostics import prior_driven, weighted_quantiles
    from calibration.priors import Prior

    # Weights 1, 1, 2 on values 0, 1, 2: midpoint CDF 0.125, 0.375, 0.75; the median lies a third of the way from
    # 0.375 to 0.75, so at 1 + 1/3.
    assert weighted_quantiles(np.array([2.0, 0.0, 1.0]), np.array([2.0, 1.0, 1.0]), (0.5,))[0] == pytest.approx(4 / 3)
    prior = Prior(name="arms.beta_lockin", dist="uniform", low=0.0, high=10.0, why="t")
    narrow = pd.DataFrame({"arms.beta_lockin": np.linspace(4.0, 6.0, 101)})
    wide = pd.DataFrame({"arms.beta_lockin": np.linspace(0.0, 10.0, 101)})
    weights = np.ones(101)
    assert not prior_driven([prior], narrow, weights).prior_driven.iloc[0]  # interval 1.8 of the prior's 9
    assert prior_driven([prior], wide, weights).prior_driven.iloc[0]
