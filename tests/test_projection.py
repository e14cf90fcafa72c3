"""The projection distance (semi-automatic ABC summaries, calibration/projection.py)."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.objective import Weights, target_losses
from calibration.observations import load_observations
from calibration.priors import parse_priors
from calibration.problem import Problem
from calibration.projection import (
    MIN_SUPPORT,
    Z90,
    fit_projection,
    observed_features,
    record_features,
    statement_rows,
)
from calibration.targets import compile_targets
from model.params import ConfigError
from tests.test_calibration import PRIORS


def test_the_projection_is_a_ridge_regression_scored_on_held_out_draws():
    # Two parameters: the first read by two noisy features, the second by none (a feature of pure noise and a
    # constant). By hand: the held-out residuals of a least-squares fit on the first 80 of 100 draws.
    rng = np.random.default_rng(0)
    draws, seeds = 100, 3
    u = np.repeat(rng.random((draws, 2)), seeds, axis=0)
    x = np.column_stack([4.0 * u[:, 0] + rng.normal(0, 0.2, len(u)), -2.0 * u[:, 0] + rng.normal(0, 0.2, len(u)),
                         rng.normal(0, 1, len(u)), np.full(len(u), 7.0)])
    draw = np.repeat(np.arange(draws), seeds)
    p = fit_projection(["a", "b"], u, x, draw, observed=np.array([2.0, -1.0, 0.0, 7.0]))
    assert p.keep.tolist() == [True, True, True, False]  # a constant feature cannot inform a regression
    fit, held = draw < 80, draw >= 80
    design = np.column_stack([np.ones(fit.sum()), x[fit][:, :3]])
    beta = np.linalg.lstsq(design, u[fit], rcond=None)[0]
    residual = u[held] - np.column_stack([np.ones(held.sum()), x[held][:, :3]]) @ beta
    # The ridge penalty (1 on standardised coefficients, 240 records) moves the residuals only a little.
    assert p.quality.heldout_residual_sd.to_numpy() == pytest.approx(residual.std(axis=0), rel=0.02)
    assert p.quality.width_share[0] == pytest.approx(2 * Z90 * p.quality.heldout_residual_sd[0] / 0.9)
    assert p.quality.width_share[0] < 0.2 and p.quality.width_share[1] == 1.0  # capped at the prior's width
    assert p.quality.heldout_r2[0] > 0.9 and p.quality.heldout_r2[1] < 0.05
    # The record's summaries: a record made by u = (0.5, .) reads about 0.5 on the first, the prior mean on the second.
    assert p.observed[0] == pytest.approx(0.5, abs=0.05) and p.observed[1] == pytest.approx(u[:, 1].mean(), abs=0.05)
    assert np.array_equal(p.summaries(np.array([[2.0, -1.0, 0.0, 7.0]]))[0], p.observed)
    # Refitted on all draws: the same arrays from the same records, a different digest from other records.
    again = fit_projection(["a", "b"], u, x, draw, observed=np.array([2.0, -1.0, 0.0, 7.0]))
    assert again.digest() == p.digest() and repr(again) == repr(p)
    assert fit_projection(["a", "b"], u, x[:, [1, 0, 2, 3]], draw, np.zeros(4)).digest() != p.digest()
    # Only the summary that reads its parameter on held-out draws is in the distance; the table says which, and where
    # the record's summary falls among the pilot's.
    assert p.used.tolist() == [True, False] and p.quality.in_distance.tolist() == [True, False]
    assert p.quality.observed.tolist() == p.observed.tolist()
    assert p.quality.observed_pit[0] == pytest.approx((p.summaries(x)[:, 0] < p.observed[0]).mean())


def test_a_pilot_that_reads_no_parameter_is_refused():
    rng = np.random.default_rng(2)
    u, x = rng.random((300, 2)), rng.normal(size=(300, 3))
    with pytest.raises(ConfigError, match=r"^calibration.pilot_draws: 300 draws read no parameter from the record"):
        fit_projection(["a", "b"], u, x, np.arange(300), np.zeros(3))


def test_a_feature_seen_in_too_few_records_is_left_out():
    # A statement held in MIN_SUPPORT - 1 pilot records, all with the same high quantile of the one parameter: fitted
    # on, its coefficient would carry the record (which holds it) far outside the pilot's summaries. With one record
    # more it enters.
    rng = np.random.default_rng(1)
    u = rng.random((600, 1))
    x = np.column_stack([u[:, 0] + rng.normal(0, 0.3, len(u)), np.zeros(len(u))])
    rare = np.argsort(u[:, 0])[-MIN_SUPPORT:]
    x[rare[1:], 1] = 1.0
    record = np.array([0.5, 1.0])
    p = fit_projection(["a"], u, x, np.arange(len(u)), record)
    assert p.keep.tolist() == [True, False]
    assert np.array_equal(p.summaries(record[None]), p.summaries(np.array([[0.5, 0.0]])))
    x[rare[0], 1] = 1.0
    assert fit_projection(["a"], u, x, np.arange(len(u)), record).keep.tolist() == [True, True]


def test_records_read_as_the_observations_state_them(params, data):
    from model.drivers import build_drivers, load_default_drivers

    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    targets = compile_targets(load_observations(), drivers.years, data)
    problem = Problem(params, data, drivers, targets, seeds=3, root_seed=5, weights=Weights(),
                      priors=parse_priors(PRIORS))
    x = problem.simulate({p.name: p.frozen().ppf(0.4) for p in problem.priors})
    features = record_features(targets, x["stats"], x["sipri"])
    statement = statement_rows(targets)
    n = len(targets)
    assert features.shape == (3, n + x["sipri"].shape[1])
    assert np.array_equal(features[:, :n][:, statement], (target_losses(targets, x["stats"]) == 0)[:, statement])
    assert np.array_equal(features[:, :n][:, ~statement], np.nan_to_num(x["stats"][:, ~statement], nan=0.0))
    assert np.allclose(features[:, n:], np.log1p(x["sipri"]))
    observed = observed_features(targets, problem.sipri_obs)
    assert (observed[:n][statement] == 1).all()
    assert np.array_equal(observed[:n][~statement], [t.value for t, s in zip(targets, statement, strict=True) if not s])


def test_projection_distance_on_the_record(params, data):
    from calibration.weights import weigh
    from model.drivers import build_drivers, load_default_drivers

    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    targets = compile_targets(load_observations(), drivers.years, data)
    priors = parse_priors(PRIORS)
    problem = Problem(params, data, drivers, targets, seeds=2, root_seed=5, weights=Weights(kind="projection"),
                      priors=priors)
    features = len(targets) + int(problem.sipri_keep.sum())
    with pytest.raises(ConfigError, match=r"^calibration.pilot_draws: 10 draws x 2 seeds = 20 records for "
                                          rf"{features} features with distance projection; allowed: at least "):
        weigh(problem, draws=10, seeds=2, root_seed=3)
    # Four records a feature: with two (the least allowed) the regression overfits and the held-out fit swings with the
    # draws (the delegations' summary: 0.44 and 0.22 under the two contract draw schemes of docs/ODD.md §10.34, which
    # have one law); with four, 0.64 and 0.62.
    draws = 2 * (features + 1)
    weighted = weigh(problem, draws=draws, seeds=2, root_seed=3)
    projection = weighted.weights.projection
    assert projection.names == tuple(p.name for p in priors) and len(projection.observed) == len(priors)
    table = weighted.weight_table
    assert list(table.component) == [t.id for t in targets] + problem.sipri_ids()
    assert table.share.sum() == pytest.approx(1.0)
    assert (table.weight[~projection.keep] == 0).all() and (table.weight[projection.keep] > 0).all()
    # Visits vary with the base rate of delegations: its summary is read on held-out draws, the alignment drift's, which
    # nothing in the record moves, is not.
    quality = projection.quality.set_index("parameter")
    assert quality.loc["delegations.log_rate", "heldout_r2"] > 0.25 > quality.loc["relations.kappa", "heldout_r2"]
    # The distance: the mean over the particle's seeds of each seed's summaries' distance to the record's.
    x = weighted.simulate({p.name: p.frozen().ppf(0.6) for p in priors})
    z = projection.summaries(record_features(targets, x["stats"], x["sipri"]))
    used = projection.quality.heldout_r2.to_numpy() >= 0.1
    assert 0 < used.sum() < len(priors) and np.array_equal(projection.used, used)
    assert weighted.distance(x, {}) == pytest.approx(np.mean(np.linalg.norm((z - projection.observed)[:, used],
                                                                            axis=1)))
    # The same pilot makes the same projection.
    assert weigh(problem, draws=draws, seeds=2, root_seed=3).weights.projection.digest() == projection.digest()


def test_too_small_a_pilot_is_refused_before_anything_is_written(tmp_path):
    import subprocess
    import sys

    from tests.test_calibration import ROOT

    out = tmp_path / "recovery"
    done = subprocess.run([sys.executable, "-m", "calibration.recovery", f"out_dir={out}", "recovery.sets=2",
                           "calibration.distance=projection", "calibration.pilot_draws=10"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: calibration.pilot_draws: 10 draws x 4 seeds = 40 records"), err
    assert not out.exists() or not any(out.iterdir())  # no synthetic record, no set folder
