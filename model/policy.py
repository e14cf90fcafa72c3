"""US red lines and sanctions: one object the channels consult (DESIGN.md §6, docs/ODD.md §6.5).

The switches arrive as driver arrays (all off in 2000-2023): categories of Chinese arms the US bans, bans on space
ground facilities and on national surveillance systems, and sanctions of a given strength on a state that crosses a
red line (a new Chinese deal, space project or surveillance system while a red line stands), from the next year for
``sanction_years`` years: US arms availability ``1 - strength`` and US contacts ``x (1 - strength)``. Every array has
the replicas first; each replica follows its own drivers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from model.drivers import Drivers


class USPolicy:
    """The US's red lines and sanctions over a batch of runs; the model calls :meth:`start_year` and :meth:`end_year`.

    Attributes:
        replica: the replica :attr:`sanctioned` and :attr:`sanctioned_until` show (the model's viewed replica).
    """

    def __init__(self, drivers: Sequence[Drivers], n: int) -> None:
        self._ban = np.array([d.ban_categories for d in drivers])
        self._ban_ground = np.array([d.ban_space_ground for d in drivers]).astype(bool)
        self._ban_surveillance = np.array([d.ban_surveillance for d in drivers]).astype(bool)
        self._strength = np.array([d.sanctions for d in drivers])
        self._years = np.array([d.sanction_years for d in drivers])[:, None]
        with np.errstate(divide="ignore"):
            self._availability_log = np.log1p(-self._strength)  # log(1 - s): a sanctioned buyer's US availability
        # Years with sanctions in force in some replica; in the others every method below leaves all as it is, so
        # they return at once (the baseline has none: a third of a run's calls into this object).
        self._in_force = (self._strength > 0).any(axis=0)
        self._none, self._full = np.zeros((len(drivers), n)), np.ones((len(drivers), n))  # callers never write them
        self._until = np.full((len(drivers), n), -1, dtype=np.int64)
        self._offence = np.zeros((len(drivers), n), dtype=bool)  # this year's crossings
        self._sanctioned = np.zeros((len(drivers), n), dtype=bool)
        self.replica = 0

    @property
    def sanctioned(self) -> np.ndarray:
        """(states,) whether each state of the viewed replica is under sanctions this year."""
        return self._sanctioned[self.replica]

    @property
    def sanctioned_until(self) -> np.ndarray:
        """(states,) the last year each state of the viewed replica is sanctioned for (-1: never)."""
        return self._until[self.replica]

    def _on(self, t: int) -> np.ndarray:
        return (self._strength[:, t] > 0)[:, None]

    def start_year(self, t: int, year: int) -> None:
        """Sanctions imposed for crossings up to last year bite this year."""
        if not self._in_force[t]:
            return
        on = self._on(t)
        self._sanctioned = np.where(on, self._until >= year, self._sanctioned)
        self._offence &= ~on

    def crossed(self, t: int, states: np.ndarray) -> None:
        """Record this year's crossings (a new Chinese deal, space project or system: nonzero entries of ``states``)."""
        if self._in_force[t]:
            self._offence |= (states > 0) & self._on(t)

    def end_year(self, t: int, year: int) -> None:
        """This year's crossings are sanctioned from next year for ``sanction_years`` years."""
        if self._in_force[t]:
            self._until = np.where(self._offence & self._on(t), year + self._years, self._until)

    def banned_categories(self, t: int) -> np.ndarray:
        """(replicas, categories): whether the US bans each category of Chinese arms this year."""
        return self._ban[:, t]

    def bans_ground_stations(self, t: int) -> np.ndarray:
        return self._ban_ground[:, t]

    def bans_surveillance(self, t: int) -> np.ndarray:
        return self._ban_surveillance[:, t]

    def us_availability_log(self, t: int) -> np.ndarray:
        """(replicas, states): the log of each state's US arms availability this year (0 unless sanctioned)."""
        if not self._in_force[t]:
            return self._none
        return np.where(self._sanctioned & self._on(t), self._availability_log[:, t][:, None], 0.0)

    def us_contact_factor(self, t: int) -> np.ndarray:
        """(replicas, states): each state's factor on US contacts this year (1 - strength where sanctioned)."""
        if not self._in_force[t]:
            return self._full
        return np.where(self._sanctioned & self._on(t), 1.0 - self._strength[:, t][:, None], 1.0)
