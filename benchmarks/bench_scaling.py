"""How a run's time grows with the number of states and of years (synthetic copies; the model is not changed).

States: the 33 states are tiled ``k`` times (33, 66, 132, 330): every per-state array of ``ModelData`` and of the built
``Drivers`` (and of the drivers' shock specification) is repeated ``k`` times along its state axis, and the copies get
unique codes (``BRA``, ``BRA_2``, ...). ``build_drivers`` cannot be called on tiled data (it sizes some arrays by the
module constant ``ISO3``), so the drivers are built from the real data and tiled afterwards.

Years: the 2000-2040 drivers are held at their 2040 values for later years (regime changes and legacy deliveries set to
zero after 2040) to give runs of 41, 82 and 164 years. The random driver path past 2023 (``apply_shocks``) always
draws 2024-2040 (``FUTURE_YEARS``), so these runs use the deterministic drivers (``shocks=None``) at every length,
41 years included.

Usage: ``python benchmarks/bench_scaling.py [--runs N]`` prints the table; ``benchmarks/bench_run.py`` calls
:func:`measure` and writes the results into ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.data import ModelData
from model.drivers import Drivers
from model.params import ModelParams
from model.run import simulate

STATE_COPIES = (1, 2, 4, 10)  # 33, 66, 132, 330 states
YEAR_COUNTS = (41, 82, 164)


def _tile_array(value: np.ndarray, n: int, k: int, where: str) -> np.ndarray:
    """``value`` repeated ``k`` times along its one axis of length ``n`` (unchanged if it has none)."""
    axes = [i for i, s in enumerate(value.shape) if s == n]
    if not axes:
        return value
    if len(axes) > 1:
        raise ValueError(f"{where}: shape {value.shape} has several axes of length {n}; cannot tell the state axis")
    reps = [1] * value.ndim
    reps[axes[0]] = k
    return np.tile(value, reps)


def _tile_fields(obj, n: int, k: int, where: str):
    """A copy of a frozen dataclass with every per-state array (also inside dicts) tiled ``k`` times."""
    changes = {}
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if isinstance(v, np.ndarray):
            changes[f.name] = _tile_array(v, n, k, f"{where}.{f.name}")
        elif isinstance(v, dict) and any(isinstance(x, np.ndarray) for x in v.values()):
            changes[f.name] = {key: _tile_array(x, n, k, f"{where}.{f.name}[{key}]") if isinstance(x, np.ndarray) else x
                               for key, x in v.items()}
    return dataclasses.replace(obj, **changes)


def tile_states(data: ModelData, drivers: Drivers, k: int) -> tuple[ModelData, Drivers]:
    """Data and drivers with the states copied ``k`` times; copy ``c`` >= 2 of a state ``XXX`` is ``XXX_c``."""
    if k == 1:
        return data, drivers
    n = len(data.iso3)
    iso3 = tuple(data.iso3) + tuple(f"{c}_{j}" for j in range(2, k + 1) for c in data.iso3)
    tiled_data = dataclasses.replace(_tile_fields(data, n, k, "ModelData"), iso3=iso3)
    tiled_drivers = _tile_fields(drivers, n, k, "Drivers")
    if drivers.shocks is not None:
        tiled_drivers = dataclasses.replace(tiled_drivers, shocks=_tile_fields(drivers.shocks, n, k, "DriverShocks"))
    return tiled_data, tiled_drivers


def extend_years(drivers: Drivers, n_years: int) -> Drivers:
    """Drivers over ``n_years`` years from the first, held at the last year's values; deterministic (no shocks)."""
    ny = len(drivers.years)
    extra = n_years - ny
    if extra < 0:
        raise ValueError(f"n_years {n_years} < {ny}")
    changes: dict = {"years": np.arange(int(drivers.years[0]), int(drivers.years[0]) + n_years), "shocks": None}
    for f in dataclasses.fields(drivers):
        v = getattr(drivers, f.name)
        if f.name == "years" or not isinstance(v, np.ndarray) or not extra:
            continue
        if v.shape[:1] != (ny,):
            raise ValueError(f"Drivers.{f.name}: shape {v.shape} has no leading year axis of length {ny}")
        # Events (a regime change) and pre-2000 deliveries do not repeat: zero after the last year; the rest is held.
        tail = np.zeros((extra,) + v.shape[1:], v.dtype) if f.name in ("regime_change", "legacy_deliveries") \
            else np.repeat(v[-1:], extra, axis=0)
        changes[f.name] = np.concatenate([v, tail])
    return dataclasses.replace(drivers, **changes)


def median_run_ms(params: ModelParams, data: ModelData, drivers: Drivers, runs: int,
                  warmup: int = 3) -> tuple[float, float]:
    """Median wall and CPU (this thread) ms of ``runs`` runs (different seeds), after ``warmup`` untimed ones."""
    for seed in range(warmup):
        r = simulate(params, data, drivers, 1, seed=10_000 + seed)
    if r.states.shape[:2] != (len(drivers.years), len(data.iso3)):
        raise RuntimeError(f"record of shape {r.states.shape} for {len(drivers.years)} years x {len(data.iso3)} states")
    wall, cpu = timed_runs(params, data, drivers, runs)
    return float(np.median(wall)), float(np.median(cpu))


def timed_runs(params: ModelParams, data: ModelData, drivers: Drivers, runs: int) -> tuple[np.ndarray, np.ndarray]:
    """Wall and CPU (this thread) ms of each of ``runs`` runs, seeds 0..runs-1."""
    wall, cpu = [], []
    for seed in range(runs):
        t0, c0 = time.perf_counter(), time.thread_time()
        simulate(params, data, drivers, 1, seed=seed)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    return np.array(wall) * 1e3, np.array(cpu) * 1e3


def linear_fit(x: list[float], y: list[float]) -> dict:
    """Least-squares line ``y = a + b x``, its R^2, and the last segment's slope over the first's (1 if linear)."""
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    b, a = np.polyfit(xa, ya, 1)
    resid = ya - (a + b * xa)
    ss = float(((ya - ya.mean()) ** 2).sum())
    r2 = 1.0 - float((resid ** 2).sum()) / ss if ss > 0 else float("nan")
    first = (ya[1] - ya[0]) / (xa[1] - xa[0])
    last = (ya[-1] - ya[-2]) / (xa[-1] - xa[-2])
    return {"slope": float(b), "intercept": float(a), "r2": r2,
            "marginal_slope_ratio": float(last / first) if first > 0 else float("nan"),
            "per_unit_ratio": float((ya[-1] / xa[-1]) / (ya[0] / xa[0]))}


def measure(params: ModelParams, data: ModelData, drivers: Drivers, runs: int = 20,
            copies: tuple[int, ...] = STATE_COPIES, years: tuple[int, ...] = YEAR_COUNTS, log=print) -> dict:
    """Median run time at each size, the fitted slopes (ms per state, ms per year) and the linearity checks."""
    n = len(data.iso3)
    by_states, cpu_states = {}, {}
    for k in copies:
        d, dr = tile_states(data, drivers, k)
        # Bigger models cost more per run: fewer runs keep the total time bounded.
        r = max(5, runs // max(1, k // 2))
        by_states[len(d.iso3)], cpu_states[len(d.iso3)] = median_run_ms(params, d, dr, r)
        log(f"  scaling: {len(d.iso3):4d} states x {len(dr.years)} years: {by_states[len(d.iso3)]:8.2f} ms wall, "
            f"{cpu_states[len(d.iso3)]:8.2f} ms CPU (median of {r})")
    by_years, cpu_years = {}, {}
    for ny in years:
        dr = extend_years(drivers, ny)
        r = max(5, runs * years[0] // ny)
        by_years[ny], cpu_years[ny] = median_run_ms(params, data, dr, r)
        log(f"  scaling: {n:4d} states x {ny:3d} years: {by_years[ny]:8.2f} ms wall, {cpu_years[ny]:8.2f} ms CPU "
            f"(median of {r}, deterministic drivers)")
    fs = linear_fit(list(by_states), list(by_states.values()))
    fy = linear_fit(list(by_years), list(by_years.values()))
    cs = linear_fit(list(cpu_states), list(cpu_states.values()))
    cy = linear_fit(list(cpu_years), list(cpu_years.values()))

    def rounded(fit: dict) -> dict:
        return {k: round(v, 4) for k, v in fit.items()}

    return {
        "scaling_slope_states": round(fs["slope"], 4),
        "scaling_slope_years": round(fy["slope"], 4),
        "scaling": {
            "states": {"ms_by_states": {str(k): round(v, 3) for k, v in by_states.items()},
                       "cpu_ms_by_states": {str(k): round(v, 3) for k, v in cpu_states.items()},
                       "years": len(drivers.years), "drivers": "scenario drivers with shocks (tiled)",
                       **rounded(fs), "cpu_fit": rounded(cs)},
            "years": {"ms_by_years": {str(k): round(v, 3) for k, v in by_years.items()},
                      "cpu_ms_by_years": {str(k): round(v, 3) for k, v in cpu_years.items()}, "states": n,
                      "drivers": "deterministic (shocks=None), held at 2040 values after 2040",
                      **rounded(fy), "cpu_fit": rounded(cy)},
            "runs_per_size": runs,
        },
    }


def main() -> None:
    """Run the scaling measurement alone and print it."""
    from model.data import load_data
    from model.drivers import build_drivers, load_default_drivers
    from model.params import load_default_params

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per size at the smallest size (median reported)")
    args = parser.parse_args()
    data, params = load_data(), load_default_params()
    drivers = build_drivers(data, load_default_drivers())
    out = measure(params, data, drivers, args.runs)
    for axis in ("states", "years"):
        s = out["scaling"][axis]
        print(f"{axis}: slope {s['slope']:.4f} ms per {axis[:-1]}, intercept {s['intercept']:.2f} ms, "
              f"R^2 {s['r2']:.4f}, last/first segment slope {s['marginal_slope_ratio']:.2f}, "
              f"per-unit cost largest/smallest {s['per_unit_ratio']:.2f}")


if __name__ == "__main__":
    main()
