"""``python -m experiments.forecast``: the posterior ensemble under each scenario, 2000-2040, resumable.

For every scenario of ``scenarios`` (plus boldness variants of the tension scenarios), ``forecast.draws`` parameter sets
resampled from the posterior each run ``forecast.seeds`` seeds. The same draws and seeds are used in every scenario and
every run's random streams depend only on (root seed, draw, seed), so differences between scenarios are paired.

Runs go to an executor (serial, a local process pool, or a Dask cluster) in batches of ``batch_size`` draws; each
finished batch is written at once as one Parquet part of a dataset partitioned by scenario (written under a temporary
name, then renamed). The work folder is ``out_root/<key>``, the key a hash of everything that changes the results
(model config of each scenario, forecast settings, posterior file, data hashes), so the same command finds it again:
a killed run, rerun, skips the parts it finished and the final outputs equal an uninterrupted run's. Tables and the
fan charts' statistics are then computed per scenario in worker processes from the dataset (:mod:`experiments.tables`,
each result kept in the work folder's cache as it arrives), the figures drawn one per task, then the report; the
``scenario_effects`` table among them: every scenario but the reference declares its effects in its file
(:mod:`experiments.effects`), the manifest lists them (``scenario_effects_declared``) and the table measures them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from calibration.headline import load_headline
from common import axes as A
from common.cli import CONFIG_DIR, config_dirs, fail, precheck, searchpath_override, split_args
from common.config import Experiment, build_model, compose_scenario, scenario_effects
from common.effects import Effect
from common.posterior import default_prior_driven_path, load_posterior, warn_if_data_changed
from common.provenance import manifest, write_atomically, write_json
from experiments.ensemble import Batch, run_group_parquet, same_replicas
from experiments.executor import EXECUTORS, LocalPool, dask_client, run_tasks
from experiments.post import post_task
from model.data import DataError, ModelData, load_data
from model.drivers import FIRST_YEAR, LAST_YEAR, build_drivers
from model.params import PROJECT_ROOT, ConfigError, ModelParams, check_keys, check_number, with_overrides

FORMATS = ("parquet", "csv", "md", "png", "html")
SETTINGS = ("posterior", "draws", "seeds", "root_seed", "first_stored_year", "first_table_year", "executor", "workers",
            "dask_scheduler", "batch_size", "boldness_scenarios", "judgement", "out_root", "formats")
# Settings that choose where and how fast the runs go, never what they give: left out of the work folder's key.
NOT_IN_KEY = ("executor", "workers", "dask_scheduler", "out_root", "formats")
# The modules whose source decides a run's record: the model, how a batch runs and records, how draws become
# parameters (this module) and how configs become experiments.
SIMULATION_CODE = ("model/*.py", "experiments/ensemble.py", "experiments/wide.py", "experiments/forecast.py",
                   "common/axes.py", "common/config.py")
# The modules whose source decides the tables, and with them the figures (the work folder's key covers the runs).
TABLES_CODE = ("experiments/tables.py", "experiments/effects.py", "experiments/post.py", "common/effects.py",
               "model/schema.py")
FIGURES_CODE = (*TABLES_CODE, "experiments/report.py", "calibration/observations.py", "data/observations.csv")
# The settings the tables read; the file listing a cached figure set's names, written last (it marks the set whole).
TABLE_SETTINGS = ("draws", "seeds", "first_table_year", "first_stored_year", "posterior")
DONE = "drawn.txt"
# The modules whose source decides the written tables, figures and report beyond the tables' and figures' own.
OUTPUTS_CODE = (*FIGURES_CODE, "experiments/findings.py", "experiments/forecast.py", "common/provenance.py")
# scenario.<name>.<key>=value: a change to one scenario's own content; set aside from Hydra's command line (see
# set_aside_scoped) in this environment variable, as JSON.
SCOPED = re.compile(r"^[+~]*scenario\.([A-Za-z0-9_]+)\.")
SCOPED_ENV = "LACDEF_SCENARIO_OVERRIDES"
# The link in out_root to the newest complete work folder.
LATEST = "latest"
BOLDNESS = "china.boldness_tension"
# China's boldness under tension is not identified by the record (docs/ODD.md §9): two alternative priors besides the
# calibrated one, the lower and upper third of its range. judgement: thirds of the prior U(0, 5) the calibration used.
BOLDNESS_VARIANTS = {"cautious": (0.0, 5.0 / 3.0), "bold": (10.0 / 3.0, 5.0)}
# forecast.judgement: vary the judgement axes of judgement.csv beside the posterior (common.axes) when it is there
# (auto), always (varied: the file must be there) or never (fixed: every fixed parameter at its default).
JUDGEMENT_MODES = ("auto", "varied", "fixed")


@dataclass(frozen=True)
class ForecastSettings:
    """Validated ``forecast`` settings (configs/forecast.yaml documents each)."""

    posterior: str
    draws: int
    seeds: int
    root_seed: int
    first_stored_year: int
    first_table_year: int
    executor: str
    workers: int
    dask_scheduler: str
    batch_size: int
    boldness_scenarios: tuple[str, ...]
    judgement: str
    out_root: str
    formats: tuple[str, ...]


@dataclass(frozen=True)
class Ensemble:
    """One scenario (or a boldness variant of one) to run: its label in the outputs and its experiment."""

    label: str
    scenario: str
    exp: Experiment
    boldness: str = "central"
    # What the scenario declares it does (configs/scenario/<name>.yaml, effects; experiments.effects).
    effects: tuple[Effect, ...] = ()
    # What the scenario is (JSON): each part's rationale and the merged driver overrides it applies from 2024.
    definition: str = "{}"


def parse_settings(cfg: Mapping) -> ForecastSettings:
    """One-line errors for every bad forecast setting."""
    check_keys("forecast", cfg, SETTINGS)
    s = dict(cfg)
    for key, (lo, hi) in {"draws": (1, 1_000_000), "seeds": (1, 1000), "root_seed": (0, 2**63 - 1),
                          "first_stored_year": (FIRST_YEAR, LAST_YEAR), "first_table_year": (FIRST_YEAR, LAST_YEAR),
                          "workers": (1, 1024), "batch_size": (1, 1_000_000)}.items():
        s[key] = int(check_number(f"forecast.{key}", s[key], lo, hi, integer=True))
    if s["first_table_year"] < s["first_stored_year"]:
        raise ConfigError(f"forecast.first_table_year: {s['first_table_year']} < first_stored_year "
                          f"{s['first_stored_year']}; allowed: a stored year")
    if s["executor"] not in EXECUTORS:
        raise ConfigError(f"forecast.executor: {s['executor']!r}; allowed: {', '.join(EXECUTORS)}")
    if s["executor"] == "dask" and not s["dask_scheduler"]:
        raise ConfigError("forecast.dask_scheduler: empty with executor dask; allowed: a scheduler's host:port")
    for key in ("posterior", "dask_scheduler", "out_root"):
        if not isinstance(s[key], str):
            raise ConfigError(f"forecast.{key}: {s[key]!r}; allowed: a string")
    if not s["posterior"] or not s["out_root"]:
        raise ConfigError(f"forecast.{'posterior' if not s['posterior'] else 'out_root'}: empty; allowed: a path")
    formats = s["formats"]
    if isinstance(formats, str) or not isinstance(formats, (list, tuple)) or any(f not in FORMATS for f in formats):
        raise ConfigError(f"forecast.formats: {formats!r}; allowed: a list of {', '.join(FORMATS)}")
    bold = s["boldness_scenarios"]
    if isinstance(bold, str) or not isinstance(bold, (list, tuple)) or not all(isinstance(b, str) for b in bold):
        raise ConfigError(f"forecast.boldness_scenarios: {bold!r}; allowed: a list of scenario names")
    s["formats"], s["boldness_scenarios"] = tuple(formats), tuple(bold)
    if s["judgement"] not in JUDGEMENT_MODES:
        raise ConfigError(f"forecast.judgement: {s['judgement']!r}; allowed: {', '.join(JUDGEMENT_MODES)}")
    return ForecastSettings(**s)


def posterior_path(settings: ForecastSettings) -> Path | None:
    """The posterior file as an absolute path (None for ``defaults``)."""
    if settings.posterior == "defaults":
        return None
    path = Path(settings.posterior)
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class JudgementAxes:
    """The judgement axes a forecast varies (common.axes), the file they come from and what to say about them."""

    axes: tuple[A.Axis, ...]
    path: str
    sha256: str
    note: str


def judgement_axes(settings: ForecastSettings, calibrated: Sequence[str] = ()) -> JudgementAxes:
    """The axes of ``judgement.csv`` beside the posterior, as ``forecast.judgement`` asks (none for ``fixed`` or a
    ``defaults`` posterior, none with a note for ``auto`` without the file, a one-line ConfigError for ``varied``
    without it). ``calibrated``: the posterior's columns, never axes. A file measured on another posterior file (its
    manifest's hash) is used with a note saying so."""
    post = posterior_path(settings)
    if settings.judgement == "fixed" or post is None:
        why = "forecast.judgement=fixed" if settings.judgement == "fixed" else "posterior defaults"
        return JudgementAxes((), "", "", f"{why}: every fixed behavioural parameter at its default")
    path = post.parent / A.AXIS_FILE
    if not path.is_file():
        if settings.judgement == "varied":
            raise ConfigError(f"forecast.judgement: varied, but {path} is not there; allowed: auto or fixed, or run "
                              "python -m experiments.judgement for this posterior first")
        return JudgementAxes((), "", "", f"{path} not found: the fixed behavioural parameters stay at their defaults "
                             "(their share of the forecasts' variance is not measured; run "
                             "python -m experiments.judgement)")
    axes = A.load_axes(path, calibrated)
    note = ""
    audit = path.parent / "judgement_manifest.json"
    if audit.is_file() and post.is_file():
        measured = json.loads(audit.read_text(encoding="utf-8")).get("judgement", {}).get("posterior_sha256")
        if measured and measured != hashlib.sha256(post.read_bytes()).hexdigest():
            note = (f"{path.name} was measured on another posterior file than {post.name}: its axes are used as they "
                    "are; rerun python -m experiments.judgement")
    return JudgementAxes(axes, str(path), hashlib.sha256(path.read_bytes()).hexdigest(), note)


def _scenario_entries(config: Mapping) -> list[str]:
    entries = config.get("scenarios")
    if isinstance(entries, str) or not isinstance(entries, (list, tuple)) or not entries:
        raise ConfigError(f"scenarios: {entries!r}; allowed: a non-empty list of scenario names "
                          "(the first is the reference)")
    out = []
    for e in entries:
        text = f"[{','.join(map(str, e))}]" if isinstance(e, (list, tuple)) else str(e)
        if text in out:
            raise ConfigError(f"scenarios: {text!r} is listed twice; allowed: each scenario once")
        out.append(text)
    return out


def scoped_overrides(overrides: Sequence[str] = ()) -> list[str]:
    """The ``scenario.<name>.<key>=value`` overrides: those of ``overrides`` and those the command line set aside
    (:func:`set_aside_scoped`), in order."""
    given = [o for o in overrides if SCOPED.match(o)]
    return given + [o for o in json.loads(os.environ.get(SCOPED_ENV, "[]")) if o not in given]


def set_aside_scoped(argv: list[str]) -> list[str]:
    """``argv`` without its ``scenario.<name>...`` overrides, which go to the environment for :func:`plan`: Hydra
    composes the job's root config with the reference scenario, where another scenario's keys do not exist."""
    scoped = [a for a in argv[1:] if SCOPED.match(a)]
    if scoped:
        os.environ[SCOPED_ENV] = json.dumps(scoped)
    return [a for a in argv if a not in scoped]


def _parts(entry: str) -> list[str]:
    return [x.strip() for x in entry.strip("[]").split(",") if x.strip()]


_COMPOSED: dict[str, dict] = {}


def compose_model(overrides: list[str], scenario: str, dirs: Sequence[Path] | None = None) -> dict:
    """The ``forecast`` config composed with ``overrides`` and ``scenario=<scenario>``, resolved to plain containers.

    A ``scenario.<name>...`` override applies only where ``<name>`` is one of the entry's parts; the user's config
    folders ``dirs`` (by default the command line's ``--config-dir`` and ``hydra.searchpath``) are searched after
    ``configs/``.
    """
    parts = _parts(scenario)
    args = [o for o in overrides if not o.lstrip("+~").startswith(("scenario=", "scenarios=", "hydra"))
            and not o.startswith("-") and not SCOPED.match(o)] + [f"scenario={scenario}"]
    args += [o for o in scoped_overrides(overrides) if SCOPED.match(o).group(1) in parts]
    folders = [CONFIG_DIR, *(config_dirs() if dirs is None else [Path(d) for d in dirs])]
    args += searchpath_override(folders[1:])
    # The command's check and its run compose the same scenarios (about 0.25 s each); a composition is reused while
    # no config file has changed.
    key = json.dumps([args, sorted((str(f), f.stat().st_mtime_ns, f.stat().st_size)
                                   for d in folders for f in Path(d).rglob("*.yaml"))])
    if key not in _COMPOSED:
        if GlobalHydra.instance().is_initialized():
            cfg = compose(config_name="forecast", overrides=args)
        else:
            with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
                cfg = compose(config_name="forecast", overrides=args)
        _COMPOSED[key] = OmegaConf.to_container(cfg, resolve=True)
    return copy.deepcopy(_COMPOSED[key])


def scenario_names(dirs: Sequence[Path] | None = None) -> set[str]:
    """The scenarios of ``configs/scenario/`` and of the user's config folders (as in :func:`compose_model`)."""
    folders = (CONFIG_DIR, *(config_dirs() if dirs is None else [Path(d) for d in dirs]))
    return {p.stem for d in folders for p in (d / "scenario").glob("*.yaml")}


def scenario_definition(node: Mapping) -> dict:
    """A composed ``scenario`` node as the manifest records it: ``parts`` (each part's rationale) and ``drivers`` (the
    merged driver overrides and switches the scenario applies on top of the drivers group, from 2024)."""
    _, drivers = compose_scenario(node)
    parts = {str(k): " ".join(str((v or {}).get("rationale") or "").split()) for k, v in node.items() if k != "name"}
    return {"parts": parts, "drivers": drivers}


def plan(config: Mapping, overrides: list[str]) -> tuple[ForecastSettings, list[Ensemble]]:
    """Validate the settings and compose every scenario's experiment (one-line ConfigError on any problem)."""
    settings = parse_settings(config["forecast"])
    entries = _scenario_entries(config)
    if any(o.lstrip("+~").startswith("scenario=") for o in overrides):
        raise ConfigError("scenario: the forecast runs the list `scenarios`, not `scenario`; allowed: "
                          "scenarios=[baseline,<name>] (the first is the reference)")
    named = {x for e in entries for x in _parts(e)}
    for o in scoped_overrides(overrides):
        name = SCOPED.match(o).group(1)
        if name not in named:
            raise ConfigError(f"{o.partition('=')[0]}: {name!r} is not among this job's scenarios; allowed: "
                              f"scenario.<one of {', '.join(sorted(named))}>.<key>=value")
    ensembles = []
    for k, entry in enumerate(entries):
        composed = compose_model(overrides, entry)
        exp = build_model(composed)
        # Every scenario but the reference (the first) declares the effects the scenario_effects table measures.
        effects = scenario_effects(composed["scenario"], required=k > 0)
        definition = json.dumps(scenario_definition(composed["scenario"]), sort_keys=True)
        ensembles.append(Ensemble(exp.scenario, exp.scenario, exp, effects=effects, definition=definition))
        if exp.scenario in settings.boldness_scenarios or entry in settings.boldness_scenarios:
            ensembles += [Ensemble(f"{exp.scenario}@{v}", exp.scenario, exp, v, effects, definition)
                          for v in BOLDNESS_VARIANTS]
    # A listed scenario that this job does not run is skipped (the default names the tension scenario, which not
    # every job runs); a name that is no scenario at all is a mistake.
    known = scenario_names() | {e.scenario for e in ensembles}
    unknown = sorted(set(settings.boldness_scenarios) - known)
    if unknown:
        raise ConfigError(f"forecast.boldness_scenarios: {unknown[0]!r} is not a scenario; allowed: names of "
                          f"configs/scenario/ ({', '.join(sorted(known))})")
    return settings, ensembles


def writable_root(path: str, key: str = "forecast.out_root") -> Path:
    """The folder ``path`` (setting ``key``) as an absolute path; a one-line ConfigError naming ``key`` when it cannot
    be created or written to."""
    root = Path(path).expanduser()
    root = root if root.is_absolute() else PROJECT_ROOT / root
    existing = next(p for p in (root, *root.parents) if p.exists())
    writable = existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    if writable:
        # os.access says yes to root everywhere (even /proc): a folder made and removed at once is the real test.
        try:
            tempfile.TemporaryDirectory(dir=existing).cleanup()
        except OSError:
            writable = False
    if not writable:
        raise ConfigError(f"{key}: {path!r} cannot be written ({existing} is not a writable folder); "
                          f"allowed: a writable folder")
    return root


def validate(config: Mapping, overrides: list[str] | None = None) -> None:
    """Everything the command line can get wrong (for :func:`common.cli.precheck`)."""
    settings, _ = plan(config, split_args(sys.argv[1:])[0] if overrides is None else list(overrides))
    writable_root(settings.out_root)
    judgement_axes(settings)


def draw_table(settings: ForecastSettings, posterior: pd.DataFrame | None,
               axes: Sequence[A.Axis] = ()) -> pd.DataFrame:
    """The parameter values of every draw (one row per draw), resampled by weight from a seeded stream.

    Besides the posterior's columns, ``u_boldness`` is one uniform per draw that places the draw's boldness in each
    alternative prior of BOLDNESS_VARIANTS (the same u in every variant, so variants are paired too), and each
    judgement axis of ``axes`` has its values in ``judgement:<name>`` (:func:`common.axes.sample`, streams of
    their own: the other columns are those of a table without axes).
    """
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(settings.root_seed, spawn_key=(0xD4A3,))))
    if posterior is None:
        table = pd.DataFrame(index=range(settings.draws))
    else:
        weights = posterior["weight"].to_numpy(dtype=float)
        rows = rng.choice(len(posterior), size=settings.draws, p=weights / weights.sum())
        table = posterior.drop(columns="weight").iloc[rows].reset_index(drop=True)
        table.insert(0, "particle", rows)
    table.insert(0, "draw", np.arange(settings.draws))
    table["u_boldness"] = rng.random(settings.draws)
    if axes:
        table = pd.concat([table, A.sample(axes, settings.draws, settings.root_seed)], axis=1)
    return table


def forecast_draws(settings: ForecastSettings, posterior: pd.DataFrame | None) -> tuple[pd.DataFrame, JudgementAxes]:
    """The forecast's draw table with the judgement axes ``forecast.judgement`` asks for, and those axes."""
    judged = judgement_axes(settings, [] if posterior is None else list(posterior.columns))
    return draw_table(settings, posterior, judged.axes), judged


def draw_parameters(base: ModelParams, table: pd.DataFrame, boldness: str) -> list[ModelParams]:
    """Each draw's parameters: the base config overridden by the draw's values (and its boldness variant), then by
    its judgement axes (:func:`common.axes.axis_overrides`, which re-derives a supplier's constant from the
    posterior's)."""
    axis = A.axis_columns(table)
    names = [c for c in table.columns if c not in ("draw", "particle", "u_boldness") and c not in axis]
    # The columns as arrays once: a cell read through pandas cost 50 us, half of a 6-scenario job's set-up (8 s).
    column = {c: table[c].to_numpy(dtype=float) for c in [*names, *axis, "u_boldness"] if c in table.columns}
    out = []
    for i in range(len(table)):
        values = {n: float(column[n][i]) for n in names}
        if boldness != "central":
            lo, hi = BOLDNESS_VARIANTS[boldness]
            values[BOLDNESS] = lo + (hi - lo) * float(column["u_boldness"][i])
        p = with_overrides(base, values) if values else base
        if axis:
            p = with_overrides(p, A.axis_overrides(p, {c[len(A.PREFIX):]: float(column[c][i]) for c in axis}))
        out.append(p)
    return out


def source_hash(patterns: Sequence[str]) -> str:
    """SHA-256 of the project files matching ``patterns`` (paths and contents, in sorted order)."""
    digest = hashlib.sha256()
    for path in sorted({p for pattern in patterns for p in PROJECT_ROOT.glob(pattern)}):
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def simulation_code_hash() -> str:
    """SHA-256 of the source that turns a config into a run's record (SIMULATION_CODE): a changed model must not find
    and reuse ensemble parts an older model wrote in a work folder of the same config."""
    return source_hash(SIMULATION_CODE)


def work_key(config: Mapping, ensembles: list[Ensemble], posterior_hash: str, data_hashes: Mapping[str, str],
             judgement_hash: str = "") -> str:
    """Hash of everything that changes the results (the simulation code and the judgement axes' file included);
    executor, workers and output formats are left out."""
    settings = {k: v for k, v in config["forecast"].items() if k not in NOT_IN_KEY}
    models = [{"label": e.label, "params": config_of(e)} for e in ensembles]
    payload = {"settings": settings, "models": models, "posterior": posterior_hash,
               "data": dict(sorted(data_hashes.items())), "code": simulation_code_hash()}
    if judgement_hash:  # absent when no axis varies, so such a forecast keeps its folder
        payload["judgement_axes"] = judgement_hash
    payload = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def config_of(e: Ensemble) -> str:
    """A stable text of an ensemble's experiment (frozen dataclasses print every field)."""
    return repr((e.exp.params, e.exp.drivers, e.exp.scenario, e.boldness))


def part_path(work: Path, kind: str, label: str, index: int) -> Path:
    """Where a batch's part goes: ``<work>/<kind>/scenario=<label>/part-<index>.parquet`` (a hive partition)."""
    return work / kind / f"scenario={label}" / f"part-{index:05d}.parquet"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_parts(work: Path) -> int:
    """Delete temporary part files left by killed runs (their writer's pid is gone); returns how many."""
    stale = [p for p in work.rglob(".*.tmp") if p.name.rsplit(".", 2)[-2].isdigit()
             and not _alive(int(p.name.rsplit(".", 2)[-2]))]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def _write_part(content: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def batches(settings: ForecastSettings, ensembles: list[Ensemble], table: pd.DataFrame, data: ModelData,
            work: Path) -> list[Batch]:
    """Every batch not yet on disk (a batch is done when its record part exists; events are written first)."""
    out = []
    # Scenarios that change only the drivers share their base parameters: each draw's set is built once for them.
    drawn: dict[tuple[ModelParams, str], list[ModelParams]] = {}
    for e in ensembles:
        params = None
        drivers = build_drivers(data, e.exp.drivers, FIRST_YEAR, LAST_YEAR)
        for index, start in enumerate(range(0, settings.draws, settings.batch_size)):
            if part_path(work, "ensemble", e.label, index).is_file():
                continue
            if params is None:
                key = (e.exp.params, e.boldness)
                if key not in drawn:
                    drawn[key] = draw_parameters(e.exp.params, table, e.boldness)
                params = drawn[key]
            stop = min(start + settings.batch_size, settings.draws)
            out.append(Batch(e.label, index, tuple(params[start:stop]), tuple(range(start, stop)), settings.seeds,
                             settings.root_seed, drivers, settings.first_stored_year))
    return out


def groups(todo: list[Batch]) -> list[tuple[Batch, ...]]:
    """The batches as worker tasks: the batches of different scenarios that run the same replicas (the same draws
    with the same parameters: every scenario but the boldness variants) form one task, which runs their shared
    record years once (:func:`experiments.ensemble.run_group_parquet`)."""
    out: list[list[Batch]] = []
    for b in todo:
        for g in out:
            if g[0].index == b.index and same_replicas(g[0], b):
                g.append(b)
                break
        else:
            out.append([b])
    return [tuple(g) for g in out]


class Progress:
    """Runs done, elapsed time and an estimate of the rest; one rewritten line at a terminal, else every tenth."""

    def __init__(self, total_runs: int, already: int) -> None:
        self.total, self.done, self.start, self.already = total_runs, already, time.perf_counter(), already
        self.tty = sys.stderr.isatty()
        self.next_report = already + max(total_runs // 10, 1)

    def add(self, runs: int) -> None:
        self.done += runs
        elapsed = time.perf_counter() - self.start
        rate = (self.done - self.already) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        line = (f"forecast: {self.done}/{self.total} runs ({self.done / self.total:.0%}), {elapsed:.0f} s, "
                f"{rate:.0f} runs/s, ETA {eta:.0f} s")
        if self.tty:
            print("\r" + line, end="" if self.done < self.total else "\n", file=sys.stderr, flush=True)
        elif self.done >= self.next_report or self.done == self.total:
            print(line, file=sys.stderr, flush=True)
            self.next_report = self.done + max(self.total // 10, 1)


def load_inputs(settings: ForecastSettings) -> tuple[pd.DataFrame | None, str, str, ModelData]:
    """Posterior (None for ``defaults``), its param_source label, its file hash, and the data."""
    data = load_data()
    if settings.posterior == "defaults":
        return None, "defaults", "defaults", data
    path = Path(settings.posterior)
    path = path if path.is_absolute() else PROJECT_ROOT / path
    posterior, source = load_posterior(path)
    warn_if_data_changed(path, data.hashes)
    return posterior, source, hashlib.sha256(path.read_bytes()).hexdigest(), data


def run_ensemble(config: Mapping, overrides: list[str],
                 planner: Callable[[Mapping, list[str]], tuple[ForecastSettings, list[Ensemble]]] = plan,
                 ) -> tuple[Path, ForecastSettings, dict, dict]:
    """Plan (``planner``: the scenarios of the job by default) and run every batch not yet on disk; returns the work
    folder, settings, job description and manifest."""
    settings, ensembles = planner(config, overrides)
    posterior, source, posterior_hash, data = load_inputs(settings)
    client = dask_client(settings.dask_scheduler, "forecast.dask_scheduler") if settings.executor == "dask" else None
    try:
        work, settings, job, record = _run_ensemble(config, settings, ensembles, posterior, source, posterior_hash,
                                                    data, client)
    finally:
        if client is not None:
            client.close()
    if posterior is not None:
        path = Path(settings.posterior)
        # The scores of this very posterior file (calibration.scores), for the report's calibration paragraph.
        record["calibration_scores"] = load_headline(path if path.is_absolute() else PROJECT_ROOT / path, source)
    return work, settings, job, record


def _run_ensemble(config: Mapping, settings: ForecastSettings, ensembles: list[Ensemble],
                  posterior: pd.DataFrame | None, source: str, posterior_hash: str, data: ModelData,
                  client) -> tuple[Path, ForecastSettings, dict, dict]:
    table, judged = forecast_draws(settings, posterior)
    work = writable_root(settings.out_root) / work_key(config, ensembles, posterior_hash, data.hashes,
                                                        judged.sha256 if judged.axes else "")
    work.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(work)
    if not (work / "draws.parquet").is_file():
        tmp = work / f".draws.parquet.{os.getpid()}.tmp"
        table.to_parquet(tmp, index=False)
        os.replace(tmp, work / "draws.parquet")
    todo = batches(settings, ensembles, table, data, work)
    total = len(ensembles) * settings.draws * settings.seeds
    progress = Progress(total, total - sum(len(b.draws) for b in todo) * settings.seeds)
    print(f"forecast: {len(ensembles)} ensembles x {settings.draws} draws x {settings.seeds} seeds in {work} "
          f"({len(todo)} batches to run on {settings.executor})", file=sys.stderr, flush=True)

    def done(group: tuple[Batch, ...], results: list[tuple[bytes, bytes]]) -> None:
        for batch, (record, events) in zip(group, results, strict=True):
            _write_part(events, part_path(work, "events", batch.label, batch.index))
            _write_part(record, part_path(work, "ensemble", batch.label, batch.index))
            progress.add(len(batch.draws) * settings.seeds)

    run_tasks(run_group_parquet, groups(todo), data, settings.executor, settings.workers, done, client)
    job = {"labels": [e.label for e in ensembles], "scenarios": [e.scenario for e in ensembles],
           "boldness": [e.boldness for e in ensembles], "param_source": source}
    record = manifest(config, {"root_seed": settings.root_seed, "draws": settings.draws, "seeds": settings.seeds},
                      data.hashes)
    record["forecast"] = job
    record["posterior_sha256"] = posterior_hash
    record["judgement_axes"] = {"mode": settings.judgement, "file": judged.path, "sha256": judged.sha256,
                                "axes": {a.name: {"low": a.low, "high": a.high, "default": a.default, "rule": a.rule}
                                         for a in judged.axes},
                                "note": judged.note}
    # The effects each scenario declares (experiments.effects), measured in tables/scenario_effects.
    record["scenario_effects_declared"] = {e.scenario: [x.as_dict() for x in e.effects] for e in ensembles}
    # What each scenario changes against the drivers group (the reference's, usually none), for the report.
    record["scenario_definitions"] = {e.scenario: json.loads(e.definition) for e in ensembles}
    return work, settings, job, record


def cache_key(inputs: Mapping, code: Sequence[str]) -> str:
    """Hash of a derived output's inputs (JSON) and of the source of the code that derives it."""
    payload = json.dumps({"inputs": inputs, "code": source_hash(code)}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def cached(path: Path, build: Callable[[], Any]) -> Any:
    """``build()``'s result, kept in ``path`` (a pickle in the work folder, written atomically): a rerun whose key is
    unchanged loads it instead of recomputing (a rerun with nothing to simulate rebuilds only what changed)."""
    if path.is_file():
        with path.open("rb") as f:
            return pickle.load(f)
    value = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)
    return value


def _say(line: str) -> None:
    print(f"forecast: {line}", file=sys.stderr, flush=True)


def _load(path: Path) -> Any:
    with path.open("rb") as f:
        return pickle.load(f)


def _post_stage(what: str, settings: ForecastSettings, tasks: list[tuple], pool: LocalPool,
                keep: list[Path] | None = None) -> list:
    """Run ``tasks`` (:func:`experiments.post.post_task`) on ``pool``'s local processes (serial for the serial
    executor; a Dask job's tables run locally too, where its work folder is), with a progress line per finished task;
    results in the tasks' order. With ``keep``, each result is written to its file as soon as it arrives, so a killed
    stage resumes where it was."""
    results: list[Any] = [None] * len(tasks)
    index = {id(t): i for i, t in enumerate(tasks)}
    started, finished = time.perf_counter(), 0

    def done(task: tuple, result: Any) -> None:
        nonlocal finished
        i = index[id(task)]
        results[i] = result
        if keep is not None:
            cached(keep[i], lambda: result)
        finished += 1
        _say(f"{what} {finished}/{len(tasks)}, {time.perf_counter() - started:.0f} s")

    executor = "serial" if settings.executor == "serial" else "pool"
    run_tasks(post_task, tasks, None, executor, settings.workers, done, pool=pool)
    return results


def write_outputs(work: Path, settings: ForecastSettings, job: dict, record: dict) -> list[Path]:
    """Tables (per format), figures and the HTML report into ``work``; the manifest last, marking a complete output.

    Each label's tables (and its fan-chart statistics) are computed in the worker processes and kept in the work
    folder's cache, then the figures are drawn there, one per task; a rerun with nothing changed loads them.
    Everything is first written into a temporary folder (:func:`common.provenance.write_atomically`), so a failure
    or a kill leaves the previous outputs, or none, never a half-written file.
    """
    declared = record.get("scenario_effects_declared") or {}
    effects = {label: declared.get(scenario, [])
               for label, scenario in zip(job["labels"], job["scenarios"], strict=True)}
    prior = default_prior_driven_path(settings)
    inputs = {"job": job, "effects": effects, "prior_driven": hashlib.sha256(prior.read_bytes()).hexdigest()
              if prior.is_file() else None, "settings": {k: getattr(settings, k) for k in TABLE_SETTINGS}}
    tables_key = cache_key(inputs, TABLES_CODE)
    labels = list(job["labels"])
    draw = "png" in settings.formats or "html" in settings.formats
    drawn_dir = work / "cache" / f"figures-{cache_key({'tables': tables_key}, FIGURES_CODE)}"
    draw = draw and not (drawn_dir / DONE).is_file()
    part_files = [work / "cache" / f"tables-{tables_key}-{i}.pkl" for i in range(len(labels))]
    fan_files = [work / "cache" / f"fan-{cache_key({'job': job}, FIGURES_CODE)}-{i}.pkl" for i in range(len(labels))]
    # Everything the outputs depend on but the time they were made: a rerun with the same key whose files are intact
    # (same hashes) has nothing to rebuild.
    outputs_key = cache_key({"tables": tables_key, "formats": list(settings.formats),
                             "record": {k: v for k, v in record.items() if k != "created"}}, OUTPUTS_CODE)
    marker = work / "cache" / f"outputs-{outputs_key}.json"
    kept = unchanged_outputs(work, marker)
    if kept is not None:
        _say(f"tables, figures and report unchanged: {len(kept)} files kept")
        return kept
    # The settings the tables read, as a plain namespace: a ForecastSettings would make each worker import this
    # module, and with it the model's run code, to unpickle its task (about 120 MB resident a worker).
    table_settings = SimpleNamespace(**{k: getattr(settings, k) for k in TABLE_SETTINGS})
    todo = [(f, ("tables", work, table_settings, job, label, effects))
            for f, label in zip(part_files, labels, strict=True) if not f.is_file()]
    if draw:
        todo += [(f, ("fan", work, job, label)) for f, label in zip(fan_files, labels, strict=True) if not f.is_file()]
    # The tables' and the figures' stages share their workers (one start of the processes and their imports).
    with LocalPool(settings.workers) as pool:
        _post_stage("tables (sensitivity included) and chart statistics", settings, [t for _, t in todo], pool,
                    [f for f, _ in todo])
        # Imported once the workers' tables are done (the tables' peak of memory is behind us; see experiments.post).
        from experiments.findings import key_findings
        from experiments.report import html_report
        from experiments.tables import assemble_tables, markdown

        tables = assemble_tables(work, settings, job, [_load(f) for f in part_files], effects=effects)
        texts = markdown(tables)
        writers: dict[str, Callable[[Path], None]] = {}
        if "md" in settings.formats:
            findings = key_findings(tables, record)
            writers["key_findings.md"] = lambda p: p.write_text(findings, encoding="utf-8")
        for name, frame in tables.items():
            if "parquet" in settings.formats:
                writers[f"{name}.parquet"] = lambda p, f=frame: f.to_parquet(p, index=False)
            if "csv" in settings.formats:
                writers[f"{name}.csv"] = lambda p, f=frame: f.to_csv(p, index=False)
            if "md" in settings.formats:
                writers[f"{name}.md"] = lambda p, t=texts[name]: p.write_text(t, encoding="utf-8")
        paths = write_atomically(work / "tables", writers)
        _say(f"tables written: {len(paths)} files in {work / 'tables'}")
        figures: list[Path] = []
        if "png" in settings.formats or "html" in settings.formats:
            if draw:
                from experiments.report import FAN_FIGURES

                per_label = {label: _load(f) for label, f in zip(labels, fan_files, strict=True)}
                comparison = tables["comparison"]
                with tempfile.TemporaryDirectory(dir=work) as scratch:
                    out = Path(scratch)
                    tasks = ([("fan_figure", job, per_label, spec.name, out) for spec in FAN_FIGURES]
                             + [task for label in labels[1:]
                                for task in (("comparison", comparison[comparison["scenario"] == label], out),
                                             ("difference", work, job, label, out))]
                             + [("sensitivity", tables["sensitivity"], out)])
                    drawn = [p for result in _post_stage("figures", settings, tasks, pool) for p in result]
                    write_atomically(drawn_dir, {**{p.name: lambda q, src=p: shutil.copyfile(src, q) for p in drawn},
                                                 DONE: lambda q, n=[p.name for p in drawn]: q.write_text("\n".join(n))})
            names = (drawn_dir / DONE).read_text(encoding="utf-8").split("\n")
            figures = write_atomically(work / "figures",
                                       {n: lambda q, src=drawn_dir / n: shutil.copyfile(src, q) for n in names if n})
    final: dict[str, Callable[[Path], None]] = {}
    if "html" in settings.formats:
        final["report.html"] = lambda p: p.write_text(html_report(texts, tables, figures, record), encoding="utf-8")
    final["manifest.json"] = lambda p: write_json(p, record)
    done = write_atomically(work, final)
    _say(f"{'report and ' if 'html' in settings.formats else ''}manifest written")
    written = paths + figures + done
    for stale in (work / "cache").glob("outputs-*.json"):
        stale.unlink()
    hashes = {str(p.relative_to(work)): hashlib.sha256(p.read_bytes()).hexdigest() for p in written}
    write_atomically(marker.parent, {marker.name: lambda p: p.write_text(json.dumps(hashes, sort_keys=True))})
    return written


def unchanged_outputs(work: Path, marker: Path) -> list[Path] | None:
    """The files ``marker`` lists, when every one is in ``work`` with the hash it had when written; else None (also
    for a marker that is not such a list: the outputs are then written again)."""
    try:
        listed = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
        return None
    paths = [work / name for name in listed]
    if all(p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == digest
           for p, digest in zip(paths, listed.values(), strict=True)):
        return paths
    return None


def link_latest(work: Path) -> Path:
    """Point ``<out_root>/latest`` at ``work`` (a relative symbolic link, replaced atomically): the newest outputs
    have a fixed path whatever their key."""
    link = work.parent / LATEST
    tmp = work.parent / f".{LATEST}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(work.name, target_is_directory=True)
    os.replace(tmp, link)
    return link


def command(cfg: DictConfig) -> None:
    """Validate, run, and print where the outputs are."""
    config = OmegaConf.to_container(cfg, resolve=True)
    overrides = list(HydraConfig.get().overrides.task)
    try:
        work, settings, job, record = run_ensemble(config, overrides)
        write_outputs(work, settings, job, record)
        link_latest(work)
    except (ConfigError, DataError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"forecast.out_root: cannot write ({exc.strerror}: {exc.filename}); allowed: a writable folder")
    print(f"forecast: outputs in {work} (also {work.parent / LATEST})")
    for what, name in (("tables (CSV, Parquet, Markdown)", "tables"), ("figures", "figures"), ("report", "report.html"),
                       ("every run (wide Parquet, by scenario)", "ensemble"), ("provenance", "manifest.json")):
        if (work / name).exists():
            print(f"  {what}: {work / name}")


if __name__ == "__main__":
    sys.argv = set_aside_scoped(sys.argv)
    # The check goes through the module the command will import, not this __main__ copy of it: its compositions are
    # then reused by the run (the cache of compose_model; 8 scenarios composed twice cost 1.7 s).
    from experiments import forecast as imported

    precheck("forecast", imported.validate)
    from experiments.cli import forecast

    forecast()
