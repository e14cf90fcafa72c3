"""``python -m experiments.dose``: how the main outputs grow with the dose of one driver.

One driver path (``dose.driver``, a key of ``drivers.paths``) is set in turn to each of ``dose.levels``, reached by
``dose.year`` (linear from the driver's 2023 value) and held to 2040, in the scenario ``dose.scenario``, which must
leave that driver to the drivers group. Every level runs the same posterior draws and seeds through the forecast's
machinery (:func:`experiments.forecast.run_ensemble`: executors, batches, a resumable work folder under
``forecast.out_root``), so the levels are paired draw by draw and seed by seed.

The work folder gets ``dose/dose_response.{parquet,csv,md}`` and ``dose/dose_response.png``, then ``manifest.json``
(last). The table has one row per level, output (the LAC row of the forecast's main columns, US pressure and China's
boldness) and statistic (the value in each of ``dose.years``; for flows also the 2024-2040 sum): the median and 90%
interval across runs, the mean, and the paired difference from the first level (median, 90% interval, P(> 0),
P(< 0)).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from common.cli import fail, precheck, split_args
from common.config import build_model, compose_scenario
from common.provenance import write_atomically, write_json
from experiments import forecast as F
from experiments.report import new_figure, read_scenario, save_png
from experiments.tables import FLOW_VARIABLES, MAIN_COLUMNS, num
from model.data import HIST_END, DataError
from model.drivers import LAST_YEAR, PATH_DRIVERS, PATH_HIGH
from model.params import ConfigError, check_keys, check_number
from model.schema import REGION, column_names

DOSE_KEYS = ("scenario", "driver", "year", "levels", "years")
# The outputs: the forecast's main columns, then the two latent links tension acts through (DESIGN.md §3).
OUTPUTS = (*MAIN_COLUMNS, "us_pressure", "china_boldness")
SUM_FROM = HIST_END + 1
TABLE_COLUMNS = ("level", "output", "statistic", "median", "q05", "q95", "mean", "diff_median", "diff_q05",
                 "diff_q95", "p_higher", "p_lower", "runs")
OUT = "dose"
NAME = "dose_response"


@dataclass(frozen=True)
class DoseSettings:
    """Validated ``dose`` settings (configs/dose.yaml documents each)."""

    scenario: str
    driver: str
    year: int
    levels: tuple[float, ...]
    years: tuple[int, ...]


def parse_dose(cfg: Mapping) -> DoseSettings:
    """One-line errors for every bad dose setting."""
    check_keys("dose", cfg, DOSE_KEYS)
    if not isinstance(cfg["scenario"], str) or not cfg["scenario"]:
        raise ConfigError(f"dose.scenario: {cfg['scenario']!r}; allowed: one scenario name")
    driver = cfg["driver"]
    if driver not in PATH_DRIVERS:
        raise ConfigError(f"dose.driver: {driver!r}; allowed: {', '.join(PATH_DRIVERS)}")
    year = int(check_number("dose.year", cfg["year"], HIST_END + 1, LAST_YEAR, integer=True))
    levels = cfg["levels"]
    if isinstance(levels, str) or not isinstance(levels, (list, tuple)) or len(levels) < 2:
        raise ConfigError(f"dose.levels: {levels!r}; allowed: a list of at least two levels (the first the reference)")
    levels = tuple(float(check_number("dose.levels", v, 0.0, PATH_HIGH[driver])) for v in levels)
    if len(set(levels)) != len(levels):
        raise ConfigError(f"dose.levels: {list(levels)} repeats a level; allowed: distinct levels")
    years = cfg["years"]
    if isinstance(years, str) or not isinstance(years, (list, tuple)) or not years:
        raise ConfigError(f"dose.years: {years!r}; allowed: a non-empty list of years {HIST_END + 1}-{LAST_YEAR}")
    years = tuple(int(check_number("dose.years", y, HIST_END + 1, LAST_YEAR, integer=True)) for y in years)
    return DoseSettings(cfg["scenario"], driver, year, levels, years)


def label(driver: str, level: float) -> str:
    """The ensemble label of a level (a file-name-safe partition value)."""
    return f"{driver}_{level:g}"


def plan_dose(config: Mapping, overrides: list[str]) -> tuple[F.ForecastSettings, list[F.Ensemble]]:
    """The forecast settings and one ensemble per level (a :func:`experiments.forecast.run_ensemble` planner)."""
    settings = F.parse_settings(config["forecast"])
    dose = parse_dose(config["dose"])
    if settings.first_stored_year > SUM_FROM:
        raise ConfigError(f"forecast.first_stored_year: {settings.first_stored_year}; allowed: at most {SUM_FROM} "
                          f"(the table sums flows from {SUM_FROM})")
    model = [o for o in overrides if not o.lstrip("+~").startswith(("dose.", "forecast."))]
    ensembles = []
    for level in dose.levels:
        composed = F.compose_model([*model, f"drivers.paths.{dose.driver}=[[{dose.year},{level!r}]]"], dose.scenario)
        _, own = compose_scenario(composed["scenario"])
        if own.get("paths", {}).get(dose.driver):
            raise ConfigError(f"dose.scenario: {dose.scenario!r} sets drivers.paths.{dose.driver} itself, which would "
                              "override every level; allowed: a scenario that leaves it to the drivers group "
                              "(e.g. baseline)")
        exp = build_model(composed)
        definition = json.dumps(F.scenario_definition(composed["scenario"]), sort_keys=True)
        ensembles.append(F.Ensemble(label(dose.driver, level), exp.scenario, exp, definition=definition))
    return settings, ensembles


def validate(config: Mapping, overrides: list[str] | None = None) -> None:
    """Everything the command line can get wrong (for :func:`common.cli.precheck`)."""
    settings, _ = plan_dose(config, split_args(sys.argv[1:])[0] if overrides is None else list(overrides))
    F.writable_root(settings.out_root)


def _statistics(frame: pd.DataFrame, column: str, years: Sequence[int]) -> dict[str, np.ndarray]:
    """Each statistic of one output, per run in (draw, seed) order."""
    wide = frame.pivot_table(index=["draw", "seed"], columns="year", values=column, aggfunc="first", dropna=False)
    out = {str(y): wide[y].to_numpy(dtype=float) for y in years if y in wide.columns}
    if column.split(".")[0] in FLOW_VARIABLES:
        span = [y for y in range(SUM_FROM, LAST_YEAR + 1) if y in wide.columns]
        out[f"sum {SUM_FROM}-{LAST_YEAR}"] = wide[span].to_numpy(dtype=float).sum(axis=1)
    return out


def dose_table(work: Path, dose: DoseSettings) -> pd.DataFrame:
    """The table of the module docstring, from the levels' ensembles in ``work``."""
    stored = set(column_names())
    outputs = [c for c in OUTPUTS if c in stored]
    per_level = {}
    for level in dose.levels:
        frame = read_scenario(work, label(dose.driver, level), outputs, places=(REGION,))
        per_level[level] = {c: _statistics(frame, c, dose.years) for c in outputs}
    reference = per_level[dose.levels[0]]
    rows = []
    for level, stats in per_level.items():
        for column in outputs:
            for statistic, values in stats[column].items():
                diff = values - reference[column][statistic]
                q = np.quantile(values, (0.05, 0.5, 0.95))
                dq = np.quantile(diff, (0.05, 0.5, 0.95))
                rows.append({"level": level, "output": column, "statistic": statistic, "median": q[1], "q05": q[0],
                             "q95": q[2], "mean": float(values.mean()), "diff_median": dq[1], "diff_q05": dq[0],
                             "diff_q95": dq[2], "p_higher": float((diff > 0).mean()),
                             "p_lower": float((diff < 0).mean()), "runs": int(values.size)})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def markdown(table: pd.DataFrame, dose: DoseSettings) -> str:
    """Median [90% interval] per output and statistic (rows) and level (columns), then the paired differences."""
    lines = [f"# Dose-response: {dose.driver} by {dose.year} ({dose.scenario})", "",
             f"LAC values; each level reached by {dose.year} from the 2023 value and held to {LAST_YEAR}; the same "
             f"draws and seeds at every level. Differences are paired, from level {dose.levels[0]:g}.", ""]
    for title, cell in (("Median [90% interval]", lambda r: f"{num(r['median'])} [{num(r['q05'])}, "
                                                            f"{num(r['q95'])}]"),
                        (f"Paired difference from {dose.levels[0]:g}: median [90% interval], P(higher)",
                         lambda r: f"{num(r['diff_median'])} [{num(r['diff_q05'])}, {num(r['diff_q95'])}] "
                                   f"P+={r['p_higher']:.2f}")):
        header = ["output", "statistic", *(f"{level:g}" for level in dose.levels)]
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for (output, statistic), group in table.groupby(["output", "statistic"], sort=False):
            cells = {r["level"]: cell(r) for _, r in group.iterrows()}
            lines.append("| " + " | ".join([output, statistic, *(cells.get(v, "–") for v in dose.levels)]) + " |")
        lines.append("")
    return "\n".join(lines)


def figure(table: pd.DataFrame, dose: DoseSettings, path: Path) -> Path:
    """One panel per output: the median against the level, with its 90% band across runs; for a flow its
    2024-2040 sum (a lumpy yearly count says less), for a level each of the table's years."""
    outputs = list(dict.fromkeys(table["output"]))
    ncols = 4
    nrows = math.ceil(len(outputs) / ncols)
    fig = new_figure(4.0 * ncols, 2.8 * nrows + 1.0)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, output in zip(axes, outputs, strict=False):
        rows_of = table[table["output"] == output]
        if rows_of["statistic"].str.startswith("sum").any():
            rows_of = rows_of[rows_of["statistic"].str.startswith("sum")]
        for statistic, rows in rows_of.groupby("statistic", sort=False):
            line = ax.plot(rows["level"], rows["median"], marker="o", ms=3, lw=1.2, label=statistic)[0]
            ax.fill_between(rows["level"], rows["q05"], rows["q95"], color=line.get_color(), alpha=0.15, lw=0)
        ax.set_title(output, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, frameon=False)
    for ax in axes[len(outputs):]:
        ax.set_visible(False)
    for ax in axes[max(0, len(outputs) - ncols):len(outputs)]:
        ax.set_xlabel(f"{dose.driver} by {dose.year}", fontsize=8)
    fig.suptitle(f"Dose-response to {dose.driver} ({dose.scenario}, LAC): median and 90% band across runs, the same "
                 "draws and seeds at every level", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return save_png(fig, path)


def write_outputs(work: Path, settings: F.ForecastSettings, dose: DoseSettings, record: dict) -> list[Path]:
    """The table (per format) and the figure into ``work/dose``, then the manifest (last: it marks them whole)."""
    table = dose_table(work, dose)
    writers = {}
    if "parquet" in settings.formats:
        writers[f"{NAME}.parquet"] = lambda p: table.to_parquet(p, index=False)
    if "csv" in settings.formats:
        writers[f"{NAME}.csv"] = lambda p: table.to_csv(p, index=False)
    if "md" in settings.formats:
        writers[f"{NAME}.md"] = lambda p: p.write_text(markdown(table, dose), encoding="utf-8")
    if "png" in settings.formats:
        writers[f"{NAME}.png"] = lambda p: figure(table, dose, p)
    paths = write_atomically(work / OUT, writers)
    record["dose"] = {"scenario": dose.scenario, "driver": dose.driver, "year": dose.year,
                      "levels": list(dose.levels), "years": list(dose.years)}
    return paths + write_atomically(work, {"manifest.json": lambda p: write_json(p, record)})


def command(cfg: DictConfig) -> None:
    """Validate, run the levels, write the table and figure, print where they are."""
    config = OmegaConf.to_container(cfg, resolve=True)
    overrides = list(HydraConfig.get().overrides.task)
    try:
        dose = parse_dose(config["dose"])
        work, settings, _job, record = F.run_ensemble(config, overrides, plan_dose)
        paths = write_outputs(work, settings, dose, record)
        F.link_latest(work)
    except (ConfigError, DataError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"forecast.out_root: cannot write ({exc.strerror}: {exc.filename}); allowed: a writable folder")
    print(f"dose: outputs in {work} (also {work.parent / F.LATEST})")
    for path in paths:
        print(f"  {path}")


if __name__ == "__main__":
    precheck("dose", validate)
    from experiments.cli import dose as entry

    entry()
