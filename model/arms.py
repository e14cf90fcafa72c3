"""The arms market: China's red lines (offers), need and contracts, supplier choice and credit, the deal pipeline
(failures and deliveries), capability and installed base (docs/ODD.md §7.7-7.11).

``precompute`` builds one replica's arrays; the kernels work on every replica at once: state arrays are shaped
(replicas, states[, suppliers]), contracts and deals are flat with a replica column. Every random number comes from the
replica's pre-drawn uniforms (one per state-year for the number of contracts, one pool row per contract).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit, ndtri

from model import rules
from model.data import ModelData
from model.drivers import Drivers
from model.params import ModelParams
from model.pipeline import DELIVERED, FAILED, Pipeline
from model.schema import ARMS_CATEGORIES, IMPORT_SUPPLIERS, SUPPLIERS, Partner
from model.slots import (
    S_CHN_FAILED,
    S_CHN_MAJOR,
    S_CHN_SIGNED,
    S_CHN_VETOED,
    S_COPRODUCTION,
    S_DONATION,
    S_GAP,
    S_SIGNED,
)

CHN_IDX = SUPPLIERS.index(Partner.CHN)
USA_IDX = SUPPLIERS.index(Partner.USA)
RUS_IDX = SUPPLIERS.index(Partner.RUS)
DOMESTIC_IDX = SUPPLIERS.index(Partner.DOMESTIC)
LIGHT = ARMS_CATEGORIES.index("light")
MAJOR = ARMS_CATEGORIES.index("major_platform")
IMPORT_COLUMNS = np.array([SUPPLIERS.index(s) for s in IMPORT_SUPPLIERS])
# A supplier with under 1% of a state's installed base is new to it: the entry barrier applies (interoperability).
NEW_SUPPLIER_SHARE = 0.01
# A contract's uniforms: category, size (a normal by inversion), lag, China against the best other supplier (a
# logistic), which other supplier is best, its failure clock (a unit exponential of cumulative hazard), veto or other
# failure when it fails, its place in the queue for China's credit line.
POOL_COLUMNS = ("category", "size", "lag", "choice", "other", "clock", "veto", "queue")
POOL_ROWS = 1 << 11  # 2,048 rows: a run signs about 1,300 contracts


def precompute(p: ModelParams, data: ModelData, dr: Drivers) -> dict[str, np.ndarray]:
    """One replica's capability target, need, contract sizes, static supplier utility and the market's constants."""
    ap, country = p.arms, data.country
    years, n, n_sup = dr.years, len(data.iso3), len(SUPPLIERS)
    # DESIGN.md §4: the budget is gdp x defence share x (1 - fiscal stress); the capability target scales with it,
    # with the state's own import intensity and a commodity-financed buildup under anti-US governments, in proportion
    # to how much of the economy is resource rents (a boom finances nothing where there are none; ODD §10).
    # A state without armed forces buys through its police and coast guard: arms.no_army_target of the rule's target.
    # A budget valued at an official rate at which the currency buys no dollars overstates what it can buy abroad:
    # exp(arms.nonconvertible_target) of it.
    boom = dr.commodity_index[:, None] * data.resource_dependence
    target = (ap.capability_target * dr.milex_usd_m * (1.0 - dr.fiscal_stress)
              * data.import_intensity ** ap.intensity_weight
              * np.exp(ap.buildup * np.maximum(dr.orientation, 0.0) ** 2 * boom)
              * np.where(country["armed_forces"] > 0, 1.0, ap.no_army_target)
              * np.where(country["convertible_budget"] > 0, 1.0, np.exp(ap.nonconvertible_target)))
    legacy = np.zeros((len(years), n, n_sup))
    legacy[:, :, IMPORT_COLUMNS] = dr.legacy_deliveries
    # Legacy (pre-2000) deliveries still to come are on order too: at signing time in year t (before the year's
    # deliveries) that is the reverse cumulative sum from t on.
    legacy_due = np.cumsum(dr.legacy_deliveries.sum(axis=2)[::-1], axis=0)[::-1]

    availability = np.zeros((len(years), n, n_sup))
    with np.errstate(divide="ignore"):
        availability[:, :, RUS_IDX] = np.log(dr.russia_availability)[:, None]
    availability[:, :, IMPORT_COLUMNS] = np.where(dr.embargo > 0, -np.inf, availability[:, :, IMPORT_COLUMNS])
    availability[:, country["defence_industry"] < 0.05, DOMESTIC_IDX] = -np.inf
    price = np.asarray(ap.price)
    one_hot = np.eye(n_sup)
    discount = np.where(np.arange(n_sup) == CHN_IDX, 1.0 - p.china.discount, 1.0)
    tech, industry = country["tech_capacity"], country["defence_industry"]
    # Everything in the supplier utility that no decision changes, once per run (contracts add their noise).
    static = (availability + (np.asarray(ap.supplier_constant) - ap.beta_price * price * discount
                              + ap.beta_quality * np.asarray(ap.quality))
              + (ap.beta_tech_transfer * np.asarray(ap.tech_transfer_offer)
                 + ap.beta_quality_tech * np.asarray(ap.quality)) * tech[:, None]
              + ap.beta_domestic * one_hot[DOMESTIC_IDX] * industry[:, None])
    # Policy switches after 2023: a state's preference for its own industry, a Chinese technology offer.
    if dr.domestic_preference.any():
        static[:, :, DOMESTIC_IDX] += ap.beta_domestic * dr.domestic_preference
    if dr.china_tech_offer.any():
        static[:, :, CHN_IDX] += ap.beta_tech_transfer * dr.china_tech_offer * tech

    # Contracts are sized like SIPRI's deals (data.contract_size): a median that grows with the buyer's spending and a
    # heavy lognormal tail; the yearly order volume divided by the mean size sets how many are signed.
    intercept, elasticity, _ = data.contract_size
    median = np.exp(intercept + elasticity * np.log(np.maximum(dr.milex_usd_m, 1.0)))
    weights = np.asarray(ap.category_weights)
    category_mean = float(weights @ np.asarray(ap.category_size)) / float(weights.sum())
    cdf = np.cumsum(weights) / weights.sum()
    cdf[-1] = 1.0
    installed = np.zeros((n, n_sup))
    installed[:, IMPORT_COLUMNS] = data.installed_base_1995_1999
    return {
        "target": target, "inv_target": 1.0 / np.maximum(target, 1e-9),
        "need_base": ap.need_intercept - ap.need_fiscal * dr.fiscal_stress,
        "legacy": legacy, "legacy_due": legacy_due, "static_utility": static,
        "contract_median": median,
        "inv_contract_mean": 1.0 / (median * category_mean * np.exp(0.5 * ap.deal_sigma ** 2)),
        "redline_logit": logit(np.asarray(ap.china_redline)), "veto": np.asarray(ap.veto_categories),
        "category_cdf": cdf, "category_size": np.asarray(ap.category_size),
        "delivery_years": np.rint(np.asarray(ap.delivery_years)).astype(np.int64),
        "align_coef": ap.beta_alignment * np.asarray(ap.supplier_orientation),
        "supplier_orientation": np.asarray(ap.supplier_orientation),
        "not_domestic": 1.0 - one_hot[DOMESTIC_IDX],
        "pressure_coef": ap.beta_us_pressure * (one_hot[CHN_IDX] + one_hot[RUS_IDX]),
        "coproduction": (industry >= p.china.tech_transfer_threshold).astype(float),
        # The 2000 gap equals initial_gap once pre-2000 orders still due count as on order (zero stock if they
        # exceed it).
        "capability0": np.maximum((1.0 - ap.initial_gap) * target[0] - legacy_due[0], 0.0),
        "installed0": installed,
        **{name: np.float64(getattr(ap, name)) for name in (
            "deal_share", "need_gap", "deal_sigma", "beta_lockin", "beta_hedge", "beta_new_supplier", "beta_finance",
            "fail_base", "fail_fiscal", "fail_veto", "fail_regime", "capability_decay", "installed_decay",
            "redline_leverage", "redline_alignment")},
        "lag_min": np.int64(ap.lag_min), "lag_span": np.int64(ap.lag_max - ap.lag_min + 1),
        "cooling_years": np.int64(ap.cooling_years), "trust_redline": np.float64(p.relations.trust_redline),
    }


def offers(k, s, boldness: np.ndarray, pressure: np.ndarray, leverage: np.ndarray, policy, t: int):
    """China's red lines this year: which categories it would sell each state, and each line's level.

    A category is offered when logit(boldness) exceeds the category's red line, raised by US pressure x the buyer's
    leverage, lowered by the buyer's alignment and dual-use trust (no state or year is named): ``logit(b) >
    logit(r_c) + l_r P lambda_i - a_r a_i - tau_r Theta_i``; a US ban (a policy switch) removes the category.
    Returns (offered: replicas x states x categories, level in logits: the same shape).
    """
    level = (k.redline_logit[:, None, :] + (k.redline_leverage * pressure)[:, None, None] * leverage[:, :, None]
             - k.redline_alignment[:, None, None] * s.alignment[:, :, None]
             - k.trust_redline[:, None, None] * s.trust[:, :, None])
    bold = logit(boldness)[:, None, None]
    return policy.allow_offers(t, (bold > level) & (s.gate[:, :, None] > 0)), level


def redline_level(gate: np.ndarray, level: np.ndarray, n_recognising: np.ndarray) -> np.ndarray:
    """(replicas, categories): each red line's mean level (probability scale) over the states recognising Beijing."""
    return (gate[:, :, None] * expit(level)).sum(axis=1) / n_recognising[:, None]


def ensure_pool(k, streams: list[np.random.Generator], need: np.ndarray) -> None:
    """Grow each replica's contract pool from its own arms stream when this year's contracts would run past it.

    The pool holds the stream's uniforms in order, so a replica's rows are the same whatever it is batched with and
    however the pool grew. A replica's pool at least doubles when it grows, and the batch's array only when a pool
    outgrows it, so growth costs amortised constant time per contract.
    """
    short = np.flatnonzero(k.pool_used + need > k.pool_size)
    if not len(short):
        return
    more = np.maximum(k.pool_used[short] + need[short] - k.pool_size[short], k.pool_size[short])
    width = int((k.pool_size[short] + more).max())
    if width > k.pool.shape[1]:
        pool = np.full((k.pool.shape[0], max(width, 2 * k.pool.shape[1]), len(POOL_COLUMNS)), np.nan)
        pool[:, :k.pool.shape[1]] = k.pool
        k.pool = pool
    for r, m in zip(short, more, strict=True):
        k.pool[r, k.pool_size[r]:k.pool_size[r] + m] = streams[r].random(size=(int(m), len(POOL_COLUMNS)))
        k.pool_size[r] += m


def sign(k, s, t: int, year: int, pressure: np.ndarray, leverage: np.ndarray, finance: np.ndarray,
         credit: np.ndarray, fiscal: np.ndarray, policy, pipeline: Pipeline, streams, rec: np.ndarray) -> None:
    """Need (a yearly order volume), contracts (a Poisson number, sized like SIPRI's deals), supplier choice.

    A state orders ``deal_share x gap x target`` a year at full need, scaled by the need logit; the volume is spent in
    contracts whose number is Poisson with mean volume / mean contract size, so large buyers sign several a year with
    several suppliers and small ones sign rarely, as in SIPRI (DESIGN.md §4, ODD §10). ``credit`` (replicas,) is
    China's credit line left this year, drawn down in place.
    """
    n_rep, n = s.gate.shape
    # The gap counts arms already on order (the supply line), or states would keep ordering until deliveries land;
    # capability and orders are never negative, so the gap is at most 1. A failed order counts against the gap for
    # arms.cooling_years signing years (cooling-off), then is released.
    s.cooling = s.cooling - s.cool_release[:, t]
    gap = np.maximum(1.0 - (s.capability + s.on_order + s.cooling + k.legacy_due[:, t]) * k.inv_target[:, t], 0.0)
    s.capability_gap = gap
    rec[:, :, S_GAP] = gap
    volume = k.deal_share[:, None] * gap * k.target[:, t] * expit(k.need_base[:, t] + k.need_gap[:, None] * gap)
    counts = rules.poisson_quantile(k.u_contracts[:, t], volume * k.inv_contract_mean[:, t])
    per_replica = counts.sum(axis=1)
    if not per_replica.any():
        return
    cell = np.repeat(np.arange(n_rep * n), counts.ravel())  # each contract's (replica, buyer), in that order
    rep, buy = cell // n, cell % n
    ensure_pool(k, streams, per_replica)
    first = np.concatenate([[0], np.cumsum(per_replica)[:-1]])
    u = k.pool[rep, k.pool_used[rep] + np.arange(len(cell)) - first[rep]]
    k.pool_used += per_replica
    if k.shared_cdf:  # one category law for the whole batch (the usual case): one search, no per-contract gather
        category = np.searchsorted(k.category_cdf[0], u[:, 0], side="right")
    else:
        category = (u[:, :1] >= k.category_cdf[rep]).sum(axis=1)  # = searchsorted(cdf, u, side="right")
    size = (k.contract_median[rep, t, buy] * k.category_size[rep, category]
            * np.exp(k.deal_sigma[rep] * ndtri(u[:, 1])))
    lags = k.lag_min[rep] + (u[:, 2] * k.lag_span[rep]).astype(np.int64)

    # Utility of each supplier for each contract (DESIGN.md §4): the buyer's part once per state; unavailable
    # suppliers get -inf; the contract's logit noise enters through rules.logit_choice.
    share = s.installed / np.maximum(s.installed.sum(axis=2, keepdims=True), 1e-12)
    hold = (pressure[:, None] * leverage)[:, :, None]
    buyer = (k.static_utility[:, t] + k.beta_lockin[:, None, None] * share
             + k.align_coef[:, None, :] * s.alignment[:, :, None]
             + k.beta_hedge[:, None, None] * share.max(axis=2, keepdims=True) * (share == 0)
             - k.beta_new_supplier[:, None, None] * (share < NEW_SUPPLIER_SHARE) * k.not_domestic[:, None, :]
             - hold * k.pressure_coef[:, None, :])
    buyer[:, :, USA_IDX] += policy.us_availability_log(t)
    util = buyer[rep, buy]
    offered = s.offered[rep, buy, category]
    util[~offered, CHN_IDX] = -np.inf
    choice, with_finance = rules.logit_choice(util, u[:, 3], u[:, 4], CHN_IDX, k.beta_finance[rep] * finance[rep, buy])
    financed = np.flatnonzero(with_finance)
    if len(financed):
        # Contracts China would win with its finance draw on the credit line in the order of their queue uniforms:
        # each gets the finance while credit is left. One row per replica, [credit, sizes in queue order, 0 ...],
        # subtracted in sequence along the row, as a loop would do, and each row on its own.
        queue = financed[np.lexsort((u[financed, 7], rep[financed]))]
        owners, start, length = np.unique(rep[queue], return_index=True, return_counts=True)
        row = np.repeat(np.arange(len(owners)), length)
        pos = np.arange(len(queue)) - start[row]
        grid = np.zeros((len(owners), length.max() + 1))
        grid[:, 0] = credit[owners]
        grid[row, pos + 1] = size[queue]
        left = np.subtract.accumulate(grid, axis=1)
        granted = left[row, pos] > 0.0  # a prefix of each queue: credit never comes back within a year
        choice[queue[granted]] = CHN_IDX
        credit[owners] = left[np.arange(len(owners)), np.bincount(row[granted], minlength=len(owners))]
    chinese = choice == CHN_IDX
    pipeline.add(buy, choice, category, size, year, lags, k.delivery_years[rep, category],
                 veto_exposure=k.veto[rep, category] * chinese, fiscal=fiscal[rep, buy], clock=-np.log(u[:, 5]),
                 veto_draw=u[:, 6], replica=rep)
    s.on_order = s.on_order + np.bincount(cell, weights=size, minlength=n_rep * n).reshape(n_rep, n)

    n_sup = len(SUPPLIERS)
    rec[:, :, S_SIGNED:S_SIGNED + n_sup] = np.bincount(cell * n_sup + choice,
                                                       minlength=n_rep * n * n_sup).reshape(n_rep, n, n_sup)
    if chinese.any():
        signed = np.bincount(cell[chinese], minlength=n_rep * n).reshape(n_rep, n)
        rec[:, :, S_CHN_SIGNED] = signed
        rec[:, :, S_CHN_MAJOR] = np.bincount(cell[chinese & (category == MAJOR)],
                                             minlength=n_rep * n).reshape(n_rep, n)
        rec[:, :, S_COPRODUCTION] = signed * k.coproduction
        policy.crossed(t, signed)


def run_pipeline(k, s, t: int, year: int, pressure: np.ndarray, leverage: np.ndarray, fiscal: np.ndarray,
                 swing: np.ndarray, policy, pipeline: Pipeline, rec: np.ndarray) -> np.ndarray:
    """Failures (a rise of fiscal stress before a deal's deliveries begin, US veto, a change of government away from
    the supplier, loss of recognition), then deliveries, slowed by a rise of fiscal stress once begun. ``swing`` is
    each state's change of orientation this year where it is a change of government, 0 elsewhere.

    Returns the year's deliveries, (replicas, states, suppliers), legacy (pre-2000) deals included.
    """
    pl = pipeline
    n_rep, n = s.gate.shape
    n_sup = len(SUPPLIERS)
    # Deals signed before 2000 deliver as SIPRI records them (initial conditions; China's are unknown, held out).
    delivered = k.legacy[:, t].copy()
    idx = pl.active
    if len(idx) == 0:
        return delivered
    rep, st = pl.replica[idx], pl.state[idx]
    cell = rep * n + st
    chinese = pl.supplier[idx] == CHN_IDX
    # Recognition and the US veto act on Chinese deals only (the others' veto exposure is zero): gathered for those.
    ch = np.flatnonzero(chinese)
    rep_ch, st_ch = rep[ch], st[ch]
    recognised, unrecognised = np.zeros(len(idx), dtype=bool), np.zeros(len(idx), dtype=bool)
    recognised[ch] = s.gate[rep_ch, st_ch] > 0
    unrecognised[ch] = s.gate[rep_ch, st_ch] == 0
    veto = np.zeros(len(idx))
    veto[ch] = (k.fail_veto * pressure)[rep_ch] * pl.veto_exposure[idx[ch]] * leverage[rep_ch, st_ch]
    stress = fiscal[rep, st]
    # Most years no government changes anywhere in the batch: no exposure, and no gathers over every open deal.
    exposure = (rules.regime_exposure(swing[rep, st], k.supplier_orientation[rep, pl.supplier[idx]]) if swing.any()
                else 0.0)
    shock = rules.fiscal_shock(stress, pl.fiscal[idx], k.fail_fiscal[rep])
    begun = pl.delivered[idx] > 0.0
    rate = rules.failure_rate(k.fail_base[rep], shock, begun, veto, exposure, k.fail_regime[rep]) * pl.can_fail[idx]
    pl.fiscal[idx] = np.maximum(pl.fiscal[idx], stress)  # the survivors have now weathered this year's stress
    # A deal fails in the year its cumulative hazard reaches its unit-exponential clock (drawn at signing): the same
    # law as a yearly failure with probability 1 - exp(-rate). Competing risks: the failure is a veto with
    # probability veto / rate (the deal's veto uniform).
    pl.clock[idx] -= rate
    hazard_failed = pl.clock[idx] <= 0.0
    vetoed = recognised & hazard_failed & (pl.veto_draw[idx] * rate < veto)
    failed = hazard_failed | unrecognised
    # US red line: undelivered Chinese deals in a banned category fail, as vetoes (donations cannot fail).
    banned = chinese & policy.banned(t, rep, pl.category[idx]) & (pl.can_fail[idx] > 0)
    vetoed |= banned & recognised
    failed |= banned
    if failed.any():
        lost = idx[failed]
        pl.close(lost, FAILED, year)
        undelivered = np.bincount(cell[failed], weights=pl.size[lost] - pl.delivered[lost],
                                  minlength=n_rep * n).reshape(n_rep, n)
        s.on_order = s.on_order - undelivered
        s.cooling = s.cooling + undelivered
        s.cool_release[np.arange(n_rep), t + k.cooling_years + 1] += undelivered
        rec[:, :, S_CHN_FAILED] = np.bincount(cell[failed & chinese], minlength=n_rep * n).reshape(n_rep, n)
        rec[:, :, S_CHN_VETOED] = np.bincount(cell[vetoed], minlength=n_rep * n).reshape(n_rep, n)

    going = ~failed & (pl.start[idx] <= year)
    di = idx[going]
    remaining = pl.size[di] - pl.delivered[di]
    amount = np.minimum(pl.yearly[di] * rules.delivery_pace(shock[going] * pl.can_fail[di], begun[going]), remaining)
    # The last instalment is what remains, so a deal delivers exactly its size whatever the rounding of its instalments.
    last = remaining - amount <= 1e-9 * pl.size[di]
    amount[last] = remaining[last]
    pl.delivered[di] += amount
    pl.close(di[last], DELIVERED, year)
    new = np.bincount(cell[going] * n_sup + pl.supplier[di], weights=amount,
                      minlength=n_rep * n * n_sup).reshape(n_rep, n, n_sup)
    s.on_order = s.on_order - new.sum(axis=2)
    delivered += new
    donated = going & pl.donation[idx]
    if donated.any():
        rec[rep[donated], st[donated], S_DONATION] = 1.0
    return delivered


def update_capability(k, s, delivered: np.ndarray) -> None:
    """Capability and installed base: depreciation plus the year's deliveries."""
    s.capability = (1.0 - k.capability_decay[:, None]) * s.capability + delivered.sum(axis=2)
    s.installed = (1.0 - k.installed_decay[:, None, None]) * s.installed + delivered

