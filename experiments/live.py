"""``python -m experiments.live``: the model year by year in the browser, with Mesa's SolaraViz.

The page steps one run of the forecast's ensemble: a scenario, a parameter draw (the forecast's resampling of the
posterior, ``forecast.draws`` rows) and a seed, with the same root seed, so year by year it shows what
``python -m experiments.forecast`` records for that (scenario, draw, seed), and what :func:`model.run.simulate` gives
(``tests/test_live.py`` checks this in a real browser). Scenario, draw and seed are chosen in the sidebar; *Reset*
starts the chosen run, *Step* runs a year, the play button runs on, *Run to 2040* runs to the end at once.

The command validates its config in one line (as every command does), then serves the page with ``solara run``; the
page builds its runs from the same config (:func:`run_inputs`), passed on in the environment.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from omegaconf import DictConfig, OmegaConf

# Solara checks the rules of hooks when a component is defined: it warns about Mesa 3.3.1's own SolaraViz code.
os.environ.setdefault("SOLARA_CHECK_HOOKS", "off")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import force_update

import experiments.forecast as F
from common.cli import config_dirs, fail, precheck, split_args
from common.config import build_model
from experiments.ensemble import lac_rows
from experiments.tables import MAIN_COLUMNS, unit_label
from model.data import DataError, ModelData
from model.drivers import FIRST_YEAR, LAST_YEAR, Drivers, build_drivers
from model.model import DefenceTiesModel
from model.params import ConfigError, ModelParams, check_keys, check_number
from model.schema import REGION, STATE_COLUMNS, column_names

LIVE_KEYS = ("scenario", "draw", "seed", "host", "port")
# The command's validated settings and overrides, for the page the server imports (JSON).
LIVE_ENV = "LACDEF_LIVE"
# The region's series the page plots and lists: the forecast tables' main outputs, then the drivers of China's and
# the United States' conduct.
REGION_SERIES = (*MAIN_COLUMNS, "us_china_tension", "us_pressure", "china_boldness")
# Per-state ties at the year reached: the two relationship stocks, the state's alignment and US leverage over it.
STATE_SERIES = ("r_china.CHN", "r_us.USA", "alignment", "us_leverage.USA")


@dataclass(frozen=True)
class LiveSettings:
    """The run shown first and where the page is served; ``overrides`` are the command line's model and forecast
    overrides (applied to every scenario the page runs)."""

    scenario: str
    draw: int
    seed: int
    host: str
    port: int
    overrides: tuple[str, ...] = ()
    # The user's config folders (--config-dir, hydra.searchpath), searched after configs/.
    dirs: tuple[str, ...] = ()


def model_overrides(overrides: Sequence[str]) -> list[str]:
    """The overrides that compose the model and the forecast block (not the ``live`` block's)."""
    return [o for o in overrides if not o.lstrip("+~").startswith("live.")]


def parse_live(config: Mapping, overrides: Sequence[str]) -> LiveSettings:
    """One-line errors for every bad ``live`` setting; the forecast part is checked as the forecast checks it."""
    if any(o.lstrip("+~").startswith("scenario=") for o in overrides):
        raise ConfigError("scenario: the live view starts at `live.scenario`; allowed: live.scenario=<name> "
                          "(the page switches scenarios)")
    check_keys("live", config["live"], LIVE_KEYS)
    s = dict(config["live"])
    forecast = F.parse_settings(config["forecast"])
    dirs = tuple(str(d) for d in config_dirs())
    names = F.scenario_names(dirs)
    if s["scenario"] not in names:
        raise ConfigError(f"live.scenario: {s['scenario']!r} is not a scenario; allowed: {', '.join(sorted(names))}")
    s["draw"] = int(check_number("live.draw", s["draw"], 0, forecast.draws - 1, integer=True))
    s["seed"] = int(check_number("live.seed", s["seed"], 0, forecast.seeds - 1, integer=True))
    s["port"] = int(check_number("live.port", s["port"], 0, 65535, integer=True))
    if not isinstance(s["host"], str) or not s["host"]:
        raise ConfigError(f"live.host: {s['host']!r}; allowed: a host name or address to serve on")
    return LiveSettings(**s, overrides=tuple(model_overrides(overrides)), dirs=dirs)


def validate(config: Mapping, overrides: list[str] | None = None) -> None:
    """Everything the command line can get wrong (for :func:`common.cli.precheck`)."""
    given = split_args(sys.argv[1:])[0] if overrides is None else list(overrides)
    parse_live(config, given)
    F.plan(config, model_overrides(given))


@functools.cache
def _draws(overrides: tuple[str, ...], dirs: tuple[str, ...]) -> tuple[F.ForecastSettings, object, ModelData]:
    """The forecast settings, its draw table (the forecast's own resampling, judgement axes included) and the data,
    once per process."""
    composed = F.compose_model(list(overrides), "baseline", [Path(d) for d in dirs])
    settings = F.parse_settings(composed["forecast"])
    posterior, _, _, data = F.load_inputs(settings)
    return settings, F.forecast_draws(settings, posterior)[0], data


@functools.cache
def _scenario(scenario: str, overrides: tuple[str, ...], dirs: tuple[str, ...]) -> tuple[object, Drivers, dict]:
    composed = F.compose_model(list(overrides), scenario, [Path(d) for d in dirs])
    exp = build_model(composed)
    _, _, data = _draws(overrides, dirs)
    return exp, build_drivers(data, exp.drivers, FIRST_YEAR, LAST_YEAR), F.scenario_definition(composed["scenario"])


def run_inputs(scenario: str, draw: int, overrides: Sequence[str] = (),
               dirs: Sequence[str] = ()) -> tuple[ModelParams, ModelData, Drivers, int]:
    """What the forecast runs for ``scenario`` and ``draw``: the draw's parameters, the data, the scenario's drivers
    and the root seed (the forecast's central boldness)."""
    key, dirs = tuple(overrides), tuple(dirs)
    settings, table, data = _draws(key, dirs)
    exp, drivers, _ = _scenario(scenario, key, dirs)
    params = F.draw_parameters(exp.params, table.iloc[[int(draw)]], "central")[0]
    return params, data, drivers, settings.root_seed


class LiveModel(DefenceTiesModel):
    """One run of the forecast's ensemble, stepped a year at a time (the model SolaraViz builds from the sidebar).

    After every year, :meth:`DefenceTiesModel.finish` fills the series that follow from the drivers alone (China's
    boldness, US-China tension); every other series is recorded during its year, so every row shown equals the
    finished run's.
    """

    def __init__(self, scenario: str = "baseline", draw: int = 0, seed: int = 0, overrides: Sequence[str] = (),
                 dirs: Sequence[str] = ()):
        params, data, drivers, root_seed = run_inputs(scenario, draw, overrides, dirs)
        super().__init__(params, data, drivers, root_seed=root_seed, draw=int(draw), seed=int(seed))
        self.scenario = scenario
        self.definition = _scenario(scenario, tuple(overrides), tuple(dirs))[2]

    def step(self) -> None:
        if self.t < len(self.years):
            super().step()
            self.finish()
        self.running = self.t < len(self.years)

    def region_rows(self) -> np.ndarray:
        """(years run, columns) in the order of :func:`model.schema.column_names`: LAC aggregates, then the region's
        own series."""
        done = slice(0, self.t)
        return np.concatenate([lac_rows(self.recorder.all_states[self.replica, done]),
                               self.recorder.all_region[self.replica, done]], axis=1)

    def state_rows(self) -> np.ndarray:
        """(states, STATE_SERIES) at the last year run."""
        year = self.recorder.all_states[self.replica, max(self.t - 1, 0)]
        return year[:, [STATE_COLUMNS.index(c) for c in STATE_SERIES]]


def region_table(years: np.ndarray, rows: np.ndarray) -> str:
    """The plotted series as an HTML table; each cell's ``data-value`` is the exact value (``repr`` of the float)."""
    idx = [column_names().index(c) for c in REGION_SERIES]
    head = "".join(f"<th>{unit_label(c, REGION, 'share of runs')}</th>" for c in REGION_SERIES)
    body = "".join(
        f"<tr data-year='{int(y)}'><th>{int(y)}</th>"
        + "".join(f"<td data-column='{c}' data-value='{float(row[j])!r}'>{float(row[j]):.3g}</td>"
                  for c, j in zip(REGION_SERIES, idx, strict=True)) + "</tr>"
        for y, row in zip(years, rows, strict=True))
    return (f"<table id='live-region' class='live'><thead><tr><th>year</th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def state_table(iso3: Sequence[str], rows: np.ndarray, year: int) -> str:
    """Per-state ties at ``year``, largest China-minus-US stock first, with exact values as in :func:`region_table`."""
    order = np.argsort(-(rows[:, 0] - rows[:, 1]), kind="stable")
    head = "".join(f"<th>{unit_label(c, 'ARG', 'yes/no')}</th>" for c in STATE_SERIES)
    body = "".join(
        f"<tr data-iso3='{iso3[i]}'><th>{iso3[i]}</th>"
        + "".join(f"<td data-column='{c}' data-value='{float(rows[i, j])!r}'>{float(rows[i, j]):.2f}</td>"
                  for j, c in enumerate(STATE_SERIES)) + "</tr>"
        for i in order)
    return (f"<table id='live-states' class='live' data-year='{year}'><thead><tr><th>state</th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def region_figure(model: LiveModel):
    """Small multiples of the region's series over 2000-2040, drawn to the year reached."""
    rows = model.region_rows()
    years = model.years[: model.t]
    idx = [column_names().index(c) for c in REGION_SERIES]
    fig, axes = plt.subplots(5, 3, figsize=(9, 11), sharex=True, layout="constrained")
    for ax, c, j in zip(axes.flat, REGION_SERIES, idx, strict=True):
        ax.plot(years, rows[:, j], color="#b2182b" if c.endswith(".CHN") else "#2166ac", lw=1.5)
        ax.set_xlim(FIRST_YEAR, LAST_YEAR)
        ax.axvline(2023.5, color="0.6", lw=0.8, ls=":")
        ax.set_title(unit_label(c, REGION, "share of runs"), fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{model.scenario}, draw {model.draws[0]}, seed {model.seeds[0]}: LAC, {FIRST_YEAR}-"
                 f"{model.year if model.t < len(model.years) else LAST_YEAR} (dotted: end of the record)", fontsize=9)
    return fig


def state_figure(model: LiveModel):
    """Each state's relationship stocks with China and the United States at the year reached."""
    rows = model.state_rows()
    order = np.argsort(rows[:, 0] - rows[:, 1], kind="stable")
    fig, ax = plt.subplots(figsize=(6, 7.5), layout="constrained")
    pos = np.arange(len(order))
    ax.barh(pos - 0.2, rows[order, 0], height=0.4, color="#b2182b", label="with China")
    ax.barh(pos + 0.2, rows[order, 1], height=0.4, color="#2166ac", label="with the United States")
    ax.set_yticks(pos, [model.data.iso3[i] for i in order], fontsize=7)
    ax.set_xlabel("relationship stock (index)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Ties by state, {int(model.years[max(model.t - 1, 0)])}", fontsize=9)
    return fig


def _page_components():
    """SolaraViz's components: the run's header and controls, the region's series, the per-state ties."""

    def header(model: LiveModel):
        def run_to_end():
            while model.running:
                model.step()
            force_update()

        drivers = model.definition["drivers"]
        changes = json.dumps(drivers, sort_keys=True) if drivers else "none (the drivers group's rules)"
        reached = int(model.years[model.t - 1]) if model.t else None
        with solara.Column() as out:
            solara.Markdown(f"**{model.scenario}**, parameter draw {model.draws[0]}, seed {model.seeds[0]}: "
                            + (f"year **{reached}** reached" if reached else "nothing run yet (press Step)")
                            + f". Driver changes from 2024: `{changes}`. Page 0: the region's series (the table "
                            "lists them); page 1: each state's ties at the year reached.")
            solara.Button("Run to 2040", on_click=run_to_end, disabled=not model.running, color="primary")
        return out

    def region(model: LiveModel):
        with solara.Column() as out:
            solara.FigureMatplotlib(region_figure(model), format="png")
            solara.HTML(tag="div", unsafe_innerHTML=region_table(model.years[: model.t], model.region_rows()))
        plt.close("all")
        return out

    def states(model: LiveModel):
        year = int(model.years[max(model.t - 1, 0)])
        with solara.Column() as out:
            solara.FigureMatplotlib(state_figure(model), format="png")
            solara.HTML(tag="div", unsafe_innerHTML=state_table(model.data.iso3, model.state_rows(), year))
        plt.close("all")
        return out

    return [(header, 0), (region, 0), (states, 1)]


@solara.component
def Page():
    """The page ``solara run experiments.live`` serves: SolaraViz over a :class:`LiveModel`, one per browser tab."""
    s = settings_from_env()
    settings, _, _ = _draws(s.overrides, s.dirs)
    model = solara.use_memo(lambda: LiveModel(s.scenario, s.draw, s.seed, s.overrides, s.dirs), [])
    params = {
        "scenario": {"type": "Select", "value": s.scenario, "values": sorted(F.scenario_names(s.dirs)),
                     "label": "Scenario"},
        "draw": {"type": "SliderInt", "value": s.draw, "min": 0, "max": settings.draws - 1, "step": 1,
                 "label": "Parameter draw"},
        "seed": {"type": "SliderInt", "value": s.seed, "min": 0, "max": settings.seeds - 1, "step": 1,
                 "label": "Seed"},
        "overrides": s.overrides,
        "dirs": s.dirs,
    }
    return SolaraViz(model, components=_page_components(), model_params=params,
                     name="China-LAC defence ties: one run, year by year")


def check_port(host: str, port: int) -> None:
    """A one-line ConfigError when ``port`` cannot be served on ``host`` (in use, or the host unknown here)."""
    if port == 0:
        return
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"live.port: {port} cannot be served on {host} ({exc.strerror}); allowed: a free port, "
                              "or 0 for any free one") from None


def settings_from_env() -> LiveSettings:
    """The command's settings (the defaults of configs/live.yaml when the page is served by ``solara run`` alone)."""
    if LIVE_ENV not in os.environ:
        return LiveSettings("baseline", 0, 0, "localhost", 8765)
    given = json.loads(os.environ[LIVE_ENV])
    return LiveSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in given.items()})


def serve(s: LiveSettings) -> None:
    """Replace this process with the Solara server of the page."""
    env = {**os.environ, LIVE_ENV: json.dumps({**s.__dict__, "overrides": list(s.overrides), "dirs": list(s.dirs)}),
           # No telemetry from a server on a closed network.
           "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "False"}
    args = [sys.executable, "-m", "solara", "run", "experiments.live", "--host", s.host, "--port", str(s.port),
            "--production", "--no-open", "--no-check-version"]
    os.execve(sys.executable, args, env)


def command(cfg: DictConfig) -> None:
    """Validate, then serve the page."""
    from hydra.core.hydra_config import HydraConfig

    config = OmegaConf.to_container(cfg, resolve=True)
    overrides = list(HydraConfig.get().overrides.task)
    try:
        settings = parse_live(config, overrides)
        check_port(settings.host, settings.port)
        run_inputs(settings.scenario, settings.draw, settings.overrides, settings.dirs)  # fail here, not in the page
    except (ConfigError, DataError) as exc:
        fail(str(exc))
    where = (f"http://{settings.host}:{settings.port}/" if settings.port
             else f"a free port of {settings.host} (the server's next line gives the address)")
    print(f"live: serving {settings.scenario}, draw {settings.draw}, seed {settings.seed} at {where} (Ctrl-C stops)",
          flush=True)
    serve(settings)


if __name__ == "__main__":
    sys.argv = F.set_aside_scoped(sys.argv)
    precheck("live", validate)
    from experiments.cli import live

    live()
