"""The Mesa model: owns the state arrays, builds the agent views, and runs one year in a fixed order (DESIGN.md §4).

One step is one year: drivers, China's strategy and US pressure, the states' channels, the deal pipeline, stocks and
alignment, then recording. Randomness: one generator per channel (common random numbers across scenarios), each
derived from (root seed, draw, seed, stream name) with ``numpy.random.SeedSequence``; Mesa's own ``model.rng`` is the
``order`` stream (the model's rules draw nothing from it). Every channel's noise, the arms market's included, is drawn
before the first year, so a run's draws do not depend on its path.

Drivers past 2023 carry uncertainty: the run draws its own driver path (``model.drivers.apply_shocks``) from the
``drivers`` stream, keyed by (root seed, draw, seed // seeds_per_path), before anything reads the drivers; policy
switches (US red lines and sanctions, domestic preference, Chinese technology offers) arrive as driver arrays.

Speed (DESIGN.md §9): everything that depends only on parameters, drivers and pre-drawn noise is computed once in
``__init__`` (``_k``, ``_coef``, ``_onset``, ``_availability`` ...), so a year costs about a hundred numpy calls.
"""

from __future__ import annotations

import zlib
from types import SimpleNamespace

import mesa
import numpy as np
from scipy.special import expit, logit, ndtri

from model import rules
from model.agents import CHN_IDX, DOMESTIC_IDX, RUS_IDX, USA_IDX, China, LACState, Supplier, UnitedStates, boldness_path
from model.data import HIST_END, HIST_START, SUBREGIONS, ModelData
from model.drivers import Drivers, apply_shocks
from model.params import ModelParams
from model.pipeline import ACTIVE, DELIVERED, FAILED, Pipeline
from model.recorder import Recorder
from model.schema import (
    ARMS_CATEGORIES,
    IMPORT_SUPPLIERS,
    REGION_VARIABLES,
    STATE_SLOTS,
    STATE_VARIABLES,
    SUPPLIERS,
    Partner,
)

STREAMS = ("order", "delegations", "training", "port_calls", "exercises", "forums", "arms", "aid", "space",
           "surveillance")
# The stream of the drivers' shocks past 2023, keyed by seed // seeds_per_path (consecutive seeds share a driver path).
DRIVER_STREAM = "drivers"
LIGHT = ARMS_CATEGORIES.index("light")
MAJOR = ARMS_CATEGORIES.index("major_platform")
IMPORT_COLUMNS = np.array([SUPPLIERS.index(s) for s in IMPORT_SUPPLIERS])
# A supplier with under 1% of a state's installed base is new to it: the entry barrier applies (interoperability).
NEW_SUPPLIER_SHARE = 0.01
# Columns of the yearly linear predictors (one matrix product gives all five); EXERCISE is a partner's log-weight.
DELEGATION, TRAINING, FORUM, EXERCISE, SPACE = range(5)
DECIDED = [TRAINING, FORUM, SPACE]
# Delegation visits per state and year are capped here (P(Poisson(5) > 16) is about 1e-5).
MAX_VISITS = 16
MAX_AID_PACKAGES = 33
# China's yearly exercises and extra port-call hosts are capped here (P(Poisson(3) > 12) is about 5e-5).
MAX_EXERCISES = MAX_HOSTS = 12
# A contract's uniforms: category, size (a normal by inversion), lag, China against the best other supplier (a
# logistic), which other supplier is best, its failure clock (a unit exponential of cumulative hazard), veto or other
# failure when it fails, its place in the queue for China's credit line.
ARMS_POOL_COLUMNS = ("category", "size", "lag", "choice", "other", "clock", "veto", "queue")
ARMS_POOL_ROWS = 1 << 11  # 2,048 rows
# r_china, alignment, exposure, trained last year, attended last year, peer share, finance, trust, tech, US pressure
# x leverage
N_FEATURES = 10

C, NONE, USA = Partner.CHN, Partner.NONE, Partner.USA
S_DELEGATIONS, S_TOUR = STATE_SLOTS[("delegations", C)], STATE_SLOTS[("delegation_tour", C)]
S_TRAINING, S_FORUM = STATE_SLOTS[("officers_training", C)], STATE_SLOTS[("forum_attends", C)]
S_PORT, S_EXERCISE = STATE_SLOTS[("port_call", C)], STATE_SLOTS[("exercise", C)]
S_AID, S_SPACE, S_GROUND = (STATE_SLOTS[("china_aid_usd_m", C)], STATE_SLOTS[("space_project", C)],
                            STATE_SLOTS[("space_ground_station", C)])
S_SURV_LEVEL, S_CAMERAS = STATE_SLOTS[("surveillance_level", C)], STATE_SLOTS[("surveillance_cameras", C)]
S_GAP = STATE_SLOTS[("capability_gap", NONE)]
S_CHN_DELIVERED, S_CHN_SIGNED = STATE_SLOTS[("china_arms_delivered_tiv", C)], STATE_SLOTS[("china_arms_deal_signed", C)]
S_CHN_MAJOR, S_CHN_FAILED = STATE_SLOTS[("china_arms_deal_signed_major", C)], STATE_SLOTS[("china_arms_deal_failed", C)]
S_CHN_VETOED, S_DONATION = STATE_SLOTS[("china_arms_deal_vetoed", C)], STATE_SLOTS[("china_arms_donation", C)]
S_COPRODUCTION = STATE_SLOTS[("china_coproduction_deal", C)]
S_OFFERED = slice(STATE_SLOTS[("china_arms_offered_light", C)],
                  STATE_SLOTS[("china_arms_offered_light", C)] + len(ARMS_CATEGORIES))
S_R_CHINA, S_R_US = STATE_SLOTS[("r_china", C)], STATE_SLOTS[("r_us", USA)]
S_ALIGNMENT, S_LEVERAGE = STATE_SLOTS[("alignment", NONE)], STATE_SLOTS[("us_leverage", USA)]
S_RECOGNISES = STATE_SLOTS[("recognises_beijing", C)]
S_DELIVERED = slice(STATE_SLOTS[("arms_imports_tiv", SUPPLIERS[0])],
                    STATE_SLOTS[("arms_imports_tiv", SUPPLIERS[0])] + len(SUPPLIERS))
S_SIGNED = STATE_SLOTS[("arms_deals_signed", SUPPLIERS[0])]
assert [STATE_VARIABLES[i].partner for i in range(S_DELIVERED.start, S_DELIVERED.stop)] == list(SUPPLIERS)
assert STATE_SLOTS[("arms_deals_signed", SUPPLIERS[-1])] == S_SIGNED + len(SUPPLIERS) - 1
R_PRESSURE, R_BOLDNESS, R_SHARE, R_TENSION, R_ADOPTERS = range(5)
R_REDLINE = slice(5, 5 + len(ARMS_CATEGORIES))
assert [v.name for v in REGION_VARIABLES] == ["us_pressure", "china_boldness", "china_arms_share", "us_china_tension",
                                              "surveillance_adopters"] + [f"china_redline_{c}" for c in ARMS_CATEGORIES]


def stream_seed(root_seed: int, draw: int, seed: int, name: str) -> np.random.SeedSequence:
    """The seed of one random stream, keyed by (root seed, draw, seed, stream name), never by scenario or worker."""
    return np.random.SeedSequence(entropy=root_seed, spawn_key=(draw, seed, zlib.crc32(name.encode())))


class DefenceTiesModel(mesa.Model):
    """China, the United States, other suppliers and the 33 CELAC states, one step per year.

    Args:
        params: behavioural parameters.
        data: validated inputs.
        drivers: driver arrays for the run's years (built once per scenario).
        root_seed, draw, seed: key of the run's random streams.
    """

    def __init__(self, params: ModelParams, data: ModelData, drivers: Drivers, root_seed: int = 0, draw: int = 0,
                 seed: int = 0) -> None:
        streams = {name: np.random.Generator(np.random.PCG64(stream_seed(root_seed, draw, seed, name)))
                   for name in STREAMS}
        super().__init__(rng=streams["order"])
        if drivers.shocks is not None:
            # This run's driver path past 2023, before anything derives a series from the drivers.
            key = stream_seed(root_seed, draw, seed // drivers.shocks.settings.seeds_per_path, DRIVER_STREAM)
            drivers = apply_shocks(drivers, np.random.Generator(np.random.PCG64(key)))
        self.params, self.data, self.drivers = params, data, drivers
        self.years = drivers.years
        self.n = n = len(data.iso3)
        self.t = 0
        self.year = int(self.years[0])
        country = data.country
        self.members = np.eye(len(SUBREGIONS))[country["subregion"].astype(int)]
        self._precompute()
        self._draw_noise(streams)

        # Dynamic state (agents are views on these rows).
        # R_cn, R_us and dual-use trust as rows of one array, updated by a single call a year.
        self._stock = np.array([np.zeros(n), np.full(n, 0.5), np.zeros(n)])
        self.r_china, self.r_us, self.trust = self._stock
        self.alignment = self._alignment_data[0].copy()
        self.exposure = np.zeros(n)
        self.gate = drivers.recognises_beijing[0]
        self.capacity_factor = 1.0
        self.training_prev = np.zeros(n)
        self.forum_prev = np.zeros(n)
        self.surveillance_level = np.zeros(n)
        self.cameras = np.zeros(n)
        self._camera_ceiling = np.zeros(n)
        self._n_national = 0
        self.ground_station = np.zeros(n)
        # China's past partners (ever): exercises, port-call hosts, aid recipients (persistent partner effects).
        self.exercised = np.zeros(n)
        self.hosted = np.zeros(n)
        self.aided = np.zeros(n)
        self.offered = np.zeros((n, len(ARMS_CATEGORIES)), dtype=bool)
        self.capability_gap = np.zeros(n)
        self.on_order = np.zeros(n)  # undelivered TIV of active deals, kept in step with the pipeline
        # Undelivered TIV of failed orders still counting against the gap (cooling-off), and when each part is released.
        self.cooling = np.zeros(n)
        self._cool_release = np.zeros((len(self.years) + params.arms.cooling_years + 2, n))
        self.last_tour = -10_000
        self.installed = np.zeros((n, len(SUPPLIERS)))
        self.installed[:, IMPORT_COLUMNS] = data.installed_base_1995_1999
        ap = params.arms
        # The 2000 gap equals initial_gap once pre-2000 orders still due count as on order (zero stock if they exceed
        # it).
        self.capability = np.maximum((1.0 - ap.initial_gap) * self._target[0] - self._legacy_due[0], 0.0)
        self.pipeline = Pipeline()
        self.recorder = Recorder(self.years, data.iso3)
        self.recorder.states[:, :, S_RECOGNISES] = drivers.recognises_beijing  # a driver: recorded once

        self.states = [LACState(self, iso, i) for i, iso in enumerate(data.iso3)]
        self.china = China(self)
        self.us = UnitedStates(self)
        self.suppliers = [Supplier(self, s) for s in SUPPLIERS if s not in (Partner.CHN, Partner.USA)]
        self.lac_states = self.agents_by_type[LACState]

    def release(self) -> None:
        """Drop every reference between the model and its agents, so memory is freed at once, not by the cycle GC.

        Mesa 3.3.1 keeps each model in ``mesa.Agent._ids`` (a class-level dict) and agents and model reference each
        other; a calibration building thousands of models would otherwise grow until a full garbage collection.
        """
        mesa.Agent._ids.pop(self, None)
        # Mesa stores the bound `_wrapped_step` on the instance (a self-cycle); clearing the state breaks every cycle.
        self.__dict__.clear()

    def _precompute(self) -> None:
        """Arrays that depend only on parameters, static data and drivers: built once per run, read every year."""
        p, dr, country, n = self.params, self.drivers, self.data.country, self.n
        ap, sv, rp = p.arms, p.surveillance, p.relations
        dp, tp, fp, ep, sp = p.delegations, p.training, p.forums, p.exercises, p.space
        coef = np.zeros((N_FEATURES, 5))
        coef[0] = dp.relationship, tp.relationship, fp.relationship, ep.relationship, 0.0
        coef[1] = dp.alignment, tp.alignment, fp.alignment, ep.alignment, sp.alignment
        coef[2, DELEGATION] = dp.exposure
        coef[3, TRAINING], coef[4, FORUM], coef[5, TRAINING] = tp.persistence, fp.persistence, tp.peer
        coef[6, SPACE], coef[7, SPACE], coef[8, SPACE] = sp.finance, sp.trust, sp.tech
        coef[9, TRAINING], coef[9, FORUM] = -tp.us_pressure, -fp.us_pressure
        self._coef = coef
        self._bias = np.array([dp.log_rate, tp.intercept, fp.intercept, 0.0, sp.intercept])
        self._features = np.zeros((n, N_FEATURES))
        self._features[:, 8] = country["tech_capacity"]
        onsets = np.array([dp.onset_year, tp.onset_year, fp.onset_year, ep.onset_year, sp.onset_year])
        self._onset = (self.years[:, None] >= onsets).astype(float)
        # Channels open to a state in a year: recognition of Beijing and the channel's onset (PLA gating).
        self._open = (dr.recognises_beijing[:, :, None] * self._onset[:, None, TRAINING:]) > 0
        self._delegation_scale = (dr.recognises_beijing * self._onset[:, DELEGATION:DELEGATION + 1]
                                  * (dr.china_capacity ** p.china.capacity_elasticity)[:, None])
        self._onset_surveillance = (self.years >= sv.onset_year).astype(float)
        w = rp.unga_weight
        self._alignment_data = w * dr.alignment_unga + (1.0 - w) * dr.orientation
        self._capacity = dr.china_capacity ** p.china.capacity_elasticity
        # China's regional budget of exercises: a yearly expected number that grows with boldness and capacity.
        self.boldness_path = boldness_path(p.china, dr.us_china_tension)
        self._exercise_rate = (np.exp(ep.intercept + ep.boldness * self.boldness_path)
                               * self._capacity * self._onset[:, EXERCISE])
        # Peer share of each state's subregion among recognising states, one matrix a year: peer = P_t @ flags.
        self._peer = rules.peer_matrix(self.members, dr.recognises_beijing)
        self.n_recognising = np.maximum(dr.recognises_beijing.sum(axis=1), 1.0)
        self._decays = np.array([[rp.decay_china], [rp.decay_us], [rp.trust_decay]])
        self._contacts = np.zeros((3, n))
        # DESIGN.md §4: the budget is gdp x defence share x (1 - fiscal stress); the capability target scales with it,
        # with the state's own import intensity and a commodity-financed buildup under anti-US governments, in
        # proportion to how much of the economy is resource rents (a boom finances nothing where there are none;
        # ODD §10).
        boom = dr.commodity_index[:, None] * self.data.resource_dependence
        self._target = (p.arms.capability_target * dr.milex_usd_m * (1.0 - dr.fiscal_stress)
                        * self.data.import_intensity ** p.arms.intensity_weight
                        * np.exp(p.arms.buildup * np.maximum(dr.orientation, 0.0) ** 2 * boom))
        self._inv_target = 1.0 / np.maximum(self._target, 1e-9)
        self._need_base = p.arms.need_intercept - p.arms.need_fiscal * dr.fiscal_stress
        self._legacy = np.zeros((len(self.years), n, len(SUPPLIERS)))
        self._legacy[:, :, IMPORT_COLUMNS] = dr.legacy_deliveries
        # Legacy (pre-2000) deliveries still to come are on order too: at signing time in year t (before the year's
        # deliveries) that is the reverse cumulative sum from t on.
        legacy = dr.legacy_deliveries.sum(axis=2)
        self._legacy_due = np.cumsum(legacy[::-1], axis=0)[::-1]

        availability = np.zeros((len(self.years), n, len(SUPPLIERS)))
        with np.errstate(divide="ignore"):
            availability[:, :, RUS_IDX] = np.log(dr.russia_availability)[:, None]
        availability[:, :, IMPORT_COLUMNS] = np.where(dr.embargo > 0, -np.inf, availability[:, :, IMPORT_COLUMNS])
        availability[:, country["defence_industry"] < 0.05, DOMESTIC_IDX] = -np.inf
        self._availability = availability

        # Chinese technology offers (a policy switch, zero in 2000-2023); US red lines and sanctions: self.us.policy.
        self._space_offer = sp.tech * dr.china_tech_offer * country["tech_capacity"]
        self._space_offer_any = self._space_offer.any(axis=1)

        # Contracts are sized like SIPRI's deals (data.contract_size): a median that grows with the buyer's spending and
        # a heavy lognormal tail; the yearly order volume divided by the mean size sets how many are signed.
        intercept, elasticity, _ = self.data.contract_size
        self._contract_median = np.exp(intercept + elasticity * np.log(np.maximum(dr.milex_usd_m, 1.0)))
        category_mean = (float(np.asarray(ap.category_weights) @ np.asarray(ap.category_size))
                         / float(np.sum(ap.category_weights)))
        self._inv_contract_mean = 1.0 / (self._contract_median * category_mean * np.exp(0.5 * ap.deal_sigma ** 2))

        price = np.asarray(ap.price)
        discount = np.where(np.arange(len(SUPPLIERS)) == CHN_IDX, 1.0 - p.china.discount, 1.0)
        one_hot = np.eye(len(SUPPLIERS))
        weights = np.asarray(ap.category_weights)
        cdf = np.cumsum(weights) / weights.sum()
        cdf[-1] = 1.0
        insecurity = country["insecurity"]
        self._k = SimpleNamespace(
            coast_weight=country["has_coast"].astype(float),
            tech=country["tech_capacity"], defence_industry=country["defence_industry"],
            redline_logit=logit(np.asarray(ap.china_redline)), veto=np.asarray(ap.veto_categories),
            category_cdf=cdf, category_size=np.asarray(ap.category_size),
            delivery_years=np.rint(np.asarray(ap.delivery_years)).astype(np.int64),
            utility_base=(np.asarray(ap.supplier_constant) - ap.beta_price * price * discount
                          + ap.beta_quality * np.asarray(ap.quality)),
            align_coef=ap.beta_alignment * np.asarray(ap.supplier_orientation),
            tech_coef=ap.beta_tech_transfer * np.asarray(ap.tech_transfer_offer),
            quality_tech_coef=ap.beta_quality_tech * np.asarray(ap.quality),
            not_domestic=1.0 - one_hot[DOMESTIC_IDX],
            pressure_coef=ap.beta_us_pressure * (one_hot[CHN_IDX] + one_hot[RUS_IDX]),
            domestic_coef=ap.beta_domestic * one_hot[DOMESTIC_IDX],
            insecurity_push=sv.insecurity * insecurity,
            subnational_hazard=(1.0 - np.exp(-sv.subnational * (1.0 + insecurity))) * country["is_federal"],
            camera_base=sv.cameras_per_million * country["population_m"],
            # A donation of light arms is a political signal (alignment) and of little use where industry makes the kit.
            donation_base=p.china.donation_share * 0.5 * (1.0 - country["defence_industry"]),
            level_factor=np.array([0.0, sv.subnational_scale, 1.0]),
            # Contact weights of the decided channels (training, forums; space counts as dual use below).
            decided_weights=np.array([rp.weight_training, rp.weight_forum, 0.0]),
            contact_weights=(rp.weight_delegation, rp.weight_training, rp.weight_exercise, rp.weight_port_call,
                             rp.weight_forum, rp.weight_aid, rp.weight_dual_use),
        )

    def _draw_noise(self, streams: dict[str, np.random.Generator]) -> None:
        """Draw each channel's noise for the whole run in one call per stream (DESIGN.md §9)."""
        ny, n, p = len(self.years), self.n, self.params
        shape = (ny, n)
        sp = streams["space"].random(size=(ny, 2 * n + 1))
        space_noise = np.log(sp[:, :n]) - np.log1p(-sp[:, :n])  # logistic from uniform
        self.u_ground = sp[:, n:2 * n]
        self._noise = np.stack([streams["training"].logistic(size=shape), streams["forums"].logistic(size=shape),
                                space_noise], axis=-1)
        # Exercises: the year's number as unit-exponential arrivals within China's rate, then partners by weight.
        ex = streams["exercises"]
        arrivals = np.cumsum(ex.standard_exponential(size=(ny, MAX_EXERCISES)), axis=1)
        self.n_exercises = (arrivals <= self._exercise_rate[:, None]).sum(axis=1)
        self.log_u_exercise = np.log(ex.random(size=shape))
        # Scheduled space programmes: the article's dates up to 2023, then a yearly continuation hazard.
        sched = np.zeros(shape)
        hist = self.years <= HIST_START + len(self.data.space_schedule) - 1
        sched[hist] = self.data.space_schedule[self.years[hist] - HIST_START]
        # The article (2023): no launch declared after CBERS-4A, so continuation starts after the record ends.
        last = np.maximum(self.data.space_last_year, HIST_END) * (self.data.space_last_year > 0)
        sched = np.maximum(sched,
                           ((last > 0) & (self.years[:, None] > last)) * (sp[:, -1:] < p.space.cbers_continuation))
        self._space_scheduled = sched
        self.u_surveillance = streams["surveillance"].random(size=(ny, 2, n))
        pc = streams["port_calls"].random(size=(ny, n + 1))
        logit = p.port_calls.intercept + p.port_calls.reach * self.drivers.pla_navy_reach
        self.voyage = np.log(pc[:, 0]) - np.log1p(-pc[:, 0]) < logit
        self.log_u_hosts = np.log(pc[:, 1:])
        # Hosts beyond the first as arrivals within (hosts_mean - 1) x China's capacity (its means).
        arrivals = np.cumsum(streams["port_calls"].standard_exponential(size=(ny, MAX_HOSTS)), axis=1)
        self.n_hosts = 1 + (arrivals <= ((p.port_calls.hosts_mean - 1.0) * self._capacity)[:, None]).sum(axis=1)
        dl = streams["delegations"].random(size=(ny, n + 1))
        self.u_tour, self.log_u_tour = dl[:, 0], np.log(dl[:, 1:])
        self._arrivals = np.cumsum(streams["delegations"].standard_exponential(size=(ny, n, MAX_VISITS)), axis=2)
        aid = streams["aid"]
        # Package counts as arrivals within the yearly rate, so a scenario's capacity path leaves every draw in place.
        arrivals = np.cumsum(aid.standard_exponential(size=(ny, MAX_AID_PACKAGES)), axis=1)
        self.n_aid = (arrivals <= (p.china.aid_packages_per_year * self._capacity)[:, None]).sum(axis=1)
        self.u_aid = aid.random(size=(ny, 2, n))
        self.log_u_aid = np.log(self.u_aid[:, 0])
        self._aid_size = p.china.aid_package_usd_m * np.exp(p.china.aid_size_sigma * aid.standard_normal(size=shape))
        # Everything in the supplier utility that no decision changes, added once per run (contracts add their noise).
        k = self._k
        self._static_utility = (self._availability + k.utility_base
                                + (k.tech_coef + k.quality_tech_coef) * k.tech[:, None]
                                + k.domestic_coef * k.defence_industry[:, None])
        # Policy switches after 2023: a state's preference for its own industry, a Chinese technology offer.
        dr, ap = self.drivers, p.arms
        if dr.domestic_preference.any():
            self._static_utility[:, :, DOMESTIC_IDX] += ap.beta_domestic * dr.domestic_preference
        if dr.china_tech_offer.any():
            self._static_utility[:, :, CHN_IDX] += ap.beta_tech_transfer * dr.china_tech_offer * k.tech
        # The arms market's noise, drawn up front like every other channel's: one uniform per state-year for the number
        # of contracts (by inversion), then rows of uniforms that the run's contracts use in signing order, one row
        # per contract whatever its fate (ARMS_POOL_COLUMNS); the pool grows from the same stream if a run signs more.
        arms = streams["arms"]
        self._u_contracts = arms.random(size=shape)
        self._arms_stream = arms
        self._arms_pool = arms.random(size=(ARMS_POOL_ROWS, len(ARMS_POOL_COLUMNS)))
        self._arms_used = 0

    # ---- one year -------------------------------------------------------------------------------------------------
    def step(self) -> None:
        """One year, in the fixed order of DESIGN.md §4."""
        self.update_drivers()
        self.china.set_strategy()
        self.us.set_pressure()
        contacts = self.act_channels()
        delivered = self.run_pipeline()
        self.update_stocks(contacts, delivered)
        self.t += 1
        if self.t < len(self.years):
            self.year = int(self.years[self.t])

    def update_drivers(self) -> None:
        """Recognition gate, alignment (data path plus drift) and China's capacity for this year."""
        t = self.t
        self.gate = self.drivers.recognises_beijing[t]
        kappa = self.params.relations.kappa
        # kappa's prior centres on 0 (DESIGN.md §4); with no drift the data path is the alignment, already in [-1, 1].
        # Drift x = kappa (R_cn - R_us) added as tanh(artanh a + artanh x): smooth, about a + x near the middle, and
        # never past +-1, where a clip would hold it at the bound. |x| < 1 keeps the sum defined at a = -+1 (stocks
        # that round to 0 or 1 would otherwise give 0/0 for |kappa| = 1).
        data = self._alignment_data[t]
        if kappa:
            x = kappa * (self.r_china - self.r_us) * (1.0 - 1e-9)
            self.alignment = (data + x) / (1.0 + x * data)
        else:
            self.alignment = data
        self.capacity_factor = self._capacity[t]
        self.us.policy.start_year(t, self.year)

    def act_channels(self) -> np.ndarray:
        """Every PLA and dual-use channel for all states; returns this year's contact intensity with China.

        The linear predictors of delegations, training, forums, exercises and space come from one matrix product
        (features x coefficients, DESIGN.md §9); yes/no decisions compare pre-drawn logistic noise with the logit.
        """
        p, t, y, rec = self.params, self.t, self.year, self.recorder.states[self.t]
        gate, r, a = self.gate, self.r_china, self.alignment
        china, k = self.china, self._k

        f = self._features
        f[:, 0], f[:, 1], f[:, 2] = r, a, self.exposure
        f[:, 3], f[:, 4], f[:, 5] = self.training_prev, self.forum_prev, self._peer[t] @ self.training_prev
        f[:, 6], f[:, 7] = china.finance, self.trust
        us_hold = self.us.pressure * self.us.leverage
        f[:, 9] = us_hold
        bias = self._bias.copy()
        bias[FORUM] += p.forums.peer * float(self.forum_prev @ gate) / self.n_recognising[t]
        logits = f @ self._coef + bias
        self.set_offers(rec)
        if self._space_offer_any[t]:
            logits[:, SPACE] += self._space_offer[t]

        # Delegations: Poisson visits, plus recurring high-level tours.
        dp = p.delegations
        rate = np.exp(logits[:, DELEGATION]) * self._delegation_scale[t]
        # Poisson count as the number of unit-exponential arrivals within the rate (pre-drawn; capped, see ODD).
        visits = np.count_nonzero(self._arrivals[t] <= rate[:, None], axis=1).astype(float)
        tour = np.zeros(self.n)
        regular = (y >= dp.tour_regular_from and y - self.last_tour >= dp.tour_min_gap
                   and self.u_tour[t] < dp.tour_probability)
        if y >= dp.onset_year and (self.last_tour < dp.onset_year or regular):
            picked = rules.weighted_pick(china.priority * self._onset[t, DELEGATION], self.log_u_tour[t], dp.tour_size)
            if len(picked):
                tour[picked] = 1.0
                self.last_tour = y
        visits += tour

        # Training, forums and space projects: decisions against each stream's logistic noise; US pressure x leverage
        # lowers the logit, so states can stop sending and participation has a ceiling below every eligible state.
        decided = rules.decide(logits[:, DECIDED], self._noise[t], self._open[t][:, [0, 1, 3]])
        training, forums, space = decided.T
        self.training_prev, self.forum_prev = training, forums

        # Exercises, port calls and aid: China's limited yearly budget, allocated by China's priority (size, exposure,
        # alignment) and ties; past partners weigh more, and every open state keeps a non-zero chance (new partners).
        exercise = np.zeros(self.n)
        if self.n_exercises[t]:
            weight = (china.priority * self._open[t][:, 2]
                      * np.exp(logits[:, EXERCISE] + p.exercises.persistence * self.exercised))
            exercise[rules.weighted_pick(weight, self.log_u_exercise[t], self.n_exercises[t])] = 1.0
            self.exercised = np.maximum(self.exercised, exercise)

        # Port calls: a voyage when naval reach allows; hosts by priority among coastal states, past hosts first.
        port = np.zeros(self.n)
        if self.voyage[t]:
            weight = china.priority * k.coast_weight * np.exp(p.port_calls.persistence * self.hosted)
            port[rules.weighted_pick(weight, self.log_u_hosts[t], self.n_hosts[t])] = 1.0
            self.hosted = np.maximum(self.hosted, port)

        # Aid: packages to recipients weighted by priority, ties and past aid; some include donated light arms.
        cp = p.china
        aid = np.zeros(self.n)
        weight = china.aid_priority * (0.2 + r) * np.exp(cp.aid_persistence * self.aided)
        picked = rules.weighted_pick(weight, self.log_u_aid[t], self.n_aid[t])
        if len(picked):
            aid[picked] = self._aid_size[t, picked]
            self.aided[picked] = 1.0
            picked = picked[self.offered[picked, LIGHT]]  # a donation of arms is an offer below the light red line
            if len(picked):
                accept = k.donation_base[picked] * (1.0 + a[picked])
                donors = picked[self.u_aid[t, 1, picked] < accept]
                gift = aid[donors] * cp.tiv_per_usd_m
                self.pipeline.add(donors, CHN_IDX, LIGHT, gift, y, 0, 1, donation=True)
                self.on_order[donors] += gift

        self.sign_arms_deals(rec)

        # Space: scheduled programmes (CBERS) on their dates, then a yearly continuation hazard.
        sp = p.space
        ground = space * (self.u_ground[t] < sp.ground_share)
        if self.us.policy.bans_ground_stations(t):
            # US red line: a project that would be a ground facility is dropped.
            space, ground = space - ground, np.zeros(self.n)
        self.ground_station = np.maximum(self.ground_station, ground)
        self.us.policy.crossed(t, space)  # scheduled CBERS launches are not new projects
        space = np.maximum(space, self._space_scheduled[t])

        # Surveillance: Bass-style national adoption, a subnational path for federal states; cameras towards a ceiling.
        sv = p.surveillance
        level = self.surveillance_level
        dual_use = space
        if self._onset_surveillance[t]:
            push = sv.finance * china.finance + k.insecurity_push
            # US pressure x leverage cuts the hazard of every state (a ceiling below the 33), smoothly.
            h_nat = (rules.bass_hazard(sv.innovation, sv.imitation, self._n_national / self.n, push)
                     * np.exp(-sv.us_pressure * us_hold) * gate * (level < 2))
            if self.us.policy.bans_surveillance(t):
                h_nat = np.zeros(self.n)  # US red line: no national system
            u = self.u_surveillance[t]
            new_nat = u[0] < h_nat
            new_sub = (u[1] < k.subnational_hazard * gate * (level == 0)) & ~new_nat
            if new_nat.any() or new_sub.any():
                adopted = (new_nat | new_sub).astype(float)
                level = np.where(new_nat, 2.0, np.where(new_sub, 1.0, level))
                self.surveillance_level = level
                self._n_national = int(np.count_nonzero(level == 2.0))
                self._camera_ceiling = k.camera_base * k.level_factor[level.astype(np.intp)]
                dual_use = space + adopted
                self.us.policy.crossed(t, adopted)
        # The ceiling only rises and cameras start at zero, so cameras never exceed it (so no clipping is needed).
        self.cameras = self.cameras + sv.growth * (self._camera_ceiling - self.cameras)
        self._dual_use_contacts = dual_use

        rec[:, S_DELEGATIONS] = visits
        rec[:, S_TOUR] = tour
        rec[:, S_TRAINING] = training
        rec[:, S_FORUM] = forums
        rec[:, S_PORT] = port
        rec[:, S_EXERCISE] = exercise
        rec[:, S_AID] = aid
        rec[:, S_SPACE] = space
        rec[:, S_GROUND] = self.ground_station
        rec[:, S_SURV_LEVEL] = level
        rec[:, S_CAMERAS] = self.cameras
        w = k.contact_weights
        return (decided @ k.decided_weights + w[0] * visits + w[2] * exercise + w[3] * port + w[5] * (aid > 0)
                + w[6] * self._dual_use_contacts)

    def set_offers(self, rec: np.ndarray) -> None:
        """China's red lines for this year: which categories it would sell each state (recorded with their levels).

        A category is offered when logit(boldness) exceeds the category's red line, raised by US pressure x the buyer's
        leverage, lowered by the buyer's alignment and dual-use trust (no state or year is named): ``logit(b) >
        logit(r_c) + l_r P lambda_i - a_r a_i - tau_r Theta_i``; a US ban (a policy switch) removes the category.
        """
        ap, k, t = self.params.arms, self._k, self.t
        level = (k.redline_logit[None, :] + ap.redline_leverage * self.us.pressure * self.us.leverage[:, None]
                 - ap.redline_alignment * self.alignment[:, None]
                 - self.params.relations.trust_redline * self.trust[:, None])
        offered = self.us.policy.allow_offers(t, (logit(self.china.boldness) > level) & (self.gate[:, None] > 0))
        self.offered = offered
        rec[:, S_OFFERED] = offered
        self.recorder.region[t, R_REDLINE] = (self.gate @ expit(level)) / self.n_recognising[t]

    def sign_arms_deals(self, rec: np.ndarray) -> None:
        """Need (a yearly order volume), contracts (a Poisson number, sized like SIPRI's deals), supplier choice.

        A state orders ``deal_share x gap x target`` a year at full need, scaled by the need logit; the volume is spent
        in contracts whose number is Poisson with mean volume / mean contract size, so large buyers sign several a
        year with several suppliers and small ones sign rarely, as in SIPRI (DESIGN.md §4, ODD §10).
        """
        ap, t, y, k = self.params.arms, self.t, self.year, self._k
        target = self._target[t]
        # The gap counts arms already on order (the supply line), or states would keep ordering until deliveries land;
        # capability and orders are never negative, so the gap is at most 1.
        # A failed order counts against the gap for arms.cooling_years signing years (cooling-off), then is released.
        self.cooling -= self._cool_release[t]
        gap = np.maximum(1.0 - (self.capability + self.on_order + self.cooling + self._legacy_due[t])
                         * self._inv_target[t], 0.0)
        self.capability_gap = gap
        rec[:, S_GAP] = gap
        volume = ap.deal_share * gap * target * expit(self._need_base[t] + ap.need_gap * gap)
        counts = rules.poisson_quantile(self._u_contracts[t], volume * self._inv_contract_mean[t])
        n_deals = int(counts.sum())
        if n_deals == 0:
            return
        buy = np.repeat(np.arange(self.n), counts)  # the buyer of each contract, in state order
        u = self._contract_uniforms(n_deals)
        category = np.searchsorted(k.category_cdf, u[:, 0], side="right")
        size = self._contract_median[t, buy] * k.category_size[category] * np.exp(ap.deal_sigma * ndtri(u[:, 1]))
        lags = ap.lag_min + (u[:, 2] * (ap.lag_max - ap.lag_min + 1)).astype(np.int64)

        # Utility of each supplier for each contract (DESIGN.md §4): the buyer's part once per state; unavailable
        # suppliers get -inf; the contract's logit noise enters through rules.logit_choice.
        share = self.installed / np.maximum(self.installed.sum(axis=1, keepdims=True), 1e-12)
        pressure = self.us.pressure * self.us.leverage[:, None]
        buyer = (self._static_utility[t] + ap.beta_lockin * share + k.align_coef * self.alignment[:, None]
                 + ap.beta_hedge * share.max(axis=1, keepdims=True) * (share == 0)
                 - ap.beta_new_supplier * (share < NEW_SUPPLIER_SHARE) * k.not_domestic - pressure * k.pressure_coef)
        sanctions = self.us.policy.us_availability_log(t)
        if sanctions is not None:
            sanctioned, availability_log = sanctions
            buyer[sanctioned, USA_IDX] += availability_log
        util = buyer[buy]
        offers = self.offered[buy, category]
        util[~offers, CHN_IDX] = -np.inf
        choice, with_finance = rules.logit_choice(util, u[:, 3], u[:, 4], CHN_IDX,
                                                  ap.beta_finance * self.china.finance[buy])
        financed = np.flatnonzero(with_finance)
        if len(financed):
            # Contracts China would win with its finance draw on the credit line in the order of their queue
            # uniforms: each gets the finance while credit is left (sequential subtraction, as a loop would do).
            queue = financed[np.argsort(u[financed, 7], kind="stable")]
            left = np.subtract.accumulate(np.concatenate([[self.china.credit_tiv], size[queue]]))
            granted = left[:-1] > 0.0  # a prefix of the queue: credit never comes back within a year
            choice[queue[granted]] = CHN_IDX
            self.china.credit_tiv = float(left[np.count_nonzero(granted)])
        self.pipeline.add(buy, choice, category, size, y, lags, k.delivery_years[category],
                          veto_exposure=k.veto[category] * (choice == CHN_IDX),
                          fiscal=self.drivers.fiscal_stress[t, buy], clock=-np.log(u[:, 5]), veto_draw=u[:, 6])
        self.on_order += np.bincount(buy, weights=size, minlength=self.n)

        n_sup = len(SUPPLIERS)
        rec[:, S_SIGNED:S_SIGNED + n_sup] = np.bincount(buy * n_sup + choice,
                                                        minlength=self.n * n_sup).reshape(self.n, n_sup)
        chinese = choice == CHN_IDX
        if chinese.any():
            signed = np.bincount(buy[chinese], minlength=self.n)
            rec[:, S_CHN_SIGNED] = signed
            rec[:, S_CHN_MAJOR] = np.bincount(buy[chinese & (category == MAJOR)], minlength=self.n)
            rec[:, S_COPRODUCTION] = signed * (k.defence_industry >= self.params.china.tech_transfer_threshold)
            self.us.policy.crossed(t, signed)

    def _contract_uniforms(self, n_deals: int) -> np.ndarray:
        """The next ``n_deals`` rows of the run's contract pool, grown from the arms stream when used up."""
        start, stop = self._arms_used, self._arms_used + n_deals
        if stop > len(self._arms_pool):
            more = max(stop - len(self._arms_pool), ARMS_POOL_ROWS)
            extra = self._arms_stream.random(size=(more, len(ARMS_POOL_COLUMNS)))
            self._arms_pool = np.concatenate([self._arms_pool, extra])
        self._arms_used = stop
        return self._arms_pool[start:stop]

    def run_pipeline(self) -> np.ndarray:
        """Failures (fiscal stress, US veto, regime change, loss of recognition), then deliveries (state x supplier)."""
        pl, ap, t, y = self.pipeline, self.params.arms, self.t, self.year
        rec = self.recorder.states[t]
        # Deals signed before 2000 deliver as SIPRI records them (initial conditions; China's are unknown, held out).
        delivered = self._legacy[t].copy()
        idx = np.flatnonzero(pl.status[: pl.n] == ACTIVE)
        if len(idx) == 0:
            return delivered
        st = pl.state[idx]
        chinese = pl.supplier[idx] == CHN_IDX
        veto = (ap.fail_veto * self.us.pressure) * pl.veto_exposure[idx] * self.us.leverage[st]
        fiscal = self.drivers.fiscal_stress[t, st]
        rate = rules.failure_rate(ap.fail_base, fiscal, pl.fiscal[idx], ap.fail_fiscal, veto,
                                  self.drivers.regime_change[t, st], ap.fail_regime) * pl.can_fail[idx]
        pl.fiscal[idx] = np.maximum(pl.fiscal[idx], fiscal)  # the survivors have now weathered this year's stress
        # A deal fails in the year its cumulative hazard reaches its unit-exponential clock (drawn at signing): the
        # same law as a yearly failure with probability 1 - exp(-rate). Competing risks: the failure is a veto with
        # probability veto / rate (the deal's veto uniform).
        pl.clock[idx] -= rate
        hazard_failed = pl.clock[idx] <= 0.0
        vetoed = chinese & hazard_failed & (pl.veto_draw[idx] * rate < veto) & (self.gate[st] > 0)
        failed = hazard_failed | (chinese & (self.gate[st] == 0))
        if self.us.policy.bans_any_category(t):
            # US red line: undelivered Chinese deals in a banned category fail, as vetoes (donations cannot fail).
            banned = chinese & self.us.policy.banned_categories(t, pl.category[idx]) & (pl.can_fail[idx] > 0)
            vetoed |= banned & (self.gate[st] > 0)
            failed |= banned
        if failed.any():
            lost = idx[failed]
            pl.status[lost], pl.closed[lost] = FAILED, y
            undelivered = np.bincount(pl.state[lost], weights=pl.size[lost] - pl.delivered[lost], minlength=self.n)
            self.on_order -= undelivered
            self.cooling += undelivered
            self._cool_release[t + ap.cooling_years + 1] += undelivered
            rec[:, S_CHN_FAILED] = np.bincount(st[failed & chinese], minlength=self.n)
            rec[:, S_CHN_VETOED] = np.bincount(st[vetoed], minlength=self.n)

        di = idx[~failed & (pl.start[idx] <= y)]
        amount = pl.yearly[di]
        pl.delivered[di] += amount
        finished = di[pl.end[di] == y]
        pl.status[finished], pl.closed[finished] = DELIVERED, y
        new = np.bincount(pl.state[di] * len(SUPPLIERS) + pl.supplier[di], weights=amount,
                          minlength=delivered.size).reshape(delivered.shape)
        self.on_order -= new.sum(axis=1)
        delivered += new
        donated = di[pl.donation[di]]
        if len(donated):
            rec[pl.state[donated], S_DONATION] = 1.0
        return delivered

    def update_stocks(self, contacts_cn: np.ndarray, delivered: np.ndarray) -> None:
        """Capability and installed base, relationship stocks with both patrons, and recording of the year."""
        p, t = self.params, self.t
        ap, rp = p.arms, p.relations
        rec = self.recorder.states[t]
        self.capability = (1.0 - ap.capability_decay) * self.capability + delivered.sum(axis=1)
        self.installed = (1.0 - ap.installed_decay) * self.installed + delivered
        contacts = self._contacts
        contacts[0] = (contacts_cn + rp.weight_arms * (delivered[:, CHN_IDX] > 0)) * self.gate
        contacts[1] = p.us.contact_rate * (1.0 - self.alignment) * 0.5 + rp.weight_arms * (delivered[:, USA_IDX] > 0)
        factor = self.us.policy.us_contact_factor(t)
        if factor is not None:
            contacts[1] *= factor
        self.us.policy.end_year(t, self.year)
        contacts[2] = self._dual_use_contacts
        self._stock = rules.update_stock(self._stock, contacts, self._decays)
        self.r_china, self.r_us, self.trust = self._stock

        rec[:, S_DELIVERED] = delivered
        rec[:, S_R_CHINA] = self.r_china
        rec[:, S_R_US] = self.r_us
        rec[:, S_LEVERAGE] = self.us.leverage
        if self.params.relations.kappa:
            rec[:, S_ALIGNMENT] = self.alignment
        self.recorder.region[t, R_PRESSURE] = self.us.pressure

    def finish(self) -> None:
        """Record what follows from the yearly record or the drivers alone, once for the whole run."""
        states, region = self.recorder.states, self.recorder.region
        if not self.params.relations.kappa:
            states[:, :, S_ALIGNMENT] = self._alignment_data  # no drift: alignment is its data path
        states[:, :, S_CHN_DELIVERED] = states[:, :, S_DELIVERED.start + CHN_IDX]
        imports = (states[:, :, S_DELIVERED].sum(axis=(1, 2))
                   - states[:, :, S_DELIVERED.start + DOMESTIC_IDX].sum(axis=1))
        chinese = states[:, :, S_CHN_DELIVERED].sum(axis=1)
        region[:, R_SHARE] = np.divide(chinese, imports, out=np.zeros_like(chinese), where=imports > 0)
        region[:, R_BOLDNESS] = self.china.boldness_path
        region[:, R_TENSION] = self.drivers.us_china_tension
        region[:, R_ADOPTERS] = np.count_nonzero(states[:, :, S_SURV_LEVEL], axis=1)
