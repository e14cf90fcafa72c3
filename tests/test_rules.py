"""The channel rules of model/rules.py against numbers worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit
from scipy.special import expit, logit

from model import rules


def test_decide_compares_logistic_noise_with_logit_and_gates():
    logit = np.array([0.0, 0.0, 2.0, 5.0])
    noise = np.array([-0.1, 0.1, 1.9, -9.0])
    is_open = np.array([True, True, True, False])
    assert rules.decide(logit, noise, is_open).tolist() == [1.0, 0.0, 1.0, 0.0]


def test_decide_matches_sigmoid_probability():
    # P(noise < logit) for standard logistic noise is sigmoid(logit): 1 / (1 + e^-1) = 0.7311 at logit 1.
    noise = np.random.default_rng(3).logistic(size=200_000)
    share = rules.decide(np.full_like(noise, 1.0), noise, np.ones(noise.shape, dtype=bool)).mean()
    assert share == pytest.approx(1 / (1 + math.exp(-1)), abs=0.005)


def test_peer_matrix_counts_eligible_members_of_each_group():
    # Two groups: states 0,1,2 in group 0 (state 2 not eligible), state 3 in group 1.
    members = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=float)
    flags = np.array([1.0, 0.0, 1.0, 1.0])
    eligible = np.array([1.0, 1.0, 0.0, 1.0])
    # Group 0: 1 of 2 eligible members sends -> 0.5; group 1: 1 of 1 -> 1.0.
    assert (rules.peer_matrix(members, eligible) @ flags).tolist() == [0.5, 0.5, 0.5, 1.0]
    # Over years at once: the same matrix in the year where eligibility matches.
    yearly = rules.peer_matrix(members, np.array([eligible, np.ones(4)]))
    assert yearly.shape == (2, 4, 4) and np.array_equal(yearly[0], rules.peer_matrix(members, eligible))


def test_peer_share_of_an_empty_group_is_zero():
    members = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert (rules.peer_matrix(members, np.zeros(2)) @ np.ones(2)).tolist() == [0.0, 0.0]


def test_update_stock_by_hand():
    # R=0.5, d=0.2, c=ln 2: kept = 0.4; gap closed by 1 - 1/2 = 0.5 of 0.6 -> 0.4 + 0.3 = 0.7.
    out = rules.update_stock(np.array([0.5]), np.array([math.log(2.0)]), 0.2)
    assert out[0] == pytest.approx(0.7)


def test_update_stock_decays_without_contact_and_stays_in_unit_interval():
    r = np.array([0.0, 0.3, 1.0])
    assert rules.update_stock(r, np.zeros(3), 0.25).tolist() == pytest.approx([0.0, 0.225, 0.75])
    big = rules.update_stock(r, np.full(3, 50.0), 0.0)
    assert np.all((big >= 0) & (big <= 1))


def test_weighted_pick_never_picks_zero_weight_and_returns_fewer_when_few_eligible():
    weights = np.array([0.0, 2.0, 0.0, 1.0])
    log_u = np.log(np.array([0.5, 0.9, 0.1, 0.2]))
    picked = rules.weighted_pick(weights, log_u, 3)
    assert sorted(picked.tolist()) == [1, 3]
    assert rules.weighted_pick(np.zeros(4), log_u, 2).size == 0


def test_weighted_pick_takes_the_largest_keys():
    # keys = log(u)/w: state0 log(.5)/1=-0.693, state1 log(.9)/1=-0.105, state2 log(.1)/10=-0.230 -> pick 1 then 2.
    weights = np.array([1.0, 1.0, 10.0])
    log_u = np.log(np.array([0.5, 0.9, 0.1]))
    assert sorted(rules.weighted_pick(weights, log_u, 2).tolist()) == [1, 2]


def test_weighted_pick_first_pick_is_proportional_to_weight():
    rng = np.random.default_rng(0)
    weights = np.array([1.0, 3.0])
    firsts = [rules.weighted_pick(weights, np.log(rng.random(2)), 1)[0] for _ in range(20_000)]
    assert np.mean(firsts) == pytest.approx(0.75, abs=0.01)


def test_failure_rate_by_hand():
    # shock = 1.0*(0.7 - 0.2) = 0.5; a stress the buyer signed under (0.6 then, 0.6 now) or one that eased (0.9 then)
    # shocks nothing. rate = 0.1 + 0.5 + 0.4 + 0.5*1 = 1.5 (failure probability 1 - e^-1.5, of which 0.4/1.5 is the
    # veto); the same deal in delivery: 0.1 + 0.4 + 0.5 = 1.0, its instalment paced at e^-0.5.
    shock = rules.fiscal_shock(np.array([0.7, 0.6, 0.3]), np.array([0.2, 0.6, 0.9]), 1.0)
    assert shock.tolist() == pytest.approx([0.5, 0.0, 0.0])
    veto, regime = np.array([0.4, 0.0, 0.0]), np.array([1.0, 0.0, 0.0])
    not_begun, begun = np.zeros(3, bool), np.ones(3, bool)
    assert rules.failure_rate(0.1, shock, not_begun, veto, regime, 0.5).tolist() == pytest.approx([1.5, 0.1, 0.1])
    assert rules.failure_rate(0.1, shock, begun, veto, regime, 0.5).tolist() == pytest.approx([1.0, 0.1, 0.1])
    assert rules.delivery_pace(shock, np.array([True, True, False])).tolist() == pytest.approx([np.exp(-0.5), 1, 1])


def test_regime_exposure_by_hand():
    # A turn towards the US (swing -1.2, Argentina 2016) exposes Chinese (+1) and Russian (+0.8) deals, not US (-1),
    # European (-0.3) or neutral (0) ones; a turn away from it (+0.7) exposes US and European deals; no change of
    # government (swing 0) exposes nothing.
    orientation = np.array([-1.0, 0.8, -0.3, 0.0, 1.0])
    assert rules.regime_exposure(np.full(5, -1.2), orientation).tolist() == pytest.approx([0, 0.96, 0, 0, 1.2])
    assert rules.regime_exposure(np.full(5, 0.7), orientation).tolist() == pytest.approx([0.7, 0, 0.21, 0, 0])
    assert not rules.regime_exposure(np.zeros(5), orientation).any()


def test_bass_hazard_by_hand_and_never_negative():
    # p + q s + push = 0.01 + 0.5*0.2 + 0.09 = 0.2 -> 1 - e^-0.2.
    h = rules.bass_hazard(0.01, 0.5, 0.2, np.array([0.09, -5.0]))
    assert h[0] == pytest.approx(1 - math.exp(-0.2))
    assert h[1] == 0.0


def test_poisson_quantile_is_the_inverse_cdf():
    from scipy.stats import poisson

    rng = np.random.default_rng(11)
    lam = np.concatenate([[0.0, 1e-9, 0.3, 2.0, 7.5, 30.0, 2e3, 1e6], rng.gamma(1.0, 5.0, size=500)])
    u = rng.random(lam.size)
    u[:3] = [0.5, 0.999999, 0.2]
    u[6:8] = [0.5, 0.01]
    assert rules.poisson_quantile(u, lam).tolist() == poisson.ppf(u, lam).astype(int).tolist()
    # Shape-preserving on a (replicas, states) array.
    grid = rules.poisson_quantile(u[:12].reshape(3, 4), lam[:12].reshape(3, 4))
    assert grid.shape == (3, 4) and grid.ravel().tolist() == rules.poisson_quantile(u[:12], lam[:12]).tolist()


def test_capped_poisson_is_the_inverse_cdf_up_to_its_cap():
    from scipy.stats import poisson

    rng = np.random.default_rng(12)
    lam = np.concatenate([[1e-9, 0.3, 2.0, 7.5, 12.0, 40.0], rng.gamma(1.0, 3.0, size=2000)])
    u = rng.random(lam.size)
    u[:2] = [0.999999, 0.5]
    expected = np.minimum(poisson.ppf(u, lam), 12).astype(int)
    assert rules.capped_poisson(u, lam, 12).tolist() == expected.tolist()
    assert (expected == 12).any() and (expected == 0).any()
    # A zero or NaN mean gives none (as no arrival falls within it); an infinite one the cap.
    assert rules.capped_poisson(np.array([0.7, 0.7, 0.7]), np.array([0.0, np.nan, np.inf]), 12).tolist() == [0, 0, 12]
    # Shape-preserving, and each count is its own uniform's: a count does not depend on its neighbours.
    grid = rules.capped_poisson(u[:12].reshape(3, 4), lam[:12].reshape(3, 4), 12)
    assert grid.shape == (3, 4) and grid.ravel().tolist() == expected[:12].tolist()
    assert rules.capped_poisson(u[5], lam[5], 12) == expected[5]


def test_race_choice_by_hand():
    # Each column finishes at E_j / exp(V_j - max V), E_j = -log u_j; the first to finish is chosen. Column 0's
    # margin is log(rate_0 / best other rate), plus the boost.
    utility = np.array([[0.0, 0.0, math.log(3.0)], [0.0, -np.inf, 1.0], [-np.inf, 0.0, 0.0], [0.0, -np.inf, -np.inf]])
    e = np.array([[1.0, 0.5, 2.0], [1.0, 1.0, 1.0], [1.0, 3.0, 2.0], [5.0, 1.0, 1.0]])
    choice, boosted = rules.race_choice(utility, np.exp(-e), column=0, boost=np.array([0.0, 2.0, 5.0, 0.0]))
    # Row 0: weights 1/3, 1/3, 1 (over the top, 3); rates 1/3, 2/3, 1/2: column 1 first; column 0's margin
    # log((1/3) / (2/3)) < 0. Row 1: rates e^-1, -, 1: column 2; margin -1, with the boost 2 - 1 > 0.
    # Row 2: column 0 unavailable: never chosen, whatever the boost; rates -, 1/3, 1/2: column 2.
    # Row 3: column 0 alone is available: chosen at any draw.
    assert choice.tolist() == [1, 2, 2, 0]
    assert boosted.tolist() == [False, True, False, True]
    half = np.full(3, 0.5)
    assert _pick(np.array([0.0, 0.0, 1.0]), half, 2) == (2, np.inf)
    assert _pick(np.array([1.0, 0.0, 0.0]), half, 0) == (0, np.inf)
    assert _pick(np.zeros(3), half, 1) == (0, -np.inf)


def _pick(weight, u, column):
    order = np.empty(len(weight), dtype=np.int64)
    return rules.race_pick(weight, u, column, order, rules.race_order(weight, column, order))


def test_race_pick_equals_a_scan_of_every_column():
    # The pick passes over the columns that cannot win without computing their exponentials; it must still give the
    # choice and margin of the plain scan in column order (the first of equal finishing times), ties included.
    rng = np.random.default_rng(5)
    for _ in range(20_000):
        weight = rng.choice([0.0, 1e-9, 0.3, 1.0, rng.random()], size=7)
        u = rng.choice([0.5, 1e-300, 1.0 - 2**-53, rng.random(), rng.random()], size=7)
        column = int(rng.integers(7))
        rates = np.array([w / -math.log(x) if w > 0 else -1.0 for w, x in zip(weight, u, strict=True)])
        rates[column] = -1.0
        best = int(np.argmax(rates)) if (rates > 0).any() else -1
        own = weight[column] / -math.log(u[column]) if weight[column] > 0 else 0.0
        if own == 0.0:
            expected = (max(best, 0), -np.inf)
        elif best < 0:
            expected = (column, np.inf)
        else:
            margin = math.log(own / rates[best])
            expected = (column if margin > 0 else best, margin)
        assert _pick(weight, u, column) == expected
    # A light column whose uniform is near 1 (-log u close to its bound 1 - u) finishing just ahead of the heavy one
    # scanned first: it must not be passed over.
    u = np.array([0.5, 1.0 - 1e-9, 0.5])
    ahead = -math.log(u[1]) / math.log(2.0) * (1.0 + 1e-8)
    assert _pick(np.array([1.0, ahead, 0.0]), u, 2)[0] == 1
    assert _pick(np.array([1.0, ahead * (1.0 - 2e-8), 0.0]), u, 2)[0] == 0


def test_race_choice_has_the_law_of_gumbel_argmax():
    rng = np.random.default_rng(5)
    v = np.array([0.3, -np.inf, 1.0, -0.5, 0.0])
    n = 200_000
    utility = np.tile(v, (n, 1))
    choice, boosted = rules.race_choice(utility, rng.random((n, 5)), column=0, boost=0.8)
    gumbel = utility + rng.gumbel(size=utility.shape)
    plain = gumbel.argmax(axis=1)
    gumbel[:, 0] += 0.8
    assert np.bincount(choice, minlength=5) / n == pytest.approx(np.bincount(plain, minlength=5) / n, abs=0.005)
    assert boosted.mean() == pytest.approx((gumbel.argmax(axis=1) == 0).mean(), abs=0.005)
    # Joint law: which other supplier a contract would go to without China's finance, given that the finance wins it.
    switched = boosted & (choice != 0)
    switched_gumbel = (gumbel.argmax(axis=1) == 0) & (plain != 0)
    assert (np.bincount(choice[switched], minlength=5) / switched.sum()
            == pytest.approx(np.bincount(plain[switched_gumbel], minlength=5) / switched_gumbel.sum(), abs=0.01))


def test_race_choice_moves_only_the_choices_a_changed_column_wins_or_loses():
    # Common random numbers across scenarios: with the same exponentials, closing column 1 sends its choices to each
    # row's next finisher and leaves every other choice as it was; raising column 2 only takes choices to it.
    rng = np.random.default_rng(11)
    n = 20_000
    utility = rng.normal(size=(n, 4))
    u = rng.random((n, 4))
    before, _ = rules.race_choice(utility, u, column=0)
    closed = utility.copy()
    closed[:, 1] = -np.inf
    after, _ = rules.race_choice(closed, u, column=0)
    assert (after[before != 1] == before[before != 1]).all() and (after != 1).all()
    second = np.argsort(-np.log(u) / np.exp(utility - utility.max(axis=1, keepdims=True)), axis=1)[:, 1]
    assert (after[before == 1] == second[before == 1]).all()
    raised = utility.copy()
    raised[:, 2] += 0.5
    up, _ = rules.race_choice(raised, u, column=0)
    moved = up != before
    assert moved.any() and (up[moved] == 2).all()


@njit
def _compiled_expit_logit(x: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    e, lg = np.empty_like(x), np.empty_like(u)
    for i in range(len(x)):
        e[i] = rules._expit(x[i], 0)
    for i in range(len(u)):
        lg[i] = rules._logit(u[i], 0)
    return e, lg


def test_compiled_expit_and_logit_are_scipys_to_the_bit():
    """The kernels call scipy's C functions; the model's records depend on their agreeing with the ufuncs exactly."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(200_000) * 3, rng.standard_normal(200_000) * 40,
                        [0.0, -0.0, 800.0, -800.0, np.inf, -np.inf, np.nan]])
    u = np.concatenate([rng.random(200_000), rng.random(1000) * 1e-300, [0.0, 1.0, 0.5, np.nan]])
    e, lg = _compiled_expit_logit(x, u)
    np.testing.assert_array_equal(e, expit(x))
    np.testing.assert_array_equal(lg, logit(u))


@pytest.mark.parametrize("n", [0, 1, 5, 7, 8, 9, 15, 16, 33, 100, 128, 129, 200, 257, 1000])
def test_pairwise_sum_is_numpys_sum_to_the_bit(n):
    """Compiled kernels sum what the numpy code summed; heavy tails make any other order differ in the last bits."""
    rng = np.random.default_rng(n)
    for _ in range(200):
        a = rng.standard_normal(n + 3) * rng.exponential(1.0, n + 3) ** 4
        got = rules.pairwise_sum(a, 3, n)
        assert got == a[3:].sum() and math.copysign(1, got) == math.copysign(1, a[3:].sum())
    assert math.copysign(1, rules.pairwise_sum(np.array([-0.0, -0.0]), 0, 2)) == 1.0  # numpy's identity is +0
