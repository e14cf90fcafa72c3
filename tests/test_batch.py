"""A replica's record does not depend on its batch: ``simulate_batch`` equals ``simulate`` run by run, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from model.model import DefenceTiesModel
from model.params import with_overrides
from model.run import DEAL_COLUMNS, simulate, simulate_batch

ROOT = 8128


@pytest.fixture(scope="module")
def draws(params):
    """Three parameter draws that move every channel, the arms market's failures and the alignment drift."""
    return [params,
            with_overrides(params, {"china.boldness_base": 1.5, "arms.fail_base": 0.04, "relations.kappa": 0.3,
                                    "delegations.log_rate": 0.5}),
            with_overrides(params, {"china.arms_credit_tiv": 900.0, "arms.deal_share": 0.6, "training.intercept": 1.0,
                                    "surveillance.innovation": 0.08})]


@pytest.fixture(scope="module")
def red_lines(data):
    """The hard red lines scenario (bans and sanctions from 2025), so the policy object acts."""
    from test_scenarios import drivers_of

    return drivers_of("us_hard_red_lines")


def _batch(r: int, draws):
    rng = np.random.default_rng(r)
    which = rng.integers(0, len(draws), size=r)
    seeds = rng.integers(0, 50, size=r)
    return which, seeds


@pytest.mark.parametrize("r", [1, 7, 64])
def test_each_replica_equals_its_own_run(r, draws, data, drivers):
    which, seeds = _batch(r, draws)
    batch = simulate_batch([draws[w] for w in which], data, drivers, ROOT, draws=which.tolist(), seeds=seeds.tolist())
    assert len(batch) == r
    for w, seed, got in zip(which, seeds, batch, strict=True):
        alone = simulate(draws[w], data, drivers, ROOT, draw=int(w), seed=int(seed))
        assert (got.draw, got.seed) == (int(w), int(seed))
        assert np.array_equal(got.states, alone.states)
        assert np.array_equal(got.region, alone.region)
        for name in DEAL_COLUMNS:
            assert np.array_equal(got.deals[name], alone.deals[name]), name


def test_a_batch_mixes_scenarios_and_matches_them_run_by_run(draws, data, drivers, red_lines):
    scenario = [drivers, red_lines, red_lines, drivers, red_lines]
    which = [0, 1, 2, 2, 0]
    batch = simulate_batch([draws[w] for w in which], data, scenario, ROOT, draws=which, seeds=[3, 3, 4, 5, 6])
    for got, w, d in zip(batch, which, scenario, strict=True):
        alone = simulate(draws[w], data, d, ROOT, draw=got.draw, seed=got.seed)
        assert np.array_equal(got.states, alone.states) and np.array_equal(got.region, alone.region)
    # The switches differ between the replicas, so the policy object had something to keep apart.
    assert red_lines.ban_categories.any() and not drivers.ban_categories.any()


def test_the_model_views_one_replica_and_rejects_another_out_of_range(draws, data, drivers):
    m = DefenceTiesModel(draws[:2], data, drivers, root_seed=ROOT, draw=[0, 1], seed=[0, 0])
    try:
        m.step()
        assert m.r_china.shape == (len(data.iso3),) and m.s.r_china.shape == (2, len(data.iso3))
        m.view(1)
        assert np.array_equal(m.r_china, m.s.r_china[1]) and m.china.boldness == m.china.x.boldness[1]
        assert m.states[0].r_china == m.s.r_china[1, 0]
        with pytest.raises(ValueError, match="replica: 2 is out of range"):
            m.view(2)
    finally:
        m.release()


def test_a_batch_longer_than_max_batch_runs_in_pieces_with_the_same_records(draws, data, drivers, monkeypatch):
    import model.run

    whole = simulate_batch(draws[0], data, drivers, ROOT, draws=0, seeds=list(range(7)))
    monkeypatch.setattr(model.run, "MAX_BATCH", 3)
    pieces = simulate_batch(draws[0], data, drivers, ROOT, draws=0, seeds=list(range(7)))
    assert [r.seed for r in pieces] == list(range(7))
    assert all(np.array_equal(a.states, b.states) for a, b in zip(whole, pieces, strict=True))


def test_a_pool_that_grows_gives_the_same_records(draws, data, drivers, monkeypatch):
    """Contracts take pool rows in signing order; a pool that starts small and grows holds the same uniforms."""
    import model.arms

    whole = simulate_batch(draws[2], data, drivers, ROOT, draws=2, seeds=[0, 1, 2])
    monkeypatch.setattr(model.arms, "POOL_ROWS", 16)
    grown = simulate_batch(draws[2], data, drivers, ROOT, draws=2, seeds=[0, 1, 2])
    assert all(np.array_equal(a.states, b.states) and np.array_equal(a.deals["size"], b.deals["size"])
               for a, b in zip(whole, grown, strict=True))
