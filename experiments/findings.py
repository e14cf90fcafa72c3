"""Key findings of a forecast in words and numbers, generated from its tables (the report opens with them).

For every scenario but the reference (its central variant): how many of its declared effects hold and each one's
paired difference and P(declared sign); the paired differences of the comparison table that most surely point one
way (P(higher) against P(lower), not their size); what China's boldness variants of it do to the same effects; then
what rests on judgement (the judgement axes the forecast varies and their share of the main regional series'
variance); warnings (latent links near a bound, main regional series whose variance is mostly prior-driven) and the
calibration's scores with one line on what they mean for trust in the forecast.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from calibration.headline import headline_sentence
from experiments.tables import MAIN_COLUMNS, NOT_TRIPWIRES, column_key, num
from model.schema import REGION

# The differences shown per scenario; the link variables watched for a bound; how close to it counts as at it.
TOP_DIFFERENCES = 5
LINKS = ("us_pressure", "us_leverage", "china_boldness")
NEAR_BOUND = 0.02
# China's red-line levels are the model's own construct (what it would sell), not an outcome an analyst observes.
LATENT_PREFIX = "china_redline"
HOLDS = 0.8


def _effect_line(row: Mapping) -> str:
    years = f"{row['year_start']}" if row["year_start"] == row["year_end"] else f"{row['year_start']}–{row['year_end']}"
    mark = "holds" if row["holds"] else "does not hold"
    prior = "; rests on prior-driven parameters" if row.get("prior_driven") else ""
    return (f"{row['variable']} ({row['iso3']}, {years}) declared {row['sign']}: paired difference "
            f"{num(row['median'])} [{num(row['q05'])}, {num(row['q95'])}], P(declared sign) "
            f"{row['p_declared_sign']:.2f}: {mark}{prior}")


def _difference_line(row: Mapping) -> str:
    return (f"{row['variable']}.{row['partner']}" if isinstance(row.get("partner"), str) and row["partner"]
            else str(row["variable"])) + (
        f" ({row['iso3']}, {row['year']}): mean {num(row['diff_mean'])}, median {num(row['diff_median'])} "
        f"[{num(row['diff_q05'])}, {num(row['diff_q95'])}], P(higher) {row['p_positive']:.2f}, "
        f"P(lower) {row['p_negative']:.2f}")


def largest_differences(comparison: pd.DataFrame, label: str, k: int = TOP_DIFFERENCES) -> pd.DataFrame:
    """The ``k`` comparison rows of ``label`` that most surely point one way (|P(higher) - P(lower)|, then the mean's
    size), one per variable and place, leaving out the scenario drivers and the model's latent states (relationship
    stocks, links, red-line levels)."""
    latent = comparison["variable"].isin(NOT_TRIPWIRES) | comparison["variable"].str.startswith(LATENT_PREFIX)
    rows = comparison[(comparison["scenario"] == label) & ~latent].copy()
    if rows.empty:
        return rows
    rows["_sure"] = (rows["p_positive"] - rows["p_negative"]).abs()
    rows["_size"] = rows["diff_mean"].abs()
    rows = rows.sort_values(["_sure", "_size", "year"], ascending=[False, False, True], kind="mergesort")
    rows = rows.drop_duplicates(["variable", "partner", "iso3"], keep="first")
    return rows[rows["_sure"] > 0].head(k).drop(columns=["_sure", "_size"])


def _variants(effects: pd.DataFrame, label: str) -> list[str]:
    lines = []
    for variant in sorted({s for s in effects["scenario"] if s.startswith(f"{label}@")}):
        rows = effects[effects["scenario"] == variant]
        held = int(rows["holds"].sum())
        lines.append(f"Under the {variant.split('@', 1)[1]} prior for China's boldness, {held} of {len(rows)} declared "
                     "effects hold (" + "; ".join(f"{r.variable} ({r.iso3}) P {r.p_declared_sign:.2f}"
                                                   for r in rows.itertuples()) + ").")
    return lines


def _judgement(tables: Mapping[str, pd.DataFrame], record: Mapping, reference: str) -> list[str]:
    """What rests on judgement: the axes the forecast varied (the manifest's ``judgement_axes``) and their share of the
    variance of the reference's main LAC series in 2030 and 2040 (the forecast table's ``share_judgement``)."""
    info = record.get("judgement_axes") or {}
    axes = list(info.get("axes") or {})
    if not axes:
        return [f"The judgement axes do not vary in this forecast ({info.get('note') or 'no judgement_axes record'}): "
                "its intervals leave out what rests on fixed behavioural parameters."] if info else []
    lines = [f"{len(axes)} fixed behavioural parameters on which the forecasts measurably depend "
             "(python -m experiments.judgement) are judgement axes: each draw takes them uniformly over their "
             "judgement ranges, so the intervals include them." + (f" {info['note']}" if info.get("note") else "")]
    f = tables.get("forecast")
    if f is None or "share_judgement" not in f.columns:
        return lines
    rows = f[(f["scenario"] == reference) & (f["iso3"] == REGION) & f["year"].isin((2030, 2040))]
    rows = rows.assign(column=[column_key(v, p) for v, p in zip(rows["variable"], rows["partner"], strict=True)])
    rows = rows[rows["column"].isin(MAIN_COLUMNS)]
    shares = rows.pivot_table(index="column", columns="year", values="share_judgement", aggfunc="first")
    if shares.empty or shares.isna().all().all():
        return lines
    shares = shares.sort_values(shares.columns[-1], ascending=False, na_position="last")
    lines.append(f"Their share of the variance at LAC in {reference} (2030 / 2040): " + "; ".join(
        f"{v} {_pct(r.get(2030))} / {_pct(r.get(2040))}" for v, r in shares.iterrows()) + ".")
    return lines


def _pct(x: object) -> str:
    return "–" if x is None or pd.isna(x) else f"{100 * float(x):.0f}%"


def _warnings(forecast: pd.DataFrame) -> list[str]:
    lines = []
    region = forecast[forecast["iso3"] == REGION]
    for link in LINKS:
        rows = region[region["variable"] == link]
        if rows.empty:
            continue
        at = rows[(rows["q05"] >= 1 - NEAR_BOUND) | (rows["q95"] <= NEAR_BOUND)]
        if len(at):
            lines.append(f"{link} sits within {NEAR_BOUND} of a bound in 90% of runs in {len(at)} scenario-year(s) "
                         f"(e.g. {at['scenario'].iloc[0]}, {int(at['year'].iloc[0])}): its scenario effects are "
                         "clipped there.")
    main = {c.split(".")[0] for c in MAIN_COLUMNS}
    prior = region[region["variable"].isin(main) & region["prior_driven"].astype(bool)
                   & region["year"].isin((2030, 2040))]
    if len(prior):
        names = sorted(set(prior["variable"]))
        lines.append(f"Prior-driven (at least 30% of the variance from parameters the record did not narrow) in "
                     f"2030 or 2040 at LAC: {', '.join(names)}. Their intervals are judgement more than evidence.")
    return lines


EFFECT_COLUMNS = ("scenario", "variable", "iso3", "year_start", "year_end", "sign", "median", "q05", "q95",
                  "p_declared_sign", "holds", "prior_driven")
COMPARISON_COLUMNS = ("scenario", "iso3", "partner", "variable", "year", "diff_mean", "diff_median", "diff_q05",
                      "diff_q95", "p_positive", "p_negative")
FORECAST_COLUMNS = ("scenario", "iso3", "variable", "year", "q05", "q95", "prior_driven")


def _table(tables: Mapping[str, pd.DataFrame], name: str, columns: tuple[str, ...]) -> pd.DataFrame:
    """The named table if it has the columns the findings read, else an empty one (a partial report still opens)."""
    frame = tables.get(name)
    if frame is None or any(c not in frame.columns for c in columns):
        return pd.DataFrame(columns=list(columns))
    return frame


def key_findings(tables: Mapping[str, pd.DataFrame], record: Mapping) -> str:
    """The key findings as Markdown (the report renders it first; the tables folder keeps it as key_findings.md)."""
    labels = list((record.get("forecast") or {}).get("labels") or [])
    if not labels:
        return ""
    reference = labels[0]
    effects = _table(tables, "scenario_effects", EFFECT_COLUMNS)
    comparison = _table(tables, "comparison", COMPARISON_COLUMNS)
    forecast = _table(tables, "forecast", FORECAST_COLUMNS)
    lines = ["# Key findings", ""]
    scores = record.get("calibration_scores")
    lines += [headline_sentence(scores) if scores else
              "Calibration quality: no scores.json of this posterior, so how much the fit learned is not stated.", ""]
    for label in (x for x in labels[1:] if "@" not in x):
        lines += [f"## {label} against {reference}", ""]
        mine = effects[effects["scenario"] == label] if len(effects) else effects
        if len(mine):
            held = int(mine["holds"].sum())
            lines.append(f"{held} of {len(mine)} declared effects hold (P(declared sign) >= {HOLDS}, paired by draw "
                         "and seed):")
            lines += [f"- {_effect_line(r)}" for r in mine.to_dict("records")]
        else:
            lines.append("No declared effect measured.")
        top = largest_differences(comparison, label) if len(comparison) else comparison
        if len(top):
            lines += ["", "The paired differences that most surely point one way (comparison table, 2030/2035/2040; "
                      "ranked by |P(higher) - P(lower)|, not by size):"]
            lines += [f"- {_difference_line(r)}" for r in top.to_dict("records")]
        else:
            lines += ["", "No main output differs from the reference in any paired run."]
        variants = _variants(effects, label) if len(effects) else []
        if variants:
            lines += ["", *variants]
        lines.append("")
    judged = _judgement(tables, record, reference)
    if judged:
        lines += ["## What rests on judgement", "", *judged, ""]
    warnings = _warnings(forecast) if len(forecast) else []
    if warnings:
        lines += ["## Warnings", "", *(f"- {w}" for w in warnings), ""]
    return "\n".join(lines)
