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
        "hindcast_skill_sipri_trend", "R_by_channel", "reference_priors")


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


def meaning(h: Mapping) -> str:
    """What the scores mean for trust in the forecasts, read from the weakest evidence the scores hold.

    R divides by the prior's score, so a widened prior raises it without the fit learning more; ``scores.json`` also
    holds R with the priors frozen before the input audits widened some (``reference_priors``, issue 16 item 3), and
    the verdict follows the lower of the two. Recovery says whether any single parameter is pinned by a record like
    the real one, and a channel below zero is one whose rows the fit predicts worse than the prior: both are said, not
    averaged away (docs/ODD.md §10.35).
    """
    r = h["R_overall"]
    ref = h.get("reference_priors") or {}
    ref_r = ref.get("R_overall")
    lowest = r if ref_r is None else min(r, ref_r)
    parts = [f"the calibration has learned {_learned(lowest)}"]
    if ref_r is not None:
        low, high = ref["R_overall_interval"]
        parts.append(f"R is {r:.2f} with the priors it was fitted with and {ref_r:.2f} ({low:.2f} to {high:.2f}) with "
                     f"the priors frozen before the input audits widened some ({ref.get('path', 'reference priors')})"
                     + (", so part of R is wider priors, not learning" if ref_r < r else ""))
    if h.get("identified_parameters") == 0:
        parts.append("with no parameter identified, no single parameter is pinned by a record like the real one")
    below = sorted((v, c) for c, v in (h.get("R_by_channel") or {}).items() if v < 0)
    if below:
        parts.append("the fit predicts the " + ", ".join(f"{c} rows (R {v:.2f})" for v, c in below)
                     + " worse than the prior")
    return "; ".join(parts) + "."


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
        f"What this means: {meaning(h)}")
