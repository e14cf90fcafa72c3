"""The distance's losses against numbers worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from calibration.objective import LOSS_CAP, PATTERN_WEIGHT, distance, target_losses
from calibration.targets import Target


def target(relation: str, value: float = np.nan, low: float = np.nan, high: float = np.nan, tol: float = 0.0,
           kind: str = "count") -> Target:
    return Target(id="t", statistic="sum", threshold=0.0, slots=np.array([0]), region_slot=-1, states=np.array([0]),
                  t0=0, t1=0, years=np.array([2000]), relation=relation, value=value, low=low, high=high,
                  tolerance=tol, kind=kind)


@pytest.mark.parametrize(("t", "x", "expected"), [
    (target("eq", 11, tol=0), 11, 0.0),
    (target("eq", 11, tol=0), 13, 4.0),            # (2 / 1)^2
    (target("eq", 100, tol=10), 105, 0.0),         # inside the tolerance
    (target("eq", 100, tol=10), 130, 4.0),         # excess 20 in units of 10
    (target("ge", 200, tol=20), 250, 0.0),         # one-sided: above the bound costs nothing
    (target("ge", 200, tol=20), 180, 1.0),         # 20 below, in units of 20
    (target("le", 10, tol=2.5), 15, 4.0),          # 5 above, in units of 2.5
    (target("between", low=5, high=7, tol=1), 6, 0.0),
    (target("between", low=5, high=7, tol=1), 10, 4.0),   # 3 above the window, 1 tolerated, 2 in units of 1
    (target("eq", 0, tol=0), 1000, LOSS_CAP),      # capped
])
def test_losses_by_hand(t, x, expected):
    assert target_losses([t], np.array([[x]]))[0, 0] == pytest.approx(expected)


def test_distance_averages_seeds_and_weighs_patterns_more():
    count = target("eq", 10, tol=0)
    pattern = target("eq", 1, tol=0, kind="pattern")
    sims = np.array([[10, 1], [12, 0], [10, 0]])
    # count losses 0, 4, 0 -> mean 4/3; pattern losses 0, 1, 1 -> mean 2/3, weighted PATTERN_WEIGHT.
    expected = (4 / 3 + PATTERN_WEIGHT * 2 / 3) / (1 + PATTERN_WEIGHT)
    assert distance([count, pattern], sims) == pytest.approx(expected)


def test_sipri_block_is_a_log_error():
    t = target("eq", 0, tol=0)
    sim, obs = np.array([[np.e - 1]]), np.array([[0.0]])  # log1p difference of 1 -> (1 / 0.5)^2 = 4
    from calibration.objective import Weights
    assert distance([t], np.zeros((1, 1)), sim, obs, Weights(sipri=1.0)) == pytest.approx((0 + 4) / 2)
