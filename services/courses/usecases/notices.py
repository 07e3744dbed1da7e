"""Telling the trainees about their course (issue 13): courses.course_notice_issued names them by id with what to
say and the course's calendar file; needs, which holds the contacts, sends it (once per person and SEQUENCE).

* When funding confirms a revision, every trainee holding a seat is told: an invitation the first time; after a
  change of the sessions or the venue, a new SEQUENCE with kind session_moved or venue_changed; a confirmation
  that changed only the roster keeps the SEQUENCE, so those already invited are not told again (needs claims per
  person and SEQUENCE) and only newcomers — promoted from the waitlist, told so — get a message.
* A cancelled course that trainees were told about gets METHOD:CANCEL with the next SEQUENCE.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain, events, formats
from services.courses.models import OUTBOX, Course, Enrollment, Venue
from services.courses.usecases.queries import _effective_venue
from shared.localtime import utcnow

PROMOTED_PREFIX = "Chuyển từ danh sách chờ"  # enrollment.status_reason written by enrollment._promote


def _sessions(course: Course) -> list[dict]:
    return [{"starts_at": s.starts_at, "ends_at": s.ends_at, "buoi": s.buoi, "date": s.date,
             "venue_id": _effective_venue(course, s)} for s in sorted(course.sessions, key=lambda s: (s.date, s.buoi))]


def _fingerprint(course: Course) -> tuple[str, str | None]:
    rows = [[str(s["date"]), s["buoi"], s["starts_at"].isoformat() if s["starts_at"] else None,
             s["ends_at"].isoformat() if s["ends_at"] else None, s["venue_id"]] for s in _sessions(course)]
    times = hashlib.sha256(json.dumps([r[:4] for r in rows]).encode()).hexdigest()[:31]
    venues = hashlib.sha256(json.dumps([r[4] for r in rows]).encode()).hexdigest()[:32]
    return f"{times}:{venues}", course.venue_id


def _venue_name(session: Session, course: Course) -> str | None:
    if course.form == "online" or course.venue_id is None:
        return None
    venue = session.get(Venue, course.venue_id)
    return ", ".join(x for x in (venue.name, venue.address) if x) if venue else None


def _seated(session: Session, course_id: str) -> list[Enrollment]:
    return list(session.scalars(sa.select(Enrollment).where(Enrollment.course_id == course_id,
                                                            Enrollment.status == domain.ACTIVE_ENROLLMENT)
                                .order_by(Enrollment.civil_servant_id)))


def _emit(session: Session, course: Course, kind: str, ids: list[str], sequence: int, method: str,
          now: datetime, reason: str | None = None) -> None:
    if not ids:
        return
    ics = formats.invitation_ics(course.id, course.code, course.title, _sessions(course), method=method,
                                 sequence=sequence, venue=_venue_name(session, course), stamp=now,
                                 note=f"Lớp đã bị hủy: {reason}" if method == "CANCEL" else None)
    payload = events.course_notice_issued(course, kind, ids, str(uuid.uuid4()), sequence, ics, reason)
    payload["venue_name"] = _venue_name(session, course)
    OUTBOX.emit(session, "courses.course_notice_issued", payload)


def notify_confirmed(session: Session, course: Course, now: datetime | None = None) -> None:
    """After funding confirmed the course's current revision: invitation, change notice or newcomers only."""
    now = now or utcnow()
    fingerprint, _ = _fingerprint(course)
    seated = _seated(session, course.id)
    if course.notice_fingerprint is None:
        kind, sequence = "invitation", 0
    elif course.notice_fingerprint != fingerprint:
        same_times = course.notice_fingerprint.split(":")[0] == fingerprint.split(":")[0]
        kind, sequence = ("venue_changed" if same_times else "session_moved"), (course.notice_sequence or 0) + 1
    else:
        kind, sequence = "invitation", course.notice_sequence or 0
    promoted = [e.civil_servant_id for e in seated if (e.status_reason or "").startswith(PROMOTED_PREFIX)]
    others = [e.civil_servant_id for e in seated if e.civil_servant_id not in set(promoted)]
    _emit(session, course, kind, others, sequence, "REQUEST", now)
    _emit(session, course, "promoted" if kind == "invitation" else kind, promoted, sequence, "REQUEST", now)
    course.notice_sequence, course.notice_fingerprint = sequence, fingerprint


def notify_cancelled(session: Session, course: Course, reason: str, now: datetime | None = None) -> None:
    """A course its trainees were told about is cancelled: METHOD:CANCEL with the next SEQUENCE."""
    if course.notice_fingerprint is None:
        return
    sequence = (course.notice_sequence or 0) + 1
    _emit(session, course, "cancelled", [e.civil_servant_id for e in _seated(session, course.id)], sequence,
          "CANCEL", now or utcnow(), reason)
    course.notice_sequence = sequence
