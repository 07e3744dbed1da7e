"""Administrative units over time (pure): a unit's validity, the merger/split history (successions) and the unit
that carries a former unit's code on a day — NQ 1655/NQ-UBTVQH15 for Cà Mau's 2025 reorganisation. Moved out of
needs' domain (its registry, scope and needs follow the tree); any service that reads unit codes on a day can use it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str  # xa | phuong | thi_tran (commune level); tinh | huyen above it
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
    by_pred: dict[str, list[Succession]] = {}
    for s in successions:
        by_pred.setdefault(s.predecessor, []).append(s)
    current, seen = unit_code, set()
    while current not in seen:
        seen.add(current)
        nxt = [s for s in by_pred.get(current, []) if s.effective <= day]
        if not nxt:
            return current
        # A split hands a unit to several successors on one day; the first by code carries its people by default.
        current = min(nxt, key=lambda s: (-s.effective.toordinal(), s.successor)).successor
    raise ValueError(f"cycle in the merger history at {current}")


def units_valid_on(units: list[Unit], day: date) -> list[Unit]:
    """Return the units in force on `day`."""
    return [u for u in units if u.valid_on(day)]


def check_reorganisation(effective: date, predecessors: dict[str, Unit | None], new_codes: set[str],
                         existing_codes: set[str], successor_codes: set[str]) -> list[tuple[str, str]]:
    """(field, message) problems of a reorganisation, empty when it can be applied: a predecessor must exist and be
    in force the day before `effective` (it is closed then); a successor is new in the same decision or in force."""
    problems = []
    for code, unit in predecessors.items():
        if unit is None:
            problems.append(("successions", f"Đơn vị «{code}» không tồn tại."))
        elif not unit.valid_on(date.fromordinal(effective.toordinal() - 1)):
            problems.append(("successions", f"Đơn vị «{code}» không còn hiệu lực trước ngày sắp xếp."))
    problems += [("new_units", f"Mã đơn vị «{code}» đã tồn tại.") for code in new_codes & existing_codes]
    problems += [("successions", f"Đơn vị kế thừa «{code}» không tồn tại.")
                 for code in successor_codes - new_codes - existing_codes]
    return problems
