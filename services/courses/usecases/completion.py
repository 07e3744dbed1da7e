"""Completion (certificates, courses.course_completed) and closing on feedback requested + settlement posted."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain, events, formats
from services.courses.domain import ACTIVE_ENROLLMENT
from services.courses.models import OUTBOX, CertificateCounter, Course, Enrollment, Topic
from shared.db import insert_ignoring_conflicts
from shared import metrics
from shared.errors import Conflict
from shared.events import Envelope
from shared.localtime import to_local, utcnow
from services.courses.usecases.checkin import pending_self_checkins
from services.courses.usecases.queries import _course, get_course, _participants, _state


def _certificate_numbers(session: Session, year: int, count: int) -> list[str]:
    """Issue the next `count` certificate numbers of `year`, once and in order, under concurrent completions: one
    block for the whole course (three statements, not three per certified trainee).

    The year's counter row is created with INSERT … ON CONFLICT DO NOTHING before it is locked: two first
    completions of a year used to both find no row and both insert it, the second failing on the primary key
    (HTTP 500). Now the second waits for the first's row and then locks it (SELECT … FOR UPDATE on PostgreSQL;
    SQLite has one writer at a time)."""
    if count == 0:
        return []
    session.execute(insert_ignoring_conflicts(session, CertificateCounter.__table__).values(year=year, last_no=0))
    counter = session.get(CertificateCounter, year, with_for_update=True, populate_existing=True)
    first = counter.last_no + 1
    counter.last_no += count
    session.flush()
    return [formats.certificate_number(year, n) for n in range(first, first + count)]


def complete_course(session: Session, course_id: str, now: datetime | None = None) -> dict:
    """Close teaching: apply the certificate rule, issue certificate numbers once, publish course_completed."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.COMPLETABLE:
        already = course.status in ("completed", "closed")
        raise Conflict("Lớp đã được kết thúc trước đó." if already else
                       f"Lớp ở trạng thái {_state(course.status)}: chỉ lớp đã xác nhận hoặc đang học mới "
                       "kết thúc được.",
                       field="course_id")
    pending = pending_self_checkins(session, course.id)
    if pending:
        raise Conflict(f"Còn {pending} lượt học viên tự điểm danh chưa được xác nhận: hãy xác nhận hoặc từ chối "
                       "trước khi kết thúc lớp (chỉ điểm danh đã xác nhận được tính).", field="course_id")
    rows = [p for p in _participants(session, course, statuses=(ACTIVE_ENROLLMENT, "withdrawn"))
            if p["status"] == ACTIVE_ENROLLMENT or p["sessions_attended"] > 0]
    if not rows:
        raise Conflict("Lớp chưa có học viên.", field="course_id")
    course.status = domain.next_status(course.status, "complete")
    course.completed_at = now or utcnow()
    year = to_local(course.completed_at).year
    # One SELECT for the enrollments (the identity map holds no strong reference to those _participants read).
    by_id = {e.civil_servant_id: e for e in session.scalars(sa.select(Enrollment).where(
        Enrollment.course_id == course.id, Enrollment.civil_servant_id.in_([p["civil_servant_id"] for p in rows])))}
    enrollments = [by_id[p["civil_servant_id"]] for p in rows]
    certified = [p["status"] == ACTIVE_ENROLLMENT and p["certified"] for p in rows]
    numbers = iter(_certificate_numbers(
        session, year, sum(1 for e, c in zip(enrollments, certified) if c and e.certificate_no is None)))
    for p, e, c in zip(rows, enrollments, certified):
        e.certified = c
        if c and e.certificate_no is None:
            e.certificate_no = next(numbers)
        p["certified"], p["certificate_no"] = c, e.certificate_no
    topic = session.get(Topic, course.topic_code) if course.topic_code else None
    OUTBOX.emit(session, "courses.course_completed", events.course_completed(course, rows, topic))
    return get_course(session, course.id)


def _maybe_close(session: Session, course: Course, now: datetime | None = None) -> None:
    state = domain.closing_state(course.feedback_requested_at is not None, course.settled_at is not None)
    if state == "closed" and course.status != "closed":
        course.status = domain.next_status(course.status, "close")
        course.closed_at = now or utcnow()
        metrics.course_closed(session, "courses")  # thoibinh_courses_closed_total, once the close commits


def record_feedback_requested(session: Session, envelope: Envelope, now: datetime | None = None) -> None:
    """Note that evaluation has asked the participants for feedback."""
    course = _course(session, envelope.payload["course_id"], lock=True)
    course.feedback_requested_at = course.feedback_requested_at or envelope.occurred_at
    course.feedback_request_count = envelope.payload["request_count"]
    _maybe_close(session, course, now)


def record_settlement(session: Session, envelope: Envelope, now: datetime | None = None) -> None:
    """Note that funding has posted the course's settlement."""
    course = _course(session, envelope.payload["course_id"], lock=True)
    course.settled_at = course.settled_at or envelope.payload["settled_at"]
    course.settlement_total = envelope.payload["total_amount"]
    _maybe_close(session, course, now)
