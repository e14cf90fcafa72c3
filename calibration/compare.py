"""``python -m calibration.compare``: two parameter sources' trajectories side by side against the record.

Each source is ``prior`` (the calibration's priors) or a posterior file (weighted particles, e.g. the shipped
``calibration/posterior/posterior.parquet`` or an older fit's). Both run ``draws`` parameter draws x ``seeds`` seeds
over 2000-``last_year``; seed k of draw i uses the same random streams in both (keyed by root seed, draw index and
seed), so what differs between the two fans is the parameters, not chance. One PNG per channel with fit observations
(the panels of :mod:`calibration.trajectories`): both sources' median and 90% bands, the article's one-year
observations as markers, and the window totals of both beside each several-year observation; and one table,
``compare.csv``/``.parquet``, per panel and year with both sources' quantiles.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf

from calibration.check import posterior_draws, prior_draws
from calibration.setup import prepare
from calibration.setup import validate as validate_calibration
from calibration.trajectories import (
    DPI,
    PANELS,
    Panel,
    bands,
    draw_observation,
    observed_text,
    panel_observations,
    window_total,
)
from common.cli import fail, precheck
from common.posterior import load_posterior
from common.provenance import manifest, write_atomically, write_json
from model.data import HIST_END, HIST_START
from model.drivers import LAST_YEAR, build_drivers
from model.params import PROJECT_ROOT, ConfigError, check_number, with_overrides
from model.run import simulate_batch

PRIOR = "prior"
COLOURS = ("tab:orange", "tab:blue")
COMPARE_KEYS = ("a", "b", "draws", "seeds", "root_seed", "last_year", "out_dir")


def parse_compare(cfg: Mapping) -> dict:
    """One-line errors for the ``compare`` settings."""
    missing = [k for k in COMPARE_KEYS if k not in cfg]
    unknown = sorted(set(cfg) - set(COMPARE_KEYS))
    if missing or unknown:
        key = f"compare.{(missing or unknown)[0]}"
        raise ConfigError(f"{key}: {'missing' if missing else 'unknown key'}; allowed: {', '.join(COMPARE_KEYS)}")
    s = dict(cfg)
    s["draws"] = int(check_number("compare.draws", s["draws"], 1, 100_000, integer=True))
    s["seeds"] = int(check_number("compare.seeds", s["seeds"], 1, 1000, integer=True))
    s["root_seed"] = int(check_number("compare.root_seed", s["root_seed"], 0, 2**63 - 1, integer=True))
    s["last_year"] = int(check_number("compare.last_year", s["last_year"], HIST_END, LAST_YEAR, integer=True))
    for key in ("a", "b"):
        if not isinstance(s[key], str) or not s[key]:
            raise ConfigError(f"compare.{key}: {s[key]!r}; allowed: prior or a posterior.parquet path")
    if s["a"] == s["b"]:
        raise ConfigError(f"compare.b: {s['b']!r} is compare.a too; allowed: two different sources")
    return s


def source_draws(source: str, n: int, priors, seed: int) -> tuple[list[dict[str, float]], str]:
    """``n`` parameter sets of a source and its label (``prior`` or ``posterior:<hash>``)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xC0,)))
    if source == PRIOR:
        return prior_draws(list(priors), n, rng), PRIOR
    path = Path(source)
    posterior, label = load_posterior(path if path.is_absolute() else PROJECT_ROOT / path)
    return posterior_draws(posterior, n, rng), label


def run_source(setup, draws: list[dict[str, float]], seeds: int, root_seed: int, drivers) -> dict[Panel, pd.DataFrame]:
    """Each panel's series (``draw, seed, year, value``) over every draw and seed of one source (one batch a draw)."""
    rows: dict[Panel, list[pd.DataFrame]] = {p: [] for panels in PANELS.values() for p in panels}
    for d, values in enumerate(draws):
        params = with_overrides(setup.exp.params, values)
        runs = simulate_batch(params, setup.data, drivers, root_seed, d, list(range(seeds)))
        tidy = pd.concat([run.to_tidy(setup.exp.scenario, "") for run in runs], ignore_index=True)
        for panel in rows:
            keep = (tidy["variable"] == panel.variable) & (tidy["iso3"] == panel.iso3)
            rows[panel].append(tidy.loc[keep, ["draw", "seed", "year", "value"]])
    return {p: pd.concat(parts, ignore_index=True) for p, parts in rows.items()}


def comparison_table(series: Mapping[str, Mapping[Panel, pd.DataFrame]]) -> pd.DataFrame:
    """Per source, panel and year: the quantiles across runs (partners summed within a run first)."""
    parts = []
    for source, by_panel in series.items():
        for panel, frame in by_panel.items():
            parts.append(bands(frame).assign(source=source, variable=panel.variable, iso3=panel.iso3))
    table = pd.concat(parts, ignore_index=True)
    return table[["source", "variable", "iso3", "year", "q05", "q25", "q50", "q75", "q95"]]


def plot(series: Mapping[str, Mapping[Panel, pd.DataFrame]], observations: pd.DataFrame, out_dir: Path,
         last_year: int, runs: str) -> list[Path]:
    """One figure per channel with fit observations: both sources' bands, the observations, the window totals."""
    fit_channels = set(observations.loc[observations["use"] == "fit", "channel"].astype(str))
    labels = list(series)
    paths = []
    for channel in (c for c in PANELS if c in fit_channels):
        panels = PANELS[channel]
        fig = Figure(figsize=(11, 3.8 * len(panels) + 0.9))
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        for ax, panel in zip(axes, panels, strict=True):
            one, several = panel_observations(observations, panel)
            for colour, label in zip(COLOURS, labels, strict=True):
                b = bands(series[label][panel])
                b = b[b["year"].between(HIST_START, last_year)]
                ax.fill_between(b["year"], b["q05"], b["q95"], color=colour, alpha=0.2, lw=0)
                ax.plot(b["year"], b["q50"], color=colour, lw=1.8, label=f"{label}: median, 90% band")
            for obs in one.itertuples(index=False):
                draw_observation(ax, obs)
            notes = []
            for obs in several.itertuples(index=False):
                sims = []
                for label in labels:
                    total = window_total(series[label][panel], obs.year_start, obs.year_end)
                    text = "n/a" if total is None else f"{total[1]:.4g} [{total[0]:.4g}–{total[2]:.4g}]"
                    sims.append(f"{label} {text}")
                notes.append(f"{obs.year_start}–{obs.year_end}: observed {observed_text(obs)}; " + "; ".join(sims))
            if notes:
                ax.text(0.01, 0.97, "\n".join(notes), transform=ax.transAxes, va="top", ha="left", fontsize=7,
                        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.6"})
                ax.set_ylim(0, ax.get_ylim()[1] * 1.3)
            ax.set_title(f"{panel.variable} ({panel.iso3})", fontsize=10)
            ax.set_ylabel(panel.label)
            ax.set_xlim(HIST_START - 0.5, last_year + 0.5)
            ax.grid(alpha=0.3)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        axes[-1].set_xlabel("year")
        fig.suptitle(f"{channel}: {labels[0]} (orange) against {labels[1]} (blue), {HIST_START}–{last_year}; {runs}, "
                     "the same seeds in both")
        fig.tight_layout()
        path = out_dir / f"compare_{channel}.png"
        fig.savefig(path, dpi=DPI, metadata={"Software": None})
        paths.append(path)
    return paths


def command(cfg: DictConfig) -> None:
    """Run both sources, write the figures and the table, print where they are."""
    setup = prepare(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    try:
        s = parse_compare(config["compare"])
        drawn = {}
        for key in ("a", "b"):
            draws, label = source_draws(s[key], s["draws"], setup.settings.priors, s["root_seed"])
            if label in drawn:
                raise ConfigError(f"compare.b: {s['b']!r} is the same posterior as compare.a; allowed: two sources")
            drawn[label] = draws
    except ConfigError as exc:
        fail(str(exc))
    drivers = build_drivers(setup.data, setup.exp.drivers, HIST_START, s["last_year"])
    series = {}
    for label, draws in drawn.items():
        print(f"compare: {label}, {s['draws']} draws x {s['seeds']} seeds", file=sys.stderr, flush=True)
        series[label] = run_source(setup, draws, s["seeds"], s["root_seed"], drivers)
    out_dir = Path(s["out_dir"])
    table = comparison_table(series)
    runs = f"{s['draws']} draws × {s['seeds']} seeds each"
    record = manifest(config, {"root_seed": s["root_seed"], "draws": s["draws"], "seeds": s["seeds"]},
                      setup.data.hashes)
    record["sources"] = list(series)
    with tempfile.TemporaryDirectory() as scratch:
        figures = plot(series, setup.observations, Path(scratch), s["last_year"], runs)
        writers = {p.name: lambda q, src=p: shutil.copyfile(src, q) for p in figures}
        writers |= {"compare.csv": lambda p: table.to_csv(p, index=False),
                    "compare.parquet": lambda p: table.to_parquet(p, index=False),
                    "compare_manifest.json": lambda p: write_json(p, record)}
        paths = write_atomically(out_dir, writers)
    print(f"compare: {' against '.join(series)} in {out_dir}")
    for path in paths:
        print(f"  {path}")


def validate(config: Mapping) -> None:
    """Everything the command line can get wrong (for :func:`common.cli.precheck`)."""
    validate_calibration(config)
    s = parse_compare(config["compare"])
    for key in ("a", "b"):
        if s[key] != PRIOR:
            path = Path(s[key])
            load_posterior(path if path.is_absolute() else PROJECT_ROOT / path)


if __name__ == "__main__":
    precheck("compare", validate)
    from calibration.cli import compare

    compare()
