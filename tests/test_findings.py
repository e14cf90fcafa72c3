"""The report's key findings: generated from the tables, in words and numbers, warnings included."""

from __future__ import annotations

import pandas as pd

from experiments.findings import key_findings, largest_differences
from experiments.report import html_report

RECORD = {"forecast": {"labels": ["baseline", "tension", "tension@bold"]}}


def _effects() -> pd.DataFrame:
    rows = [("tension", "us_pressure", "LAC", 2030, 2030, "+", 0.07, 0.03, 0.1, 1.0, True, False),
            ("tension", "forum_attends.CHN", "LAC", 2024, 2040, "-", -1.0, -10.0, 0.0, 0.66, False, True),
            ("tension@bold", "us_pressure", "LAC", 2030, 2030, "+", 0.08, 0.04, 0.1, 1.0, True, False),
            ("tension@bold", "forum_attends.CHN", "LAC", 2024, 2040, "-", -3.0, -12.0, 0.0, 0.85, True, True)]
    return pd.DataFrame(rows, columns=["scenario", "variable", "iso3", "year_start", "year_end", "sign", "median",
                                       "q05", "q95", "p_declared_sign", "holds", "prior_driven"])


def _comparison() -> pd.DataFrame:
    rows = [("tension", "LAC", "CHN", "exercise", 2030, 2.0, 1.0, 0.0, 5.0, 0.7, 0.1),
            ("tension", "LAC", "CHN", "exercise", 2040, 3.0, 2.0, 0.0, 6.0, 0.9, 0.0),
            ("tension", "BRA", "CHN", "forum_attends", 2030, -0.2, 0.0, -1.0, 0.0, 0.0, 0.2),
            ("tension", "LAC", "", "us_pressure", 2030, 0.07, 0.07, 0.03, 0.1, 1.0, 0.0),
            ("tension", "LAC", "CHN", "china_redline_light", 2030, 0.01, 0.01, 0.0, 0.02, 1.0, 0.0),
            ("tension", "ARG", "CHN", "delegations", 2030, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)]
    return pd.DataFrame(rows, columns=["scenario", "iso3", "partner", "variable", "year", "diff_mean", "diff_median",
                                       "diff_q05", "diff_q95", "p_positive", "p_negative"])


def _forecast() -> pd.DataFrame:
    rows = [("tension", "LAC", "us_pressure", 2030, 0.985, 0.99, 0.999, False),
            ("tension", "LAC", "forum_attends", 2030, 20.0, 24.0, 28.0, True),
            ("baseline", "LAC", "china_boldness", 2030, 0.3, 0.5, 0.7, False)]
    return pd.DataFrame(rows, columns=["scenario", "iso3", "variable", "year", "q05", "median", "q95", "prior_driven"])


def test_findings_state_effects_differences_variants_and_warnings():
    tables = {"scenario_effects": _effects(), "comparison": _comparison(), "forecast": _forecast()}
    text = key_findings(tables, RECORD)
    assert text.startswith("# Key findings") and "no scores.json" in text
    assert "## tension against baseline" in text and "## tension@bold" not in text
    assert "1 of 2 declared effects hold" in text
    assert "forum_attends.CHN (LAC, 2024–2040) declared -: paired difference -1 [-10, 0], P(declared sign) 0.66: " \
           "does not hold; rests on prior-driven parameters" in text
    assert "Under the bold prior for China's boldness, 2 of 2 declared effects hold" in text
    # Ranked by how surely a difference points one way; one row per variable and place; drivers, latent states and
    # differences that are nil in every pair left out.
    top = largest_differences(_comparison(), "tension")
    assert list(zip(top["variable"], top["year"], strict=True)) == [("exercise", 2040), ("forum_attends", 2030)]
    assert "- exercise.CHN (LAC, 2040): mean 3, median 2 [0, 6], P(higher) 0.90, P(lower) 0.00" in text
    assert "us_pressure sits within 0.02 of a bound in 90% of runs in 1 scenario-year(s) (e.g. tension, 2030)" in text
    assert "Prior-driven" in text and "forum_attends" in text


def test_the_report_opens_with_the_findings():
    tables = {"scenario_effects": _effects(), "comparison": _comparison(), "forecast": _forecast()}
    page = html_report({}, tables, [], RECORD)
    assert page.index('<h2 id="findings">Key findings</h2>') < page.index('<h2 id="reading">')
    assert "1 of 2 declared effects hold" in page
    assert key_findings({}, {}) == ""


def test_findings_say_what_rests_on_judgement():
    rows = [("baseline", "LAC", "CHN", "surveillance_level", 2030, 0.61), ("baseline", "LAC", "CHN",
            "surveillance_level", 2040, 0.68), ("baseline", "LAC", "", "alignment", 2040, 0.05),
            ("baseline", "LAC", "CHN", "surveillance_adopters", 2040, 0.6),
            ("tension", "LAC", "CHN", "surveillance_level", 2040, 0.9), ("baseline", "BRA", "CHN",
            "surveillance_level", 2040, 0.9)]
    forecast = pd.DataFrame(rows, columns=["scenario", "iso3", "partner", "variable", "year", "share_judgement"])
    record = {**RECORD, "judgement_axes": {"axes": {"a.b": {}, "c.d": {}}, "note": ""}}
    text = key_findings({"forecast": forecast}, record)
    assert "## What rests on judgement" in text and "2 fixed behavioural parameters" in text
    # The reference's LAC row only, the largest 2040 share first, a missing year as a dash.
    assert ("(2030 / 2040): surveillance_level.CHN 61% / 68%; surveillance_adopters – / 60%; alignment – / 5%."
            in text)
    fixed = key_findings({"forecast": forecast}, {**RECORD, "judgement_axes": {"axes": {}, "note": "why not"}})
    assert "The judgement axes do not vary in this forecast (why not)" in fixed
    assert "judgement" not in key_findings({"forecast": forecast}, RECORD)
