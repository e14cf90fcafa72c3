"""The calibration's scores in one paragraph, for every report that rests on a posterior.

``python -m calibration.scores`` writes ``scores.json`` beside the posterior it scored; :func:`load_headline` reads it
back for the posterior a report uses (only if it scored that very file), and :func:`headline_sentence` says what it
means for trust in the forecasts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

KEYS = ("posterior", "R_overall", "R_overall_interval", "R_brier", "R_crps", "R_sipri", "R_paired", "R_min_channel",
        "n_rows_scored", "n_tautological", "coverage90_numeric", "coverage90_numeric_n", "coverage90_sipri",
        "coverage90_sipri_n", "pit_mean_numeric", "identified_parameters", "recovery", "recovery_coverage",
        "hindcast_skill_counts_persistence", "hindcast_skill_counts_trend", "hindcast_skill_sipri_persistence",
        "hindcast_skill_sipri_trend")


def load_headline(posterior_path: Path, source: str) -> dict | None:
    """The headline keys of ``scores.json`` beside the posterior, if it scored this posterior (``source`` label)."""
    path = posterior_path.parent / "scores.json"
    if not path.is_file():
        return None
    scores = json.loads(path.read_text(encoding="utf-8"))
    if scores.get("posterior") != source:
        return None
    return {k: scores.get(k) for k in KEYS}


def _learned(r: float) -> str:
    if r < 0.25:
        return ("little of what knowing the parameters would teach: the forecasts rest mostly on the priors and the "
                "model's structure, so read their intervals as judgement more than as evidence")
    if r < 0.5:
        return "part of what knowing the parameters would teach: the priors still carry much of the forecasts"
    return "most of what knowing the parameters would teach"


def headline_sentence(h: Mapping) -> str:
    """One paragraph: R with its interval and parts, calibration of the predictive, recovery, hindcast, meaning."""
    low, high = h["R_overall_interval"]
    rec = h.get("recovery") or {}
    return (
        f"Calibration scores ({h['posterior']}, calibration/posterior/scores.md): the fit closes R = "
        f"{h['R_overall']:.2f} (90% interval {low:.2f} to {high:.2f}) of the way from the prior to an oracle that "
        f"knows the parameters, over {h['n_rows_scored']} scored rows ({h['R_brier']:.2f} on events, patterns and "
        f"bounds; {h['R_crps']:.2f} on counts, levels and SIPRI totals, {h['R_sipri']:.2f} on the SIPRI totals alone; "
        f"{h['R_paired']:.2f} measured only against what the parameters can teach). The posterior predictive's 90% "
        f"intervals hold {h['coverage90_numeric']:.0%} of {h['coverage90_numeric_n']} numeric observations (mean PIT "
        f"{h['pit_mean_numeric']:.2f}: 0.5 is unbiased, above it the model runs low) and {h['coverage90_sipri']:.0%} "
        f"of {h['coverage90_sipri_n']} SIPRI totals. Parameter recovery identifies {h['identified_parameters']} of "
        f"{rec.get('parameters', '?')} parameters. Hindcast (fit to 2015, scored 2016-2023) CRPS skill: "
        f"{h['hindcast_skill_counts_persistence']:+.0%} against persistence and "
        f"{h['hindcast_skill_counts_trend']:+.0%} against trend on counts, "
        f"{h['hindcast_skill_sipri_persistence']:+.0%} and {h['hindcast_skill_sipri_trend']:+.0%} on SIPRI totals. "
        f"What this means: the calibration has learned {_learned(h['R_overall'])}.")
