"""``python -m calibration.trajectories PREDICTIVE_PARQUET OUT_DIR``: calibrated trajectories against the record.

One PNG per channel that has fit observations: the regional (``iso3 = LAC``) series of the channel's main variables
over 2000-2023, as the median with 50% and 90% bands across every draw and seed of a posterior predictive (written by
:mod:`calibration.predictive`, tidy schema of :mod:`model.schema`). Observations of ``data/observations.csv`` are
overlaid where they can be read off the plotted series: a one-year ``sum`` of the plotted variable and place is a
marker with its tolerance (drawn on the side the relation bounds, as the rule of ``data/OBSERVATIONS.md`` §1 adds it);
a ``sum`` over several years is written in the panel's text box beside the simulated total over the same window.

Bands are quantiles per year over runs, taken after summing within each run whatever a panel adds up (partners of
``arms_imports_tiv``): a sum of quantiles is not a quantile of the sum.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from calibration.observations import load_observations
from model.data import HIST_END, HIST_START, DataError
from model.schema import COLUMNS, REGION

QUANTILES = {"q05": 0.05, "q25": 0.25, "q50": 0.50, "q75": 0.75, "q95": 0.95}
RUN = ["draw", "seed"]
EXIT_BAD_INPUT = 2
DPI = 120


@dataclass(frozen=True, slots=True)
class Panel:
    """One plotted series: every row of ``variable`` at ``iso3`` (summed over partners within a run)."""

    variable: str
    label: str
    iso3: str = REGION


# The channels' main series. Counts of 0/1 state variables read as "states ..." on the LAC row, which sums them.
# Industrial has fit rows too, but only Argentine co-production deals, with no regional series worth a figure.
PANELS: dict[str, tuple[Panel, ...]] = {
    "delegations": (Panel("delegations", "PLA delegation visits"),),
    "training": (Panel("officers_training", "states sending officers to the PLA"),),
    "forums": (Panel("forum_attends", "forum participants (states)"),),
    "port_calls": (Panel("port_call", "states visited by PLA Navy ships"),),
    "exercises": (Panel("exercise", "states exercising with the PLA"),),
    "arms": (Panel("china_arms_delivered_tiv", "Chinese arms delivered (TIV m)"),
             Panel("arms_imports_tiv", "arms imports, all suppliers (TIV m)")),
    "aid": (Panel("china_aid_usd_m", "Chinese military aid (US$ m 2022)"),),
    "space": (Panel("space_project", "new space projects with China"),),
    "surveillance": (Panel("surveillance_adopters", "states with a Chinese system"),
                     Panel("surveillance_cameras", "cameras in Chinese systems", "ECU")),
}
PLOTTED_VARIABLES = sorted({p.variable for panels in PANELS.values() for p in panels})
PLOTTED_PLACES = sorted({p.iso3 for panels in PANELS.values() for p in panels})
_RELATION_TEXT = {"eq": "", "ge": "≥ ", "le": "≤ "}


def bands(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-year quantiles of a series across runs.

    Args:
        frame: rows with columns ``draw, seed, year, value``; several rows of one run and year (partners, states) are
            summed first, so that each run contributes one value per year.

    Returns:
        One row per year with columns ``year, q05, q25, q50, q75, q95`` (linear interpolation between runs).
    """
    per_run = frame.groupby([*RUN, "year"], observed=True)["value"].sum()
    q = per_run.groupby(level="year").quantile(list(QUANTILES.values())).unstack()
    q.columns = list(QUANTILES)
    return q.reset_index()


def window_total(frame: pd.DataFrame, start: int, end: int) -> tuple[float, float, float] | None:
    """The 5%, 50% and 95% quantiles across runs of the series summed over ``start..end``.

    Args:
        frame: rows with columns ``draw, seed, year, value``.
        start: first year of the window.
        end: last year of the window.

    Returns:
        ``(q05, q50, q95)``, or ``None`` when some year of the window was not simulated (a partial total would
        understate it).
    """
    inside = frame[frame["year"].between(start, end)]
    if set(range(start, end + 1)) - set(inside["year"].unique()):
        return None
    totals = inside.groupby(RUN, observed=True)["value"].sum().to_numpy()
    q05, q50, q95 = np.quantile(totals, [0.05, 0.50, 0.95])
    return float(q05), float(q50), float(q95)


def panel_observations(observations: pd.DataFrame, panel: Panel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The fit observations that can be read off a panel's series.

    Args:
        observations: the frame of :func:`calibration.observations.load_observations`.
        panel: the plotted series.

    Returns:
        ``(one_year, several_years)``: fit rows with statistic ``sum`` of the panel's variable at the panel's place,
        split by whether their window is a single year (a marker) or longer (a window total in the text box).
    """
    rows = observations[(observations["use"] == "fit") & (observations["statistic"] == "sum")
                        & (observations["variable"] == panel.variable) & (observations["iso3"] == panel.iso3)]
    single = rows["year_start"] == rows["year_end"]
    return rows[single], rows[~single]


def plot_trajectories(predictive: pd.DataFrame, observations: pd.DataFrame, out_dir: Path,
                      last_year: int = HIST_END) -> list[Path]:
    """Write one trajectory figure per channel with fit observations.

    Args:
        predictive: a posterior predictive (or any simulation) in the tidy schema (one ``scenario`` and one
            ``param_source``); years outside 2000-``last_year`` are ignored.
        observations: the frame of :func:`calibration.observations.load_observations`.
        out_dir: folder for the figures (created if missing).
        last_year: the last year drawn (2023, the record, by default; 2040 shows a whole simulation).

    Returns:
        The written paths ``out_dir / f"trajectory_{channel}.png"``, in the order of :data:`PANELS`.

    Raises:
        ValueError: the frame lacks a schema column, mixes scenarios or parameter sources, or has no rows for a
            plotted series in 2000-``last_year``; checked before anything is written.
    """
    missing = [c for c in COLUMNS if c not in predictive.columns]
    if missing:
        raise ValueError(f"predictive lacks column(s) {', '.join(missing)}; expected columns {', '.join(COLUMNS)}")
    for col in ("scenario", "param_source"):
        labels = predictive[col].astype(str).unique()
        if len(labels) != 1:
            raise ValueError(f"predictive has {len(labels)} values of {col} ({', '.join(labels)}); expected one")
    fit_channels = set(observations.loc[observations["use"] == "fit", "channel"].astype(str))
    channels = [c for c in PANELS if c in fit_channels]
    history = predictive[predictive["year"].between(HIST_START, last_year)]
    # Select every series up front, so that a frame lacking one fails before any figure is written.
    series = {}
    for channel in channels:
        for panel in PANELS[channel]:
            rows = history[(history["variable"] == panel.variable) & (history["iso3"] == panel.iso3)]
            if rows.empty:
                raise ValueError(f"predictive has no rows of {panel.variable} at {panel.iso3} in "
                                 f"{HIST_START}-{last_year}; expected a predictive written by calibration.predictive")
            series[panel] = rows[[*RUN, "year", "value"]]

    source = str(predictive["param_source"].iloc[0])
    runs = f"{predictive['draw'].nunique()} draws × {predictive['seed'].nunique()} seeds"
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for channel in channels:
        # A bare Figure on an Agg canvas, not pyplot: no display is needed and no global figure registry keeps
        # the figures alive after they are saved.
        fig = Figure(figsize=(11, 3.8 * len(PANELS[channel]) + 0.8))
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(PANELS[channel]), 1, sharex=True, squeeze=False)
        for ax, panel in zip(axes[:, 0], PANELS[channel], strict=True):
            _draw_panel(ax, panel, series[panel], *panel_observations(observations, panel))
            ax.set_xlim(HIST_START - 0.5, last_year + 0.5)
        axes[-1, 0].set_xlabel("year")
        fig.suptitle(f"{channel}: simulated trajectories {HIST_START}–{last_year}\n"
                     f"parameters: {source}; {runs}")
        fig.tight_layout()
        path = out_dir / f"trajectory_{channel}.png"
        fig.savefig(path, dpi=DPI)
        paths.append(path)
    return paths


def _draw_panel(ax: Axes, panel: Panel, series: pd.DataFrame, one_year: pd.DataFrame,
                several_years: pd.DataFrame) -> None:
    """Bands and median of one series, its one-year observations as markers, window totals in a text box."""
    b = bands(series)
    ax.fill_between(b["year"], b["q05"], b["q95"], color="tab:blue", alpha=0.18, lw=0, label="90% band")
    ax.fill_between(b["year"], b["q25"], b["q75"], color="tab:blue", alpha=0.38, lw=0, label="50% band")
    ax.plot(b["year"], b["q50"], color="tab:blue", lw=1.8, label="median")
    for obs in one_year.itertuples(index=False):
        draw_observation(ax, obs)
    lines = []
    for obs in several_years.itertuples(index=False):
        total = window_total(series, obs.year_start, obs.year_end)
        simulated = ("window not wholly simulated" if total is None
                     else f"median {total[1]:.4g}, 90% interval {total[0]:.4g}–{total[2]:.4g}")
        tolerance = f", tolerance {obs.tolerance:g}" if obs.tolerance else ""
        lines.append(f"observed: {observed_text(obs)} over {obs.year_start}–{obs.year_end}{tolerance} ({obs.id})\n"
                     f"simulated total: {simulated}")
    if lines:
        ax.text(0.01, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", ha="left", fontsize=8,
                bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.6"})
    ax.set_title(f"{panel.variable} ({panel.iso3})", fontsize=10)
    ax.set_ylabel(panel.label)
    # Headroom above the data for the text box, which sits at the top of the panel.
    ax.set_ylim(0, ax.get_ylim()[1] * (1.3 if lines else 1.0))
    ax.grid(alpha=0.3)
    # Outside the axes, so that the legend never hides a band or a marker.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)


def draw_observation(ax: Axes, obs: tuple) -> None:
    """A one-year observation: the value (range midpoint for ``between``) with its tolerance as an error bar.

    The tolerance lies on the side the relation bounds (data/OBSERVATIONS.md §1): both sides for ``eq`` and
    ``between``, below a ``ge`` (upward caret), above a ``le`` (downward caret).
    """
    tol = obs.tolerance
    if obs.relation == "between":
        y = (obs.value_low + obs.value_high) / 2
        below, above, marker = y - obs.value_low + tol, obs.value_high - y + tol, "D"
    else:
        y = obs.value
        below, above, marker = {"eq": (tol, tol, "o"), "ge": (tol, 0.0, "^"), "le": (0.0, tol, "v")}[obs.relation]
    label = {"o": "observed ± tolerance", "^": "observed lower bound", "v": "observed upper bound",
             "D": "observed range"}[marker]
    # One legend entry per kind of marker, however many observations share it.
    if label in ax.get_legend_handles_labels()[1]:
        label = None
    ax.errorbar([obs.year_start], [y], yerr=[[below], [above]], fmt=marker, color="tab:red", ms=7, capsize=4,
                zorder=5, label=label)


def observed_text(obs: tuple) -> str:
    """The observed relation and value, e.g. ``≥ 200`` or ``5–7``."""
    if obs.relation == "between":
        return f"{obs.value_low:g}–{obs.value_high:g}"
    return f"{_RELATION_TEXT[obs.relation]}{obs.value:g}"


def read_predictive(path: Path) -> pd.DataFrame:
    """The plotted rows of a predictive Parquet file.

    Only the plotted variables and places are read: a predictive of many draws holds every state and variable, and
    reading it whole would cost far more memory than the figures need.

    Args:
        path: a Parquet file in the tidy schema.

    Returns:
        Its rows of :data:`PLOTTED_VARIABLES` at :data:`PLOTTED_PLACES`, columns :data:`model.schema.COLUMNS`.

    Raises:
        ValueError: the file is missing, unreadable or lacks a schema column; one line naming the file.
    """
    expected = f"expected a posterior predictive Parquet file with columns {', '.join(COLUMNS)}"
    if not path.is_file():
        raise ValueError(f"{path}: not found; {expected}")
    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({_first_line(exc)}); {expected}") from None
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ValueError(f"{path}: lacks column(s) {', '.join(missing)}; {expected}")
    try:
        return pd.read_parquet(path, columns=list(COLUMNS), filters=[("variable", "in", PLOTTED_VARIABLES),
                                                                      ("iso3", "in", PLOTTED_PLACES)])
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable Parquet file ({_first_line(exc)}); {expected}") from None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def main(argv: list[str] | None = None) -> None:
    """Command line: read the predictive and the observations, write the figures, print each path.

    Args:
        argv: the arguments (``None``: the process's command line).
    """
    parser = argparse.ArgumentParser(prog="python -m calibration.trajectories", description=__doc__.splitlines()[0])
    parser.add_argument("predictive", type=Path, help="posterior_predictive.parquet (tidy schema)")
    parser.add_argument("out_dir", type=Path, help="folder for trajectory_<channel>.png")
    args = parser.parse_args(argv)
    try:
        predictive = read_predictive(args.predictive)
        observations = load_observations()
        paths = plot_trajectories(predictive, observations, args.out_dir)
    except (ValueError, DataError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    for path in paths:
        print(path)


if __name__ == "__main__":
    main()
