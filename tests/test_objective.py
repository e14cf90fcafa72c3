"""The distance's losses against numbers worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.objective import LOSS_CAP, PATTERN_WEIGHT, Weights, distance, score_components, target_losses
from calibration.targets import Target
from calibration.weights import MAX_ICC, information_weights


def target(relation: str, value: float = np.nan, low: float = np.nan, high: float = np.nan, tol: float = 0.0,
           kind: str = "count") -> Target:
    return Target(id="t", statistic="sum", threshold=0.0, slots=np.array([0]), region_slot=-1, states=np.array([0]),
                  t0=0, t1=0, years=np.array([2000]), relation=relation, value=value, low=low, high=high,
                  tolerance=tol, kind=kind)


@pytest.mark.parametrize(("t", "x", "expected"), [
    (target("eq", 11, tol=0), 11, 0.0),
    (target("eq", 11, tol=0), 13, 2.0),            # 2 in units of 1
    (target("eq", 100, tol=10), 105, 0.0),         # inside the tolerance
    (target("eq", 100, tol=10), 130, 2.0),         # excess 20 in units of 10
    (target("ge", 200, tol=20), 250, 0.0),         # one-sided: above the bound costs nothing
    (target("ge", 200, tol=20), 180, 1.0),         # 20 below, in units of 20
    (target("le", 10, tol=2.5), 15, 2.0),          # 5 above, in units of 2.5
    (target("between", low=5, high=7, tol=1), 6, 0.0),
    (target("between", low=5, high=7, tol=1), 10, 2.0),   # 3 above the window, 1 tolerated, 2 in units of 1
    (target("eq", 0, tol=0), 1000, LOSS_CAP),      # capped
])
def test_losses_by_hand(t, x, expected):
    assert target_losses([t], np.array([[x]]))[0, 0] == pytest.approx(expected)


def test_distance_averages_seeds_and_weighs_patterns_more():
    count = target("eq", 10, tol=0)
    pattern = target("eq", 1, tol=0, kind="pattern")
    sims = np.array([[10, 1], [12, 0], [10, 0]])
    # count losses 0, 2, 0 -> mean 2/3; pattern losses 0, 1, 1 -> mean 2/3, weighted PATTERN_WEIGHT.
    expected = (2 / 3 + PATTERN_WEIGHT * 2 / 3) / (1 + PATTERN_WEIGHT)
    assert distance([count, pattern], sims) == pytest.approx(expected)


def test_sipri_block_is_a_log_error():
    t = target("eq", 0, tol=0)
    sim, obs = np.array([[np.e - 1]]), np.array([[0.0]])  # log1p difference of 1 -> 1 / 0.5 = 2
    assert distance([t], np.zeros((1, 1)), sim, obs, Weights(sipri=1.0)) == pytest.approx((0 + 2) / 2)


def test_component_weights_replace_the_base_weights():
    count, pattern = target("eq", 10, tol=0), target("eq", 1, tol=0, kind="pattern")
    sims = np.array([[12.0, 0.0]])  # losses 2 and 1
    assert distance([count, pattern], sims, weights=Weights(components=(1.0, 0.0))) == pytest.approx(2.0)
    assert distance([count, pattern], sims, weights=Weights(components=(1.0, 3.0))) == pytest.approx((2 + 3) / 4)


def test_score_distance_by_hand():
    # A bound (Brier row) and a count (interval CRPS row), two seeds scored as an ensemble, plus one SIPRI total.
    bound, count = target("ge", 200, tol=20, kind="count"), target("eq", 10, tol=0)
    sims = np.array([[250.0, 10.0], [150.0, 14.0]])
    # Bound: holds in 1 of 2 seeds; fair Brier (1 - 1/2)^2 - (1/2)(1/2)/(2 - 1) = 0.
    # Count: fair CRPS of {10, 14} at 10: mean |x - 10| = 2 less sum |xi - xj| / (2 m (m - 1)) = 8 / 4 = 2 -> 0.
    # SIPRI: log1p {e - 1, e^3 - 1} at 0: mean 2 less |1 - 3| x 2 / 4 = 1 -> 1.
    sipri_sim, sipri_obs = np.array([[np.e - 1], [np.e ** 3 - 1]]), np.array([0.0])
    assert score_components([bound, count], sims, sipri_sim, sipri_obs) == pytest.approx([0.0, 0.0, 1.0])
    sims = np.array([[250.0, 11.0], [260.0, 13.0]])  # bound holds in both: 0; count {11, 13}: mean 2 less 4 / 4 = 1
    assert score_components([bound, count], sims) == pytest.approx([0.0, 1.0])
    # The distance is the mean over rows that count of score x weight (a weight of 0 leaves a row out).
    weights = Weights(kind="score", components=(1.0, 2.0, 0.0))
    assert distance([bound, count], sims, sipri_sim, sipri_obs, weights) == pytest.approx((0 + 2.0) / 2)
    with pytest.raises(ValueError, match="component weights"):
        distance([bound, count], sims, weights=Weights(kind="score"))


def test_information_weights_count_what_the_parameters_explain():
    rng = np.random.default_rng(0)
    draws, seeds = 400, 4
    signal = np.repeat(rng.normal(0, 2, (draws, 1)), seeds, axis=1)   # varies between draws only
    noise = rng.normal(0, 2, (draws, seeds))                          # varies between seeds only
    constant = np.zeros((draws, seeds))                               # never varies
    table = information_weights(np.stack([signal, noise, constant], axis=2), np.array([1.0, 1.0, 3.0]))
    assert table.icc[0] == pytest.approx(MAX_ICC)            # capped: no component is all signal
    assert table.sd[0] == pytest.approx(2.0, rel=0.1)
    assert table.weight[0] == pytest.approx(MAX_ICC / (1 - MAX_ICC) / table.sd[0])
    assert table.icc[1] < 0.05 and table.weight[1] < 0.05 * table.weight[0]
    assert table.icc[2] == 0.0 and table.weight[2] == 0.0


def test_grouped_components_are_weighed_by_their_mean_loss():
    rng = np.random.default_rng(1)
    draws, seeds = 400, 4
    signal = np.repeat(rng.normal(0, 1, (draws, 1, 1)), seeds, axis=1)
    # Four weak components: a shared signal under much more noise each; their mean carries the signal.
    weak = signal + rng.normal(0, 3, (draws, seeds, 4))
    base = np.full(4, 0.5)
    alone = information_weights(weak, base)
    together = information_weights(weak, base, np.array(["g"] * 4))
    assert together.icc.nunique() == 1 and together.icc[0] > alone.icc.max()
    # The group's weight (base 2, by the mean loss's SNR and sd) is shared by the members' base weights.
    group = information_weights(weak.mean(axis=2, keepdims=True), np.array([2.0]))
    assert together.weight.sum() == pytest.approx(group.weight[0]) and together.weight.nunique() == 1
