"""Unit scoping of the registry (issue 14): the units an officer works in, from the versioned unit tree.

An officer's token names their unit (`unit_code`); on the request's day their scope is the unit that carries it
then (the merger history: an officer of a former unit works for its successor) with every unit below it
(`parent_code`), and every unit whose people that subtree carries on that day. So after 1 July 2025 an officer of
Xã Biển Bạch (CM-BIENBACH) sees those registered in the three former units it took over (NQ 1655/NQ-UBTVQH15);
before that day, only those registered in CM-BIENBACH itself. Access to personal data limited to those who need
it: Law 91/2025/QH15 on personal data protection, Decree 356/2025/NĐ-CP.
"""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import domain
from services.needs.models import Unit
from services.needs.usecases.units import successions
from shared.errors import Forbidden
from shared.localtime import local_today

OUTSIDE = "Công chức thuộc đơn vị ngoài phạm vi quản lý của bạn."


def units_within(session: Session, unit_code: str | None, on: date | None = None) -> frozenset[str] | None:
    """The unit codes in the scope of an officer of `unit_code` on `on` (today); None: no unit, every unit."""
    if unit_code is None:
        return None
    day, history = on or local_today(), successions(session)
    tree = session.execute(sa.select(Unit.code, Unit.parent_code)).all()
    top = domain.unit_on(unit_code, day, history)
    children: dict[str | None, list[str]] = {}
    for code, parent in tree:
        children.setdefault(parent, []).append(code)
    subtree, stack = {top}, [top]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in subtree:
                subtree.add(child)
                stack.append(child)
    return frozenset(subtree | {code for code, _ in tree if domain.unit_on(code, day, history) in subtree})


def check_within(within: frozenset[str] | None, unit_code: str | None, field: str = "unit_code") -> None:
    """Refuse (Forbidden → 403) a person or a unit outside the caller's scope."""
    if within is not None and unit_code not in within:
        raise Forbidden(OUTSIDE, field=field)
