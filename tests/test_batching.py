"""Particles simulated in batches (calibration/batching.py): the same statistics as alone, batches as large as the
waiting threads, errors reach every thread, and a fit on the batched sampler stores each particle's own summary."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyabc
import pytest
import yaml

from calibration.batching import BatchedEvalParallelSampler, Batcher
from calibration.objective import Weights
from calibration.observations import load_observations
from calibration.priors import parse_priors
from calibration.problem import Problem
from calibration.setup import parse_settings
from calibration.targets import compile_targets

ROOT = Path(__file__).resolve().parent.parent
TINY = yaml.safe_load((ROOT / "configs" / "calibration" / "tiny.yaml").read_text())
DEFAULT = yaml.safe_load((ROOT / "configs" / "calibration" / "default.yaml").read_text())


@pytest.fixture(scope="module")
def problem(params, data):
    from model.drivers import build_drivers, load_default_drivers

    drivers = build_drivers(data, load_default_drivers(), 2000, 2023)
    targets = compile_targets(load_observations(), drivers.years, data)
    return Problem(params, data, drivers, targets, seeds=3, root_seed=11, weights=Weights(),
                   priors=parse_priors(DEFAULT["priors"]))


def _particles(problem, n):
    return [{p.name: p.frozen().ppf(q) for p in problem.priors} for q in np.linspace(0.1, 0.9, n)]


def _same(a, b):
    return (a["root_seed"] == b["root_seed"] and np.array_equal(a["stats"], b["stats"])
            and np.array_equal(a["sipri"], b["sipri"]))


def test_particles_in_one_batch_equal_each_particle_alone(problem):
    particles = _particles(problem, 5)
    together = problem.simulate_particles(particles)
    assert len({x["root_seed"] for x in together}) == 5
    for particle, x in zip(particles, together, strict=True):
        assert _same(x, problem.simulate(particle))


class _Recorder:
    """A stand-in problem: records each batch's size and returns each particle's number, or raises."""

    def __init__(self, fail=False):
        self.sizes, self.fail = [], fail

    def simulate_particles(self, particles):
        self.sizes.append(len(particles))
        if self.fail:
            raise RuntimeError("model failed")
        return [{"value": p["k"]} for p in particles]


def _threads(batcher, target, calls):
    out, errors = {}, []

    def loop(i):
        try:
            for j in range(calls[i]):
                out[(i, j)] = batcher.submit(target, {"k": 10 * i + j})
        except RuntimeError as exc:
            errors.append(str(exc))
        finally:
            batcher.leave()

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    return out, errors


def test_the_batcher_runs_every_waiting_thread_at_once_and_returns_each_its_own():
    target = _Recorder()
    out, errors = _threads(Batcher(4), target, [3, 3, 1, 2])
    assert not errors
    assert out == {(i, j): {"value": 10 * i + j} for i, n in enumerate([3, 3, 1, 2]) for j in range(n)}
    # All four wait for the first batch; then the threads that are left, as they leave.
    assert target.sizes == [4, 3, 2]


def test_a_model_error_reaches_every_waiting_thread():
    target = _Recorder(fail=True)
    out, errors = _threads(Batcher(3), target, [2, 2, 2])
    assert out == {} and errors == ["model failed"] * 3 and target.sizes == [3]


def test_a_fit_on_the_batched_sampler_stores_each_particles_own_summary(problem, tmp_path):
    from calibration.fit import _sampler, run_fit

    settings = parse_settings({**TINY, "particles_per_batch": 4, "n_procs": 2})
    assert isinstance(_sampler(settings), BatchedEvalParallelSampler)
    tiny = Problem(problem.base, problem.data, problem.drivers, problem.targets, settings.seeds_per_particle,
                   settings.root_seed, Weights(), list(settings.priors))
    path = run_fit(settings, tiny, tmp_path, {"calibration": TINY}, {})
    assert path.is_file()
    history = pyabc.History(f"sqlite:///{tmp_path / 'history.db'}")
    assert history.max_t == settings.max_generations - 1
    population = history.get_population(history.max_t)
    assert len(population.particles) == settings.population_size
    for particle in population.particles[:6]:
        alone = tiny.simulate(dict(particle.parameter))
        assert np.array_equal(particle.sum_stat["stats"], alone["stats"])
        assert particle.sum_stat["root_seed"] == alone["root_seed"]


def test_each_generations_epsilon_is_the_set_quantile_of_the_last_ones_distances(problem, tmp_path):
    from pyabc.weighted_statistics import weighted_quantile

    from calibration.fit import run_fit

    settings = parse_settings({**TINY, "epsilon_quantile": 0.2})
    tiny = Problem(problem.base, problem.data, problem.drivers, problem.targets, settings.seeds_per_particle,
                   settings.root_seed, Weights(), list(settings.priors))
    run_fit(settings, tiny, tmp_path, {"calibration": TINY}, {})
    history = pyabc.History(f"sqlite:///{tmp_path / 'history.db'}")
    first = history.get_weighted_distances(t=0)
    expected = weighted_quantile(first.distance.to_numpy(), first.w.to_numpy() / first.w.sum(), alpha=0.2)
    assert history.get_all_populations().set_index("t").epsilon[1] == pytest.approx(expected)
