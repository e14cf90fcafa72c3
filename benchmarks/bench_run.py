"""Benchmark of one 2000-2040 run with recording, and of memory over many runs in one process.

Usage: ``make bench`` (or ``python benchmarks/bench_run.py [--runs N] [--memory-runs M]``). Prints a table and writes
``benchmarks/results/latest.json`` with the machine, package versions and code version. A benchmark, not a test: it
measures and reports, it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments.provenance import PACKAGES, git_version  # noqa: E402
from model.data import load_data  # noqa: E402
from model.drivers import build_drivers, load_default_drivers  # noqa: E402
from model.params import load_default_params  # noqa: E402
from model.run import simulate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    """Time runs, measure memory, print the table and write the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300, help="timed runs (median reported; at least 50)")
    parser.add_argument("--memory-runs", type=int, default=5000, help="runs between the two memory readings")
    args = parser.parse_args()
    if args.runs < 50 or args.memory_runs < 100:
        parser.error("--runs must be >= 50 and --memory-runs >= 100")

    data, params = load_data(), load_default_params()
    drivers = build_drivers(data, load_default_drivers())
    for seed in range(30):  # warm caches and the allocator
        simulate(params, data, drivers, 1, seed=seed)

    times = []
    for seed in range(args.runs):
        t0 = time.perf_counter()
        simulate(params, data, drivers, 1, seed=seed)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3

    result = simulate(params, data, drivers, 1)
    tidy_times = []
    for _ in range(20):
        t0 = time.perf_counter()
        result.to_tidy("baseline", "defaults")
        tidy_times.append(time.perf_counter() - t0)

    before = rss_mb()
    for seed in range(args.memory_runs):
        simulate(params, data, drivers, 2, seed=seed)
    growth = (rss_mb() - before) * 10_000 / args.memory_runs

    record = {
        "run_ms_median": round(float(np.median(ms)), 3),
        "run_ms_p10": round(float(np.percentile(ms, 10)), 3),
        "run_ms_p90": round(float(np.percentile(ms, 90)), 3),
        "runs_timed": args.runs,
        "tidy_ms_median": round(float(np.median(tidy_times)) * 1e3, 3),
        "rss_mb_after_warmup": round(before, 1),
        "rss_growth_mb_per_10k_runs": round(growth, 2),
        "memory_runs": args.memory_runs,
        "years_per_run": int(len(drivers.years)),
        "states": len(data.iso3),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "packages": {p: __import__("importlib.metadata").metadata.version(p) for p in PACKAGES},
        "code_version": git_version(),
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(RESULTS)

    rows = [("one 2000-2040 run with recording, median ms", record["run_ms_median"]),
            ("  p10 / p90 ms", f"{record['run_ms_p10']} / {record['run_ms_p90']}"),
            ("tidy frame of one run, median ms", record["tidy_ms_median"]),
            ("resident memory growth, MB per 10,000 runs", record["rss_growth_mb_per_10k_runs"])]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
