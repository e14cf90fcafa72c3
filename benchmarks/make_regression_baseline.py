"""Refresh tests/baseline.json: totals of every output variable of fixed-seed runs with the default parameters.

Run only when a change is meant to alter the model's results (say why in the commit); tests/test_regression.py then
compares every later run with it, integers exactly and floats to 1e-9 relative.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.data import load_data
from model.drivers import build_drivers, load_default_drivers
from model.params import load_default_params
from model.run import simulate
from model.schema import REGION_VARIABLES, STATE_VARIABLES

BASELINE = Path(__file__).resolve().parent.parent / "tests" / "baseline.json"
SEEDS = (0, 1, 2)
ROOT_SEED = 424242


def summary() -> dict[str, float]:
    """Per seed, the sum over years and states of every state variable and over years of every region variable."""
    data, params = load_data(), load_default_params()
    drivers = build_drivers(data, load_default_drivers())
    out = {}
    for seed in SEEDS:
        run = simulate(params, data, drivers, ROOT_SEED, seed=seed)
        for k, v in enumerate(STATE_VARIABLES):
            out[f"{seed}/{v.name}/{v.partner.value}"] = float(run.states[:, :, k].sum())
        for k, v in enumerate(REGION_VARIABLES):
            out[f"{seed}/{v.name}"] = float(run.region[:, k].sum())
    return out


if __name__ == "__main__":
    BASELINE.write_text(json.dumps(summary(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"written: {BASELINE}")
