"""Enrollment: enroll, withdraw, the waitlist's promotion."""
from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain
from services.courses.domain import ACTIVE_ENROLLMENT
from services.courses.usecases.scope import check_trainees
from services.courses.models import Course, CourseCandidate, Enrollment, Trainee
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import local_today, utcnow, vn_date
from services.courses.usecases.conflicts import _lock_bookings, _raise_conflicts, find_conflicts
from services.courses.usecases.queries import _counts, _course, _state
from services.courses.usecases.scheduling import _capacity, _roster_changed


def new_token() -> str:
    """An unguessable token (a session's check-in link, an enrollment's personal check-in)."""
    return secrets.token_urlsafe(24)


def enroll(session: Session, course_id: str, civil_servant_ids: list[str], now: datetime | None = None,
           within: str | None = None) -> dict:
    """Enroll trainees (beyond capacity they wait); in a booked course a clash refuses the whole request.
    `within`: the caller's unit (shared.auth.unit_scope); a trainee of another is refused (Forbidden)."""
    course = _course(session, course_id, lock=True)
    ids = list(dict.fromkeys(civil_servant_ids))
    known = {t.civil_servant_id: t for t in session.scalars(sa.select(Trainee).where(
        Trainee.civil_servant_id.in_(ids)))}
    missing = [i for i in ids if i not in known]
    if missing:
        raise Invalid(f"Không có công chức mã {', '.join(missing[:5])} trong danh sách (chưa đồng bộ từ nhu cầu).",
                      field="civil_servant_ids")
    check_trainees(session, within, ids, "civil_servant_ids")
    gone = [known[i].code for i in ids if known[i].employment_status == "left"]
    if gone:
        raise Invalid(f"Công chức đã nghỉ việc: {', '.join(gone[:5])}.", field="civil_servant_ids")
    if course.status not in domain.ENROLLABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)}, không thể ghi danh.", field="course_id")
    have = {e.civil_servant_id: e for e in session.scalars(sa.select(Enrollment).where(
        Enrollment.course_id == course_id))}
    todo = [i for i in ids if i not in have or have[i].status == "withdrawn"]
    cap = _capacity(session, course)
    seated = _counts(session, course_id).get(ACTIVE_ENROLLMENT, 0)
    free = None if cap is None else max(cap - seated, 0)
    seat = todo if free is None else todo[:free]
    if course.status in domain.BOOKING_STATUSES and seat:
        _lock_bookings(session)
        _raise_conflicts(find_conflicts(session, course, [known[i] for i in seat]), "civil_servant_ids")
    candidates = {c.civil_servant_id: c for c in session.scalars(sa.select(CourseCandidate).where(
        CourseCandidate.course_id == course_id, CourseCandidate.civil_servant_id.in_(todo)))} if todo else {}
    now = now or utcnow()
    out = {"count": len(todo), "enrolled": 0, "waitlisted": 0}
    for i in todo:
        status = ACTIVE_ENROLLMENT if i in seat else "waitlisted"
        out["enrolled" if status == ACTIVE_ENROLLMENT else "waitlisted"] += 1
        cand = candidates.get(i)
        row = have.get(i) or Enrollment(course_id=course_id, civil_servant_id=i, token=new_token())
        row.enrolled_at, row.status, row.withdrawn_at = now, status, None
        row.status_reason = None if status == ACTIVE_ENROLLMENT else "Lớp đã đủ chỗ: vào danh sách chờ."
        row.priority_score = cand.priority_score if cand else row.priority_score
        row.need_ids = list(cand.need_ids) if cand else (row.need_ids or [])
        session.add(row)
    if out["enrolled"]:
        _roster_changed(session, course)
    return out


def withdraw(session: Session, course_id: str, civil_servant_id: str, reason: str,
             now: datetime | None = None, within: str | None = None) -> dict:
    """Withdraw a trainee; the first waitlisted trainee who does not clash takes the seat."""
    course = _course(session, course_id, lock=True)
    check_trainees(session, within, [civil_servant_id], "civil_servant_id")
    if course.status not in domain.ENROLLABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)}, không thể rút tên.", field="course_id")
    row = session.get(Enrollment, (course_id, civil_servant_id))
    if row is None or row.status == "withdrawn":
        raise NotFound("Học viên không có trong lớp.", field="civil_servant_id")
    was_enrolled = row.status == ACTIVE_ENROLLMENT
    now = now or utcnow()
    row.status, row.status_reason, row.withdrawn_at = "withdrawn", reason, now
    session.flush()
    promotions = _promote(session, course, now) if was_enrolled else []
    if was_enrolled:
        _roster_changed(session, course)  # the withdrawal and any promotions: one revision
    return {"withdrawn": civil_servant_id, "promotions": promotions}


def _promote(session: Session, course: Course, now: datetime | None = None) -> list[dict]:
    """Fill free seats from the waitlist by priority; a trainee who would clash is skipped with the reason."""
    cap = _capacity(session, course)
    seated = _counts(session, course.id).get(ACTIVE_ENROLLMENT, 0)
    waiting = list(session.scalars(sa.select(Enrollment).where(Enrollment.course_id == course.id,
                                                               Enrollment.status == "waitlisted")))
    by_id = {e.civil_servant_id: e for e in waiting}
    order = domain.waitlist_order([(e.civil_servant_id, e.priority_score, e.enrolled_at) for e in waiting])
    out = []
    for cs in order:
        if cap is not None and seated >= cap:
            break
        row, trainee = by_id[cs], session.get(Trainee, cs)
        if trainee.employment_status == "left":
            continue
        if course.status in domain.BOOKING_STATUSES:
            _lock_bookings(session)
            clash = find_conflicts(session, course, [trainee])
            if clash:
                row.status_reason = (f"Không chuyển vào lớp ngày {vn_date(local_today(now))}: "
                                     f"{clash[0].message}")
                out.append({"civil_servant_id": cs, "promoted": False, "reason": row.status_reason})
                continue
        row.status, row.status_reason = ACTIVE_ENROLLMENT, "Chuyển từ danh sách chờ."
        seated += 1
        session.flush()
        out.append({"civil_servant_id": cs, "promoted": True, "reason": row.status_reason})
    return out
