"""The work of a forecast after its runs, one task at a time in a worker process (:func:`post_task`).

A module of its own, light to import: the main process pickles :func:`post_task` by name, and each worker also
re-imports the forecast command's module (multiprocessing's spawn), which imports no table, figure or model run code
at its top. A worker imports the tables and figures when its first task runs (about 210 MB resident with them, where
the forecast's whole import chain took 340 MB), never the model's run code (``tests/test_layers.py``): two workers
each hold one scenario's cube.
"""

from __future__ import annotations

from typing import Any

from model.data import ModelData


def post_task(task: tuple, _data: ModelData | None) -> Any:
    """One unit of the work after the runs, in a worker process: a label's tables or fan-chart statistics, or one
    figure (or one scenario's comparison or difference figure, or the sensitivity figure) drawn into a scratch folder.

    Each depends only on the ensemble on disk and its own arguments, so the order and the worker do not change it.
    """
    # Imported here, in the worker: the main process only pickles this function by name, and the tables' and
    # figures' modules (SciPy's statistics, SALib, matplotlib) would cost it about 70 MB resident through the runs
    # and the tables, when the forecast's memory peaks.
    from experiments import report as R
    from experiments.tables import scenario_tables

    kind, *args = task
    if kind == "tables":
        work, settings, job, label, effects = args
        return scenario_tables(work, settings, job, label, effects=effects)
    if kind == "fan":
        work, job, label = args
        return R.fan_statistics(work, job, label)
    if kind == "fan_figure":
        job, per_label, name, out = args
        return R.draw_fan_figures(job, per_label, out, figures=[name])
    if kind == "comparison":
        frame, out = args
        return R.comparison_charts(frame, out)
    if kind == "difference":
        work, job, label, out = args
        return R.difference_charts(work, job, label, out)
    if kind == "sensitivity":
        frame, out = args
        return R.sensitivity_chart(frame, out)
    raise ValueError(f"post_task: unknown kind {kind!r}")
