"""Pure rules of the needs service: units over time and the commune a unit belongs to today."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str  # xa | phuong | thi_tran
    valid_from: date
    valid_to: date | None  # last day of validity; None = still valid

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class Succession:
    """A unit merged into another on `effective`; NQ 1655/NQ-UBTVQH15 for Cà Mau's 2025 reorganisation."""

    predecessor: str
    successor: str
    effective: date


def unit_on(unit_code: str, day: date, successions: list[Succession]) -> str:
    """Follow the merger history from `unit_code` to the unit that carries it on `day`."""
    by_pred = {}
    for s in successions:
        by_pred.setdefault(s.predecessor, []).append(s)
    current, seen = unit_code, set()
    while current not in seen:
        seen.add(current)
        nxt = [s for s in by_pred.get(current, []) if s.effective <= day]
        if not nxt:
            return current
        current = max(nxt, key=lambda s: s.effective).successor
    raise ValueError(f"cycle in the merger history at {current}")


def units_valid_on(units: list[Unit], day: date) -> list[Unit]:
    """Return the units in force on `day`."""
    return [u for u in units if u.valid_on(day)]
