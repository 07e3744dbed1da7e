"""Unit scoping of enrollments and attendance (issue 14): a commune officer works only with the trainees of their
commune. courses keeps each trainee's unit and today's commune as needs published them (needs.civil_servant_*
events), so a caller confined to a unit (the token's `unit_code`, shared.auth.unit_scope) reaches a trainee whose
commune or unit it is. Law 91/2025/QH15 on personal data protection, Decree 356/2025/NĐ-CP."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses.models import Trainee
from shared.errors import Forbidden

OUTSIDE = "Học viên thuộc đơn vị ngoài phạm vi quản lý của bạn."


def trainee_in(unit: str):
    """The SQL condition: a trainee of `unit` (their commune today or the unit they are registered in)."""
    return sa.or_(Trainee.commune_code == unit, Trainee.unit_code == unit)


def ids_within(session: Session, unit: str, civil_servant_ids) -> set[str]:
    """The given trainees that belong to `unit`."""
    ids = sorted(set(civil_servant_ids))
    return set(session.scalars(sa.select(Trainee.civil_servant_id).where(
        Trainee.civil_servant_id.in_(ids), trainee_in(unit)))) if ids else set()


def check_trainees(session: Session, within: str | None, civil_servant_ids: list[str], field: str) -> None:
    """Refuse (Forbidden → 403 naming `field`, or `field.i` for the first one outside) trainees outside `within`."""
    if within is None:
        return
    inside = ids_within(session, within, civil_servant_ids)
    for i, cs in enumerate(civil_servant_ids):
        if cs not in inside:
            raise Forbidden(OUTSIDE, field=field.format(i=i))
