"""A run's random driver path past 2023 (DESIGN.md §5: "past 2023 they carry uncertainty"), drawn inside the model.

Run code: the compiled loops here load numba, which the forecast's table workers, importing ``model.drivers`` for the
scenarios' driver arrays, must not (``tests/test_layers.py``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numba import njit

from model.data import HIST_END
from model.drivers import FUTURE_YEARS, PATH_HIGH, REGIME_SWING, Drivers


@njit(cache=True)
def _ar1(z: np.ndarray, phi: float, sd: float) -> np.ndarray:
    """``e_k = phi e_(k-1) + sd z_k`` from ``e_0 = 0`` (2023: the record has no shock)."""
    out, e = np.empty(len(z)), 0.0
    for k in range(len(z)):
        e = phi * e + sd * z[k]
        out[k] = e
    return out


@njit(cache=True)
def _governments(u, hazard, z, start, centre, persistence, sd, pinned, pinned_path, swing_at):
    """Each state's orientation path after 2023 and its changes of government (1.0 where the orientation moves by at
    least ``swing_at``): a new government where ``u < hazard``, its orientation drawn from the last one's with the
    normal ``z`` of its year and clipped to [-1, 1]; where the scenario pins a state-year, ``pinned_path``.
    Compiled, with the arithmetic of the array code it replaced in the same order: that code took a quarter of a
    driver path's time."""
    ny, n = u.shape
    path, swing = np.empty((ny, n)), np.empty((ny, n))
    for i in range(n):
        gov = prev = start[i]
        for t in range(ny):
            if u[t, i] < hazard[i]:
                gov = min(max(centre[i] + persistence * (gov - centre[i]) + sd * z[t, i], -1.0), 1.0)
            x = pinned_path[t, i] if pinned[t, i] else gov
            path[t, i] = x
            swing[t, i] = 1.0 if abs(x - prev) >= swing_at else 0.0
            prev = x
    return path, swing


# The drivers a run's random path changes (apply_shocks); every other driver of a path is its scenario's own array.
SHOCKED = ("us_china_tension", "commodity_index", "orientation", "regime_change", "recognises_beijing")


def apply_shocks(drivers: Drivers, rng: np.random.Generator) -> Drivers:
    """One run's random driver path past 2023, drawn from ``rng`` (the run's ``drivers`` stream).

    The draws are the same in number and order whatever the scenario, the settings and the run's years (two normals
    per future year for tension and commodities, two uniforms per state-year for elections and recognition, one normal
    per state-year for new governments), so every scenario gets the same shocks (common random numbers). A setting at
    zero leaves its driver exactly at the scenario's path. Series derived from a perturbed driver (regime changes from
    orientation) are derived again; the model derives the rest (alignment, boldness, pressure, exposure, gates) from
    the returned drivers. Years up to 2023 are never touched.
    """
    sh = drivers.shocks
    if sh is None:
        return drivers
    st = sh.settings
    n = len(sh.orientation_2023)
    z = rng.standard_normal((2, FUTURE_YEARS))
    u = rng.random((2, FUTURE_YEARS, n))
    z_new = rng.standard_normal((FUTURE_YEARS, n))
    # The run's years after 2023 (run[...] index) and their place among 2024-2040 (fut).
    first = int(drivers.years[0])
    lo = max(HIST_END + 1 - first, 0)
    f0 = first + lo - (HIST_END + 1)
    fut = slice(f0, f0 + len(drivers.years) - lo)
    out: dict = {"shocks": None}
    if st.tension_sd:
        arr = drivers.us_china_tension.copy()
        arr[lo:] = np.clip(sh.tension_path + _ar1(z[0], st.tension_ar, st.tension_sd), 0.0, 1.0)[fut]
        out["us_china_tension"] = arr
    if st.commodity_sd:
        arr = drivers.commodity_index.copy()
        arr[lo:] = np.clip(sh.commodity_path * np.exp(_ar1(z[1], st.commodity_ar, st.commodity_sd)), 0.0,
                           PATH_HIGH["commodity_index"])[fut]
        out["commodity_index"] = arr
    if st.election_hazard:
        path, swing = _governments(u[0], sh.election_hazard, z_new, sh.orientation_2023, sh.orientation_centre,
                                   st.orientation_persistence, st.orientation_sd, sh.orientation_pinned,
                                   sh.orientation_path, REGIME_SWING)
        arr, regime = drivers.orientation.copy(), drivers.regime_change.copy()
        arr[lo:], regime[lo:] = path[fut], swing[fut]
        out["orientation"], out["regime_change"] = arr, regime
    if st.recognition_hazard:
        # States recognising Taipei in 2023 and not switched by the scenario go to Beijing at their first success.
        eligible = (sh.recognition_2023 == 0) & ~sh.recognition_pinned
        switched = np.logical_or.accumulate(u[1] < st.recognition_hazard, axis=0) & eligible
        arr = drivers.recognises_beijing.copy()
        arr[lo:] = np.where(switched, 1.0, sh.recognition_path)[fut]
        out["recognises_beijing"] = arr
    return dataclasses.replace(drivers, **out)
