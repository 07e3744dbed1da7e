"""Draft courses and their sessions: create, edit, add, change and remove sessions (a booked course is
re-scheduled at once)."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain
from services.courses.models import Attendance, Course, CourseSession, Lecturer, Venue
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import utcnow, vn_date
from services.courses.usecases.enrollment import _promote, new_token
from services.courses.usecases.queries import _course, get_course, _state, _topic, _venue
from services.courses.usecases.rules import _buoi_times, _course_rule
from services.courses.usecases.scheduling import _schedule


def _check_course_fields(session: Session, data: dict, creating: bool = False) -> None:
    """Check the topic and venue exist; a course on a topic without a fostering type takes the topic's first one
    (else no length cap would apply). On create the schema fills an absent type with None; on edit only a changed
    topic without an explicit type does."""
    if "topic_code" in data:
        topic = _topic(session, data["topic_code"])
        untyped = data.get("fostering_type") is None if creating else "fostering_type" not in data
        if topic is not None and untyped:
            data["fostering_type"] = topic.fostering_types[0] if topic.fostering_types else None
    if data.get("venue_id") is not None:
        _venue(session, data["venue_id"])


def _build_sessions(session: Session, course: Course, specs: list[dict],
                    prefix: str = "sessions") -> list[CourseSession]:
    """Validate session specs (lecturer, venue, times within one day) and build the rows."""
    times: dict[date, domain.BuoiTimes] = {}
    periods: dict[date, int] = {}
    lecturer_ids = {s["lecturer_id"] for s in specs}
    known = set(session.scalars(sa.select(Lecturer.id).where(Lecturer.id.in_(lecturer_ids))))
    venue_ids = {s["venue_id"] for s in specs if s.get("venue_id")}
    known_venues = set(session.scalars(sa.select(Venue.id).where(Venue.id.in_(venue_ids)))) if venue_ids else set()
    out = []
    for i, s in enumerate(specs):
        if s["lecturer_id"] not in known:
            raise Invalid(f"Không tìm thấy giảng viên: {s['lecturer_id']}.", field=f"{prefix}.{i}.lecturer_id")
        if s.get("venue_id") and s["venue_id"] not in known_venues:
            raise Invalid("Không tìm thấy địa điểm.", field=f"{prefix}.{i}.venue_id")
        times_given = {}
        for key in ("start_time", "end_time"):
            try:
                times_given[key] = domain.parse_hhmm(s[key]) if s.get(key) else None
            except ValueError as exc:
                raise Invalid(str(exc), field=f"{prefix}.{i}.{key}") from None
        start, end = times_given["start_time"], times_given["end_time"]
        try:
            if s["date"] not in times:
                times[s["date"]] = _buoi_times(session, s["date"])
            starts_at, ends_at = domain.session_bounds(s["date"], s["buoi"], times[s["date"]], start, end)
        except ValueError as exc:
            raise Invalid(str(exc), field=f"{prefix}.{i}.end_time") from None
        if not s.get("periods") and s["date"] not in periods:
            periods[s["date"]] = int(_course_rule(session, "periods_per_buoi", s["date"]))
        out.append(CourseSession(id=str(uuid.uuid4()), course_id=course.id, date=s["date"], buoi=s["buoi"],
                                 periods=s.get("periods") or periods[s["date"]], lecturer_id=s["lecturer_id"],
                                 venue_id=s.get("venue_id"), starts_at=starts_at, ends_at=ends_at,
                                 checkin_token=new_token()))
    slots = [domain.SessionSlot(str(i), s.date, s.buoi) for i, s in enumerate(out)]
    dup = domain.duplicate_slots(slots)
    if dup:
        day, buoi = dup[0]
        raise Invalid(f"Buổi {domain.BUOI_VI[buoi]} ngày {vn_date(day)} bị lặp.", field=prefix)
    return out


def create_course(session: Session, data: dict, now: datetime | None = None) -> dict:
    """Create a draft course (with or without sessions); scheduling it books people, lecturers and rooms."""
    if session.scalar(sa.select(Course.id).where(Course.code == data["code"])):
        raise Conflict("Mã lớp đã tồn tại.", field="code")
    specs = data.pop("sessions", None) or []
    _check_course_fields(session, data, creating=True)
    course = Course(id=str(uuid.uuid4()), status="draft", created_at=now or utcnow(), revision=0,
                    form=data.pop("form", None) or "in_person",
                    excused_max_percent=data.pop("excused_max_percent", None) or 0, **data)
    course.sessions = _build_sessions(session, course, specs)
    session.add(course)
    session.flush()
    return get_course(session, course.id)


def update_course(session: Session, course_id: str, data: dict, now: datetime | None = None) -> dict:
    """Edit a course; a booked course is re-scheduled at once (conflicts re-checked, funding asked again)."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.SCHEDULABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)} không thể sửa.", field="course_id")
    _check_course_fields(session, data)
    for key, value in data.items():
        setattr(course, key, value)
    session.flush()
    session.expire(course, ["venue"])  # the relationship follows the new venue_id
    if {"capacity", "venue_id", "form"} & set(data):
        _promote(session, course)  # more seats: the waitlist moves up (clashing trainees skipped with the reason)
    if course.status != "draft":
        _schedule(session, course, now)  # one new revision with the new roster
    return get_course(session, course.id)


def add_sessions(session: Session, course_id: str, specs: list[dict], now: datetime | None = None) -> dict:
    """Add sessions to a course; a booked course is re-scheduled (conflicts re-checked)."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.SCHEDULABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)} không thể thêm buổi.", field="course_id")
    new = _build_sessions(session, course, specs)
    taken = {(s.date, s.buoi) for s in course.sessions}
    for i, s in enumerate(new):
        if (s.date, s.buoi) in taken:
            raise Invalid(f"Lớp đã có buổi {domain.BUOI_VI[s.buoi]} ngày {vn_date(s.date)}.",
                          field=f"sessions.{i}.date")
    course.sessions.extend(new)
    session.flush()
    if course.status != "draft":
        _schedule(session, course, now)
    return get_course(session, course.id)


def update_session(session: Session, course_id: str, session_id: str, data: dict,
                   now: datetime | None = None) -> dict:
    """Change a session's date, buổi, times, lecturer or venue; conflicts are checked again."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.SCHEDULABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)} không thể đổi buổi học.", field="course_id")
    row = next((s for s in course.sessions if s.id == session_id), None)
    if row is None:
        raise NotFound("Buổi học không thuộc lớp này.", field="session_id")
    spec = {"date": row.date, "buoi": row.buoi, "periods": row.periods, "lecturer_id": row.lecturer_id,
            "venue_id": row.venue_id, **data}
    [built] = _build_sessions(session, course, [spec], prefix="session")
    if any(s.id != row.id and (s.date, s.buoi) == (built.date, built.buoi) for s in course.sessions):
        raise Invalid(f"Lớp đã có buổi {domain.BUOI_VI[built.buoi]} ngày {vn_date(built.date)}.",
                      field="date")
    keep_times = not {"date", "buoi", "start_time", "end_time"} & set(data)
    keys = ("date", "buoi", "periods", "lecturer_id", "venue_id") + (() if keep_times else ("starts_at", "ends_at"))
    for key in keys:
        setattr(row, key, getattr(built, key))
    session.flush()
    if course.status != "draft":
        _schedule(session, course, now)
    return get_course(session, course.id)


def delete_session(session: Session, course_id: str, session_id: str, now: datetime | None = None) -> dict:
    """Remove a session that has no attendance yet; a booked course is re-scheduled."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.SCHEDULABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)} không thể bỏ buổi học.", field="course_id")
    row = next((s for s in course.sessions if s.id == session_id), None)
    if row is None:
        raise NotFound("Buổi học không thuộc lớp này.", field="session_id")
    if session.scalar(sa.select(sa.func.count()).select_from(Attendance).where(Attendance.session_id == session_id)):
        raise Conflict("Buổi học đã có điểm danh, không thể xóa.", field="session_id")
    course.sessions.remove(row)
    session.flush()
    if course.status != "draft" and course.sessions:
        _schedule(session, course, now)
    return get_course(session, course.id)
