"""The forecast's wide rows from a batch's records, compiled: one pass from the model's (run, year, state, slot) arrays
to the Parquet part's float32 columns, the LAC aggregate row included.

Kept apart from :mod:`experiments.ensemble`, whose batches and names the forecast's main process and its tables'
workers import without numba; only the workers that run the model import this.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fill_columns(full: np.ndarray, region: np.ndarray, years: np.ndarray, means: np.ndarray, out: np.ndarray,
                 start: int) -> int:
    """Write the rows of ``years`` (indices into the records' year axis) into ``out`` (columns, rows) from row
    ``start`` on, run by run, then year, then state, the LAC row after each year's states; returns the next free row.

    ``full`` is (runs, years, states, state slots), ``region`` (runs, years, region slots), both float64. A state row
    holds the state's slots and NaN region slots; the LAC row holds each state slot's sum over the states (in state
    order, as numpy sums along that axis), divided by the number of states where ``means`` is set, and the region
    slots. Each value is rounded to float32 once, as assigning the float64 arrays to a float32 array would.

    One pass with the states innermost: numpy's transpose of the whole float32 block cost about 0.5 ms a run, most of
    the time a batch took to encode.
    """
    n_runs, _, n_states, n_s = full.shape
    n_r = region.shape[2]
    row = start
    for r in range(n_runs):
        for y in years:
            for j in range(n_s):
                acc = full[r, y, 0, j]
                out[j, row] = acc
                for i in range(1, n_states):
                    v = full[r, y, i, j]
                    out[j, row + i] = v
                    acc += v
                out[j, row + n_states] = acc / n_states if means[j] else acc
            for j in range(n_r):
                for i in range(n_states):
                    out[n_s + j, row + i] = np.nan
                out[n_s + j, row + n_states] = region[r, y, j]
            row += n_states + 1
    return row
