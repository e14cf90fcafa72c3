"""US red lines and sanctions: one object the channels consult (DESIGN.md §6, docs/ODD.md §6.5).

The switches arrive as driver arrays (all off in 2000-2023): categories of Chinese arms the US bans, bans on space
ground facilities and on national surveillance systems, and sanctions of a given strength on a state that crosses a
red line (a new Chinese deal, space project or surveillance system while a red line stands), from the next year for
``sanction_years`` years: US arms availability ``1 - strength`` and US contacts ``x (1 - strength)``.
"""

from __future__ import annotations

import numpy as np

from model.drivers import Drivers


class USPolicy:
    """The US's red lines and sanctions over a run; the model calls :meth:`start_year` and :meth:`end_year`.

    Attributes:
        sanctioned: (states,) whether each state is under sanctions this year.
        sanctioned_until: (states,) the last year each state is sanctioned for (-1: never).
    """

    def __init__(self, drivers: Drivers, n: int) -> None:
        self._ban = drivers.ban_categories
        self._ban_any = drivers.ban_categories.any(axis=1)
        self._ban_ground = drivers.ban_space_ground
        self._ban_surveillance = drivers.ban_surveillance
        self._strength = drivers.sanctions
        self._years = drivers.sanction_years
        with np.errstate(divide="ignore"):
            self._availability_log = np.log1p(-drivers.sanctions)  # log(1 - s): a sanctioned buyer's US availability
        self.sanctioned_until = np.full(n, -1, dtype=np.int64)
        self._offence = np.zeros(n, dtype=bool)  # this year's crossings
        self.sanctioned = np.zeros(n, dtype=bool)

    def start_year(self, t: int, year: int) -> None:
        """Sanctions imposed for crossings up to last year bite this year."""
        if self._strength[t] > 0:
            self.sanctioned = self.sanctioned_until >= year
            self._offence[:] = False

    def crossed(self, t: int, states: np.ndarray) -> None:
        """Record this year's crossings (a new Chinese deal, space project or system: nonzero entries of ``states``)."""
        if self._strength[t] > 0:
            self._offence |= states > 0

    def end_year(self, t: int, year: int) -> None:
        """This year's crossings are sanctioned from next year for ``sanction_years`` years."""
        if self._strength[t] > 0:
            self.sanctioned_until[self._offence] = year + self._years

    def allow_offers(self, t: int, offered: np.ndarray) -> np.ndarray:
        """China's offers (states x categories) without the categories the US bans this year."""
        return offered & ~self._ban[t][None, :] if self._ban_any[t] else offered

    def banned_categories(self, t: int, categories: np.ndarray) -> np.ndarray:
        """Whether each of ``categories`` (category indices) is banned this year."""
        return self._ban[t, categories] if self._ban_any[t] else np.zeros(len(categories), dtype=bool)

    def bans_any_category(self, t: int) -> bool:
        return bool(self._ban_any[t])

    def bans_ground_stations(self, t: int) -> bool:
        return bool(self._ban_ground[t])

    def bans_surveillance(self, t: int) -> bool:
        return bool(self._ban_surveillance[t])

    def us_availability_log(self, t: int) -> tuple[np.ndarray, float] | None:
        """(sanctioned states, log of their US arms availability) this year, or None without sanctions."""
        return (self.sanctioned, float(self._availability_log[t])) if self._strength[t] > 0 else None

    def us_contact_factor(self, t: int) -> np.ndarray | None:
        """Each state's factor on US contacts this year (1 - strength where sanctioned), or None without sanctions."""
        strength = self._strength[t]
        return np.where(self.sanctioned, 1.0 - strength, 1.0) if strength > 0 else None
