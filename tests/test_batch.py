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


def test_the_arms_market_is_stored_once_per_parameter_set_and_scenario(draws, data, drivers, red_lines):
    """Replicas of one parameter set and scenario (any seeds and driver paths) share one row of the market's yearly
    arrays; each replica's view of them is what its own run holds."""
    import model.arms

    scenario = [drivers, drivers, red_lines, drivers, red_lines]
    which = [0, 0, 0, 1, 0]
    m = DefenceTiesModel([draws[w] for w in which], data, scenario, root_seed=ROOT, draw=which, seed=[0, 5, 1, 0, 9])
    try:
        assert m.k.market_row.tolist() == [0, 0, 1, 2, 1]
        for name in model.arms.MARKET_ROWS:
            assert getattr(m.k, name).shape[0] == 3, name
        for r, (w, seed) in enumerate(zip(which, [0, 5, 1, 0, 9], strict=True)):
            alone = DefenceTiesModel(draws[w], data, scenario[r], root_seed=ROOT, draw=w, seed=seed)
            m.view(r)
            assert np.array_equal(m._static_utility, alone._static_utility)
            assert np.array_equal(m._legacy_due, alone._legacy_due)
            alone.release()
    finally:
        m.release()


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


@pytest.mark.parametrize("max_batch", [128, 3])
def test_scenarios_of_the_same_replicas_share_their_record_years_and_match_their_own_batches(draws, data, monkeypatch,
                                                                                            max_batch):
    """simulate_scenarios runs the record years once for the scenarios whose inputs agree up to 2023 and gives each
    scenario exactly its simulate_batch records; a scenario whose parameters or record-years drivers differ runs in
    full."""
    import dataclasses

    from test_scenarios import drivers_of

    import model.run

    base, red, vene = drivers_of("baseline"), drivers_of("us_hard_red_lines"), drivers_of("venezuela_transition")
    fiscal = base.fiscal_stress.copy()
    fiscal[10] += 0.2  # a driver that differs in 2010: that scenario cannot start from the baseline's 2023 state
    other_past = dataclasses.replace(base, fiscal_stress=fiscal)
    which, seeds = [0, 1, 2, 2, 1, 0, 1], [0, 1, 2, 3, 4, 5, 6]
    params = [draws[w] for w in which]
    bolder = [with_overrides(p, {"china.boldness_tension": 4.0}) for p in params]  # acts in the record years too
    scenarios = [(params, base), (params, red), (bolder, base), (params, other_past), (params, vene)]
    restored = []
    restore = DefenceTiesModel.restore
    monkeypatch.setattr(DefenceTiesModel, "restore", lambda self, h: (restored.append(h.t), restore(self, h)))
    monkeypatch.setattr(model.run, "MAX_BATCH", max_batch)
    got = model.run.simulate_scenarios(scenarios, data, ROOT, draws=which, seeds=seeds)
    pieces = -(-len(which) // max_batch)
    # The red lines and Venezuela's transition start from 2024 in every piece; the bolder China and the other past
    # run their record years themselves.
    assert restored == [24] * (2 * pieces)
    monkeypatch.setattr(model.run, "MAX_BATCH", 128)
    for (p, dr), runs in zip(scenarios, got, strict=True):
        alone = simulate_batch(p, data, dr, ROOT, draws=which, seeds=seeds)
        assert [(r.draw, r.seed) for r in runs] == list(zip(which, seeds, strict=True))
        for a, b in zip(runs, alone, strict=True):
            assert np.array_equal(a.states, b.states) and np.array_equal(a.region, b.region)
            for name in DEAL_COLUMNS:
                assert np.array_equal(a.deals[name], b.deals[name]), name
    # The scenarios differ after 2023, so sharing the record years was not trivial.
    assert not np.array_equal(got[0][0].states, got[1][0].states)


def test_a_forecast_group_gives_each_batch_the_tables_it_gives_alone(draws, data, monkeypatch):
    """run_group_parquet: the shared record years (a group within the model's batch size) and batches run one by one
    (larger) give the same Parquet tables, scenario by scenario."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from test_scenarios import drivers_of

    import experiments.ensemble as E
    import model.run

    group = tuple(E.Batch(label, 0, (draws[1], draws[2]), (0, 1), 2, ROOT, drivers_of(*names), 2000)
                  for label, names in (("baseline", ("baseline",)), ("red", ("us_hard_red_lines",))))
    shared = E.run_group_parquet(group, data)
    # 4 replicas a batch: each batch alone, in pieces (run_group_parquet reads the model's limit when it runs)
    monkeypatch.setattr(model.run, "MAX_BATCH", 3)
    alone = E.run_group_parquet(group, data)
    def frame(part: bytes):
        return pq.read_table(pa.BufferReader(part)).to_pandas()

    for a, b in zip(shared, alone, strict=True):
        for x, y in zip(a, b, strict=True):
            pd.testing.assert_frame_equal(frame(x), frame(y), check_exact=True)
    assert not frame(shared[0][0]).equals(frame(shared[1][0]))


@pytest.mark.parametrize("first_stored_year", [2000, 2021, 2030])
def test_a_batch_table_holds_each_runs_record_and_its_lac_row(first_stored_year, draws, data, drivers):
    """batch_tables: every row is its run's record at (year, state) in float32, the LAC row the state slots' sum (or
    mean) and the region slots, state rows NaN in the region columns; the record period's rows first."""
    import experiments.ensemble as E
    from model.schema import REGION, STATE_VARIABLES, column_names

    runs = simulate_batch([draws[0], draws[0], draws[1]], data, drivers, ROOT, draws=[0, 0, 1], seeds=[0, 1, 0])
    batch = E.Batch("baseline", 0, (draws[0], draws[1]), (0, 1), 2, ROOT, drivers, first_stored_year)
    table, _, groups = E.batch_tables(batch, runs, data)
    frame = table.to_pandas()
    assert sum(groups) == len(frame) == 3 * (2041 - first_stored_year) * (len(data.iso3) + 1)
    assert frame["year"].iloc[groups[0] - 1] == (2023 if first_stored_year <= 2023 else 2040)
    names, n_s = list(column_names()), len(STATE_VARIABLES)
    means = np.array([v.lac == "mean" for v in STATE_VARIABLES])
    for run in runs:
        mine = frame[(frame["draw"] == run.draw) & (frame["seed"] == run.seed)].sort_values(["year", "iso3"])
        at = run.years >= first_stored_year
        for iso, rows in mine.groupby("iso3", observed=True):
            values = rows[names].to_numpy()
            if iso == REGION:
                lac = run.states[at].sum(axis=1)
                lac[:, means] /= len(data.iso3)
                assert np.array_equal(values, np.concatenate([lac, run.region[at]], axis=1).astype(np.float32))
            else:
                state = run.states[at, data.iso3.index(iso)]
                assert np.array_equal(values[:, :n_s], state.astype(np.float32))
                assert np.isnan(values[:, n_s:]).all()


def test_iter_scenarios_refuses_more_replicas_than_one_batch(draws, data, drivers, monkeypatch):
    import model.run

    monkeypatch.setattr(model.run, "MAX_BATCH", 3)
    with pytest.raises(ValueError, match="iter_scenarios: 4 replicas; allowed: at most 3"):
        next(model.run.iter_scenarios([(draws[0], drivers)], data, ROOT, draws=0, seeds=[0, 1, 2, 3]))


def test_raw_noise_is_taken_only_by_the_replicas_it_was_drawn_for(params, data, drivers):
    """A second scenario's model of the same replicas takes the first's raw draws (the kernels read them, never
    write them); another set of replicas is refused."""
    first = DefenceTiesModel(params, data, drivers, root_seed=ROOT, draw=[0, 1], seed=[2, 3])
    again = DefenceTiesModel(params, data, drivers, root_seed=ROOT, draw=[0, 1], seed=[2, 3],
                             raw_noise=first.raw_noise)
    fresh = DefenceTiesModel(params, data, drivers, root_seed=ROOT, draw=[0, 1], seed=[2, 3])
    assert again.k.u_visits is first.k.u_visits
    for name, value in vars(fresh.k).items():
        assert np.array_equal(getattr(again.k, name), value), name
    with pytest.raises(ValueError, match="raw_noise: drawn for other replicas"):
        DefenceTiesModel(params, data, drivers, root_seed=ROOT, draw=[0, 1], seed=[2, 4], raw_noise=first.raw_noise)
    for m in (first, again, fresh):
        m.release()


def test_rows_that_do_not_stack_are_refused_with_the_arrays_name():
    from model.model import _stack

    assert _stack("coef", [np.zeros(3), np.ones(3)]).shape == (2, 3)
    with pytest.raises(ValueError, match=r"coef: a replica has shape \(4,\) and dtype float64; the batch's first"):
        _stack("coef", [np.zeros(3), np.zeros(3), np.ones(4)])
    with pytest.raises(ValueError, match=r"bias: a replica has shape \(2,\) and dtype complex128"):
        _stack("bias", [np.zeros(2), np.zeros(2, dtype=complex)])
