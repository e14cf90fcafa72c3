"""The forecast ensemble: one seed one result on every executor and batch size, pairing across scenarios, resume."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import experiments.forecast as F
from common.cli import CONFIG_DIR
from experiments.forecast import part_path, plan, run_ensemble
from model.params import ConfigError


@pytest.fixture(scope="module")
def posterior_file(tmp_path_factory):
    """A small weighted particle set over three parameters (values inside their priors)."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"weight": rng.random(12), "arms.beta_lockin": rng.uniform(0, 5, 12),
                          "forums.peer": rng.uniform(0, 4, 12), "china.boldness_tension": rng.uniform(0, 1, 12)})
    path = tmp_path_factory.mktemp("posterior") / "posterior.parquet"
    frame.to_parquet(path, index=False)
    return path


def _config(overrides: list[str]) -> dict:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return OmegaConf.to_container(compose("forecast", overrides=overrides), resolve=True)


def _small(posterior, out_root, *extra: str) -> list[str]:
    return [f"forecast.posterior={posterior}", "forecast.draws=5", "forecast.seeds=2", f"forecast.out_root={out_root}",
            "scenarios=[baseline,us_china_deterioration]", "forecast.first_stored_year=2020", *extra]


def _ensemble(work) -> pd.DataFrame:
    frame = ds.dataset(work / "ensemble", partitioning="hive").to_table().to_pandas()
    frame["iso3"] = frame["iso3"].astype(str)
    frame["scenario"] = frame["scenario"].astype(str)
    return frame.sort_values(["scenario", "draw", "seed", "year", "iso3"]).reset_index(drop=True)


@pytest.mark.slow
def test_serial_pool_dask_and_batch_sizes_give_identical_ensembles(posterior_file, tmp_path):
    from distributed import LocalCluster

    runs = {}
    for name, extra in [("serial", ["forecast.executor=serial", "forecast.batch_size=5"]),
                        ("pool", ["forecast.executor=pool", "forecast.workers=2", "forecast.batch_size=2"])]:
        ov = _small(posterior_file, tmp_path / name, *extra)
        runs[name] = run_ensemble(_config(ov), ov)[0]
    with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      processes=True) as cluster:
        ov = _small(posterior_file, tmp_path / "dask", "forecast.executor=dask", "forecast.batch_size=3",
                    f"forecast.dask_scheduler={cluster.scheduler_address}")
        runs["dask"] = run_ensemble(_config(ov), ov)[0]
    frames = {k: _ensemble(w) for k, w in runs.items()}
    assert len(frames["serial"]) == 4 * 5 * 2 * 21 * 34  # labels (two boldness variants) x draws x seeds x years x rows
    for name in ("pool", "dask"):
        pd.testing.assert_frame_equal(frames[name], frames["serial"], check_exact=True)
    events = {k: ds.dataset(w / "events", partitioning="hive").to_table().to_pandas()
              .sort_values(["scenario", "draw", "seed"]).reset_index(drop=True) for k, w in runs.items()}
    pd.testing.assert_frame_equal(events["dask"].astype({"scenario": str}), events["serial"].astype({"scenario": str}),
                                  check_exact=True)


def test_scenarios_share_draws_and_history(posterior_file, tmp_path):
    ov = _small(posterior_file, tmp_path, "forecast.executor=serial", "forecast.batch_size=5")
    work = run_ensemble(_config(ov), ov)[0]
    frame = _ensemble(work)
    base = frame[frame.scenario == "baseline"].drop(columns="scenario").reset_index(drop=True)
    tense = frame[frame.scenario == "us_china_deterioration"].drop(columns="scenario").reset_index(drop=True)
    hist = base.year <= 2023
    # Same draws and seeds: identical history, different futures (the scenario starts acting after 2023).
    pd.testing.assert_frame_equal(base[hist], tense[hist], check_exact=True)
    assert not base.loc[~hist, "us_china_tension"].equals(tense.loc[~hist, "us_china_tension"])
    draws = pd.read_parquet(work / "draws.parquet")
    assert list(draws.draw) == list(range(5)) and draws["arms.beta_lockin"].between(0, 5).all()


def test_boldness_variants_only_for_the_listed_scenarios_this_job_runs():
    ov = ["scenarios=[baseline,us_hard_red_lines]"]
    _, ensembles = plan(_config(ov), ov)
    assert [e.label for e in ensembles] == ["baseline", "us_hard_red_lines"]
    ov = ["scenarios=[baseline,\"[us_china_deterioration,argentina_fiscal_recovery]\"]",
          "forecast.boldness_scenarios=[us_china_deterioration+argentina_fiscal_recovery]"]
    _, ensembles = plan(_config(ov), ov)
    assert [e.label for e in ensembles] == ["baseline", "us_china_deterioration+argentina_fiscal_recovery",
                                            "us_china_deterioration+argentina_fiscal_recovery@cautious",
                                            "us_china_deterioration+argentina_fiscal_recovery@bold"]


def test_rerun_skips_finished_parts(posterior_file, tmp_path):
    ov = _small(posterior_file, tmp_path, "forecast.executor=serial", "forecast.batch_size=2")
    work = run_ensemble(_config(ov), ov)[0]
    part = part_path(work, "ensemble", "baseline", 0)
    stamp = part.stat().st_mtime_ns
    part_path(work, "ensemble", "baseline", 1).unlink()
    again = run_ensemble(_config(ov), ov)[0]
    assert again == work and part.stat().st_mtime_ns == stamp
    assert part_path(work, "ensemble", "baseline", 1).is_file()


@pytest.mark.parametrize(("override", "says"), [
    ("scenarios=[baseline,nowhere]", "scenario: 'nowhere' is not a known option"),
    ("forecast.draws=0", "forecast.draws"),
    ("forecast.executor=gpu", "forecast.executor: 'gpu'; allowed: serial, pool, dask"),
    ("forecast.executor=dask", "forecast.dask_scheduler: empty"),
    ("forecast.formats=[xls]", "forecast.formats"),
    ("forecast.boldness_scenarios=[atlantis]", "forecast.boldness_scenarios: 'atlantis' is not a scenario"),
    ("scenarios=[baseline,baseline]", "scenarios: 'baseline' is listed twice"),
    ("forecast.first_table_year=2041", "forecast.first_table_year"),
])
def test_bad_forecast_settings_are_named(override, says):
    from hydra.errors import MissingConfigException

    try:
        config = _config([override])
        with pytest.raises(ConfigError) as info:
            plan(config, [override])
        message = str(info.value)
    except MissingConfigException as exc:
        from common.cli import _describe

        message = _describe(exc, "forecast")
    assert says in message and "\n" not in message


def _cli(args: list[str]) -> list[str]:
    import sys

    return [sys.executable, "-m", "experiments.forecast", *args]


@pytest.mark.slow
def test_killed_forecast_resumes_to_the_outputs_of_an_uninterrupted_run(posterior_file, tmp_path):
    """kill -9 part-way, rerun the same command: same work folder, same ensemble and tables as a run never killed."""
    import os
    import signal
    import subprocess
    import time

    root = CONFIG_DIR.parent
    args = ["forecast.draws=8", "forecast.seeds=2", "forecast.batch_size=1", "forecast.executor=serial",
            f"forecast.posterior={posterior_file}", "scenarios=[baseline,detente]", "forecast.boldness_scenarios=[]",
            "forecast.formats=[parquet,md]"]
    killed = subprocess.Popen(_cli(args + [f"forecast.out_root={tmp_path / 'a'}"]), cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((tmp_path / "a").rglob("part-*.parquet"))) < 6:
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    work = next(p.parent.parent.parent for p in (tmp_path / "a").rglob("part-*.parquet"))
    assert not (work / "manifest.json").exists()
    parts_before = len(list((work / "ensemble").rglob("part-*.parquet")))
    assert 0 < parts_before < 16
    again = subprocess.run(_cli(args + [f"forecast.out_root={tmp_path / 'a'}"]), cwd=root, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{16 - parts_before} batches to run" in again.stderr
    clean = subprocess.run(_cli(args + [f"forecast.out_root={tmp_path / 'b'}"]), cwd=root, capture_output=True,
                           text=True, timeout=600)
    assert clean.returncode == 0, clean.stderr[-2000:]
    other = next(p for p in (tmp_path / "b").iterdir() if not p.is_symlink())
    assert other.name == work.name  # the work folder is keyed by the config, not by time
    # out_root/latest points at the newest complete work folder; the killed run had left none.
    assert (tmp_path / "b" / "latest").resolve() == other.resolve()
    assert (tmp_path / "a" / "latest").resolve() == work.resolve()
    assert f"{tmp_path / 'b' / 'latest'}" in clean.stdout
    for stage in ("tables (sensitivity included) and chart statistics 2/2", "tables written", "manifest written"):
        assert f"forecast: {stage}" in clean.stderr
    pd.testing.assert_frame_equal(_ensemble(work), _ensemble(other), check_exact=True)
    for name in ("forecast", "comparison", "events"):
        pd.testing.assert_frame_equal(pd.read_parquet(work / "tables" / f"{name}.parquet"),
                                      pd.read_parquet(other / "tables" / f"{name}.parquet"), check_exact=True)
    assert not list(work.rglob("*.tmp")) and not list(work.rglob(".partial-*"))


@pytest.mark.parametrize(("args", "says"), [
    (["scenarios=[baseline,atlantis]"], "scenario: 'atlantis' is not a known option"),
    (["forecast.executor=dask", "forecast.dask_scheduler=127.0.0.1:1"],
     "forecast.dask_scheduler: '127.0.0.1:1' unreachable"),
    (["forecast.posterior=/nonexistent/posterior.parquet"], "posterior: /nonexistent/posterior.parquet not found"),
    (["forecast.draws=many"], "forecast.draws"),
    (["forecast.nothing=1"], "forecast.nothing"),
    (["forecast.out_root=/proc/forecast"], "forecast.out_root"),
    (["scenario=detente"], "scenario: the forecast runs the list `scenarios`, not `scenario`; allowed: scenarios="),
    (["scenario.detente.drivers.paths.us_china_tension=[[2030,0.3]]"],
     "scenario.detente.drivers.paths.us_china_tension: 'detente' is not among this job's scenarios"),
    (["scenarios=[baseline,detente]", "scenario.detente.drivers.nonsense=1"], "scenario.detente.drivers"),
    (["--config-dir", "/nonexistent/configs"], "--config-dir: '/nonexistent/configs' is not a folder"),
    (["scenarios=[baseline,broken]", "--config-dir", "{user}"], "broken.yaml:2:24: expected ',' or ']', but got '}'"),
])
def test_bad_command_lines_fail_in_one_line_and_write_nothing(args, says, tmp_path, posterior_file):
    import subprocess

    user = tmp_path / "user"
    (user / "scenario").mkdir(parents=True)
    # A YAML syntax error in a user's scenario file: an unclosed flow sequence on line 2.
    (user / "scenario" / "broken.yaml").write_text("name: broken\nbroken: {drivers: [1, 2}\n")
    args = [a.replace("{user}", str(user)) for a in args]
    out = tmp_path / "out"
    given = {a.split("=")[0] for a in args}
    defaults = {"forecast.out_root": out, "forecast.posterior": posterior_file, "forecast.draws": 2,
                "forecast.seeds": 1}
    extra = [f"{k}={v}" for k, v in defaults.items() if k not in given]
    done = subprocess.run(_cli(args + extra), cwd=CONFIG_DIR.parent, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr
    assert not out.exists() or not any(out.rglob("*.parquet"))


USER_SCENARIO = """name: mine
mine:
  rationale: A user's scenario kept outside the repository.
  drivers:
    paths:
      us_china_tension: [[2030, 0.95]]
  effects:
    - {variable: us_pressure, iso3: LAC, years: [2030, 2030], sign: "+", why: "tension above the baseline's"}
    - {variable: exercise.CHN, iso3: LAC, years: [2024, 2040], sign: "+", why: "an outcome"}
    - {variable: forum_attends.CHN, iso3: LAC, years: [2024, 2040], sign: "-", why: "another outcome"}
"""


def test_scenario_overrides_apply_to_their_scenario_only(monkeypatch):
    """The README's ``scenario.<name>...`` override changes that scenario of the job and no other."""
    from experiments.forecast import SCOPED_ENV

    monkeypatch.setenv(SCOPED_ENV, "[]")  # restored after the test, whatever set_aside_scoped writes
    base = ["scenarios=[baseline,detente,[detente,argentina_fiscal_recovery]]", "forecast.draws=2"]
    scoped = "scenario.detente.drivers.paths.us_china_tension=[[2030,0.3]]"
    _, plain = F.plan(_config(base), base)
    _, changed = F.plan(_config(base), base + [scoped])

    def tension(ensembles):
        return {e.label: [list(a) for a in e.exp.drivers.paths.get("us_china_tension", [])] for e in ensembles}

    assert tension(plain)["detente"] == [[2030, 0.45]] and tension(changed)["detente"] == [[2030, 0.3]]
    assert tension(changed)["detente+argentina_fiscal_recovery"] == [[2030, 0.3]]
    assert tension(changed)["baseline"] == tension(plain)["baseline"]
    # The manifest's scenario_definitions carry what each scenario changes, the override included.
    definitions = {e.label: json.loads(e.definition) for e in changed}
    assert definitions["detente"]["drivers"] == {"paths": {"us_china_tension": [[2030, 0.3]]}}
    assert definitions["baseline"]["drivers"] == {} and "detente" in definitions["detente"]["parts"]
    # Set aside from the command line (Hydra composes the root with the reference, where detente has no key).
    argv = F.set_aside_scoped(["forecast", *base, scoped])
    assert scoped not in argv and F.scoped_overrides() == [scoped]
    _, again = F.plan(_config(base), base)
    assert tension(again)["detente"] == [[2030, 0.3]]


def test_kept_outputs_need_an_intact_marker_and_unchanged_files(tmp_path):
    import hashlib

    table = tmp_path / "tables" / "a.csv"
    table.parent.mkdir()
    table.write_text("x\n1\n")
    marker = tmp_path / "cache" / "outputs-k.json"
    marker.parent.mkdir()
    assert F.unchanged_outputs(tmp_path, marker) is None  # no marker
    marker.write_text(json.dumps({"tables/a.csv": hashlib.sha256(table.read_bytes()).hexdigest()}))
    assert F.unchanged_outputs(tmp_path, marker) == [table]
    table.write_text("x\n2\n")
    assert F.unchanged_outputs(tmp_path, marker) is None  # edited since
    for broken in ('{"tables/a.csv": ', "[1, 2]", '{"tables/a.csv": 3}'):
        marker.write_text(broken)
        assert F.unchanged_outputs(tmp_path, marker) is None


def test_a_scenario_composed_again_reflects_an_edited_config_file(tmp_path):
    """The check and the run of a command share a composition; an edited file (the live view composes again and
    again) is composed anew."""
    user = tmp_path / "user"
    (user / "scenario").mkdir(parents=True)
    path = user / "scenario" / "mine.yaml"
    path.write_text(USER_SCENARIO)
    first = F.compose_model([], "mine", [user])
    assert first["scenario"]["mine"]["drivers"]["paths"]["us_china_tension"] == [[2030, 0.95]]
    first["scenario"]["mine"]["rationale"] = "changed by a caller"
    assert F.compose_model([], "mine", [user])["scenario"]["mine"]["rationale"].startswith("A user's")
    path.write_text(USER_SCENARIO.replace("[[2030, 0.95]]", "[[2030, 0.9]]"))
    again = F.compose_model([], "mine", [user])
    assert again["scenario"]["mine"]["drivers"]["paths"]["us_china_tension"] == [[2030, 0.9]]


@pytest.mark.slow
def test_a_users_scenario_folder_runs_with_config_dir(posterior_file, tmp_path):
    """--config-dir (anywhere on the line) or hydra.searchpath adds a folder holding only scenario/<name>.yaml."""
    import subprocess

    user = tmp_path / "user"
    (user / "scenario").mkdir(parents=True)
    (user / "scenario" / "mine.yaml").write_text(USER_SCENARIO)
    common = ["scenarios=[baseline,mine]", f"forecast.posterior={posterior_file}", "forecast.draws=2",
              "forecast.seeds=2", "forecast.executor=serial", "forecast.boldness_scenarios=[]",
              "forecast.formats=[parquet]"]
    works = []
    for k, extra in enumerate((["--config-dir", str(user)], [f"hydra.searchpath=[file://{user}]"])):
        args = common[:2] + extra + common[2:] + [f"forecast.out_root={tmp_path / f'out{k}'}"]
        done = subprocess.run(_cli(args), cwd=CONFIG_DIR.parent, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        works.append((tmp_path / f"out{k}" / "latest").resolve())
    assert works[0].name == works[1].name  # the same scenario content, the same work folder key
    effects = pd.read_parquet(works[0] / "tables" / "scenario_effects.parquet")
    assert set(effects["scenario"]) == {"mine"} and len(effects) == 3
    manifest = json.loads((works[0] / "manifest.json").read_text())
    assert manifest["forecast"]["labels"] == ["baseline", "mine"]
    assert manifest["scenario_definitions"]["mine"]["drivers"] == {"paths": {"us_china_tension": [[2030, 0.95]]}}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_multirun_sweeps_scenarios_and_drivers_and_gathers_into_one_dataset(launcher, posterior_file, tmp_path):
    import subprocess
    import sys

    args = ["-m", f"hydra/launcher={launcher}", "scenarios=[baseline,detente],[baseline,russia_exit]",
            "drivers.gdp_growth=0.01,0.03", f"forecast.posterior={posterior_file}", "forecast.draws=3",
            "forecast.seeds=2", "forecast.executor=serial", "forecast.boldness_scenarios=[]",
            "forecast.formats=[parquet]", f"forecast.out_root={tmp_path / 'runs'}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    done = subprocess.run(_cli(args), cwd=CONFIG_DIR.parent, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    jobs = [p for p in (tmp_path / "runs").iterdir() if (p / "manifest.json").is_file() and not p.is_symlink()]
    assert len(jobs) == 4 and (tmp_path / "runs" / "latest").resolve() in {p.resolve() for p in jobs}
    gathered = subprocess.run([sys.executable, "-m", "experiments.gather", str(tmp_path / "runs"), "--out",
                               str(tmp_path / "all")], cwd=CONFIG_DIR.parent, capture_output=True, text=True,
                              timeout=300)
    assert gathered.returncode == 0, gathered.stderr[-2000:]
    events = pd.read_parquet(tmp_path / "all" / "events")
    assert events.job.nunique() == 4 and {"drivers.gdp_growth", "scenarios"} <= set(events.columns)
    assert set(events["drivers.gdp_growth"]) == {0.01, 0.03}


def test_stale_temporary_parts_of_dead_writers_are_removed(tmp_path):
    import os
    import subprocess

    from experiments.forecast import remove_stale_parts

    dead = subprocess.Popen(["true"])
    dead.wait()
    folder = tmp_path / "events" / "scenario=baseline"
    folder.mkdir(parents=True)
    gone = folder / f".part-00003.parquet.{dead.pid}.tmp"
    mine = folder / f".part-00004.parquet.{os.getpid()}.tmp"
    for p in (gone, mine):
        p.write_bytes(b"half")
    assert remove_stale_parts(tmp_path) == 1
    assert not gone.exists() and mine.exists()


def test_the_work_key_changes_with_the_simulation_code(tmp_path, monkeypatch):
    """A changed model must not reuse the ensemble parts an older model wrote under the same config."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "rules.py").write_text("RATE = 1\n")
    (tmp_path / "README.md").write_text("prose\n")
    monkeypatch.setattr(F, "PROJECT_ROOT", tmp_path)
    before = F.simulation_code_hash()
    (tmp_path / "README.md").write_text("other prose\n")
    assert F.simulation_code_hash() == before  # not simulation code
    (tmp_path / "model" / "rules.py").write_text("RATE = 2\n")
    after = F.simulation_code_hash()
    assert after != before
    config = {"forecast": {"draws": 1}}
    monkeypatch.setattr(F, "simulation_code_hash", lambda: before)
    key = F.work_key(config, [], "posterior", {"a.csv": "x"})
    monkeypatch.setattr(F, "simulation_code_hash", lambda: after)
    assert F.work_key(config, [], "posterior", {"a.csv": "x"}) != key


@pytest.mark.slow
def test_a_rerun_reuses_the_tables_and_figures_and_recomputes_when_their_code_changes(posterior_file, tmp_path,
                                                                                      monkeypatch):
    import experiments.report as R
    import experiments.tables as T  # experiments.post imports it at each task

    ov = _small(posterior_file, tmp_path, "forecast.executor=serial", "forecast.boldness_scenarios=[]",
                "forecast.formats=[parquet,csv,md,png]")
    F.write_outputs(*run_ensemble(_config(ov), ov))
    work = run_ensemble(_config(ov), ov)[0]
    first = {p.relative_to(work): p.read_bytes() for p in (work / "tables").iterdir()}
    figures = {p.name: p.read_bytes() for p in (work / "figures").iterdir()}
    assert first and figures

    def refuse(*args, **kwargs):
        raise AssertionError("recomputed although nothing changed")

    computed = []
    real_tables = T.scenario_tables
    for module, name in ((T, "scenario_tables"), (R, "fan_statistics"), (R, "draw_fan_figures"),
                         (R, "comparison_charts"), (R, "sensitivity_chart")):
        monkeypatch.setattr(module, name, refuse)
    stamps = {p: p.stat().st_mtime_ns for p in work.rglob("*") if p.is_file() and "cache" not in p.parts}
    F.write_outputs(*run_ensemble(_config(ov), ov))
    assert {p.relative_to(work): p.read_bytes() for p in (work / "tables").iterdir()} == first
    assert {p.name: p.read_bytes() for p in (work / "figures").iterdir()} == figures
    # Nothing changed: no output file is written again.
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    # An output edited by hand is written again from the cache, with nothing recomputed.
    table = next((work / "tables").glob("*.csv"))
    table.write_text("edited\n")
    F.write_outputs(*run_ensemble(_config(ov), ov))
    assert {p.relative_to(work): p.read_bytes() for p in (work / "tables").iterdir()} == first
    # A stage killed after its first label (before the outputs, so before their marker): the rerun computes the
    # missing label's part only.
    parts = sorted((work / "cache").glob("tables-*-1.pkl"))
    assert len(parts) == 1
    parts[0].unlink()
    for marker in (work / "cache").glob("outputs-*.json"):
        marker.unlink()
    monkeypatch.setattr(T, "scenario_tables", lambda *a, **k: computed.append(a[3]) or real_tables(*a, **k))
    F.write_outputs(*run_ensemble(_config(ov), ov))
    assert computed == [run_ensemble(_config(ov), ov)[2]["labels"][1]]
    assert {p.relative_to(work): p.read_bytes() for p in (work / "tables").iterdir()} == first
    monkeypatch.setattr(T, "scenario_tables", refuse)
    # A change in the tables' code changes the key: the tables (and figures) are computed again.
    real = F.source_hash
    monkeypatch.setattr(F, "source_hash", lambda code: real(code) + ("x" if code == F.TABLES_CODE else ""))
    with pytest.raises(AssertionError, match="recomputed"):
        F.write_outputs(*run_ensemble(_config(ov), ov))
