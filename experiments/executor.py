"""Where a job's runs go: serially, to a local process pool, or to a Dask cluster, with results back in this process.

Tasks are independent units (a batch of draws, a chunk of seeds) whose results depend only on the task itself, never
on the worker or the order of completion, so every executor gives the same outputs. The model's data is sent once per
worker (a pool's initializer, a Dask scatter), not with every task.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from common.config import EXECUTORS
from common.memory import keep_freed_memory
from model.data import ModelData
from model.params import ConfigError

T = TypeVar("T")

_WORKER_DATA: ModelData | None = None


def _init_worker(data: ModelData | None, keep_memory: bool) -> None:
    global _WORKER_DATA
    _WORKER_DATA = data
    if keep_memory:
        keep_freed_memory()


def _call(fn: Callable[[Any, ModelData | None], Any], task: Any) -> Any:
    return fn(task, _WORKER_DATA)


def dask_client(address: str, key: str):
    """A client of the scheduler at ``address``; a one-line ConfigError naming ``key`` when it cannot be reached."""
    from distributed import Client

    try:
        return Client(address, timeout=10)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"{key}: {address!r} unreachable ({' '.join(str(exc).split())}); "
                          f"allowed: a running dask scheduler's host:port") from None


class LocalPool:
    """Local worker processes started at first use and kept for every stage run on them, then shut down on exit.

    A stage on a pool of its own pays its workers' start (spawn, then the imports of the task's modules: about 3 s
    for the tables and figures) each time; stages that share the workers pay it once. With ``keep_memory`` the
    workers keep the memory their tasks free (:func:`common.memory.keep_freed_memory`): for tasks whose blocks repeat
    in size, such as the model's batches, whose next batch then reuses pages already faulted in.
    """

    def __init__(self, workers: int, data: ModelData | None = None, keep_memory: bool = False) -> None:
        self.workers, self.data, self.keep_memory = workers, data, keep_memory
        self._pool: ProcessPoolExecutor | None = None

    def get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: Mesa makes it the default; forked workers would also inherit pyarrow's threads.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.data, self.keep_memory))
        return self._pool

    def __enter__(self) -> LocalPool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def run_tasks(fn: Callable[[T, ModelData | None], Any], tasks: Sequence[T], data: ModelData | None, executor: str,
              workers: int, done: Callable[[T, Any], None], client=None, pool: LocalPool | None = None) -> None:
    """Call ``fn(task, data)`` for every task on ``executor``; ``done(task, result)`` runs here as each finishes.

    ``fn`` must be a module-level function (pickled by reference). ``client`` is the Dask client for ``dask``,
    connected by the caller before it writes anything, so an unreachable scheduler leaves no output behind. ``pool``
    (for ``pool``) runs the tasks on workers kept across stages; its ``data`` is the one the tasks get. Without it the
    tasks are the model's batches, whose blocks repeat in size, on a pool of their own whose workers keep their freed
    memory. The forecast's tables pool does not: each label's cubes differ in size, and what two workers kept raised
    the forecast's peak by about 700 MB (docs/ODD.md §10.43).
    """
    if executor == "serial" or not tasks:
        for task in tasks:
            done(task, fn(task, data))
        return
    if executor == "pool":
        with LocalPool(workers, data, keep_memory=True) if pool is None else contextlib.nullcontext(pool) as workers_of:
            futures = {workers_of.get().submit(_call, fn, task): task for task in tasks}
            # Each future is dropped once handled (as_completed lets go of it too): a future kept in the map would hold
            # every batch's record in memory until the end.
            for f in as_completed(list(futures)):
                done(futures.pop(f), f.result())
        return
    if executor != "dask" or client is None:
        raise ConfigError(f"executor: {executor!r}; allowed: {', '.join(EXECUTORS)} (dask with a scheduler address)")
    from distributed import as_completed as dask_completed

    shared = client.scatter(data, broadcast=True)
    futures = {client.submit(fn, task, shared, pure=False): task for task in tasks}
    for f in dask_completed(list(futures)):
        done(futures.pop(f), f.result())
        f.release()
