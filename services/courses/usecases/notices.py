"""Telling the trainees about their course (issue 13): courses.course_notice_issued names them by id with what to
say and the course's calendar file; needs, which holds the contacts, sends it (once per person and SEQUENCE).

* When funding confirms a revision, every trainee holding a seat is told: an invitation the first time; after a
  change of the sessions or the venue, a new SEQUENCE with kind session_moved or venue_changed; a confirmation
  that changed only the roster keeps the SEQUENCE, so those already invited are not told again (needs claims per
  person and SEQUENCE) and only newcomers — promoted from the waitlist, told so — get a message.
* A cancelled course that trainees were told about gets METHOD:CANCEL with the next SEQUENCE.
* Lecturers (courses.lecturer_notice_issued, one event per lecturer, by lecturer id) are told about their own
  sessions, each with their own calendar SEQUENCE (Course.lecturer_notices): assigned the first time they teach
  in the course, session_moved / venue_changed when their sessions change, cancelled (METHOD:CANCEL) when the
  course is cancelled or they no longer teach any of its sessions. A confirmation that leaves a lecturer's
  sessions as they were tells them nothing.
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
             "venue_id": _effective_venue(course, s), "lecturer_id": s.lecturer_id}
            for s in sorted(course.sessions, key=lambda s: (s.date, s.buoi))]


def _session_fingerprint(sessions: list[dict]) -> str:
    """times:venues of these sessions; the same times with another venue is a venue change."""
    rows = [[str(s["date"]), s["buoi"], s["starts_at"].isoformat() if s["starts_at"] else None,
             s["ends_at"].isoformat() if s["ends_at"] else None, s["venue_id"]] for s in sessions]
    times = hashlib.sha256(json.dumps([r[:4] for r in rows]).encode()).hexdigest()[:31]
    venues = hashlib.sha256(json.dumps([r[4] for r in rows]).encode()).hexdigest()[:32]
    return f"{times}:{venues}"


def _fingerprint(course: Course) -> tuple[str, str | None]:
    return _session_fingerprint(_sessions(course)), course.venue_id


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
    _notify_lecturers(session, course, now)


def notify_cancelled(session: Session, course: Course, reason: str, now: datetime | None = None) -> None:
    """A course its trainees were told about is cancelled: METHOD:CANCEL with the next SEQUENCE."""
    if course.notice_fingerprint is None:
        return
    sequence = (course.notice_sequence or 0) + 1
    _emit(session, course, "cancelled", [e.civil_servant_id for e in _seated(session, course.id)], sequence,
          "CANCEL", now or utcnow(), reason)
    course.notice_sequence = sequence
    _notify_lecturers(session, course, now or utcnow(), cancelled=reason)


NO_LONGER_TEACHING = "Thầy/cô không còn phụ trách buổi nào của lớp."


def _emit_lecturer(session: Session, course: Course, lecturer_id: str, kind: str, sessions: list[dict],
                   sequence: int, now: datetime, reason: str | None = None) -> None:
    method = "CANCEL" if kind == "cancelled" else "REQUEST"
    venue = _venue_name(session, course)
    note = None if method == "REQUEST" else reason if reason == NO_LONGER_TEACHING else f"Lớp đã bị hủy: {reason}"
    ics = formats.invitation_ics(course.id, course.code, course.title, sessions, method=method, sequence=sequence,
                                 venue=venue, stamp=now, note=note)
    OUTBOX.emit(session, "courses.lecturer_notice_issued", events.lecturer_notice_issued(
        course, kind, lecturer_id, str(uuid.uuid4()), sequence, sessions, ics, venue, reason))


def _notify_lecturers(session: Session, course: Course, now: datetime, cancelled: str | None = None) -> None:
    """Tell each lecturer what changed for them since they were last told (see the module's note)."""
    told = {lid: dict(v) for lid, v in (course.lecturer_notices or {}).items()}
    mine: dict[str, list[dict]] = {}
    for s in _sessions(course):
        mine.setdefault(s["lecturer_id"], []).append(s)
    if cancelled is not None:
        for lid, state in sorted(told.items()):
            if state["active"]:
                _emit_lecturer(session, course, lid, "cancelled", mine.get(lid, []), state["seq"] + 1, now, cancelled)
                told[lid] = {**state, "seq": state["seq"] + 1, "active": False}
        course.lecturer_notices = told
        return
    for lid, sessions in sorted(mine.items()):
        fp, state = _session_fingerprint(sessions), told.get(lid)
        if state is None or not state["active"]:
            kind, seq = "assigned", (state["seq"] + 1 if state else 0)
        elif state["fp"] != fp:
            same_times = state["fp"].split(":")[0] == fp.split(":")[0]
            kind, seq = ("venue_changed" if same_times else "session_moved"), state["seq"] + 1
        else:
            continue
        _emit_lecturer(session, course, lid, kind, sessions, seq, now)
        told[lid] = {"seq": seq, "fp": fp, "active": True}
    for lid, state in sorted(told.items()):
        if lid not in mine and state["active"]:
            _emit_lecturer(session, course, lid, "cancelled", [], state["seq"] + 1, now, NO_LONGER_TEACHING)
            told[lid] = {**state, "seq": state["seq"] + 1, "active": False}
    course.lecturer_notices = told
