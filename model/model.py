"""The Mesa model: the wiring. It owns a batch of runs' state arrays (replicas first), builds the agents, and runs one
year in a fixed order (DESIGN.md §4); the channels' rules live in their modules (contacts, arms, aid, space,
surveillance, relations) as plain functions over arrays.

One step is one year for every replica: drivers, China's strategy and US pressure, the states' channels, the deal
pipeline, stocks and alignment, then recording. A replica is one run: its parameters, its drivers and its random
streams, each derived from (root seed, draw, seed, stream name) with ``numpy.random.SeedSequence``. Its ``noise``
stream draws the whole run's noise before the first year, one block in a fixed layout with each channel's own columns
(common random numbers across scenarios, :func:`noise_layout`); the arms contracts' rows are addressed under a key of
the replica (``model.counter``) as they are signed. Every kernel works on each replica's own rows (no sum or product
across replicas), so a replica's record does not depend on the batch it runs in (``tests/test_batch.py``). Mesa's own
``model.rng`` is the first replica's ``order`` stream (the rules draw nothing from it). The raw draws depend on no
parameter, input or driver, so a batch of the same replicas under another scenario takes them from the first
(:class:`RawNoise`) instead of drawing them again.

Drivers past 2023 carry uncertainty: each run draws its own driver path (``model.shocks.apply_shocks``) from the
``drivers`` stream, keyed by (root seed, draw, seed // seeds_per_path), before anything reads the drivers; policy
switches (US red lines and sanctions, domestic preference, Chinese technology offers) arrive as driver arrays.

Speed (DESIGN.md §9): everything that depends only on parameters, drivers and pre-drawn noise is computed once per
distinct (parameters, driver path) and stacked (``self.k``), so a year is a fixed set of numpy calls and compiled
kernels for the whole batch, whatever its size (docs/ODD.md §10.30).
"""

from __future__ import annotations

import copy
import functools
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import mesa
import numpy as np
from numba import njit

from model import aid, arms, contacts, relations, rules, seeding, space, surveillance
from model.agents import China, LACState, Supplier, UnitedStates, Viewed, china_precompute, us_precompute
from model.contacts import DECIDED, DELEGATION, EXERCISE, FORUM, SPACE, TRAINING  # noqa: F401  (public constants)
from model.data import HIST_START, SUBREGIONS, ModelData
from model.drivers import Drivers
from model.params import ModelParams
from model.pipeline import Pipeline
from model.recorder import Recorder
from model.schema import ARMS_CATEGORIES, SUPPLIERS, Partner
from model.shocks import apply_shocks
from model.slots import (
    R_ADOPTERS,
    R_BOLDNESS,
    R_PRESSURE,
    R_REDLINE,
    R_SHARE,
    R_TENSION,
    S_AID,
    S_ALIGNMENT,
    S_CAMERAS,
    S_CHN_DELIVERED,
    S_DELEGATIONS,
    S_DELIVERED,
    S_EXERCISE,
    S_FORUM,
    S_GROUND,
    S_LEVERAGE,
    S_OFFERED,
    S_PORT,
    S_R_CHINA,
    S_R_US,
    S_RECOGNISES,
    S_SPACE,
    S_SURV_LEVEL,
    S_TOUR,
    S_TRAINING,
)

STREAMS = ("order", NOISE_STREAM := "noise")
# The key of the contracts' rows (model.counter), one per replica: addressed draws, not a stream.
CONTRACT_KEY = "contracts"
# The stream of the drivers' shocks past 2023, keyed by seed // seeds_per_path (consecutive seeds share a driver path).
DRIVER_STREAM = "drivers"
MAX_AID_PACKAGES = 33
# China's yearly exercises and extra port-call hosts are capped here (P(Poisson(3) > 12) is about 5e-5).
MAX_EXERCISES = MAX_HOSTS = 12
# The first slots of the deliveries and of the offers (a slice is not a constant numba can read).
DELIVERED_FIRST, OFFERED_FIRST = S_DELIVERED.start, S_OFFERED.start


def stream_seed(root_seed: int, draw: int, seed: int, name: str) -> np.random.SeedSequence:
    """The seed of one random stream, keyed by (root seed, draw, seed, stream name), never by scenario or worker."""
    return np.random.SeedSequence(entropy=root_seed, spawn_key=(draw, seed, zlib.crc32(name.encode())))


def stream_states(keys: Sequence[tuple[int, int, int]], name: str, n_words: int) -> np.ndarray:
    """(keys, n_words) uint64: ``stream_seed(root, draw, seed, name).generate_state(n_words, np.uint64)`` for each
    (root seed, draw, seed) of ``keys``, hashed in one compiled call (``model.seeding``)."""
    crc = zlib.crc32(name.encode())
    return seeding.generate_states([(root, (d, s, crc)) for root, d, s in keys], n_words)


def stream_generators(keys: Sequence[tuple[int, int, int]], name: str) -> Iterator[np.random.Generator]:
    """Each key's stream ``name`` in turn, as ``np.random.Generator(np.random.PCG64(stream_seed(...)))`` would give
    it: one generator, set to the next key's state at each step (read each before taking the next)."""
    bits = np.random.PCG64(0)
    generator = np.random.Generator(bits)
    for words in stream_states(keys, name, 4):
        bits.state = seeding.pcg64_state(words)
        yield generator


def _stack(name: str, rows: list[np.ndarray]) -> np.ndarray:
    """The replicas' rows of array ``name`` stacked on a new first axis; one row as a view (stacking one costs more
    than a year of a small array). ``np.array`` copies the rows in C, where ``np.stack`` expands each in Python first
    (20 times as long for a scalar's 64 rows); rows that do not stack to the first's shape and dtype are refused after
    it, not checked one by one before."""
    first = np.asarray(rows[0])
    if len(rows) == 1:
        return np.asarray(first, order="C")[None]
    try:
        out = np.array(rows)
    except ValueError:  # (shapes that do not stack)
        out = None
    if out is None or out.shape[1:] != first.shape or out.dtype != first.dtype:
        odd = next(v for v in map(np.asarray, rows) if (v.shape, v.dtype) != (first.shape, first.dtype))
        raise ValueError(f"{name}: a replica has shape {odd.shape} and dtype {odd.dtype}; the batch's first "
                         f"{first.shape} and {first.dtype}")
    return out


def _as_list(value, n: int, name: str) -> list:
    items = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * n
    if len(items) != n:
        raise ValueError(f"{name}: {len(items)} values for a batch of {n} replicas")
    return items


def _precompute(p: ModelParams, data: ModelData, dr: Drivers, market: dict[str, np.ndarray] | None = None
                ) -> dict[str, np.ndarray]:
    """One replica's arrays that depend only on its parameters, the data and its drivers; ``market`` is the arms
    market's part that no driver path changes (:func:`arms.precompute_market`), if already computed."""
    return {**contacts.precompute(p, data, dr), **arms.precompute(p, data, dr, market), **aid.precompute(p, data),
            **space.precompute(p, data, dr), **surveillance.precompute(p, data, dr), **relations.precompute(p, dr),
            **china_precompute(p, data, dr), **us_precompute(p, data, dr)}


@njit(cache=True)
def _record_channels(rec, offered, visits, tour, training, forums, port, exercise, aid, projects, ground, level,
                     cameras):
    """The year's offers and channel outcomes into its record (one compiled pass instead of twelve slice
    assignments)."""
    n_rep, n, n_cat = offered.shape
    for r in range(n_rep):
        for i in range(n):
            for c in range(n_cat):
                rec[r, i, OFFERED_FIRST + c] = 1.0 if offered[r, i, c] else 0.0
            rec[r, i, S_DELEGATIONS], rec[r, i, S_TOUR] = visits[r, i], tour[r, i]
            rec[r, i, S_TRAINING], rec[r, i, S_FORUM] = training[r, i], forums[r, i]
            rec[r, i, S_PORT], rec[r, i, S_EXERCISE], rec[r, i, S_AID] = port[r, i], exercise[r, i], aid[r, i]
            rec[r, i, S_SPACE], rec[r, i, S_GROUND] = projects[r, i], ground[r, i]
            rec[r, i, S_SURV_LEVEL], rec[r, i, S_CAMERAS] = level[r, i], cameras[r, i]


@njit(cache=True)
def _record_stocks(rec, region, delivered, r_china, r_us, leverage, alignment, pressure):
    """The year's deliveries, relationship stocks, US leverage and alignment into its record ``rec``; US pressure,
    China's share of the region's imports and the surveillance adopters into its regional record ``region``.

    The share is China's deliveries over all imports (deliveries less the domestic supplier's), 0 without imports,
    each summed as numpy sums the record over its states: all suppliers of all states pairwise in (state, supplier)
    order (numpy buffers the two axes), one supplier pairwise over the states."""
    n_rep, n, n_sup = delivered.shape
    column = np.empty(n)
    for r in range(n_rep):
        adopters = 0
        for i in range(n):
            for j in range(n_sup):
                rec[r, i, DELIVERED_FIRST + j] = delivered[r, i, j]
            rec[r, i, S_CHN_DELIVERED] = delivered[r, i, arms.CHN_IDX]
            rec[r, i, S_R_CHINA], rec[r, i, S_R_US] = r_china[r, i], r_us[r, i]
            rec[r, i, S_LEVERAGE], rec[r, i, S_ALIGNMENT] = leverage[r, i], alignment[r, i]
            adopters += rec[r, i, S_SURV_LEVEL] != 0.0
        imports = rules.pairwise_sum(delivered[r].ravel(), 0, n * n_sup)
        for i in range(n):
            column[i] = delivered[r, i, arms.DOMESTIC_IDX]
        imports -= rules.pairwise_sum(column, 0, n)
        for i in range(n):
            column[i] = delivered[r, i, arms.CHN_IDX]
        chinese = rules.pairwise_sum(column, 0, n)
        region[r, R_SHARE] = chinese / imports if imports > 0.0 else 0.0
        region[r, R_ADOPTERS] = adopters
        region[r, R_PRESSURE] = pressure[r]


@functools.cache
def noise_layout(n: int) -> dict[str, slice]:
    """Where each channel's uniforms sit in a replica's year of noise (:func:`_raw_noise`) for ``n`` states: one
    column per state (``2 n`` for surveillance's two) or one for the region. The first two blocks are turned into
    logistic and log-uniform draws; the rest are read as uniforms. (Shared: never written.)"""
    widths = (
        # logistic: the training, forum and space decisions' noise; the PLA Navy's voyage
        ("training", n), ("forums", n), ("space", n), ("voyage", 1),
        # log-uniform: the weighted picks of exercise partners, port-call hosts, tour stops and aid recipients
        ("exercise_pick", n), ("host_pick", n), ("tour_pick", n), ("aid_pick", n),
        # uniform: ground stations, CBERS's continuation, surveillance's adoption and cut, a regular tour, donations,
        # the number of arms contracts and of delegation visits (per state), of exercises, extra hosts and aid
        # packages (China's yearly numbers)
        ("ground", n), ("continuation", 1), ("surveillance", 2 * n), ("tour", 1), ("donation", n), ("contracts", n),
        ("visits", n), ("exercises", 1), ("hosts", 1), ("aid", 1))
    ends = np.cumsum([w for _, w in widths])
    out = {name: slice(int(end - w), int(end)) for (name, w), end in zip(widths, ends, strict=True)}
    out["logistic"] = slice(0, out["voyage"].stop)
    out["log"] = slice(out["exercise_pick"].start, out["aid_pick"].stop)
    out["width"] = slice(0, int(ends[-1]))
    return out


def _raw_noise(u: np.ndarray, normal: np.ndarray, logistic: np.ndarray, log_u: np.ndarray) -> dict[str, np.ndarray]:
    """The batch's raw arrays, each a view of its replicas' blocks (:func:`draw_raw_noise`): ``u`` the uniforms laid
    out by :func:`noise_layout`, ``normal`` one normal per state-year (aid package sizes), ``logistic`` and ``log_u``
    the logistic and log-uniform transforms of the first two blocks. Names starting with ``_`` are only read by
    :func:`_noise`."""
    r, ny, _ = u.shape
    n = normal.shape[2]
    lay = noise_layout(n)

    def block(a, name, base=0):
        return a[:, :, lay[name].start - base:lay[name].stop - base]

    out = {"noise": logistic[:, :, :3 * n].reshape(r, ny, 3, n).transpose(0, 1, 3, 2),
           "_voyage_z": block(logistic, "voyage")[:, :, 0], "_aid_normal": normal,
           "u_surveillance": block(u, "surveillance").reshape(r, ny, 2, n)}
    for name, into in (("exercise_pick", "log_u_exercise"), ("host_pick", "log_u_hosts"), ("tour_pick", "log_u_tour"),
                       ("aid_pick", "log_u_aid")):
        out[into] = block(log_u, name, lay["log"].start)
    for name, into in (("ground", "u_ground"), ("donation", "u_aid"), ("contracts", "u_contracts"),
                       ("visits", "u_visits")):
        out[into] = block(u, name)
    for name, into in (("continuation", "_u_continuation"), ("tour", "u_tour"), ("exercises", "_u_exercises"),
                       ("hosts", "_u_hosts"), ("aid", "_u_aid_packages")):
        out[into] = block(u, name)[:, :, 0]
    return out


def _space_schedule(data: ModelData, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scheduled space programmes by (year, state), the article's dates up to 2023, and where a yearly
    continuation hazard applies instead: from the year after each state's last scheduled launch (DESIGN.md §4), so
    the record's years after CBERS-4A test the hazard instead of holding no launch by construction (docs/ODD.md
    §10.32). The same for every replica of a batch."""
    sched = np.zeros((len(years), len(data.iso3)))
    hist = years <= HIST_START + len(data.space_schedule) - 1
    sched[hist] = data.space_schedule[years[hist] - HIST_START]
    last = data.space_last_year
    return sched, (last > 0) & (years[:, None] > last)


def _noise(raw: Mapping[str, np.ndarray], k: SimpleNamespace, params: Sequence[ModelParams],
           drivers: Sequence[Drivers], schedule: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """The batch's noise that its parameters, inputs or drivers shape, from its raw draws (``raw``) and its
    precomputed arrays ``k``; ``schedule`` is :func:`_space_schedule` of the batch. China's yearly numbers of
    exercises, extra port-call hosts and aid packages are capped Poisson counts by inversion of one uniform each, so a
    scenario's capacity path moves a count without moving any other draw."""

    def each(get) -> np.ndarray:
        return np.array([get(p) for p in params])[:, None]

    out = {}
    out["n_exercises"] = rules.capped_poisson(raw["_u_exercises"], k.exercise_rate, MAX_EXERCISES)
    sched, continues = schedule
    out["space_scheduled"] = np.maximum(
        sched, continues * (raw["_u_continuation"][:, :, None] < each(lambda p: p.space.cbers_continuation)[:, None]))
    reach = np.array([dr.pla_navy_reach for dr in drivers])
    out["voyage"] = raw["_voyage_z"] < (each(lambda p: p.port_calls.intercept)
                                        + each(lambda p: p.port_calls.reach) * reach)
    # Hosts beyond the first within (hosts_mean - 1) x China's capacity (its means).
    out["n_hosts"] = 1 + rules.capped_poisson(raw["_u_hosts"], (each(lambda p: p.port_calls.hosts_mean) - 1.0)
                                              * k.capacity, MAX_HOSTS)
    out["n_aid"] = rules.capped_poisson(raw["_u_aid_packages"], each(lambda p: p.china.aid_packages_per_year)
                                        * k.capacity, MAX_AID_PACKAGES)
    out["aid_size"] = (each(lambda p: p.china.aid_package_usd_m)[:, :, None]
                       * np.exp(each(lambda p: p.china.aid_size_sigma)[:, :, None] * raw["_aid_normal"]))
    return out


@dataclass(frozen=True)
class RawNoise:
    """A batch's raw draws (:func:`_raw_noise`, stacked by replica) and the replicas they belong to: a model of the
    same replicas under another scenario takes them instead of drawing them again. Shared, so never written: the
    kernels only read them (a group's records equal its scenarios run apart, ``tests/test_batch.py``); they are not
    flagged read-only, which would make numba compile every kernel that reads them a second time."""

    keys: tuple[tuple[int, int, int], ...]  # (root seed, draw, seed) per replica
    arrays: dict[str, np.ndarray]
    contract_key: np.ndarray


def draw_raw_noise(keys: Sequence[tuple[int, int, int]], ny: int, n: int) -> RawNoise:
    """The raw draws of the replicas ``keys`` ((root seed, draw, seed) each) over ``ny`` years and ``n`` states, each
    replica from its own ``noise`` stream: a block of uniforms laid out by :func:`noise_layout` (each channel its own
    columns, so a scenario that changes one channel's use of its draws leaves the others' in place: common random
    numbers), then one normal per state-year, drawn before any parameter, input or driver enters (:func:`_noise` does
    that), so the batches of other scenarios over the same replicas reuse them. Each replica's transforms run on its
    own rows, so its draws do not depend on its batch; the channels' arrays are views of the blocks
    (:func:`_raw_noise`)."""
    lay = noise_layout(n)
    r = len(keys)
    u, normal = np.empty((r, ny, lay["width"].stop)), np.empty((r, ny, n))
    logistic, log_u = np.empty((r, ny, lay["logistic"].stop)), np.empty((r, ny, lay["log"].stop - lay["log"].start))
    for i, generator in enumerate(stream_generators(keys, NOISE_STREAM)):
        generator.random(out=u[i])
        generator.standard_normal(out=normal[i])
        odds = u[i, :, lay["logistic"]]
        np.log(odds / (1.0 - odds), out=logistic[i])  # logistic from uniform, as numpy's own logistic draws it
        np.log(u[i, :, lay["log"]], out=log_u[i])
    # Each replica's Philox key: two words of its contract key's seed sequence, as numpy's Philox(seed) makes its key.
    contract_key = stream_states(keys, CONTRACT_KEY, 2)
    return RawNoise(tuple(keys), _raw_noise(u, normal, logistic, log_u), contract_key)


POLICY_INPUTS = ("_ban", "_ban_ground", "_ban_surveillance", "_strength", "_years")
POLICY_STATE = ("_until", "_offence", "_sanctioned")


@dataclass(frozen=True)
class History:
    """A batch's state after its first ``t`` years, and every input those years read (:meth:`DefenceTiesModel.history`).

    Another batch of the same replicas under another scenario whose inputs agree with these over those years
    (:meth:`DefenceTiesModel.shares_history`) would have reached exactly this state: it can start from it
    (:meth:`DefenceTiesModel.restore`) instead of running those years again.
    """

    t: int
    inputs: dict[str, Any]
    state: dict[str, Any]


class DefenceTiesModel(mesa.Model):
    """China, the United States, other suppliers and the 33 CELAC states, one step per year, for R replicas at once.

    Args:
        params: behavioural parameters, one set or one per replica.
        data: validated inputs (shared).
        drivers: driver arrays for the run's years (built once per scenario), one or one per replica; all replicas
            run the same years.
        root_seed, draw, seed: key of each replica's streams, an int (one replica, or the same for all) or one per
            replica (a calibration batch mixes particles, each with its own root seed).

    The agents and the model's state attributes (``r_china``, ``installed``, ``recorder.states`` ...) show one replica,
    ``replica`` (0 unless set); the kernels work on the batched arrays ``self.s`` (state) and ``self.k`` (constants
    and pre-drawn noise).
    """

    # One replica's view of the state (s) and of the constants and noise (k): for inspection, agents and tests.
    r_china, r_us, trust, alignment, exposure, gate = (Viewed("s") for _ in range(6))
    training_prev, forum_prev, surveillance_level, cameras, ground_station = (Viewed("s") for _ in range(5))
    exercised, hosted, aided, offered, capability_gap = (Viewed("s") for _ in range(5))
    on_order, cooling, installed, capability = (Viewed("s") for _ in range(4))
    _cool_release = Viewed("s", "cool_release")
    _u_visits, _noise = Viewed("k", "u_visits"), Viewed("k", "noise")
    _alignment_data, _exercise_rate = Viewed("k", "alignment_data"), Viewed("k", "exercise_rate")
    log_u_exercise, n_exercises, n_aid = Viewed("k"), Viewed("k"), Viewed("k")
    _aid_size = Viewed("k", "aid_size")
    _onset, _target = Viewed("k", "onset"), Viewed("k", "target")
    _legacy_due = Viewed("k", "legacy_due", row="market_row")
    _u_contracts = Viewed("k", "u_contracts")
    _static_utility, _space_offer = Viewed("k", "static_utility", row="market_row"), Viewed("k", "space_offer")
    boldness_path = Viewed("k", "boldness")

    def __init__(self, params: ModelParams | Sequence[ModelParams], data: ModelData,
                 drivers: Drivers | Sequence[Drivers], root_seed: int | Sequence[int] = 0,
                 draw: int | Sequence[int] = 0, seed: int | Sequence[int] = 0,
                 raw_noise: RawNoise | None = None) -> None:
        sizes = [len(v) for v in (params, drivers, root_seed, draw, seed)
                 if isinstance(v, (list, tuple, np.ndarray))]
        r = sizes[0] if sizes else 1
        all_params = _as_list(params, r, "params")
        base_drivers = _as_list(drivers, r, "drivers")
        draws = [int(d) for d in _as_list(draw, r, "draw")]
        seeds = [int(s) for s in _as_list(seed, r, "seed")]
        roots = [int(s) for s in _as_list(root_seed, r, "root_seed")]
        years = base_drivers[0].years
        if any(not np.array_equal(d.years, years) for d in base_drivers):
            raise ValueError("drivers: every replica of a batch must run the same years")
        keys = tuple(zip(roots, draws, seeds, strict=True))
        if raw_noise is not None and raw_noise.keys != keys:
            raise ValueError("raw_noise: drawn for other replicas; allowed: the raw noise of a batch with the same "
                             "root seeds, draws and seeds, in the same order")
        # Mesa's own generators come from replica 0's order stream (Mesa draws one number from it).
        super().__init__(rng=np.random.Generator(np.random.PCG64(stream_seed(roots[0], draws[0], seeds[0], "order"))))
        self.replicas, self.replica = r, 0
        self.draws, self.seeds = np.array(draws), np.array(seeds)
        # This run's driver path past 2023, before anything derives a series from the drivers; replicas that share
        # (drivers, root seed, draw, path) share the path and, with the same parameters, the precomputed arrays.
        path_keys = [None if dr.shocks is None else (id(dr), root, d, s // dr.shocks.settings.seeds_per_path)
                     for dr, root, d, s in zip(base_drivers, roots, draws, seeds, strict=True)]
        paths = {key: dr for key, dr in zip(path_keys, base_drivers, strict=True) if key is not None}
        for key, rng in zip(paths, stream_generators([key[1:] for key in paths], DRIVER_STREAM), strict=True):
            paths[key] = apply_shocks(paths[key], rng)
        self.all_drivers = [dr if key is None else paths[key] for key, dr in zip(path_keys, base_drivers, strict=True)]
        self.all_params = all_params
        self.data = data
        self.years = years
        self.n = n = len(data.iso3)
        self.t = 0
        self.year = int(years[0])
        self.members = np.eye(len(SUBREGIONS))[data.country["subregion"].astype(int)]
        self.raw_noise = raw = draw_raw_noise(keys, len(years), n) if raw_noise is None else raw_noise
        schedule = _space_schedule(data, years)
        # Replicas that share parameters and a driver path share their precomputed row; each array is stacked in one
        # call (a copy per replica and array took a tenth of a batch's building).
        # Replicas of the same parameters and scenario share the arms market's arrays that no path changes; its
        # yearly ones are stored once per market (arms.MARKET_ROWS, read at k.market_row).
        cache: dict[tuple[int, int], dict] = {}
        markets: dict[tuple[int, int], dict] = {}
        market_index: dict[tuple[int, int], int] = {}
        rows, market_row = [], []
        for p, base, dr in zip(all_params, base_drivers, self.all_drivers, strict=True):
            key, scenario = (id(p), id(dr)), (id(p), id(base))
            if scenario not in markets:
                markets[scenario] = arms.precompute_market(p, data, base)
                market_index[scenario] = len(market_index)
            market_row.append(market_index[scenario])
            if key not in cache:
                cache[key] = _precompute(p, data, dr, markets[scenario])
            rows.append(cache[key])
        arrays = {name: _stack(name, [row[name] for row in rows]) for name in rows[0] if name not in arms.MARKET_ROWS}
        arrays.update({name: _stack(name, [m[name] for m in markets.values()]) for name in arms.MARKET_ROWS})
        arrays["market_row"] = np.array(market_row, dtype=np.int64)
        # The raw draws the kernels read as they are: shared, never written, with the batches of other scenarios.
        arrays.update({name: v for name, v in raw.arrays.items() if not name.startswith("_")})
        arrays["contract_key"] = raw.contract_key
        self.k = k = SimpleNamespace(**arrays)
        vars(k).update(_noise(raw.arrays, k, all_params, self.all_drivers, schedule))
        # Drivers the kernels read every year, stacked.
        self._fiscal = np.array([d.fiscal_stress for d in self.all_drivers])
        # The political move of each change of government (0 in other years): deals on the other side of it are
        # exposed to failure (rules.regime_exposure).
        swing = {id(d): d.regime_change * np.diff(d.orientation, axis=0, prepend=d.orientation[:1])
                 for d in self.all_drivers}
        self._swing = np.array([swing[id(d)] for d in self.all_drivers])
        self._recognition = np.array([d.recognises_beijing for d in self.all_drivers])

        # Dynamic state (agents are views on the viewed replica's rows). R_cn, R_us and dual-use trust as rows of one
        # array, updated by a single call a year.
        zeros = np.zeros((r, n))
        stock = np.array([zeros, np.full((r, n), 0.5), zeros])
        self.s = SimpleNamespace(
            stock=stock, r_china=stock[0], r_us=stock[1], trust=stock[2], alignment=k.alignment_data[:, 0].copy(),
            exposure=zeros.copy(), gate=self._recognition[:, 0], training_prev=zeros.copy(),
            forum_prev=zeros.copy(), surveillance_level=zeros.copy(), cameras=zeros.copy(),
            ground_station=zeros.copy(),
            # China's past partners (ever): exercises, port-call hosts, aid recipients (persistent partner effects).
            exercised=zeros.copy(), hosted=zeros.copy(), aided=zeros.copy(),
            offered=np.zeros((r, n, len(ARMS_CATEGORIES)), dtype=bool), capability_gap=zeros.copy(),
            on_order=zeros.copy(),  # undelivered TIV of active deals, kept in step with the pipeline
            # Undelivered TIV of failed orders still counting against the gap (cooling-off), and when each part is
            # released.
            cooling=zeros.copy(), cool_release=np.zeros((r, len(years) + int(k.cooling_years.max()) + 2, n)),
            last_tour=np.full(r, -10_000), installed=k.installed0.copy(), capability=k.capability0.copy(),
            dual_use=zeros.copy(),
        )
        self.pipeline = Pipeline(capacity=arms.DEALS_PER_RUN * r)
        self.recorder = Recorder(years, data.iso3, r)
        self.recorder.all_states[:, :, :, S_RECOGNISES] = self._recognition  # a driver: recorded once

        self.states = [LACState(self, iso, i) for i, iso in enumerate(data.iso3)]
        self.china = China(self)
        self.us = UnitedStates(self)
        self.suppliers = [Supplier(self, s) for s in SUPPLIERS if s not in (Partner.CHN, Partner.USA)]
        self.lac_states = self.agents_by_type[LACState]

    @property
    def params(self) -> ModelParams:
        """The viewed replica's parameters."""
        return self.all_params[self.replica]

    @property
    def drivers(self) -> Drivers:
        """The viewed replica's drivers (its own path past 2023)."""
        return self.all_drivers[self.replica]

    def view(self, replica: int) -> None:
        """Show ``replica`` through the agents and the model's state attributes."""
        if not 0 <= replica < self.replicas:
            raise ValueError(f"replica: {replica} is out of range; allowed 0..{self.replicas - 1}")
        self.replica = self.recorder.replica = self.us.policy.replica = replica

    def release(self) -> None:
        """Drop every reference between the model and its agents, so memory is freed at once, not by the cycle GC.

        Mesa 3.3.1 keeps each model in ``mesa.Agent._ids`` (a class-level dict) and agents and model reference each
        other; a calibration building thousands of models would otherwise grow until a full garbage collection.
        """
        mesa.Agent._ids.pop(self, None)
        # Mesa stores the bound `_wrapped_step` on the instance (a self-cycle); clearing the state breaks every cycle.
        self.__dict__.clear()

    # ---- shared history -------------------------------------------------------------------------------------------
    def _inputs(self) -> dict[str, Any]:
        """What a year reads besides the state: parameters, replica keys, constants and noise, drivers, US switches."""
        policy = self.us.policy
        return {"params": self.all_params, "draws": self.draws, "seeds": self.seeds, "years": self.years,
                **{f"k.{name}": v for name, v in vars(self.k).items()},
                "fiscal": self._fiscal, "swing": self._swing, "recognition": self._recognition,
                **{f"policy.{name}": getattr(policy, name) for name in POLICY_INPUTS}}

    def history(self) -> History:
        """The state after the years run so far (copies), with the inputs they read (references: never written)."""
        policy = self.us.policy
        t = self.t
        state = copy.deepcopy({
            "s": vars(self.s), "pipeline": self.pipeline, "states": self.recorder.all_states[:, :t],
            "region": self.recorder.all_region[:, :t],
            "policy": {name: getattr(policy, name) for name in POLICY_STATE},
            "china": vars(self.china.x), "us": vars(self.us.x), "steps": self.steps})
        return History(t, self._inputs(), state)

    def shares_history(self, h: History) -> bool:
        """Whether this batch, not yet stepped, reads exactly ``h``'s inputs in ``h``'s years: then its first
        ``h.t`` years would reach ``h``'s state.

        Arrays with the years on their second axis are compared over ``h``'s years, the others whole. Refused, so the
        batch runs its years itself, when the number of years equals the length of another axis of an input (the years'
        axis would be ambiguous).
        """
        if self.t != 0:
            return False
        mine, ny, t = self._inputs(), len(self.years), h.t
        if mine.keys() != h.inputs.keys() or not np.array_equal(mine["years"], h.inputs["years"]):
            return False
        # Axes after the replicas' (the first) that are not the years'.
        other_axes = {d for v in mine.values() if isinstance(v, np.ndarray) and v.ndim >= 2
                      for i, d in enumerate(v.shape[1:], start=1) if i != 1 or d != ny}
        if ny in other_axes or len(mine["params"]) != len(h.inputs["params"]):
            return False
        if any(a is not b and a != b for a, b in zip(mine["params"], h.inputs["params"], strict=True)):
            return False
        for name, a in mine.items():
            if name in ("params", "years"):
                continue
            b = h.inputs[name]
            if a is b:  # the raw draws, shared by the batches of one set of replicas
                continue
            if not isinstance(a, np.ndarray):
                if a != b:
                    return False
                continue
            if a.ndim >= 2 and a.shape[1] == ny:
                a, b = a[:, :t], b[:, :t]
            if a.shape != b.shape or a.dtype != b.dtype:
                return False
            # A plain comparison first: array_equal's NaN handling costs fifteen times as much, so only on a miss.
            if not (a == b).all() and not (a.dtype.kind == "f" and np.array_equal(a, b, equal_nan=True)):
                return False
        return True

    def restore(self, h: History) -> None:
        """Start from ``h``'s state (a copy): the next step is year ``h.t``. Only after :meth:`shares_history`."""
        state = copy.deepcopy(h.state)
        self.s = SimpleNamespace(**state["s"])
        self.pipeline = state["pipeline"]
        self.recorder.all_states[:, :h.t] = state["states"]
        self.recorder.all_region[:, :h.t] = state["region"]
        for name, v in state["policy"].items():
            setattr(self.us.policy, name, v)
        self.china.x, self.us.x = SimpleNamespace(**state["china"]), SimpleNamespace(**state["us"])
        self.steps, self.t = state["steps"], h.t
        self.year = int(self.years[min(h.t, len(self.years) - 1)])

    # ---- one year -------------------------------------------------------------------------------------------------
    def step(self) -> None:
        """One year, in the fixed order of DESIGN.md §4."""
        self.update_drivers()
        self.china.set_strategy()
        self.us.set_pressure()
        contacts_cn = self.act_channels()
        delivered = self.run_pipeline()
        self.update_stocks(contacts_cn, delivered)
        self.t += 1
        if self.t < len(self.years):
            self.year = int(self.years[self.t])

    def update_drivers(self) -> None:
        """Recognition gate, alignment (data path plus drift) and the US's sanctions for this year."""
        t, s = self.t, self.s
        s.gate = self._recognition[:, t]
        s.alignment = relations.alignment(self.k, s, t)
        self.us.policy.start_year(t, self.year)

    def act_channels(self) -> np.ndarray:
        """Every PLA and dual-use channel for all states of all replicas; returns this year's contact intensity with
        China (dual-use contacts kept for update_stocks)."""
        k, s, t, y = self.k, self.s, self.t, self.year
        rec = self.recorder.all_states[:, t]
        china, us = self.china.x, self.us.x
        policy = self.us.policy
        us_hold = us.pressure[:, None] * us.leverage
        peer = contacts.peer_share(self.members, s.training_prev, s.gate)
        logits = contacts.linear_predictors(k, s, t, china.finance, us_hold, peer)
        s.offered, self.recorder.all_region[:, t, R_REDLINE] = arms.offers(k, s, china.boldness, us.pressure,
                                                                           us.leverage, policy, t)

        visits, tour = contacts.delegations(k, s, t, y, logits[:, :, DELEGATION], china.priority)
        # Training, forums and space projects: decisions against each stream's logistic noise; US pressure x leverage
        # lowers the logit, so states can stop sending and participation has a ceiling below every eligible state.
        training, forums, projects = contacts.decisions(k, s, t, logits)
        s.training_prev, s.forum_prev = training, forums
        # Exercises, port calls and aid: China's limited yearly budget, allocated by China's priority (size, exposure,
        # alignment) and ties; past partners weigh more, and every open state keeps a non-zero chance (new partners).
        exercise = contacts.exercises(k, s, t, logits[:, :, EXERCISE], china.priority)
        port = contacts.port_calls(k, s, t, china.priority)
        aid_usd = aid.packages(k, s, t, y, china.aid_priority, self.pipeline)
        arms.sign(k, s, t, y, us.pressure, us.leverage, china.finance, china.credit, self._fiscal[:, t], policy,
                  self.pipeline, rec)
        projects = space.projects(k, s, t, projects, policy)
        adopted = surveillance.adopt(k, s, t, china.finance, us_hold, policy)
        s.dual_use = projects + adopted

        _record_channels(rec, s.offered, visits, tour, training, forums, port, exercise, aid_usd, projects,
                         s.ground_station, s.surveillance_level, s.cameras)
        return relations.china_contacts(k, visits, training, exercise, port, forums, aid_usd, s.dual_use)

    def run_pipeline(self) -> np.ndarray:
        """Failures, then deliveries (replica x state x supplier)."""
        t = self.t
        return arms.run_pipeline(self.k, self.s, t, self.year, self.us.x.pressure, self.us.x.leverage,
                                 self._fiscal[:, t], self._swing[:, t], self.us.policy, self.pipeline,
                                 self.recorder.all_states[:, t])

    def update_stocks(self, contacts_cn: np.ndarray, delivered: np.ndarray) -> None:
        """Capability and installed base, relationship stocks with both patrons, and recording of the year."""
        k, s, t = self.k, self.s, self.t
        rec = self.recorder.all_states[:, t]
        arms.update_capability(k, s, delivered)
        factor = self.us.policy.us_contact_factor(t)
        self.us.policy.end_year(t, self.year)
        relations.update(k, s, contacts_cn, s.dual_use, delivered, factor)
        _record_stocks(rec, self.recorder.all_region[:, t], delivered, s.r_china, s.r_us, self.us.x.leverage,
                       s.alignment, self.us.x.pressure)

    def finish(self) -> None:
        """Record what follows from the drivers alone, once for the whole run."""
        region = self.recorder.all_region
        region[:, :, R_BOLDNESS] = self.k.boldness
        region[:, :, R_TENSION] = np.array([d.us_china_tension for d in self.all_drivers])
