"""Proper scores: the interval CRPS, PIT and skill ratio by hand; the headline's bookkeeping; the frozen inputs; a
tiny end-to-end run of ``python -m calibration.scores``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import norm

from calibration.headline import meaning
from calibration.objective import holds, raw_scores, rule, statement_range
from calibration.observations import FROZEN_TARGETS_PATH, check_frozen_targets, fit_snapshot, load_observations
from calibration.priors import parse_priors
from calibration.proper import brier, covered, crps_interval, mid_pit, pit_mean_reference, skill_ratio
from calibration.scores import (
    Ensemble,
    ScoreSettings,
    headline,
    oracle_scores,
    tautological_rows,
)
from calibration.targets import Target, sipri_total_ids
from model.data import DataError
from model.params import ConfigError
from model.schema import STATE_VARIABLES

ROOT = Path(__file__).resolve().parent.parent
FROZEN = ROOT / "calibration" / "frozen"
SHIPPED = ROOT / "calibration" / "posterior"
PRIORS = parse_priors(yaml.safe_load((ROOT / "configs" / "calibration" / "default.yaml").read_text())["priors"])


def _target(relation: str, kind: str, value: float = np.nan, low: float = np.nan, high: float = np.nan,
            tolerance: float = 0.0) -> Target:
    return Target(id=f"t_{relation}_{kind}", statistic="sum", threshold=0.0,
                  slots=np.array([i for i, v in enumerate(STATE_VARIABLES) if v.name == "exercise"]),
                  region_slot=-1, states=np.array([0]), t0=0, t1=9, years=np.arange(2000, 2010), relation=relation,
                  value=value, low=low, high=high, tolerance=tolerance, kind=kind)


def _empirical_crps(x: np.ndarray, y: np.ndarray, fair: bool) -> np.ndarray:
    m = x.shape[0]
    spread = np.abs(x[:, None, :] - x[None, :, :]).sum(axis=(0, 1)) / (m * (m - 1) if fair else m * m)
    return np.abs(x - y).mean(axis=0) - 0.5 * spread


def test_interval_crps_at_a_point_is_the_ensemble_crps():
    x = np.random.default_rng(0).normal(size=(40, 3))
    y = np.array([0.3, -1.0, 2.5])
    assert np.allclose(crps_interval(x, y, y, fair=False), _empirical_crps(x, y, fair=False))
    assert np.allclose(crps_interval(x, y, y), _empirical_crps(x, y, fair=True))


def test_interval_crps_by_hand():
    # Two members at 0 against [1, 2]: F = 1 from 0 to the range's lower edge, so the score is that distance.
    assert crps_interval(np.array([[0.0], [0.0]]), np.array([1.0]), np.array([2.0]))[0] == pytest.approx(1.0)
    # Members at 0 and 3 around [1, 2]: F = 1/2 below 1 (over a length 1) and above 2 (length 1): 1/4 + 1/4.
    x = np.array([[0.0], [3.0]])
    assert crps_interval(x, np.array([1.0]), np.array([2.0]), fair=False)[0] == pytest.approx(0.5)
    # Inside the range: nothing to pay; a one-sided bound charges only the far side.
    inside = np.array([[1.2], [1.5], [1.9]])
    assert crps_interval(inside, np.array([1.0]), np.array([2.0]))[0] == 0.0
    assert crps_interval(np.array([[0.0], [0.0]]), np.array([1.0]), np.array([np.inf]))[0] == pytest.approx(1.0)
    assert crps_interval(np.array([[0.0], [0.0]]), np.array([-np.inf]), np.array([1.0]))[0] == 0.0
    assert crps_interval(np.array([[2.0], [2.0]]), np.array([-np.inf]), np.array([1.0]))[0] == pytest.approx(1.0)
    # Further out costs more.
    far = crps_interval(np.array([[0.0], [0.5]]), np.array([3.0]), np.array([4.0]))[0]
    near = crps_interval(np.array([[0.0], [0.5]]), np.array([1.0]), np.array([4.0]))[0]
    assert far > near > 0


def test_fair_crps_does_not_depend_on_the_ensemble_size():
    """Averaged over many 5-member ensembles of N(0, 1), the fair CRPS at y = 0.5 is the distribution's own CRPS."""
    rng = np.random.default_rng(1)
    y = np.full(20_000, 0.5)
    x = rng.normal(size=(5, y.size))
    exact = 0.5 * (2 * norm.cdf(0.5) - 1) + 2 * norm.pdf(0.5) - 1 / np.sqrt(np.pi)
    assert crps_interval(x, y, y).mean() == pytest.approx(exact, abs=0.01)
    assert crps_interval(x, y, y, fair=False).mean() > exact + 0.05


def test_pit_coverage_brier_and_the_skill_ratio_by_hand():
    x = np.array([[0.0], [0.0], [1.0], [2.0]])
    assert mid_pit(x, np.array([0.0]))[0] == pytest.approx(0.25)
    assert mid_pit(x, np.array([1.0]))[0] == pytest.approx(0.625)
    assert covered(np.array([0.05, 0.04, 0.5, 0.75, 0.76]), 0.9).tolist() == [True, False, True, True, True]
    assert covered(np.array([0.25, 0.76]), 0.5).tolist() == [True, False]
    assert brier(np.array([1.0, 0.25])).tolist() == [0.0, 0.5625]
    # Fair form for a share of 4 members: (1 - p)^2 - p (1 - p) / 3; unbiased, so it may dip below the plain score.
    assert brier(np.array([0.25, 1.0, 0.0]), 4) == pytest.approx([0.5625 - 0.1875 / 3, 0.0, 1.0])
    draws = np.random.default_rng(2).random((20_000, 4)) < 0.3
    assert brier(draws.mean(axis=1), 4).mean() == pytest.approx(0.49, abs=0.01)
    rng = np.random.default_rng(0)
    assert skill_ratio(np.array([1.0, 1.0]), np.array([2.0, 2.0]), 200, rng) == (0.5, 0.5, 0.5)
    value, low, high = skill_ratio(np.array([0.1, 0.5, -0.2, 0.4]), np.array([0.5, 0.5, 0.5, 0.5]), 2000, rng)
    assert value == pytest.approx(0.4) and low < value < high
    assert np.isnan(skill_ratio(np.array([0.1]), np.array([0.0]), 200, rng)[0])


def test_the_mean_pit_reference_by_hand():
    """A record drawn from the predictive averages PIT 0.5; a row held because its rare event occurred sits high."""
    rng = np.random.default_rng(3)
    rare = np.where(rng.random(4000) < 0.02, rng.integers(1, 4, 4000), 0)
    samples = np.column_stack([rng.normal(size=4000), rng.poisson(3.0, 4000), rare])
    free = pit_mean_reference(samples, np.array([False, False, False]), 20_000, np.random.default_rng(1))
    assert abs(free.mean() - 0.5) < 0.005
    # The third row's record drawn from its runs above 0: each has at least 98% of the runs below it.
    chosen = pit_mean_reference(samples, np.array([False, False, True]), 20_000, np.random.default_rng(1))
    assert (0.98 + 1.0) / 6 + 1 / 3 - 0.01 < chosen.mean() < (1.0 + 1.0) / 6 + 1 / 3
    # No run above 0: the record lies above every run.
    never = pit_mean_reference(np.zeros((50, 1)), np.array([True]), 10, np.random.default_rng(1))
    assert (never == 1.0).all()


def test_rules_and_ranges_follow_the_statement():
    count = _target("eq", "count", value=10.0, tolerance=2.0)
    bound = _target("ge", "count", value=200.0, tolerance=20.0)
    event = _target("ge", "event", value=1.0)
    span = _target("between", "level", low=5.0, high=7.0, tolerance=1.0)
    assert [rule(t) for t in (count, bound, event, span)] == ["crps", "brier", "brier", "crps"]
    assert statement_range(count) == (8.0, 12.0) and statement_range(span) == (4.0, 8.0)
    assert statement_range(bound) == (200.0, np.inf)
    sims = np.array([[9.0, 250.0, 0.0, 6.0], [15.0, 150.0, 2.0, 9.0]])
    targets = [count, bound, event, span]
    assert holds(targets, sims).tolist() == [0.5, 0.5, 0.5, 0.5]
    scores = raw_scores(targets, sims)
    # Two runs, one holding: the fair Brier score (1/2)^2 - (1/2)(1/2)/1.
    assert scores[1] == scores[2] == 0.0
    assert scores[0] == pytest.approx(crps_interval(sims[:, :1], np.array([8.0]), np.array([12.0]))[0])


def test_an_oracle_that_reproduces_its_record_scores_zero():
    targets = [_target("eq", "count", value=3.0), _target("ge", "event", value=1.0)]
    records = Ensemble(np.array([[4.0, 0.0], [2.0, 3.0]]), np.array([[10.0], [0.0]]))
    own = [Ensemble(np.repeat(records.stats[k:k + 1], 5, axis=0), np.repeat(records.sipri[k:k + 1], 5, axis=0))
           for k in range(2)]
    prior = Ensemble(np.array([[0.0, 0.0], [5.0, 1.0], [9.0, 2.0]]), np.array([[0.0], [5.0], [30.0]]))
    out = oracle_scores(targets, own, prior)
    assert out["targets"].tolist() == [0.0, 0.0] and out["sipri"].tolist() == [0.0]
    assert (out["targets_prior"] > 0).all() and out["sipri_prior"][0] > 0
    # The event row: record 0 says "none" (the restated complement), record 1 says it happened; prior P = 1/3, 2/3
    # of 3 runs, fair Brier (1 - p)^2 - p (1 - p) / 2.
    fair = [(1 - q) ** 2 - q * (1 - q) / 2 for q in (1 / 3, 2 / 3)]
    assert out["targets_prior"][1] == pytest.approx(sum(fair) / 2)


def test_the_oracle_scores_every_run_of_a_truth_against_its_other_runs():
    targets = [_target("eq", "count", value=3.0)]
    truth = Ensemble(np.array([[0.0], [0.0], [0.0], [4.0]]), np.array([[1.0], [2.0], [3.0], [4.0]]))
    prior = Ensemble(np.array([[0.0], [2.0], [7.0]]), np.array([[0.0], [5.0], [30.0]]))
    out = oracle_scores(targets, [truth], prior)
    by_hand = [crps_interval(np.delete(truth.stats, k, axis=0), truth.stats[k], truth.stats[k])[0] for k in range(4)]
    assert out["targets"][0] == pytest.approx(np.mean(by_hand))
    prior_by_hand = [crps_interval(prior.stats, truth.stats[k], truth.stats[k])[0] for k in range(4)]
    assert out["targets_prior"][0] == pytest.approx(np.mean(prior_by_hand))


def test_the_oracle_beats_the_prior_on_a_rare_count():
    """A truth's own predictive minimises the expected proper score; averaged over all its runs as records, twenty
    truths show it on a count that is mostly 0. With these seeds one record a truth (its first run, the next 100 its
    predictive) put the oracle at 1.22, 1.19 and 1.57 times the prior."""
    targets = [_target("eq", "count", value=1.0)]
    for seed in (10, 14, 35):
        rng = np.random.default_rng(seed)
        rates = rng.uniform(0.0, 1.0, 20) ** 3
        truths = [Ensemble(rng.poisson(r, (101, 1)).astype(float), np.ones((101, 1))) for r in rates]
        prior = Ensemble(rng.poisson(rng.uniform(0.0, 1.0, (800, 1)) ** 3).astype(float), np.ones((800, 1)))
        out = oracle_scores(targets, truths, prior)
        assert out["targets"][0] < 0.9 * out["targets_prior"][0]


def _settings(**kw) -> ScoreSettings:
    base = dict(frozen_dir=FROZEN, prior_draws=2, posterior_draws=2, seeds=1, oracle_truths=2, oracle_runs=2,
                truth_seed=1, bootstrap=200, tautological=0.95, min_channel_rows=2, recovery=Path("x"),
                hindcast=Path("y"))
    return ScoreSettings(**{**base, **kw})


def test_headline_leaves_out_tautological_rows_and_small_channels():
    frame = pd.DataFrame({
        "id": list("abcdef"), "channel": ["x", "x", "y", "y", "z", "x"],
        "part": ["brier", "crps", "brier", "sipri", "brier", "brier"],
        "gain": [0.1, 0.3, 0.2, 0.0, 0.5, 9.0], "attainable": [0.2, 0.4, 0.4, 0.4, 0.5, 9.0], "unit": 1.0,
        "attainable_paired": [0.1, 0.4, 0.2, 0.4, 0.5, 9.0], "tautological": [False] * 5 + [True]})
    frame["scored"] = ~frame.tautological
    h = headline(frame, _settings())
    assert h["overall"][0] == pytest.approx(1.1 / 1.9)
    assert h["brier"][0] == pytest.approx(0.8 / 1.1) and h["crps"][0] == pytest.approx(0.3 / 0.8)
    assert h["by_channel"]["x"][0] == pytest.approx(0.4 / 0.6) and h["by_channel"]["y"][0] == pytest.approx(0.2 / 0.8)
    assert "z" not in h["by_channel"] and h["channel_rows"] == {"x": 2, "y": 2, "z": 1}
    assert h["paired"]["overall"][0] == pytest.approx(1.1 / 1.6) and h["paired"]["brier"][0] == pytest.approx(0.8 / 0.8)
    assert h["sipri_pooled"][0] == pytest.approx(0.0)
    listed = tautological_rows(pd.DataFrame({"id": ["a", "b", "c"], "prior_holds": [0.95, 0.949, 1.0]}), 0.95)
    assert listed.id.tolist() == ["a", "c"]


def test_pooled_sipri_totals_weigh_each_by_the_priors_crps_on_the_record():
    # Two SIPRI totals: one the prior nearly matches (CRPS 0.01) where the posterior doubles its small error, one the
    # prior misses (CRPS 1.99) where the posterior gains half of the attainable. Per row the first dominates; pooled,
    # each counts for its share of the prior's error, and the block keeps its weight (2) beside a Brier row.
    frame = pd.DataFrame({
        "id": ["s1", "s2", "b"], "channel": ["sipri", "sipri", "x"], "part": ["sipri", "sipri", "brier"],
        "unit": [0.01, 1.99, 1.0], "gain": [-1.0, 0.25, 0.1], "attainable": [0.02, 0.5, 0.2],
        "attainable_paired": [0.02, 0.5, 0.2], "tautological": False})
    frame["scored"] = True
    h = headline(frame, _settings())
    assert h["parts"]["sipri"][0] == pytest.approx(-0.75 / 0.52)
    w = np.array([0.01, 1.99]) / 1.0
    assert h["sipri_pooled"][0] == pytest.approx((w @ [-1.0, 0.25]) / (w @ [0.02, 0.5]))
    assert h["overall_sipri_pooled"][0] == pytest.approx((w @ [-1.0, 0.25] + 0.1) / (w @ [0.02, 0.5] + 0.2))
    assert h["overall"][0] == pytest.approx(-0.65 / 0.72)  # the headline is unchanged by the pooled view


def _scores(r: float, reference: float | None, identified: int = 3, channels: dict | None = None) -> dict:
    ref = None if reference is None else {"R_overall": reference, "path": "calibration/frozen/priors_57f2c0b.yaml",
                                          "R_overall_interval": [reference - 1, reference + 0.5]}
    return {"R_overall": r, "reference_priors": ref, "identified_parameters": identified,
            "R_by_channel": channels or {"arms": 0.4, "aid": 1.2}}


def test_the_meaning_follows_the_weaker_r_and_names_what_the_fit_did_not_learn():
    # Judged by R alone, and by the lower of R and R with the reference priors when there is one.
    assert "learned most of" in meaning(_scores(0.6, None))
    assert "learned most of" in meaning(_scores(0.6, 0.55))
    weaker = meaning(_scores(0.6, 0.3))
    assert "learned part of" in weaker and "0.60 with the priors it was fitted with and 0.30 (-0.70 to 0.80)" in weaker
    assert "part of R is wider priors" in weaker
    assert "learned little of" in meaning(_scores(0.6, -1.05))
    # A reference above R does not lift the verdict, nor is R then said to come from wider priors.
    higher = meaning(_scores(0.3, 0.7))
    assert "learned part of" in higher and "wider priors, not learning" not in higher
    # No identified parameter and every channel below the prior are said.
    assert "no parameter identified" in meaning(_scores(0.6, None, identified=0))
    assert "no parameter identified" not in meaning(_scores(0.6, None, identified=1))
    below = meaning(_scores(0.6, None, channels={"space": -0.35, "arms": 0.1, "aid": -0.05}))
    assert "the space rows (R -0.35), aid rows (R -0.05) worse than the prior" in below


def test_the_target_set_is_frozen_and_a_change_is_caught(tmp_path):
    observations = load_observations()
    frozen = json.loads(FROZEN_TARGETS_PATH.read_text())
    assert check_frozen_targets(observations) == frozen["sha256"] == fit_snapshot(observations)["sha256"]
    assert frozen["rows"] == int((observations.use == "fit").sum())
    changed = observations.copy()
    first = changed.index[changed.use == "fit"][0]
    changed.loc[first, "tolerance"] = changed.loc[first, "tolerance"] + 1.0
    with pytest.raises(DataError) as info:
        check_frozen_targets(changed)
    assert "\n" not in str(info.value) and changed.loc[first, "id"] in str(info.value)
    # Context rows and prose are not part of the target set.
    prose = observations.copy()
    prose.loc[prose.use == "context", "value"] = 0.0
    prose["note"] = "rewritten"
    assert fit_snapshot(prose)["sha256"] == frozen["sha256"]
    with pytest.raises(DataError, match="file not found"):
        check_frozen_targets(observations, tmp_path / "none.json")


def test_committed_oracle_truths_and_tautological_rows():
    truths = pd.read_csv(FROZEN / "oracle_truths.csv")
    assert len(truths) >= 20 and sorted(truths.columns) == sorted(p.name for p in PRIORS)
    for p in PRIORS:
        assert truths[p.name].between(p.low, p.high).all()
        assert truths[p.name].nunique() == len(truths)  # drawn, not a grid or copies
    listed = pd.read_csv(FROZEN / "tautological.csv")
    ids = set(load_observations().query("use == 'fit'").id) | set(sipri_total_ids())
    assert set(listed.id) <= ids and (listed.prior_probability >= 0.95).all()


ISSUE_KEYS = ("R_overall", "R_brier", "R_crps", "R_by_channel", "R_min_channel", "n_rows_scored", "n_tautological",
              "coverage90_numeric", "coverage90_numeric_n", "coverage90_sipri", "coverage90_sipri_n",
              "pit_mean_numeric", "identified_parameters", "recovered_share", "recovery_coverage",
              "hindcast_skill_counts_persistence", "hindcast_skill_counts_trend", "hindcast_skill_sipri_persistence",
              "hindcast_skill_sipri_trend", "calibration_wall_s")


def test_shipped_scores_have_every_key_and_name_their_posterior():
    scores = json.loads((SHIPPED / "scores.json").read_text())
    for key in ISSUE_KEYS:
        assert scores[key] is not None, key
        if key != "R_by_channel":
            assert np.isfinite(float(scores[key])), key
    # A channel's R is undefined (NaN) only where the oracle gains nothing over the prior on its rows (scores.md:
    # "nothing to learn"); the lowest channel is the lowest of the others.
    rows = pd.read_csv(SHIPPED / "scores_rows.csv")
    attainable = rows[rows.scored].groupby("channel").attainable.sum()
    by_channel = scores["R_by_channel"]
    assert by_channel and all(np.isfinite(v) or attainable[c] <= 0 for c, v in by_channel.items())
    assert scores["R_min_channel"] == min(v for v in by_channel.values() if np.isfinite(v))
    assert scores["targets_sha256"] == json.loads(FROZEN_TARGETS_PATH.read_text())["sha256"]
    import hashlib
    digest = hashlib.sha256((SHIPPED / "posterior.parquet").read_bytes()).hexdigest()[:12]
    assert scores["posterior"] == f"posterior:{digest}"
    assert scores["provenance"]["code_version"] != "unknown" and "-dirty" not in scores["provenance"]["code_version"]


@pytest.mark.slow
def test_tiny_scores_run_freezes_then_reproduces(tmp_path):
    """Tiny priors and sizes: freeze=true writes the frozen inputs; a second run reads them and gives the same R."""
    frozen, out1, out2, out3 = tmp_path / "frozen", tmp_path / "one", tmp_path / "two", tmp_path / "three"
    common = [sys.executable, "-m", "calibration.scores", "calibration=tiny", f"scores.frozen_dir={frozen}",
              "scores.prior_draws=8", "scores.posterior_draws=8", "scores.seeds=2", "scores.oracle_truths=3",
              "scores.oracle_runs=6", "scores.bootstrap=200"]
    first = subprocess.run(common + ["freeze=true", f"out_dir={out1}"], cwd=ROOT, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.startswith("scores: R overall") and "scores: oracle: 3/3 draws x 7 seeds" in first.stderr
    truths = pd.read_csv(frozen / "oracle_truths.csv")
    assert truths.shape == (3, 4)
    second = subprocess.run(common + [f"out_dir={out2}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    one, two = (json.loads((d / "scores.json").read_text()) for d in (out1, out2))
    for key in ISSUE_KEYS[:-1]:
        # Tiny ensembles can leave a part with nothing attainable (R is NaN then): compare as JSON writes them.
        assert json.dumps(one[key]) == json.dumps(two[key]), key
    rows = pd.read_csv(out2 / "scores_rows.csv")
    assert {"id", "channel", "part", "prior", "posterior", "oracle", "gain", "attainable", "pit", "hit",
            "tautological"} <= set(rows.columns)
    assert set(rows.id[rows.tautological]) == set(pd.read_csv(frozen / "tautological.csv").id)
    assert (out2 / "scores_channels.png").is_file() and (out2 / "scores_pit.png").is_file()
    assert "# Proper scores" in (out2 / "scores.md").read_text()
    reference = two["coverage"]["pit_mean_numeric_reference"]
    assert reference["occurrence_selected"] == ["arms_mex_single_deal", "aid_per_2017", "aid_arg_2018",
                                                "surv_ecu_2018_cameras"]
    assert 0 <= reference["range90"][0] <= reference["mean"] <= reference["range90"][1] <= 1
    assert "`aid_per_2017`" in (out2 / "scores.md").read_text()
    assert two["reference_priors"]["path"] == "calibration/frozen/priors_57f2c0b.yaml"
    assert "scores: reference prior: 8/8 draws x 2 seeds" in second.stderr
    assert two["judgement_axes"] == [] and two["settings"]["judgement"] == "fixed"
    # The judgement axes of the shipped posterior's audit, drawn in the predictives: other posterior scores, the
    # same oracle records (its Brier scores are absolute; CRPS rows are in units of the prior's, which moves).
    third = subprocess.run(common + [f"out_dir={out3}", "scores.judgement=varied"], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert third.returncode == 0, third.stderr[-2000:]
    three = json.loads((out3 / "scores.json").read_text())
    audit = pd.read_csv(ROOT / "calibration" / "posterior" / "judgement.csv")
    axes = sorted(audit.name[audit.verdict == "forecasts depend on it"])
    assert sorted(three["judgement_axes"]) == axes and "Judgement varied" in (out3 / "scores.md").read_text()
    rows2, rows3 = (pd.read_csv(d / "scores_rows.csv").set_index("id") for d in (out2, out3))
    brier = rows2.part == "brier"
    pd.testing.assert_series_equal(rows2["oracle"][brier], rows3["oracle"][brier])
    assert not rows2["posterior"].equals(rows3["posterior"])


@pytest.mark.parametrize(("override", "key"), [
    ("scores.seeds=0", "scores.seeds"), ("scores.tautological=0.2", "scores.tautological"),
    ("scores.frozen_dir=/nonexistent", "scores.frozen_dir"), ("freeze=maybe", "freeze"),
    ("scores.recovery=/nonexistent.csv", "scores.recovery"), ("scores.extra=1", "scores.extra"),
    ("scores.reference_priors=/nonexistent.yaml", "scores.reference_priors"),
    ("scores.judgement=sometimes", "scores.judgement"),
    ("scores.occurrence_selected=[del_first_tour_2003]", "scores.occurrence_selected"),
])
def test_bad_scores_settings_are_one_line_errors_with_no_output(tmp_path, override, key):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "calibration.scores", "calibration=tiny", f"out_dir={out}", override],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.startswith(f"error: {key}") and run.stderr.count("\n") == 1, run.stderr
    assert not out.exists() or not any(out.iterdir())


def test_the_reference_prior_covers_todays_calibrated_parameters():
    """The 57f2c0b priors name the same 39 parameters as today's: 22 with a prior, 17 held at 57f2c0b's values."""
    from calibration.scores import load_reference

    priors, fixed = load_reference(FROZEN / "priors_57f2c0b.yaml")
    today = parse_priors(yaml.safe_load((ROOT / "configs" / "calibration" / "default.yaml").read_text())["priors"])
    assert sorted([p.name for p in priors] + list(fixed)) == sorted(p.name for p in today)
    assert fixed == {"arms.fail_base": 0.02, "arms.fail_fiscal": 1.5, "arms.fail_veto": 1.5, "arms.no_army_target": 1.0,
                     "arms.nonconvertible_target": 0.0, "china.aid_packages_per_year": 1.0, "space.alignment": 2.0,
                     "space.finance": 2.0, "china.donation_share": 0.15, "space.ground_share": 0.25,
                     "surveillance.subnational": 0.03, "port_calls.hosts_mean": 3.0, "arms.need_fiscal": 6.0,
                     "space.cbers_continuation": 0.15, "surveillance.finance": 0.02, "surveillance.growth": 0.3,
                     "surveillance.cameras_per_million": 300.0}


ONE_PRIOR = "priors: {arms: {need_intercept: {dist: uniform, low: -6.0, high: 0.0, why: x}}}\n"


@pytest.mark.parametrize(("text", "says"), [
    ("fixed: {arms.fail_base: 0.02}\n", "scores.reference_priors.priors: missing key"),
    ("priors: {arms: {fail_base: {dist: uniform, low: 0.0, high: 0.05, why: x}}}\nfixed: {arms.fail_base: 0.02}\n",
     "scores.reference_priors.fixed.arms.fail_base: also has a prior"),
    ("priors: {}\nother: 1\n", "scores.reference_priors.other: unknown key"),
    (ONE_PRIOR + "fixed: {arms.nope: 1.0}\n", "scores.reference_priors.fixed: params.arms.nope"),
    (ONE_PRIOR + "fixed: {arms.fail_base: 7.0}\n", "scores.reference_priors.fixed: params.arms.fail_base"),
])
def test_a_bad_reference_prior_is_a_one_line_error(tmp_path, text, says):
    from calibration.scores import load_reference

    path = tmp_path / "ref.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_reference(path)


def test_frozen_inputs_are_not_rewritten_without_freeze(tmp_path):
    frozen = tmp_path / "frozen"
    shutil.copytree(FROZEN, frozen)
    before = {p.name: p.read_bytes() for p in frozen.iterdir()}
    run = subprocess.run([sys.executable, "-m", "calibration.scores", "calibration=tiny", f"out_dir={tmp_path / 'o'}",
                          f"scores.frozen_dir={frozen}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    # The committed truths are over the default priors' parameters, not the tiny ones: refused, nothing rewritten.
    assert run.returncode == 2 and run.stderr.startswith("error: scores.frozen_dir:") and "freeze=true" in run.stderr
    assert {p.name: p.read_bytes() for p in frozen.iterdir()} == before


def test_the_target_set_command_checks_and_refuses_unknown_arguments():
    ok = subprocess.run([sys.executable, "-m", "calibration.observations"], cwd=ROOT, capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0 and "match the frozen target set" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "calibration.observations", "frezee"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr.startswith("error: arguments: 'frezee'") and bad.stderr.count("\n") == 1
    assert json.loads(FROZEN_TARGETS_PATH.read_text())["sha256"] == fit_snapshot(load_observations())["sha256"]
