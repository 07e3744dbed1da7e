"""Officers' delivery status (issue 13): what became of the messages of a course, or of one person's messages —
counts per status and one row per message, paged, with no contact detail beyond a masked address.

A commune officer sees only the messages to people of their units (units_within: the unit tree as of the day);
lecturers' messages and people outside their units are not theirs (a person outside them: 403). Training officers
see every message. The counts are those of the rows the caller may see.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs.models import CivilServant, Contact, Delivery, LecturerContact
from services.needs.usecases.deliveries import STATUSES
from services.needs.usecases.scope import check_within
from shared.errors import Invalid, NotFound
from shared.notify.mask import mask_address


def _scoped(stmt, within: frozenset[str] | None):
    if within is None:
        return stmt
    return stmt.join(CivilServant, CivilServant.id == Delivery.recipient_id).where(
        Delivery.recipient_kind == "civil_servant", CivilServant.unit_code.in_(sorted(within)))


def _check_person(session: Session, recipient_id: str, within: frozenset[str] | None) -> None:
    if within is None:
        return
    person = session.get(CivilServant, recipient_id)
    if person is None:
        raise NotFound("Không tìm thấy công chức.", field="recipient_id")
    check_within(within, person.unit_code, field="recipient_id")


def _addresses(session: Session, rows: list[Delivery]) -> dict[str, str | None]:
    """The masked address each row went to (or would go to): the recipient's current contact on its channel."""
    people = {d.recipient_id for d in rows if d.recipient_kind == "civil_servant"}
    lecturers = {d.recipient_id for d in rows if d.recipient_kind == "lecturer"}
    books = {"civil_servant": {c.civil_servant_id: c for c in session.scalars(
                 sa.select(Contact).where(Contact.civil_servant_id.in_(sorted(people))))} if people else {},
             "lecturer": {c.lecturer_id: c for c in session.scalars(
                 sa.select(LecturerContact).where(LecturerContact.lecturer_id.in_(sorted(lecturers))))}
             if lecturers else {}}
    out = {}
    for d in rows:
        c = books.get(d.recipient_kind, {}).get(d.recipient_id)
        out[d.id] = mask_address(d.channel or c.preferred_channel, c.email, c.phone) if c is not None else None
    return out


def _row(d: Delivery, address: str | None) -> dict:
    return {"id": d.id, "purpose": d.purpose, "recipient_id": d.recipient_id, "recipient_kind": d.recipient_kind,
            "subject_id": d.subject_id, "course_id": d.course_id, "status": d.status, "channel": d.channel,
            "address": address, "attempts": d.attempts, "last_error": d.last_error,
            "deferred_until": d.deferred_until, "created_at": d.created_at, "sent_at": d.sent_at}


def delivery_status(session: Session, *, course_id: str | None = None, recipient_id: str | None = None,
                    status: str | None = None, page: int = 1, page_size: int = 50,
                    within: frozenset[str] | None = None) -> dict:
    """The messages of a course (course_id) or of a person (recipient_id: a civil servant or a lecturer id), or
    both: counts per status (every status, 0 when none) and one page of rows (optionally of one status)."""
    if not course_id and not recipient_id:
        raise Invalid("Hãy chọn một lớp (course_id) hoặc một người (recipient_id).", field="course_id")
    if recipient_id:
        _check_person(session, recipient_id, within)
    where = [Delivery.course_id == course_id] if course_id else []
    if recipient_id:
        where.append(Delivery.recipient_id == recipient_id)
    counted = _scoped(sa.select(Delivery.status, sa.func.count()).where(*where), within).group_by(Delivery.status)
    counts = {s: 0 for s in STATUSES}
    for st, n in session.execute(counted):
        counts[st] = counts.get(st, 0) + n
    if status:
        where.append(Delivery.status == status)
    listed = _scoped(sa.select(Delivery).where(*where), within).order_by(
        Delivery.purpose, Delivery.recipient_id, Delivery.created_at, Delivery.id)
    rows = list(session.scalars(listed.offset((page - 1) * page_size).limit(page_size)))
    addresses = _addresses(session, rows)
    return {"course_id": course_id, "recipient_id": recipient_id, "counts": counts,
            "total": sum(counts.values()) if not status else counts.get(status, 0), "page": page,
            "page_size": page_size, "items": [_row(d, addresses[d.id]) for d in rows]}
