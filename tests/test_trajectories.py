"""Tests of :mod:`calibration.trajectories`: bands and window totals by hand, the observations each panel overlays,
one valid PNG per channel from a real (small) predictive, and one-line errors for a bad predictive file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from calibration.observations import load_observations
from calibration.trajectories import PANELS, Panel, bands, main, panel_observations, plot_trajectories, window_total
from model.data import ModelData
from model.drivers import build_drivers, load_default_drivers
from model.params import ModelParams
from model.run import simulate
from model.schema import COLUMNS

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"
# The channels with fit observations that have a panel (industrial has fit rows but no regional figure).
EXPECTED = ["delegations", "training", "forums", "port_calls", "exercises", "arms", "aid", "space", "surveillance"]


@pytest.fixture(scope="module")
def observations() -> pd.DataFrame:
    return load_observations()


@pytest.fixture(scope="module")
def predictive(data: ModelData, params: ModelParams) -> pd.DataFrame:
    """2 draws x 2 seeds of the default parameters over 2000-2023, as calibration.predictive writes them."""
    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    frames = [simulate(params, data, drivers, 1, draw=d, seed=s).to_tidy("baseline", "defaults")
              for d in range(2) for s in range(2)]
    return pd.concat(frames, ignore_index=True)


def _runs(values: dict[tuple[int, int, int], list[float]]) -> pd.DataFrame:
    """A frame of ``draw, seed, year, value`` from {(draw, seed, year): [values of its rows]}."""
    return pd.DataFrame([{"draw": d, "seed": s, "year": y, "value": v}
                         for (d, s, y), vs in values.items() for v in vs])


def test_bands_are_quantiles_across_runs_by_hand():
    frame = _runs({(d, 0, 2000): [float(d + 1)] for d in range(5)})  # values 1..5 in one year
    b = bands(frame)
    assert list(b.columns) == ["year", "q05", "q25", "q50", "q75", "q95"]
    assert b.iloc[0].tolist() == pytest.approx([2000, 1.2, 2.0, 3.0, 4.0, 4.8])


def test_bands_sum_within_each_run_before_taking_quantiles():
    # Two partners per run: (1, 9) and (9, 1). Each run totals 10, so every quantile is 10; summing the per-partner
    # quantiles instead would give 1.4 + 1.4 at q05.
    frame = _runs({(0, 0, 2000): [1.0, 9.0], (0, 1, 2000): [9.0, 1.0],
                   (0, 0, 2001): [0.0, 2.0], (0, 1, 2001): [4.0, 0.0]})
    b = bands(frame).set_index("year")
    assert b.loc[2000].tolist() == pytest.approx([10.0] * 5)
    assert b.loc[2001, "q50"] == pytest.approx(3.0)
    assert b.loc[2001, "q05"] == pytest.approx(2.1)


def test_window_total_sums_each_run_over_the_window():
    frame = _runs({(d, 0, y): [float(d)] for d in range(5) for y in (2000, 2001, 2002)})
    assert window_total(frame, 2001, 2002) == pytest.approx((0.4, 4.0, 7.6))  # totals 0, 2, 4, 6, 8
    assert window_total(frame, 2001, 2003) is None  # 2003 was not simulated


def test_panels_overlay_the_one_year_and_window_sums_of_their_series(observations):
    one, several = panel_observations(observations, Panel("port_call", ""))
    assert sorted(one["id"]) == ["port_2002", "port_2009", "port_2012", "port_2013", "port_2015"] and several.empty
    one, several = panel_observations(observations, Panel("delegations", ""))
    assert one.empty and list(several["id"]) == ["del_visits_2000_2022"]
    # A state panel takes that state's rows only: Ecuador's 2018 cameras, not the regional adopters.
    one, several = panel_observations(observations, PANELS["surveillance"][1])
    assert list(one["id"]) == ["surv_ecu_2018_cameras"] and several.empty
    one, _ = panel_observations(observations, PANELS["exercises"][0])
    assert one.empty  # the one-year exercises are Peruvian, Venezuelan and Chilean, not regional


def test_one_valid_png_per_channel(predictive, observations, tmp_path):
    paths = plot_trajectories(predictive, observations, tmp_path / "figures")
    assert paths == [tmp_path / "figures" / f"trajectory_{c}.png" for c in EXPECTED]
    for path in paths:
        assert path.read_bytes()[:8] == PNG


def test_a_predictive_lacking_a_series_writes_nothing(predictive, observations, tmp_path):
    without = predictive[predictive["variable"] != "surveillance_cameras"]
    with pytest.raises(ValueError, match="surveillance_cameras at ECU"):
        plot_trajectories(without, observations, tmp_path / "figures")
    assert not (tmp_path / "figures").exists()


def test_cli_prints_the_paths(predictive, tmp_path, capsys):
    path = tmp_path / "posterior_predictive.parquet"
    predictive.to_parquet(path, index=False)
    main([str(path), str(tmp_path / "figures")])
    assert capsys.readouterr().out.split() == [str(tmp_path / "figures" / f"trajectory_{c}.png") for c in EXPECTED]


def test_cli_refuses_a_parquet_without_the_schema_columns(tmp_path, capsys):
    path = tmp_path / "other.parquet"
    pd.DataFrame({"year": [2000], "value": [1.0]}).to_parquet(path)
    with pytest.raises(SystemExit) as info:
        main([str(path), str(tmp_path / "figures")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {path}: lacks column(s) scenario, param_source") and COLUMNS[-1] in err
    assert not (tmp_path / "figures").exists()


def test_cli_refuses_a_file_that_is_not_parquet(tmp_path, capsys):
    path = tmp_path / "posterior_predictive.parquet"
    path.write_text("not parquet\n")
    with pytest.raises(SystemExit) as info:
        main([str(path), str(tmp_path / "figures")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and err.startswith(f"error: {path}: not a readable Parquet")
    assert not (tmp_path / "figures").exists()


def test_cli_missing_file_exits_2_with_one_error_line(tmp_path):
    missing = tmp_path / "nowhere.parquet"
    out = subprocess.run([sys.executable, "-m", "calibration.trajectories", str(missing), str(tmp_path / "figures")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"error: {missing}: not found; expected")
    assert not (tmp_path / "figures").exists()
