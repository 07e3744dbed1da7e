"""Completion (certificates, courses.course_completed) and closing on feedback requested + settlement posted."""
from __future__ import annotations

import functools
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain, events, formats
from services.courses.domain import ACTIVE_ENROLLMENT
from services.courses.models import OUTBOX, CertificateCounter, Course, Enrollment, Topic
from shared.db import dialect_insert
from shared import metrics
from shared.errors import Conflict
from shared.events import Envelope
from shared.localtime import to_local, utcnow
from services.courses.usecases.queries import _course, _state, course_sessions, get_course, participants_and_pending


def _certificate_numbers(session: Session, year: int, count: int) -> list[str]:
    """Issue the next `count` certificate numbers of `year`, once and in order, under concurrent completions: one
    block for the whole course, in one statement (not three per certified trainee).

    Two first completions of a year used to both find no counter row and both insert it, the second failing on the
    primary key (HTTP 500). The block is taken by INSERT … ON CONFLICT (year) DO UPDATE SET last_no = last_no +
    `count` RETURNING last_no: the first of the year inserts the row, a second waits for the first's row and then
    adds to it, and the row stays locked until the commit (SQLite has one writer at a time). One round trip while
    the year's counter is held, not two (issue 16: an INSERT … DO NOTHING, then an UPDATE … RETURNING)."""
    if count == 0:
        return []
    counters = CertificateCounter.__table__
    stmt = dialect_insert(session, counters).values(year=year, last_no=count)
    last = session.execute(stmt.on_conflict_do_update(
        index_elements=[counters.c.year], set_={"last_no": counters.c.last_no + stmt.excluded.last_no})
        .returning(counters.c.last_no)).scalar_one()
    return [formats.certificate_number(year, n) for n in range(last - count + 1, last + 1)]


@functools.cache
def _write_outcome() -> sa.Update:
    """The enrollments' certificate outcome, written by one executemany (the statement built once)."""
    e = Enrollment.__table__
    return (sa.update(e).where(e.c.course_id == sa.bindparam("k_course"), e.c.civil_servant_id == sa.bindparam("k_cs"))
            .values(certified=sa.bindparam("v_certified"), certificate_no=sa.bindparam("v_no")))


def complete_course(session: Session, course_id: str, now: datetime | None = None) -> dict:
    """Close teaching: apply the certificate rule, issue certificate numbers once, publish course_completed."""
    course = _course(session, course_id, lock=True, venue=False)  # the event's venue comes from get_course below
    if course.status not in domain.COMPLETABLE:
        already = course.status in ("completed", "closed")
        raise Conflict("Lớp đã được kết thúc trước đó." if already else
                       f"Lớp ở trạng thái {_state(course.status)}: chỉ lớp đã xác nhận hoặc đang học mới "
                       "kết thúc được.",
                       field="course_id")
    sessions = course_sessions(session, course.id)  # read once: the outcome, the event and the answer use them
    participants, pending = participants_and_pending(session, course, statuses=(ACTIVE_ENROLLMENT, "withdrawn"),
                                                     sessions=sessions)
    if pending:
        raise Conflict(f"Còn {pending} lượt học viên tự điểm danh chưa được xác nhận: hãy xác nhận hoặc từ chối "
                       "trước khi kết thúc lớp (chỉ điểm danh đã xác nhận được tính).", field="course_id")
    rows = [p for p in participants if p["status"] == ACTIVE_ENROLLMENT or p["sessions_attended"] > 0]
    if not rows:
        raise Conflict("Lớp chưa có học viên.", field="course_id")
    course.status = domain.next_status(course.status, "complete")
    course.completed_at = now or utcnow()
    year = to_local(course.completed_at).year
    topic = session.get(Topic, course.topic_code) if course.topic_code else None
    answer = get_course(session, course.id, sessions)  # flushes the course's change; it shows no certificate
    # The year's certificate counter is locked last (issue 16): every completion of the year waits for it, so it is
    # held only for the statements left before the commit — the outcome, the outbox row — not for the reads above.
    for p in rows:
        p["certified"] = p["status"] == ACTIVE_ENROLLMENT and p["certified"]
    numbers = iter(_certificate_numbers(session, year, sum(
        1 for p in rows if p["certified"] and p["certificate_no"] is None)))
    for p in rows:
        if p["certified"] and p["certificate_no"] is None:
            p["certificate_no"] = next(numbers)
    # Rows, not ORM objects: one executemany writes every participant's outcome (the ORM read them again first).
    session.execute(_write_outcome(), [{"k_course": course.id, "k_cs": p["civil_servant_id"],
                                        "v_certified": p["certified"], "v_no": p["certificate_no"]} for p in rows])
    OUTBOX.emit(session, "courses.course_completed",
                events.course_completed(course, rows, topic, answer["venue"], sessions))
    return answer


def _maybe_close(session: Session, course: Course, now: datetime | None = None) -> None:
    state = domain.closing_state(course.feedback_requested_at is not None, course.settled_at is not None)
    if state == "closed" and course.status != "closed":
        course.status = domain.next_status(course.status, "close")
        course.closed_at = now or utcnow()
        metrics.course_closed(session, "courses")  # thoibinh_courses_closed_total, once the close commits


def record_feedback_requested(session: Session, envelope: Envelope, now: datetime | None = None) -> None:
    """Note that evaluation has asked the participants for feedback."""
    course = _course(session, envelope.payload["course_id"], lock=True, venue=False)  # the venue is not read here
    course.feedback_requested_at = course.feedback_requested_at or envelope.occurred_at
    course.feedback_request_count = envelope.payload["request_count"]
    _maybe_close(session, course, now)


def record_settlement(session: Session, envelope: Envelope, now: datetime | None = None) -> None:
    """Note that funding has posted the course's settlement."""
    course = _course(session, envelope.payload["course_id"], lock=True, venue=False)
    course.settled_at = course.settled_at or envelope.payload["settled_at"]
    course.settlement_total = envelope.payload["total_amount"]
    _maybe_close(session, course, now)
