"""Benchmark of the model: one run, the Mesa layer's cost, throughput on workers, scaling, memory and the long jobs.

Usage: ``make bench`` (or ``python benchmarks/bench_run.py [options]``; ``--help`` lists them). Prints one table (each
key, its value, its target, met or missed) and writes ``benchmarks/results/latest.json`` with the machine, package
versions and code version. A benchmark, not a test: it measures and reports, it asserts nothing.

Sections and keys (targets from issue 5):

- run: ``run_ms_median``, one 2000-2040 run with recording (``model.run.simulate``), median over ``--runs`` seeds.
- batched: ``run_ms_batched``, ``model.run.simulate_batch`` with R = 64 replicas (64 seeds), 2000-2040 into the record
  arrays, wall / 64, median over 20 batches after one warm-up (part of the run section; target <= 1.5). Timed in a
  worker process started as the jobs start the workers that run their batches (the allocator keeps freed memory,
  ``common.memory``): in this process, after the single runs, the same batches paid fresh pages (docs/ODD.md §10.46).
- mesa: ``mesa_over_kernels_ratio``, the year loop through ``model.step()`` (Mesa's wrapped step) over the same year
  loop calling the methods of ``DefenceTiesModel.step`` directly on the same model, median over paired runs (target
  <= 1.2); the two records must be identical.
- throughput: ``runs_per_s_1_worker``, ``runs_per_s_2_workers`` (spawn process pool whose workers keep their freed
  memory, as the jobs' model pools do; each task one batch; target >= 1,000 with 2) and
  ``dask_speedup_2_workers`` (Dask LocalCluster, 2 workers over 1; target >= 1.7); see ``bench_parallel.py``.
- calibration: ``calibration_wall_s`` from ``calibration/posterior/manifest.json`` (``fit.wall_s``); ``--calibration``
  reruns ``python -m calibration.fit`` and times it (about ten minutes).
- forecast: ``forecast_wall_s``, ``forecast_peak_rss_mb``, 8 scenarios x 500 draws x 4 seeds of
  ``python -m experiments.forecast``; ``forecast_rerun_s``, the same command again (nothing to simulate); and
  ``make_run_wall_s``, make run's job (the default config into a fresh folder, venv installed); only with
  ``--forecast`` (minutes); see ``bench_jobs.py``.
- scaling: ``scaling_slope_states`` (ms per state: 33, 66, 132, 330 states) and ``scaling_slope_years`` (ms per year:
  41, 82, 164 years), with R^2 and slope ratios; see ``bench_scaling.py``.
- memory: ``rss_growth_mb_per_10k_runs``, resident memory growth over ``--memory-runs`` runs in one process.
- profile (``--profile``): cProfile over 200 runs, top 15 functions by cumulative and by own time (printed only).

Keys of sections not run this time (``--only``, or forecast without ``--forecast``) are carried over from the previous
results file and listed under ``carried_over`` with the time they were measured.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import cProfile
import inspect
import io
import json
import multiprocessing
import os
import platform
import pstats
import sys
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.provenance import PACKAGES, git_version  # noqa: E402
from model.data import load_data  # noqa: E402
from model.drivers import build_drivers, load_default_drivers  # noqa: E402
from model.model import DefenceTiesModel  # noqa: E402
from model.params import load_default_params  # noqa: E402
from model.run import simulate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
BATCH_R, BATCHED_REPEATS = 64, 20
SECTIONS = ("run", "mesa", "throughput", "scaling", "memory", "calibration", "forecast", "profile")
DEFAULT_SECTIONS = ("run", "mesa", "throughput", "scaling", "memory", "calibration")
EXTRA_PACKAGES = ("dask", "distributed", "psutil")
# Top-level keys of each section (carried over together when the section is not run).
SECTION_KEYS = {
    "run": ("run_ms_median", "run_ms_p10", "run_ms_p90", "runs_timed", "tidy_ms_median", "run_ms_batched"),
    "mesa": ("mesa_over_kernels_ratio",),
    "throughput": ("runs_per_s_1_worker", "runs_per_s_2_workers", "pool_speedup_2_workers", "dask_runs_per_s_1_worker",
                   "dask_runs_per_s_2_workers", "dask_speedup_2_workers"),
    "scaling": ("scaling_slope_states", "scaling_slope_years"),
    "memory": ("rss_growth_mb_per_10k_runs", "rss_mb_after_warmup", "memory_runs"),
    "calibration": ("calibration_wall_s",),
    "forecast": ("forecast_wall_s", "forecast_peak_rss_mb", "forecast_rerun_s", "make_run_wall_s"),
}
# The year loop of DefenceTiesModel.step as the direct path calls it; checked against the source of step() at run time.
STEP_CALLS = ["update_drivers", "china.set_strategy", "us.set_pressure", "act_channels", "run_pipeline",
              "update_stocks"]


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- run -------------------------------------------------------------------------------------------------------------
def bench_run(params, data, drivers, runs: int) -> dict:
    """Median (p10, p90) ms of one 2000-2040 run with recording, and of turning its record into the tidy frame."""
    for seed in range(30):  # warm caches and the allocator
        simulate(params, data, drivers, 1, seed=10_000 + seed)
    from benchmarks.bench_scaling import timed_runs

    ms, cpu = timed_runs(params, data, drivers, runs)
    result = simulate(params, data, drivers, 1)
    tidy = []
    for _ in range(20):
        t0 = time.perf_counter()
        result.to_tidy("baseline", "defaults")
        tidy.append(time.perf_counter() - t0)
    log(f"  run: median {np.median(ms):.2f} ms wall, {np.median(cpu):.2f} ms CPU over {runs} runs")
    from benchmarks.bench_parallel import batched_times, setup_pool_worker

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=setup_pool_worker) as pool:
        batched = pool.submit(batched_times, BATCH_R, BATCHED_REPEATS).result()
    log(f"  batched: median {np.median(batched[1:]):.3f} ms a run, R = {BATCH_R}, {BATCHED_REPEATS} batches")
    return {"run_ms_median": round(float(np.median(ms)), 3), "run_ms_p10": round(float(np.percentile(ms, 10)), 3),
            "run_ms_p90": round(float(np.percentile(ms, 90)), 3), "runs_timed": runs,
            "tidy_ms_median": round(float(np.median(tidy)) * 1e3, 3),
            "run_ms_batched": round(float(np.median(batched[1:])), 3),
            # CPU time of this thread: less sensitive than wall time to other work on a busy machine.
            "run": {"cpu_ms_median": round(float(np.median(cpu)), 3)}}


# ---- mesa ------------------------------------------------------------------------------------------------------------
def step_calls() -> list[str]:
    """The method calls in the source of ``DefenceTiesModel.step``, in source order (``self.`` dropped)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(DefenceTiesModel.step)))
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            parts, f = [], node.func
            while isinstance(f, ast.Attribute):
                parts.append(f.attr)
                f = f.value
            if isinstance(f, ast.Name) and f.id == "self":
                calls.append((node.lineno, node.col_offset, ".".join(reversed(parts))))
    return [c[2] for c in sorted(calls)]


def kernel_loop(m: DefenceTiesModel) -> None:
    """Every year of ``m`` by the methods ``DefenceTiesModel.step`` calls, in its order, without Mesa's step wrapper."""
    ny = len(m.years)
    china, us = m.china, m.us
    for _ in range(ny):
        m.update_drivers()
        china.set_strategy()
        us.set_pressure()
        contacts = m.act_channels()
        delivered = m.run_pipeline()
        m.update_stocks(contacts, delivered)
        m.t += 1
        if m.t < ny:
            m.year = int(m.years[m.t])


def mesa_loop(m: DefenceTiesModel) -> None:
    """Every year of ``m`` through ``model.step()``, Mesa's wrapped step, as ``model.run.simulate`` does."""
    for _ in range(len(m.years)):
        m.step()


def _one(params, data, drivers, seed: int, loop) -> tuple[float, float, float, tuple, float]:
    """One run by ``loop``: wall times of construction, year loop and finish; its record; the year loop's CPU time."""
    t0 = time.perf_counter()
    m = DefenceTiesModel(params, data, drivers, root_seed=1, seed=seed)
    t1, c1 = time.perf_counter(), time.thread_time()
    loop(m)
    t2, c2 = time.perf_counter(), time.thread_time()
    m.finish()
    t3 = time.perf_counter()
    pl = m.pipeline
    deals = (getattr(pl, k)[: pl.n].copy() for k in ("signed", "state", "supplier", "category", "size", "status"))
    record = (m.recorder.states, m.recorder.region, *deals)
    m.release()
    return t1 - t0, t2 - t1, t3 - t2, record, c2 - c1


def mesa_construct_ms(n_agents: int, reps: int = 200) -> float:
    """Median ms to build a bare ``mesa.Model`` with ``n_agents`` bare agents and release it (Mesa's share of init)."""
    import mesa

    out = []
    for i in range(reps):
        t0 = time.perf_counter()
        m = mesa.Model(rng=np.random.default_rng(i))
        for _ in range(n_agents):
            mesa.Agent(m)
        mesa.Agent._ids.pop(m, None)
        m.__dict__.clear()
        out.append(time.perf_counter() - t0)
    return float(np.median(out)) * 1e3


def bench_mesa(params, data, drivers, pairs: int) -> dict:
    """Mesa's step over the direct kernel loop (year loop only), paired runs in alternating order; records compared."""
    calls = step_calls()
    same_calls = calls == STEP_CALLS
    if not same_calls:
        log(f"  mesa: WARNING DefenceTiesModel.step calls {calls}, the direct path calls {STEP_CALLS}: "
            "update kernel_loop")
    for seed in range(5):
        _one(params, data, drivers, 10_000 + seed, mesa_loop)
        _one(params, data, drivers, 10_000 + seed, kernel_loop)
    t_mesa, t_direct, t_init, t_finish, c_mesa, c_direct = [], [], [], [], [], []
    identical, first_diff = True, None
    for seed in range(pairs):
        order = (mesa_loop, kernel_loop) if seed % 2 == 0 else (kernel_loop, mesa_loop)
        res = {loop: _one(params, data, drivers, seed, loop) for loop in order}
        t_mesa.append(res[mesa_loop][1])
        t_direct.append(res[kernel_loop][1])
        c_mesa.append(res[mesa_loop][4])
        c_direct.append(res[kernel_loop][4])
        t_init += [res[mesa_loop][0], res[kernel_loop][0]]
        t_finish += [res[mesa_loop][2], res[kernel_loop][2]]
        same = all(np.array_equal(a, b) for a, b in zip(res[mesa_loop][3], res[kernel_loop][3], strict=True))
        if not same and identical:
            identical, first_diff = False, seed
    mesa_ms, direct_ms = float(np.median(t_mesa)) * 1e3, float(np.median(t_direct)) * 1e3
    probe = DefenceTiesModel(params, data, drivers)
    n_agents = len(probe.agents)  # states, China, the US, the other suppliers
    probe.release()
    construct = mesa_construct_ms(n_agents)
    ratio = mesa_ms / direct_ms
    paired = np.array(t_mesa) / np.array(t_direct)
    log(f"  mesa: year loop {mesa_ms:.3f} ms via model.step(), {direct_ms:.3f} ms direct: ratio {ratio:.3f}; "
        f"records identical: {identical}")
    note = ("year loop only; construction (DefenceTiesModel.__init__, incl. Mesa's Model and agent registration) and "
            "finish are the same code on both paths")
    if not identical:
        note += f"; RECORDS DIFFER (first at seed {first_diff}): the direct path no longer reproduces step()"
    return {"mesa_over_kernels_ratio": round(ratio, 4), "mesa": {
        "year_loop_ms_mesa_step": round(mesa_ms, 3), "year_loop_ms_direct": round(direct_ms, 3),
        "paired_ratio_median": round(float(np.median(paired)), 4),
        "cpu_ratio": round(float(np.median(c_mesa)) / float(np.median(c_direct)), 4),
        "paired_ratio_p10_p90": [round(float(np.percentile(paired, q)), 4) for q in (10, 90)],
        "init_ms_median": round(float(np.median(t_init)) * 1e3, 3),
        "finish_ms_median": round(float(np.median(t_finish)) * 1e3, 3),
        "mesa_construct_ms": round(construct, 3), "mesa_construct_agents": n_agents,
        "mesa_share_of_run": round((mesa_ms - direct_ms + construct) / (float(np.median(t_init)) * 1e3 + mesa_ms
                                                                        + float(np.median(t_finish)) * 1e3), 4),
        "records_identical": identical, "step_calls": calls, "step_calls_match_direct_path": same_calls,
        "pairs": pairs, "note": note}}


# ---- memory ----------------------------------------------------------------------------------------------------------
def bench_memory(params, data, drivers, runs: int) -> dict:
    """Resident memory before and after ``runs`` sequential runs in this process, scaled to 10,000 runs."""
    before = rss_mb()
    for seed in range(runs):
        simulate(params, data, drivers, 2, seed=seed)
    after = rss_mb()
    growth = (after - before) * 10_000 / runs
    log(f"  memory: {before:.1f} -> {after:.1f} MB over {runs} runs")
    return {"rss_growth_mb_per_10k_runs": round(growth, 2), "rss_mb_after_warmup": round(before, 1),
            "memory_runs": runs, "memory": {"rss_mb_before": round(before, 1), "rss_mb_after": round(after, 1)}}


# ---- profile ---------------------------------------------------------------------------------------------------------
def bench_profile(params, data, drivers, runs: int, top: int = 15) -> dict:
    """cProfile over ``runs`` runs; prints the top functions by cumulative and by own time."""
    prof = cProfile.Profile()
    prof.enable()
    for seed in range(runs):
        simulate(params, data, drivers, 1, seed=seed)
    prof.disable()
    texts = {}
    for order in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(order).print_stats(top)
        text = buf.getvalue()
        # Paths relative to the project and site-packages, so mesa/model.py and model/model.py stay apart.
        prefixes = {str(ROOT) + os.sep, str(Path(np.__file__).parent.parent) + os.sep}
        for prefix in sorted(prefixes, key=len, reverse=True):
            text = text.replace(prefix, "")
        texts[order] = text
        print(f"\n---- profile of {runs} runs: top {top} by {order} ----")
        print("\n".join(line for line in text.splitlines()
                        if line.strip() and not line.lstrip().startswith(("Ordered by", "List reduced"))))
    stats = pstats.Stats(prof)
    rows = sorted(((v[3], v[2], v[1], f"{Path(k[0]).name}:{k[1]}({k[2]})") for k, v in stats.stats.items()),
                  reverse=True)
    top_rows = [{"function": r[3], "cum_s": round(r[0], 4), "own_s": round(r[1], 4), "calls": r[2]} for r in rows[:top]]
    return {"profile": {"runs": runs, "tool": "cProfile", "top_cumulative": top_rows}}


# ---- the table -------------------------------------------------------------------------------------------------------
def _fmt(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def table(record: dict) -> str:
    """Each key, its value, its target and whether the target is met (n/a where the issue sets none)."""
    targets = {"run_ms_median": ("<=", 8.0), "run_ms_batched": ("<=", 1.5), "forecast_wall_s": ("<=", 120.0),
               "forecast_rerun_s": ("<=", 15.0), "make_run_wall_s": ("<=", 120.0),
               "forecast_peak_rss_mb": ("<=", 2048.0),
               "mesa_over_kernels_ratio": ("<=", 1.2), "runs_per_s_2_workers": (">=", 1000.0),
               "dask_speedup_2_workers": (">=", 1.7), "pool_speedup_2_workers": (">=", 1.7)}
    d = record.get("details", {})
    carried = record.get("carried_over", {})
    notes = {
        "run_ms_batched": f"simulate_batch, R = {BATCH_R}, median of {BATCHED_REPEATS} batches in a batch worker",
        "mesa_over_kernels_ratio": (f"step {_fmt(d.get('mesa', {}).get('year_loop_ms_mesa_step'))} ms / direct "
                                    f"{_fmt(d.get('mesa', {}).get('year_loop_ms_direct'))} ms; records identical: "
                                    f"{d.get('mesa', {}).get('records_identical')}") if "mesa" in d else "",
        "runs_per_s_1_worker": "spawn process pool",
        "runs_per_s_2_workers": "spawn process pool",
        "pool_speedup_2_workers": "spawn process pool",
        "dask_runs_per_s_1_worker": "Dask LocalCluster",
        "dask_runs_per_s_2_workers": "Dask LocalCluster",
        "dask_speedup_2_workers": "Dask LocalCluster",
        "run_ms_median": (f"CPU {_fmt(d['run']['cpu_ms_median'])} ms; p10/p90 {_fmt(record.get('run_ms_p10'))}/"
                          f"{_fmt(record.get('run_ms_p90'))} ms") if "run" in d else "",
        "rss_growth_mb_per_10k_runs": (f"{record.get('memory_runs')} runs, "
                                       f"{_fmt(record.get('rss_mb_after_warmup'))} MB at start")
        if record.get("memory_runs") else "",
        "calibration_wall_s": _calibration_note(d.get("calibration", {})),
        "forecast_wall_s": _forecast_note(d.get("forecast", {})),
        "forecast_peak_rss_mb": "summed RSS of the process tree" if d.get("forecast", {}).get("peak_rss_mb") else "",
        "forecast_rerun_s": "the same forecast command again, nothing to simulate" if "forecast" in d else "",
        "make_run_wall_s": ("make run's job, venv installed; peak RSS "
                            f"{_fmt(d.get('default_job', {}).get('peak_rss_mb'))} MB") if "default_job" in d else "",
    }
    for axis, key in (("states", "scaling_slope_states"), ("years", "scaling_slope_years")):
        s = d.get("scaling", {}).get(axis)
        if s:
            sizes = ", ".join(f"{k}: {v:.1f}" for k, v in s[f"ms_by_{axis}"].items())
            notes[key] = (f"ms per {axis[:-1]} (wall); R^2 {s['r2']:.4f}; last/first segment slope "
                          f"{s['marginal_slope_ratio']:.2f}; ms {sizes}")
            if "cpu_fit" in s:
                notes[key] += (f"; CPU: {s['cpu_fit']['slope']:.4g} ms per {axis[:-1]}, R^2 {s['cpu_fit']['r2']:.4f}, "
                               f"last/first {s['cpu_fit']['marginal_slope_ratio']:.2f}")
    keys = ["run_ms_median", "run_ms_batched", "mesa_over_kernels_ratio", "runs_per_s_1_worker", "runs_per_s_2_workers",
            "pool_speedup_2_workers", "dask_runs_per_s_1_worker", "dask_runs_per_s_2_workers", "dask_speedup_2_workers",
            "calibration_wall_s", "forecast_wall_s", "forecast_rerun_s", "forecast_peak_rss_mb", "make_run_wall_s",
            "scaling_slope_states",
            "scaling_slope_years", "rss_growth_mb_per_10k_runs"]
    rows = [("key", "value", "target", "status", "note")]
    for k in keys:
        v = record.get(k)
        op, target = targets.get(k, (None, None))
        if target is None:
            status, tgt = "n/a", "-"
        elif v is None:
            status, tgt = "no value", f"{op} {target:g}"
        else:
            status, tgt = ("met" if (v <= target if op == "<=" else v >= target) else "MISSED"), f"{op} {target:g}"
        note = notes.get(k, "")
        if k in carried:
            note = f"carried over from {carried[k]}" + (f"; {note}" if note else "")
        rows.append((k, _fmt(v), tgt, status, note))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4] for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 4)
    return "\n".join(lines)


def _calibration_note(c: dict) -> str:
    if not c:
        return ""
    if c.get("wall_s") is None:
        return c.get("note", "")
    return (f"{c.get('simulations')} simulations, {c.get('generations')} generations, final epsilon "
            f"{_fmt(c.get('final_epsilon'))}, {_fmt(c.get('sims_per_s'))} sims/s; {c.get('source', '')}")


def _forecast_note(f: dict) -> str:
    if not f:
        return "not measured: pass --forecast"
    if f.get("returncode", 0) != 0:
        return f"FAILED (exit {f['returncode']}): {' | '.join(f.get('log_tail', []))}"
    return (f"{len(f.get('scenarios', []))} scenarios x {f.get('draws')} draws x {f.get('seeds')} seeds, "
            f"{_fmt(f.get('runs_per_s'))} runs/s; {f.get('part', '')}")


# ---- main ------------------------------------------------------------------------------------------------------------
def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    with contextlib.suppress(ValueError, OSError):
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": cpu, "memory_gb": mem, "hostname": platform.node()}


def versions() -> dict:
    out = {}
    for p in PACKAGES + EXTRA_PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def main() -> None:
    """Run the chosen sections, print the table and write the JSON record."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=300, help="timed runs of one run (median reported; at least 50)")
    parser.add_argument("--mesa-pairs", type=int, default=200, help="paired runs of model.step() vs the direct kernels")
    parser.add_argument("--throughput-runs", type=int, default=2000, help="runs per executor and worker count")
    parser.add_argument("--batch", type=int, default=50, help="runs per worker task")
    parser.add_argument("--scaling-runs", type=int, default=30, help="runs per size at the smallest size")
    parser.add_argument("--memory-runs", type=int, default=10_000, help="runs between the two memory readings")
    parser.add_argument("--profile", action="store_true", help="also profile --profile-runs runs with cProfile")
    parser.add_argument("--profile-runs", type=int, default=200)
    parser.add_argument("--forecast", action="store_true",
                        help="also time the forecast (8 scenarios x 500 draws x 4 seeds; minutes)")
    parser.add_argument("--forecast-draws", type=int, default=500)
    parser.add_argument("--forecast-seeds", type=int, default=4)
    parser.add_argument("--calibration", action="store_true", help="rerun and time the calibration (~10 min)")
    parser.add_argument("--calibration-args", nargs="*", default=[], metavar="OVERRIDE",
                        help="Hydra overrides for --calibration (e.g. calibration=tiny for a smoke test)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections (others carried over)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results file (default {RESULTS.relative_to(ROOT)})")
    args = parser.parse_args()
    if args.runs < 50 or args.memory_runs < 100:
        parser.error("--runs must be >= 50 and --memory-runs >= 100")
    sections = list(args.only or DEFAULT_SECTIONS)
    if args.forecast and "forecast" not in sections:
        sections.append("forecast")
    if args.profile and "profile" not in sections:
        sections.append("profile")

    from benchmarks import bench_jobs, bench_parallel, bench_scaling  # by module name: worker processes import them

    prev = {}
    if args.out.is_file():
        try:
            prev = json.loads(args.out.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            prev = {}
    load_start = os.getloadavg()
    started = time.perf_counter()
    data, params = load_data(), load_default_params()
    drivers = build_drivers(data, load_default_drivers())
    record: dict = {k: None for keys in SECTION_KEYS.values() for k in keys}
    details: dict = {}
    measured = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def put(section: str, out: dict) -> None:
        for k, v in out.items():
            if k in SECTION_KEYS.get(section, ()):
                record[k] = v
            elif isinstance(v, dict):
                details[k] = v
            else:
                details.setdefault(section, {})[k] = v

    log(f"bench: sections {', '.join(sections)}; load average {load_start[0]:.2f} on {os.cpu_count()} cpus")
    if "run" in sections:
        put("run", bench_run(params, data, drivers, args.runs))
    if "mesa" in sections:
        put("mesa", bench_mesa(params, data, drivers, args.mesa_pairs))
    if "throughput" in sections:
        put("throughput", bench_parallel.measure(args.throughput_runs, args.batch, log=log))
    if "scaling" in sections:
        put("scaling", bench_scaling.measure(params, data, drivers, args.scaling_runs, log=log))
    if "memory" in sections:
        put("memory", bench_memory(params, data, drivers, args.memory_runs))
    if "profile" in sections:
        put("profile", bench_profile(params, data, drivers, args.profile_runs))
    if args.calibration and "calibration" not in sections:
        sections.append("calibration")
    if "calibration" in sections:
        if args.calibration:
            cal = bench_jobs.measure_calibration(args.calibration_args, log=log)
        else:
            cal = bench_jobs.read_calibration_manifest()
        prev_cal = prev.get("details", {}).get("calibration", {})
        if cal.get("wall_s") is None and not args.calibration and prev_cal.get("source") == "measured (--calibration)":
            cal = dict(prev_cal, note=cal.get("note"))  # no manifest: keep the last --calibration measurement
            record["calibration_wall_s"] = cal["wall_s"]
            details.setdefault("_carried", {})["calibration_wall_s"] = cal.get("measured", prev.get("measured"))
        else:
            cal["measured"] = measured
            record["calibration_wall_s"] = cal.get("wall_s")
        details["calibration"] = cal
    if "forecast" in sections:
        fc = bench_jobs.measure_forecast(args.forecast_draws, args.forecast_seeds, log=log)
        fc["measured"], fc["code_version"] = measured, git_version()
        details["forecast"] = fc
        ok = fc["returncode"] == 0
        record["forecast_wall_s"] = fc["wall_s"] if ok else None
        record["forecast_peak_rss_mb"] = fc["peak_rss_mb"] if ok else None
        record["forecast_rerun_s"] = fc.get("rerun_wall_s") if ok else None
        job = bench_jobs.measure_default_job(log=log)
        job["measured"], job["code_version"] = measured, git_version()
        details["default_job"] = job
        record["make_run_wall_s"] = job["wall_s"] if job["returncode"] == 0 else None

    # Sections not run: the previous file's values, marked with when they were measured.
    carried = details.pop("_carried", {})
    prev_carried = prev.get("carried_over", {})
    for section, keys in SECTION_KEYS.items():
        if section in sections:
            continue
        for k in keys:
            if prev.get(k) is not None:
                record[k] = prev[k]
                carried[k] = prev_carried.get(k, prev.get("measured"))
        if section in prev.get("details", {}) and section not in details:
            details[section] = prev["details"][section]

    load_end = os.getloadavg()
    record.update({
        "states": len(data.iso3), "years_per_run": len(drivers.years),
        "machine": machine(), "packages": versions(), "code_version": git_version(), "measured": measured,
        "bench_wall_s": round(time.perf_counter() - started, 1), "sections": sections,
        "load_average": {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in load_end]},
        "carried_over": carried, "details": details,
    })
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.out)

    print()
    print(table(record))
    if load_start[0] > 0.5 * (os.cpu_count() or 1) or load_end[0] > 0.5 * (os.cpu_count() or 1):
        print(f"warning: the machine was busy (load average {load_start[0]:.2f} at start, {load_end[0]:.2f} at end on "
              f"{os.cpu_count()} cpus): timings are noisy")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
