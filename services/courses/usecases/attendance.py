"""Attendance the officer records (lists and the sheet import: confirmed as recorded) and test results; the
trainees' own QR check-ins are in checkin.py."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain
from services.courses.domain import ACTIVE_ENROLLMENT
from services.courses.usecases.scope import NOT_YOUR_SESSION, check_sessions, check_teaches, check_trainees
from services.courses.models import Attendance, Enrollment, TestResult, Trainee
from services.courses import formats
from shared.db import upsert
from shared.errors import Conflict, Forbidden, Invalid
from shared.localtime import utcnow
from shared.tabular import RowErrors, read_table
from services.courses.usecases.queries import _course, _state, course_sessions


def record_attendance(session: Session, course_id: str, records: list[dict], now: datetime | None = None,
                      within: str | None = None, lecturer: str | None = None) -> int:
    """Record presence (or an excused absence) per session and trainee; the last entry wins. `within`: the
    caller's unit (shared.auth.unit_scope); a record of a trainee of another is refused (Forbidden). `lecturer`:
    the caller's lecturer record (shared.auth.lecturer_scope); a record of a session another lecturer teaches is
    refused (Forbidden naming records.i.session_id), and so is a course where they teach no session."""
    course = _course(session, course_id, lock=True, venue=False)
    # the sessions as rows, read once (issue 16: the ORM's lazy load of them cost 10 % of the request's Python calls)
    sessions = course_sessions(session, course_id)
    check_teaches(course, lecturer, sessions)
    check_trainees(session, within, [r["civil_servant_id"] for r in records], "records.{i}.civil_servant_id")
    check_sessions(course, lecturer, [r["session_id"] for r in records], "records.{i}.session_id", sessions)
    session_ids = {s.id for s in sessions}
    enrolled = set(session.scalars(sa.select(Enrollment.civil_servant_id).where(
        Enrollment.course_id == course_id, Enrollment.status.in_((ACTIVE_ENROLLMENT, "withdrawn")))))
    for i, r in enumerate(records):
        if r["session_id"] not in session_ids:
            raise Invalid("Buổi học không thuộc lớp này.", field=f"records.{i}.session_id")
        if r["civil_servant_id"] not in enrolled:
            raise Invalid("Học viên chưa ghi danh vào lớp.", field=f"records.{i}.civil_servant_id")
        if r["present"] and r.get("excused"):
            raise Invalid("Có mặt thì không thể đồng thời vắng có phép.", field=f"records.{i}.excused")
    if course.status not in ("confirmed", "in_progress"):
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)}, chưa thể điểm danh (cần được xác nhận kinh phí).",
                       field="course_id")
    course.status = domain.next_status(course.status, "teach")
    _write_attendance(session, [(r["session_id"], r["civil_servant_id"], r["present"], bool(r.get("excused")),
                                 "list") for r in records], now)
    return len(records)


def import_attendance_sheet(session: Session, course_id: str, data: bytes, filename: str,
                            now: datetime | None = None, within: str | None = None,
                            lecturer: str | None = None) -> int:
    """Read a filled-in attendance sheet (our CSV/XLSX export); every bad cell is reported and nothing is written.
    `within`, `lecturer`: as record_attendance; a lecturer's sheet may show other lecturers' sessions as they were
    recorded (the downloaded sheet does), a changed mark in such a column is refused (Forbidden naming `file`)."""
    course = _course(session, course_id)
    check_teaches(course, lecturer)
    if not data:
        raise Invalid("Chưa gửi tệp (trường «file»).", field="file")
    columns = formats.attendance_import_columns(course.sessions)
    # Bad cells and unknown codes of every line are collected and refused together (TableError): the shared
    # handler answers it (one 422 shape for every refused upload).
    errors = RowErrors()
    rows = read_table(data, filename, columns, max_rows=5000, errors=errors)
    # Lines without a code and without marks are the sheet's own footer (legend, signatures): skip them.
    rows = [r for r in rows if r["code"] or any(r.get(c.key) is not None for c in columns[1:])]
    by_code = dict(session.execute(sa.select(Trainee.code, Trainee.civil_servant_id).join(
        Enrollment, Enrollment.civil_servant_id == Trainee.civil_servant_id).where(
        Enrollment.course_id == course_id, Enrollment.status.in_((ACTIVE_ENROLLMENT, "withdrawn")))).all())
    for r in rows:
        if not r["code"]:
            errors.add(r["_line"], "code", "Thiếu mã công chức.")
        elif r["code"] not in by_code:
            errors.add(r["_line"], "code", f"Mã công chức {r['code']} không có trong lớp.")
    errors.raise_if_any()
    records = [{"session_id": s.id, "civil_servant_id": by_code[r["code"]], "present": r[f"s_{s.id}"][0],
                "excused": r[f"s_{s.id}"][1]}
               for r in rows for s in course.sessions if r.get(f"s_{s.id}") is not None]
    if lecturer is not None:
        records = _own_or_unchanged(session, course, lecturer, records)
    if not records:
        raise Invalid("Tệp không có ô điểm danh nào được điền.", field="file")
    return record_attendance(session, course_id, records, now, within, lecturer)


def _mark(present: bool, excused: bool) -> str:
    return "x" if present else ("P" if excused else "v")


def _own_or_unchanged(session: Session, course, lecturer: str, records: list[dict]) -> list[dict]:
    """A lecturer's sheet records: those of their own sessions; another lecturer's cell only as it was recorded
    (the mark the sheet shows for it) — dropped — or refused with the column's heading."""
    others = {s.id: s for s in course.sessions if s.lecturer_id != lecturer}
    if not others:
        return records
    shown = {(a.session_id, a.civil_servant_id): _mark(a.present and a.confirmation == "confirmed", a.excused)
             for a in session.scalars(sa.select(Attendance).where(Attendance.session_id.in_(sorted(others))))
             if a.confirmation != "pending"}
    kept = []
    for r in records:
        if r["session_id"] not in others:
            kept.append(r)
        elif shown.get((r["session_id"], r["civil_servant_id"])) != _mark(r["present"], r["excused"]):
            heading = formats.attendance_import_columns([others[r["session_id"]]])[1].header
            raise Forbidden(f"Cột «{heading}»: {NOT_YOUR_SESSION}", field="file")
    return kept


def _write_attendance(session: Session, rows: list[tuple[str, str, bool, bool, str]],
                      now: datetime | None = None) -> None:
    """The records as one upsert (the last entry of a pair wins): new and changed rows cost the same statement, not
    one UPDATE per run of rows with the same changed columns. The officer's record replaces a self check-in,
    pending or reviewed: it is confirmed and its review cleared."""
    now = now or utcnow()
    last = {(session_id, cs): {"session_id": session_id, "civil_servant_id": cs, "present": present,
                               "excused": excused, "method": method, "recorded_at": now,
                               "confirmation": "confirmed", "reviewed_at": None}
            for session_id, cs, present, excused, method in rows}
    session.flush()  # pending ORM changes first (statement order as written)
    upsert(session, Attendance.__table__, list(last.values()), ["session_id", "civil_servant_id"],
           ["present", "excused", "method", "recorded_at", "confirmation", "reviewed_at"])
    # ORM copies of these rows loaded earlier in this unit of work would be stale: read them again if used.
    for obj in [o for o in session.identity_map.values() if isinstance(o, Attendance)]:
        session.expire(obj)


def record_results(session: Session, course_id: str, scores: list[dict], now: datetime | None = None,
                   lecturer: str | None = None) -> int:
    """Record test scores 0–10 (pre/post/module, per competency); the last entry wins. `lecturer`: the caller's
    lecturer record (shared.auth.lecturer_scope); a course where they teach no session is refused (Forbidden)."""
    course = _course(session, course_id, lock=True)
    check_teaches(course, lecturer)
    enrolled = set(session.scalars(sa.select(Enrollment.civil_servant_id).where(
        Enrollment.course_id == course_id, Enrollment.status == ACTIVE_ENROLLMENT)))
    for i, s in enumerate(scores):
        if s["civil_servant_id"] not in enrolled:
            raise Invalid("Học viên chưa ghi danh vào lớp.", field=f"scores.{i}.civil_servant_id")
    if course.status not in ("confirmed", "in_progress"):
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)}, không thể ghi điểm.", field="course_id")
    now = now or utcnow()
    for s in scores:
        key = (course_id, s["civil_servant_id"], s["kind"], s.get("competency_code") or "")
        row = session.get(TestResult, key)
        if row is None:
            session.add(TestResult(course_id=course_id, civil_servant_id=s["civil_servant_id"], kind=s["kind"],
                                   competency_code=s.get("competency_code") or "", score=s["score"],
                                   recorded_at=now))
        else:
            row.score, row.recorded_at = s["score"], now
    return len(scores)
