"""Figures and the HTML report of a forecast: fan charts, scenario comparisons, one self-contained page.

:func:`fan_charts` reads the forecast ensemble (``<work>/ensemble``, :mod:`experiments.ensemble`) one scenario at a
time, only the plotted places and columns, and draws per channel a grid of the region (LAC) and the key states: the
calibrated past (2000-2023, the reference scenario's runs) as a grey fan with the article's observations marked as in
:mod:`calibration.trajectories`, then each scenario's 2024-2040 median and 50%/90% bands in its own colour (the
boldness variants of a scenario in its colour, dashed). :func:`comparison_charts` draws the paired scenario-minus-
reference differences of the comparison table (forest plots), and :func:`html_report` puts figures, tables and the
run's provenance into one HTML file that opens from disk (no external CSS, script or image).

Same inputs give the same bytes: figures carry no timestamp or software tag (``metadata={"Software": None}``) and are
drawn on bare Agg canvases; files are written under a temporary name, then renamed.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from jinja2 import Environment, FileSystemLoader
from markdown_it import MarkdownIt
from markupsafe import Markup
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from calibration.headline import headline_sentence
from calibration.observations import load_observations
from calibration.trajectories import QUANTILES, Panel, draw_observation, observed_text, panel_observations, window_total
from experiments.findings import key_findings
from experiments.tables import unit_label
from model.data import HIST_END, HIST_START
from model.drivers import LAST_YEAR
from model.schema import ALL_VARIABLES, REGION, REGION_VARIABLES, Channel, Partner

KEY_STATES = ("VEN", "ARG", "BRA", "CHL", "PER", "BOL", "ECU", "MEX")
PLACES = (REGION, *KEY_STATES)
COMPARISON_YEARS = (2030, 2035, 2040)
DPI = 100
# Panel titles sit at the top of their axes: matplotlib's automatic placement (which lifts a title over anything drawn
# above the axes, and nothing is) measured every axis on each draw, a quarter of a chart's time; the PNGs are the same.
TITLE_Y = 1.0
# PNG text chunks matplotlib would add: the software tag names the matplotlib version, so a figure's bytes would change
# with an upgrade that draws the same pixels.
PNG_METADATA = {"Software": None}
PAST_COLOUR = "0.35"
SCENARIO_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                    "tab:olive", "tab:cyan")
# Boldness variants: the colour of their scenario, a dash pattern each (cautious dashed, bold dash-dotted).
VARIANT_DASHES = {"cautious": (0, (5, 2)), "bold": (0, (6, 2, 1.5, 2))}
DISCRETE_UNITS = ("0/1", "0/1/2", "visits", "deals", "events")
_VARIABLES = {v.name: v for v in ALL_VARIABLES}
_REGION_NAMES = {v.name for v in REGION_VARIABLES}


def column_of(variable: str) -> str:
    """The wide-table column of a schema variable (``name.PARTNER``, the bare name for partner-less ones)."""
    v = _VARIABLES[variable]
    return v.name if v.partner is Partner.NONE or v.name in _REGION_NAMES else f"{v.name}.{v.partner.value}"


@dataclass(frozen=True, slots=True)
class FanPanel:
    """One small multiple: ``variable`` at ``iso3``; ``mean`` plots the mean across runs instead of a fan."""

    variable: str
    iso3: str
    title: str
    mean: bool = False


@dataclass(frozen=True, slots=True)
class FanFigure:
    """One PNG: its file stem, channel, y-axis label and panels."""

    name: str
    channel: str
    label: str
    panels: tuple[FanPanel, ...]


def _state_figure(name: str, channel: Channel, variable: str, label: str, lac_variable: str | None = None) -> FanFigure:
    """LAC and the key states; a state's yearly count (0/1, 0/1/2, visits, deals, events) is drawn as its mean.

    A state's yearly counts are small integers: their quantiles across runs jump between 0, 1 and 2 and say little,
    while the mean is the share of runs where a 0/1 event happens (the expected count otherwise). The LAC row adds
    the states up, so it keeps its fan.
    """
    unit = _VARIABLES[variable].unit
    discrete = unit in DISCRETE_UNITS
    lac = lac_variable or variable
    lac_title = f"{REGION} ({lac})" if lac_variable else REGION
    note = " (share of runs; band: 90% of draws)" if unit == "0/1" else " (mean; band: 90% of draws)" if discrete \
        else ""
    panels = (FanPanel(lac, REGION, lac_title),) + tuple(FanPanel(variable, s, s + note, mean=discrete)
                                                        for s in KEY_STATES)
    return FanFigure(name, channel.value, label, panels)


C = Channel
FAN_FIGURES: tuple[FanFigure, ...] = (
    _state_figure("fan_delegations", C.DELEGATIONS, "delegations", "PLA delegation visits"),
    _state_figure("fan_training", C.TRAINING, "officers_training", "sends officers to PLA institutions (LAC: states)"),
    _state_figure("fan_forums", C.FORUMS, "forum_attends", "attends China's defence forum (LAC: states)"),
    _state_figure("fan_port_calls", C.PORT_CALLS, "port_call", "PLA Navy port call (LAC: states)"),
    _state_figure("fan_exercises", C.EXERCISES, "exercise", "joint exercise with the PLA (LAC: states)"),
    _state_figure("fan_arms_deliveries", C.ARMS, "china_arms_delivered_tiv", "Chinese arms delivered (TIV m)"),
    _state_figure("fan_arms_deals", C.ARMS, "china_arms_deal_signed", "arms deals signed with China"),
    _state_figure("fan_industrial", C.INDUSTRIAL, "china_coproduction_deal", "Chinese deals with technology transfer"),
    _state_figure("fan_aid", C.AID, "china_aid_usd_m", "Chinese military aid (US$ m 2022)"),
    _state_figure("fan_space", C.SPACE, "space_project", "new space projects with China"),
    _state_figure("fan_surveillance", C.SURVEILLANCE, "surveillance_level",
                  "Chinese surveillance system: 0 none, 1 subnational, 2 national (LAC: adopting states)",
                  lac_variable="surveillance_adopters"),
    _state_figure("fan_relations_r_china", C.RELATIONS, "r_china", "relationship stock with China's military [0,1]"),
    _state_figure("fan_relations_alignment", C.RELATIONS, "alignment", "alignment: -1 US ... +1 China/ALBA"),
    FanFigure("fan_region", "region", "region-level series",
              tuple(FanPanel(v.name, REGION, f"{v.name} ({v.unit})") for v in REGION_VARIABLES)),
)

# The comparison charts' variables, in panel order (the state variables for LAC and the key states).
COMPARISON_VARIABLES = ("delegations", "officers_training", "forum_attends", "port_call", "exercise",
                        "china_arms_delivered_tiv", "china_arms_deal_signed", "china_arms_share", "china_aid_usd_m",
                        "space_project", "surveillance_level", "surveillance_adopters", "r_china", "alignment")


# --------------------------------------------------------------------------------------------------------------- IO


def save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG under a temporary name, then rename; no metadata that varies between identical figures."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=DPI, metadata=PNG_METADATA)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def new_figure(width: float, height: float) -> Figure:
    # A bare Figure on an Agg canvas, not pyplot: no display, no global registry keeping figures alive.
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def fixed_grid(fig: Figure, nrows: int, ncols: int, *, top: float, bottom: float, legend: float = 0.0,
               left: float = 0.6, right: float = 0.25, wgap: float = 0.75, hgap: float = 0.8) -> None:
    """Place a figure's grid of panels with margins and gaps in inches, wide enough for these charts' tick labels,
    panel titles and the "year" label under a partly filled last row; ``legend`` is the share of the figure's height
    kept free below the bottom margin for the figure legend.

    What ``tight_layout`` would find, without its cost: it draws every tick label to measure it, which took 29 s of
    the forecast's 90 s of figure drawing (and ``savefig`` then draws them all again).
    """
    width, height = fig.get_size_inches()
    bottom += legend * height
    panel_w = (width - left - right - (ncols - 1) * wgap) / ncols
    panel_h = (height - top - bottom - (nrows - 1) * hgap) / nrows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                        wspace=wgap / panel_w, hspace=hgap / panel_h)


def safe_name(label: str) -> str:
    """A file-name-safe form of a scenario label (``tension@bold`` -> ``tension-bold``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-") or "scenario"


def read_scenario(work: Path, label: str, columns: Sequence[str], places: Sequence[str] = PLACES,
                  from_year: int | None = None) -> pd.DataFrame:
    """The rows of one scenario at ``places`` (from ``from_year`` on, if given): columns ``draw, seed, year, iso3``
    and ``columns`` (wide names). A read of forecast years skips the record period's row group of each part.

    Raises:
        ValueError: the ensemble has no rows of ``label``.
    """
    dataset = ds.dataset(work / "ensemble", partitioning="hive")
    flt = (pc.field("scenario") == label) & pc.field("iso3").isin(list(places))
    if from_year is not None:
        flt &= pc.field("year") >= from_year
    # One fragment and batch read ahead, as the tables read: the default read-ahead held about 500 MB of decoded
    # batches in Arrow's pool for a fan chart's 140 MB (a worker's memory peak).
    table = dataset.to_table(columns=["draw", "seed", "year", "iso3", *columns], filter=flt, fragment_readahead=1,
                             batch_readahead=1)
    if table.num_rows == 0:
        raise ValueError(f"{work / 'ensemble'}: no rows of scenario {label!r}; expected a forecast ensemble of it")
    frame = table.to_pandas()
    del table
    # Arrow keeps the scan's buffers in its pool for reuse: handed back before the frame's summaries need room.
    pa.default_memory_pool().release_unused()
    frame["iso3"] = frame["iso3"].astype(str)
    frame["year"] = frame["year"].astype(int)
    return frame


def summarise(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Per (column, iso3, year): quantiles across runs (``q05 .. q95``), the mean, the 5% and 95% quantiles over the
    draws of each draw's mean over its seeds (``draw_q05``, ``draw_q95``: how far the parameters move the mean, plus
    the noise of a draw's few seeds; the band of a panel drawn as a mean) and the number of runs.

    Region-only columns are summarised on the LAC row alone (they are NaN on state rows). Missing values are skipped,
    as pandas' group statistics skip them.
    """
    # Each group's runs as a row of a padded array: one numpy call per statistic and column, not a pandas group-by
    # per statistic (one scenario's fan-chart columns: 2.5 s, now 0.9).
    frame = frame.sort_values(["iso3", "year", "draw", "seed"], kind="stable")
    cell = frame.groupby(["iso3", "year"], observed=True, sort=False).ngroup().to_numpy()
    draw_cell = frame.groupby(["iso3", "year", "draw"], observed=True, sort=False).ngroup().to_numpy()
    keys = frame[["iso3", "year"]].drop_duplicates().to_numpy()
    probs = list(QUANTILES.values())

    def layout(group: np.ndarray, n_groups: int) -> tuple[np.ndarray, tuple[int, int]]:
        within = np.arange(len(group)) - np.searchsorted(group, np.arange(n_groups))[group]
        width = int(within.max()) + 1 if len(group) else 0
        return group * width + within, (n_groups, width)

    def padded(where: tuple[np.ndarray, tuple[int, int]], values: np.ndarray) -> np.ndarray:
        out = np.full(where[1][0] * where[1][1], np.nan)
        out[where[0]] = values
        return out.reshape(where[1])

    def quantiles(a: np.ndarray, q: Sequence[float]) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing group's quantiles are NaN
            return (np.quantile(a, q, axis=1) if not np.isnan(a).any() else np.nanquantile(a, q, axis=1)).T

    n_cells, n_draw_cells = len(keys), int(draw_cell.max()) + 1 if len(draw_cell) else 0
    draw_of_cell = np.zeros(n_draw_cells, dtype=np.int64)
    draw_of_cell[draw_cell] = cell
    is_region = keys[:, 0] == REGION
    size = np.bincount(cell, minlength=n_cells)
    by_cell, by_draw = layout(cell, n_cells), layout(draw_cell, n_draw_cells)
    draws_by_cell = layout(draw_of_cell, n_cells)
    parts = []
    for col in columns:
        values = frame[col].to_numpy(dtype=float)
        rows = is_region if col in _REGION_NAMES else slice(None)
        runs = padded(by_cell, values)[rows]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing group's mean is NaN, as in pandas
            per_draw = np.nanmean(padded(by_draw, values), axis=1)
            mean = np.nanmean(runs, axis=1)
        q = pd.DataFrame(quantiles(runs, probs), columns=list(QUANTILES))
        q["mean"] = mean
        q[["draw_q05", "draw_q95"]] = quantiles(padded(draws_by_cell, per_draw)[rows], [0.05, 0.95])
        q["runs"] = size[rows]
        q.insert(0, "column", col)
        q.insert(1, "iso3", keys[rows, 0])
        q.insert(2, "year", keys[rows, 1].astype(int))
        parts.append(q)
    return pd.concat(parts, ignore_index=True).set_index(["column", "iso3", "year"]).sort_index()


# ------------------------------------------------------------------------------------------------------ fan charts


@dataclass(frozen=True, slots=True)
class _Style:
    colour: str
    dashes: tuple | None  # None: solid line and filled bands


def _styles(job: Mapping) -> dict[str, _Style]:
    labels = list(job["labels"])
    scenarios = list(job.get("scenarios") or [lab.split("@")[0] for lab in labels])
    boldness = list(job.get("boldness") or [lab.split("@")[1] if "@" in lab else "central" for lab in labels])
    colours: dict[str, str] = {}
    for s in scenarios:
        colours.setdefault(s, SCENARIO_COLOURS[len(colours) % len(SCENARIO_COLOURS)])
    return {lab: _Style(colours[s], None if b == "central" else VARIANT_DASHES.get(b, (0, (3, 2))))
            for lab, s, b in zip(labels, scenarios, boldness, strict=True)}


def _panel_observations(observations: pd.DataFrame, panel: FanPanel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The one-year and several-year ``sum`` observations of a panel (as calibration.trajectories reads them)."""
    one, several = panel_observations(observations, Panel(panel.variable, panel.title, panel.iso3))
    return tuple(f[(f["year_start"] >= HIST_START) & (f["year_end"] <= LAST_YEAR)] for f in (one, several))


def fan_charts(work: Path, job: Mapping, out: Path, *, observations: pd.DataFrame | None = None,
               figures: Sequence[str] | None = None) -> list[Path]:
    """Write the fan charts of a forecast: one PNG per entry of :data:`FAN_FIGURES`.

    The serial composition of :func:`fan_statistics` (one per label, independent: the forecast runs them in its
    worker processes) and :func:`draw_fan_figures` (one figure each, as the forecast does).

    Args:
        work: the forecast work folder (its ``ensemble`` dataset is read one scenario at a time).
        job: the forecast job of the manifest: ``labels`` (the first is the reference), and optionally ``scenarios``,
            ``boldness`` (per label) and ``param_source``.
        out: folder for the figures (created if missing).
        observations: the record (default: :func:`calibration.observations.load_observations`).
        figures: names of the figures to draw (default: all of :data:`FAN_FIGURES`).

    Returns:
        The written paths ``out / f"{name}.png"``, in the order of :data:`FAN_FIGURES`.

    Raises:
        ValueError: an unknown figure name, or a label without rows in the ensemble; before anything is written.
    """
    _fan_specs(figures)
    observations = load_observations() if observations is None else observations
    per_label = {label: fan_statistics(work, job, label, observations=observations) for label in job["labels"]}
    return draw_fan_figures(job, per_label, out, observations=observations, figures=figures)


def _fan_specs(figures: Sequence[str] | None) -> list[FanFigure]:
    unknown = sorted(set(figures or ()) - {f.name for f in FAN_FIGURES})
    if unknown:
        raise ValueError(f"fan chart {unknown[0]!r} unknown; allowed: {', '.join(f.name for f in FAN_FIGURES)}")
    return [f for f in FAN_FIGURES if figures is None or f.name in figures]


def _fan_columns() -> list[str]:
    return sorted({column_of(p.variable) for f in FAN_FIGURES for p in f.panels})


def fan_statistics(work: Path, job: Mapping, label: str, *,
                   observations: pd.DataFrame | None = None) -> dict[str, object]:
    """One label's summary for the fan charts (every panel of :data:`FAN_FIGURES`): ``stats`` (:func:`summarise`),
    ``runs`` (draws, seeds) and, for the reference, the simulated totals over the record's several-year windows.

    Raises:
        ValueError: the ensemble has no rows of ``label``.
    """
    columns = _fan_columns()
    frame = read_scenario(work, label, columns)
    totals: dict[tuple[FanPanel, str], tuple[float, float, float] | None] = {}
    if label == job["labels"][0]:
        observations = load_observations() if observations is None else observations
        for p in (p for f in FAN_FIGURES for p in f.panels):
            several = _panel_observations(observations, p)[1]
            if several.empty:
                continue
            series = frame.loc[frame["iso3"] == p.iso3, ["draw", "seed", "year", column_of(p.variable)]]
            series = series.rename(columns={column_of(p.variable): "value"})
            for obs in several.itertuples(index=False):
                totals[(p, obs.id)] = window_total(series, obs.year_start, obs.year_end)
    return {"stats": summarise(frame, columns), "runs": (frame["draw"].nunique(), frame["seed"].nunique()),
            "totals": totals}


def draw_fan_figures(job: Mapping, per_label: Mapping[str, Mapping], out: Path, *,
                     observations: pd.DataFrame | None = None, figures: Sequence[str] | None = None) -> list[Path]:
    """Draw fan charts from each label's :func:`fan_statistics` (all of :data:`FAN_FIGURES` or ``figures``)."""
    specs = _fan_specs(figures)
    observations = load_observations() if observations is None else observations
    labels = list(job["labels"])
    reference = labels[0]
    stats = {label: per_label[label]["stats"] for label in labels}
    totals = per_label[reference]["totals"]
    windows = {p: _panel_observations(observations, p) for f in specs for p in f.panels}
    styles = _styles(job)
    draws, seeds = per_label[reference]["runs"]
    source = job.get("param_source", "")
    paths = []
    for spec in specs:
        n = len(spec.panels)
        ncols = 3
        nrows = math.ceil(n / ncols)
        fig = new_figure(4.6 * ncols, 3.0 * nrows + 1.6)
        axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
        for ax, panel in zip(axes, spec.panels, strict=False):  # the grid may have spare axes (_hide_unused)
            one, several = windows[panel]
            notes = [_window_note(obs, totals.get((panel, obs.id))) for obs in several.itertuples(index=False)]
            _draw_fan(ax, panel, stats, reference, styles, one, notes)
        _hide_unused(axes, n, ncols)
        fig.legend(handles=_legend_handles(labels, styles, axes[:n]),
                   loc="lower center", ncol=min(len(labels) + 3, 6), fontsize=8, frameon=False)
        fig.suptitle(f"{spec.channel}: {spec.label}\nfan charts {HIST_START}–{LAST_YEAR}: calibrated past "
                     f"({reference}) to {HIST_END}, scenarios from {HIST_END + 1}; parameters: {source or 'n/a'}; "
                     f"{draws} draws × {seeds} seeds; bands 50% and 90% across runs", fontsize=10)
        fixed_grid(fig, nrows, ncols, top=1.0, bottom=0.6, legend=0.06)
        paths.append(save_png(fig, out / f"{spec.name}.png"))
    return paths


def _hide_unused(axes: np.ndarray, n: int, ncols: int) -> None:
    """Hide the grid's spare axes; the lowest axis of each column shows the years."""
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[max(0, n - ncols):n]:
        ax.set_xlabel("year")
        ax.xaxis.set_tick_params(labelbottom=True)


def _window_note(obs: tuple, total: tuple[float, float, float] | None) -> str:
    sim = "not wholly simulated" if total is None else f"{total[1]:.3g} [{total[0]:.3g}–{total[2]:.3g}]"
    return f"{obs.year_start}–{obs.year_end}: obs {observed_text(obs)}, sim {sim}"


def _draw_fan(ax: Axes, panel: FanPanel, stats: Mapping[str, pd.DataFrame], reference: str,
              styles: Mapping[str, _Style], one_year: pd.DataFrame, notes: list[str]) -> None:
    """The past (reference runs, to HIST_END) in grey, then each label's future from HIST_END (so the lines join)."""
    col = column_of(panel.variable)
    lows = []
    # The reference last and on top: where a scenario does not differ from it, the reference's colour shows.
    order = [label for label in stats if label != reference] + [reference]
    for k, label in enumerate(order):
        try:
            b = stats[label].loc[(col, panel.iso3)].reset_index()
        except KeyError:
            continue
        if label == reference:
            past = b[b["year"] <= HIST_END]
            _fan(ax, past, panel.mean, PAST_COLOUR, None, zorder=2, past=True)
            lows.append(past["draw_q05" if panel.mean else "q05"].min())
        future = b[b["year"] >= HIST_END]
        _fan(ax, future, panel.mean, styles[label].colour, styles[label].dashes, zorder=3 + 2 * k)
        lows.append(future["draw_q05" if panel.mean else "q05"].min())
    for obs in one_year.itertuples(index=False):
        draw_observation(ax, obs)
    if notes:
        ax.text(0.02, 0.97, "\n".join(notes), transform=ax.transAxes, va="top", ha="left", fontsize=6,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.6"}, zorder=6)
    ax.axvline(HIST_END + 0.5, color="0.5", lw=0.8, ls=":")
    ax.set_title(f"{panel.title}", fontsize=9, y=TITLE_Y)
    ax.set_xlim(HIST_START - 0.5, LAST_YEAR + 0.5)
    if lows and np.nanmin(lows) >= 0:
        top = ax.get_ylim()[1]
        ax.set_ylim(0, top * (1.25 if notes else 1.0) if top > 0 else 1.0)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)


def _fan(ax: Axes, b: pd.DataFrame, mean: bool, colour: str, dashes: tuple | None, zorder: int,
         past: bool = False) -> None:
    """A median with its bands, or for ``mean`` the mean with the 90% band of the draws' means.

    The past is a filled fan; a scenario's future fills its 50% band lightly and outlines its 90% band, so that
    several scenarios stay readable on one panel; a boldness variant outlines both, dashed. A mean's band (a state's
    0/1 or small count: the probability, or expected count, as the parameters and a draw's few seeds move it) is
    filled in the past and outlined in the future.
    """
    x = b["year"].to_numpy()
    ls = dashes or "-"
    if mean:
        if past:
            ax.fill_between(x, b["draw_q05"], b["draw_q95"], color=colour, alpha=0.25, lw=0, zorder=zorder)
        else:
            for q in ("draw_q05", "draw_q95"):
                ax.plot(x, b[q], color=colour, lw=0.7, ls=ls if dashes else (0, (1, 1.5)), alpha=0.75, zorder=zorder)
        ax.plot(x, b["mean"], color=colour, lw=1.6, ls=ls, zorder=zorder)
        return
    if past:
        ax.fill_between(x, b["q05"], b["q95"], color=colour, alpha=0.18, lw=0, zorder=zorder)
        ax.fill_between(x, b["q25"], b["q75"], color=colour, alpha=0.38, lw=0, zorder=zorder)
    else:
        if dashes is None:
            ax.fill_between(x, b["q25"], b["q75"], color=colour, alpha=0.16, lw=0, zorder=zorder)
        else:
            for q in ("q25", "q75"):
                ax.plot(x, b[q], color=colour, lw=0.6, ls=ls, alpha=0.6, zorder=zorder)
        for q in ("q05", "q95"):
            ax.plot(x, b[q], color=colour, lw=0.7, ls=ls if dashes else (0, (1, 1.5)), alpha=0.75, zorder=zorder)
    ax.plot(x, b["q50"], color=colour, lw=1.6, ls=ls, zorder=zorder + 1)


def _legend_handles(labels: Sequence[str], styles: Mapping[str, _Style], axes: Sequence[Axes]) -> list:
    handles = [Patch(facecolor=PAST_COLOUR, alpha=0.4, label=f"calibrated past ({labels[0]}): median, 50%, 90% bands"),
               Line2D([], [], color="0.4", ls=(0, (1, 1.5)), lw=0.7,
                      label="scenario: median, 50% band (fill), 90% (dots)")]
    for label in labels:
        st = styles[label]
        handles.append(Line2D([], [], color=st.colour, ls=st.dashes or "-", lw=1.6, label=label))
    # The observation markers drawn (calibration.trajectories labels one per kind), once each.
    seen = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(text, handle)
    return handles + list(seen.values())


# ---------------------------------------------------------------------------------------------- comparison charts


def _main_rows(comparison: pd.DataFrame) -> pd.DataFrame:
    """The rows of the comparison charts: main variables, LAC and key states, the comparison years."""
    rows = comparison[comparison["variable"].isin(COMPARISON_VARIABLES) & comparison["iso3"].astype(str).isin(PLACES)
                      & comparison["year"].isin(COMPARISON_YEARS)].copy()
    if "partner" in rows.columns:
        # Keep each variable's own partner, should the table carry a variable for several partners.
        partner = rows["partner"].fillna("").astype(str)
        expected = rows["variable"].map(lambda v: _VARIABLES[v].partner.value)
        several = rows.groupby("variable")["partner"].transform(lambda p: p.fillna("").astype(str).nunique()) > 1
        rows = rows[~several | (partner == expected)]
    rows["iso3"] = rows["iso3"].astype(str)
    return rows


def difference_limits(rows: pd.DataFrame) -> tuple[float, float]:
    """Symmetric x limits of a panel of paired differences: the largest plotted value, but at least
    DIFFERENCE_FLOOR of the reference's own level (its largest |5%| or |95%| quantile in the panel), or 1 unit when
    the reference is 0 there: differences of a few parts in ten thousand do not fill the panel as if they mattered."""
    values = rows[[c for c in ("diff_median", "diff_q05", "diff_q95", "diff_mean") if c in rows]].abs().to_numpy()
    level = rows[[c for c in ("ref_q05", "ref_q95") if c in rows]].abs().to_numpy()
    reach = float(np.nanmax(values)) if np.isfinite(values).any() else 0.0
    floor = DIFFERENCE_FLOOR * float(np.nanmax(level)) if np.isfinite(level).any() else 0.0
    half = 1.08 * max(reach, floor if floor > 0 else (0.0 if reach > 0 else 1.0))
    return -half, half


def comparison_charts(comparison: pd.DataFrame, out: Path) -> list[Path]:
    """Forest plots of scenario minus reference, one PNG per compared scenario.

    Args:
        comparison: the comparison table (columns ``scenario, iso3, variable, year, diff_median, diff_q05,
            diff_q95``, optionally ``partner``): paired differences of each scenario from the reference.
        out: folder for the figures (created if missing).

    Returns:
        The written paths ``out / f"comparison_{safe_name(scenario)}.png"``, scenarios in their order of first
        appearance; none when the table has no row of a main variable at LAC or a key state in 2030/2035/2040.

    Raises:
        ValueError: the table lacks a needed column.
    """
    needed = ("scenario", "iso3", "variable", "year", "diff_median", "diff_q05", "diff_q95")
    missing = [c for c in needed if c not in comparison.columns]
    if missing:
        raise ValueError(f"comparison table lacks column(s) {', '.join(missing)}; expected {', '.join(needed)}")
    rows = _main_rows(comparison)
    paths = []
    year_colours = dict(zip(COMPARISON_YEARS, ("tab:blue", "tab:orange", "tab:red"), strict=True))
    offsets = dict(zip(COMPARISON_YEARS, (0.25, 0.0, -0.25), strict=True))  # earliest year on top within a place
    for scenario in dict.fromkeys(rows["scenario"].astype(str)):
        sc = rows[rows["scenario"].astype(str) == scenario]
        variables = [v for v in COMPARISON_VARIABLES if v in set(sc["variable"])]
        ncols = 4
        nrows = math.ceil(len(variables) / ncols)
        fig = new_figure(4.0 * ncols, 2.9 * nrows + 1.2)
        axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
        for ax, variable in zip(axes, variables, strict=False):  # the grid may have spare axes, turned off below
            v = sc[sc["variable"] == variable]
            places = [p for p in PLACES if p in set(v["iso3"])]
            ypos = {p: len(places) - 1 - i for i, p in enumerate(places)}
            for year in COMPARISON_YEARS:
                r = v[v["year"] == year].sort_values("iso3")
                if r.empty:
                    continue
                y = r["iso3"].map(ypos).to_numpy() + offsets[year]
                med = r["diff_median"].to_numpy(dtype=float)
                err = np.vstack([med - r["diff_q05"].to_numpy(dtype=float), r["diff_q95"].to_numpy(dtype=float) - med])
                ax.errorbar(med, y, xerr=np.clip(err, 0, None), fmt="o", ms=3.5, lw=1, capsize=2,
                            color=year_colours[year])
                if "diff_mean" in r.columns:
                    # The mean shows a shift the median of a discrete difference (mostly 0) hides.
                    ax.plot(r["diff_mean"].to_numpy(dtype=float), y, ls="", marker="D", ms=4, mfc="none",
                            mec=year_colours[year], mew=0.9)
            ax.axvline(0, color="0.3", lw=0.8)
            ax.set_xlim(*difference_limits(v))
            ax.set_yticks(list(ypos.values()), list(ypos))
            ax.set_ylim(-0.6, len(places) - 0.4)
            unit = _VARIABLES[variable].unit
            ax.set_title(f"{variable} ({unit})", fontsize=9, y=TITLE_Y)
            ax.tick_params(labelsize=8)
            ax.grid(axis="x", alpha=0.3)
        for ax in axes[len(variables):]:
            ax.set_visible(False)
        handles = [Line2D([], [], color=c, marker="o", lw=1, label=f"{y}: median, 90% interval")
                   for y, c in year_colours.items()]
        handles.append(Line2D([], [], color="0.3", marker="D", mfc="none", ls="", label="mean"))
        fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
        fig.suptitle(f"{scenario} minus reference: paired differences (same draws and seeds) of the main variables",
                     fontsize=10)
        fixed_grid(fig, nrows, ncols, top=0.75, bottom=0.35, legend=0.05, left=0.7, hgap=0.55)
        paths.append(save_png(fig, out / f"comparison_{safe_name(scenario)}.png"))
    return paths


def difference_statistics(work: Path, job: Mapping, label: str) -> pd.DataFrame:
    """``label`` minus the reference (the job's first label) at the LAC row, run by run (same draw and seed), for
    each year from HIST_END + 1: quantiles (``q05 .. q95``) and ``mean`` of the paired difference, and the reference's
    own ``ref_median`` and ``ref_q95``, per (column, year), for the variables of :data:`COMPARISON_VARIABLES`.

    Raises:
        ValueError: the ensemble has no rows of ``label`` or of the reference.
    """
    columns = [column_of(v) for v in COMPARISON_VARIABLES]
    keys = ["draw", "seed", "year"]
    own, ref = (read_scenario(work, lab, columns, places=(REGION,), from_year=HIST_END + 1)
                for lab in (label, job["labels"][0]))
    own, ref = (f[f["year"] > HIST_END].sort_values(keys).reset_index(drop=True) for f in (own, ref))
    if not own[keys].equals(ref[keys]):
        raise ValueError(f"{work / 'ensemble'}: scenario {label!r} and the reference do not hold the same runs; "
                         "expected the same draws, seeds and years (a paired comparison)")
    parts = []
    for col in columns:
        diff = (own[col].astype(np.float64) - ref[col].astype(np.float64)).groupby(own["year"])
        level = ref[col].astype(np.float64).groupby(ref["year"])
        q = diff.quantile(list(QUANTILES.values())).unstack()
        q.columns = list(QUANTILES)
        q["mean"], q["ref_median"], q["ref_q95"] = diff.mean(), level.median(), level.quantile(0.95)
        q["column"] = col
        parts.append(q.reset_index())
    return pd.concat(parts, ignore_index=True)


def difference_chart(stats: pd.DataFrame, label: str, reference: str, out: Path) -> list[Path]:
    """Paired differences over the years of one scenario from the reference, one panel per variable (LAC row).

    Bands hold 50% and 90% of the runs' differences, the line is their median, the dashes their mean (a lumpy count's
    median difference is mostly 0 while its mean moves). The left axis is in the variable's unit, at least
    DIFFERENCE_FLOOR of the reference's level either side of zero; the right axis is the same in percent of the
    reference's median level over the years shown (where that level is above 0).

    Returns:
        ``[out / f"difference_{safe_name(label)}.png"]``.
    """
    columns = list(dict.fromkeys(stats["column"]))
    ncols = 4
    nrows = math.ceil(len(columns) / ncols)
    fig = new_figure(4.0 * ncols, 2.7 * nrows + 1.2)
    axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
    axes[0].xaxis.set_major_locator(MaxNLocator(integer=True))  # shared: whole years on every panel, not 2027.5
    for ax, col in zip(axes, columns, strict=False):  # the grid may have spare axes (_hide_unused)
        s = stats[stats["column"] == col].sort_values("year")
        years = s["year"].to_numpy()
        ax.fill_between(years, s["q05"], s["q95"], color="tab:purple", alpha=0.18, lw=0)
        ax.fill_between(years, s["q25"], s["q75"], color="tab:purple", alpha=0.35, lw=0)
        ax.plot(years, s["q50"], color="tab:purple", lw=1.4)
        ax.plot(years, s["mean"], color="0.2", lw=1.0, ls=(0, (4, 2)))
        ax.axhline(0, color="0.3", lw=0.8)
        reach = float(np.nanmax(np.abs(s[["q05", "q95", "mean"]].to_numpy()))) if len(s) else 0.0
        floor = DIFFERENCE_FLOOR * float(np.nanmax(np.abs(s["ref_q95"].to_numpy()))) if len(s) else 0.0
        half = 1.08 * max(reach, floor if floor > 0 else (0.0 if reach > 0 else 1.0))
        ax.set_ylim(-half, half)
        level = float(s["ref_median"].mean())
        if level > 0:
            ax.secondary_yaxis("right", functions=(lambda y, m=level: 100 * y / m, lambda p, m=level: p * m / 100)
                               ).tick_params(labelsize=7, colors="0.4")
        ax.set_title(unit_label(col, REGION, "") + (f"; right: % of {level:.3g}" if level > 0 else ""), fontsize=8.5,
                     y=TITLE_Y)
        ax.tick_params(labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    _hide_unused(axes, len(columns), ncols)
    handles = [Patch(color="tab:purple", alpha=0.18, label="90% of runs"),
               Patch(color="tab:purple", alpha=0.35, label="50% of runs"),
               Line2D([], [], color="tab:purple", lw=1.4, label="median"),
               Line2D([], [], color="0.2", lw=1.0, ls=(0, (4, 2)), label="mean")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"{label} minus {reference}, {REGION}, {HIST_END + 1}–{LAST_YEAR}: paired differences (same draws and "
                 "seeds); right axes in % of the reference's median level", fontsize=10)
    fixed_grid(fig, nrows, ncols, top=0.75, bottom=0.6, legend=0.05, right=0.55, wgap=1.05)
    return [save_png(fig, out / f"difference_{safe_name(label)}.png")]


def difference_charts(work: Path, job: Mapping, label: str, out: Path) -> list[Path]:
    """:func:`difference_statistics` of ``label``, drawn by :func:`difference_chart` (one task of the forecast)."""
    return difference_chart(difference_statistics(work, job, label), label, job["labels"][0], out)


# ------------------------------------------------------------------------------------------------------ HTML report

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;max-width:1200px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.5em}
table{border-collapse:collapse;font-size:.85em;margin:.6em 0}th,td{border:1px solid #ccc;padding:.2em .45em}
th{background:#f1f1f1;position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.prior td,td.prior{background:#fff4d6}
blockquote{margin:.5em 0;padding:.3em .8em;border-left:3px solid #d9a400;background:#fffaf0;font-size:.9em}
.scroll{max-height:32em;overflow:auto;border:1px solid #ddd}
figure{margin:1.2em 0}figure img{max-width:100%;border:1px solid #ddd}figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:.8em;max-height:40em}code{background:#f3f3f3;padding:0 .2em}
details{margin:.6em 0}summary{cursor:pointer;font-weight:600}.note{color:#555;font-size:.9em}
nav a{margin-right:1em}
@media print{body{max-width:none;margin:0}.scroll{max-height:none;overflow:visible;border:0}th{position:static}
pre{max-height:none;white-space:pre-wrap}table{width:100%;page-break-inside:auto}tr{page-break-inside:avoid}
figure{page-break-inside:avoid}nav{display:none}}
"""

INTRO = """
<p>This page reports a posterior ensemble of the model: every scenario runs the same parameter draws from the
calibration's posterior, each with the same seeds. It is generated from the run's files and needs nothing else to
open.</p>
<ul>
<li><b>Intervals.</b> A median with a 50% and a 90% interval is taken across every run (draw × seed) of a scenario:
it mixes parameter uncertainty (draws) with chance (seeds). A 90% interval means 90% of the simulated runs fall inside,
given the model, its priors and the record it was calibrated to; it is not a probability about the real world.
Per-state series that are 0/1 (or 0/1/2) are drawn as their mean across runs, the share of runs where they hold,
with a band holding 90% of the posterior draws' own shares over their seeds: how far the parameters move the
probability, widened by the noise of a draw's few seeds (with 4, a share moves in steps of 0.25).</li>
<li><b>Paired comparisons.</b> Scenario minus reference is computed run by run: the same draw and seed in both
scenarios share their random streams (common random numbers), so the difference removes the variation the scenarios
share and its interval is much narrower than the gap between two separate fans would suggest.
<code>p_positive</code> is the share of runs where the difference is above zero. Each compared scenario has two
charts: its differences at 2030, 2035 and 2040 for the region and the key states, and the region's differences year by
year (bands of 50% and 90% of the runs; the right axis in percent of the reference's level).</li>
<li><b>Prior-driven flags.</b> The sensitivity table measures how much each output depends on each parameter. A
parameter flagged <code>prior_driven</code> is one the record did not narrow (its posterior is close to its prior):
outputs that depend on it repeat an assumption rather than the evidence. In the forecast table a value marked † (and
highlighted) has at least 30% of its variance from such parameters; in the sensitivity table, flagged rows are
highlighted.</li>
<li><b>Judgement axes.</b> Fixed behavioural parameters on which an audit (<code>python -m experiments.judgement</code>)
found that the forecasts depend are drawn per draw over their judgement ranges, as the calibrated parameters are drawn
from the posterior; they are flagged in the sensitivity table (<code>judgement</code>) and counted as prior-driven, and
the forecast table's <code>share_judgement</code> is the share of a value's variance they carry. The calibration held
them at their defaults, so their spread is an assumption the record never tested.</li>
<li><b>Boldness variants.</b> China's boldness under tension is not identified by the record. Scenarios marked
<code>@cautious</code> and <code>@bold</code> rerun a scenario with that parameter drawn from the lower and upper third
of its prior (same draws otherwise); they are drawn dashed in the scenario's colour. The parameter acts before 2024
too, so a variant's runs start 2024 from a somewhat different state than the calibrated past. The spread between the
variants is a range of assumptions, not of evidence.</li>
<li><b>Observations.</b> Red markers on the fan charts are the article's observations, with the tolerance the
calibration allowed; totals over several years are written in the panel's box beside the simulated total.</li>
</ul>
"""

MAX_TABLE_ROWS = 400
# A comparison panel spans at least this share of the reference's level (difference_limits).
DIFFERENCE_FLOOR = 0.05
# Parameters shown per output in the sensitivity figure, the most important first.
SENSITIVITY_SHOWN = 12


def sensitivity_panels(sensitivity: pd.DataFrame) -> list[tuple[str, list[str], float]]:
    """Per output: its parameters by their largest delta over the scenarios (the SENSITIVITY_SHOWN largest, the dummy
    left out) and the noise floor (the dummy's delta plus half-width, the highest over the scenarios; NaN without a
    dummy row)."""
    from experiments.tables import DUMMY, noise_floor

    rows = sensitivity.dropna(subset=["delta"])
    floor = noise_floor(rows)
    real = rows[rows["parameter"] != DUMMY]
    panels = []
    for output in dict.fromkeys(real["output"].astype(str)):
        ranked = (real[real["output"].astype(str) == output].groupby("parameter")["delta"].max()
                  .sort_values(ascending=False, kind="mergesort"))
        levels = [v for (_, name), v in floor.items() if name == output]
        panels.append((output, ranked.index[:SENSITIVITY_SHOWN].tolist(), max(levels) if levels else np.nan))
    return panels


def parameter_label(name: str, prior_driven: bool, judgement: bool) -> str:
    """A parameter's label in the sensitivity figure: ``(j)`` marks a judgement axis, ``*`` another prior-driven
    parameter."""
    return f"{name} (j)" if judgement else f"{name} *" if prior_driven else name


def sensitivity_chart(sensitivity: pd.DataFrame, out: Path) -> list[Path]:
    """SALib delta indices (moment-independent, on the posterior draws): one panel per output, its parameters sorted
    by their largest delta over the scenarios (the SENSITIVITY_SHOWN most important), one marker per scenario with its
    confidence half-width, the noise floor shaded.

    The floor is the dummy parameter's delta plus its half-width (a column of noise no output depends on, the highest
    over the scenarios): a parameter inside it does not matter measurably. Prior-driven parameters are starred in the
    labels and judgement axes marked (j), so a reader sees at once when an output rests on something the record did
    not pin down. No figure when
    the table is empty.
    """
    rows = sensitivity.dropna(subset=["delta"]) if "delta" in sensitivity.columns else sensitivity.iloc[0:0]
    panels = sensitivity_panels(rows)
    if not panels:
        return []
    scenarios = list(dict.fromkeys(rows["scenario"].astype(str)))
    fig = new_figure(4.6 * len(panels), 0.28 * max(len(p) for _, p, _ in panels) + 1.6)
    axes = fig.subplots(1, len(panels), squeeze=False).ravel()
    for ax, (output, parameters, level) in zip(axes, panels, strict=True):
        o = rows[rows["output"].astype(str) == output]
        if np.isfinite(level):
            ax.axvspan(0.0, level, color="#dddddd", zorder=0, label="noise floor (dummy)")
        y = np.arange(len(parameters))
        for k, scenario in enumerate(scenarios):
            r = o[o["scenario"].astype(str) == scenario].set_index("parameter").reindex(parameters)
            offset = (k - (len(scenarios) - 1) / 2) * 0.6 / max(len(scenarios), 1)
            ax.errorbar(r["delta"].to_numpy(dtype=float), y + offset, xerr=r["delta_conf"].to_numpy(dtype=float),
                        fmt="o", ms=3, lw=0.7, color=SCENARIO_COLOURS[k % len(SCENARIO_COLOURS)], label=scenario)
        flagged = set(o.loc[o["prior_driven"].fillna(False).astype(bool), "parameter"]) if "prior_driven" in o \
            else set()
        judged = set(o.loc[o["judgement"].fillna(False).astype(bool), "parameter"]) if "judgement" in o else set()
        ax.set_yticks(y, [parameter_label(p, p in flagged, p in judged) for p in parameters], fontsize=7)
        ax.set_ylim(len(parameters) - 0.5, -0.5)
        ax.set_xlim(left=0.0)
        ax.set_title(output, fontsize=9, y=TITLE_Y)
        ax.set_xlabel("delta (moment-independent)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
    axes[0].legend(fontsize=6, loc="lower right")
    fig.suptitle(f"Sensitivity of key forecast outputs to the parameters (posterior draws; the {SENSITIVITY_SHOWN} "
                 "largest per output; * prior-driven; (j) judgement axis; grey: noise floor)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return [save_png(fig, out / "sensitivity.png")]


_TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True,
                         keep_trailing_newline=True)
# CommonMark with GFM's pipe tables; raw HTML in the text is escaped, never passed through.
_MD = MarkdownIt("commonmark", {"html": False}).enable("table")
_NUMBER = re.compile(r"^[-+−]?(\d[\d,]*\.?\d*|\.\d+)(e[-+]?\d+)?%?$")
# Tables longer than this scroll on screen (the print stylesheet lifts the box).
SCROLL_ROWS = 25


def _inline(text: str) -> str:
    """Escaped inline Markdown (code spans, bold, italics) of one table cell or heading."""
    return _MD.renderInline(text)


def _wrap_table(self, tokens, idx, options, env) -> str:  # markdown-it-py's render-rule signature
    opened = tokens[idx].type == "table_open"
    tag = self.renderToken(tokens, idx, options, env)
    if not tokens[idx].meta.get("scroll"):
        return tag
    return '<div class="scroll">' + tag if opened else tag + "</div>\n"


_MD.add_render_rule("table_open", _wrap_table)
_MD.add_render_rule("table_close", _wrap_table)


def markdown_html(text: str) -> str:
    """The HTML of a Markdown text (markdown-it-py), with the report's conventions: headings two levels down (the
    page's own h1/h2 stay above the tables' headings), numbers right-aligned, a cell marked prior-driven (``†``) and a
    row whose ``prior_driven`` column is true highlighted, tables of more than SCROLL_ROWS rows in a scroll box.
    """
    tokens = _MD.parse(text)
    header: list[str] = []
    table_open = None
    for i, tok in enumerate(tokens):
        if tok.type in ("heading_open", "heading_close"):
            tok.tag = f"h{min(int(tok.tag[1]) + 2, 6)}"
        elif tok.type == "table_open":
            header, table_open = [], tok
        elif tok.type == "th_open":
            header.append(tokens[i + 1].content)
        elif tok.type == "td_open" and (cls := _cell_class(tokens[i + 1].content)):
            tok.attrSet("class", cls)
        elif tok.type == "tr_open" and header and tokens[i + 1].type == "td_open":
            end = next(j for j in range(i, len(tokens)) if tokens[j].type == "tr_close")
            cells = [tokens[j + 1].content for j in range(i, end) if tokens[j].type == "td_open"]
            if _flagged(header, cells):
                tok.attrSet("class", "prior")
        elif tok.type == "table_close" and table_open is not None:
            rows = sum(1 for t in tokens[tokens.index(table_open):i] if t.type == "tr_open") - 1
            table_open.meta["scroll"] = tok.meta["scroll"] = rows > SCROLL_ROWS
    return _MD.renderer.render(tokens, _MD.options, {})


def _table_html(header: Sequence[str], body: Sequence[Sequence[str]], prior: Sequence[bool] | None = None) -> str:
    head = "".join(f"<th>{_inline(h)}</th>" for h in header)
    rows = []
    for k, cells in enumerate(body):
        tds = "".join(_td(c) for c in cells)
        flagged = prior[k] if prior is not None else _flagged(header, cells)
        cls = ' class="prior"' if flagged else ""
        rows.append(f"<tr{cls}>{tds}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f'<div class="scroll">{table}</div>' if len(body) > SCROLL_ROWS else table


def _td(cell: str) -> str:
    cls = _cell_class(cell)
    return (f'<td class="{cls}">' if cls else "<td>") + f"{_inline(cell)}</td>"


def _cell_class(cell: str) -> str:
    """Numbers align right; a value marked prior-driven (``†``, as experiments.tables writes it) is highlighted."""
    return " ".join((["num"] if _NUMBER.match(cell.replace(" ", "")) else []) + (["prior"] if "†" in cell else []))


def _flagged(header: Sequence[str], cells: Sequence[str]) -> bool:
    """A Markdown row whose ``prior_driven`` cell is true."""
    for h, c in zip(header, cells, strict=False):  # a Markdown row may have more or fewer cells than its header
        if h.strip("`* ") == "prior_driven":
            return c.strip("`* ").lower() in ("true", "yes", "1", "✓", "x")
    return False


def _format(value: object) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "" if np.isnan(value) else str(value)
        return f"{value:.4g}"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def frame_html(frame: pd.DataFrame, max_rows: int = MAX_TABLE_ROWS) -> str:
    """A DataFrame as an HTML table (first ``max_rows`` rows, numbers to 4 significant digits, prior-driven rows
    highlighted), with a note of the rows left out."""
    shown = frame.head(max_rows)
    body = [[_format(v) for v in row] for row in shown.itertuples(index=False, name=None)]
    prior = (shown["prior_driven"].fillna(False).astype(bool).tolist() if "prior_driven" in shown.columns
             else [False] * len(shown))
    text = _table_html([str(c) for c in shown.columns], body, prior)
    if len(frame) > max_rows:
        text += (f'<p class="note">First {max_rows} of {len(frame):,} rows; the whole table is in the run\'s '
                 f"<code>tables/</code> folder.</p>")
    return text


def _image_html(path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    name = html.escape(Path(path).stem)
    return (f'<figure id="fig-{name}"><img alt="{name}" src="data:image/png;base64,{data}">'
            f"<figcaption>{name}</figcaption></figure>")


def _provenance_html(record: Mapping) -> str:
    facts = []
    for key in ("code_version", "created", "posterior_sha256"):
        if key in record:
            facts.append((key, str(record[key])))
    for key in ("seeds", "packages", "data_hashes"):
        for k, v in sorted(dict(record.get(key) or {}).items()):
            facts.append((f"{key}.{k}", str(v)))
    rows = "".join(f"<tr><td><code>{html.escape(k)}</code></td><td><code>{html.escape(v)}</code></td></tr>"
                   for k, v in facts)
    job = record.get("forecast")
    job_html = (f"<h3>Forecast job</h3><pre>{html.escape(json.dumps(job, indent=2, sort_keys=True, default=str))}</pre>"
                if job is not None else "")
    config = html.escape(json.dumps(record.get("config", {}), indent=2, sort_keys=True, default=str))
    full = html.escape(json.dumps(record, indent=2, sort_keys=True, default=str))
    return (f'<details id="provenance-details"><summary>Configuration and provenance</summary>'
            f"<table><tbody>{rows}</tbody></table>{job_html}"
            f"<h3>Configuration</h3><pre>{config}</pre>"
            f"<details><summary>Whole manifest (manifest.json)</summary><pre>{full}</pre></details></details>")


def _prior_summary(tables: Mapping[str, pd.DataFrame]) -> str:
    s = tables.get("sensitivity")
    if s is None or s.empty or "prior_driven" not in s.columns:
        return ""
    flagged = s[s["prior_driven"].fillna(False).astype(bool)]
    if flagged.empty:
        return '<p class="note">No sensitivity row is flagged prior-driven.</p>'
    params = sorted(flagged["parameter"].astype(str).unique()) if "parameter" in flagged.columns else []
    outputs = flagged["output"].astype(str).nunique() if "output" in flagged.columns else len(flagged)
    names = ", ".join(f"<code>{html.escape(p)}</code>" for p in params)
    return (f'<p class="note"><b>Prior-driven:</b> {len(flagged)} of {len(s)} sensitivity rows ({outputs} outputs) '
            f"rest on parameters the record did not narrow: {names}.</p>")


def _calibration_html(scores: Mapping | None) -> str:
    if not scores:
        return ('<p class="note"><b>Calibration quality:</b> no scores.json of this posterior (python -m '
                "calibration.scores writes one); how much the fit learned is not stated.</p>")
    return f'<p class="note"><b>Calibration quality.</b> {html.escape(headline_sentence(scores))}</p>'


def _setting_rows(key: str, value: object) -> list[tuple[str, str]]:
    """A scenario's driver settings as (key, setting) rows: mappings by dotted key, a dated list one row per entry."""
    if isinstance(value, Mapping):
        return [row for k, v in value.items() for row in _setting_rows(f"{key}.{k}" if key else str(k), v)]
    if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
        return [(key, ", ".join(f"{k} {v}" for k, v in item.items())) for item in value]
    if isinstance(value, list) and value and all(isinstance(v, list) and len(v) == 2 for v in value):
        return [(key, "; ".join(f"{a}: {b}" for a, b in value) + " (anchors after 2023, linear between)")]
    return [(key, json.dumps(value))]


def _definitions_html(record: Mapping) -> str:
    """Each scenario's rationale and what it changes against the drivers group (``scenario_definitions``)."""
    definitions = record.get("scenario_definitions") or {}
    if not definitions:
        return ""
    parts = ['<h2 id="scenarios">Scenario definitions</h2>',
             "<p>What each scenario changes against the drivers group (configs/drivers), from 2024; everything not "
             "listed follows the drivers group's rules. Behavioural parameters are the same in every scenario.</p>"]
    for name, definition in definitions.items():
        parts.append(f"<h3>{html.escape(str(name))}</h3>")
        for part, rationale in (definition.get("parts") or {}).items():
            parts.append(f'<p class="note"><b>{html.escape(str(part))}</b>: {html.escape(str(rationale))}</p>')
        rows = _setting_rows("", definition.get("drivers") or {})
        parts.append(_table_html(("driver", "setting"), rows) if rows
                     else "<p>No driver changed: the drivers group as it is.</p>")
    return "\n".join(parts)


def html_report(tables_md: Mapping[str, str], tables: Mapping[str, pd.DataFrame], figures: Sequence[Path],
                record: Mapping) -> str:
    """One self-contained HTML page: intro, figures (embedded PNG), tables, and the run's provenance, from the Jinja2
    template ``experiments/templates/report.html`` (autoescaped; the parts built as HTML here are marked safe).

    Args:
        tables_md: Markdown text of each table (by name); rendered in this order.
        tables: the tables themselves; a table without Markdown text is shown as an HTML table (its first
            :data:`MAX_TABLE_ROWS` rows); the sensitivity table's ``prior_driven`` rows are summarised.
        figures: PNG files, embedded as ``data:`` URIs in this order (fan charts first, then comparisons, by name).
        record: the manifest (``code_version, config, seeds, data_hashes, packages, forecast`` ...).

    Returns:
        The HTML text (UTF-8); no external resource, the same inputs give the same text.
    """
    findings = key_findings(tables, record)
    job = record.get("forecast") or {}
    seeds = record.get("seeds") or {}
    labels = list(job.get("labels") or [])
    summary = []
    if labels:
        summary.append(Markup("reference <code>{}</code>; scenarios ").format(labels[0])
                       + Markup(", ").join(Markup("<code>{}</code>").format(lab) for lab in labels[1:]))
    if seeds:
        summary.append(f"{seeds.get('draws', '?')} draws × {seeds.get('seeds', '?')} seeds per scenario, root seed "
                       f"{seeds.get('root_seed', '?')}")
    if job.get("param_source"):
        summary.append(f"parameters: {job['param_source']}")
    if record.get("code_version"):
        summary.append(Markup("code <code>{}</code>").format(record["code_version"]))
    figures = list(figures)
    fans = [p for p in figures if Path(p).name.startswith("fan_")]
    sections = []
    for name, text in tables_md.items():
        # The Markdown's own heading titles the table when it starts with one.
        titled = next((ln for ln in text.splitlines() if ln.strip()), "").lstrip().startswith("#")
        sections.append({"name": name, "titled": titled, "html": Markup(markdown_html(text))})
    sections += [{"name": name, "titled": False, "html": Markup(frame_html(frame))}
                 for name, frame in tables.items() if name not in tables_md]
    page = _TEMPLATES.get_template("report.html").render(
        title="China–US defence ties in Latin America and the Caribbean: forecast 2000–2040", css=Markup(_CSS),
        summary=summary, findings=Markup(markdown_html(findings.split("\n", 1)[1])) if findings else "",
        calibration=Markup(_calibration_html(record.get("calibration_scores"))), intro=Markup(INTRO),
        definitions=Markup(_definitions_html(record)), fans=[Markup(_image_html(p)) for p in fans],
        comparisons=[Markup(_image_html(p)) for p in figures if p not in fans],
        prior_summary=Markup(_prior_summary(tables)), tables=sections, provenance=Markup(_provenance_html(record)))
    return page if page.endswith("\n") else page + "\n"


def write_html(text: str, path: Path) -> Path:
    """Write the report under a temporary name, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
