"""Neural posterior estimation (calibration/npe.py): the record as features, resumable prior simulations, one-line
errors, and (with the optional extra ``npe``: sbi and torch) a trained posterior on the quantile scale.

Without sbi the training test is skipped, unless ``LACDEF_REQUIRE_OPTIONAL=1`` (set by ``.ci/run``, which installs
the extra), where its absence fails it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import calibration.npe as N
from calibration.objective import Weights, rule, target_losses
from calibration.observations import load_observations
from calibration.priors import parse_priors
from calibration.problem import Problem
from calibration.targets import compile_targets
from common.cli import precheck
from model.drivers import build_drivers, load_default_drivers
from model.params import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PRIORS = parse_priors(yaml.safe_load((ROOT / "configs" / "calibration" / "default.yaml").read_text())["priors"])
SMALL = {"simulations": 64, "seeds": 2, "chunk": 32, "statement_error": 0.0, "sipri_error": 0.0,
         "estimator": "nsf", "ensemble": 2, "training_batch_size": 32, "stop_after_epochs": 2, "max_epochs": 3,
         "posterior_samples": 100, "extra_truths": 0, "hindcast_cut": 0, "seed": 3, "workers": 1,
         "conflicts_only": False}


@pytest.fixture(scope="module")
def problem(data, params) -> Problem:
    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    targets = compile_targets(load_observations(), drivers.years, data)
    return Problem(params, data, drivers, targets, seeds=2, root_seed=5, weights=Weights(), priors=PRIORS)


def test_features_state_the_record_as_the_observations_do(problem):
    run = problem.simulate({p.name: p.frozen().ppf(0.4) for p in PRIORS})
    x = N.features(problem, run["stats"], run["sipri"], np.random.default_rng(0))
    n_t = len(problem.targets)
    assert x.shape == (2, n_t + run["sipri"].shape[1])
    statement = np.array([rule(t) == "brier" for t in problem.targets])
    held = target_losses(problem.targets, run["stats"]) == 0.0
    assert np.array_equal(x[:, :n_t][:, statement], held[:, statement].astype(float))
    # Value rows: the statistic, moved at most by the row's tolerance (the record's own precision).
    tol = np.array([t.tolerance for t in problem.targets])[~statement]
    assert (np.abs(x[:, :n_t][:, ~statement] - np.nan_to_num(run["stats"][:, ~statement])) <= tol + 1e-12).all()
    assert np.array_equal(x[:, n_t:], np.log1p(run["sipri"]))
    # With an error on statements, about that share of them is read flipped; values and totals are untouched.
    many = np.repeat(run["stats"], 500, axis=0)
    flipped = N.features(problem, many, np.repeat(run["sipri"], 500, axis=0), np.random.default_rng(1), 0.1)
    clean = N.features(problem, many, np.repeat(run["sipri"], 500, axis=0), np.random.default_rng(1))
    assert (flipped[:, :n_t][:, statement] != clean[:, :n_t][:, statement]).mean() == pytest.approx(0.1, abs=0.01)
    assert np.array_equal(flipped[:, n_t:], clean[:, n_t:])
    # An error on the SIPRI totals moves them by about that standard deviation and leaves the other rows as they were.
    blurred = N.features(problem, many, np.repeat(run["sipri"], 500, axis=0), np.random.default_rng(1), 0.1, 0.5)
    assert np.array_equal(blurred[:, :n_t], flipped[:, :n_t])
    assert np.std(blurred[:, n_t:] - clean[:, n_t:]) == pytest.approx(0.5, abs=0.01)
    observed = N.observed_features(problem)
    assert (observed[:n_t][statement] == 1.0).all()
    assert np.array_equal(observed[:n_t][~statement], [t.value for t in problem.targets if rule(t) != "brier"])
    assert np.array_equal(observed[n_t:], np.log1p(problem.sipri_obs))


def test_prior_simulations_resume_and_refuse_other_settings(problem, tmp_path):
    s = N.parse_npe(SMALL)
    quiet = lambda *_: None  # noqa: E731
    units, x = N.simulate_prior(problem, PRIORS, s, tmp_path, progress=quiet)
    assert units.shape == (64, len(PRIORS)) and x.shape[:2] == (64, 2)
    assert ((units > 0) & (units < 1)).all()
    chunks = sorted((tmp_path / "sims").glob("chunk_*.npz"))
    assert len(chunks) == 2
    # A killed run lost its second chunk: the rerun simulates only that one and gives the same arrays.
    chunks[1].unlink()
    said = []
    again_units, again_x = N.simulate_prior(problem, PRIORS, s, tmp_path, progress=said.append)
    assert said[0].startswith("npe: simulating 1 of 2 chunks")
    assert np.array_equal(units, again_units) and np.array_equal(x, again_x)
    # Each row's statistic in the stored runs, sets x seeds, as the chunks hold them.
    stats = N.prior_statistics(s, tmp_path)
    with np.load(chunks[1]) as part:
        second = part["stats"].reshape(-1, part["stats"].shape[-1])
    assert stats.shape == (128, len(problem.targets))
    assert np.array_equal(stats[64:], second, equal_nan=True)
    # Each chunk carries the wall time it took; a chunk stored without one (an older run) leaves the total unknown.
    assert N.simulation_seconds(tmp_path, s) > 0
    with np.load(chunks[0]) as part:
        arrays = {k: part[k] for k in part.files if k != "seconds"}
    np.savez(chunks[0], **arrays)
    assert N.simulation_seconds(tmp_path, s) is None
    with pytest.raises(ConfigError, match="holds other parameter sets"):
        N.simulate_prior(problem, PRIORS, N.parse_npe({**SMALL, "seed": 4}), tmp_path, progress=quiet)


def test_a_chunk_runs_its_sets_in_batches_each_as_alone(problem):
    units = N.prior_units(N.CHUNK_BATCH + 3, len(PRIORS), 7)
    stats, sipri = N._simulate_chunk((problem, PRIORS, units))
    particles = N.posterior_frame(PRIORS, units).drop(columns="weight").to_dict("records")
    for k in (0, N.CHUNK_BATCH - 1, N.CHUNK_BATCH, N.CHUNK_BATCH + 2):
        alone = problem.simulate(particles[k])
        assert np.array_equal(stats[k], alone["stats"], equal_nan=True)
        assert np.array_equal(sipri[k], alone["sipri"])


def test_observed_check_places_the_record_among_the_runs(problem):
    n_f = len(N.feature_ids(problem))
    x = np.tile(np.arange(10.0)[:, None, None], (1, 2, n_f))  # 10 sets x 2 seeds, every feature 0..9
    observed = np.full(n_f, 4.0)
    observed[0], observed[1] = 12.0, 0.0
    check = N.observed_check(problem, x, observed)
    assert list(check["feature"]) == N.feature_ids(problem) and len(check) == n_f
    assert check["outside"].tolist() == [True] + [False] * (n_f - 1)
    row = check.iloc[2]
    assert (row.share_below, row.share_equal, row.share_above) == (0.4, 0.1, 0.5)
    assert check.iloc[1].share_below == 0.0 and check.iloc[1].share_equal == 0.1
    assert "outside every simulated run's range: 1 of" in N.observed_markdown(check, False)
    assert "(equal weights), shipped as calibration/posterior/posterior.parquet:" in N.observed_markdown(check, True)


def test_row_conflicts_name_the_rows_the_runs_seldom_meet_together(problem):
    from dataclasses import replace

    n_t = len(problem.targets)
    ids = [t.id for t in problem.targets]
    # Rows that hold when their statistic is 1, so the statistics are the pattern of rows held.
    problem = replace(problem, targets=[replace(t, relation="eq", value=1.0, tolerance=0.0) for t in problem.targets])
    rng = np.random.default_rng(0)
    held = rng.random((4000, n_t)) < 0.5  # independent rows: lift about 1, never listed
    held[:, 1] = rng.random(4000) < 0.3
    held[:, 0] = ~held[:, 1]  # never together; row 1, the rarer, is row a
    held[:, 2] = held[:, 3] & (rng.random(4000) < 0.3)  # only together with row 3: lift above 1, not listed
    held[:, 4] = False
    held[:4, 4] = True  # too rare: independence would meet it with any row in under 10 runs
    table = N.row_conflicts(problem, held.astype(float))
    first = table.iloc[0]
    assert (first.row_a, first.row_b, first.lift, first.runs_both) == (ids[1], ids[0], 0.0, 0)
    # Where row 1 holds, row 0's statistic is 0; elsewhere 1.
    assert (first.b_median_given_a, first.b_median_otherwise) == (0.0, 1.0)
    assert first.p_a == held[:, 1].mean() and first.p_b == held[:, 0].mean()
    assert (table.lift <= 0.5).all() and table.lift.is_monotonic_increasing
    assert ids[4] not in set(table.row_a) | set(table.row_b)
    assert len(table) < 5  # of the 4,000-odd independent pairs, none strays from lift 1 by half at these counts
    lift = table.p_both / (table.p_a * table.p_b)
    assert np.allclose(table.lift, lift)
    text = N.conflicts_markdown(table, len(held), top=1)
    assert f"| {ids[1]} | {ids[0]} |" in text and "| 0 / 1 |" in text and "4000 prior runs" in text
    assert text.count("\n| ") == 2


@pytest.mark.parametrize(("args", "says"), [
    (["npe.estimator=gp"], "npe.estimator: 'gp'; allowed: nsf, maf"),
    (["npe.simulations=10"], "npe.simulations: 10 is out of range"),
    (["npe.seeds=0"], "npe.seeds: 0 is out of range"),
    (["npe.statement_error=0.7"], "npe.statement_error: 0.7 is out of range"),
    (["npe.sipri_error=-1"], "npe.sipri_error: -1"),
    (["+npe.colour=red"], "npe.colour: unknown key"),
    (["npe.ensemble=0"], "npe.ensemble: 0 is out of range"),
    (["npe.hindcast_cut=2002"], "npe.hindcast_cut: 2002 leaves under five years to fit; allowed: 0 (no hindcast fit) "
                                "or 2005-2020"),
    (["npe.hindcast_cut=2021"], "npe.hindcast_cut: 2021 is out of range"),
    (["npe.conflicts_only=maybe"], "npe.conflicts_only: 'maybe'; allowed: true"),
    (["npe.conflicts_only=true", "ship=true"], "ship: true with npe.conflicts_only; allowed: false"),
])
def test_bad_command_lines(args, says, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["npe", *args])
    with pytest.raises(SystemExit) as exit_info:
        precheck("npe", N.validate)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0], err


def test_a_conflicts_only_run_screens_the_prior_without_training(tmp_path):
    """The command with npe.conflicts_only: the prior's runs, row_conflicts.{csv,md} and a manifest, no posterior, no
    torch; run again, it reads its stored runs and writes the same table."""
    out = tmp_path / "screen"
    args = [sys.executable, "-m", "calibration.npe", f"out_dir={out}", "npe.conflicts_only=true",
            "npe.simulations=64", "npe.chunk=32", "npe.workers=1", "npe.hindcast_cut=0"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # -X importtime lists every module imported, on stderr: neither torch nor sbi may be among them.
    done = subprocess.run([args[0], "-X", "importtime", *args[1:]], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "numpy" in imported and not {"torch", "sbi"} & imported
    assert "128 prior runs" in done.stdout and "pairs of rows with lift <= 0.5" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "row_conflicts.csv", "row_conflicts.md", "sims"]
    table = pd.read_csv(out / "row_conflicts.csv")
    assert list(table.columns) == ["row_a", "row_b", "p_a", "p_b", "p_both", "runs_both", "lift", "b_median_given_a",
                                   "b_median_otherwise"]
    assert (table.lift <= 0.5).all() and (table.p_a <= table.p_b).all()
    record = json.loads((out / "manifest.json").read_text())
    assert record["npe"]["conflicts_only"] is True and record["npe"]["runs"] == 128
    again = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0 and "simulating" not in again.stdout
    pd.testing.assert_frame_equal(pd.read_csv(out / "row_conflicts.csv"), table)


def test_the_hindcast_fit_sees_only_the_record_up_to_its_cut(problem):
    observations = load_observations()
    cols = N.cut_columns(problem, observations, 2015)
    ids = N.feature_ids(problem)
    assert len(cols) == len(ids)
    cut_targets = {t.id for t in compile_targets(observations, problem.drivers.years, problem.data, last_year=2015)}
    n_t = len(problem.targets)
    assert {i for i, c in zip(ids[:n_t], cols[:n_t], strict=True) if c} == cut_targets
    assert 0 < len(cut_targets) < n_t
    # SIPRI: the totals of 2000-04, 2005-09 and 2010-14, per state and per supplier group; none of 2015-19 or 2020-23.
    kept = [i for i, c in zip(ids[n_t:], cols[n_t:], strict=True) if c]
    assert kept and all(("2015" not in i) and ("2020" not in i) for i in kept)
    assert len(kept) == int(Problem(problem.base, problem.data, problem.drivers, [], 1, 0, Weights(), PRIORS,
                                    last_year=2015).sipri_keep.sum())
    assert not cols.all() and N.cut_columns(problem, observations, 2023).all()


def test_shipping_replaces_the_abc_fit_in_the_folder(problem, tmp_path):
    """ship writes the posterior, manifest, diagnostics and recovery, and removes the ABC fit's own files."""
    s = N.parse_npe({**SMALL, "ensemble": 3})
    for name in N.ABC_ONLY + ("posterior.parquet",):
        (tmp_path / name).write_text("an ABC fit's")
    real = N.posterior_frame(PRIORS, np.random.default_rng(0).uniform(0.3, 0.6, (200, len(PRIORS))))
    recovery = pd.DataFrame({"set": [0], "parameter": [PRIORS[0].name], "inside_90": [True], "width_share": [0.4]})
    training = {"pairs": 128, "features": 90, "epochs": [3, 4, 3], "best_validation_loss": [1.5, 1.25, 2.0]}
    record = {"fit": {"method": "npe", "wall_s": 12.5}}
    N.ship(PRIORS, real, recovery, "# Parameter recovery with neural posterior estimation\n", record, training, s,
           tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([
        "posterior.parquet", "manifest.json", "prior_driven.csv", "separability_pairs.csv",
        "separability_directions.csv", "diagnostics.md", "marginals.png", "pairs.png", "recovery.csv", "recovery.md",
        "recovery_manifest.json"])
    assert pd.read_parquet(tmp_path / "posterior.parquet").equals(real)
    table = pd.read_csv(tmp_path / "prior_driven.csv")
    assert list(table.parameter) == [p.name for p in PRIORS]
    # Draws over the middle 30% of each prior's quantiles: a 90% interval of 27% of the prior's quantile range.
    assert not table.prior_driven.any()
    text = (tmp_path / "diagnostics.md").read_text()
    assert "3 x nsf (sbi)" in text and "epochs per flow 3, 4, 3" in text and "1.25" in text
    assert "## Separability" in text and len(pd.read_csv(tmp_path / "separability_directions.csv")) == len(PRIORS)
    assert json.loads((tmp_path / "manifest.json").read_text())["fit"] == record["fit"]


@pytest.mark.slow
class _Flow:
    """A posterior whose first draws hold an overflowed coordinate, as a briefly trained flow's can."""

    def __init__(self, bad_rounds: int):
        self.bad_rounds, self.calls = bad_rounds, []

    def sample(self, shape, x, show_progress_bars):
        import torch

        self.calls.append(shape[0])
        z = torch.zeros((shape[0], 2))
        if len(self.calls) <= self.bad_rounds:
            z[0, 1] = -float("inf")
        return z


def test_posterior_draws_that_overflow_are_drawn_again_or_refused():
    pytest.importorskip("torch")
    keep, x = np.array([True]), np.array([0.0])
    flow = _Flow(bad_rounds=2)
    draws = N.posterior_units(flow, keep, x, 5)
    assert flow.calls == [5, 1, 1] and (draws == 0.5).all()  # only the bad row is drawn again
    with pytest.raises(ValueError, match="still non-finite after"):
        N.posterior_units(_Flow(bad_rounds=N.MAX_REDRAWS + 1), keep, x, 5)
    last = _Flow(bad_rounds=N.MAX_REDRAWS)
    assert np.isfinite(N.posterior_units(last, keep, x, 5)).all() and len(last.calls) == N.MAX_REDRAWS + 1


def test_the_command_stops_on_flows_that_keep_overflowing_with_one_line(capsys):
    pytest.importorskip("torch")
    s = N.parse_npe(SMALL)
    with pytest.raises(SystemExit) as stop:
        N._draws(_Flow(bad_rounds=N.MAX_REDRAWS + 1), np.array([True]), np.array([0.0]), s, 0)
    err = capsys.readouterr().err
    assert stop.value.code != 0 and err.count("\n") == 1
    assert err.startswith(f"error: npe.max_epochs: {s.max_epochs} (") and "allowed: more training" in err


def test_a_trained_posterior_draws_on_the_quantile_scale(problem, tmp_path):
    if importlib.util.find_spec("sbi") is None:
        if os.environ.get("LACDEF_REQUIRE_OPTIONAL") == "1":
            pytest.fail("sbi is required (LACDEF_REQUIRE_OPTIONAL=1); .ci/run installs requirements-npe.lock")
        pytest.skip("the optional extra npe (sbi, torch) is not installed: make .venv/.installed-npe")
    s = N.parse_npe(SMALL)
    units, x = N.simulate_prior(problem, PRIORS, s, tmp_path, progress=lambda *_: None)
    posterior, keep, summary = N.train(units, x, s, tmp_path / "logs")
    assert summary["pairs"] == 128 and summary["features"] == int(keep.sum()) <= x.shape[-1]
    # Two flows from two torch seeds, mixed; each leaves its training curve under the log folder.
    assert len(summary["epochs"]) == len(summary["best_validation_loss"]) == 2
    assert len(posterior.posteriors) == 2 and sorted(p.name for p in (tmp_path / "logs").iterdir()) == [
        "flow_0", "flow_1"]
    draws = N.posterior_units(posterior, keep, N.observed_features(problem), 100, seed=9)
    assert np.array_equal(draws, N.posterior_units(posterior, keep, N.observed_features(problem), 100, seed=9))
    assert draws.shape == (100, len(PRIORS)) and ((draws > 0) & (draws < 1)).all()
    frame = N.posterior_frame(PRIORS, draws)
    assert list(frame.columns) == ["weight", *[p.name for p in PRIORS]] and frame["weight"].sum() == pytest.approx(1)
    for p in PRIORS:
        assert (frame[p.name] >= p.low - 1e-9).all() and (frame[p.name] <= p.high + 1e-9).all()
