"""The live view (``python -m experiments.live``): its runs equal ``simulate``'s, its command line fails in one line,
and, in a real browser (headless Chromium), the page steps a run, switches scenario and shows the series ``simulate``
gives for the same scenario, draw and seed.

The browser test needs Debian's chromium and chromium-driver (``.ci/run`` installs them); without them it is skipped,
unless ``LACDEF_REQUIRE_OPTIONAL=1`` (set by ``.ci/run``), where their absence fails it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import experiments.live as L
from common.cli import precheck
from experiments.ensemble import lac_rows
from model.run import simulate
from model.schema import STATE_COLUMNS, column_names

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


def _expected(scenario: str, draw: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The region's rows (years, columns) and the states' record of the same run through ``simulate``."""
    params, data, drivers, root_seed = L.run_inputs(scenario, draw)
    run = simulate(params, data, drivers, root_seed, draw, seed)
    return np.concatenate([lac_rows(run.states), run.region], axis=1), run.states


def test_a_live_run_stepped_year_by_year_is_the_simulated_run():
    model = L.LiveModel("us_china_deterioration", draw=5, seed=2)
    region, states = _expected("us_china_deterioration", 5, 2)
    for t in (1, 24, 30):
        while model.t < t:
            model.step()
        # Every year shown so far is already the finished run's (derived series included).
        assert np.array_equal(model.region_rows(), region[:t])
    while model.running:
        model.step()
    model.step()  # past 2040: nothing more happens
    assert model.t == len(model.years) == 41 and not model.running
    assert np.array_equal(model.region_rows(), region)
    assert np.array_equal(model.state_rows(), states[-1][:, [STATE_COLUMNS.index(c) for c in L.STATE_SERIES]])


def test_tables_carry_exact_values():
    model = L.LiveModel("baseline", draw=0, seed=0)
    for _ in range(3):
        model.step()
    html = L.region_table(model.years[: model.t], model.region_rows())
    value = float(model.region_rows()[2, column_names().index("officers_training.CHN")])
    assert f"data-column='officers_training.CHN' data-value='{value!r}'" in html
    assert html.count("<tr data-year=") == 3 and "officers_training.CHN (states)" in html


def test_a_scenario_from_a_users_folder(tmp_path, monkeypatch):
    folder = tmp_path / "scenario"
    folder.mkdir()
    (folder / "thaw.yaml").write_text("name: thaw\nthaw:\n  rationale: a user's test\n  drivers:\n    paths:\n"
                                      "      us_china_tension: [[2030, 0.3]]\n")
    monkeypatch.setattr(sys, "argv", ["live", "--config-dir", str(tmp_path), "live.scenario=thaw"])
    precheck("live", L.validate)  # accepted: the folder's scenario is known
    settings = L.parse_live(L.F.compose_model([], "baseline") | {"live": {"scenario": "thaw", "draw": 0, "seed": 0,
                                                                         "host": "localhost", "port": 8765}}, [])
    assert settings.dirs == (str(tmp_path.resolve()),)
    model = L.LiveModel("thaw", 0, 0, dirs=settings.dirs)
    while model.running:
        model.step()
    # The path (before the drivers' shocks past 2023) goes to 0.3 by 2030; the baseline holds 0.75.
    at_2030 = model.years.tolist().index(2030), column_names().index("us_china_tension")
    assert model.region_rows()[at_2030] < _expected("baseline", 0, 0)[0][at_2030] - 0.2
    assert model.definition["drivers"] == {"paths": {"us_china_tension": [[2030, 0.3]]}}


@pytest.mark.parametrize(("args", "says"), [
    (["live.draw=500"], "live.draw: 500 is out of range"),
    (["live.seed=-1"], "live.seed: -1 is out of range"),
    (["live.scenario=nowhere"], "live.scenario: 'nowhere' is not a scenario; allowed:"),
    (["scenario=detente"], "scenario: the live view starts at `live.scenario`"),
    (["live.port=70000"], "live.port: 70000 is out of range"),
    (["live.colour=red"], "live.colour"),
])
def test_bad_command_lines(args, says, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["live", *args])
    with pytest.raises(SystemExit) as exit_info:
        precheck("live", L.validate)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0], err


def test_a_port_in_use_is_one_line_and_serves_nothing():
    with socket.socket() as busy:
        busy.bind(("localhost", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "experiments.live", f"live.port={port}"], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    err = done.stderr.strip().splitlines()
    assert done.returncode == 2 and done.stdout == "", (done.stdout, done.stderr)
    assert len(err) == 1 and err[0].startswith(f"error: live.port: {port} cannot be served on localhost"), err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if server.poll() is not None:
            pytest.fail(f"the live view exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the live view did not answer at {url} within {timeout} s: {log.read_text()[-2000:]}")


def _read(driver, table: str, key: str) -> dict[str, dict[str, float]]:
    """``{row key: {column: exact value}}`` of one of the page's data tables."""
    from selenium.webdriver.common.by import By

    out = {}
    for row in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr"):
        out[row.get_attribute(key)] = {c.get_attribute("data-column"): float(c.get_attribute("data-value"))
                                       for c in row.find_elements(By.TAG_NAME, "td")}
    return out


@pytest.mark.slow
def test_the_page_in_a_real_browser_shows_the_simulated_run(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("LACDEF_REQUIRE_OPTIONAL") == "1":
            pytest.fail("chromium and chromedriver are required (LACDEF_REQUIRE_OPTIONAL=1); .ci/run installs them")
        pytest.skip("no chromium/chromedriver on this machine (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    draw, seed, port = 3, 1, _free_port()
    log = tmp_path / "live.log"
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "experiments.live", f"live.port={port}", f"live.draw={draw}",
                                   f"live.seed={seed}"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # Headless on a machine without a screen; no background traffic towards a network that is closed.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1600,1400", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    browser = None
    try:
        url = f"http://localhost:{port}/"
        _wait_for(url, server, log)
        browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        wait = WebDriverWait(browser, 120)

        def button(label: str):
            return next(b for b in browser.find_elements(By.TAG_NAME, "button") if b.text.strip().upper() == label)

        def rows() -> int:
            return len(browser.find_elements(By.CSS_SELECTOR, "#live-region tbody tr"))

        browser.get(url)
        wait.until(lambda b: b.find_elements(By.ID, "live-region"))
        # Year by year under the scenario the command started with.
        for n in (1, 2, 3):
            button("STEP").click()
            wait.until(lambda b, n=n: rows() == n)
        region, _ = _expected("baseline", draw, seed)
        shown = _read(browser, "live-region", "data-year")
        idx = [column_names().index(c) for c in L.REGION_SERIES]
        assert list(shown) == ["2000", "2001", "2002"]
        assert np.array_equal([[shown[y][c] for c in L.REGION_SERIES] for y in shown], region[:3, idx])

        # Switch the scenario in the sidebar, start it (Reset), run it to the end.
        browser.find_element(By.CSS_SELECTOR, ".v-select").click()
        wait.until(lambda b: [i for i in b.find_elements(By.CSS_SELECTOR, ".v-menu__content .v-list-item")
                              if i.text.strip() == "us_china_deterioration"])
        next(i for i in browser.find_elements(By.CSS_SELECTOR, ".v-menu__content .v-list-item")
             if i.text.strip() == "us_china_deterioration").click()
        button("RESET").click()
        wait.until(lambda b: "us_china_deterioration" in b.page_source and rows() == 0)
        button("RUN TO 2040").click()
        wait.until(lambda b: rows() == 41)
        browser.save_screenshot(str(tmp_path / "live_region.png"))
        region, states = _expected("us_china_deterioration", draw, seed)
        shown = _read(browser, "live-region", "data-year")
        assert list(shown) == [str(y) for y in range(2000, 2041)]
        assert np.array_equal([[shown[y][c] for c in L.REGION_SERIES] for y in shown], region[:, idx])
        # The switch took: past 2023 the scenario's tension path is not the baseline's.
        baseline, _ = _expected("baseline", draw, seed)
        tension = column_names().index("us_china_tension")
        assert not np.array_equal(region[24:, tension], baseline[24:, tension])

        # The per-state ties at 2040, on the second page.
        next(t for t in browser.find_elements(By.CSS_SELECTOR, ".v-tab") if t.text.strip().upper() == "PAGE 1").click()
        wait.until(lambda b: b.find_elements(By.ID, "live-states"))
        ties = _read(browser, "live-states", "data-iso3")
        data = L.run_inputs("us_china_deterioration", draw)[1]
        expected = {iso: states[-1, i, [STATE_COLUMNS.index(c) for c in L.STATE_SERIES]]
                    for i, iso in enumerate(data.iso3)}
        assert set(ties) == set(expected)
        assert all(np.array_equal([ties[iso][c] for c in L.STATE_SERIES], expected[iso]) for iso in expected)
        browser.save_screenshot(str(tmp_path / "live_states.png"))
    finally:
        if browser is not None:
            browser.quit()
        server.terminate()
        server.wait(timeout=30)
