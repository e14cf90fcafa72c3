"""Turn a composed config (plain dicts, no Hydra types) into validated, frozen objects for the model.

Only entry points call this; the model never sees a DictConfig. Every error is a one-line :class:`ConfigError` naming
the dotted key, the bad value and what is allowed.

Scenarios compose. Each file of ``configs/scenario/`` holds ``name: <file name>`` and its content under the same key,
``<file name>: {rationale, drivers, effects}``, so Hydra's list of options for a group, ``scenario=[a,b]``, puts the
parts side by side in the ``scenario`` node (``scenario.name`` is then the last part's). :func:`compose_scenario`
names the result ``a+b`` and merges the parts' driver overrides: mappings (``paths``, ``red_lines``) merge key by key,
dated lists concatenate, and a key set by two parts (or overlapping dated periods of one state) is a one-line error
naming both. A part's ``effects`` (what the scenario declares it does, :mod:`experiments.effects`) are validated
here too; :func:`scenario_effects` gives the union of the parts' effects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from omegaconf import OmegaConf

from common.effects import Effect, parse_effects, require_effects, union
from model.drivers import FIRST_YEAR, LAST_YEAR, DriverParams
from model.params import ConfigError, ModelParams, check_keys, check_number

FORMATS = ("parquet", "csv", "png")
# The executors a run or forecast may use (experiments.executor implements them).
EXECUTORS = ("serial", "pool", "dask")
ROOT_KEYS = ("params", "drivers", "scenario", "run")
RUN_KEYS = ("root_seed", "n_seeds", "first_year", "last_year", "param_source", "formats", "out_dir")
# Where the runs go (experiments/executor.py); they never change the results, so configs may leave them out.
RUN_EXECUTION = {"executor": "serial", "workers": 2, "dask_scheduler": "", "batch_size": 4}
PART_KEYS = ("rationale", "drivers", "effects")
# Dated lists of driver overrides: composed scenarios concatenate them.
PERIOD_LISTS = ("orientation", "fiscal_stress", "domestic_preference", "china_tech_offer", "embargo")
DATED_LISTS = (*PERIOD_LISTS, "recognition")
PART_NAME = re.compile(r"[A-Za-z0-9_-]+")


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
    executor: str = "serial"
    workers: int = 2
    dask_scheduler: str = ""
    batch_size: int = 4


@dataclass(frozen=True, slots=True)
class Experiment:
    """Everything one simulate job needs."""

    params: ModelParams
    drivers: DriverParams
    scenario: str
    run: RunSettings


def scenario_label(node: Mapping) -> str:
    """The name of a composed ``scenario`` node: its parts joined by ``+`` (Hydra resolver ``scenario_name``)."""
    return "+".join(str(k) for k in node if k != "name") or str(node.get("name", ""))


# For the run folder of a composed scenario: ``outputs/simulate/${scenario_name:${scenario}}/...``.
OmegaConf.register_new_resolver("scenario_name", scenario_label, replace=True)


def _entry_key(key: str, o: object) -> tuple | None:
    """What two dated entries must share to collide (state, and partner for embargoes), or None if malformed."""
    if key == "recognition":
        return (o[0],) if isinstance(o, (list, tuple)) and o else None
    if not isinstance(o, Mapping) or not isinstance(o.get("year_start"), int) or not isinstance(o.get("year_end"), int):
        return None
    return (o.get("iso3"), o.get("partner")) if key == "embargo" else (o.get("iso3"),)


def _merge_part(out: dict, overrides: Mapping, part: str, owner: dict, dotted: str) -> None:
    """Merge one part's overrides into ``out``; ``owner`` maps keys and dated entries to the part that set them."""
    for key, value in overrides.items():
        path = f"{dotted}.{key}"
        if dotted == "drivers" and key in DATED_LISTS and isinstance(value, (list, tuple)):
            mine = list(out.get(key) or [])
            for entry in value:
                ek = _entry_key(key, entry)
                for other, other_part in owner.get((path, "entries"), []):
                    if ek is None or other_part == part or _entry_key(key, other) != ek:
                        continue
                    apart = key != "recognition" and (entry["year_end"] < other["year_start"]
                                                      or other["year_end"] < entry["year_start"])
                    if not apart:
                        what = "/".join(str(x) for x in ek if x)
                        raise ConfigError(f"scenario.{path}: {what} set by both {other_part} and {part}; allowed: "
                                          "dated entries of one state that do not overlap across composed scenarios")
            owner.setdefault((path, "entries"), []).extend((e, part) for e in value)
            out[key] = mine + list(value)
        elif isinstance(value, Mapping) and (key not in out or isinstance(out[key], Mapping)):
            node = dict(out.get(key) or {})  # a mapping claims only the keys it sets
            _merge_part(node, value, part, owner, path)
            out[key] = node
        elif path in owner and owner[path] != part:
            raise ConfigError(f"scenario.{path}: set by both {owner[path]} and {part}; allowed: each driver key in one "
                              "composed scenario only (mappings merge, dated lists concatenate)")
        else:
            out[key] = value
            owner[path] = part


def _parts(scen: Mapping) -> dict[str, Mapping]:
    """The validated parts of a composed ``scenario`` node, ``{part name: {rationale, drivers, effects}}``."""
    name = scen.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"scenario.name: {name!r}; allowed: a non-empty string, the scenario file's name")
    parts = {}
    for key, value in scen.items():
        if key == "name":
            continue
        if key in PART_KEYS:
            raise ConfigError(f"scenario.{key}: at the top of the scenario; allowed: name and the scenario's content "
                              f"under its name ({name}: {{rationale, drivers}}), as in configs/scenario/baseline.yaml")
        if not isinstance(value, Mapping) or not PART_NAME.fullmatch(str(key)):
            raise ConfigError(f"scenario.{key}: unknown key; allowed: name and one mapping per scenario, "
                              "<file name>: {rationale, drivers}")
        check_keys(f"scenario.{key}", value, PART_KEYS, required=False)
        rationale = value.get("rationale")
        if not isinstance(rationale, str) or not rationale.strip():
            raise ConfigError(f"scenario.{key}.rationale: {rationale!r}; allowed: a paragraph of rationale (string)")
        if not isinstance(value.get("drivers") or {}, Mapping):
            raise ConfigError(f"scenario.{key}.drivers: {value['drivers']!r}; allowed: a mapping of driver overrides")
        parts[str(key)] = value
    if not parts:
        raise ConfigError(f"scenario: no content under {name!r}; allowed: name and {name}: {{rationale, drivers}}")
    if name not in parts:
        raise ConfigError(f"scenario.name: {name!r} names no scenario here ({', '.join(parts)}); allowed: the file's "
                          "name, which is also the key its content sits under")
    return parts


def compose_scenario(scen: Mapping) -> tuple[str, dict]:
    """The scenario's name and its driver overrides, from the composed ``scenario`` node (one part or several).

    The parts' ``effects`` are validated (:func:`experiments.effects.parse_effects`) but not returned.
    """
    parts = _parts(scen)
    for part, value in parts.items():
        parse_effects(part, value.get("effects"))
    merged: dict = {}
    owner: dict = {}
    for part, value in parts.items():
        _merge_part(merged, value.get("drivers") or {}, part, owner, "drivers")
    return "+".join(parts), merged


def scenario_effects(scen: Mapping, required: bool = False) -> tuple[Effect, ...]:
    """The declared effects of the composed ``scenario`` node: the union of its parts' (experiments.effects).

    With ``required``, a part without effects (other than the reference, ``baseline``) is a one-line ConfigError.
    """
    parts = {part: parse_effects(part, value.get("effects")) for part, value in _parts(scen).items()}
    if required:
        require_effects(parts)
    return union(parts)


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
            raise ConfigError(f"{key}: {'missing' if key not in cfg else repr(cfg[key])}; allowed: "
                              f"a mapping (configs/{key})")
    name, overrides = compose_scenario(cfg["scenario"])
    drivers = DriverParams.from_dict(merge_drivers(cfg["drivers"], overrides))
    params = ModelParams.from_dict(cfg["params"])
    run = {**RUN_EXECUTION, **cfg["run"]} if isinstance(cfg["run"], Mapping) else cfg["run"]
    check_keys("run", run, RUN_KEYS + tuple(RUN_EXECUTION))
    if run["executor"] not in EXECUTORS:
        raise ConfigError(f"run.executor: {run['executor']!r}; allowed: {', '.join(EXECUTORS)}")
    if not isinstance(run["dask_scheduler"], str) or (run["executor"] == "dask" and not run["dask_scheduler"]):
        raise ConfigError(f"run.dask_scheduler: {run['dask_scheduler']!r}; allowed: a scheduler's host:port (needed by "
                          f"executor dask)")
    first = _whole("run.first_year", run["first_year"], FIRST_YEAR, LAST_YEAR)
    last = _whole("run.last_year", run["last_year"], first, LAST_YEAR)
    formats = run["formats"]
    if isinstance(formats, str) or not formats or any(f not in FORMATS for f in formats):
        raise ConfigError(f"run.formats: {formats!r}; allowed: a non-empty list of {', '.join(FORMATS)}")
    if not isinstance(run["out_dir"], str):
        raise ConfigError(f"run.out_dir: {run['out_dir']!r}; allowed: a folder path (string), "
                          "empty for Hydra's run folder")
    if run["param_source"] != "defaults":
        raise ConfigError(f"run.param_source: {run['param_source']!r}; allowed: defaults")
    settings = RunSettings(
        root_seed=_whole("run.root_seed", run["root_seed"], 0, 2**63 - 1),
        n_seeds=_whole("run.n_seeds", run["n_seeds"], 1, 100_000),
        first_year=first, last_year=last, param_source=run["param_source"], formats=tuple(formats),
        out_dir=run["out_dir"], executor=run["executor"], workers=_whole("run.workers", run["workers"], 1, 1024),
        dask_scheduler=run["dask_scheduler"], batch_size=_whole("run.batch_size", run["batch_size"], 1, 100_000),
    )
    return Experiment(params=params, drivers=drivers, scenario=name, run=settings)


def build_model(cfg: Mapping) -> Experiment:
    """Validate only the model part (params, drivers, scenario) of a composed config.

    Entry points with their own run settings (calibration, forecast) use it; the run part is a valid placeholder.
    """
    run = {"root_seed": 0, "n_seeds": 1, "first_year": FIRST_YEAR, "last_year": LAST_YEAR, "param_source": "defaults",
           "formats": ["parquet"], "out_dir": ""}
    return build_experiment({k: cfg[k] for k in ("params", "drivers", "scenario")} | {"run": run})
