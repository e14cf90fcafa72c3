"""experiments.tables on small hand-made ensembles written in the forecast's layout (hive parts, events, draws)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from experiments import tables as T

STATES = ("ARG", "BRA")
ISO = STATES + ("LAC",)
COLS = ("forum_attends.CHN", "arms_imports_tiv.USA", "surveillance_level.CHN", "china_arms_share")
YEARS = tuple(range(2022, 2041))


def settings(draws: int, seeds: int, **kw) -> SimpleNamespace:
    return SimpleNamespace(draws=draws, seeds=seeds, first_table_year=2024, first_stored_year=YEARS[0],
                           posterior="defaults", **kw)


def blank(draws: int, seeds: int) -> np.ndarray:
    """values[year, draw, seed, iso3, column], zeros, with the region-only column NaN on state rows."""
    v = np.zeros((len(YEARS), draws, seeds, len(ISO), len(COLS)))
    v[:, :, :, : len(STATES), COLS.index("china_arms_share")] = np.nan
    return v


def write_ensemble(work: Path, label: str, values: np.ndarray, parts: int = 2, shuffle: int = 0) -> None:
    """One scenario's rows as hive parts split by draw, rows shuffled, iso3 dictionary-encoded as in the forecast."""
    n_y, n_d, n_s, n_i, _ = values.shape
    y, d, s, i = (a.ravel() for a in np.meshgrid(np.arange(n_y), np.arange(n_d), np.arange(n_s), np.arange(n_i),
                                                 indexing="ij"))
    flat = values.reshape(-1, len(COLS))
    rng = np.random.default_rng(shuffle)
    for k, chunk in enumerate(np.array_split(np.arange(n_d), parts)):
        rows = np.flatnonzero(np.isin(d, chunk))
        rows = rows[rng.permutation(rows.size)]
        iso = pa.DictionaryArray.from_arrays(pa.array(i[rows].astype(np.int8)), pa.array(list(ISO)))
        cols = {"draw": d[rows].astype(np.int32), "seed": s[rows].astype(np.int16),
                "year": np.array(YEARS, dtype=np.int16)[y[rows]], "iso3": iso}
        cols.update({c: flat[rows, j].astype(np.float32) for j, c in enumerate(COLS)})
        path = work / "ensemble" / f"scenario={label}" / f"part-{k:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(cols), path)


def write_events(work: Path, label: str, draws: int, seeds: int, events: dict[str, list[float]] | None = None) -> None:
    d, s = np.divmod(np.arange(draws * seeds), seeds)
    frame = pd.DataFrame({"draw": d.astype(np.int32), "seed": s.astype(np.int16)})
    for name, first in (events or {"china_arms_deal.BRA": [np.nan] * (draws * seeds)}).items():
        frame[name] = np.asarray(first, dtype=float)
    path = work / "events" / f"scenario={label}" / "part-00000.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.iloc[::-1].to_parquet(path, index=False)


def write_draws(work: Path, draws: int, params: dict[str, np.ndarray] | None = None) -> None:
    frame = pd.DataFrame({"draw": np.arange(draws)} | (params or {}))
    frame["u_boldness"] = np.linspace(0, 1, draws)
    frame.to_parquet(work / "draws.parquet", index=False)


def row(frame: pd.DataFrame, **key) -> pd.Series:
    hit = frame
    for k, v in key.items():
        hit = hit[hit[k] == v]
    assert len(hit) == 1, (key, len(hit))
    return hit.iloc[0]


# ------------------------------------------------------------------------------------------------ variance shares


@pytest.fixture(scope="module", autouse=True)
def few_resamples():
    """SALib's bootstrap is the slow part; 10 resamples are enough to test the plumbing."""
    saved, T.DELTA_RESAMPLES = T.DELTA_RESAMPLES, 10
    yield
    T.DELTA_RESAMPLES = saved


@pytest.fixture(scope="module")
def nested(tmp_path_factory) -> tuple[dict[str, pd.DataFrame], dict]:
    """1000 draws x 4 seeds: china_arms_share = draw + path + seed effects (sd 2, 1, 0.5); forum_attends driven by a
    prior-driven parameter p.one and a correlated p.two; arms imports by an independent p.three."""
    work = tmp_path_factory.mktemp("nested")
    n_d, n_s = 1000, 4
    rng = np.random.default_rng(1)
    one = rng.random(n_d)
    two = one + 0.5 * rng.random(n_d)
    three = rng.random(n_d)
    v = blank(n_d, n_s)
    shape = (len(YEARS), n_d, n_s)
    draw = rng.normal(0, 2, (len(YEARS), n_d, 1))
    path = np.repeat(rng.normal(0, 1, (len(YEARS), n_d, n_s // 2)), 2, axis=2)
    v[:, :, :, -1, COLS.index("china_arms_share")] = draw + path + rng.normal(0, 0.5, shape)
    forum = 3 * one + 2 * two
    noise = np.repeat(rng.normal(0, 0.5, (len(YEARS), n_d, n_s // 2)), 2, axis=2) + rng.normal(0, 0.5, shape)
    for i in range(len(ISO)):
        v[:, :, :, i, COLS.index("forum_attends.CHN")] = forum[None, :, None] + noise
        v[:, :, :, i, COLS.index("arms_imports_tiv.USA")] = 4 * three[None, :, None] + rng.normal(0, 0.1, shape)
    write_ensemble(work, "base", v)
    write_events(work, "base", n_d, n_s)
    write_draws(work, n_d, {"p.one": one, "p.two": two, "p.three": three})
    pd.DataFrame({"parameter": ["p.one", "p.two", "p.three"], "prior_driven": [True, False, False]}).to_csv(
        work / "prior_driven.csv", index=False)
    tables = T.compute_tables(work, settings(n_d, n_s), {"labels": ["base"]}, work / "prior_driven.csv")
    return tables, {"var_forum_given_one": 25 / 12, "var_forum": 25 / 12 + 1 / 12 + 0.25 + 0.25}


def test_variance_shares_recover_known_components(nested):
    f = nested[0]["forecast"]
    share = f[(f.iso3 == "LAC") & (f.variable == "china_arms_share")]
    assert len(share) == 17  # 2024..2040
    truth = np.array([4.0, 1.0, 0.25]) / 5.25
    got = share[["share_parameters", "share_drivers", "share_chance"]].to_numpy()
    np.testing.assert_allclose(got.sum(axis=1), 1.0)
    np.testing.assert_allclose(got.mean(axis=0), truth, atol=0.02)  # 17 independent years
    assert np.abs(got - truth).max() < 0.08


def test_constant_cells_have_no_shares(nested):
    f = nested[0]["forecast"]
    level = f[f.variable == "surveillance_level"]
    assert len(level) == 17 * len(ISO) and level["share_parameters"].isna().all()
    assert (level["median"] == 0).all() and not level["prior_driven"].any()
    assert not ((f.iso3 != "LAC") & (f.variable == "china_arms_share")).any()  # region-only rows stay LAC-only


def test_prior_driven_share_accounts_for_dependent_parameters(nested):
    tables, truth = nested
    f = tables["forecast"]
    forum = f[(f.iso3 == "BRA") & (f.variable == "forum_attends")]
    # E[Y | p.one] carries p.two's correlated part: 5 p.one, not 3 p.one (which would give ~0.28).
    expected = truth["var_forum_given_one"] / truth["var_forum"]
    assert abs(forum["share_prior_driven"].mean() - expected) < 0.03
    assert forum["prior_driven"].all()
    imports = f[(f.iso3 == "BRA") & (f.variable == "arms_imports_tiv")]
    assert imports["share_prior_driven"].max() < 0.05 and not imports["prior_driven"].any()
    assert imports["share_parameters"].min() > 0.95


def test_sensitivity_ranks_the_driving_parameter(nested):
    pytest.importorskip("SALib")
    s = nested[0]["sensitivity"]
    assert list(s.columns) == list(T.SENSITIVITY_COLUMNS)
    forum = s[s.output == "LAC forum_attends.CHN 2030"].set_index("parameter")
    assert forum.loc["p.one", "delta"] > forum.loc["p.three", "delta"] + 0.1
    assert forum.loc["p.one", "S1"] > 0.5 and forum.loc["p.one", "prior_driven"]
    assert not forum.loc["p.three", "prior_driven"]
    # The dummy (a column of noise) measures the floor: the driving parameter stands above it, the unrelated one not.
    floor = T.noise_floor(s).loc[("base", "LAC forum_attends.CHN 2030")]
    assert forum.loc["p.one", "delta"] > floor + 0.1 and forum.loc["p.three", "delta"] < floor + 0.05
    notes = nested[0]["notes"]["note"]
    assert notes.str.contains("surveillance_adopters").any()  # an output not in this ensemble



@pytest.mark.parametrize("n, discrete_x, tied_y", [(60, False, False), (200, True, False), (500, False, True),
                                                   (777, True, True)])
def test_plischke_delta_equals_salibs_calc_delta(n, discrete_x, tied_y):
    """The batched densities give SALib's estimate to rounding, with ties in x (ordinal ranks) and classes of equal
    outputs (skipped)."""
    salib = pytest.importorskip("SALib.analyze.delta")
    rng = np.random.default_rng(n)
    x = rng.integers(0, 4, n).astype(float) if discrete_x else rng.random(n)
    y = np.round(rng.random(n) * 3) * (x > np.median(x)) if tied_y else np.sin(3 * x) + rng.normal(0, 0.5, n)
    exponent = 2.0 / (7.0 + np.tanh((1500.0 - n) / 500.0))
    partition = np.linspace(0, n, int(np.round(min(int(np.ceil(n ** exponent)), 48))) + 1)
    grid = np.linspace(y.min(), y.max(), 100)
    rows = rng.integers(0, n, (6, n))
    want = [salib.calc_delta(y[r], grid, x[r], partition) for r in rows]
    np.testing.assert_allclose(T.plischke_delta(y, grid, x, partition, rows), want, rtol=1e-11, atol=1e-14)


def test_delta_analysis_follows_salibs_bias_reduced_delta_and_restores_the_global_state():
    """Same draws in the same order as SALib's bias_reduced_delta (then its S1 estimators) under the same seed; a
    constant column is a note, not an error; numpy's global random state is left as it was."""
    salib = pytest.importorskip("SALib.analyze.delta")
    rng = np.random.default_rng(9)
    x = np.column_stack([rng.random(300), rng.random(300), np.ones(300)])
    y = x[:, 0] ** 2 + 0.1 * rng.normal(size=300)
    np.random.seed(4)
    before = np.random.get_state()[1].copy()
    got = T.delta_analysis(x, y, ["a", "b", "c"], seed=11, resamples=7)
    assert np.array_equal(np.random.get_state()[1], before)
    n = 300
    exponent = 2.0 / (7.0 + np.tanh((1500.0 - n) / 500.0))
    partition = np.linspace(0, n, int(np.round(min(int(np.ceil(n ** exponent)), 48))) + 1)
    grid = np.linspace(y.min(), y.max(), 100)
    np.random.seed(11)
    for j, name in enumerate("ab"):
        d, conf, _ = salib.bias_reduced_delta(y, grid, x[:, j], partition, 7, 0.95, n, "raw", None, name, 10)
        salib.sobol_first_conf(y, x[:, j], partition, 7, 0.95, n)  # its draws come next in the shared stream
        assert got.loc[j, "delta"] == pytest.approx(d, rel=1e-11)
        assert got.loc[j, "delta_conf"] == pytest.approx(conf, rel=1e-9)
    assert got.loc[0, "delta"] > got.loc[1, "delta"] + 0.1
    assert np.isnan(got.loc[2, "delta"]) and "constant" in got.loc[2, "note"]


# ------------------------------------------------------------------------------------------------ comparison


def paired_work(root: Path, shuffle: int) -> Path:
    """Two scenarios, 30 draws x 4 seeds of random values on a 1/8 grid (exact in float32); 'shift' adds 2.5 to
    forum_attends in every run. Parts are split and shuffled differently per scenario."""
    work = root / f"paired{shuffle}"
    n_d, n_s = 30, 4
    rng = np.random.default_rng(5)
    base = blank(n_d, n_s)
    base[..., :3] = rng.integers(0, 800, base[..., :3].shape) / 8
    base[:, :, :, -1, 3] = rng.integers(0, 8, base.shape[:3]) / 8
    shifted = base.copy()
    shifted[..., COLS.index("forum_attends.CHN")] += 2.5
    write_ensemble(work, "base", base, parts=2, shuffle=shuffle)
    write_ensemble(work, "shift", shifted, parts=3, shuffle=shuffle + 1)
    write_ensemble(work, "same", base, parts=1, shuffle=shuffle + 2)
    for label in ("base", "shift", "same"):
        write_events(work, label, n_d, n_s)
    write_draws(work, n_d, {"p.one": rng.random(n_d)})
    return work


@pytest.fixture(scope="module")
def paired(tmp_path_factory) -> dict[str, pd.DataFrame]:
    work = paired_work(tmp_path_factory.mktemp("paired"), 0)
    return T.compute_tables(work, settings(30, 4), {"labels": ["base", "shift", "same"]}, work / "absent.csv")


def test_comparison_pairs_runs_by_draw_and_seed(paired):
    c = paired["comparison"]
    assert set(c.scenario) == {"shift", "same"} and sorted(set(c.year)) == [2030, 2035, 2040]
    values = ["diff_median", "diff_q05", "diff_q95", "diff_mean", "p_positive", "p_negative"]
    assert (c.loc[c.scenario == "same", values] == 0).all().all()
    c = c[c.scenario == "shift"]
    forum = c[c.variable == "forum_attends"]
    assert len(forum) == 3 * len(ISO)
    for col in ("diff_median", "diff_q05", "diff_q95", "diff_mean"):
        assert (forum[col] == 2.5).all(), col
    assert (forum.p_positive == 1).all() and (forum.p_negative == 0).all()
    other = c[c.variable != "forum_attends"]
    assert (other[values] == 0).all().all()
    # The reference's own level beside each difference: its quantiles over the same runs.
    ref = paired["forecast"]
    for _, r in forum.iterrows():
        level = row(ref, scenario="base", iso3=r.iso3, variable="forum_attends", year=r.year)
        assert (r.ref_median, r.ref_q05, r.ref_q95) == pytest.approx((level["median"], level.q05, level.q95))


def test_missing_prior_driven_list_is_said_not_fatal(paired):
    f = paired["forecast"]
    assert not f["prior_driven"].any() and f["share_prior_driven"].isna().all()
    assert paired["notes"]["note"].str.contains("absent.csv not found").any()
    assert any("not found" in n for n in f.attrs["notes"])


def test_tripwires_keep_only_signals_that_differ(paired):
    t = paired["tripwires"]
    shift = t[t.scenario == "shift"]
    # only forum_attends differs (by +2.5 in every run); each cell once, at its best year or sum
    assert set(shift.variable) == {"forum_attends"} and len(shift) == len(ISO)
    assert shift["rank"].tolist() == [1, 2, 3] and (shift.direction == "above").all() and (shift.auc > 0.5).all()
    assert (shift.p_scenario > shift.p_reference).all()
    assert not (t.scenario == "same").any()
    assert paired["notes"].query("scenario == 'same'")["note"].str.contains("no observable signal").any()


def test_tables_are_deterministic_and_independent_of_row_order(paired, tmp_path):
    again = T.compute_tables(paired_work(tmp_path, 0), settings(30, 4), {"labels": ["base", "shift", "same"]},
                             tmp_path / "absent.csv")
    other = T.compute_tables(paired_work(tmp_path, 7), settings(30, 4), {"labels": ["base", "shift", "same"]},
                             tmp_path / "absent.csv")
    for name, frame in paired.items():
        if name == "notes":
            continue
        pd.testing.assert_frame_equal(frame, again[name])
        pd.testing.assert_frame_equal(frame, other[name])
    assert list(paired["forecast"].columns) == list(T.FORECAST_COLUMNS)
    keys = ["scenario", "iso3", "variable", "partner", "year"]
    assert not paired["forecast"].duplicated(keys).any()


def test_labels_computed_apart_assemble_to_the_same_tables(tmp_path):
    """The forecast computes each label's part in its own worker, finishing in any order."""
    work, job = paired_work(tmp_path, 0), {"labels": ["base", "shift", "same"]}
    whole = T.compute_tables(work, settings(30, 4), job, tmp_path / "absent.csv")
    parts = {label: T.scenario_tables(work, settings(30, 4), job, label, tmp_path / "absent.csv")
             for label in reversed(job["labels"])}
    tables = T.assemble_tables(work, settings(30, 4), job, [parts[x] for x in job["labels"]], tmp_path / "absent.csv")
    assert set(tables) == set(whole)
    for name, frame in whole.items():
        pd.testing.assert_frame_equal(frame, tables[name])
    with pytest.raises(ValueError, match="not in the job"):
        T.scenario_tables(work, settings(30, 4), job, "other", tmp_path / "absent.csv")


@pytest.mark.parametrize("how", ["within a part", "across parts", "missing"])
def test_a_repeated_or_missing_row_is_refused(tmp_path, how):
    values = blank(4, 2)
    write_ensemble(tmp_path, "base", values, parts=2)
    part = tmp_path / "ensemble" / "scenario=base" / "part-00000.parquet"
    table = pq.read_table(part)
    if how == "within a part":
        table = pa.concat_tables([table, table.slice(5, 1)])
    elif how == "across parts":
        pq.write_table(table.slice(0, 3), part.with_name("part-00009.parquet"))
    else:
        table = table.slice(1)
    pq.write_table(table, part)
    dset = T._dataset(tmp_path, "ensemble")
    word = "1 missing and 0 repeated" if how == "missing" else "0 missing and 1 repeated" if how == "within a part" \
        else "0 missing and 3 repeated"
    with pytest.raises(ValueError, match=word):
        T.read_cube(dset, "base", YEARS, 4, 2, ISO, COLS)


def test_markdown_has_every_table_with_a_header(paired):
    md = T.markdown(paired)
    assert set(md) == set(paired)
    for name, text in md.items():
        assert text.startswith("# ") and "|" in text, name
    assert "| shift | LAC | forum_attends.CHN (states) |" in md["comparison"]
    assert "2.5 [2.5, 2.5] P+=1.00 P-=0.00" in md["comparison"]
    # Units from the schema; a state's yes/no series as a probability (its mean), the region's as a count of states.
    assert "| base | ARG | forum_attends.CHN (probability) |" in md["forecast"]
    assert "| base | LAC | arms_imports_tiv.USA (TIV m) |" in md["forecast"]
    assert "| base | ARG | forum_attends.CHN (years) |" in md["cumulative"]
    assert "| 2024-2030 | 2024-2040 |" in md["cumulative"] and "at least once" in md["cumulative"]
    # Paired differences of the totals: 'shift' adds 2.5 a year to forum_attends, 7 years to 2030.
    c = paired["cumulative"]
    forum = row(c, scenario="shift", iso3="ARG", variable="forum_attends", year_to=2030)
    assert forum.diff_median == forum.diff_q05 == forum.diff_q95 == 2.5 * 7 and forum.p_positive == 1
    assert (c.loc[c.scenario == "same", ["diff_median", "diff_q95", "p_positive"]] == 0).all().all()
    assert c.loc[c.scenario == "base", "diff_median"].isna().all()
    assert "vs reference 17.5 [17.5, 17.5] P+=1.00" in md["cumulative"]


def test_cumulative_totals_sum_each_run_over_its_period(tmp_path):
    n_d, n_s = 4, 2
    v = blank(n_d, n_s)
    forum, imports = COLS.index("forum_attends.CHN"), COLS.index("arms_imports_tiv.USA")
    arg = ISO.index("ARG")
    v[[YEARS.index(2025), YEARS.index(2031)], 0, :, arg, forum] = 1.0  # draw 0 only: once by 2030, twice by 2040
    v[:, :, :, ISO.index("LAC"), imports] = 3.0
    v[YEARS.index(2023), :, :, ISO.index("LAC"), imports] = 100.0  # before the period: not counted
    write_ensemble(tmp_path, "base", v)
    write_events(tmp_path, "base", n_d, n_s)
    write_draws(tmp_path, n_d)
    c = T.compute_tables(tmp_path, settings(n_d, n_s), {"labels": ["base"]}, tmp_path / "absent.csv")["cumulative"]
    assert list(c.columns) == list(T.CUMULATIVE_COLUMNS)
    # Only flow variables: the surveillance level (a state) and China's arms share (a ratio) are not summed.
    assert set(c.variable) == {"forum_attends", "arms_imports_tiv"}
    early = row(c, iso3="ARG", variable="forum_attends", year_to=2030)
    assert early.year_from == 2024 and early.p_any == 0.25 and early["mean"] == 0.25 and early["median"] == 0
    late = row(c, iso3="ARG", variable="forum_attends", year_to=2040)
    assert late.p_any == 0.25 and late["mean"] == 0.5 and late.q95 == 2
    assert row(c, iso3="LAC", variable="arms_imports_tiv", year_to=2030)["median"] == 7 * 3
    assert row(c, iso3="LAC", variable="arms_imports_tiv", year_to=2040)["q05"] == 17 * 3
    assert row(c, iso3="BRA", variable="forum_attends", year_to=2040).p_any == 0


# ------------------------------------------------------------------------------------------------ events


def test_event_probabilities_and_wilson_bounds(tmp_path):
    n_d, n_s = 5, 2
    v = blank(n_d, n_s)
    level = COLS.index("surveillance_level.CHN")
    v[YEARS.index(2023), 0, :, ISO.index("ARG"), level] = 2.0  # draw 0 (runs 0 and 1): ARG national before 2024
    v[YEARS.index(2030):, :, :, ISO.index("BRA"), level] = 2.0  # after 2024 only: no effect on applicability
    write_ensemble(tmp_path, "base", v)
    nan = np.nan
    write_events(tmp_path, "base", n_d, n_s, {
        "china_arms_deal.BRA": [2025, 2031, nan, 2040, 2030, nan, nan, 2036, 2024, nan],
        "national_surveillance.ARG": [nan, nan, 2028, nan, nan, nan, nan, nan, nan, 2033],
        "national_surveillance.BRA": [nan] * 10,
    })
    write_draws(tmp_path, n_d)
    tables = T.compute_tables(tmp_path, settings(n_d, n_s), {"labels": ["base"]}, tmp_path / "absent.csv")
    e = tables["events"]
    assert list(e.columns) == list(T.EVENT_COLUMNS) and len(e) == 9
    deal = e[e.event == "china_arms_deal.BRA"].set_index("by_year")
    assert deal["probability"].tolist() == [0.3, 0.4, 0.6] and (deal.n_runs == 10).all()
    # 90% Wilson, z = 1.644854: 3/10 -> centre 0.342588, half-width 0.215712
    assert deal.loc[2030, "low"] == pytest.approx(0.126877, abs=1e-5)
    assert deal.loc[2030, "high"] == pytest.approx(0.558300, abs=1e-5)
    arg = e[e.event == "national_surveillance.ARG"].set_index("by_year")
    assert (arg.n_runs == 8).all() and (arg.n_not_applicable == 2).all()
    assert arg["probability"].tolist() == [0.125, 0.25, 0.25]
    # 1/8: centre (0.125 + 0.169111) / 1.338221 = 0.219772, half-width 0.191372
    assert arg.loc[2030, "low"] == pytest.approx(0.028399, abs=1e-5)
    assert arg.loc[2030, "high"] == pytest.approx(0.411143, abs=1e-5)
    bra = e[e.event == "national_surveillance.BRA"]
    assert (bra.n_runs == 10).all() and (bra.probability == 0).all() and (bra.low == 0).all()
    # 2 seeds: no driver paths to tell apart, so no variance shares, and a note says so
    assert tables["forecast"]["share_chance"].isna().all()
    assert tables["notes"]["note"].str.contains("variance shares need").any()
    # no parameter varies across these draws: an empty sensitivity table with its columns
    assert tables["sensitivity"].empty and list(tables["sensitivity"].columns) == list(T.SENSITIVITY_COLUMNS)


def test_wilson_matches_the_textbook_95_interval():
    low, high = T.wilson(np.array(3), np.array(10), level=0.95)
    assert (round(float(low), 4), round(float(high), 4)) == (0.1078, 0.6032)


@pytest.mark.parametrize("n", [1, 2, 7, 2000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_column_quantiles_equal_numpys_bit_for_bit_and_leave_the_input_alone(n, dtype, order):
    rng = np.random.default_rng(n)
    y = (rng.poisson(2.0, size=(n, 40)) * rng.random(40)).astype(dtype)
    y[:, 3] = 0.0  # a constant column
    y[rng.integers(n), 7] = np.nan  # a column with a missing run is NaN at every quantile, as in numpy
    y = np.asarray(y, order=order)
    before = y.copy()
    for qs in (T.QUANTILES, (0.05, 0.5, 0.95), (0.0, 1.0)):
        expected = np.quantile(before, qs, axis=0)
        got = T.column_quantiles(y, qs)
        assert got.dtype == expected.dtype and np.array_equal(got, expected, equal_nan=True)
    assert np.array_equal(y, before, equal_nan=True)


# ------------------------------------------------------------------------------------------------ tripwires


def test_tripwire_finds_a_planted_signal(tmp_path):
    n_d, n_s = 40, 4
    rng = np.random.default_rng(3)
    ref = blank(n_d, n_s)
    ref[..., :3] = rng.integers(0, 4, ref[..., :3].shape)
    ref[:, :, :, -1, 3] = rng.random(ref.shape[:3])
    planted = ref.copy()
    bra, forum = ISO.index("BRA"), COLS.index("forum_attends.CHN")
    planted[YEARS.index(2027), :, :, bra, forum] += 2 + rng.integers(0, 2, (n_d, n_s))
    write_ensemble(tmp_path, "ref", ref)
    write_ensemble(tmp_path, "planted", planted)
    for label in ("ref", "planted"):
        write_events(tmp_path, label, n_d, n_s)
    write_draws(tmp_path, n_d)
    t = T.compute_tables(tmp_path, settings(n_d, n_s), {"labels": ["ref", "planted"]}, tmp_path / "a.csv")["tripwires"]
    assert list(t.columns) == list(T.TRIPWIRE_COLUMNS)
    assert len(t) == 1  # everything else is identical; the 2024-2030 sum of the same cell is the same signal
    top = t.iloc[0]
    key = (top.iso3, top.variable, top.partner, top.signal, top.year_to)
    assert key == ("BRA", "forum_attends", "CHN", "level", 2027)
    assert top.direction == "above" and top.auc > 0.9 and top["rank"] == 1
    assert top.p_scenario > 0.8 and top.p_reference < 0.3
    s = planted[YEARS.index(2027), :, :, bra, forum].ravel()
    r = ref[YEARS.index(2027), :, :, bra, forum].ravel()
    assert top.p_scenario == (s >= top.threshold).mean() and top.p_reference == (r >= top.threshold).mean()
    best = max((s >= x).mean() - (r >= x).mean() for x in np.unique(np.r_[s, r]))
    assert top.youden_j == pytest.approx(best)


@pytest.mark.parametrize(("value", "text"), [
    (9.09e-05, "0.0000909"), (0.682, "0.682"), (26.04, "26"), (1286.4, "1,290"), (48612, "48,600"),
    (-0.0123, "-0.0123"), (99.96, "100"), (0.0, "0"), (float("nan"), "–"), (float("inf"), "∞"),
])
def test_numbers_read_without_exponent_at_three_significant_figures(value, text):
    assert T.num(value) == text
