"""QR check-in with a personal credential (issue 12, finding 6).

Each enrolled trainee has their own check-in link, made of the enrollment's unguessable token: opened during a
session's check-in window it records that trainee — and only that trainee — present. A civil-servant code is no
credential any more (codes are sequential: TB-0001…). A self check-in is recorded as *pending*; the officer lists
the self check-ins of a session and confirms or rejects them, one by one or all at once, and only confirmed
attendance counts towards completion, certificates and money (TT 01/2018: a certificate needs full attendance;
learner support is paid per day attended). Attendance the officer records by list or sheet is confirmed as it is.

Refused attempts (an unknown link or personal token, a staff code posted to a session link) are kept in
`checkin_failures` and limited per session link and per client over a sliding window (the limits are settings:
a security measure, not a regulation); over a limit every attempt from there is refused (Throttled) until the
window has passed. A refused attempt is *returned* as `Refused(error)` with the failure added to the caller's unit
of work — raising would have rolled the count back — and the caller answers the error once it has committed.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain
from services.courses.domain import ACTIVE_ENROLLMENT, CONFIRMATIONS
from services.courses.models import Attendance, CheckinFailure, Course, CourseSession, Enrollment, Trainee
from shared.errors import Conflict, DomainError, Invalid, NotFound, Throttled
from shared.localtime import utcnow
from services.courses.usecases.queries import _course, _state
from services.courses.usecases.scope import check_sessions, check_teaches

CHECKIN_STATUSES = ("confirmed", "in_progress")  # funding confirmed, teaching not finished
DECISIONS = {"confirm": "confirmed", "reject": "rejected"}
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class CheckinLimits:
    """Refused attempts allowed per session link and per client within `window_minutes` (from the settings)."""

    per_link: int
    per_client: int
    window_minutes: int


class CountedFailure(DomainError):
    """A refusal that counts towards the attempt limits; `session_id` is the session link tried, if it exists."""

    def __init__(self, message: str, field: str, session_id: str | None = None):
        super().__init__(message, field=field)
        self.session_id = session_id


@dataclass(frozen=True)
class Refused:
    """A refused attempt, already counted in the caller's unit of work: commit it, then answer `error`."""

    error: DomainError


class UnknownLink(CountedFailure, NotFound):
    """An unknown session link or personal token (404)."""


class RefusedCredential(CountedFailure, Invalid):
    """A credential that does not check anyone in here: a staff code, another course's token (422)."""


# --- attempt limits ----------------------------------------------------------------------------------------------

def _refuse_if_throttled(session: Session, client_key: str, session_id: str | None, limits: CheckinLimits,
                         now: datetime) -> None:
    since = now - timedelta(minutes=limits.window_minutes)
    recent = sa.select(sa.func.count()).select_from(CheckinFailure).where(CheckinFailure.failed_at > since)
    wait = f"vui lòng thử lại sau {limits.window_minutes} phút hoặc liên hệ cán bộ lớp"
    if session.scalar(recent.where(CheckinFailure.client_key == client_key)) >= limits.per_client:
        raise Throttled(f"Thiết bị này đã điểm danh không thành công quá nhiều lần; {wait}.", field="token",
                        retry_after=limits.window_minutes * 60)
    if session_id and session.scalar(recent.where(CheckinFailure.session_id == session_id)) >= limits.per_link:
        raise Throttled(f"Đường dẫn điểm danh này đã bị thử sai quá nhiều lần; {wait}.", field="token",
                        retry_after=limits.window_minutes * 60)


def _record_failure(session: Session, client_key: str, session_id: str | None, limits: CheckinLimits,
                    now: datetime) -> None:
    """Keep one refused attempt; forget those older than the window."""
    session.execute(sa.delete(CheckinFailure).where(
        CheckinFailure.failed_at < now - timedelta(minutes=limits.window_minutes)))
    session.add(CheckinFailure(session_id=session_id, client_key=client_key, failed_at=now))


def _counting(use_case):
    """Run a trainee-side use case; a CountedFailure is recorded in the same unit of work and returned as Refused.
    Nothing is written before a credential is refused, so committing keeps only the failure."""
    @functools.wraps(use_case)
    def run(session: Session, *args, client_key: str, limits: CheckinLimits, now: datetime | None = None,
            **kwargs):
        now = now or utcnow()
        try:
            return use_case(session, *args, client_key=client_key, limits=limits, now=now, **kwargs)
        except CountedFailure as err:
            _record_failure(session, client_key, err.session_id, limits, now)
            return Refused(err)
    return run


# --- the trainee's side ------------------------------------------------------------------------------------------

def _plausible(token: str | None) -> bool:
    """A token as new_token makes them (URL-safe base64, 32 characters); anything else is not looked up."""
    return bool(token) and TOKEN_SHAPE.fullmatch(token) is not None


def _session_by_token(session: Session, token: str) -> CourseSession:
    row = session.scalar(sa.select(CourseSession).where(CourseSession.checkin_token == token)) \
        if _plausible(token) else None
    if row is None:
        raise UnknownLink("Đường dẫn điểm danh không hợp lệ.", field="token")
    return row


def _enrollment_by_token(session: Session, token: str) -> Enrollment:
    row = session.scalar(sa.select(Enrollment).where(Enrollment.token == token)) if _plausible(token) else None
    if row is None:
        raise UnknownLink("Đường dẫn điểm danh cá nhân không hợp lệ.", field="token")
    return row


def _describe(course: Course, row: CourseSession | None) -> dict:
    out = {"course_code": course.code, "course_title": course.title}
    if row is not None:
        out.update(session_id=row.id, date=row.date, buoi=row.buoi, buoi_vi=domain.BUOI_VI[row.buoi],
                   starts_at=row.starts_at, ends_at=row.ends_at)
    return out


def _open_session(course: Course, now: datetime) -> CourseSession | None:
    """The course's session whose check-in window holds `now` (the earliest, should two windows overlap)."""
    return next((s for s in course.sessions if s.starts_at and domain.checkin_open(now, s.starts_at, s.ends_at)),
                None)


@_counting
def checkin_page(session: Session, token: str, *, client_key: str, limits: CheckinLimits, now: datetime) -> dict:
    """Describe the session a session link belongs to (the page asks for the trainee's own link)."""
    _refuse_if_throttled(session, client_key, None, limits, now)
    row = _session_by_token(session, token)
    _refuse_if_throttled(session, client_key, row.id, limits, now)
    return _describe(session.get(Course, row.course_id), row)


@_counting
def personal_checkin_page(session: Session, enrollment_token: str, *, client_key: str, limits: CheckinLimits,
                          now: datetime) -> dict:
    """Describe a trainee's own check-in link: the course and the session open for check-in now, if any."""
    _refuse_if_throttled(session, client_key, None, limits, now)
    enrollment = _enrollment_by_token(session, enrollment_token)
    course = session.get(Course, enrollment.course_id)
    return {**_describe(course, _open_session(course, now)), "personal": True}


@_counting
def check_in(session: Session, enrollment_token: str | None, *, client_key: str, limits: CheckinLimits, now: datetime,
             session_token: str | None = None, code: str | None = None) -> dict:
    """Record the holder of a personal check-in link present, pending the officer's confirmation.

    With `session_token` (the session's QR link) the personal token must belong to that session's course and the
    session must be open; without it the course's session open now is taken. A civil-servant code alone is refused.
    """
    _refuse_if_throttled(session, client_key, None, limits, now)
    row = _session_by_token(session, session_token) if session_token else None
    if row is not None:
        _refuse_if_throttled(session, client_key, row.id, limits, now)
    if not enrollment_token:
        raise RefusedCredential("Không điểm danh bằng mã công chức được nữa: hãy mở đường dẫn (mã QR) điểm danh "
                                "riêng mà cán bộ lớp đã gửi cho anh/chị.", field="code" if code else "t",
                                session_id=row.id if row else None)
    enrollment = session.scalar(sa.select(Enrollment).where(Enrollment.token == enrollment_token)) \
        if _plausible(enrollment_token) else None
    if enrollment is None or (row is not None and enrollment.course_id != row.course_id):
        if row is None:
            raise UnknownLink("Đường dẫn điểm danh cá nhân không hợp lệ.", field="token")
        raise RefusedCredential("Đường dẫn điểm danh cá nhân không hợp lệ hoặc không thuộc lớp này.", field="t",
                                session_id=row.id)
    if enrollment.status != ACTIVE_ENROLLMENT:
        raise Conflict("Anh/chị không còn trong danh sách chính thức của lớp này.", field="token")
    course = _course(session, enrollment.course_id, lock=True)
    if course.status not in CHECKIN_STATUSES:
        raise Conflict("Lớp chưa mở hoặc đã kết thúc, không thể điểm danh.", field="token")
    if row is None:
        row = _open_session(course, now)
    elif row.starts_at and not domain.checkin_open(now, row.starts_at, row.ends_at):
        row = None
    if row is None:
        raise Invalid("Ngoài giờ điểm danh của buổi học (từ 60 phút trước giờ học đến khi kết thúc).",
                      field="token")
    confirmation = _record_self_checkin(session, row.id, enrollment.civil_servant_id, now)
    course.status = domain.next_status(course.status, "teach")
    return {**_describe(course, row), "checked_in": True, "confirmation": confirmation}


def _record_self_checkin(session: Session, session_id: str, civil_servant_id: str, now: datetime) -> str:
    row = session.get(Attendance, (session_id, civil_servant_id))
    if row is None:
        session.add(Attendance(session_id=session_id, civil_servant_id=civil_servant_id, present=True, excused=False,
                               method="qr", confirmation="pending", recorded_at=now))
        return "pending"
    if row.confirmation == "rejected":
        raise Conflict("Cán bộ lớp đã không xác nhận lần điểm danh của anh/chị ở buổi này; vui lòng liên hệ cán bộ "
                       "lớp.", field="token")
    if row.confirmation == "confirmed" and not row.present:
        raise Conflict("Cán bộ lớp đã ghi nhận buổi này cho anh/chị; vui lòng liên hệ cán bộ lớp nếu có sai sót.",
                       field="token")
    return row.confirmation  # already pending, or present and confirmed: nothing changes


# --- the officer's side ------------------------------------------------------------------------------------------

def _course_session(session: Session, course_id: str, session_id: str,
                    lecturer: str | None = None) -> tuple[Course, CourseSession]:
    """The course and one of its sessions; `lecturer` (shared.auth.lecturer_scope): only a session they teach."""
    course = _course(session, course_id)
    row = next((s for s in course.sessions if s.id == session_id), None)
    if row is None:
        raise NotFound("Buổi học không thuộc lớp này.", field="session_id")
    check_sessions(course, lecturer, [session_id], "session_id")
    return course, row


def session_checkin_link(session: Session, course_id: str, session_id: str, lecturer: str | None = None) -> str:
    """Return a session's check-in token (its QR link, shown in the room; a trainee still needs their own link)."""
    return _course_session(session, course_id, session_id, lecturer)[1].checkin_token


def personal_checkin_links(session: Session, course_id: str, lecturer: str | None = None) -> list[dict]:
    """Each enrolled trainee's own check-in token (the view makes links and QR images of them), by code."""
    check_teaches(_course(session, course_id), lecturer)
    return [{"civil_servant_id": e.civil_servant_id, "code": code, "token": e.token}
            for e, code in session.execute(sa.select(Enrollment, Trainee.code).join(
                Trainee, Trainee.civil_servant_id == Enrollment.civil_servant_id).where(
                Enrollment.course_id == course_id, Enrollment.status == ACTIVE_ENROLLMENT).order_by(Trainee.code))]


def personal_checkin_token(session: Session, course_id: str, civil_servant_id: str,
                           lecturer: str | None = None) -> str:
    """One enrolled trainee's own check-in token (for their QR code)."""
    check_teaches(_course(session, course_id), lecturer)
    e = session.get(Enrollment, (course_id, civil_servant_id))
    if e is None or e.status != ACTIVE_ENROLLMENT:
        raise NotFound("Học viên không có trong danh sách chính thức của lớp.", field="civil_servant_id")
    return e.token


def list_self_checkins(session: Session, course_id: str, session_id: str, confirmation: str | None = None,
                       lecturer: str | None = None) -> dict:
    """The trainees' own check-ins of a session (pending first), with how many still wait for the officer."""
    _course_session(session, course_id, session_id, lecturer)
    stmt = (sa.select(Attendance, Trainee.code).join(Trainee, Trainee.civil_servant_id == Attendance.civil_servant_id)
            .where(Attendance.session_id == session_id, Attendance.method == "qr"))
    if confirmation:
        stmt = stmt.where(Attendance.confirmation == confirmation)
    rows = session.execute(stmt).all()
    order = {c: i for i, c in enumerate(CONFIRMATIONS)}
    items = [{"civil_servant_id": a.civil_servant_id, "code": code, "confirmation": a.confirmation,
              "checked_in_at": a.recorded_at, "reviewed_at": a.reviewed_at}
             for a, code in sorted(rows, key=lambda r: (order[r[0].confirmation], r[1]))]
    pending = session.scalar(sa.select(sa.func.count()).select_from(Attendance).where(
        Attendance.session_id == session_id, Attendance.method == "qr", Attendance.confirmation == "pending"))
    return {"session_id": session_id, "pending": pending, "items": items}


def review_self_checkins(session: Session, course_id: str, session_id: str, decision: str,
                         civil_servant_ids: list[str] | None = None, now: datetime | None = None,
                         lecturer: str | None = None) -> dict:
    """Confirm or reject self check-ins of a session: the named trainees' (a decision may be changed), or every
    pending one when none is named. A confirmed self check-in counts as presence; a rejected one does not."""
    course = _course(session, course_id, lock=True)
    if all(s.id != session_id for s in course.sessions):
        raise NotFound("Buổi học không thuộc lớp này.", field="session_id")
    check_sessions(course, lecturer, [session_id], "session_id")
    if decision not in DECISIONS:
        raise Invalid("Quyết định phải là «confirm» hoặc «reject».", field="decision")
    if course.status not in CHECKIN_STATUSES:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)}: không còn xác nhận điểm danh được.",
                       field="course_id")
    stmt = sa.select(Attendance).where(Attendance.session_id == session_id, Attendance.method == "qr")
    if civil_servant_ids is None:
        rows = list(session.scalars(stmt.where(Attendance.confirmation == "pending")))
    else:
        ids = list(dict.fromkeys(civil_servant_ids))
        found = {a.civil_servant_id: a for a in session.scalars(stmt.where(Attendance.civil_servant_id.in_(ids)))}
        missing = [i for i, cs in enumerate(civil_servant_ids) if cs not in found]
        if missing:
            raise Invalid("Học viên này không tự điểm danh ở buổi học.", field=f"civil_servant_ids.{missing[0]}")
        rows = [found[i] for i in ids]
    now = now or utcnow()
    for a in rows:
        a.confirmation, a.reviewed_at = DECISIONS[decision], now
    session.flush()
    return {"decision": decision, "count": len(rows),
            "pending": list_self_checkins(session, course_id, session_id)["pending"]}
