"""Forecast figures, the HTML report and the gathering of many forecasts, on small hand-made work folders."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from experiments.gather import differing, flatten
from experiments.gather import main as gather_main
from experiments.report import (
    COMPARISON_VARIABLES,
    FAN_FIGURES,
    PLACES,
    column_of,
    comparison_charts,
    difference_charts,
    difference_statistics,
    fan_charts,
    fixed_grid,
    html_report,
    markdown_html,
    new_figure,
    read_scenario,
    summarise,
)
from model.data import ISO3
from model.params import PROJECT_ROOT
from model.schema import REGION, REGION_COLUMNS, column_names

PNG = b"\x89PNG\r\n\x1a\n"
LABELS = ["baseline", "tension", "tension@cautious", "tension@bold"]
JOB = {"labels": LABELS, "scenarios": ["baseline", "tension", "tension", "tension"],
       "boldness": ["central", "central", "cautious", "bold"], "param_source": "defaults"}
DRAWS, SEEDS = 3, 2
YEARS = np.arange(2000, 2041)
FIGS = ["fan_surveillance", "fan_region"]  # state panels (fans and means), region-only series, observations


def _part(label: str, shift: float) -> pa.Table:
    """One scenario's rows in the forecast's layout: (draw, seed, year, iso3) with every value column."""
    rng = np.random.default_rng(len(label))
    places = list(ISO3) + [REGION]
    n_runs, n_places = DRAWS * SEEDS, len(places)
    n = n_runs * len(YEARS) * n_places
    values = rng.random((n, len(column_names())), dtype=np.float32)
    values[:, : -len(REGION_COLUMNS)] *= 3
    future = np.tile(np.repeat(YEARS >= 2024, n_places), n_runs)
    values[future] += shift
    codes = np.tile(np.arange(n_places, dtype=np.int8), n_runs * len(YEARS))
    values[codes != n_places - 1, -len(REGION_COLUMNS):] = np.nan
    cols = {"draw": np.repeat(np.arange(DRAWS, dtype=np.int32), SEEDS * len(YEARS) * n_places),
            "seed": np.tile(np.repeat(np.arange(SEEDS, dtype=np.int16), len(YEARS) * n_places), DRAWS),
            "year": np.tile(np.repeat(YEARS.astype(np.int16), n_places), n_runs),
            "iso3": pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(places))}
    cols.update({c: values[:, j] for j, c in enumerate(column_names())})
    return pa.table(cols)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("work")
    for k, label in enumerate(LABELS):
        part = root / "ensemble" / f"scenario={label}" / "part-00000.parquet"
        part.parent.mkdir(parents=True)
        pq.write_table(_part(label, 2.0 * k), part)
    return root


@pytest.fixture(scope="module")
def fans(work: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return fan_charts(work, JOB, tmp_path_factory.mktemp("fig"), figures=FIGS)


@pytest.fixture(scope="module")
def comparison() -> pd.DataFrame:
    rows = []
    for scenario in ("tension", "tension@bold"):
        for variable in (*COMPARISON_VARIABLES[:3], "china_arms_share", "not_a_main_variable"):
            for iso in PLACES:
                for year in (2024, 2030, 2035, 2040):
                    rows.append((scenario, iso, "CHN", "x", variable, year, 1.0, -0.5, 2.5, 1.1, 0.7))
    return pd.DataFrame(rows, columns=["scenario", "iso3", "partner", "channel", "variable", "year", "diff_median",
                                       "diff_q05", "diff_q95", "diff_mean", "p_positive"])


@pytest.fixture(scope="module")
def comparison_pngs(comparison: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return comparison_charts(comparison, tmp_path_factory.mktemp("cmp"))


def test_summaries_are_quantiles_across_runs(work: Path) -> None:
    frame = read_scenario(work, "tension", ["delegations.CHN", "china_arms_share"])
    assert set(frame["iso3"]) == set(PLACES) and len(frame) == DRAWS * SEEDS * len(YEARS) * len(PLACES)
    s = summarise(frame, ["delegations.CHN", "china_arms_share"])
    runs = frame[(frame["iso3"] == "VEN") & (frame["year"] == 2030)]["delegations.CHN"].to_numpy()
    got = s.loc[("delegations.CHN", "VEN", 2030)]
    assert np.allclose(got[["q05", "q50", "q95"]].to_numpy(float), np.quantile(runs, [0.05, 0.5, 0.95]))
    assert got["mean"] == pytest.approx(runs.mean()) and got["runs"] == DRAWS * SEEDS
    # The band of a mean: quantiles over the draws of each draw's mean over its seeds.
    one = frame[(frame["iso3"] == "VEN") & (frame["year"] == 2030)]
    per_draw = one.groupby("draw")["delegations.CHN"].mean().to_numpy()
    assert np.allclose(got[["draw_q05", "draw_q95"]].to_numpy(float), np.quantile(per_draw, [0.05, 0.95]))
    # A region-only column is summarised on the LAC row alone.
    assert set(s.loc["china_arms_share"].index.get_level_values("iso3")) == {REGION}


def test_summaries_skip_missing_values_and_uneven_groups_as_pandas_does() -> None:
    rng = np.random.default_rng(5)
    rows = [(iso, year, d, s) for iso in ("VEN", REGION) for year in (2030, 2031) for d in range(6) for s in range(3)]
    frame = pd.DataFrame(rows, columns=["iso3", "year", "draw", "seed"]).sample(frac=1.0, random_state=1)
    frame["delegations.CHN"] = rng.poisson(4.0, len(frame)).astype(float)
    frame["china_arms_share"] = np.where(frame["iso3"] == REGION, rng.random(len(frame)), np.nan)
    frame = frame.drop(frame.index[::5])  # groups of unequal size, draws with fewer seeds
    frame.loc[frame.index[::7], "delegations.CHN"] = np.nan
    got = summarise(frame, ["delegations.CHN", "china_arms_share"])
    for (col, iso, year), row in got.iterrows():
        one = frame[(frame["iso3"] == iso) & (frame["year"] == year)]
        runs = one[col].dropna().to_numpy()
        assert np.allclose(row[["q05", "q50", "q95"]].to_numpy(float), np.quantile(runs, [0.05, 0.5, 0.95]))
        assert row["mean"] == pytest.approx(runs.mean()) and row["runs"] == len(one)
        per_draw = one.groupby("draw")[col].mean().dropna().to_numpy()
        assert np.allclose(row[["draw_q05", "draw_q95"]].to_numpy(float), np.quantile(per_draw, [0.05, 0.95]))
    assert set(got.loc["china_arms_share"].index.get_level_values("iso3")) == {REGION}


def test_fixed_grid_places_panels_with_the_margins_and_gaps_asked_in_inches() -> None:
    fig = new_figure(12.0, 10.0)
    axes = fig.subplots(3, 2, squeeze=False)
    fixed_grid(fig, 3, 2, top=1.0, bottom=0.5, legend=0.1, left=0.6, right=0.3, wgap=0.9, hgap=0.7)
    box = [[ax.get_position() for ax in row] for row in axes]  # figure fractions
    assert box[0][0].x0 * 12 == pytest.approx(0.6) and (1 - box[0][1].x1) * 12 == pytest.approx(0.3)
    assert (1 - box[0][0].y1) * 10 == pytest.approx(1.0)
    assert box[2][0].y0 * 10 == pytest.approx(0.5 + 0.1 * 10)  # the legend's share lies below the bottom margin
    assert (box[0][1].x0 - box[0][0].x1) * 12 == pytest.approx(0.9)
    assert (box[0][0].y0 - box[1][0].y1) * 10 == pytest.approx(0.7)
    assert (box[1][0].y0 - box[2][0].y1) * 10 == pytest.approx(0.7)


def test_fan_charts_write_deterministic_pngs(work: Path, fans: list[Path], tmp_path: Path) -> None:
    assert [p.name for p in fans] == [f"{n}.png" for n in FIGS]
    for p in fans:
        data = p.read_bytes()
        assert data.startswith(PNG) and len(data) > 20_000
        assert b"tEXt" not in data and b"tIME" not in data  # no software tag or time: same inputs, same bytes
    again = fan_charts(work, JOB, tmp_path, figures=FIGS[-1:])
    assert again[0].read_bytes() == fans[-1].read_bytes()
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_fan_charts_refuse_unknown_inputs(work: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fan_nothing"):
        fan_charts(work, JOB, tmp_path, figures=["fan_nothing"])
    with pytest.raises(ValueError, match="no rows of scenario 'missing'"):
        fan_charts(work, {"labels": ["baseline", "missing"]}, tmp_path, figures=FIGS[:1])
    assert not list(tmp_path.iterdir())
    assert len({f.name for f in FAN_FIGURES}) == len(FAN_FIGURES) <= 16


def test_difference_paths_are_paired_run_by_run(work: Path, tmp_path: Path) -> None:
    stats = difference_statistics(work, JOB, "tension")
    col = column_of("delegations")
    own, ref = (read_scenario(work, lab, [col], places=(REGION,)) for lab in ("tension", "baseline"))
    pick = [(f["year"] == 2031).to_numpy() for f in (own, ref)]
    # Rows of both come in the same (draw, seed) order, so the differences are run by run.
    diff = own[col].to_numpy(np.float64)[pick[0]] - ref[col].to_numpy(np.float64)[pick[1]]
    got = stats[(stats["column"] == col) & (stats["year"] == 2031)].iloc[0]
    assert np.allclose(got[["q05", "q50", "q95"]].to_numpy(float), np.quantile(diff, [0.05, 0.5, 0.95]))
    assert got["mean"] == pytest.approx(diff.mean())
    assert got["ref_median"] == pytest.approx(np.median(ref[col].to_numpy(np.float64)[pick[1]]))
    assert sorted(set(stats["year"])) == list(range(2024, 2041))
    assert set(stats["column"]) == {column_of(v) for v in COMPARISON_VARIABLES}
    # The reference against itself differs by nothing.
    same = difference_statistics(work, JOB, "baseline")
    assert (same[["q05", "q50", "q95", "mean"]].to_numpy() == 0).all()
    paths = difference_charts(work, JOB, "tension@bold", tmp_path)
    assert [p.name for p in paths] == ["difference_tension-bold.png"] and paths[0].read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="no rows of scenario 'missing'"):
        difference_statistics(work, JOB, "missing")


def test_comparison_charts_one_png_per_scenario(comparison: pd.DataFrame, comparison_pngs: list[Path],
                                               tmp_path: Path) -> None:
    assert [p.name for p in comparison_pngs] == ["comparison_tension.png", "comparison_tension-bold.png"]
    assert all(p.read_bytes().startswith(PNG) for p in comparison_pngs)
    assert comparison_charts(comparison[comparison["year"] == 2024], tmp_path / "none") == []
    with pytest.raises(ValueError, match="diff_q95"):
        comparison_charts(comparison.drop(columns="diff_q95"), tmp_path)


RECORD = {"created": "2024-05-01T00:00:00+00:00", "code_version": "abc123def-dirty",
          "config": {"forecast": {"draws": 3, "seeds": 2}, "scenarios": ["baseline", "tension"]},
          "seeds": {"root_seed": 7, "draws": 3, "seeds": 2}, "data_hashes": {"states.csv": "f00dfeed"},
          "packages": {"mesa": "3.3.1"}, "forecast": JOB, "posterior_sha256": "defaults"}


def test_html_report_is_self_contained(fans: list[Path], comparison_pngs: list[Path]) -> None:
    figures = fans + comparison_pngs
    sensitivity = pd.DataFrame({"scenario": ["tension"] * 2, "output": ["forums_2040"] * 2,
                                "parameter": ["china.boldness_tension", "us.veto"], "delta": [0.4, 0.1],
                                "delta_conf": [0.05, 0.02], "S1": [0.3, 0.05], "S1_conf": [0.1, 0.01],
                                "prior_driven": [True, False]})
    md = {"forecast": "# Forecast\n\nSee https://example.org and <script>alert(1)</script>.\n\n"
                      "| scenario | year | median |\n|---|---:|---:|\n| tension | 2040 | 12.5 |\n"}
    text = html_report(md, {"forecast": pd.DataFrame({"a": [1]}), "sensitivity": sensitivity}, figures, RECORD)
    sources = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', text)
    images = [s for s in sources if s.startswith("data:")]
    assert len(images) == len(figures) and all(s.startswith("data:image/png;base64,") for s in images)
    assert all(s.startswith(("data:", "#")) for s in sources)
    assert not re.search(r"<(link|script|iframe)\b|@import|url\(", text)
    assert base64.b64decode(images[0].split(",", 1)[1]) == figures[0].read_bytes()
    assert "https://example.org" in text and "&lt;script&gt;" in text  # URLs as text; markup escaped
    for needle in ("abc123def-dirty", "f00dfeed", "mesa", "3.3.1", "root_seed", "<details", "tension@bold",
                   "<td>tension</td>", 'class="prior"', "china.boldness_tension"):
        assert needle in text, needle
    assert text == html_report(md, {"forecast": pd.DataFrame({"a": [1]}), "sensitivity": sensitivity}, figures,
                               RECORD)


def test_report_shows_what_each_scenario_changes() -> None:
    record = {**RECORD, "scenario_definitions": {
        "baseline": {"parts": {"baseline": "Continuation."}, "drivers": {}},
        "tension+argentina": {"parts": {"tension": "Tension <rises>.", "argentina": "Recovery."},
                              "drivers": {"paths": {"us_china_tension": [[2030, 0.95]]},
                                          "fiscal_stress": [{"iso3": "ARG", "year_start": 2026, "value": 0.0}]}}}}
    text = html_report({}, {}, [], record)
    section = text[text.index('<h2 id="scenarios">'):text.index('<h2 id="fans">')]
    assert "<h3>tension+argentina</h3>" in section and "Tension &lt;rises&gt;." in section
    assert "<td>paths.us_china_tension</td><td>2030: 0.95 (anchors after 2023, linear between)</td>" in section
    assert "<td>fiscal_stress</td><td>iso3 ARG, year_start 2026, value 0.0</td>" in section
    assert "No driver changed" in section  # the baseline
    assert '<h2 id="scenarios">' not in html_report({}, {}, [], RECORD)


def test_markdown_tables_and_escaping() -> None:
    out = markdown_html("## T\n\n| a | b |\n|---|---|\n| `x\\|y` | **2** |\n| <b> | 3 |\n\n- one\n- two\n")
    assert "<h4>T</h4>" in out and out.count("<tr>") == 3 and "<strong>2</strong>" in out and "&lt;b&gt;" in out
    assert "<code>x|y</code>" in out and '<td class="num">3</td>' in out
    assert "<ul>\n<li>one</li>\n<li>two</li>\n</ul>" in out
    flagged = markdown_html("> Note: few draws\n\n| v | 2030 |\n|---|---|\n| a | 1 [0, 2]† |\n| b | 3 [2, 4] |\n")
    assert "<blockquote>\n<p>Note: few draws</p>\n</blockquote>" in flagged and flagged.count('class="prior"') == 1
    # A row whose prior_driven column is true is highlighted; a long table scrolls on screen.
    rows = "".join(f"| p{i} | {i % 2 == 0} |\n" for i in range(30))
    long = markdown_html("| parameter | prior_driven |\n|---|---|\n" + rows)
    assert long.count('<tr class="prior">') == 15 and long.startswith('<div class="scroll"><table>')
    assert long.rstrip().endswith("</table>\n</div>")


def _work_folder(root: Path, key: str, draws: int, scenarios: list[str], n: int, manifest: str = "manifest.json"
                 ) -> Path:
    folder = root / key
    (folder / "tables").mkdir(parents=True)
    config = {"forecast": {"draws": draws, "seeds": 4, "out_root": "x"}, "scenarios": scenarios,
              "params": {"china": {"boldness_tension": 0.5}}}
    (folder / manifest).write_text(json.dumps({"code_version": "c1", "config": config, "forecast": JOB}))
    (folder / "ensemble" / "scenario=baseline").mkdir(parents=True)
    pd.DataFrame({"scenario": ["baseline"] * n, "value": np.arange(n, dtype=float)}).to_parquet(
        folder / "tables" / "forecast.parquet", index=False)
    pd.DataFrame({"scenario": ["tension"], "diff_median": [1.0 * draws]}).to_parquet(
        folder / "tables" / "comparison.parquet", index=False)
    return folder


def test_gather_merges_jobs_with_their_differing_overrides(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "multirun"
    _work_folder(runs / "a", "1111aaaa", 100, ["baseline", "tension"], 3)
    _work_folder(runs / "b" / "deeper", "2222bbbb", 500, ["baseline"], 2, manifest="tables/manifest.json")
    (runs / "sim").mkdir()
    (runs / "sim" / "manifest.json").write_text(json.dumps({"config": {}}))  # a simulate output: not a forecast
    out = tmp_path / "gathered"
    gather_main([str(runs), "--out", str(out)])
    forecast = pd.read_parquet(out / "forecast")
    assert len(forecast) == 5 and sorted(set(forecast["job"])) == ["1111aaaa", "2222bbbb"]
    assert forecast.groupby("job")["forecast.draws"].first().to_dict() == {"1111aaaa": 100, "2222bbbb": 500}
    assert set(forecast["scenarios"]) == {'["baseline", "tension"]', '["baseline"]'}
    assert not {"forecast.seeds", "forecast.out_root", "params.china.boldness_tension"} & set(forecast.columns)
    comparison = pd.read_parquet(out / "comparison")
    assert sorted(comparison["diff_median"]) == [100.0, 500.0] and "forecast.draws" in comparison.columns
    jobs = pd.read_parquet(out / "jobs.parquet")
    assert list(jobs["job"]) == ["1111aaaa", "2222bbbb"] and jobs["folder"].str.endswith("deeper/2222bbbb").iloc[1]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # temporary folders gone
    assert "5 rows" in capsys.readouterr().out
    # Gathering again replaces the datasets; a work folder's tables folder names the work folder.
    gather_main([str(runs / "a" / "1111aaaa" / "tables"), str(runs / "a"), "--out", str(out)])
    assert len(pd.read_parquet(out / "forecast")) == 3 and set(pd.read_parquet(out / "forecast")["job"]) == {"1111aaaa"}


def test_flatten_and_differing() -> None:
    assert flatten({"a": {"b": 1, "c": [1, 2]}, "d": {}}) == {"a.b": 1, "a.c": [1, 2], "d": {}}
    assert differing([{"a": 1, "b": [1]}, {"a": 1, "b": [2]}, {"a": 1}]) == {"b": [[1], [2], None]}
    assert differing([{"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}]) == {"a.c": [None, 2]}  # set in one job only


def test_gather_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("")
    work = _work_folder(tmp_path, "3333cccc", 10, ["baseline"], 1)
    for args, expected in (([str(empty), "--out", str(tmp_path / "o")], "no forecast work folder found"),
                           ([str(work), "--out", str(blocker / "o")], "--out: cannot write")):
        with pytest.raises(SystemExit) as exc:
            gather_main(args)
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and expected in err and err.count("\n") == 1
    proc = subprocess.run([sys.executable, "-m", "experiments.gather", str(tmp_path / "missing"), "--out",
                           str(tmp_path / "o")], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and "missing: not found" in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_sensitivity_chart_draws_delta_bars_and_skips_an_empty_table(tmp_path):
    from experiments.report import sensitivity_chart

    table = pd.DataFrame({"scenario": ["baseline"] * 4 + ["detente"] * 4,
                          "output": ["forums_2030", "forums_2030", "share_2035", "share_2035"] * 2,
                          "parameter": ["forums.peer", "arms.beta_lockin"] * 4,
                          "delta": [0.3, 0.05, 0.02, 0.2, 0.28, 0.06, 0.01, 0.25],
                          "delta_conf": [0.02] * 8, "S1": [0.2] * 8, "S1_conf": [0.01] * 8,
                          "prior_driven": [False, True] * 4})
    paths = sensitivity_chart(table, tmp_path)
    assert [p.name for p in paths] == ["sensitivity.png"] and paths[0].read_bytes()[:4] == b"\x89PNG"
    assert sensitivity_chart(table.iloc[0:0], tmp_path / "none") == []
    judged = sensitivity_chart(table.assign(judgement=[False, True] * 4), tmp_path / "judged")
    assert [p.name for p in judged] == ["sensitivity.png"]


def test_judgement_axes_and_prior_driven_parameters_are_marked_apart():
    from experiments.report import parameter_label

    assert parameter_label("a.b", True, True) == "a.b (j)"  # an axis is prior-driven too: the mark says which
    assert parameter_label("a.b", True, False) == "a.b *"
    assert parameter_label("a.b", False, False) == "a.b"


def test_comparison_axes_are_floored_at_a_share_of_the_references_level():
    from experiments.report import DIFFERENCE_FLOOR, difference_limits

    noise = pd.DataFrame({"diff_median": [0.0, 1e-4], "diff_q05": [-1e-4, 0.0], "diff_q95": [1e-4, 2e-4],
                          "ref_q05": [10.0, 20.0], "ref_q95": [50.0, 80.0]})
    assert difference_limits(noise) == pytest.approx((-1.08 * DIFFERENCE_FLOOR * 80, 1.08 * DIFFERENCE_FLOOR * 80))
    large = noise.assign(diff_q95=[30.0, 2e-4])  # a difference beyond the floor sets the span
    assert difference_limits(large) == pytest.approx((-1.08 * 30, 1.08 * 30))
    zero = noise.assign(diff_median=0.0, diff_q05=0.0, diff_q95=0.0, ref_q05=0.0, ref_q95=0.0)
    assert difference_limits(zero) == pytest.approx((-1.08, 1.08))  # nothing anywhere: one unit


def test_sensitivity_panels_sort_by_importance_and_carry_the_dummys_floor():
    from experiments.report import SENSITIVITY_SHOWN, sensitivity_panels
    from experiments.tables import DUMMY

    names = [f"p{i:02d}" for i in range(SENSITIVITY_SHOWN + 3)] + [DUMMY]
    deltas = [0.01 * i for i in range(len(names) - 1)] + [0.04]
    table = pd.DataFrame({"scenario": "baseline", "output": "share_2035", "parameter": names, "delta": deltas,
                          "delta_conf": 0.01, "prior_driven": False})
    other = table.assign(scenario="detente", delta=[0.5 if n == "p00" else 0.0 for n in names])
    [(output, shown, floor)] = sensitivity_panels(pd.concat([table, other]))
    # The largest delta over the scenarios ranks a parameter: p00 (0.5 under detente) first, then p14, p13 ...
    assert output == "share_2035" and len(shown) == SENSITIVITY_SHOWN and DUMMY not in shown
    assert shown[:3] == ["p00", "p14", "p13"]
    # The floor is the dummy's delta plus its half-width, the highest over the scenarios.
    assert floor == pytest.approx(0.05)
    assert np.isnan(sensitivity_panels(table[table.parameter != DUMMY])[0][2])
