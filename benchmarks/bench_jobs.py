"""Wall time and peak memory of the long jobs: the forecast ensemble and the calibration, each run as a subprocess.

Peak memory is that of the whole process tree (the command and every worker it starts), sampled with psutil every
``interval`` seconds: the peak of the summed resident set sizes (RSS; pages shared between processes, such as
libraries, count once per process, so it is an upper bound on the physical memory used), and of the summed proportional
set sizes (PSS, shared pages split between the processes sharing them) where /proc allows it. A process that starts and
ends between two samples is missed.

``python benchmarks/bench_jobs.py ensemble <hydra overrides...>`` runs only the ensemble part of the forecast
(:func:`experiments.forecast.run_ensemble`, no tables, figures or report): the fallback when the full command fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FORECAST_DRAWS, FORECAST_SEEDS, FORECAST_SCENARIOS = 500, 4, 8
MANIFEST = ROOT / "calibration" / "posterior" / "manifest.json"
POSTERIOR = ROOT / "calibration" / "posterior" / "posterior.parquet"


def _tree_memory(proc) -> tuple[float, float | None, int]:
    """Summed RSS and PSS (MB) of a psutil process and its descendants, and how many processes there are."""
    import psutil

    procs = [proc]
    with contextlib.suppress(psutil.Error):
        procs += proc.children(recursive=True)
    rss, pss, count = 0, 0, 0
    for p in procs:
        try:
            rss += p.memory_info().rss
            count += 1
            if pss is not None:
                pss += p.memory_full_info().pss
        except (psutil.AccessDenied, AttributeError):
            pss = None
        except psutil.Error:
            pass
    return rss / 2**20, None if pss is None else pss / 2**20, count


def timed_tree(cmd: list[str], env: dict | None = None, interval: float = 0.2, log_path: Path | None = None) -> dict:
    """Run ``cmd`` from the project root; wall time, exit code and the process tree's peak memory."""
    import psutil

    with open(log_path, "w") if log_path else contextlib.nullcontext(subprocess.DEVNULL) as out:
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        peak = {"rss": 0.0, "pss": 0.0, "procs": 0, "pss_ok": True}
        stop = threading.Event()

        def sample() -> None:
            try:
                proc = psutil.Process(child.pid)
            except psutil.Error:
                return
            while not stop.is_set():
                rss, pss, n = _tree_memory(proc)
                peak["rss"] = max(peak["rss"], rss)
                peak["procs"] = max(peak["procs"], n)
                if pss is None:
                    peak["pss_ok"] = False
                else:
                    peak["pss"] = max(peak["pss"], pss)
                stop.wait(interval)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        code = child.wait()
        wall = time.perf_counter() - t0
        stop.set()
        thread.join()
    return {"returncode": code, "wall_s": round(wall, 1), "peak_rss_mb": round(peak["rss"], 1),
            "peak_pss_mb": round(peak["pss"], 1) if peak["pss_ok"] else None, "peak_processes": peak["procs"],
            "memory_method": f"psutil: summed RSS (and PSS) of the process and its descendants every {interval} s"}


def forecast_scenarios(count: int = FORECAST_SCENARIOS) -> list[str]:
    """``count`` scenarios of configs/scenario, baseline first; pairs of them compose when there are fewer files."""
    names = sorted(p.stem for p in (ROOT / "configs" / "scenario").glob("*.yaml"))
    names = ["baseline"] + [n for n in names if n != "baseline"]
    pairs = [f"[{a},{b}]" for i, a in enumerate(names[1:]) for b in names[i + 2:]]
    return (names + pairs)[:count]


def forecast_overrides(out_root: str, draws: int, seeds: int, scenarios: list[str]) -> list[str]:
    """Hydra overrides of the benchmark's forecast: no boldness variants, the shipped posterior if there is one."""
    posterior = "calibration/posterior/posterior.parquet" if POSTERIOR.is_file() else "defaults"
    return [f"scenarios=[{','.join(scenarios)}]", "forecast.boldness_scenarios=[]", f"forecast.out_root={out_root}",
            f"forecast.posterior={posterior}", f"forecast.draws={draws}", f"forecast.seeds={seeds}"]


def measure_forecast(draws: int = FORECAST_DRAWS, seeds: int = FORECAST_SEEDS, log=print) -> dict:
    """Time ``python -m experiments.forecast`` (8 scenarios x draws x seeds); the ensemble part alone if it fails."""
    scenarios = forecast_scenarios()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as tmp:
        overrides = forecast_overrides(tmp, draws, seeds, scenarios)
        log(f"  forecast: {len(scenarios)} scenarios x {draws} draws x {seeds} seeds ({' '.join(overrides)})")
        res = timed_tree([sys.executable, "-m", "experiments.forecast", *overrides], env,
                         log_path=Path(tmp) / "full.log")
        res["command"] = "python -m experiments.forecast " + " ".join(overrides)
        res["part"] = "full command (ensemble, tables, figures, report)"
        if res["returncode"] == 0:
            # The same command again: nothing left to simulate, tables and figures loaded from the work folder.
            again = timed_tree([sys.executable, "-m", "experiments.forecast", *overrides], env,
                               log_path=Path(tmp) / "rerun.log")
            res["rerun_wall_s"] = again["wall_s"] if again["returncode"] == 0 else None
            res["rerun_returncode"] = again["returncode"]
        if res["returncode"] != 0:
            tail = (Path(tmp) / "full.log").read_text(errors="replace").strip().splitlines()[-3:]
            log(f"  forecast: the full command failed (exit {res['returncode']}): {' | '.join(tail)}; "
                "timing the ensemble only")
            failed = {"returncode": res["returncode"], "log_tail": tail}
            with tempfile.TemporaryDirectory(prefix="bench-ensemble-") as tmp2:
                overrides = forecast_overrides(tmp2, draws, seeds, scenarios)
                res = timed_tree([sys.executable, str(Path(__file__).resolve()), "ensemble", *overrides], env,
                                 log_path=Path(tmp2) / "ensemble.log")
                res["command"] = "experiments.forecast.run_ensemble with " + " ".join(overrides)
                res["part"] = "ensemble only (run_ensemble: runs and Parquet parts; no tables, figures or report)"
                res["full_command_failure"] = failed
                if res["returncode"] != 0:
                    text = (Path(tmp2) / "ensemble.log").read_text(errors="replace")
                    res["log_tail"] = text.strip().splitlines()[-3:]
    res.update(scenarios=scenarios, draws=draws, seeds=seeds, runs=len(scenarios) * draws * seeds,
               posterior=overrides[3].split("=", 1)[1])
    if res["returncode"] == 0:
        res["runs_per_s"] = round(res["runs"] / res["wall_s"], 1)
    log(f"  forecast: exit {res['returncode']}, {res['wall_s']} s, peak RSS {res['peak_rss_mb']} MB "
        f"(PSS {res['peak_pss_mb']} MB, {res['peak_processes']} processes)")
    return res


def measure_default_job(log=print) -> dict:
    """Time ``make run``'s job with the venv installed: ``python -m experiments.forecast`` on the shipped default
    config, into a fresh output folder (nothing cached)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    with tempfile.TemporaryDirectory(prefix="bench-default-") as tmp:
        res = timed_tree([sys.executable, "-m", "experiments.forecast", f"forecast.out_root={tmp}"], env,
                         log_path=Path(tmp) / "default.log")
        if res["returncode"] != 0:
            res["log_tail"] = (Path(tmp) / "default.log").read_text(errors="replace").strip().splitlines()[-3:]
    res["command"] = "python -m experiments.forecast (make run's job, default config, a fresh out_root)"
    log(f"  make run's job: exit {res['returncode']}, {res['wall_s']} s, peak RSS {res['peak_rss_mb']} MB")
    return res


def read_calibration_manifest(path: Path = MANIFEST) -> dict:
    """The shipped calibration's wall time, simulations, generations and final epsilon, or a note why there are none."""
    if not path.is_file():
        return {"wall_s": None, "note": f"{path.relative_to(ROOT)} not found: no shipped calibration to read"}
    fit = json.loads(path.read_text(encoding="utf-8")).get("fit", {})
    if fit.get("wall_s") is None:
        return {"wall_s": None, "note": f"{path.relative_to(ROOT)} has no fit.wall_s"}
    out = {k: fit.get(k) for k in ("wall_s", "simulations", "generations", "final_epsilon", "acceptance_rate")}
    sims = fit.get("simulations")
    out["sims_per_s"] = round(sims / fit["wall_s"], 1) if sims and fit["wall_s"] else None
    out["source"] = f"{path.relative_to(ROOT)} (fit.*), not rerun"
    return out


def measure_calibration(extra: list[str] | None = None, log=print) -> dict:
    """Time ``python -m calibration.fit out_dir=<tmp> [extra overrides]`` (about ten minutes on two cores)."""
    extra = list(extra or [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    with tempfile.TemporaryDirectory(prefix="bench-calibration-") as tmp:
        log(f"  calibration: python -m calibration.fit out_dir={tmp} {' '.join(extra)}")
        res = timed_tree([sys.executable, "-m", "calibration.fit", f"out_dir={tmp}", *extra], env,
                         log_path=Path(tmp) / "fit.log")
        res["command"] = " ".join(["python -m calibration.fit out_dir=<tmp>", *extra])
        man = Path(tmp) / "manifest.json"
        if res["returncode"] == 0 and man.is_file():
            fit = json.loads(man.read_text(encoding="utf-8")).get("fit", {})
            res.update({k: fit.get(k) for k in ("simulations", "generations", "final_epsilon", "acceptance_rate")})
            res["fit_wall_s"] = fit.get("wall_s")
            if fit.get("simulations"):
                res["sims_per_s"] = round(fit["simulations"] / res["wall_s"], 1)
        else:
            res["log_tail"] = (Path(tmp) / "fit.log").read_text(errors="replace").strip().splitlines()[-3:]
            res["failed_after_s"], res["wall_s"] = res["wall_s"], None
            res["note"] = f"calibration.fit failed (exit {res['returncode']}): {' | '.join(res['log_tail'])}"
    res["source"] = "measured (--calibration)" + (f" with {' '.join(extra)}" if extra else "")
    log(f"  calibration: exit {res['returncode']}, {res['wall_s']} s, {res.get('simulations')} simulations")
    return res


def _ensemble_only(overrides: list[str]) -> None:
    """Compose the forecast config with ``overrides`` and run only :func:`experiments.forecast.run_ensemble`."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from common.cli import CONFIG_DIR
    from experiments.forecast import run_ensemble

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        config = OmegaConf.to_container(compose(config_name="forecast", overrides=overrides), resolve=True)
        run_ensemble(config, overrides)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "ensemble":
        _ensemble_only(sys.argv[2:])
    else:
        sys.exit("usage: python benchmarks/bench_jobs.py ensemble <hydra overrides...>")
