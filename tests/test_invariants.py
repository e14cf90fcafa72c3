"""Invariants under any parameters: hypothesis draws parameter sets from the allowed ranges (edges included).

Whatever the parameters, a run must never produce NaN or infinity, negative counts or stocks, indices out of range,
deliveries without a signed deal, PLA channels for a state recognising Taipei, or more forum participants than states.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from model.params import GROUPS, ConfigError, ModelParams
from model.run import simulate
from model.schema import STATE_SLOTS, STATE_VARIABLES, Partner

C = Partner.CHN


def _field(meta: dict) -> st.SearchStrategy:
    lo, hi = meta["range"]
    if meta["kind"] is int:
        one = st.integers(int(lo), int(hi))
    else:
        # Edges on purpose: the bounds themselves are legal values.
        one = st.one_of(st.just(float(lo)), st.just(float(hi)), st.floats(lo, hi, allow_nan=False))
    return st.lists(one, min_size=meta["length"], max_size=meta["length"]).map(tuple) if meta["length"] else one


PARAMS = st.fixed_dictionaries({
    group: st.fixed_dictionaries({f.name: _field(f.metadata) for f in dataclasses.fields(cls)})
    for group, cls in GROUPS.items()
})


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(values=PARAMS, seed=st.integers(0, 2**31))
def test_invariants_hold_for_any_parameters(values, seed, data, drivers):
    try:
        params = ModelParams.from_dict(values)
    except ConfigError:
        assume(False)  # combinations the config refuses (lag_min > lag_max, zero category weights)
    run = simulate(params, data, drivers, seed)
    s = run.states
    assert np.isfinite(s).all() and np.isfinite(run.region).all()
    nonneg = [STATE_SLOTS[(v.name, v.partner)] for v in STATE_VARIABLES if v.name != "alignment"]
    assert (s[..., nonneg] >= 0).all()
    for name, partner in (("r_china", C), ("r_us", Partner.USA), ("capability_gap", Partner.NONE),
                          ("us_leverage", Partner.USA)):
        assert (s[..., STATE_SLOTS[(name, partner)]] <= 1.0 + 1e-12).all(), name
    assert (np.abs(s[..., STATE_SLOTS[("alignment", Partner.NONE)]]) <= 1.0).all()
    assert set(np.unique(s[..., STATE_SLOTS[("surveillance_level", C)]])) <= {0.0, 1.0, 2.0}
    taipei = s[..., STATE_SLOTS[("recognises_beijing", C)]] == 0
    for name in ("delegations", "officers_training", "forum_attends", "port_call", "exercise",
                 "china_arms_delivered_tiv", "china_arms_deal_signed", "china_aid_usd_m", "space_project"):
        assert (s[..., STATE_SLOTS[(name, C)]][taipei] == 0).all(), name
    assert (s[..., STATE_SLOTS[("forum_attends", C)]].sum(axis=1) <= len(run.iso3)).all()
    deals = run.china_deals
    assert s[..., STATE_SLOTS[("china_arms_delivered_tiv", C)]].sum() <= deals.size_tiv.sum() * (1 + 1e-9) + 1e-9
    assert (deals.delivered_tiv <= deals.size_tiv * (1 + 1e-12) + 1e-12).all()
