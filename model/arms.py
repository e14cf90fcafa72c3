"""The arms market: China's red lines (offers), need and contracts, supplier choice and credit, the deal pipeline
(failures and deliveries), capability and installed base (docs/ODD.md §7.7-7.11).

``precompute`` builds one replica's arrays; the kernels work on every replica at once: state arrays are shaped
(replicas, states[, suppliers]), contracts and deals are flat with a replica column. The number of contracts comes
from the replica's arms stream (one uniform per state-year, pre-drawn); each contract's row is addressed by its year,
buyer and number among the buyer's contracts that year (:mod:`model.counter`), so it does not depend on the contracts
signed before it.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.special import logit

from model import counter, rules
from model.data import ModelData
from model.drivers import Drivers
from model.params import ModelParams
from model.pipeline import ACTIVE, DELIVERED, FAILED, Pipeline
from model.schema import (
    ARMS_CATEGORIES,
    CHN_IDX,
    DOMESTIC_IDX,
    IMPORT_SUPPLIERS,
    RUS_IDX,
    SUPPLIERS,
    USA_IDX,
)
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

LIGHT = ARMS_CATEGORIES.index("light")
MAJOR = ARMS_CATEGORIES.index("major_platform")
IMPORT_COLUMNS = np.array([SUPPLIERS.index(s) for s in IMPORT_SUPPLIERS])
# A supplier with under 1% of a state's installed base is new to it: the entry barrier applies (interoperability).
NEW_SUPPLIER_SHARE = 0.01
# A contract's uniforms: category, size (a normal by inversion), lag, its failure clock (a unit exponential of
# cumulative hazard), veto or other failure when it fails, its place in the queue for China's credit line, then one per
# supplier for the choice (rules.race_choice). Four Philox blocks.
ROW_COLUMNS = ("category", "size", "lag", "clock", "veto", "queue", *(f"race_{p}" for p in SUPPLIERS))
CATEGORY, SIZE, LAG, CLOCK, VETO, QUEUE, RACE = range(7)
ROW_WIDTH = 16
# China's race uniform is the last column and alone in the last block: a contract draws that block only when China is
# in its race (offered the category and available), about a quarter of contracts (a block is a tenth of a contract's
# cost). Any other layout draws every block.
CHINA_COLUMN = RACE + CHN_IDX
CHINA_BLOCK_ALONE = CHINA_COLUMN % 4 == 0 and len(ROW_COLUMNS) == CHINA_COLUMN + 1
# A 2000-2040 run signs about 2,100 contracts at the defaults and on the posterior's draws (90% of them fewer than
# 2,900): the model reserves room for this many deals a replica, so its pipeline seldom grows.
DEALS_PER_RUN = 3 << 10

# The market's yearly arrays (:func:`precompute_market`) that a batch stores once per market (parameter set and
# scenario), not once per replica: the kernels read replica r's at row ``k.market_row[r]``. They were three fifths of
# the bytes a batch stacked, identical over a market's driver paths and seeds.
MARKET_ROWS = ("legacy", "legacy_due", "need_base", "static_utility", "contract_median", "inv_contract_mean")


def precompute(p: ModelParams, data: ModelData, dr: Drivers, market: dict[str, np.ndarray] | None = None
               ) -> dict[str, np.ndarray]:
    """One replica's capability target (what a driver path changes in the arms market), with the market's other
    arrays (:func:`precompute_market`, computed here unless given: replicas of the same parameters and scenario share
    them whatever their driver paths)."""
    ap = p.arms
    market = precompute_market(p, data, dr) if market is None else market
    # The capability target: the market's budget factors (precompute_market) and a commodity-financed buildup under
    # anti-US governments, in proportion to how much of the economy is resource rents (a boom finances nothing where
    # there are none; ODD §10), multiplied in the order of the target written out in full.
    boom = dr.commodity_index[:, None] * data.resource_dependence
    target = (market["_target_budget"] * np.exp(ap.buildup * np.maximum(dr.orientation, 0.0) ** 2 * boom)
              * market["_no_army"] * market["_nonconvertible"])
    return {
        **{name: v for name, v in market.items() if not name.startswith("_")},
        "target": target, "inv_target": 1.0 / np.maximum(target, 1e-9),
        # The 2000 gap equals initial_gap once pre-2000 orders still due count as on order (zero stock if they
        # exceed it).
        "capability0": np.maximum((1.0 - ap.initial_gap) * target[0] - market["legacy_due"][0], 0.0),
    }


def precompute_market(p: ModelParams, data: ModelData, dr: Drivers) -> dict[str, np.ndarray]:
    """The arms market's arrays that no driver path changes: need, legacy deliveries, contract sizes, static supplier
    utility and the market's constants. Reads no driver that ``shocks.apply_shocks`` draws (``shocks.SHOCKED``), so
    it is computed once for all the paths of one scenario and parameter set (a twentieth of a batch's building was
    this, again for every path)."""
    ap, country = p.arms, data.country
    years, n, n_sup = dr.years, len(data.iso3), len(SUPPLIERS)
    legacy = np.zeros((len(years), n, n_sup))
    legacy[:, :, IMPORT_COLUMNS] = dr.legacy_deliveries
    # Legacy (pre-2000) deliveries still to come are on order too: at signing time in year t (before the year's
    # deliveries) that is the reverse cumulative sum from t on.
    legacy_due = _legacy_due(dr.legacy_deliveries)

    availability = np.zeros((len(years), n, n_sup))
    with np.errstate(divide="ignore"):
        availability[:, :, RUS_IDX] = np.log(dr.russia_availability)[:, None]
    year, state, column = np.nonzero(dr.embargo > 0)  # (a few embargoed state-years: cheaper than a where)
    availability[year, state, IMPORT_COLUMNS[column]] = -np.inf
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
        # The capability target's factors that no path changes (precompute multiplies in the path's buildup; names
        # starting with _ are read by precompute only). DESIGN.md §4: the budget is gdp x defence share x (1 - fiscal
        # stress); the target scales with it and with the state's own import intensity. A state without armed forces
        # buys through its police and coast guard: arms.no_army_target of the rule's target. A budget valued at an
        # official rate at which the currency buys no dollars overstates what it can buy abroad:
        # exp(arms.nonconvertible_target) of it.
        "_target_budget": (ap.capability_target * dr.milex_usd_m * (1.0 - dr.fiscal_stress)
                           * data.import_intensity ** ap.intensity_weight),
        "_no_army": np.where(country["armed_forces"] > 0, 1.0, ap.no_army_target),
        "_nonconvertible": np.where(country["convertible_budget"] > 0, 1.0, np.exp(ap.nonconvertible_target)),
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
        "installed0": installed,
        **{name: np.float64(getattr(ap, name)) for name in (
            "deal_share", "need_gap", "deal_sigma", "beta_lockin", "beta_hedge", "beta_new_supplier", "beta_finance",
            "fail_base", "fail_fiscal", "fail_veto", "fail_regime", "capability_decay", "installed_decay",
            "redline_leverage", "redline_alignment")},
        "lag_min": np.int64(ap.lag_min), "lag_span": np.int64(ap.lag_max - ap.lag_min + 1),
        "cooling_years": np.int64(ap.cooling_years), "trust_redline": np.float64(p.relations.trust_redline),
    }


@njit(cache=True)
def _legacy_due(legacy: np.ndarray) -> np.ndarray:
    """(years, states): the legacy deliveries still to come from each year on, summed over suppliers and then from
    the last year back, with numpy's additions in numpy's order (a sum over fewer than eight suppliers from zero, then
    a running sum whose first term is the last year's), compiled: numpy's short last-axis sum and reversed running
    sum took a quarter of the arms market's precompute."""
    ny, n, k = legacy.shape
    due = np.empty((ny, n))
    for i in range(n):
        for t in range(ny - 1, -1, -1):
            total = 0.0
            for j in range(k):
                total += legacy[t, i, j]
            due[t, i] = total if t == ny - 1 else due[t + 1, i] + total
    return due


def offers(k, s, boldness: np.ndarray, pressure: np.ndarray, leverage: np.ndarray, policy, t: int):
    """China's red lines this year: which categories it would sell each state, and each line's mean level.

    A category is offered when logit(boldness) exceeds the category's red line, raised by US pressure x the buyer's
    leverage, lowered by the buyer's alignment and dual-use trust (no state or year is named): ``logit(b) >
    logit(r_c) + l_r P lambda_i - a_r a_i - tau_r Theta_i``; a US ban (a policy switch) removes the category.
    Returns (offered: replicas x states x categories; the level of each line on the probability scale, averaged over
    the states recognising Beijing: replicas x categories).
    """
    return _redlines(k.redline_logit, k.redline_leverage, pressure, leverage, k.redline_alignment, s.alignment,
                     k.trust_redline, s.trust, boldness, s.gate, policy.banned_categories(t), k.n_recognising[:, t])


@njit(cache=True)
def _redlines(redline_logit, leverage_coef, pressure, leverage, alignment_coef, alignment, trust_coef, trust,
              boldness, gate, banned, n_recognising):
    """:func:`offers`, compiled: each line's level and whether China's boldness clears it where the state recognises
    Beijing and the US does not ban the category; the levels' mean (summed over states in order, as numpy sums)."""
    n_rep, n = gate.shape
    n_cat = redline_logit.shape[1]
    offered = np.empty((n_rep, n, n_cat), dtype=np.bool_)
    mean = np.zeros((n_rep, n_cat))
    for r in range(n_rep):
        bold = rules._logit(boldness[r], 0)
        coef = leverage_coef[r] * pressure[r]
        for i in range(n):
            for c in range(n_cat):
                v = (redline_logit[r, c] + coef * leverage[r, i] - alignment_coef[r] * alignment[r, i]
                     - trust_coef[r] * trust[r, i])
                offered[r, i, c] = bold > v and gate[r, i] > 0 and not banned[r, c]
                if gate[r, i] != 0.0:  # (a state that does not recognise Beijing adds 0 to the mean)
                    mean[r, c] += gate[r, i] * rules._expit(v, 0)
        for c in range(n_cat):
            mean[r, c] /= n_recognising[r]
    return offered, mean


def contract_row(key: np.ndarray, year: int, buyer: int, number: int) -> np.ndarray:
    """The row of a replica's ``number``-th contract (from 0) of ``buyer`` in ``year`` under its contract key, as the
    contracts' kernel reads it: uniforms, but for the size column, a standard normal by inversion, and the clock column,
    a unit exponential (``-log u``)."""
    row = np.empty(ROW_WIDTH)
    _row(key, year, buyer, number, row)
    _china_uniform(key, year, buyer, number, row)
    return row[:len(ROW_COLUMNS)]


@njit(cache=True)
def _row(key, year, buyer, number, row) -> None:
    """The row but for China's race uniform when that has a block of its own (:func:`_china_uniform` draws it)."""
    counter.uniforms(key, number, buyer, year, row[:CHINA_COLUMN] if CHINA_BLOCK_ALONE else row)
    row[SIZE] = rules._ndtri(row[SIZE], 0)
    row[CLOCK] = -math.log(row[CLOCK])


@njit(cache=True)
def _china_uniform(key, year, buyer, number, row) -> None:
    """China's race uniform into the row, when :func:`_row` left it out."""
    if CHINA_BLOCK_ALONE:
        counter.uniforms(key, number, buyer, year, row[CHINA_COLUMN:], CHINA_COLUMN // 4)


def sign(k, s, t: int, year: int, pressure: np.ndarray, leverage: np.ndarray, finance: np.ndarray,
         credit: np.ndarray, fiscal: np.ndarray, policy, pipeline: Pipeline, rec: np.ndarray) -> None:
    """Need (a yearly order volume), contracts (a Poisson number, sized like SIPRI's deals), supplier choice.

    A state orders ``deal_share x gap x target`` a year at full need, scaled by the need logit; the volume is spent in
    contracts whose number is Poisson with mean volume / mean contract size, so large buyers sign several a year with
    several suppliers and small ones sign rarely, as in SIPRI (DESIGN.md §4, ODD §10). ``credit`` (replicas,) is
    China's credit line left this year, drawn down in place.
    """
    # The gap counts arms already on order (the supply line), or states would keep ordering until deliveries land;
    # capability and orders are never negative, so the gap is at most 1. A failed order counts against the gap for
    # arms.cooling_years signing years (cooling-off), then is released.
    s.cooling, gap, lam = _need(s.cooling, s.cool_release[:, t], s.capability, s.on_order, k.market_row,
                                k.legacy_due[:, t], k.inv_target[:, t], k.deal_share, k.target[:, t],
                                k.need_base[:, t], k.need_gap, k.inv_contract_mean[:, t], rec)
    s.capability_gap = gap
    counts = rules.poisson_quantile(k.u_contracts[:, t], lam)
    total = int(counts.sum())
    if total == 0:
        return

    pl = pipeline
    first = pl.reserve(total)
    s.on_order, chinese = _contracts(
        counts, k.contract_key, k.market_row, k.category_cdf, k.contract_median[:, t], k.category_size, k.deal_sigma,
        k.lag_min, k.lag_span, k.delivery_years, k.veto, k.static_utility[:, t], s.installed, k.beta_lockin,
        k.align_coef, s.alignment, k.beta_hedge, k.beta_new_supplier, k.not_domestic, pressure, leverage,
        k.pressure_coef, policy.us_availability_log(t), s.offered, k.beta_finance, finance, credit, fiscal,
        year, first, pl.replica, pl.state, pl.supplier, pl.category, pl.size, pl.start, pl.signed, pl.status,
        pl.donation, pl.yearly, pl.veto_exposure, pl.can_fail, pl.fiscal, pl.clock, pl.veto_draw, pl.financed,
        s.on_order, k.coproduction, rec)
    pl.opened(total)
    if chinese:
        policy.crossed(t, rec[:, :, S_CHN_SIGNED])


@njit(cache=True)
def _need(cooling, cool_release, capability, on_order, market_row, legacy_due, inv_target, deal_share, target,
          need_base, need_gap, inv_contract_mean, rec):
    """The need's arithmetic, compiled, in the numpy code's order: the cooling stock after this year's release, the
    capability gap (recorded) and the mean number of contracts (a yearly order volume over the mean contract
    size). The market's arrays are read at the replica's ``market_row``."""
    n_rep, n = cooling.shape
    cooled, gap, lam = np.empty((n_rep, n)), np.empty((n_rep, n)), np.empty((n_rep, n))
    for r in range(n_rep):
        mr = market_row[r]
        for i in range(n):
            c = cooling[r, i] - cool_release[r, i]
            g = 1.0 - (((capability[r, i] + on_order[r, i]) + c) + legacy_due[mr, i]) * inv_target[r, i]
            g = rules.maximum(g, 0.0)
            volume = ((deal_share[r] * g) * target[r, i]) * rules._expit(need_base[mr, i] + need_gap[r] * g, 0)
            cooled[r, i], gap[r, i], lam[r, i] = c, g, volume * inv_contract_mean[mr, i]
            rec[r, i, S_GAP] = g
    return cooled, gap, lam


@njit(cache=True)
def installed_base(installed, r: int, i: int) -> float:
    """A state's installed base over all suppliers, at least 1e-12 (the denominator of its supplier shares), summed
    from zero in supplier order as numpy sums fewer than 8."""
    base = 0.0
    for j in range(installed.shape[2]):
        base += installed[r, i, j]
    return rules.maximum(base, 1e-12)


@njit(cache=True)
def _contracts(counts, key, market_row, category_cdf, contract_median, category_size, deal_sigma, lag_min, lag_span,
               delivery_years, veto, static_utility, installed, beta_lockin, align_coef, alignment, beta_hedge,
               beta_new_supplier, not_domestic, pressure, leverage, pressure_coef, us_availability_log, offered,
               beta_finance, finance, credit, fiscal, year, first, replica, state, supplier, category, size, start,
               signed, status, donation, yearly, veto_exposure, can_fail, fiscal_met, clock, veto_draw, on_credit,
               on_order, coproduction, rec):
    """This year's contracts, in (replica, buyer) order: each one's row (:func:`contract_row`), category, size,
    delivery lag and supplier, written into the pipeline's columns from slot ``first`` on (deals that cannot yet have
    delivered or failed); China's credit line drawn down in place; the year's tallies (contracts by buyer and supplier;
    China's, its major platforms and co-production deals where China signs any) into the year's record ``rec``.
    Returns the arms on order after the year's contracts (each buyer's TIV added in contract order) and whether China
    signed any.

    A compiled loop over contracts (thousands a year in a batch), where array code paid a gather per column and per
    supplier. A buyer's utility of each supplier (DESIGN.md §4) is computed once, for the buyers that sign. The
    market's arrays (``contract_median``, ``static_utility``) are read at the replica's ``market_row``.
    """
    n_rep, n = counts.shape
    n_sup = static_utility.shape[2]
    total = counts.sum()
    choice = np.empty(total, dtype=np.int64)
    with_finance = np.empty(total, dtype=np.bool_)
    financed = np.zeros(total, dtype=np.bool_)
    queue_u, clock_e, veto_u = np.empty(total), np.empty(total), np.empty(total)
    buyer = np.empty(n_sup)
    weight = np.empty(n_sup)
    share = np.empty(n_sup)
    order = np.empty(n_sup, dtype=np.int64)
    row = np.empty(ROW_WIDTH)
    c = 0
    for r in range(n_rep):
        mr = market_row[r]
        for b in range(n):
            if counts[r, b] == 0:
                continue
            base = installed_base(installed, r, b)
            top = 0.0
            for j in range(n_sup):
                share[j] = installed[r, b, j] / base
                top = max(top, share[j])
            hold = pressure[r] * leverage[r, b]
            for j in range(n_sup):
                buyer[j] = (static_utility[mr, b, j] + beta_lockin[r] * share[j]
                            + align_coef[r, j] * alignment[r, b]
                            + beta_hedge[r] * top * (share[j] == 0)
                            - beta_new_supplier[r] * (share[j] < NEW_SUPPLIER_SHARE) * not_domestic[r, j]
                            - hold * pressure_coef[r, j])
            buyer[USA_IDX] += us_availability_log[r, b]
            # The buyer's weights are shared by its contracts; only China's availability depends on the category.
            rules.race_weights(buyer, weight)
            china_weight = weight[CHN_IDX]
            m = rules.race_order(weight, CHN_IDX, order)
            for number in range(counts[r, b]):
                _row(key[r], year, b, number, row)
                d = first + c
                replica[d], state[d] = r, b
                cat = 0  # the category's inverse distribution function: the number of cumulative weights <= u
                for j in range(category_cdf.shape[1]):
                    cat += category_cdf[r, j] <= row[CATEGORY]
                category[d] = cat
                size[d] = contract_median[mr, b] * category_size[r, cat] * math.exp(deal_sigma[r] * row[SIZE])
                start[d] = year + lag_min[r] + np.int64(row[LAG] * lag_span[r])
                weight[CHN_IDX] = china_weight if offered[r, b, cat] else 0.0
                if weight[CHN_IDX] > 0.0:  # (the race reads China's uniform only then)
                    _china_uniform(key[r], year, b, number, row)
                choice[c], margin = rules.race_pick(weight, row[RACE:RACE + n_sup], CHN_IDX, order, m)
                with_finance[c] = margin + beta_finance[r] * finance[r, b] > 0
                queue_u[c], clock_e[c], veto_u[c] = row[QUEUE], row[CLOCK], row[VETO]
                c += 1
    rep = replica[first:first + total]
    # Contracts China would win with its finance draw on the credit line in the order of their queue uniforms, each
    # replica on its own: each gets the finance while credit is left (credit never comes back within a year) and is
    # then financed, whether or not China would have won it without. The contracts are in replica order, so each
    # replica's queue is a block, put in order by an insertion sort (stable: equal uniforms keep contract order),
    # which compiles in a fraction of the time numba's argsort takes.
    queue = np.empty(total, dtype=np.int64)
    lo = 0
    while lo < total:
        r = rep[lo]
        hi, m = lo, 0
        while hi < total and rep[hi] == r:
            if with_finance[hi]:
                place, j = queue_u[hi], m
                while j > 0 and queue_u[queue[j - 1]] > place:
                    queue[j] = queue[j - 1]
                    j -= 1
                queue[j] = hi
                m += 1
            hi += 1
        for q in range(m):
            if credit[r] > 0.0:
                choice[queue[q]] = CHN_IDX
                financed[queue[q]] = True
                credit[r] -= size[first + queue[q]]
        lo = hi
    ordered = np.zeros((n_rep, n))
    signed_by, chn_major = np.zeros((n_rep, n, n_sup)), np.zeros((n_rep, n))
    for c in range(total):
        d = first + c
        r, b, cat, sup = rep[c], state[d], category[d], choice[c]
        chinese = sup == CHN_IDX
        supplier[d], signed[d], status[d], donation[d] = sup, year, ACTIVE, False
        yearly[d] = size[d] / delivery_years[r, cat]
        veto_exposure[d], can_fail[d] = veto[r, cat] * chinese, 1.0
        fiscal_met[d], clock[d], veto_draw[d] = fiscal[r, b], clock_e[c], veto_u[c]
        on_credit[d] = financed[c]
        ordered[r, b] += size[d]
        signed_by[r, b, sup] += 1.0
        if chinese and cat == MAJOR:
            chn_major[r, b] += 1.0
    # Loops, not array expressions: numba takes seconds to compile each of those.
    chinese_any = False
    for r in range(n_rep):
        for b in range(n):
            ordered[r, b] += on_order[r, b]  # (addition commutes exactly)
            for j in range(n_sup):
                rec[r, b, S_SIGNED + j] = signed_by[r, b, j]
            chinese_any |= signed_by[r, b, CHN_IDX] > 0.0
    if chinese_any:
        for r in range(n_rep):
            for b in range(n):
                rec[r, b, S_CHN_SIGNED] = signed_by[r, b, CHN_IDX]
                rec[r, b, S_CHN_MAJOR] = chn_major[r, b]
                rec[r, b, S_COPRODUCTION] = signed_by[r, b, CHN_IDX] * coproduction[r, b]
    return ordered, chinese_any


def run_pipeline(k, s, t: int, year: int, pressure: np.ndarray, leverage: np.ndarray, fiscal: np.ndarray,
                 swing: np.ndarray, policy, pipeline: Pipeline, rec: np.ndarray) -> np.ndarray:
    """Failures (a rise of fiscal stress before a deal's deliveries begin, but for deals on China's credit; US veto; a
    change of government away from the supplier; loss of recognition), then deliveries, slowed by a rise of fiscal
    stress once begun (again but for deals on China's credit). ``swing`` is each state's change of orientation this
    year where it is a change of government, 0 elsewhere.

    Returns the year's deliveries, (replicas, states, suppliers), legacy (pre-2000) deals included.
    """
    pl = pipeline
    # Deals signed before 2000 deliver as SIPRI records them (initial conditions; China's are unknown, held out).
    if len(pl.active) == 0:
        return k.legacy[k.market_row, t]
    pl.active, delivered, s.on_order, s.cooling = _pipeline_year(
        pl.active, t, year, pl.replica, pl.state, pl.supplier, pl.category, pl.size, pl.start, pl.delivered,
        pl.status, pl.closed, pl.donation, pl.yearly, pl.veto_exposure, pl.can_fail, pl.fiscal, pl.clock,
        pl.veto_draw, pl.financed, s.gate, fiscal, k.fail_veto, pressure, leverage, swing, k.supplier_orientation,
        k.fail_base, k.fail_fiscal, k.fail_regime, policy.banned_categories(t), k.market_row, k.legacy[:, t],
        s.on_order, s.cooling, s.cool_release, k.cooling_years, rec)
    return delivered


@njit(cache=True)
def _pipeline_year(active, t, year, replica, state, supplier, category, size, start, delivered, status, closed,
                   donation, yearly, veto_exposure, can_fail, fiscal_met, clock, veto_draw, financed, gate, fiscal,
                   fail_veto,
                   pressure, leverage, swing, orientation, fail_base, fail_fiscal, fail_regime, banned, market_row,
                   legacy, on_order, cooling, cool_release, cooling_years, rec):
    """One year of the open deals, in index order: each one's failure hazard against its clock, then its delivery.

    A loop over deals, compiled: thousands of open deals in a batch, each a few scalar operations, where array code
    paid a gather and a scatter per column. Writes the deal columns in place; each state's undelivered TIV of failed
    deals, China's failed and vetoed deals and the deliveries by supplier are summed in deal order. Failed orders
    leave the supply line for the cooling stock, released ``cooling_years`` later (``cool_release`` in place); the
    year's failures and donations go into its record ``rec``. Returns the deals still open, the year's deliveries
    (legacy deals included), the arms on order and the cooling stock.
    """
    n_rep, n = gate.shape
    n_sup = legacy.shape[2]
    undelivered, failed_chn, vetoed_n = np.zeros((n_rep, n)), np.zeros((n_rep, n)), np.zeros((n_rep, n))
    new = np.zeros((n_rep, n, n_sup))
    keep = np.empty(len(active), dtype=active.dtype)
    n_keep = n_failed = 0
    for i in active:
        r, st, sup = replica[i], state[i], supplier[i]
        chinese = sup == CHN_IDX
        # Recognition and the US veto act on Chinese deals only (the others' veto exposure is zero).
        recognised = chinese and gate[r, st] > 0
        veto = (fail_veto[r] * pressure[r]) * veto_exposure[i] * leverage[r, st] if chinese else 0.0
        stress = fiscal[r, st]
        # A deal on China's credit is paid to the supplier by the lender, and the buyer repays over years, so a rise
        # of its fiscal stress neither fails nor slows it.
        shock = 0.0 if financed[i] else rules.fiscal_shock(stress, fiscal_met[i], fail_fiscal[r])
        begun = delivered[i] > 0.0
        exposure = rules.regime_exposure(swing[r, st], orientation[r, sup])
        rate = rules.failure_rate(fail_base[r], shock, begun, veto, exposure, fail_regime[r]) * can_fail[i]
        fiscal_met[i] = max(fiscal_met[i], stress)  # the deal has now weathered this year's stress
        # A deal fails in the year its cumulative hazard reaches its unit-exponential clock (drawn at signing): the
        # same law as a yearly failure with probability 1 - exp(-rate). Competing risks: the failure is a veto with
        # probability veto / rate (the deal's veto uniform).
        clock[i] -= rate
        failed = clock[i] <= 0.0
        vetoed = recognised and failed and veto_draw[i] * rate < veto
        failed = failed or (chinese and not recognised)
        # US red line: undelivered Chinese deals in a banned category fail, as vetoes (donations cannot fail).
        if chinese and banned[r, category[i]] and can_fail[i] > 0:
            vetoed = vetoed or recognised
            failed = True
        if failed:
            status[i], closed[i] = FAILED, year
            undelivered[r, st] += size[i] - delivered[i]
            failed_chn[r, st] += chinese
            vetoed_n[r, st] += vetoed
            n_failed += 1
            continue
        if start[i] > year:
            keep[n_keep] = i
            n_keep += 1
            continue
        remaining = size[i] - delivered[i]
        amount = min(yearly[i] * rules.delivery_pace(shock * can_fail[i], begun), remaining)
        # The last instalment is what remains, so a deal delivers exactly its size whatever the rounding of its
        # instalments.
        last = remaining - amount <= 1e-9 * size[i]
        if last:
            amount = remaining
        delivered[i] += amount
        new[r, st, sup] += amount
        if donation[i]:
            rec[r, st, S_DONATION] = 1.0
        if last:
            status[i], closed[i] = DELIVERED, year
        else:
            keep[n_keep] = i
            n_keep += 1
    # Loops, not array expressions: numba takes seconds to compile each of those.
    cooled, ordered, arrived = cooling.copy(), on_order.copy(), np.empty((n_rep, n, n_sup))
    if n_failed:
        for r in range(n_rep):
            for st in range(n):
                ordered[r, st] = on_order[r, st] - undelivered[r, st]
                cooled[r, st] = cooling[r, st] + undelivered[r, st]
                cool_release[r, t + cooling_years[r] + 1, st] += undelivered[r, st]
                rec[r, st, S_CHN_FAILED] = failed_chn[r, st]
                rec[r, st, S_CHN_VETOED] = vetoed_n[r, st]
    for r in range(n_rep):
        mr = market_row[r]
        for st in range(n):
            total = 0.0
            for j in range(n_sup):
                total += new[r, st, j]
                arrived[r, st, j] = legacy[mr, st, j] + new[r, st, j]
            ordered[r, st] -= total
    return keep[:n_keep], arrived, ordered, cooled


def update_capability(k, s, delivered: np.ndarray) -> None:
    """Capability and installed base: depreciation plus the year's deliveries."""
    s.capability, s.installed = _depreciate(k.capability_decay, s.capability, k.installed_decay, s.installed,
                                            delivered)


@njit(cache=True)
def _depreciate(capability_decay, capability, installed_decay, installed, delivered):
    """:func:`update_capability`, compiled (a state's deliveries summed over suppliers in order, as numpy sums them)."""
    n_rep, n, n_sup = installed.shape
    new_capability, new_installed = np.empty((n_rep, n)), np.empty((n_rep, n, n_sup))
    for r in range(n_rep):
        for i in range(n):
            arrived = 0.0
            for j in range(n_sup):
                arrived += delivered[r, i, j]
                new_installed[r, i, j] = (1.0 - installed_decay[r]) * installed[r, i, j] + delivered[r, i, j]
            new_capability[r, i] = (1.0 - capability_decay[r]) * capability[r, i] + arrived
    return new_capability, new_installed

