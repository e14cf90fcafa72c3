"""Results do not move unless meant to: fixed-seed totals against tests/baseline.json.

Refresh the baseline only with ``python benchmarks/make_regression_baseline.py`` when a change is meant to alter
results (say so in the commit). Counts compare exactly; continuous totals to 1e-9 relative (summation order only).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from make_regression_baseline import BASELINE, summary  # noqa: E402

COUNTS = ("delegations", "delegation_tour", "officers_training", "forum_attends", "port_call", "exercise",
          "china_arms_deal_signed", "china_arms_deal_signed_major", "china_arms_deal_failed", "china_arms_deal_vetoed",
          "china_arms_donation", "china_coproduction_deal", "space_project", "space_ground_station",
          "surveillance_level", "recognises_beijing", "arms_deals_signed", "surveillance_adopters")


def test_fixed_seed_results_match_the_baseline():
    expected = json.loads(BASELINE.read_text(encoding="utf-8"))
    got = summary()
    assert set(got) == set(expected)
    for key, value in expected.items():
        if key.split("/")[1] in COUNTS:
            assert got[key] == value, key
        else:
            assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key
