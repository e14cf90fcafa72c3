"""``python -m experiments.judgement``: does any forecast depend on a fixed behavioural parameter? (issue 16, item 2)

Every behavioural parameter is calibrated (the priors of ``configs/calibration/default.yaml``), the named judgement
axis the forecast varies (``china.boldness_tension``, its cautious and bold variants), derived from data (source
``derived: ...``), or fixed by judgement. This command audits the last group, element by element (a list parameter
gives one entry per element, ``arms.price.0`` ... ``arms.price.6``): each is set in turn to the low and to the high end
of its judgement range, with every posterior draw's other values unchanged, and the forecast's main outputs are
compared with the central ensemble run on the same draws and seeds (paired: common random numbers).

*Judgement range.* The confidence is read from the parameter's source: ``judgement (high|medium|low)`` gives that
level, any other source (the article, DESIGN.md, the literature) ``medium``. With v the default and [a, b] the allowed
range, the first rule that applies, clipped to [a, b] and rounded to four significant digits:

1. ``integer``: v ± {high 1, medium 2, low 3};
2. ``log-scale``, a quantity on a log or logit scale (its meaning says ``logit``, starts with ``log`` or has
   ``log-``): v ± {0.5, 1, 2};
3. ``share``, bounded within [0, 1] with 0 < v < 1: logit(v) ± {0.5, 1, 2}, mapped back;
4. ``factor``, a >= 0 and v > 0: [v / f, v x f], f = {1.25, 2, 4};
5. ``span``, otherwise (v = 0 or signed): v ± {0.05, 0.1, 0.25} x (b - a).

``experiments/judgement_overrides.csv`` (name, low, high, reason) replaces the rule where it is wrong for a
parameter's meaning; each row gives its reason. Every range lies within the allowed range, holds the default and is
accepted by :func:`model.params.with_overrides` (checked before any run).

*Measurement.* The central ensemble: ``draws`` posterior draws (as the forecast draws them, central boldness) x
``seeds`` seeds of ``scenario``, 2000-2040; with ``scenario=all``, of every scenario of ``configs/scenario/`` (the
baseline first), each measured on its own: a parameter's shift on an output is its largest over the scenarios, so a
fixed parameter has no measured dependence only when no scenario's forecast depends on it. The scenarios of a setting
run as one batch that shares its 2000-2023 years (:func:`model.run.simulate_scenarios`), so each scenario after the
first costs its forecast years only. Outputs: the LAC row of each of the forecast's main columns
(:data:`experiments.tables.MAIN_COLUMNS`) in each of ``years``, aggregated as the forecast's LAC row. For each output,
m is the central median and w = q95 - q05 its 90% band; a parameter's shift on it is max(|median_low - m|,
|median_high - m|) / w (0 when both medians equal m, inf when w = 0 and one moves). Verdict: ``no measured
dependence`` when every shift is below ``threshold``, else ``forecasts depend on it``, naming the output with the
largest shift. The noise floor is the same statistic between the central ensemble's two halves by seed (seeds
0..k/2-1 against the rest; by draw when there is one seed): how far medians of runs that differ only by chance lie
apart (with several scenarios, the highest scenario's). A shift is paired, so its own noise is smaller than that.

*Work folder.* Each setting's outputs (runs x outputs x years) are saved to ``<work_dir>/<key>/<label>.npz`` as soon
as they are computed, the key a hash of the settings, the posterior file, the data, the experiment and the simulation
code: a killed run resumes without redoing finished settings. Settings run in a process pool of ``workers`` (1: in
this process); a setting's runs do not depend on the worker or on the other settings, so the results are the same for
any number of workers. A setting whose value is the default is the central ensemble itself and is not run again.

Writes, atomically, ``judgement.csv`` (one row per audited parameter), ``judgement.md`` and
``judgement_manifest.json`` into ``out_dir``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from omegaconf import DictConfig, OmegaConf

from calibration.priors import parse_priors
from common.axes import DEPENDENCE, NO_DEPENDENCE, setting_values
from common.cli import CONFIG_DIR, fail, precheck
from common.config import Experiment, build_model
from common.posterior import load_posterior, warn_if_data_changed
from common.provenance import manifest, write_atomically, write_json
from experiments import forecast as F
from experiments.ensemble import lac_rows
from experiments.executor import run_tasks
from experiments.tables import MAIN_COLUMNS
from model.data import HIST_END, DataError, ModelData, load_data
from model.drivers import FIRST_YEAR, LAST_YEAR, Drivers, build_drivers
from model.params import (
    PROJECT_ROOT,
    ConfigError,
    ModelParams,
    check_keys,
    check_number,
    load_default_params,
    parameter_table,
    with_overrides,
)
from model.run import MAX_BATCH, RunResult, iter_scenarios
from model.schema import REGION_COLUMNS, STATE_COLUMNS

SETTINGS = ("posterior", "scenario", "draws", "seeds", "root_seed", "threshold", "workers", "years", "parameters",
            "overrides", "work_dir", "out_dir")
# Settings that choose what is reported, where, or how fast, never what a setting's runs give: not in the folder key.
NOT_IN_KEY = ("threshold", "workers", "parameters", "overrides", "work_dir", "out_dir")
PRIORS_FILE = CONFIG_DIR / "calibration" / "default.yaml"
OVERRIDES_FILE = PROJECT_ROOT / "experiments" / "judgement_overrides.csv"
OVERRIDE_COLUMNS = ("name", "low", "high", "reason")
AXIS = F.BOLDNESS
LEVELS = ("high", "medium", "low")
# The rules' steps by confidence (module docstring).
STEPS = {"integer": {"high": 1, "medium": 2, "low": 3}, "log-scale": {"high": 0.5, "medium": 1.0, "low": 2.0},
         "share": {"high": 0.5, "medium": 1.0, "low": 2.0}, "factor": {"high": 1.25, "medium": 2.0, "low": 4.0},
         "span": {"high": 0.05, "medium": 0.1, "low": 0.25}}
RULES = (*STEPS, "override")
CONFIDENCE = re.compile(r"^judgement \((high|medium|low)\)")
CENTRAL = "central"
SIDES = ("low", "high")
RESULT_FILES = ("judgement.csv", "judgement.md", "judgement_manifest.json")


# --- which parameters, and their judgement ranges ---------------------------------------------------------------


@dataclass(frozen=True)
class Element:
    """One behavioural parameter or one element of a list parameter, with its place in the audit.

    ``status``: ``audited``, ``calibrated``, ``axis`` (the judgement axis) or ``derived`` (from data).
    """

    name: str
    doc: str
    source: str
    allowed: tuple[float, float]
    integer: bool
    default: float
    status: str


@dataclass(frozen=True)
class Range:
    """An audited element's judgement range and the rule (or override) that set it."""

    name: str
    default: float
    low: float
    high: float
    rule: str
    confidence: str
    source: str
    reason: str = ""


def calibrated_names(path: Path = PRIORS_FILE) -> set[str]:
    """The calibrated parameters: the priors of the calibration config, as :func:`calibration.priors.parse_priors`
    names them (``arms.supplier_constant.6``)."""
    with open(path, encoding="utf-8") as fh:
        priors = yaml.safe_load(fh)["priors"]
    return {p.name for p in parse_priors(priors, f"{path.name}: priors")}


def elements(defaults: ModelParams | None = None, calibrated: set[str] | None = None) -> list[Element]:
    """Every element of every parameter of :func:`model.params.parameter_table`, each with its status.

    The statuses partition the elements: the judgement axis first, then the calibrated ones, then the data-derived
    (a source starting with ``derived``; a derived list's calibrated elements are calibrated, the rest derived),
    and every other element is audited.
    """
    values = (defaults or load_default_params()).to_dict()
    calibrated = calibrated_names() if calibrated is None else calibrated
    out = []
    for row in parameter_table():
        group, name = row["name"].split(".")
        value = values[group][name]
        names = [f"{row['name']}.{k}" for k in range(row["length"])] if row["length"] else [row["name"]]
        items = value if row["length"] else [value]
        for dotted, v in zip(names, items, strict=True):
            if dotted == AXIS:
                status = "axis"
            elif dotted in calibrated:
                status = "calibrated"
            elif row["source"].startswith("derived"):
                status = "derived"
            else:
                status = "audited"
            out.append(Element(dotted, row["doc"], row["source"], (row["low"], row["high"]), row["kind"] == "int",
                               v, status))
    return out


def confidence(source: str) -> str:
    """``judgement (high|medium|low)`` gives that level; any other source is ``medium``."""
    match = CONFIDENCE.match(source)
    return match.group(1) if match else "medium"


def rule_of(e: Element) -> str:
    """The first rule of the module docstring that applies to ``e``."""
    a, b = e.allowed
    doc = e.doc.lower()
    if e.integer:
        return "integer"
    if "logit" in doc or doc.startswith("log") or "log-" in doc:
        return "log-scale"
    if a >= 0 and b <= 1 and 0 < e.default < 1:
        return "share"
    if a >= 0 and e.default > 0:
        return "factor"
    return "span"


def _round(x: float) -> float:
    return float(f"{x:.4g}")


def rule_range(e: Element) -> tuple[float, float, str]:
    """``(low, high, rule)`` of ``e`` by the rules of the module docstring, clipped to its allowed range."""
    rule = rule_of(e)
    step = STEPS[rule][confidence(e.source)]
    v = float(e.default)
    a, b = e.allowed
    if rule in ("integer", "log-scale"):
        low, high = v - step, v + step
    elif rule == "share":
        z = math.log(v / (1.0 - v))
        low, high = 1.0 / (1.0 + math.exp(-(z - step))), 1.0 / (1.0 + math.exp(-(z + step)))
    elif rule == "factor":
        low, high = v / step, v * step
    else:
        low, high = v - step * (b - a), v + step * (b - a)
    low, high = min(max(_round(low), a), v), max(min(_round(high), b), v)
    return (int(low), int(high), rule) if e.integer else (float(low), float(high), rule)


def load_overrides(path: Path, audited: Mapping[str, Element]) -> dict[str, tuple[float, float, str]]:
    """The overrides file as ``{name: (low, high, reason)}``; a one-line ConfigError for an unknown or not audited
    parameter, a bad number, low > high, a range outside the allowed range or without the default, a repeated name
    or a missing reason."""
    where = f"judgement.overrides: {path}"
    allowed = "allowed: a CSV with columns name, low, high, reason (experiments/judgement_overrides.csv)"
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
    except OSError as exc:
        raise ConfigError(f"{where} cannot be read ({exc.strerror}); {allowed}") from None
    if not rows or tuple(c.strip() for c in rows[0]) != OVERRIDE_COLUMNS:
        raise ConfigError(f"{where}: header {rows[0] if rows else []}; {allowed}")
    out: dict[str, tuple[float, float, str]] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        at = f"{where}:{line}"
        if len(row) != len(OVERRIDE_COLUMNS):
            raise ConfigError(f"{at}: {len(row)} fields; {allowed}")
        name, low_text, high_text, reason = (c.strip() for c in row)
        e = audited.get(name)
        if e is None:
            raise ConfigError(f"{at}: {name!r} is not an audited parameter (unknown, calibrated, the judgement axis "
                              "or derived); allowed: names of the audit, e.g. arms.price.3")
        if name in out:
            raise ConfigError(f"{at}: {name} is listed twice; allowed: each parameter once")
        try:
            low, high = float(low_text), float(high_text)
        except ValueError:
            raise ConfigError(f"{at}: {name}: low {low_text!r}, high {high_text!r}; allowed: numbers") from None
        a, b = e.allowed
        if not (math.isfinite(low) and math.isfinite(high)) or low > high:
            raise ConfigError(f"{at}: {name}: low {low_text} > high {high_text}; allowed: low <= high")
        if low < a or high > b:
            raise ConfigError(f"{at}: {name}: [{low_text}, {high_text}] leaves the allowed range [{a}, {b}]")
        if not low <= e.default <= high:
            raise ConfigError(f"{at}: {name}: [{low_text}, {high_text}] does not hold the default {e.default}; "
                              "allowed: low <= default <= high")
        if e.integer and not (low.is_integer() and high.is_integer()):
            raise ConfigError(f"{at}: {name}: [{low_text}, {high_text}]; allowed: whole numbers (an integer "
                              "parameter)")
        if not reason:
            raise ConfigError(f"{at}: {name}: no reason; allowed: a reason grounded in the parameter's meaning")
        out[name] = (int(low), int(high), reason) if e.integer else (low, high, reason)
    return out


def judgement_ranges(overrides: Path = OVERRIDES_FILE, defaults: ModelParams | None = None,
                     calibrated: set[str] | None = None) -> list[Range]:
    """Every audited element's range (the rule's, or the override's), each end checked by
    :func:`model.params.with_overrides` on the defaults; a one-line ConfigError when one is refused."""
    base = defaults or load_default_params()
    audited = {e.name: e for e in elements(base, calibrated) if e.status == "audited"}
    given = load_overrides(overrides, audited)
    out = []
    for name, e in audited.items():
        if name in given:
            low, high, reason = given[name]
            rule = "override"
        else:
            (low, high, rule), reason = rule_range(e), ""
        for value in (low, high):
            try:
                with_overrides(base, {name: value})
            except ConfigError as exc:
                raise ConfigError(f"judgement: {name}={value} (rule {rule}) is refused by the model ({exc}); "
                                  f"allowed: a range the model accepts, narrowed in {overrides.name}") from None
        out.append(Range(name, e.default, low, high, rule, confidence(e.source), e.source, reason))
    return out


def ranges_frame(ranges: Sequence[Range]) -> pd.DataFrame:
    """The ranges as a table (name, default, low, high, rule, confidence, source, reason)."""
    return pd.DataFrame([dataclasses.asdict(r) for r in ranges], columns=[f.name for f in dataclasses.fields(Range)])


# --- settings -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Validated ``judgement`` settings (configs/judgement.yaml documents each)."""

    posterior: str
    scenario: str
    draws: int
    seeds: int
    root_seed: int
    threshold: float
    workers: int
    years: tuple[int, ...]
    parameters: tuple[str, ...]
    overrides: Path
    work_dir: Path
    out_dir: Path


def _path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def _writable(key: str, value: object) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"judgement.{key}: {value!r}; allowed: a folder path (relative to the project or absolute)")
    return F.writable_root(value, f"judgement.{key}")


ALL = "all"
REFERENCE = "baseline"


def _scenario(value: object) -> str:
    if value == ALL:
        return value
    parts = [x.strip() for x in value.strip("[]").split(",") if x.strip()] if isinstance(value, str) else []
    known = F.scenario_names()
    if not parts or any(p not in known for p in parts):
        raise ConfigError(f"judgement.scenario: {value!r}; allowed: {ALL} or one of {', '.join(sorted(known))} "
                          "(or [a,b] to compose them)")
    return value


def scenario_entries(scenario: str) -> list[str]:
    """The scenarios a ``scenario`` setting audits: ``all`` gives every scenario of the config folders, the baseline
    first (the others start from its 2000-2023 state), then by name; any other value is one scenario."""
    if scenario != ALL:
        return [scenario]
    names = F.scenario_names()
    return [REFERENCE] * (REFERENCE in names) + sorted(names - {REFERENCE})


def parse_judgement(cfg: object) -> Settings:
    """One-line errors for every bad ``judgement`` setting (the posterior and overrides files are read)."""
    check_keys("judgement", cfg, SETTINGS)
    ints = {"draws": (2, 1_000_000), "seeds": (1, 1000), "root_seed": (0, 2**63 - 1), "workers": (1, 1024)}
    values = {k: int(check_number(f"judgement.{k}", cfg[k], lo, hi, integer=True)) for k, (lo, hi) in ints.items()}
    threshold = float(check_number("judgement.threshold", cfg["threshold"], 0.0, 1.0))
    if threshold == 0:
        raise ConfigError("judgement.threshold: 0; allowed: a share of the 90% band in (0, 1]")
    years = cfg["years"]
    if isinstance(years, str) or not isinstance(years, (list, tuple)) or not years:
        raise ConfigError(f"judgement.years: {years!r}; allowed: a non-empty list of years {HIST_END + 1}-{LAST_YEAR}")
    years = tuple(int(check_number("judgement.years", y, HIST_END + 1, LAST_YEAR, integer=True)) for y in years)
    if len(set(years)) != len(years):
        raise ConfigError(f"judgement.years: {list(years)} repeats a year; allowed: distinct years")
    posterior = cfg["posterior"]
    if not isinstance(posterior, str) or not posterior:
        raise ConfigError(f"judgement.posterior: {posterior!r}; allowed: a posterior.parquet path or 'defaults'")
    if posterior != "defaults":
        frame, _ = load_posterior(_path(posterior))
        outside = sorted(set(frame.columns) - {"weight"} - calibrated_names() - {AXIS})
        if outside:
            raise ConfigError(f"judgement.posterior: {posterior!r} has {outside[0]!r}, not a calibrated parameter; "
                              "allowed: a posterior over the priors of configs/calibration/default.yaml")
    overrides = cfg["overrides"]
    if not isinstance(overrides, str) or not overrides or not _path(overrides).is_file():
        raise ConfigError(f"judgement.overrides: {overrides!r} not found; allowed: a CSV with columns name, low, "
                          "high, reason")
    audited = {r.name for r in judgement_ranges(_path(overrides))}
    parameters = cfg["parameters"]
    if isinstance(parameters, str) or not isinstance(parameters, (list, tuple)):
        raise ConfigError(f"judgement.parameters: {parameters!r}; allowed: a list of audited parameters ([]: all)")
    unknown = [p for p in parameters if p not in audited]
    if unknown:
        raise ConfigError(f"judgement.parameters: {unknown[0]!r} is not an audited parameter; allowed: [] (all) or "
                          "names of the audit, e.g. arms.price.3")
    if len(set(parameters)) != len(parameters):
        raise ConfigError(f"judgement.parameters: {list(parameters)} repeats a name; allowed: each once")
    return Settings(posterior=posterior, scenario=_scenario(cfg["scenario"]), threshold=threshold, years=years,
                    parameters=tuple(parameters), overrides=_path(overrides),
                    work_dir=_writable("work_dir", cfg["work_dir"]), out_dir=_writable("out_dir", cfg["out_dir"]),
                    **values)


def validate(config: Mapping) -> None:
    """Everything the command line can get wrong (for :func:`common.cli.precheck`)."""
    s = parse_judgement(config["judgement"])
    for entry in scenario_entries(s.scenario):
        build_model(F.compose_model([], entry))


# --- the runs -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One setting: every draw (each scenario's ``params``, with ``override`` applied) x ``seeds`` seeds of each
    scenario (its ``drivers``)."""

    label: str
    override: tuple[str, float] | None
    params: tuple[tuple[ModelParams, ...], ...]
    seeds: int
    root_seed: int
    drivers: tuple[Drivers, ...]
    years: tuple[int, ...]


def outputs_of(runs: Sequence[RunResult], years: Sequence[int]) -> np.ndarray:
    """(runs, outputs, years): the LAC row of each of MAIN_COLUMNS, as the forecast aggregates it (state variables
    by :func:`experiments.ensemble.lac_rows`, region variables from their slot)."""
    at = [int(np.flatnonzero(runs[0].years == y)[0]) for y in years]
    lac = lac_rows(np.stack([r.states[at] for r in runs]))
    region = np.stack([r.region[at] for r in runs])
    cols = [lac[:, :, STATE_COLUMNS.index(c)] if c in STATE_COLUMNS else region[:, :, REGION_COLUMNS.index(c)]
            for c in MAIN_COLUMNS]
    return np.stack(cols, axis=1).astype(float)


def run_setting(task: Task, data: ModelData) -> tuple[np.ndarray, float]:
    """The outputs of every run of ``task``, (scenarios, runs, outputs, years) with the runs draw-major (run
    d * seeds + s), and the seconds it took."""
    start = time.perf_counter()
    changed: dict[int, list[ModelParams]] = {}  # scenarios with the same draws share their changed draws
    for draws_of in task.params:
        if id(draws_of) not in changed:
            changed[id(draws_of)] = [with_overrides(p, setting_values(p, *task.override)) for p in draws_of] \
                if task.override else list(draws_of)
    runs = [[p for p in changed[id(d)] for _ in range(task.seeds)] for d in task.params]
    n = len(runs[0])
    draws = [d for d in range(n // task.seeds) for _ in range(task.seeds)]
    seeds = list(range(task.seeds)) * (n // task.seeds)
    parts = []
    for a in range(0, n, MAX_BATCH):
        piece = iter_scenarios([(r[a:a + MAX_BATCH], dr) for r, dr in zip(runs, task.drivers, strict=True)], data,
                               task.root_seed, draws[a:a + MAX_BATCH], seeds[a:a + MAX_BATCH])
        # One scenario's records at a time, reduced to the outputs before the next runs.
        parts.append(np.stack([outputs_of(records, task.years) for records in piece]))
    return np.concatenate(parts, axis=1), time.perf_counter() - start


def output_labels(years: Sequence[int]) -> list[str]:
    """``<column>@<year>`` for every output, in the order of the outputs' flattened (output, year) axis."""
    return [f"{c}@{y}" for c in MAIN_COLUMNS for y in years]


def work_key(s: Settings, exps: Sequence[Experiment], posterior_hash: str, data_hashes: Mapping[str, str]) -> str:
    """Hash of everything a setting's runs depend on but its own value: settings, posterior, experiment, data, the
    simulation code (:func:`experiments.forecast.simulation_code_hash`) and the outputs recorded."""
    settings = {k: v for k, v in dataclasses.asdict(s).items() if k not in NOT_IN_KEY and k != "posterior"}
    payload = json.dumps({"settings": settings, "posterior": posterior_hash, "experiments": [repr(e) for e in exps],
                          "data": dict(sorted(data_hashes.items())), "code": F.simulation_code_hash(),
                          "audit": F.source_hash(["experiments/judgement.py"]),
                          "outputs": list(MAIN_COLUMNS)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _save(path: Path, outputs: np.ndarray, value: float, seconds: float) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        np.savez(fh, outputs=outputs, value=np.array(value, dtype=float), seconds=np.array(seconds))
    os.replace(tmp, path)


def _stored(path: Path, value: float, shape: tuple[int, ...]) -> tuple[np.ndarray, float] | None:
    """A stored setting's outputs and seconds, when it holds this value and shape; None otherwise."""
    if not path.is_file():
        return None
    with np.load(path) as part:
        stored = float(part["value"])
        same = (math.isnan(value) and math.isnan(stored)) or stored == value
        if not same or part["outputs"].shape != shape:
            return None
        return part["outputs"], float(part["seconds"])


@dataclass
class Runs:
    """Every setting's outputs: ``central`` and ``{name: {side: outputs}}``, with the seconds each took to run."""

    central: np.ndarray
    settings: dict[str, dict[str, np.ndarray]]
    seconds: dict[str, float]
    simulated: int
    reused: int


def run_all(s: Settings, ranges: Sequence[Range], exps: Sequence[Experiment],
            draw_params: Sequence[tuple[ModelParams, ...]], data: ModelData, work: Path, progress=None) -> Runs:
    """Every setting's outputs, (scenarios, runs, outputs, years): from ``work`` where stored, else simulated (in a
    pool of ``s.workers``) and stored. ``exps`` and ``draw_params`` give each scenario's experiment and draws
    (scenarios with the same draws hold the same tuple, which a setting then changes once: :func:`run_setting`)."""
    progress = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    work.mkdir(parents=True, exist_ok=True)
    F.remove_stale_parts(work)
    drivers = tuple(build_drivers(data, exp.drivers, FIRST_YEAR, LAST_YEAR) for exp in exps)
    shape = (len(exps), s.draws * s.seeds, len(MAIN_COLUMNS), len(s.years))
    wanted = [(CENTRAL, None, math.nan)] + [(f"{r.name}__{side}", r.name, getattr(r, side))
                                            for r in ranges for side in SIDES if getattr(r, side) != r.default]
    params = tuple(draw_params)
    found: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    todo = []
    for label, name, value in wanted:
        hit = _stored(work / f"{label}.npz", value, shape)
        if hit is not None:
            found[label], seconds[label] = hit
        else:
            todo.append(Task(label, None if name is None else (name, value), params, s.seeds, s.root_seed, drivers,
                             s.years))
    values = {label: value for label, _, value in wanted}
    total, start, finished = len(wanted), time.perf_counter(), 0
    progress(f"judgement: {total} settings ({len(ranges)} parameters x low/high, those at their default not rerun, "
             f"and the central ensemble), {len(todo)} to run, {s.draws} draws x {s.seeds} seed(s) of {len(exps)} "
             f"scenario(s) each, in {work}")

    def done(task: Task, result: tuple[np.ndarray, float]) -> None:
        nonlocal finished
        outputs, took = result
        _save(work / f"{task.label}.npz", outputs, values[task.label], took)
        found[task.label], seconds[task.label] = outputs, took
        finished += 1
        elapsed = time.perf_counter() - start
        eta = elapsed / finished * (len(todo) - finished)
        progress(f"judgement: {total - len(todo) + finished}/{total} settings ({task.label}, {took:.1f} s), "
                 f"{elapsed:.0f} s, ETA {eta:.0f} s")

    run_tasks(run_setting, todo, data, "serial" if s.workers == 1 else "pool", min(s.workers, max(len(todo), 1)),
              done)
    central = found[CENTRAL]
    per = {r.name: {side: found.get(f"{r.name}__{side}", central) for side in SIDES} for r in ranges}
    return Runs(central, per, seconds, len(todo), total - len(todo))


# --- the statistics -----------------------------------------------------------------------------------------------


def band(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, 5% and 95% quantiles over runs (axis 0) of every output."""
    q05, m, q95 = np.quantile(x, (0.05, 0.5, 0.95), axis=0)
    return m, q05, q95


def relative_move(moved: np.ndarray, width: np.ndarray) -> np.ndarray:
    """``moved / width``: 0 where nothing moved, inf where only the width is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(moved == 0, 0.0, np.where(width > 0, moved / np.where(width > 0, width, 1.0), np.inf))


def shifts(central: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """max(|median_low - m|, |median_high - m|) / (q95 - q05) per output, m and the band the central ensemble's."""
    m, q05, q95 = band(central)
    moved = np.maximum(np.abs(np.median(low, axis=0) - m), np.abs(np.median(high, axis=0) - m))
    return relative_move(moved, q95 - q05)


def halves(draws: int, seeds: int) -> tuple[np.ndarray, str]:
    """A mask of the first half of the central ensemble's runs (draw-major) and what splits it: the seeds
    0..seeds/2-1 against the rest, or with one seed the draws."""
    d, k = np.divmod(np.arange(draws * seeds), seeds)
    if seeds >= 2:
        return k < seeds // 2, f"seeds {_span(0, seeds // 2 - 1)} against seeds {_span(seeds // 2, seeds - 1)}"
    return d < draws // 2, f"draws {_span(0, draws // 2 - 1)} against draws {_span(draws // 2, draws - 1)}, one seed"


def _span(a: int, b: int) -> str:
    return str(a) if a == b else f"{a}-{b}"


def noise_floor(central: np.ndarray, draws: int, seeds: int) -> tuple[np.ndarray, str]:
    """|median_half1 - median_half2| / (q95 - q05) per output, and the split (:func:`halves`)."""
    first, split = halves(draws, seeds)
    _, q05, q95 = band(central)
    moved = np.abs(np.median(central[first], axis=0) - np.median(central[~first], axis=0))
    return relative_move(moved, q95 - q05), split


def result_table(ranges: Sequence[Range], runs: Runs, years: Sequence[int], threshold: float,
                 scenarios: Sequence[str]) -> pd.DataFrame:
    """One row per audited parameter: its range, the largest shift, the output and scenario it is on, the verdict,
    every output's shift (its largest over the scenarios) and each scenario's largest shift; sorted as the ranges
    are."""
    labels = output_labels(years)
    n = len(labels)
    rows = []
    for r in ranges:
        each = np.stack([shifts(runs.central[j], runs.settings[r.name]["low"][j],
                                runs.settings[r.name]["high"][j]).reshape(n) for j in range(len(scenarios))])
        got = each.max(axis=0)
        worst = int(np.argmax(np.where(np.isnan(got), np.inf, got)))
        on = int(np.argmax(np.where(np.isnan(each[:, worst]), np.inf, each[:, worst])))
        depends = not bool(np.all(got < threshold))
        rows.append({"name": r.name, "default": r.default, "low": r.low, "high": r.high, "rule": r.rule,
                     "confidence": r.confidence, "source": r.source, "max_shift": float(got[worst]),
                     "worst_output": labels[worst] if got[worst] != 0 else "none",
                     "worst_scenario": scenarios[on] if got[worst] != 0 else "none",
                     "verdict": DEPENDENCE if depends else NO_DEPENDENCE,
                     **{f"shift:{label}": float(v) for label, v in zip(labels, got, strict=True)},
                     **{f"max_shift:{name}": float(v) for name, v in zip(scenarios, each.max(axis=1), strict=True)},
                     "reason": r.reason})
    return pd.DataFrame(rows)


def central_table(runs: Runs, years: Sequence[int], draws: int, seeds: int,
                  scenarios: Sequence[str]) -> tuple[pd.DataFrame, str]:
    """Per scenario and output: the central ensemble's median, 90% band and width, its noise floor
    (:func:`noise_floor`) and, for an output in whole numbers, the median's step over the width; and the split."""
    labels = output_labels(years)
    frames = []
    for j, name in enumerate(scenarios):
        central = runs.central[j]
        m, q05, q95 = (x.reshape(-1) for x in band(central))
        noise, split = noise_floor(central, draws, seeds)
        whole = np.all(central == np.round(central), axis=0).reshape(-1)
        unit = 0.5 if len(central) % 2 == 0 else 1.0
        step = np.where(whole, relative_move(np.full(len(labels), unit), q95 - q05), np.nan)
        frames.append(pd.DataFrame({"scenario": name, "output": labels, "median": m, "q05": q05, "q95": q95,
                                    "width": q95 - q05, "noise": noise.reshape(-1), "step": step}))
    return pd.concat(frames, ignore_index=True), split


def noisiest(central: pd.DataFrame) -> pd.DataFrame:
    """Each output's row of the scenario where its noise floor is highest (the first such scenario on a tie), in the
    order of the outputs."""
    order = {label: k for k, label in enumerate(dict.fromkeys(central.output))}
    rows = central.loc[central.groupby("output", sort=False)["noise"].idxmax()]
    return rows.sort_values("output", key=lambda c: c.map(order)).reset_index(drop=True)


# --- the report ---------------------------------------------------------------------------------------------------


def _num(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.3g}"


def _alone(table: pd.DataFrame, scenarios: Sequence[str], threshold: float) -> str:
    """The parameters that only one scenario's forecasts depend on, each with that scenario (or ``none``)."""
    over = table[[f"max_shift:{x}" for x in scenarios]].to_numpy() >= threshold
    alone = [f"`{name}` ({scenarios[int(np.argmax(row))]})" for name, row in zip(table.name, over, strict=True)
             if row.sum() == 1]
    return ", ".join(alone) if alone else "none"


def markdown(table: pd.DataFrame, central: pd.DataFrame, excluded: Mapping[str, list[str]], s: Settings,
             source: str, split: str, total_audited: int, seconds: float, scenarios: Sequence[str]) -> str:
    """The report: what was measured, the settings, the noise floor, the verdicts (with several scenarios, each
    parameter's largest shift over them, and how many parameters each scenario's forecasts depend on)."""
    depends = table[table.verdict == DEPENDENCE].sort_values("max_shift", ascending=False)
    others = table[table.verdict == NO_DEPENDENCE].sort_values("max_shift", ascending=False)
    subset = f" (a subset: {len(table)} of the {total_audited} audited parameters)" if s.parameters else ""
    lines = [
        "# Judgement audit: do the forecasts depend on the fixed behavioural parameters?", "",
        "Issue 16, item 2. Every behavioural parameter is calibrated, the judgement axis the forecast varies, derived "
        "from data, or fixed by judgement; this audit measures the last group. Each fixed parameter (each element of "
        "a list) is set to the low and to the high end of its judgement range, every posterior draw's other values "
        "unchanged, and the runs use the same draws and seeds as the central ensemble (paired, common random "
        "numbers). For each output, the *shift* is max(|median at low - m|, |median at high - m|) / w, where m is the "
        "central ensemble's median and w = q95 - q05 its 90% band. A parameter has *no measured dependence* when "
        f"every output's shift is below {s.threshold:g}; otherwise the forecasts depend on it.", "",
        "## Settings", "",
        f"- Posterior: `{s.posterior}` ({source}); "
        + (f"scenario `{s.scenario}`" if len(scenarios) == 1 else
           f"scenario `{s.scenario}`: the {len(scenarios)} scenarios {', '.join(f'`{x}`' for x in scenarios)}, "
           "each measured on its own, a parameter's shift on an output its largest over them")
        + f"; {s.draws} draws x {s.seeds} seed(s) = {s.draws * s.seeds} runs per setting and scenario, 2000-2040, "
        f"root seed {s.root_seed}.",
        f"- Outputs: the LAC row of each of the forecast table's main columns in {', '.join(map(str, s.years))} "
        f"({len(MAIN_COLUMNS) * len(s.years)} outputs).",
        f"- Ranges: the rule of `experiments/judgement.py` (integer ±1/2/3; log or logit scale ±0.5/1/2; share "
        "logit ±0.5/1/2; non-negative scale ÷× 1.25/2/4; otherwise ±5/10/25% of the allowed range; by confidence "
        f"high/medium/low) or an override of `{s.overrides.name}` with its reason.",
        "- A supplier's price or quality varies with its constant re-derived (the constants are derived or "
        "calibrated net of price and quality utility, whose sum SIPRI's shares fix), except the domestic industry's, "
        "whose constant is a judgement: only what they do beyond the constant moves.",
        f"- Audited: {len(table)} parameters{subset}, {len(table) * 2} settings besides the central ensemble; "
        f"simulation time {seconds:.0f} s, summed over the settings.",
        f"- Not audited: {len(excluded['calibrated'])} calibrated ({', '.join(excluded['calibrated'])}); the "
        f"judgement axis {', '.join(excluded['axis'])} (the forecast's cautious and bold variants); "
        f"{len(excluded['derived'])} derived from data ({', '.join(excluded['derived'])}).", "",
        "## Noise floor", "",
        f"The same statistic between two halves of the central ensemble ({split}): how far two medians of runs that "
        "differ by chance alone lie apart, in units of the band"
        + ("" if len(scenarios) == 1 else "; each output's row is the scenario where its floor is highest")
        + ". A paired shift (same draws and seeds) carries less "
        "noise than this, but a shift near the floor is not a measured effect. An output in whole numbers (counts of "
        "states, deals, stations) has a median that moves in steps (0.5 with an even number of runs, else 1): the "
        "last column is that step over w; where it reaches the threshold, a median that moves at all counts as a "
        "dependence.", "",
        "| output | scenario | median | 90% band | w | noise floor | median step / w |",
        "|---|---|---|---|---|---|---|"]
    for row in noisiest(central).itertuples():
        lines.append(f"| {row.output} | {row.scenario} | {_num(row.median)} | [{_num(row.q05)}, {_num(row.q95)}] | "
                     f"{_num(row.width)} | {_num(row.noise)} | {'–' if np.isnan(row.step) else _num(row.step)} |")
    lines += ["", "## Result", "",
              f"- Forecasts depend on it: {len(depends)} of {len(table)} parameters.",
              f"- No measured dependence (every shift < {s.threshold:g}): {len(others)} of {len(table)}."]
    if len(scenarios) > 1:
        each = {x: int((table[f"max_shift:{x}"] >= s.threshold).sum()) for x in scenarios}
        lines.append("- Parameters each scenario's forecasts depend on: "
                     + "; ".join(f"`{x}` {k}" for x, k in each.items())
                     + ". Parameters only one scenario's forecasts depend on: "
                     + f"{_alone(table, scenarios, s.threshold)}.")
    lines.append("")
    if len(depends):
        lines += ["## Parameters the forecasts depend on, by largest shift", "",
                  "| parameter | default | range | rule | confidence | max shift | on | scenario | outputs over the "
                  "threshold |", "|---|---|---|---|---|---|---|---|---|"]
        cols = [c for c in table.columns if c.startswith("shift:")]
        for row in depends.itertuples(index=False):
            values = dict(zip(table.columns, row, strict=True))
            over = sorted(((values[c], c.removeprefix("shift:")) for c in cols if not values[c] < s.threshold),
                          reverse=True)
            lines.append(f"| `{row.name}` | {row.default:g} | [{row.low:g}, {row.high:g}] | {row.rule} | "
                         f"{row.confidence} | {_num(row.max_shift)} | {row.worst_output} | {row.worst_scenario} | "
                         f"{len(over)}: {', '.join(f'{o} {_num(v)}' for v, o in over[:4])}"
                         f"{', ...' if len(over) > 4 else ''} |")
        lines.append("")
    if len(others):
        lines += ["## No measured dependence", "",
                  "Parameter [low, high]: largest shift (output).", "",
                  "; ".join(f"`{r.name}` [{r.low:g}, {r.high:g}]: {_num(r.max_shift)} ({r.worst_output})"
                            for r in others.itertuples()) + ".", ""]
    overrides = table[table.rule == "override"]
    if len(overrides):
        lines += ["## Ranges set by override", ""]
        lines += [f"- `{r.name}` [{r.low:g}, {r.high:g}] (default {r.default:g}): {r.reason}"
                  for r in overrides.itertuples()]
        lines.append("")
    lines.append("Every parameter's range, rule, confidence, source and shift per output: `judgement.csv`.")
    return "\n".join(lines) + "\n"


# --- the command --------------------------------------------------------------------------------------------------


def run(config: Mapping, progress=None) -> dict:
    """Validate, run (resuming from the work folder), write the three files; returns a summary."""
    began = time.perf_counter()
    s = parse_judgement(config["judgement"])
    scenarios = scenario_entries(s.scenario)
    exps = [build_model(F.compose_model([], entry)) for entry in scenarios]
    data = load_data()
    posterior, source, posterior_hash = None, "defaults", "defaults"
    if s.posterior != "defaults":
        path = _path(s.posterior)
        posterior, source = load_posterior(path)
        warn_if_data_changed(path, data.hashes)
        posterior_hash = hashlib.sha256(path.read_bytes()).hexdigest()
    all_ranges = judgement_ranges(s.overrides)
    ranges = [r for r in all_ranges if not s.parameters or r.name in s.parameters]
    forecast = F.ForecastSettings(posterior=s.posterior, draws=s.draws, seeds=s.seeds, root_seed=s.root_seed,
                                  first_stored_year=FIRST_YEAR, first_table_year=HIST_END + 1, executor="serial",
                                  workers=1, dask_scheduler="", batch_size=s.draws, boldness_scenarios=(),
                                  judgement="fixed", out_root=str(s.work_dir), formats=())
    table_of_draws = F.draw_table(forecast, posterior)
    # Scenarios change drivers; those that leave the parameters as the first's share its draws.
    draw_params: list[tuple[ModelParams, ...]] = []
    for exp in exps:
        same = next((d for e, d in zip(exps, draw_params, strict=False) if e.params == exp.params), None)
        draw_params.append(same if same is not None else
                           tuple(F.draw_parameters(exp.params, table_of_draws, CENTRAL)))
    key = work_key(s, exps, posterior_hash, data.hashes)
    work = s.work_dir / key
    runs = run_all(s, ranges, exps, draw_params, data, work, progress)
    table = result_table(ranges, runs, s.years, s.threshold, scenarios)
    central, split = central_table(runs, s.years, s.draws, s.seeds, scenarios)
    statuses = elements()
    excluded = {k: [e.name for e in statuses if e.status == k] for k in ("calibrated", "axis", "derived")}
    simulated = float(sum(runs.seconds.values()))
    report = markdown(table, central, excluded, s, source, split, len(all_ranges), simulated, scenarios)
    record = manifest(config, {"root_seed": s.root_seed}, data.hashes)
    settings_used = {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(s).items()}
    per_setting = [v for k, v in runs.seconds.items()]
    record["judgement"] = {
        "settings": settings_used, "posterior": source, "posterior_sha256": posterior_hash,
        "simulation_code_sha256": F.simulation_code_hash(), "work_folder": str(work), "parameters": len(table),
        "audited_total": len(all_ranges), "depend": int((table.verdict == DEPENDENCE).sum()),
        "no_dependence": int((table.verdict == NO_DEPENDENCE).sum()), "settings_run": len(runs.seconds),
        "simulated_now": runs.simulated, "reused": runs.reused, "simulation_s": round(simulated, 1),
        "seconds_per_setting": round(simulated / max(len(per_setting), 1), 3),
        "wall_s": round(time.perf_counter() - began, 1), "noise_split": split,
        "scenarios": scenarios,
        "depend_by_scenario": {x: int((table[f"max_shift:{x}"] >= s.threshold).sum()) for x in scenarios},
        "central": {x: {row.output: {"median": row.median, "q05": row.q05, "q95": row.q95, "noise_floor": row.noise,
                                     "median_step": None if np.isnan(row.step) else row.step}
                        for row in central[central.scenario == x].itertuples()} for x in scenarios},
        "excluded": excluded,
        "overrides": {r.name: r.reason for r in all_ranges if r.rule == "override"}}
    record = json.loads(json.dumps(record, default=str, allow_nan=True))
    paths = write_atomically(s.out_dir, {
        "judgement.csv": lambda p: table.to_csv(p, index=False),
        "judgement.md": lambda p: p.write_text(report, encoding="utf-8"),
        "judgement_manifest.json": lambda p: write_json(p, record)})
    worst = table.sort_values("max_shift", ascending=False).iloc[0] if len(table) else None
    return {"paths": paths, "table": table, "work": work, "simulated": runs.simulated, "reused": runs.reused,
            "worst": None if worst is None else (worst["name"], float(worst["max_shift"]), worst["worst_output"])}


def command(cfg: DictConfig) -> None:
    """Run the audit and print one summary line."""
    config = OmegaConf.to_container(cfg, resolve=True)
    try:
        out = run(config)
    except (ConfigError, DataError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"judgement.work_dir/out_dir: cannot write ({exc.strerror}: {exc.filename}); allowed: writable folders")
    table = out["table"]
    n_dep = int((table.verdict == DEPENDENCE).sum())
    worst = out["worst"]
    print(f"judgement: {len(table)} parameters audited; forecasts depend on {n_dep}, no measured dependence on "
          f"{len(table) - n_dep}" + (f"; largest shift {worst[1]:.3g} ({worst[0]} on {worst[2]})" if worst else "")
          + f"; {out['simulated']} settings simulated, {out['reused']} reused; report in {out['paths'][1]}")


if __name__ == "__main__":
    precheck("judgement", validate)
    from experiments.cli import judgement

    judgement()
