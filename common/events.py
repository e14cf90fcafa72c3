"""The events whose first year each forecast run records: :mod:`experiments.ensemble` writes them, and
:mod:`experiments.tables` reads them. Here, below both, so that the tables' worker processes do not import the model's
run code to learn their names (numba, Mesa and the kernels: about 120 MB resident a process)."""

from __future__ import annotations

from model.data import ISO3

EVENTS_FROM = 2024


def event_names() -> tuple[str, ...]:
    """The events whose first year each run records."""
    per_state = tuple(f"national_surveillance.{c}" for c in ISO3)
    return ("china_arms_deal.BRA", "china_arms_deal.CHL", "completed_major_deal.ARG", "china_major_platform_sale",
            "new_space_ground_facility", "forums_above_2022") + per_state
