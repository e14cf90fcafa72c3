"""The channel rules as pure numpy functions over all states at once (documented in docs/ODD.md, §Submodels).

Each function takes arrays and parameters and returns arrays; none draws random numbers itself: noise is drawn per run
from the channel's own stream and passed in, so the rules can be checked against numbers worked by hand.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import binding
from numba import njit, types, vectorize
from numba.extending import get_cython_function_address

# scipy's own Poisson distribution function, normal quantile, logistic function and logit, called from compiled code
# by their C entry points (the ufuncs scipy.special.pdtr, ndtri, expit and logit run the same functions, so the values
# are the same to the bit: tests/test_rules.py). Named symbols, not function pointers, so that numba can cache the
# functions that call them. expit and logit are fused in cython_special; the double version is the first.
for _name, _symbol in (("pdtr", "pdtr"), ("ndtri", "ndtri"), ("expit", "__pyx_fuse_0expit"),
                       ("logit", "__pyx_fuse_0logit")):
    binding.add_symbol(f"scipy_special_{_name}", get_cython_function_address("scipy.special.cython_special", _symbol))
# The last argument of cython_special's C functions is Cython's skip-dispatch flag (0).
_pdtr = types.ExternalFunction("scipy_special_pdtr", types.float64(types.float64, types.float64, types.intc))
_ndtri = types.ExternalFunction("scipy_special_ndtri", types.float64(types.float64, types.intc))
_expit = types.ExternalFunction("scipy_special_expit", types.float64(types.float64, types.intc))
_logit = types.ExternalFunction("scipy_special_logit", types.float64(types.float64, types.intc))


@njit(cache=True)
def maximum(a: float, b: float) -> float:
    """``np.maximum(a, b)`` to the bit for floats: ``a`` when ``a >= b`` or ``a`` is NaN, else ``b`` (NaN kept from
    either side, the sign of a zero as numpy picks it)."""
    return a if (a >= b or a != a) else b


@njit(cache=True)
def pairwise_sum(a: np.ndarray, lo: int, n: int) -> float:
    """``a[lo:lo + n].sum()`` to the bit as numpy sums a contiguous row: from its identity 0, eight running sums over
    blocks of at most 128, halves above (numpy's pairwise summation), so compiled code can sum what numpy summed.

    The halves are walked with a stack, not by recursion: numba's cache does not reload recursive functions safely
    (a segmentation fault on this machine)."""
    if n <= 128:
        return 0.0 + _block_sum(a, lo, n)
    # Each node: first slot, length, and how many of its halves are done; sums wait on their own stack.
    first, length, done = np.empty(64, np.int64), np.empty(64, np.int64), np.empty(64, np.int64)
    sums = np.empty(64)
    first[0], length[0], done[0] = lo, n, 0
    depth, ready = 1, 0
    while depth:
        i = depth - 1
        if length[i] <= 128:
            sums[ready] = _block_sum(a, first[i], length[i])
            ready += 1
            depth -= 1
            continue
        half = length[i] // 2
        half -= half % 8
        if done[i] == 2:
            sums[ready - 2] += sums[ready - 1]
            ready -= 1
            depth -= 1
            continue
        first[depth] = first[i] + (half if done[i] else 0)
        length[depth] = length[i] - half if done[i] else half
        done[depth] = 0
        done[i] += 1
        depth += 1
    return 0.0 + sums[0]


@njit(cache=True)
def _block_sum(a: np.ndarray, lo: int, n: int) -> float:
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        r0, r1, r2, r3 = r0 + a[lo + i], r1 + a[lo + i + 1], r2 + a[lo + i + 2], r3 + a[lo + i + 3]
        r4, r5, r6, r7 = r4 + a[lo + i + 4], r5 + a[lo + i + 5], r6 + a[lo + i + 6], r7 + a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


def decide(logit: np.ndarray, noise: np.ndarray, is_open: np.ndarray) -> np.ndarray:
    """Yes/no decisions: ``is_open and noise < logit`` with standard logistic ``noise`` (any trailing channel axis).

    Comparing logistic noise with the logit is the same event as ``u < sigmoid(logit)``, without computing a sigmoid.
    """
    return ((noise < logit) & is_open).astype(float)


def peer_matrix(members: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Matrices P with ``P @ flags`` = the share of each state's group, among eligible states, that has ``flags``.

    ``members`` is one-hot (states x groups); ``eligible`` is (states,) or (years, states), giving P of shape
    (states, states) or (years, states, states): ``P[i, j] = [same group] eligible_j / max(eligible in i's group, 1)``.
    """
    sizes = np.maximum(eligible @ members, 1.0) @ members.T  # each state's number of eligible group members
    same = members @ members.T
    return same * eligible[..., None, :] / sizes[..., :, None]


def update_stock(stock: np.ndarray, contacts: np.ndarray, decay: float | np.ndarray) -> np.ndarray:
    """Relationship stock in [0, 1]: decays by ``decay``; contacts close the remaining gap by ``1 - exp(-contacts)``.

    ``R' = (1-d) R + (1 - (1-d) R) (1 - exp(-c))``: with no contact the stock only decays; it never leaves [0, 1].
    """
    return stock_step(stock, np.exp(-contacts), decay)


@vectorize(["float64(float64, float64, float64)"], cache=True)
def stock_step(stock: float, no_contact: float, decay: float) -> float:
    """:func:`update_stock` given ``no_contact = exp(-contacts)`` (numpy computes the exponential)."""
    kept = (1.0 - decay) * stock
    return kept + (1.0 - kept) * (1.0 - no_contact)


def weighted_pick_mask(weights: np.ndarray, log_u: np.ndarray, k: np.ndarray | int) -> np.ndarray:
    """Which of the last axis's states are among the ``k`` sampled without replacement with probability proportional
    to ``weights`` (one sample per leading index, ``k`` per leading index or one for all).

    Efraimidis-Spirakis keys ``log(u) / w`` with ``u`` uniform (``log_u`` is passed in, drawn once per run): the ``k``
    largest keys are a weighted sample. States with zero weight are never picked, so fewer than ``k`` come back when
    fewer are eligible. The ``k``-th largest key comes from a sort along the states' axis, so each row's sample is its
    own (keys are continuous: ties have probability zero).
    """
    weights, log_u = np.asarray(weights, dtype=float), np.asarray(log_u, dtype=float)
    if weights.ndim == 2 and weights.shape == log_u.shape and np.shape(k) == weights.shape[:1]:
        # The model's calls: (replicas, states), one k per replica; no broadcasting to pay for.
        return _pick_rows(weights, log_u, np.asarray(k, dtype=np.int64))
    shape = np.broadcast_shapes(weights.shape, log_u.shape)
    rows = (-1, shape[-1])
    ks = np.broadcast_to(np.asarray(k, dtype=np.int64), shape[:-1]).reshape(-1)
    mask = _pick_rows(np.broadcast_to(weights, shape).reshape(rows), np.broadcast_to(log_u, shape).reshape(rows), ks)
    return mask.reshape(shape)


@njit(cache=True)
def _pick_rows(weights: np.ndarray, log_u: np.ndarray, k: np.ndarray) -> np.ndarray:
    """:func:`weighted_pick_mask` on rows, compiled; the kernels of tours, exercises, port calls and aid call it.

    Zero weights get keys near -1e300 (below every eligible key) without a division by zero. The ``k``-th largest key
    comes from a descending list of the ``k`` largest so far (``k`` is small), the same value a sort gives.
    """
    rows, n = weights.shape
    mask = np.zeros((rows, n), dtype=np.bool_)
    keys = np.empty(n)
    top = np.empty(n)
    for i in range(rows):
        eligible = 0
        for j in range(n):
            keys[j] = log_u[i, j] / max(weights[i, j], 1e-300)
            eligible += weights[i, j] != 0.0
        m = min(k[i], eligible)
        if m <= 0:
            continue
        size = 0
        for j in range(n):
            key = keys[j]
            if size == m and key <= top[m - 1]:
                continue
            pos = min(size, m - 1)
            while pos > 0 and top[pos - 1] < key:
                top[pos] = top[pos - 1]
                pos -= 1
            top[pos] = key
            size = min(size + 1, m)
        for j in range(n):
            mask[i, j] = keys[j] >= top[m - 1]
    return mask


def weighted_pick(weights: np.ndarray, log_u: np.ndarray, k: int) -> np.ndarray:
    """Indices (ascending) of the ``k`` states of :func:`weighted_pick_mask` for one sample."""
    return np.flatnonzero(weighted_pick_mask(weights, log_u, k))


# The deal pipeline's rules are numpy ufuncs compiled by numba: called with arrays from Python (the by-hand tests), and
# on scalars from the pipeline's compiled yearly loop over open deals (model.arms), which runs one formula, not two.
@vectorize(["float64(float64, float64)"], cache=True)
def regime_exposure(swing: float, supplier_orientation: float) -> float:
    """How far a change of government moves a state away from a supplier's politics: ``max(0, -swing x o_j)``.

    ``swing`` is the change of orientation in a year of government change (0 otherwise; positive towards China,
    negative towards the US), ``o_j`` the supplier's orientation (-1 US ... +1 China). A new government reviews the
    deals its predecessor signed with suppliers on the other side of its move (a turn towards the US exposes Chinese
    and Russian deals, a turn away from it US, Israeli and European ones), and leaves politically neutral suppliers'
    deals alone.
    """
    return max(-swing * supplier_orientation, 0.0)


@vectorize(["float64(float64, float64, float64)"], cache=True)
def fiscal_shock(fiscal: float, fiscal_met: float, fiscal_coef: float) -> float:
    """Hazard of a rise of fiscal stress on an open deal: ``fiscal_coef max(F - F_met, 0)``.

    Ability to pay acts at signing, so only a rise above the highest stress the deal has met (at signing or in a year
    it survived) shocks it: a rise is a one-off shock, and a deal that weathered it is not shocked again by the same
    stress.
    """
    return fiscal_coef * max(fiscal - fiscal_met, 0.0)


@vectorize(["float64(float64, float64, boolean, float64, float64, float64)"], cache=True)
def failure_rate(base: float, shock: float, begun: bool, veto: float, regime: float, regime_coef: float) -> float:
    """Yearly failure rate of deals; the failure probability is ``1 - exp(-rate)``, of which ``veto / rate`` is the US
    veto.

    ``rate = base + shock [deliveries not begun] + veto + regime_coef E``. A fiscal ``shock`` (:func:`fiscal_shock`)
    fails only deals whose deliveries have not begun: once the supplier is building and delivering, a buyer in arrears
    gets its deliveries slowed and rescheduled, not cancelled (:func:`delivery_pace`). ``veto`` is already
    ``fail_veto x category exposure x pressure x leverage`` for Chinese deals and zero otherwise (competing risks);
    ``regime`` is the deal's :func:`regime_exposure` this year.
    """
    return base + (0.0 if begun else shock) + veto + regime_coef * regime


@vectorize(["float64(float64, boolean)"], cache=True)
def delivery_pace(shock: float, begun: bool) -> float:
    """Share of a deal's yearly instalment delivered this year: ``exp(-shock)`` for deals whose deliveries have begun,
    1 otherwise; the rest is delivered after the deal's scheduled end, so a fiscal shock delays a deal in delivery by
    the same probability that it would fail one not yet begun."""
    return math.exp(-shock) if begun and shock != 0.0 else 1.0  # (exp(-0) is 1: most deals meet no shock)


def bass_hazard(innovation: float, imitation: float, adopter_share: float, push: np.ndarray) -> np.ndarray:
    """Bass-style adoption probability ``1 - exp(-max(0, p + q s + push))``; ``push`` holds the state-level terms."""
    return 1.0 - np.exp(bass_exponent(innovation, imitation, adopter_share, push))


@vectorize(["float64(float64, float64, float64, float64)"], cache=True)
def bass_exponent(innovation: float, imitation: float, adopter_share: float, push: float) -> float:
    """:func:`bass_hazard`'s exponent ``-max(0, p + q s + push)`` (a kernel computes it, numpy the exponential)."""
    x = innovation + imitation * adopter_share + push
    return -maximum(0.0, x)


@njit(cache=True)
def capped_count(u: float, lam: float, cap: int) -> int:
    """A Poisson count of mean ``lam`` capped at ``cap``, by inversion of the uniform ``u``: the smallest ``k`` with
    ``P(X <= k) >= u``, or ``cap``. A zero or NaN mean gives none; an infinite one gives ``cap``. The cap keeps the
    walk up the distribution short (the caps are far in the tail of the model's means)."""
    if not lam > 0.0:
        return 0
    return _walk_up(u, lam, math.exp(-lam), cap)[0]


@njit(cache=True)
def _walk_up(u: float, lam: float, zero_cdf: float, steps: int) -> tuple[int, float]:
    """The Poisson distribution of mean ``lam`` summed up from ``P(0) = zero_cdf`` until it reaches ``u`` or ``steps``
    terms are added: the count and the distribution function there (below ``u`` when the walk stopped short; a NaN
    sum walks to the end)."""
    term, cdf, k = zero_cdf, zero_cdf, 0
    while k < steps and not cdf >= u:
        k += 1
        term *= lam / k
        cdf += term
    return k, cdf


@njit(cache=True)
def _capped_poisson(u: np.ndarray, lam: np.ndarray, cap: int) -> np.ndarray:
    out = np.empty(u.shape, dtype=np.int64)
    for i in range(len(u)):
        out[i] = capped_count(u[i], lam[i], cap)
    return out


def capped_poisson(u: np.ndarray, lam: np.ndarray, cap: int) -> np.ndarray:
    """:func:`capped_count` elementwise over uniforms ``u`` and means ``lam`` of one shape (compiled)."""
    u, lam = np.broadcast_arrays(np.asarray(u, dtype=float), np.asarray(lam, dtype=float))
    return _capped_poisson(np.ascontiguousarray(u).ravel(), np.ascontiguousarray(lam).ravel(), cap).reshape(u.shape)


# Poisson quantiles of means below WALK_BELOW are found by summing the probabilities up from P(0), at most WALK_STEPS
# terms (P(Poisson(8) > 40) is about 1e-15); the rest from the normal approximation and scipy's pdtr.
WALK_BELOW, WALK_STEPS = 8.0, 40


def poisson_quantile(u: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson counts by inversion: the smallest ``k`` with ``P(X <= k) >= u``, for uniforms ``u`` and means ``lam``.

    One uniform per count, so a count's draw does not depend on any other count's value (batches of replicas draw
    theirs up front). Counts of zero (``u <= exp(-lam)``) cost nothing more; the others start from the normal
    approximation and step to the exact quantile with scipy's Poisson distribution function ``pdtr`` (usually zero to
    two steps), so the cost does not grow with the count.
    """
    lam, u = np.asarray(lam, dtype=float), np.asarray(u, dtype=float)
    if u.shape != lam.shape:
        u = np.broadcast_to(u, lam.shape)
    # numpy's exp, not the compiled code's: the two may differ in the last bit.
    return _poisson_quantile(u.ravel(), lam.ravel(), np.exp(-lam).ravel()).reshape(lam.shape)


@njit(cache=True)
def _poisson_quantile(u: np.ndarray, lam: np.ndarray, zero_cdf: np.ndarray) -> np.ndarray:
    """:func:`poisson_quantile` on flat arrays, compiled; ``zero_cdf`` is ``exp(-lam)``. A count that steps up is at
    its quantile once ``pdtr`` reaches ``u`` (its last step was below); only the others may need to step down."""
    k = np.zeros(len(u), dtype=np.int64)
    for i in range(len(u)):
        ui, li = u[i], lam[i]
        if not ui > zero_cdf[i]:
            continue
        if li < WALK_BELOW:
            # A small mean: walk up the distribution from P(0) (a few products, where pdtr costs a series each).
            walked, cdf = _walk_up(ui, li, zero_cdf[i], WALK_STEPS)
            if cdf >= ui:
                k[i] = walked
                continue
        ki = max(np.floor(li + np.sqrt(li) * _ndtri(ui, 0)), 0.0)
        if _pdtr(ki, li, 0) < ui:
            ki += 1.0
            while _pdtr(ki, li, 0) < ui:
                ki += 1.0
        else:
            while ki > 0 and _pdtr(ki - 1.0, li, 0) >= ui:
                ki -= 1.0
        k[i] = np.int64(ki)
    return k


@njit(cache=True)
def race_choice(utility: np.ndarray, u: np.ndarray, column: int,
                boost: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial-logit choices of rows of ``utility`` (``-inf`` = unavailable) as an exponential race: column ``j``
    finishes at ``E_j / exp(V_j)`` with ``E_j = -log u_j`` a unit exponential (``u`` uniform), and the first to
    finish is chosen.

    The same law as adding Gumbel noise to every column and taking the argmax, twice (without and with ``boost`` on
    ``column``): ``-log E_j`` is a standard Gumbel. One draw per column keeps common random numbers across scenarios:
    a change of one column's utility moves only the choices that column wins or loses (docs/ODD.md §10.34). Returns
    the choice without the boost and whether ``column`` wins with it. Compiled (numba); the arms market calls
    :func:`race_pick` from its loop over contracts, with each buyer's weights computed once.
    """
    rows, cols = utility.shape
    choice = np.empty(rows, dtype=np.int64)
    margin = np.empty(rows)
    weight = np.empty(cols)
    order = np.empty(cols, dtype=np.int64)
    for i in range(rows):
        race_weights(utility[i], weight)
        choice[i], margin[i] = race_pick(weight, u[i], column, order, race_order(weight, column, order))
    return choice, margin + boost > 0


@njit(cache=True)
def race_weights(utility: np.ndarray, weight: np.ndarray) -> None:
    """Each column's weight ``exp(V_j - max V)`` into ``weight`` (0 for an unavailable column)."""
    top = -np.inf
    for j in range(len(utility)):
        top = max(top, utility[j])
    shift = top if np.isfinite(top) else 0.0
    for j in range(len(utility)):  # (an unavailable column's exp(-inf) is 0)
        weight[j] = math.exp(utility[j] - shift) if utility[j] != -np.inf else 0.0


# 1 - 1e-12: far above the few units of 2**-53 by which the computed bound and rate can be off.
RACE_BOUND = 1.0 - 1e-12


@njit(cache=True)
def race_order(weight: np.ndarray, column: int, order: np.ndarray) -> int:
    """The columns other than ``column`` with a positive weight into ``order``, heaviest first (equal weights in
    column order); returns how many. :func:`race_pick` scans them in this order."""
    m = 0
    for j in range(len(weight)):
        if j != column and weight[j] > 0.0:
            k = m
            while k > 0 and weight[order[k - 1]] < weight[j]:
                order[k] = order[k - 1]
                k -= 1
            order[k] = j
            m += 1
    return m


@njit(cache=True)
def race_pick(weight: np.ndarray, u: np.ndarray, column: int, order: np.ndarray, m: int) -> tuple[int, float]:
    """One choice of :func:`race_choice` from a row's weights and uniforms, the other columns ``order[:m]`` in
    :func:`race_order`'s order: the choice, and ``column``'s margin in utility over the best other (positive when
    ``column`` wins; ``-inf`` when it is unavailable, ``+inf`` when it alone is available). With no column available
    the choice is column 0. Equal finishing times go to the lowest column, as a scan in column order gives them.

    Only the exponentials that can decide are computed: an unavailable column's never, and a column's whose rate cannot
    beat the best so far (``-log u >= 1 - u`` bounds it by ``weight / (1 - u)``; the margin covers the rounding of
    both sides) is passed over. Scanning the heaviest first makes the best high early, so most are passed over."""
    best, best_rate = -1, 0.0
    for q in range(m):
        j = order[q]
        if weight[j] > best_rate * (1.0 - u[j]) * RACE_BOUND:
            rate = weight[j] / -math.log(u[j])
            if rate > best_rate or (rate == best_rate and j < best):
                best, best_rate = j, rate
    own = weight[column] / -math.log(u[column]) if weight[column] > 0.0 else 0.0
    if own == 0.0:
        return (best if best >= 0 else 0), -np.inf
    if best < 0:
        return column, np.inf
    margin = math.log(own / best_rate)
    return (column if margin > 0 else best), margin
