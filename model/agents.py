"""Mesa agents: thin views on the model's arrays, plus the strategic patrons' yearly decisions.

State lives in arrays owned by :class:`model.model.DefenceTiesModel`, replicas first (DESIGN.md §9: one vectorised
rule per channel is ~6x faster than agents stepping themselves, and a batch of runs is one array program). An agent
reads and writes its row of the model's viewed replica through properties, so inspection, tests and interactive views
can work agent by agent while the yearly rules work on all states of all replicas at once.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

import mesa
import numpy as np
from numba import njit

from model import rules
from model.arms import CHN_IDX, DOMESTIC_IDX, RUS_IDX, USA_IDX, installed_base
from model.data import ModelData
from model.drivers import Drivers
from model.params import ModelParams
from model.policy import USPolicy
from model.schema import SUPPLIERS, Partner

if TYPE_CHECKING:
    from model.model import DefenceTiesModel

__all__ = ["CHN_IDX", "DOMESTIC_IDX", "RUS_IDX", "USA_IDX", "China", "LACState", "Supplier", "UnitedStates", "Viewed"]


class LACState(mesa.Agent):
    """One of the 33 CELAC states, a view on row ``index`` of the model's state arrays.

    Attributes:
        iso3: ISO3 code, the agent's key in every table (Mesa's ``unique_id`` follows creation order only).
        index: row in the model's arrays (states sorted by ISO3).
    """

    def __init__(self, model: DefenceTiesModel, iso3: str, index: int) -> None:
        super().__init__(model)
        self.iso3 = iso3
        self.index = index

    def _row(self, name: str) -> float:
        return float(getattr(self.model, name)[self.index])

    @property
    def gdp_usd_m(self) -> float:
        """Economic size this year, constant 2022 US$ m."""
        return float(self.model.drivers.gdp_usd_m[self.model.t, self.index])

    @property
    def fiscal_stress(self) -> float:
        """Fiscal stress this year, in [0, 1]."""
        return float(self.model.drivers.fiscal_stress[self.model.t, self.index])

    @property
    def recognises_beijing(self) -> bool:
        """Whether the state recognises the PRC this year (PLA channels are closed otherwise)."""
        return bool(self.model.drivers.recognises_beijing[self.model.t, self.index])

    @property
    def alignment(self) -> float:
        """Alignment in [-1, 1]: -1 US-aligned ... +1 China/ALBA-leaning."""
        return self._row("alignment")

    @property
    def tech_capacity(self) -> float:
        """Industrial and space base, in [0, 1] (static)."""
        return float(self.model.data.country["tech_capacity"][self.index])

    @property
    def insecurity(self) -> float:
        """Crime pressure driving demand for surveillance, in [0, 1] (static)."""
        return float(self.model.data.country["insecurity"][self.index])

    @property
    def exposure(self) -> float:
        """Economic exposure to China (Chinese finance x commodity cycle)."""
        return self._row("exposure")

    @property
    def capability_gap(self) -> float:
        """Shortfall of the capability stock below its target, in [0, 1]."""
        return self._row("capability_gap")

    @property
    def installed_base(self) -> dict[str, float]:
        """Installed base by supplier (TIV m, depreciated)."""
        return {s.value: float(v) for s, v in zip(SUPPLIERS, self.model.installed[self.index], strict=True)}

    @property
    def r_china(self) -> float:
        """Relationship stock with China's military elite, in [0, 1]."""
        return self._row("r_china")

    @r_china.setter
    def r_china(self, value: float) -> None:
        self.model.r_china[self.index] = value

    @property
    def r_us(self) -> float:
        """Relationship stock with the US military elite, in [0, 1]."""
        return self._row("r_us")

    @property
    def surveillance_level(self) -> int:
        """0 none, 1 subnational, 2 national Chinese surveillance system."""
        return int(self.model.surveillance_level[self.index])

    @property
    def cameras(self) -> float:
        """Cameras in Chinese-supplied systems."""
        return self._row("cameras")

    @property
    def deal_pipeline(self) -> list[dict]:
        """Open deals of this state: supplier, category, size (TIV m), first delivery year."""
        return self.model.pipeline.open_deals(self.index, self.model.replica)


class Viewed:
    """An attribute that shows the viewed replica's slice of a batched array (``owner.<store>.<name>[replica]``, or
    at ``owner.<store>.<row>[replica]`` for an array stored once per group of replicas).

    Kernels work on every replica's arrays; inspection, tests and interactive views see one run, as before batching.
    """

    def __init__(self, store: str, name: str | None = None, row: str | None = None) -> None:
        self.store, self.name, self.row = store, name, row

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = self.name or name

    def __get__(self, obj: object, objtype: type | None = None) -> np.ndarray:
        if obj is None:
            return self
        model = obj if isinstance(obj, mesa.Model) else obj.model
        store = getattr(obj, self.store)
        return getattr(store, self.name)[model.replica if self.row is None else getattr(store, self.row)[model.replica]]


def china_precompute(p: ModelParams, data: ModelData, dr: Drivers) -> dict[str, np.ndarray]:
    """One replica's parts of China's strategy that follow the drivers alone, for every year of the run."""
    cp = p.china
    exposure = data.finance_exposure * dr.commodity_index[:, None]
    gdp = dr.gdp_usd_m
    return {
        "exposure": exposure, "finance_base": 0.5 * cp.finance_boom * exposure,
        "exposure_weight": dr.recognises_beijing * np.exp(cp.priority_exposure * exposure),
        "size_weight": (gdp / gdp.sum(axis=1, keepdims=True)) ** cp.priority_size,
        "priority_alignment": np.float64(cp.priority_alignment), "arms_credit": np.float64(cp.arms_credit_tiv),
    }


def us_precompute(p: ModelParams, data: ModelData, dr: Drivers) -> dict[str, np.ndarray]:
    """One replica's parts of US pressure and leverage that follow the drivers alone, for every year of the run."""
    up = p.us
    return {
        "pressure_base": up.pressure_base + up.pressure_tension * (dr.us_china_tension - 0.5),
        # Leverage's logit but for the installed base: proximity, and the government's orientation (a government that
        # leans away from the US heeds its objections less), so it moves with each change of government.
        "leverage_base": (up.leverage_intercept + up.leverage_proximity * data.country["us_proximity"]
                          - up.leverage_orientation * dr.orientation),
        "pressure_footprint": np.float64(up.pressure_footprint),
        "leverage_installed": np.float64(up.leverage_installed),
    }


class China(mesa.Agent):
    """China: boldness, country priorities, concessional finance and the yearly arms credit line (every replica)."""

    boldness = Viewed("x")
    finance = Viewed("x")
    priority = Viewed("x")
    aid_priority = Viewed("x")
    credit_tiv = Viewed("x", "credit")

    def __init__(self, model: DefenceTiesModel) -> None:
        super().__init__(model)
        self.iso3 = Partner.CHN.value
        r, n = model.replicas, model.n
        self.x = SimpleNamespace(boldness=np.zeros(r), credit=np.zeros(r), priority=np.zeros((r, n)),
                                 aid_priority=np.zeros((r, n)), finance=np.zeros((r, n)))

    def set_strategy(self) -> None:
        """Boldness rises with US-China tension; priorities follow exposure, alignment and size.

        boldness = expit(b0 + b_tau (tension - 0.5)); exposure x = finance share x commodity index; finance =
        f (x (1 + a) / 2); aid priority = gate exp(p_x x + p_a a); priority = aid priority x (GDP share)^p_s.
        """
        m, k, x = self.model, self.model.k, self.x
        t, a = m.t, m.s.alignment
        x.boldness = k.boldness[:, t]
        m.s.exposure = k.exposure[:, t]
        # Aid goes where exposure and alignment are, whatever the size; channels of prestige also weigh size.
        x.finance, x.aid_priority, x.priority = _priorities(k.finance_base[:, t], a, k.exposure_weight[:, t],
                                                            np.exp(k.priority_alignment[:, None] * a),
                                                            k.size_weight[:, t])
        x.credit = k.arms_credit * k.capacity[:, t]


class UnitedStates(mesa.Agent):
    """The United States: pressure on Chinese ties, leverage over each state, veto over third-country components."""

    pressure = Viewed("x")
    leverage = Viewed("x")

    def __init__(self, model: DefenceTiesModel) -> None:
        super().__init__(model)
        self.iso3 = Partner.USA.value
        self.x = SimpleNamespace(pressure=np.zeros(model.replicas), leverage=np.zeros((model.replicas, model.n)))
        self.policy = USPolicy(model.all_drivers, model.n)  # red lines and sanctions, which the channels consult

    def set_pressure(self) -> None:
        """Pressure rises with tension and China's footprint (mean R_cn of recognising states, last year).

        pressure = expit(p0 + p_tau (tension - 0.5) + p_f (footprint - 0.5)); leverage = expit(l0 + l_p proximity -
        l_o orientation + l_i US share of the installed base). Logistic links, so neither sits at a bound while its
        drivers move.
        """
        m, k, s = self.model, self.model.k, self.model.s
        t = m.t
        self.x.pressure, self.x.leverage = _pressure(s.r_china, s.gate, k.n_recognising[:, t], k.pressure_base[:, t],
                                                     k.pressure_footprint, s.installed, k.leverage_base[:, t],
                                                     k.leverage_installed)


class Supplier(mesa.Agent):
    """A non-strategic arms supplier (Russia, Europe pooled, Israel, other, a state's own industry).

    Attributes:
        partner: the supplier's code in the output schema.
        column: its index on the model's supplier axis.
    """

    def __init__(self, model: DefenceTiesModel, partner: Partner) -> None:
        super().__init__(model)
        self.partner = partner
        self.column = SUPPLIERS.index(partner)

    @property
    def price(self) -> float:
        """Relative price (arms.price)."""
        return self.model.params.arms.price[self.column]

    @property
    def quality(self) -> float:
        """Relative quality (arms.quality)."""
        return self.model.params.arms.quality[self.column]

    @property
    def availability(self) -> float:
        """Availability this year (Russia's falls after 2014 and 2022; others are always available)."""
        if self.partner is Partner.RUS:
            return float(self.model.drivers.russia_availability[self.model.t])
        return 1.0


@njit(cache=True)
def _priorities(finance_base, alignment, exposure_weight, alignment_weight, size_weight):
    """China's finance, aid priority and priority (:meth:`China.set_strategy`), compiled around the exponential."""
    n_rep, n = alignment.shape
    finance, aid_priority, priority = np.empty((n_rep, n)), np.empty((n_rep, n)), np.empty((n_rep, n))
    for r in range(n_rep):
        for i in range(n):
            finance[r, i] = finance_base[r, i] * (1.0 + alignment[r, i])
            aid_priority[r, i] = exposure_weight[r, i] * alignment_weight[r, i]
            priority[r, i] = aid_priority[r, i] * size_weight[r, i]
    return finance, aid_priority, priority


@njit(cache=True)
def _pressure(r_china, gate, n_recognising, pressure_base, pressure_footprint, installed, leverage_base,
              leverage_installed):
    """US pressure and leverage (:meth:`UnitedStates.set_pressure`), compiled: the footprint summed over the states
    and the installed base over the suppliers as numpy sums them."""
    n_rep, n = r_china.shape
    pressure, leverage = np.empty(n_rep), np.empty((n_rep, n))
    held = np.empty(n)
    for r in range(n_rep):
        for i in range(n):
            held[i] = r_china[r, i] * gate[r, i]
        footprint = rules.pairwise_sum(held, 0, n) / n_recognising[r]
        pressure[r] = rules._expit(pressure_base[r] + pressure_footprint[r] * (footprint - 0.5), 0)
        for i in range(n):
            us_share = installed[r, i, USA_IDX] / installed_base(installed, r, i)
            leverage[r, i] = rules._expit(leverage_base[r, i] + leverage_installed[r] * us_share, 0)
    return pressure, leverage
