"""The deal pipeline: signed arms deals of every state, in preallocated arrays, until delivered or failed."""

from __future__ import annotations

import numpy as np

from model.schema import ARMS_CATEGORIES, SUPPLIERS

ACTIVE, DELIVERED, FAILED = 1, 2, 3
COLUMNS = ("replica", "state", "supplier", "category", "size", "start", "signed", "delivered", "status", "donation",
           "yearly", "veto_exposure", "can_fail", "fiscal", "clock", "veto_draw", "financed", "closed")
# The columns that are not float64: which run of a batch the deal belongs to, its state, supplier and category (intp);
# its first delivery year, signing year and closing year; status; donation; on China's credit.
DTYPES = {"replica": np.intp, "state": np.intp, "supplier": np.intp, "category": np.intp, "start": np.int64,
          "signed": np.int64, "closed": np.int64, "status": np.int8, "donation": np.bool_, "financed": np.bool_}
# Columns a deal starts with at zero, not written at signing: TIV delivered so far, and the year it was delivered in
# full or failed (0 while open).
ZEROED = ("delivered", "closed")


class Pipeline:
    """Signed deals in columns: state, supplier, category, size (TIV m), first delivery year, yearly instalment,
    status, and the highest fiscal stress the deal has met (at signing, then each year it survives): a new rise of
    stress fails a deal whose deliveries have not begun and slows one in delivery, but a stress the buyer signed under
    or one it has already weathered does neither, and none does to a deal ``financed`` by China's credit line.
    ``clock`` is the cumulative hazard still to go before the deal fails (a unit exponential at signing),
    ``veto_draw`` the uniform that decides whether a failure is a US veto, ``closed`` the year it was delivered in full
    or failed, ``replica`` the run of a batch it belongs to.

    Deals are appended in signing order and never move, so a deal's index is its identity for tests. Capacity grows
    by doubling when full (a 2000-2040 run signs about 2,100 deals with the defaults and on the posterior's draws; the
    model starts a batch with room for ``arms.DEALS_PER_RUN`` a replica, so its pipeline seldom grows).
    """

    def __init__(self, capacity: int = 512) -> None:
        self.n = 0
        # Indices of the active deals, ascending (kept in step with ``status`` by :meth:`add` and :meth:`close`), so a
        # year's failures and deliveries never scan the closed deals.
        self.active = np.empty(0, dtype=np.intp)
        self._copy_into(self, capacity)

    def _grow(self, need: int) -> None:
        cap = len(self.size)
        while cap < need:
            cap *= 2
        self._copy_into(self, cap)

    def _copy_into(self, other: Pipeline, capacity: int) -> None:
        """Give ``other`` this pipeline's deals in fresh columns of ``capacity`` slots. Every writer of a deal
        (:meth:`add`, the arms market's contracts) fills all its columns but those in ``ZEROED``, so only those are
        cleared beyond the deals: a batch's columns hold about 25 MB, which clearing took a twentieth of its time."""
        for name in COLUMNS:
            old = getattr(self, name, None)
            new = (np.zeros if name in ZEROED else np.empty)(capacity, dtype=DTYPES.get(name, np.float64))
            if old is not None:
                new[: self.n] = old[: self.n]
            setattr(other, name, new)

    def __deepcopy__(self, memo: dict) -> Pipeline:
        """A copy of the deals signed so far; the empty slots are made anew, not copied (a batch's shared history copies
        its pipeline for every scenario that starts from it)."""
        other = Pipeline.__new__(Pipeline)
        memo[id(self)] = other
        other.n, other.active = self.n, self.active.copy()
        self._copy_into(other, len(self.size))
        return other

    def add(self, state: np.ndarray, supplier: np.ndarray | int, category: np.ndarray | int, size: np.ndarray,
            year: int, lag: np.ndarray | int, years: np.ndarray | int, donation: bool = False,
            veto_exposure: np.ndarray | float = 0.0, fiscal: np.ndarray | float = 0.0,
            clock: np.ndarray | float = np.inf, veto_draw: np.ndarray | float = 0.0,
            replica: np.ndarray | int = 0, financed: np.ndarray | bool = False) -> None:
        """Append signed deals: ``state`` and ``size`` are arrays; the others arrays of the same length or scalars.

        ``veto_exposure`` is the deal's exposure to a US veto (third-country components); donations cannot fail;
        ``fiscal`` is the buyer's fiscal stress in the signing year (the run raises it to each year's stress the deal
        survives); ``clock`` the cumulative failure hazard the deal can bear (a unit exponential; donations never
        fail) and ``veto_draw`` its uniform for whether a failure is a veto; ``replica`` the run of a batch;
        ``financed`` whether China's credit line pays for it.
        """
        k = len(state)
        if k == 0:
            return
        s = slice(self.reserve(k), self.n + k)
        self.replica[s] = replica
        self.state[s], self.supplier[s], self.category[s], self.size[s] = state, supplier, category, size
        self.start[s], self.signed[s] = year + lag, year
        self.status[s], self.donation[s] = ACTIVE, donation  # `delivered` starts at zero: slots are never reused
        self.yearly[s] = size / years
        self.veto_exposure[s], self.can_fail[s] = veto_exposure, 0.0 if donation else 1.0
        self.fiscal[s] = fiscal
        self.clock[s], self.veto_draw[s], self.financed[s] = clock, veto_draw, financed
        self.opened(k)

    def reserve(self, k: int) -> int:
        """Room for ``k`` more deals; returns the first of their slots (a writer fills them, then :meth:`opened`)."""
        if self.n + k > len(self.size):
            self._grow(self.n + k)
        return self.n

    def opened(self, k: int) -> None:
        """The ``k`` deals written into the slots :meth:`reserve` gave are signed and open."""
        self.active = np.concatenate([self.active, np.arange(self.n, self.n + k)])
        self.n += k

    def close(self, idx: np.ndarray, status: int, year: int) -> None:
        """Close deals ``idx`` (a subset of the active ones) as delivered or failed in ``year``."""
        self.status[idx], self.closed[idx] = status, year
        self.active = self.active[self.status[self.active] == ACTIVE]

    def on_order(self, n_states: int, replica: int = 0) -> np.ndarray:
        """Undelivered TIV of one replica's active deals, per state."""
        active = (self.status[: self.n] == ACTIVE) & (self.replica[: self.n] == replica)
        return np.bincount(self.state[: self.n][active],
                           weights=(self.size[: self.n] - self.delivered[: self.n])[active],
                           minlength=n_states)

    def open_deals(self, state: int, replica: int = 0) -> list[dict]:
        """Active deals of one state of one replica, as plain records."""
        idx = np.flatnonzero((self.state[: self.n] == state) & (self.status[: self.n] == ACTIVE)
                             & (self.replica[: self.n] == replica))
        return [{"supplier": SUPPLIERS[self.supplier[i]].value, "category": ARMS_CATEGORIES[self.category[i]],
                 "size_tiv": float(self.size[i]), "signed": int(self.signed[i]), "first_delivery": int(self.start[i])}
                for i in idx]
