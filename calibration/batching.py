"""Particles of a generation simulated in batches: a pyabc sampler whose workers run many particles as one model batch.

pyabc asks its sampler for one particle at a time (``simulate_one``: propose, simulate, score, accept). Each worker
process of :class:`BatchedEvalParallelSampler` runs ``particles_per_batch`` threads, each looping over
``simulate_one`` as pyabc's own evaluation-parallel workers do; a thread that reaches the model hands its particle to
the process's :class:`Batcher` and waits. When every live thread waits, the batcher runs all their particles, each
with its seeds, as one :func:`model.run.simulate_batch` (:meth:`calibration.problem.Problem.simulate_particles`), and
wakes them with their results. A particle's statistics equal its run alone (its streams are keyed by its own root
seed, and a replica's record does not depend on its batch), so batching changes the speed only; which particles a
generation accepts follows pyabc's rule (the first ``n`` accepted in the order evaluations started).
"""

from __future__ import annotations

import random
import threading
from ctypes import c_longlong

import numpy as np
from pyabc.sampler.multicorebase import MultiCoreSampler, get_if_worker_healthy
from pyabc.sampler.util import get_mp_context

from common.memory import keep_freed_memory

DONE = "Done"
_ACTIVE: Batcher | None = None


def active() -> Batcher | None:
    """The batcher of this worker process, or None outside a batched sampler's worker."""
    return _ACTIVE


class Batcher:
    """Collects the particles of the threads waiting on the model and runs them together when all live ones wait."""

    def __init__(self, threads: int) -> None:
        self._cv = threading.Condition()
        self._live = threads
        self._pending: list[tuple[object, object, dict]] = []
        self._results: dict[object, tuple[bool, object]] = {}

    def submit(self, problem, particle: dict) -> dict:
        """The particle's simulated summary, computed in a batch with the other waiting threads' particles."""
        ticket = object()
        with self._cv:
            self._pending.append((ticket, problem, particle))
            self._run_if_all_wait()
            while ticket not in self._results:
                self._cv.wait()
            ok, value = self._results.pop(ticket)
        if not ok:
            raise value
        return value

    def leave(self) -> None:
        """A thread is done: the others no longer wait for it."""
        with self._cv:
            self._live -= 1
            self._run_if_all_wait()

    def _run_if_all_wait(self) -> None:
        # Called with the lock held; every other live thread is waiting, so the batch runs in this thread.
        if not self._pending or len(self._pending) < self._live:
            return
        batch, self._pending = self._pending, []
        problem = batch[0][1]
        try:
            if any(p is not problem for _, p, _ in batch):
                raise RuntimeError("a batcher serves one calibration problem at a time")
            outcomes = [(True, x) for x in problem.simulate_particles([particle for _, _, particle in batch])]
        except Exception as exc:  # every waiting thread re-raises it; the worker process then fails
            outcomes = [(False, exc)] * len(batch)
        for (ticket, _, _), outcome in zip(batch, outcomes, strict=True):
            self._results[ticket] = outcome
        self._cv.notify_all()


def _evaluate(simulate_one, queue, n_eval, n_acc, n: int, check_max_eval: bool, max_eval: float,
              all_accepted: bool, sample_factory, batcher: Batcher, errors: list) -> None:
    """One thread: pyabc's evaluation-parallel loop (claim an evaluation number, simulate one, report accepted)."""
    try:
        sample = sample_factory()
        while (n_acc.value < n and (not all_accepted or n_eval.value < n)
               and (not check_max_eval or n_eval.value < max_eval)):
            with n_eval.get_lock():
                particle_id = n_eval.value
                n_eval.value += 1
            new_sim = simulate_one()
            sample.append(new_sim)
            if new_sim.accepted:
                with n_acc.get_lock():
                    n_acc.value += 1
                queue.put((particle_id, sample))
                sample = sample_factory()
    except BaseException as exc:
        errors.append(exc)
    finally:
        batcher.leave()


def work(simulate_one, queue, n_eval, n_acc, n: int, check_max_eval: bool, max_eval: float, all_accepted: bool,
         sample_factory, threads: int) -> None:
    """A worker process: ``threads`` evaluation loops sharing one batcher; fails if any of them failed."""
    global _ACTIVE
    keep_freed_memory()  # each batch reuses the pages the last one freed (common/memory.py)
    random.seed()
    np.random.seed()  # as pyabc's workers: the proposals' global state, fresh in each process
    _ACTIVE = batcher = Batcher(threads)
    errors: list[BaseException] = []
    loops = [threading.Thread(target=_evaluate, args=(simulate_one, queue, n_eval, n_acc, n, check_max_eval,
                                                      max_eval, all_accepted, sample_factory, batcher, errors))
             for _ in range(threads)]
    for loop in loops:
        loop.start()
    for loop in loops:
        loop.join()
    _ACTIVE = None
    if errors:
        raise errors[0]
    queue.put(DONE)


class BatchedEvalParallelSampler(MultiCoreSampler):
    """pyabc's multicore evaluation-parallel sampler with ``particles_per_batch`` particles simulated per model batch
    in each of ``n_procs`` processes."""

    def __init__(self, n_procs: int, particles_per_batch: int) -> None:
        super().__init__(n_procs=n_procs)
        self.particles_per_batch = particles_per_batch

    def sample_until_n_accepted(self, n, simulate_one, t, *, max_eval=np.inf, all_accepted=False, ana_vars=None):
        """As :meth:`pyabc.sampler.MulticoreEvalParallelSampler.sample_until_n_accepted`, with batched workers."""
        ctx = get_mp_context()
        n_eval, n_acc = ctx.Value(c_longlong), ctx.Value(c_longlong)
        n_eval.value = n_acc.value = 0
        queue = ctx.Queue()
        args = (simulate_one, queue, n_eval, n_acc, n, self.check_max_eval, max_eval, all_accepted,
                self._create_empty_sample, self.particles_per_batch)
        processes = [ctx.Process(target=work, args=args, daemon=self.daemon) for _ in range(self.n_procs)]
        for proc in processes:
            proc.start()
        id_results, n_done = [], 0
        while n_done < len(processes):
            value = get_if_worker_healthy(processes, queue)
            if value == DONE:
                n_done += 1
            else:
                id_results.append(value)
        for proc in processes:
            proc.join()
        # pyabc's rule: the first n accepted in the order their evaluations started, not the first to finish.
        id_results.sort(key=lambda x: x[0])
        self.nr_evaluations_ = n_eval.value
        sample = self._create_empty_sample()
        for _, result in id_results[:n]:
            sample += result
        if sample.n_accepted < n:
            sample.ok = False
        return sample
