"""Turn a composed config (plain dicts, no Hydra types) into validated, frozen objects for the model.

Only entry points call this; the model never sees a DictConfig. Every error is a one-line :class:`ConfigError` naming
the dotted key, the bad value and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from model.drivers import FIRST_YEAR, LAST_YEAR, DriverParams
from model.params import ConfigError, ModelParams, check_keys, check_number

FORMATS = ("parquet", "csv", "png")
ROOT_KEYS = ("params", "drivers", "scenario", "run")
RUN_KEYS = ("root_seed", "n_seeds", "first_year", "last_year", "param_source", "formats", "out_dir")
SCENARIO_KEYS = ("name", "rationale", "drivers")


@dataclass(frozen=True, slots=True)
class RunSettings:
    """How many runs, which years, and where outputs go."""

    root_seed: int
    n_seeds: int
    first_year: int
    last_year: int
    param_source: str
    formats: tuple[str, ...]
    out_dir: str


@dataclass(frozen=True, slots=True)
class Experiment:
    """Everything one simulate job needs."""

    params: ModelParams
    drivers: DriverParams
    scenario: str
    run: RunSettings


def merge_drivers(base: Mapping, overrides: Mapping) -> dict:
    """Scenario driver overrides on top of the drivers group: mappings merge key by key, anything else replaces."""
    out = dict(base)
    for k, v in overrides.items():
        out[k] = merge_drivers(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _whole(key: str, v: object, lo: int, hi: int) -> int:
    """Run settings are integers in the YAML: a float (even 2030.0) is a wrong type."""
    if isinstance(v, float):
        raise ConfigError(f"{key}: expected int in [{lo}, {hi}], got {v!r} (float)")
    return int(check_number(key, v, lo, hi, integer=True))


def build_experiment(cfg: Mapping) -> Experiment:
    """Validate the whole composed config before any run."""
    unknown = sorted(set(cfg) - set(ROOT_KEYS) - {"hydra"})
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown top-level key; allowed: {', '.join(ROOT_KEYS)}")
    for key in ROOT_KEYS:
        if not isinstance(cfg.get(key), Mapping):
            raise ConfigError(f"{key}: {'missing' if key not in cfg else repr(cfg[key])}; allowed: a mapping (configs/{key})")
    scen = cfg["scenario"]
    bad = sorted(set(scen) - set(SCENARIO_KEYS))
    if bad:
        raise ConfigError(f"scenario.{bad[0]}: unknown key; allowed: {', '.join(SCENARIO_KEYS)}")
    if not isinstance(scen.get("name"), str) or not scen["name"]:
        raise ConfigError(f"scenario.name: {scen.get('name')!r}; allowed: a non-empty string")
    if not isinstance(scen.get("drivers") or {}, Mapping):
        raise ConfigError(f"scenario.drivers: {scen['drivers']!r}; allowed: a mapping of driver overrides")
    drivers = DriverParams.from_dict(merge_drivers(cfg["drivers"], scen.get("drivers") or {}))
    params = ModelParams.from_dict(cfg["params"])
    run = cfg["run"]
    check_keys("run", run, RUN_KEYS)
    first = _whole("run.first_year", run["first_year"], FIRST_YEAR, LAST_YEAR)
    last = _whole("run.last_year", run["last_year"], first, LAST_YEAR)
    formats = run["formats"]
    if isinstance(formats, str) or not formats or any(f not in FORMATS for f in formats):
        raise ConfigError(f"run.formats: {formats!r}; allowed: a non-empty list of {', '.join(FORMATS)}")
    if not isinstance(run["out_dir"], str):
        raise ConfigError(f"run.out_dir: {run['out_dir']!r}; allowed: a folder path (string), empty for Hydra's run folder")
    if run["param_source"] != "defaults":
        raise ConfigError(f"run.param_source: {run['param_source']!r}; allowed: defaults")
    settings = RunSettings(
        root_seed=_whole("run.root_seed", run["root_seed"], 0, 2**63 - 1),
        n_seeds=_whole("run.n_seeds", run["n_seeds"], 1, 100_000),
        first_year=first, last_year=last, param_source=run["param_source"], formats=tuple(formats),
        out_dir=run["out_dir"],
    )
    return Experiment(params=params, drivers=drivers, scenario=scen["name"], run=settings)
