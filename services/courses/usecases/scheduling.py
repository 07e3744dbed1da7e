"""Scheduling one course or many, the roster republish, funding's answers, start and cancel."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from services.courses import domain, events
from services.courses.domain import ROSTER_REPUBLISH
from services.courses.models import OUTBOX, Course, Trainee, Venue
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import utcnow
from services.courses.usecases.notices import notify_cancelled, notify_confirmed
from services.courses.usecases.conflicts import BookingIndex, _add_labels, _lock_bookings, _new_sessions
from services.courses.usecases.queries import (_chunks, _course, _effective_venue, _enrolled_by_course,
    _enrolled_trainees, _state, get_course)
from services.courses.usecases.rules import _lecturer_standard, _length_rule


def _capacity(session: Session, course: Course) -> int | None:
    """Seats: the course's own cap, and the smallest room it meets in (its venue or a session's own venue)."""
    caps = [c for c in (course.capacity, course.venue.capacity if course.venue and course.form != "online" else None)
            if c]
    rooms = {s.venue_id for s in course.sessions if s.venue_id and s.venue_id != course.venue_id}
    if rooms and course.form != "online":
        caps += session.scalars(sa.select(Venue.capacity).where(Venue.id.in_(sorted(rooms)))).all()
    return min(caps) if caps else None


def _schedule(session: Session, course: Course, now: datetime | None = None) -> None:
    """Validate one course and publish its cost drivers (the batch path with a batch of one)."""
    _schedule_many(session, [course], now)


def _validate(session: Session, course: Course, trainees: list[Trainee], caches: dict) -> None:
    """Sessions, venue, length cap and lecturer standard in force, capacity: raise on the first problem."""
    label = f"Lớp {course.code}: " if caches.get("batch") else ""
    if not course.sessions:
        raise Invalid(f"{label}Lớp chưa có buổi học nào.", field="sessions")
    days = [s.date for s in course.sessions]
    start = min(days)
    if course.form in domain.FORMS_NEEDING_VENUE and any(_effective_venue(course, s) is None
                                                         for s in course.sessions):
        raise Invalid(f"{label}Lớp học trực tiếp cần địa điểm (venue_id) cho mọi buổi.", field="venue_id")
    key = (course.fostering_type, course.fostering_variant, start)
    if key not in caches.setdefault("length", {}):
        caches["length"][key] = _length_rule(session, course, start)
    problems = domain.length_problems(days, caches["length"][key])
    if problems:
        raise Invalid(label + " ".join(problems), field="sessions")
    if start not in caches.setdefault("standard", {}):
        caches["standard"][start] = _lecturer_standard(session, start)
    for lecturer in {s.lecturer.id: s.lecturer for s in course.sessions}.values():
        bad = domain.lecturer_problems(lecturer.degree, lecturer.pedagogy_certificate, lecturer.years_experience,
                                       lecturer.topic_codes or [], course.topic_code, caches["standard"][start])
        if bad:
            raise Invalid(f"{label}Giảng viên {lecturer.name} chưa đạt tiêu chuẩn: {'; '.join(bad)}.",
                          field="sessions.lecturer_id")
    cap = _capacity(session, course)
    if cap is not None and len(trainees) > cap:
        raise Invalid(f"{label}Lớp có {len(trainees)} học viên, vượt sức chứa {cap}.", field="capacity")


def _schedule_many(session: Session, courses: list[Course], now: datetime | None = None) -> None:
    """Validate courses and check them for conflicts against every booked course and each other; if all pass,
    mark them scheduled with a new revision and publish one courses.course_scheduled each. All or nothing."""
    _lock_bookings(session)
    ids = [c.id for c in courses]
    enrolled = _enrolled_by_course(session, ids)
    caches = {"batch": len(courses) > 1}
    for course in courses:
        _validate(session, course, enrolled[course.id], caches)
    planned = {c.id: _new_sessions(c) for c in courses}
    checker = BookingIndex(session, set(ids), [s for c in courses for s in planned[c.id]],
                       [t for c in courses for t in enrolled[c.id]])
    _add_labels(session, checker, courses)
    refused = []
    for course in courses:
        conflicts = checker.check(planned[course.id], enrolled[course.id])
        if conflicts:
            refused.append((course, conflicts))
        else:
            checker.book(course.id, course.code, planned[course.id], enrolled[course.id])
    if refused:
        course, conflicts = refused[0]
        more = f" (và {len(conflicts) - 3} xung đột khác)" if len(conflicts) > 3 else ""
        others = f" {len(refused) - 1} lớp khác cũng bị xung đột." if len(refused) > 1 else ""
        label = f"Lớp {course.code}: " if len(courses) > 1 else ""
        raise Conflict(f"Xung đột lịch: {label}" + " ".join(c.message for c in conflicts[:3]) + more + others,
                       field="sessions")
    now = now or utcnow()
    outgoing = []
    for course in courses:
        course.status, course.status_reason = domain.next_status(course.status, "schedule"), None
        course.revision = (course.revision or 0) + 1
        course.scheduled_at = now
        course.reservation_id = course.estimate_total = course.confirmed_at = None
        outgoing.append(("courses.course_scheduled", events.course_scheduled(course, enrolled[course.id]), None))
    OUTBOX.emit_many(session, outgoing)


def _roster_changed(session: Session, course: Course) -> None:
    """Ask funding again after the enrolled trainees of a booked course changed: one new revision per request.

    Learner support, materials and lodging are per trainee, so the reservation must follow the roster. The course
    keeps its status until funding answers: a reservation of the new revision confirms it (again), a rejection moves
    it to awaiting_funds with the reason (record_budget_reserved / record_reservation_rejected).
    """
    if course.status not in ROSTER_REPUBLISH or not course.sessions:
        return
    session.flush()
    course.revision = (course.revision or 0) + 1
    OUTBOX.emit(session, "courses.course_scheduled",
                events.course_scheduled(course, _enrolled_trainees(session, course.id)))


def schedule_course(session: Session, course_id: str, now: datetime | None = None) -> dict:
    """Schedule (or re-schedule) a course: checks, then courses.course_scheduled with a new revision."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.SCHEDULABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)} không thể xếp lịch.", field="course_id")
    _schedule(session, course, now)
    return get_course(session, course.id)


def schedule_courses(session: Session, course_ids: list[str], now: datetime | None = None) -> list[Course]:
    """Schedule several courses at once (e.g. a plan's proposals): checked against each other too; all or none."""
    ids = list(dict.fromkeys(course_ids))
    found = {c.id: c for chunk in _chunks(ids, 900) for c in session.scalars(
        sa.select(Course).where(Course.id.in_(chunk)).with_for_update(of=Course)
        .options(selectinload(Course.sessions)))}
    for i, cid in enumerate(ids):
        if cid not in found:
            raise NotFound("Không tìm thấy lớp học.", field=f"course_ids.{i}")
        if found[cid].status not in domain.SCHEDULABLE:
            raise Conflict(f"Lớp {found[cid].code} ở trạng thái {_state(found[cid].status)} không thể xếp lịch.",
                           field=f"course_ids.{i}")
    courses = [found[cid] for cid in ids]
    _schedule_many(session, courses, now)
    return courses


def record_budget_reserved(session: Session, payload: dict, now: datetime | None = None) -> None:
    """Confirm a scheduled course when funding reserved its current revision (older answers are ignored); a confirmed
    course whose roster changed takes the new reservation."""
    course = session.get(Course, payload["course_id"])
    if course is None or payload["revision"] != course.revision or course.status not in ROSTER_REPUBLISH:
        return
    course.status, course.status_reason, course.confirmed_at = domain.next_status(course.status, "reserve"), None, \
        now or utcnow()
    course.reservation_id, course.estimate_total = payload["reservation_id"], payload["estimate_total"]
    notify_confirmed(session, course, now)  # the trainees hear of it (issue 13)


def record_reservation_rejected(session: Session, payload: dict) -> None:
    """Show that a course waits for funds, with funding's reason (older revisions are ignored); a confirmed course
    whose new roster is not covered falls back to awaiting_funds."""
    course = session.get(Course, payload["course_id"])
    if course is None or payload["revision"] != course.revision or course.status not in ROSTER_REPUBLISH:
        return
    course.status, course.status_reason = domain.next_status(course.status, "reject"), payload["reason"]
    course.confirmed_at = course.reservation_id = None
    course.estimate_total = payload["estimate_total"]


def start_course(session: Session, course_id: str) -> dict:
    """Mark a confirmed course as in progress (teaching has begun)."""
    course = _course(session, course_id, lock=True)
    if course.status != "confirmed":
        raise Conflict("Chỉ lớp đã được xác nhận kinh phí mới có thể bắt đầu.", field="course_id")
    course.status = domain.next_status(course.status, "teach")
    return get_course(session, course.id)


def cancel_course(session: Session, course_id: str, reason: str, now: datetime | None = None) -> dict:
    """Cancel a course; funding releases its reservation (courses.course_cancelled)."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.CANCELLABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)} không thể hủy.", field="course_id")
    was_scheduled = (course.revision or 0) > 0
    course.status, course.status_reason = domain.next_status(course.status, "cancel"), reason
    course.cancelled_at = now or utcnow()
    if was_scheduled:
        OUTBOX.emit(session, "courses.course_cancelled", events.course_cancelled(course))
    notify_cancelled(session, course, reason, now)
    return get_course(session, course.id)
