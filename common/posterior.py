"""A fitted posterior file as every entry point reads it: the weighted particles, their label, and a warning when the
data have changed since the fit. Here, not in ``calibration``, so that the forecast reads a posterior without importing
the fitting machinery (pyabc and scikit-learn: 2.9 of the 4.4 s the forecast command took to import)."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from model.params import PROJECT_ROOT, ConfigError


def default_prior_driven_path(settings: Any) -> Path:
    """``prior_driven.csv`` beside the posterior file (calibration/posterior for ``posterior: defaults``)."""
    post = str(getattr(settings, "posterior", "defaults"))
    base = Path("calibration/posterior/posterior.parquet") if post == "defaults" else Path(post)
    base = base if base.is_absolute() else PROJECT_ROOT / base
    return base.parent / "prior_driven.csv"


def warn_if_data_changed(path: Path, hashes: dict[str, str]) -> list[str]:
    """Files whose hash differs from the one recorded in the manifest beside ``path`` (a warning, not an error)."""
    record = path.parent / "manifest.json"
    if not record.is_file():
        print(f"warning: {path} has no manifest.json beside it; its data provenance is unknown", file=sys.stderr)
        return []
    recorded = json.loads(record.read_text(encoding="utf-8")).get("data_hashes", {})
    changed = sorted(k for k in recorded.keys() & hashes.keys() if recorded[k] != hashes[k])
    if changed:
        print(f"warning: {path} was fitted to other data: {', '.join(changed)} changed since", file=sys.stderr)
    return changed


def load_posterior(path: Path) -> tuple[pd.DataFrame, str]:
    """The weighted particles and the ``posterior:<short hash>`` label; one-line errors for a missing or bad file."""
    if not path.is_file():
        raise ConfigError(f"posterior: {path} not found; allowed: a posterior.parquet "
                          "written by python -m calibration.fit")
    try:
        frame = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"posterior: {path} is not a readable Parquet file ({exc})") from None
    if "weight" not in frame.columns or len(frame) == 0 or not np.isfinite(frame.to_numpy(dtype=float)).all():
        raise ConfigError(f"posterior: {path} lacks a finite 'weight' column and particles")
    return frame, "posterior:" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]
