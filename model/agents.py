"""Mesa agents: thin views on the model's arrays, plus the strategic patrons' yearly decisions.

State lives in arrays owned by :class:`model.model.DefenceTiesModel` (DESIGN.md §9: one vectorised rule per channel
is ~6x faster than agents stepping themselves). An agent reads and writes its row through properties, so inspection,
tests and interactive views can work agent by agent while the yearly rules work on all states at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np
from scipy.special import expit

from model.policy import USPolicy
from model.schema import SUPPLIERS, Partner

if TYPE_CHECKING:
    from model.model import DefenceTiesModel
    from model.params import ChinaParams

CHN_IDX = SUPPLIERS.index(Partner.CHN)
USA_IDX = SUPPLIERS.index(Partner.USA)
RUS_IDX = SUPPLIERS.index(Partner.RUS)
DOMESTIC_IDX = SUPPLIERS.index(Partner.DOMESTIC)


def boldness_path(cp: ChinaParams, tension: np.ndarray) -> np.ndarray:
    """China's boldness for each year's US-China tension: a logistic link, so it responds over its whole range and
    never sits at a bound (ODD §10): ``expit(b0 + b_tau (tension - 0.5))``."""
    return expit(cp.boldness_base + cp.boldness_tension * (tension - 0.5))


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
        return self.model.pipeline.open_deals(self.index)


class China(mesa.Agent):
    """China: boldness, country priorities, concessional finance and the yearly arms credit line."""

    def __init__(self, model: DefenceTiesModel) -> None:
        super().__init__(model)
        self.iso3 = Partner.CHN.value
        self.boldness = 0.0
        self.credit_tiv = 0.0
        self.priority = np.zeros(model.n)
        self.aid_priority = np.zeros(model.n)
        self.finance = np.zeros(model.n)
        # The parts of China's strategy that follow the drivers alone, for every year of the run at once.
        cp, dr = model.params.china, model.drivers
        self.boldness_path = model.boldness_path  # computed once in the model's precompute (exercises use it)
        self._exposure = model.data.finance_exposure * dr.commodity_index[:, None]
        self._finance_base = 0.5 * cp.finance_boom * self._exposure
        self._exposure_weight = dr.recognises_beijing * np.exp(cp.priority_exposure * self._exposure)
        gdp = dr.gdp_usd_m
        self._size_weight = (gdp / gdp.sum(axis=1, keepdims=True)) ** cp.priority_size

    def set_strategy(self) -> None:
        """Boldness rises with US-China tension; priorities follow exposure, alignment and size.

        boldness = expit(b0 + b_tau (tension - 0.5)); exposure x = finance share x commodity index; finance =
        f (x (1 + a) / 2); aid priority = gate exp(p_x x + p_a a); priority = aid priority x (GDP share)^p_s.
        """
        m, cp = self.model, self.model.params.china
        t = m.t
        self.boldness = float(self.boldness_path[t])
        m.exposure = self._exposure[t]
        self.finance = self._finance_base[t] * (1.0 + m.alignment)
        # Aid goes where exposure and alignment are, whatever the size; channels of prestige also weigh size.
        self.aid_priority = self._exposure_weight[t] * np.exp(cp.priority_alignment * m.alignment)
        self.priority = self.aid_priority * self._size_weight[t]
        self.credit_tiv = cp.arms_credit_tiv * m.capacity_factor


class UnitedStates(mesa.Agent):
    """The United States: pressure on Chinese ties, leverage over each state, veto over third-country components."""

    def __init__(self, model: DefenceTiesModel) -> None:
        super().__init__(model)
        self.iso3 = Partner.USA.value
        self.pressure = 0.0
        self.leverage = np.zeros(model.n)
        self.policy = USPolicy(model.drivers, model.n)  # red lines and sanctions, which the channels consult
        up = model.params.us
        self._pressure_base = up.pressure_base + up.pressure_tension * (model.drivers.us_china_tension - 0.5)
        self._proximity = up.leverage_intercept + up.leverage_proximity * model.data.country["us_proximity"]

    def set_pressure(self) -> None:
        """Pressure rises with tension and China's footprint (mean R_cn of recognising states, last year).

        pressure = expit(p0 + p_tau (tension - 0.5) + p_f (footprint - 0.5)); leverage = expit(l0 + l_p proximity +
        l_i US share of the installed base). Logistic links, so neither sits at a bound while its drivers move.
        """
        m, up = self.model, self.model.params.us
        footprint = float(m.r_china @ m.gate) / m.n_recognising[m.t]
        self.pressure = float(expit(self._pressure_base[m.t] + up.pressure_footprint * (footprint - 0.5)))
        us_share = m.installed[:, USA_IDX] / np.maximum(m.installed.sum(axis=1), 1e-12)
        self.leverage = expit(self._proximity + up.leverage_installed * us_share)


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
