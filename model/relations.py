"""Relationship stocks with both patrons, dual-use trust, and alignment's drift with them (ODD §7.1, §7.15)."""

from __future__ import annotations

import numpy as np
from numba import njit

from model import rules
from model.arms import CHN_IDX, USA_IDX
from model.drivers import Drivers
from model.params import ModelParams


def precompute(p: ModelParams, dr: Drivers) -> dict[str, np.ndarray]:
    """One replica's alignment data path, stock decays and contact weights."""
    rp = p.relations
    w = rp.unga_weight
    return {
        "alignment_data": w * dr.alignment_unga + (1.0 - w) * dr.orientation,
        "decays": np.array([rp.decay_china, rp.decay_us, rp.trust_decay]),
        # Contact weights: delegations, training, exercises, port calls, forums, aid, dual use, arms.
        "contact_weights": np.array([rp.weight_delegation, rp.weight_training, rp.weight_exercise,
                                     rp.weight_port_call, rp.weight_forum, rp.weight_aid, rp.weight_dual_use,
                                     rp.weight_arms]),
        "kappa": np.float64(rp.kappa), "us_contact_rate": np.float64(p.us.contact_rate),
    }


def alignment(k, s, t: int) -> np.ndarray:
    """The data path plus drift ``x = kappa (R_cn - R_us)``, added as ``tanh(artanh a + artanh x)``.

    Smooth, about ``a + x`` near the middle, and never past +-1, where a clip would hold it at the bound; ``|x| < 1``
    keeps the sum defined at ``a = -+1``. kappa's prior centres on 0 (DESIGN.md §4): with kappa 0 the alignment is its
    data path exactly.
    """
    return _alignment(k.alignment_data[:, t], k.kappa, s.r_china, s.r_us)


@njit(cache=True)
def _alignment(data, kappa, r_china, r_us):
    n_rep, n = data.shape
    out = np.empty((n_rep, n))
    for r in range(n_rep):
        for i in range(n):
            if kappa[r] != 0.0:
                x = kappa[r] * (r_china[r, i] - r_us[r, i]) * (1.0 - 1e-9)
                out[r, i] = (data[r, i] + x) / (1.0 + x * data[r, i])
            else:
                out[r, i] = data[r, i]
    return out


def china_contacts(k, visits, training, exercise, port, forums, aid, dual_use) -> np.ndarray:
    """The year's contact intensity with China from every channel (before arms deliveries and the gate)."""
    return _china_contacts(k.contact_weights, visits, training, exercise, port, forums, aid, dual_use)


@njit(cache=True)
def _china_contacts(w, visits, training, exercise, port, forums, aid, dual_use):
    n_rep, n = visits.shape
    out = np.empty((n_rep, n))
    for r in range(n_rep):
        for i in range(n):
            out[r, i] = (w[r, 1] * training[r, i] + w[r, 4] * forums[r, i] + w[r, 0] * visits[r, i]
                         + w[r, 2] * exercise[r, i] + w[r, 3] * port[r, i] + w[r, 5] * (1.0 if aid[r, i] > 0 else 0.0)
                         + w[r, 6] * dual_use[r, i])
    return out


def update(k, s, contacts_cn: np.ndarray, dual_use: np.ndarray, delivered: np.ndarray, us_factor: np.ndarray) -> None:
    """Stocks of ties with China and the US and dual-use trust: decay, then contacts close part of the gap to 1."""
    contacts = _contacts(contacts_cn, k.contact_weights, delivered, s.gate, k.us_contact_rate, s.alignment, us_factor,
                         dual_use)
    # rules.update_stock: numpy's exponential, then its step compiled (a ufunc called from Python costs more here).
    s.stock = _stocks(s.stock, np.exp(-contacts), k.decays)
    s.r_china, s.r_us, s.trust = s.stock


@njit(cache=True)
def _stocks(stock, no_contact, decays):
    """(3, replicas, states): :func:`model.rules.stock_step` of each stock with its decay (``decays``: replicas x 3)."""
    n_stock, n_rep, n = stock.shape
    out = np.empty((n_stock, n_rep, n))
    for j in range(n_stock):
        for r in range(n_rep):
            for i in range(n):
                out[j, r, i] = rules.stock_step(stock[j, r, i], no_contact[j, r, i], decays[r, j])
    return out


@njit(cache=True)
def _contacts(contacts_cn, weights, delivered, gate, us_rate, alignment, us_factor, dual_use):
    """(3, replicas, states): the year's contacts with China (arms deliveries included, behind the gate), with the US
    (its contact rate x disalignment plus its deliveries, times the sanctions' factor) and dual-use contacts."""
    n_rep, n = gate.shape
    out = np.empty((3, n_rep, n))
    for r in range(n_rep):
        w_arms = weights[r, 7]
        for i in range(n):
            chinese = 1.0 if delivered[r, i, CHN_IDX] > 0 else 0.0
            american = 1.0 if delivered[r, i, USA_IDX] > 0 else 0.0
            out[0, r, i] = (contacts_cn[r, i] + w_arms * chinese) * gate[r, i]
            out[1, r, i] = (us_rate[r] * (1.0 - alignment[r, i]) * 0.5 + w_arms * american) * us_factor[r, i]
            out[2, r, i] = dual_use[r, i]
    return out
