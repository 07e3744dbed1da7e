"""Unit scoping of enrollments and attendance (issue 14): a commune officer works only with the trainees of their
commune; a lecturer only with the sessions they teach (below). courses keeps each trainee's unit and today's commune as needs published them (needs.civil_servant_*
events), so a caller confined to a unit (the token's `unit_code`, shared.auth.unit_scope) reaches a trainee whose
commune or unit it is. Law 91/2025/QH15 on personal data protection, Decree 356/2025/NĐ-CP."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses.models import Course, Trainee
from shared.errors import Forbidden

OUTSIDE = "Học viên thuộc đơn vị ngoài phạm vi quản lý của bạn."
NOT_YOUR_SESSION = "Buổi học do giảng viên khác phụ trách; bạn chỉ ghi điểm danh cho buổi mình dạy."
NOT_YOUR_COURSE = "Bạn không dạy buổi nào của lớp này."


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


# A lecturer (issue 14: "attendance and results of their own sessions") is confined to the sessions whose
# lecturer_id is the one their token names (shared.auth.lecturer_scope; None = every lecturer's sessions).

def _sessions(course: Course, sessions):
    return course.sessions if sessions is None else sessions


def check_teaches(course: Course, lecturer: str | None, sessions=None) -> None:
    """Refuse (Forbidden naming course_id) a lecturer who teaches no session of the course (`sessions`: the
    course's, when the caller has read them — anything with id and lecturer_id —, else the ORM's)."""
    if lecturer is not None and not any(s.lecturer_id == lecturer for s in _sessions(course, sessions)):
        raise Forbidden(NOT_YOUR_COURSE, field="course_id")


def check_sessions(course: Course, lecturer: str | None, session_ids: list[str], field: str, sessions=None) -> None:
    """Refuse (Forbidden naming `field.i`, the first one) sessions of the course another lecturer teaches; ids that
    are not the course's sessions are left to the caller's own check (`sessions`: as check_teaches)."""
    if lecturer is None:
        return
    others = {s.id for s in _sessions(course, sessions) if s.lecturer_id != lecturer}
    for i, session_id in enumerate(session_ids):
        if session_id in others:
            raise Forbidden(NOT_YOUR_SESSION, field=field.format(i=i))
