"""calibration.compare: two parameter sources side by side, paired by seed, against the record."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from common.cli import CONFIG_DIR

ROOT = CONFIG_DIR.parent


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "calibration.compare", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


@pytest.mark.slow
def test_the_same_parameters_from_two_files_give_the_same_fans(tmp_path):
    """Seed k of draw i uses the same streams in both sources: equal parameters give equal trajectories."""
    particle = {"arms.beta_lockin": [2.0], "forums.peer": [1.5]}
    pd.DataFrame({"weight": [1.0], **particle}).to_parquet(tmp_path / "one.parquet", index=False)
    pd.DataFrame({"weight": [2.0], **particle}).to_parquet(tmp_path / "two.parquet", index=False)
    done = _run(f"compare.a={tmp_path / 'one.parquet'}", f"compare.b={tmp_path / 'two.parquet'}", "compare.draws=2",
                "compare.seeds=2", f"compare.out_dir={tmp_path / 'out'}")
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_parquet(tmp_path / "out" / "compare.parquet")
    a, b = (g.drop(columns="source").reset_index(drop=True) for _, g in table.groupby("source", sort=False))
    assert table["source"].nunique() == 2 and len(a) > 0
    pd.testing.assert_frame_equal(a, b)
    assert len(list((tmp_path / "out").glob("compare_*.png"))) >= 8


@pytest.mark.slow
def test_prior_against_the_shipped_posterior(tmp_path):
    done = _run("compare.draws=3", "compare.seeds=2", f"compare.out_dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    table = pd.read_parquet(tmp_path / "compare.parquet")
    assert table["source"].iloc[0] == "prior" and table["source"].str.startswith("posterior:").any()
    assert set(table["year"]) == set(range(2000, 2024))
    assert (tmp_path / "compare_forums.png").is_file() and (tmp_path / "compare_manifest.json").is_file()


@pytest.mark.parametrize(("args", "says"), [
    (["compare.b=prior"], "compare.b: 'prior' is compare.a too"),
    (["compare.b=/nonexistent/posterior.parquet"], "posterior: /nonexistent/posterior.parquet not found"),
    (["compare.draws=0"], "compare.draws"),
    (["compare.last_year=2050"], "compare.last_year"),
])
def test_bad_settings_are_one_line(args, says, tmp_path):
    done = _run(*args, f"compare.out_dir={tmp_path / 'out'}")
    assert done.returncode == 2
    lines = [ln for ln in done.stderr.strip().splitlines() if not ln.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr
    assert not (tmp_path / "out").exists()
