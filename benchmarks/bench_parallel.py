"""Throughput of 2000-2040 runs on worker processes: a spawn process pool and a Dask ``LocalCluster``.

Each task is a batch of runs (seeds of the shipped parameters and baseline drivers); every worker loads the data and
builds the drivers once (pool: the initializer; Dask: ``client.run`` on every worker before timing). The pool's
workers keep the memory their batches free, as the pools that run the model's batches in the jobs do
(``experiments.executor``, ``calibration.batching``: :func:`common.memory.keep_freed_memory`); Dask's workers do not,
as in the jobs (docs/ODD.md §10.43). A task returns
only a count and a checksum, so the rate is that of the model and the scheduling, without moving records back (the
forecast benchmark measures the full path, Parquet parts included). Timing starts once every worker has loaded the
data and run a warm-up batch; it ends when the last batch is back. The checksums of every executor must agree.

Usage: ``python benchmarks/bench_parallel.py [--runs N] [--batch B]``; ``bench_run.py`` calls :func:`measure`.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_CACHE: dict = {}
ROOT_SEED = 7
SEEDS_PER_DRAW = 4


def setup() -> int:
    """Load the data, parameters and drivers into this process once; returns the process id."""
    if not _CACHE:
        from model.data import load_data
        from model.drivers import build_drivers, load_default_drivers
        from model.params import load_default_params

        data = load_data()
        _CACHE.update(data=data, params=load_default_params(), drivers=build_drivers(data, load_default_drivers()))
    return os.getpid()


def setup_pool_worker() -> int:
    """A pool worker as the jobs start theirs: the memory policy, then :func:`setup`."""
    from common.memory import keep_freed_memory

    keep_freed_memory()
    return setup()


def run_runs(start: int, count: int) -> tuple[int, float, int]:
    """Runs ``start .. start+count-1`` (draw = i // 4, seed = i % 4) as one batch: (runs, checksum, process id)."""
    from model.run import simulate_batch

    setup()
    c = _CACHE
    keys = range(start, start + count)
    runs = simulate_batch(c["params"], c["data"], c["drivers"], ROOT_SEED, draws=[i // SEEDS_PER_DRAW for i in keys],
                          seeds=[i % SEEDS_PER_DRAW for i in keys])
    return count, sum(float(r.states[-1].sum()) for r in runs), os.getpid()


def batched_times(replicas: int, repeats: int) -> list[float]:
    """Wall ms a run of ``repeats + 1`` batches of ``replicas`` seeds of draw 0, root seed 1 (the first batch warms
    up): ``bench_run``'s batched run, in a worker set up by :func:`setup_pool_worker`."""
    from model.run import simulate_batch

    setup()
    c, out = _CACHE, []
    for rep in range(repeats + 1):
        t0 = time.perf_counter()
        simulate_batch(c["params"], c["data"], c["drivers"], 1, draws=0,
                       seeds=list(range(rep * replicas, (rep + 1) * replicas)))
        out.append((time.perf_counter() - t0) * 1e3 / replicas)
    return out


def _tasks(runs: int, batch: int) -> list[tuple[int, int]]:
    return [(s, min(batch, runs - s)) for s in range(0, runs, batch)]


def pool_rate(workers: int, runs: int, batch: int, warmup: int = 10) -> dict:
    """Runs per second on a spawn ProcessPoolExecutor of ``workers`` processes."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=setup_pool_worker) as pool:
        pids: set[int] = set()
        for _ in range(20):  # until every worker has started, loaded the data and run a warm-up batch
            pids |= {f.result()[2] for f in [pool.submit(run_runs, 10**6, warmup) for _ in range(workers)]}
            if len(pids) >= workers:
                break
        t0 = time.perf_counter()
        results = [f.result() for f in [pool.submit(run_runs, s, c) for s, c in _tasks(runs, batch)]]
        wall = time.perf_counter() - t0
    return _summary(results, wall, workers, len(pids))


def dask_rate(workers: int, runs: int, batch: int, warmup: int = 10) -> dict:
    """Runs per second on a Dask LocalCluster (processes, one thread per worker)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        pids = set(client.run(setup).values())
        client.gather(client.map(run_runs, [10**6] * workers, [warmup] * workers, pure=False))
        starts, counts = zip(*_tasks(runs, batch), strict=True)
        t0 = time.perf_counter()
        results = client.gather(client.map(run_runs, starts, counts, pure=False))
        wall = time.perf_counter() - t0
    return _summary(results, wall, workers, len(pids))


def _summary(results: list[tuple[int, float, int]], wall: float, workers: int, started: int) -> dict:
    done = sum(r[0] for r in results)
    return {"runs": done, "wall_s": round(wall, 3), "runs_per_s": round(done / wall, 1), "workers": workers,
            "workers_used": len({r[2] for r in results}), "workers_started": started,
            "checksum": round(sum(r[1] for r in results), 6)}


def measure(runs: int = 2000, batch: int = 50, log=print) -> dict:
    """Pool and Dask rates on 1 and 2 workers, with the speed-ups and a check that every executor gave the same runs."""
    # Worker processes must import the project and this module (``benchmarks.bench_parallel``).
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    out: dict = {}
    for name, fn in (("pool", pool_rate), ("dask", dask_rate)):
        for w in (1, 2):
            try:
                r = fn(w, runs, batch)
            except Exception as exc:  # a benchmark reports what failed instead of stopping the others
                r = {"error": f"{type(exc).__name__}: {exc}"}
            out[f"{name}_{w}"] = r
            log(f"  throughput: {name} x {w}: " + (f"{r['runs_per_s']} runs/s ({r['runs']} runs in {r['wall_s']} s, "
                                                    f"batches of {batch})" if "error" not in r else r["error"]))
    rate = {k: v.get("runs_per_s") for k, v in out.items()}
    sums = {v["checksum"] for v in out.values() if "checksum" in v}

    def ratio(a, b):
        return round(a / b, 3) if a and b else None

    return {
        "runs_per_s_1_worker": rate["pool_1"], "runs_per_s_2_workers": rate["pool_2"],
        "pool_speedup_2_workers": ratio(rate["pool_2"], rate["pool_1"]),
        "dask_runs_per_s_1_worker": rate["dask_1"], "dask_runs_per_s_2_workers": rate["dask_2"],
        "dask_speedup_2_workers": ratio(rate["dask_2"], rate["dask_1"]),
        "throughput": {"runs": runs, "batch": batch, "checksums_agree": len(sums) == 1, **out},
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="runs per executor and worker count")
    parser.add_argument("--batch", type=int, default=50, help="runs per task")
    args = parser.parse_args()
    from benchmarks import bench_parallel  # by its module name, so workers unpickle the tasks by reference

    res = bench_parallel.measure(args.runs, args.batch)
    print({k: v for k, v in res.items() if k != "throughput"}, "checksums agree:", res["throughput"]["checksums_agree"])
