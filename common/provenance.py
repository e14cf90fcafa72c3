"""What every output records about where it came from, and how outputs are written without half-written files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from model.params import PROJECT_ROOT

PACKAGES = ("mesa", "numpy", "pandas", "scipy", "pyarrow", "hydra-core")


def git_version() -> str:
    """Commit hash of the code, with ``-dirty`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def manifest(config: Mapping, seeds: Mapping, data_hashes: Mapping[str, str]) -> dict:
    """The provenance record written beside every output: config, seeds, code version, data hashes, packages."""
    return {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "code_version": git_version(),
        "config": config,
        "seeds": dict(seeds),
        "data_hashes": dict(data_hashes),
        "packages": {p: metadata.version(p) for p in PACKAGES},
    }


def write_atomically(out_dir: Path, writers: Mapping[str, Callable[[Path], None]]) -> list[Path]:
    """Write every file into a temporary folder beside ``out_dir``, then move each into place.

    A failure (or a kill) before the moves leaves no file in ``out_dir``; the manifest should be the last writer so that
    its presence marks a complete output.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=out_dir))
    try:
        for name, write in writers.items():
            write(tmp / name)
        final = []
        for name in writers:
            os.replace(tmp / name, out_dir / name)
            final.append(out_dir / name)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: Path, payload: Mapping) -> None:
    """JSON with sorted keys and a trailing newline."""
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
