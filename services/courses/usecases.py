"""Use cases of the courses service: each takes a session inside the caller's transaction."""
from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain
from services.courses.models import OUTBOX, Attendance, Course, CourseSession, Enrollment, Lecturer, Trainee
from shared.db import utcnow
from shared.errors import DomainError, NotFound
from shared.events import Envelope


# --- local copy of civil servants ------------------------------------------------------------------------------

def upsert_trainee(session: Session, payload: dict) -> None:
    """Keep the local copy of a civil servant up to date from needs' event."""
    values = {k: payload[k] for k in ("code", "unit_code", "commune_code", "position_code", "female",
                                      "ethnic_minority", "hard_area", "child_under_36_months")}
    trainee = session.get(Trainee, payload["civil_servant_id"])
    if trainee is None:
        session.add(Trainee(civil_servant_id=payload["civil_servant_id"], updated_at=utcnow(), **values))
    else:
        for key, value in values.items():
            setattr(trainee, key, value)
        trainee.updated_at = utcnow()


def list_trainees(session: Session, commune_code: str | None) -> list[Trainee]:
    stmt = sa.select(Trainee).order_by(Trainee.code)
    if commune_code:
        stmt = stmt.where(Trainee.commune_code == commune_code)
    return list(session.scalars(stmt))


# --- lecturers and courses -------------------------------------------------------------------------------------

def create_lecturer(session: Session, data: dict) -> Lecturer:
    """Register a lecturer with the fee tier that drives their pay per buổi."""
    lecturer = Lecturer(id=str(uuid.uuid4()), **data)
    session.add(lecturer)
    return lecturer


def list_lecturers(session: Session) -> list[Lecturer]:
    return list(session.scalars(sa.select(Lecturer).order_by(Lecturer.name)))


def schedule_course(session: Session, data: dict) -> Course:
    """Create a course with its sessions; refuse a duplicate code, an unknown lecturer or a buổi used twice."""
    if session.scalar(sa.select(Course.id).where(Course.code == data["code"])):
        raise DomainError("Mã lớp đã tồn tại.", field="code")
    slots = [domain.SessionSlot(str(i), s["date"], s["buoi"]) for i, s in enumerate(data["sessions"])]
    dup = domain.duplicate_slots(slots)
    if dup:
        day, buoi = dup[0]
        raise DomainError(f"Buổi {buoi} ngày {day.isoformat()} bị lặp.", field="sessions", status=422)
    lecturer_ids = {s["lecturer_id"] for s in data["sessions"]}
    known = set(session.scalars(sa.select(Lecturer.id).where(Lecturer.id.in_(lecturer_ids))))
    if lecturer_ids - known:
        raise DomainError(f"Không tìm thấy giảng viên: {', '.join(sorted(lecturer_ids - known))}.",
                          field="sessions.lecturer_id", status=422)
    course = Course(id=str(uuid.uuid4()), code=data["code"], title=data["title"],
                    organizer_unit_code=data["organizer_unit_code"], status="scheduled", created_at=utcnow())
    course.sessions = [CourseSession(id=str(uuid.uuid4()), date=s["date"], buoi=s["buoi"],
                                     periods=s.get("periods", 4), lecturer_id=s["lecturer_id"])
                       for s in data["sessions"]]
    session.add(course)
    session.flush()
    return course


def _course(session: Session, course_id: str, *, lock: bool = False) -> Course:
    stmt = sa.select(Course).where(Course.id == course_id)
    if lock:
        stmt = stmt.with_for_update()
    course = session.scalar(stmt)
    if course is None:
        raise NotFound("Không tìm thấy lớp học.", field="course_id")
    return course


def enroll(session: Session, course_id: str, civil_servant_ids: list[str]) -> int:
    """Enroll trainees known from needs; already-enrolled ones are left as they are. Return how many were added."""
    course = _course(session, course_id)
    if course.status != "scheduled":
        raise DomainError("Lớp đã kết thúc, không thể ghi danh.", field="course_id")
    ids = list(dict.fromkeys(civil_servant_ids))
    known = set(session.scalars(sa.select(Trainee.civil_servant_id).where(Trainee.civil_servant_id.in_(ids))))
    missing = [i for i in ids if i not in known]
    if missing:
        raise DomainError(f"Không có công chức mã {', '.join(missing[:5])} trong danh sách (chưa đồng bộ từ nhu cầu).",
                          field="civil_servant_ids", status=422)
    have = set(session.scalars(sa.select(Enrollment.civil_servant_id).where(Enrollment.course_id == course_id)))
    now = utcnow()
    new = [Enrollment(course_id=course_id, civil_servant_id=i, enrolled_at=now) for i in ids if i not in have]
    session.add_all(new)
    return len(new)


def record_attendance(session: Session, course_id: str, records: list[dict]) -> int:
    """Record presence per session and trainee (the last entry wins). Return how many records were written."""
    course = _course(session, course_id)
    if course.status != "scheduled":
        raise DomainError("Lớp đã kết thúc, không thể điểm danh.", field="course_id")
    session_ids = {s.id for s in course.sessions}
    enrolled = set(session.scalars(sa.select(Enrollment.civil_servant_id).where(Enrollment.course_id == course_id)))
    for i, r in enumerate(records):
        if r["session_id"] not in session_ids:
            raise DomainError("Buổi học không thuộc lớp này.", field=f"records.{i}.session_id", status=422)
        if r["civil_servant_id"] not in enrolled:
            raise DomainError("Học viên chưa ghi danh vào lớp.", field=f"records.{i}.civil_servant_id", status=422)
    now = utcnow()
    for r in records:
        row = session.get(Attendance, (r["session_id"], r["civil_servant_id"]))
        if row is None:
            session.add(Attendance(session_id=r["session_id"], civil_servant_id=r["civil_servant_id"],
                                   present=r["present"], recorded_at=now))
        else:
            row.present, row.recorded_at = r["present"], now
    return len(records)


def complete_course(session: Session, course_id: str) -> Course:
    """Close teaching: compute each participant's attendance and publish courses.course_completed."""
    course = _course(session, course_id, lock=True)
    if course.status != "scheduled":
        raise DomainError("Lớp đã được kết thúc trước đó.", field="course_id")
    participants = _participant_results(session, course)
    if not participants:
        raise DomainError("Lớp chưa có học viên.", field="course_id")
    course.status = "completed"
    course.completed_at = utcnow()
    OUTBOX.emit(session, "courses.course_completed", {
        "course_id": course.id, "code": course.code, "title": course.title,
        "organizer_unit_code": course.organizer_unit_code,
        "start_date": min(s.date for s in course.sessions), "end_date": max(s.date for s in course.sessions),
        "completed_at": course.completed_at, "total_sessions": len(course.sessions),
        "sessions": [{"session_id": s.id, "date": s.date, "buoi": s.buoi, "lecturer_id": s.lecturer_id,
                      "lecturer_tier": s.lecturer.tier} for s in course.sessions],
        "participants": participants,  # the catalogue schema keeps only its own fields on the wire
    })
    return course


def _participant_results(session: Session, course: Course) -> list[dict]:
    """Each enrolled trainee with the sessions and days attended so far and whether that completes the course."""
    enrolled = list(session.scalars(sa.select(Trainee).join(Enrollment, Enrollment.civil_servant_id ==
                                                            Trainee.civil_servant_id)
                                    .where(Enrollment.course_id == course.id).order_by(Trainee.code)))
    slots = [domain.SessionSlot(s.id, s.date, s.buoi) for s in course.sessions]
    present: dict[str, set[str]] = {}
    for a in session.scalars(sa.select(Attendance).join(CourseSession).where(CourseSession.course_id == course.id,
                                                                               Attendance.present.is_(True))):
        present.setdefault(a.civil_servant_id, set()).add(a.session_id)
    out = []
    for t in enrolled:
        res = domain.attendance_result(slots, present.get(t.civil_servant_id, set()))
        out.append({"civil_servant_id": t.civil_servant_id, "code": t.code, "unit_code": t.unit_code,
                    "commune_code": t.commune_code, "sessions_attended": res.sessions_attended,
                    "days_attended": res.days_attended, "completed": res.completed})
    return out


def list_enrollments(session: Session, course_id: str) -> list[dict]:
    """Return a course's trainees with their attendance so far."""
    return _participant_results(session, _course(session, course_id))


# --- closing: evaluation and funding report back ---------------------------------------------------------------

def _maybe_close(course: Course) -> None:
    state = domain.closing_state(course.feedback_requested_at is not None, course.settled_at is not None)
    if state == "closed" and course.status != "closed":
        course.status = "closed"
        course.closed_at = utcnow()


def record_feedback_requested(session: Session, envelope: Envelope) -> None:
    """Note that evaluation has asked the participants for feedback."""
    course = _course(session, envelope.payload["course_id"], lock=True)
    course.feedback_requested_at = course.feedback_requested_at or envelope.occurred_at
    course.feedback_request_count = envelope.payload["request_count"]
    _maybe_close(course)


def record_settlement(session: Session, envelope: Envelope) -> None:
    """Note that funding has posted the course's settlement."""
    course = _course(session, envelope.payload["course_id"], lock=True)
    course.settled_at = course.settled_at or envelope.payload["settled_at"]
    course.settlement_total = envelope.payload["total_amount"]
    _maybe_close(course)


def get_course(session: Session, course_id: str) -> dict:
    """Return a course with its sessions, head-count and where its closing stands."""
    course = _course(session, course_id)
    enrolled = session.scalar(sa.select(sa.func.count()).where(Enrollment.course_id == course_id))
    return {**{c: getattr(course, c) for c in ("id", "code", "title", "organizer_unit_code", "status",
                                               "created_at", "completed_at")},
            "sessions": course.sessions, "enrolled": enrolled,
            "closing": None if course.completed_at is None else {
                "state": domain.closing_state(course.feedback_requested_at is not None,
                                              course.settled_at is not None),
                "feedback_requested_at": course.feedback_requested_at,
                "feedback_request_count": course.feedback_request_count,
                "settled_at": course.settled_at,
                "settlement_total": course.settlement_total,
                "closed_at": course.closed_at,
            }}


def list_courses(session: Session, status: str | None) -> list[Course]:
    stmt = sa.select(Course).order_by(Course.created_at.desc())
    if status:
        stmt = stmt.where(Course.status == status)
    return list(session.scalars(stmt))
