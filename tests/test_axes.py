"""Judgement axes (common.axes): which parameters, their draws, their overrides, and the forecast that varies
them (issue 16, item 2)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import common.axes as A
import experiments.forecast as F
from common.cli import CONFIG_DIR
from experiments.tables import SENSITIVITY_COLUMNS, compute_tables, effective_parameters, judgement_names
from model.params import ConfigError, load_default_params

HEADER = "name,default,low,high,rule,confidence,source,max_shift,worst_output,verdict,reason\n"


def _csv(path, rows: list[str]):
    path.write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [f"surveillance.imitation,0.15,0.075,0.3,factor,medium,judgement (medium),0.4,x,{A.DEPENDENCE},",
        f"relations.decay_china,0.15,0.06096,0.3242,share,medium,judgement (medium),0.6,x,{A.DEPENDENCE},",
        f"surveillance.onset_year,2005,2003,2007,integer,medium,judgement (medium),0.2,x,{A.DEPENDENCE},",
        f"arms.quality.2,1.2,0.6,2.4,factor,medium,judgement (medium),0.2,x,{A.DEPENDENCE},",
        f"china.priority_size,0.3,0.15,0.6,factor,medium,judgement (medium),0.01,x,{A.NO_DEPENDENCE},"]


def test_only_parameters_the_forecasts_depend_on_are_axes_and_calibrated_ones_never(tmp_path):
    path = _csv(tmp_path / "judgement.csv", ROWS)
    names = [a.name for a in A.load_axes(path)]
    assert names == sorted(["surveillance.imitation", "relations.decay_china", "surveillance.onset_year",
                            "arms.quality.2"])
    assert "arms.quality.2" not in [a.name for a in A.load_axes(path, exclude=["arms.quality.2"])]


@pytest.mark.parametrize("row, says", [
    (f"atlantis.x,1,0,2,factor,m,s,1,x,{A.DEPENDENCE},", "'atlantis.x' is not a model parameter"),
    (f"surveillance.imitation,0.15,0.2,0.3,factor,m,s,1,x,{A.DEPENDENCE},", "allowed: finite low <= default <= high"),
    (f"surveillance.imitation,0.15,0.1,0.3,cubic,m,s,1,x,{A.DEPENDENCE},", "rule 'cubic'; allowed: integer"),
])
def test_a_malformed_judgement_file_is_a_one_line_error(tmp_path, row, says):
    with pytest.raises(ConfigError, match=r"^forecast\.judgement: ") as err:
        A.load_axes(_csv(tmp_path / "judgement.csv", [row]))
    assert says in str(err.value) and "\n" not in str(err.value)
    (tmp_path / "bad.csv").write_text("name,low\nx,1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no column 'default'"):
        A.load_axes(tmp_path / "bad.csv")


def test_axes_whose_ends_the_model_refuses_together_are_a_one_line_error(tmp_path):
    # Each range alone is accepted on the defaults (lag_min 3 with lag_max 4; lag_max 2 with lag_min 1), but the
    # forecast draws both: lag_min 3 with lag_max 2 would stop it at the first such draw.
    rows = [f"arms.lag_min,1,0,3,integer,medium,s,0.2,x,{A.DEPENDENCE},",
            f"arms.lag_max,4,2,6,integer,medium,s,0.2,x,{A.DEPENDENCE},"]
    with pytest.raises(ConfigError, match=r"^forecast\.judgement: .*arms\.lag_max = 2 with arms\.lag_min = 3 is "
                                          r"refused") as err:
        A.load_axes(_csv(tmp_path / "judgement.csv", rows))
    assert "judgement_overrides.csv" in str(err.value) and "\n" not in str(err.value)
    # Narrowed by an override, lag_min is still drawn as whole numbers (the model takes no other).
    rows[0] = f"arms.lag_min,1,0,2,override,medium,s,0.2,x,{A.DEPENDENCE},"
    axes = A.load_axes(_csv(tmp_path / "judgement.csv", rows))
    assert [(a.name, a.rule) for a in axes] == [("arms.lag_max", "integer"), ("arms.lag_min", "integer")]
    drawn = A.sample(axes, 300, 5)["judgement:arms.lag_min"]
    assert set(drawn) == {0.0, 1.0, 2.0}


def test_values_are_uniform_on_the_scale_of_their_rule_by_hand():
    u = np.array([0.0, 0.5, 0.999999])
    factor = A.Axis("x", 1.0, 0.5, 2.0, "factor")
    np.testing.assert_allclose(A.axis_values(factor, u), [0.5, 1.0, 2.0], rtol=1e-5)  # the middle: the geometric mean
    share = A.Axis("x", 0.5, 1 / (1 + np.e), 1 / (1 + np.exp(-1)), "share")
    np.testing.assert_allclose(A.axis_values(share, u), [share.low, 0.5, share.high], rtol=1e-5)  # logit-uniform
    integer = A.Axis("x", 2005, 2003, 2007, "integer")
    assert A.axis_values(integer, np.array([0.0, 0.199, 0.2, 0.5, 0.999])).tolist() == [2003, 2003, 2004, 2005, 2007]
    span = A.Axis("x", 0.0, -1.0, 1.0, "log-scale")
    np.testing.assert_allclose(A.axis_values(span, u), [-1.0, 0.0, 1.0], atol=1e-5)


def test_draws_fill_each_range_and_an_axis_does_not_depend_on_the_others(tmp_path):
    axes = A.load_axes(_csv(tmp_path / "judgement.csv", ROWS))
    table = A.sample(axes, 4000, root_seed=7)
    for a in axes:
        v = table[A.PREFIX + a.name].to_numpy()
        assert v.min() >= a.low and v.max() <= a.high
        if a.rule == "integer":
            assert set(v) == set(range(int(a.low), int(a.high) + 1))
        if a.rule == "factor":  # log-uniform: half of the draws below the geometric mean
            assert abs(np.mean(v < np.sqrt(a.low * a.high)) - 0.5) < 0.03
    alone = A.sample(axes[:1], 4000, root_seed=7)
    np.testing.assert_array_equal(alone.iloc[:, 0], table[alone.columns[0]])
    assert not table.equals(A.sample(axes, 4000, root_seed=8))
    pd.testing.assert_frame_equal(table, A.sample(axes, 4000, root_seed=7))


def test_price_and_quality_vary_with_their_supplier_constant_rederived():
    """The constant absorbs the change of price or quality utility (SIPRI fixes only their sum); the domestic
    industry's judgement constant does not; any other parameter varies alone."""
    p = load_default_params()
    ap = p.arms
    out = A.setting_values(p, "arms.price.0", 2.0)
    assert out["arms.price.0"] == 2.0
    assert out["arms.supplier_constant.0"] == pytest.approx(
        ap.supplier_constant[0] + ap.beta_price * (2.0 - ap.price[0]))
    out = A.setting_values(p, "arms.price.6", 1.0)  # China: the price utility carries the discount
    assert out["arms.supplier_constant.6"] == pytest.approx(
        ap.supplier_constant[6] + ap.beta_price * (1 - p.china.discount) * (1.0 - ap.price[6]))
    out = A.setting_values(p, "arms.quality.3", 2.0)
    assert out["arms.supplier_constant.3"] == pytest.approx(
        ap.supplier_constant[3] - ap.beta_quality * (2.0 - ap.quality[3]))
    assert A.setting_values(p, "arms.quality.5", 1.5) == {"arms.quality.5": 1.5}
    assert A.setting_values(p, "arms.fail_regime", 1.0) == {"arms.fail_regime": 1.0}


def test_a_supplier_whose_price_and_quality_both_move_has_both_shifts_in_its_constant():
    p = load_default_params()
    ap = p.arms
    out = A.axis_overrides(p, {"arms.price.3": ap.price[3] + 0.1, "arms.quality.3": ap.quality[3] + 0.2,
                               "surveillance.imitation": 0.2})
    assert out["arms.supplier_constant.3"] == pytest.approx(
        ap.supplier_constant[3] + ap.beta_price * 0.1 - ap.beta_quality * 0.2)
    assert out["surveillance.imitation"] == 0.2


# --- the forecast that varies them ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def posterior_dir(tmp_path_factory):
    """A small weighted particle set with the audit's judgement.csv beside it."""
    rng = np.random.default_rng(3)
    folder = tmp_path_factory.mktemp("posterior")
    pd.DataFrame({"weight": rng.random(12), "arms.beta_lockin": rng.uniform(0, 5, 12),
                  "forums.peer": rng.uniform(0, 4, 12)}).to_parquet(folder / "posterior.parquet", index=False)
    _csv(folder / A.AXIS_FILE, ROWS)
    return folder


def _config(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("forecast", overrides=overrides), resolve=True)


def _run(folder, out, *extra):
    ov = [f"forecast.posterior={folder / 'posterior.parquet'}", "forecast.draws=6", "forecast.seeds=2",
          f"forecast.out_root={out}", "scenarios=[baseline,us_china_deterioration]", "forecast.first_stored_year=2020",
          "forecast.boldness_scenarios=[]", "forecast.executor=serial", *extra]
    return F.run_ensemble(_config(ov), ov)


def test_the_forecast_varies_the_axes_beside_its_posterior_and_fixed_keeps_the_rest(posterior_dir, tmp_path):
    work, settings, job, record = _run(posterior_dir, tmp_path / "auto")
    varied = pd.read_parquet(work / "draws.parquet")
    assert judgement_names(varied) == sorted(a for a in ("surveillance.imitation", "relations.decay_china",
                                                         "surveillance.onset_year", "arms.quality.2"))
    assert set(record["judgement_axes"]["axes"]) == set(judgement_names(varied))
    fixed_work, *_, fixed_record = _run(posterior_dir, tmp_path / "fixed", "forecast.judgement=fixed")
    fixed = pd.read_parquet(fixed_work / "draws.parquet")
    assert fixed_work.name != work.name and not judgement_names(fixed) and not fixed_record["judgement_axes"]["axes"]
    # The posterior's draws and the boldness uniforms are those of a forecast without axes.
    pd.testing.assert_frame_equal(varied[fixed.columns], fixed)
    params = F.draw_parameters(load_default_params(), varied, "central")
    for i, p in enumerate(params):
        assert p.surveillance.imitation == pytest.approx(varied["judgement:surveillance.imitation"].iat[i])
        assert p.arms.beta_lockin == pytest.approx(varied["arms.beta_lockin"].iat[i])
    runs = {k: pd.read_parquet(w / "ensemble").sort_values(["scenario", "draw", "seed", "year", "iso3"])
            for k, w in (("varied", work), ("fixed", fixed_work))}
    assert not runs["varied"]["surveillance_level.CHN"].reset_index(drop=True).equals(
        runs["fixed"]["surveillance_level.CHN"].reset_index(drop=True))
    tables = compute_tables(work, settings, job)
    assert "share_judgement" in tables["forecast"].columns
    sens = tables["sensitivity"]
    assert list(sens.columns) == list(SENSITIVITY_COLUMNS)
    named = set(effective_parameters(varied, "central").columns)
    assert set(sens.loc[sens["judgement"], "parameter"]) <= set(judgement_names(varied)) & named
    assert sens.loc[sens["judgement"], "prior_driven"].all()


def test_varied_without_the_audit_is_a_one_line_error_and_auto_says_why_nothing_varies(posterior_dir, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "posterior.parquet").write_bytes((posterior_dir / "posterior.parquet").read_bytes())
    with pytest.raises(ConfigError, match=r"^forecast\.judgement: varied, but .*judgement\.csv is not there"):
        _run(bare, tmp_path / "out", "forecast.judgement=varied")
    work, *_, record = _run(bare, tmp_path / "out")
    assert not judgement_names(pd.read_parquet(work / "draws.parquet"))
    assert "not found" in record["judgement_axes"]["note"]
    with pytest.raises(ConfigError, match=r"^forecast\.judgement: 'sometimes'; allowed: auto, varied, fixed$"):
        _run(bare, tmp_path / "out", "forecast.judgement=sometimes")


def test_an_audit_of_another_posterior_is_used_with_a_note(posterior_dir, tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    for name in ("posterior.parquet", A.AXIS_FILE):
        (folder / name).write_bytes((posterior_dir / name).read_bytes())
    (folder / "judgement_manifest.json").write_text(json.dumps({"judgement": {"posterior_sha256": "0" * 64}}))
    *_, record = _run(folder, tmp_path / "out")
    assert record["judgement_axes"]["axes"] and "another posterior file" in record["judgement_axes"]["note"]


def test_the_live_view_runs_a_draw_with_the_forecasts_axes():
    """The shipped posterior has its audit beside it: the live view's draw is the forecast's, axes included."""
    import experiments.live as L

    settings = F.parse_settings(_config([])["forecast"])
    posterior, *_ = F.load_inputs(settings)
    table, judged = F.forecast_draws(settings, posterior)
    assert judged.axes and not judged.note
    params = L.run_inputs("baseline", 3)[0]
    axis = judged.axes[0].name
    group, field, *index = axis.split(".")
    value = getattr(getattr(params, group), field)
    assert (value[int(index[0])] if index else value) == pytest.approx(table[A.PREFIX + axis].iat[3])


def test_draws_with_axes_keep_their_values_and_take_the_axes():
    p = load_default_params()
    axes = (A.Axis("surveillance.imitation", 0.15, 0.075, 0.3, "factor"), A.Axis("arms.quality.3", 1.2, 0.6, 2.4,
                                                                                   "factor"))
    draws = [{"arms.supplier_constant.3": -1.0, "forums.peer": 1.0}, {"arms.supplier_constant.3": 0.5,
                                                                       "forums.peer": 2.0}]
    out = A.with_axes(p, draws, axes, root_seed=5)
    table = A.sample(axes, 2, 5)
    for d, o, (_, row) in zip(draws, out, table.iterrows(), strict=True):
        assert o["forums.peer"] == d["forums.peer"]
        assert o["surveillance.imitation"] == row["judgement:surveillance.imitation"]
        q = row["judgement:arms.quality.3"]
        # The constant is re-derived from the draw's own (calibrated) value, not the default's.
        assert o["arms.supplier_constant.3"] == pytest.approx(
            d["arms.supplier_constant.3"] - p.arms.beta_quality * (q - p.arms.quality[3]))
    assert A.with_axes(p, draws, (), root_seed=5) == draws
