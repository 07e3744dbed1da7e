"""Conflict checks: every booking that could clash, indexed in memory (BookingIndex), and the booking lock."""
from __future__ import annotations

from collections import defaultdict
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain
from services.courses.domain import ACTIVE_ENROLLMENT
from services.courses.models import CommuneDutyRule, Course, CourseSession, Enrollment, Trainee, Venue
from shared.db import is_postgres
from shared.errors import Conflict
from services.courses.usecases.queries import _chunks, _course, _effective_venue, _enrolled_trainees


def _new_sessions(course: Course) -> list[domain.NewSession]:
    return [domain.NewSession(s.id, s.date, s.buoi, s.lecturer_id, _effective_venue(course, s))
            for s in course.sessions]


BOOKING_LOCK = 0x636F7572  # one PostgreSQL advisory lock key for every change that books people, rooms or lecturers


def _lock_bookings(session: Session) -> None:
    """Serialise booking changes: two requests checked in parallel would each miss the other's new sessions.

    The lock is held to the end of the transaction; checks take milliseconds (see tools/bench_courses.py). SQLite
    already serialises writers with BEGIN IMMEDIATE.
    """
    if is_postgres(session):
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": BOOKING_LOCK})


class BookingIndex:
    """Every booking that could clash with a set of courses, loaded with a few set-based queries and indexed in
    memory by (resource, date, buổi): each new session costs dictionary look-ups, never a loop over pairs.

    Courses accepted one after another are booked into the same index, so a batch is checked against itself too.
    """

    def __init__(self, session: Session, exclude: set[str], sessions: list[domain.NewSession],
                 trainees: list[Trainee]):
        self.index = domain.ConflictIndex()
        self.away: dict[str, set[date]] = defaultdict(set)  # trainee → dates already away on a booked course
        self.counts: dict[tuple[date, str], int] = defaultdict(int)  # (date, commune) → distinct staff away
        self.staff: dict[str, int] = {}
        self.limits: dict[tuple[date, str], int | None] = {}
        self.labels: dict[str, str] = {t.civil_servant_id: t.code for t in trainees}
        dates = sorted({s.date for s in sessions})
        if not dates:
            return
        lecturer_ids = sorted({s.lecturer_id for s in sessions if s.lecturer_id})
        venue_ids = sorted({s.venue_id for s in sessions if s.venue_id})
        trainee_ids = sorted({t.civil_servant_id for t in trainees})
        communes = sorted({t.commune_code for t in trainees})
        venue_expr = sa.case((Course.form == "online", None), else_=sa.func.coalesce(CourseSession.venue_id,
                                                                                     Course.venue_id))
        booked = [Course.status.in_(domain.BOOKING_STATUSES), CourseSession.date.in_(dates)]
        if exclude:
            booked.append(Course.id.not_in(sorted(exclude)))
        base = (sa.select(CourseSession.id, Course.id, Course.code, CourseSession.date, CourseSession.buoi)
                .join(Course, Course.id == CourseSession.course_id).where(*booked))
        if lecturer_ids or venue_ids:
            rows = session.execute(base.add_columns(CourseSession.lecturer_id, venue_expr).where(sa.or_(
                CourseSession.lecturer_id.in_(lecturer_ids or [""]), venue_expr.in_(venue_ids or [""]))))
            for sid, cid, code, d, buoi, lid, vid in rows:
                booking = domain.Booking(sid, cid, code, d, buoi)
                self.index.lecturer.setdefault((lid, d, buoi), booking)
                if vid:
                    self.index.venue.setdefault((vid, d, buoi), booking)
        for chunk in _chunks(trainee_ids, 900):
            rows = session.execute(base.add_columns(Enrollment.civil_servant_id)
                                   .join(Enrollment, Enrollment.course_id == Course.id)
                                   .where(Enrollment.status == ACTIVE_ENROLLMENT,
                                          Enrollment.civil_servant_id.in_(chunk)))
            for sid, cid, code, d, buoi, cs in rows:
                self.index.trainee.setdefault((cs, d, buoi), domain.Booking(sid, cid, code, d, buoi))
                self.away[cs].add(d)
        if not communes:
            return
        rows = session.execute(
            sa.select(CourseSession.date, Trainee.commune_code,
                      sa.func.count(sa.distinct(Enrollment.civil_servant_id)))
            .join(Course, Course.id == CourseSession.course_id)
            .join(Enrollment, Enrollment.course_id == Course.id)
            .join(Trainee, Trainee.civil_servant_id == Enrollment.civil_servant_id)
            .where(*booked, Enrollment.status == ACTIVE_ENROLLMENT, Trainee.commune_code.in_(communes))
            .group_by(CourseSession.date, Trainee.commune_code))
        for d, commune, n in rows:
            self.counts[(d, commune)] = n
        self.staff = dict(session.execute(sa.select(Trainee.commune_code, sa.func.count()).where(
            Trainee.commune_code.in_(communes), Trainee.employment_status != "left")
            .group_by(Trainee.commune_code)).all())
        # The on-duty share in force on each session date: the commune's own version, else the default '*'.
        rules = session.scalars(sa.select(CommuneDutyRule).where(
            CommuneDutyRule.commune_code.in_([*communes, "*"]), CommuneDutyRule.valid_from <= dates[-1],
            sa.or_(CommuneDutyRule.valid_to.is_(None), CommuneDutyRule.valid_to >= dates[0]))).all()

        def in_force(code: str, d: date) -> int | None:
            found = [r for r in rules if r.commune_code == code and r.valid_from <= d
                     and (r.valid_to is None or r.valid_to >= d)]
            return max(found, key=lambda r: r.valid_from).max_absent_percent if found else None

        for d in dates:
            for c in communes:
                pct = in_force(c, d)
                self.limits[(d, c)] = pct if pct is not None else in_force("*", d)

    def check(self, sessions: list[domain.NewSession], trainees: list[Trainee]) -> list[domain.Conflict]:
        """Double bookings, then days on which a commune would exceed its share with these trainees away."""
        out = domain.find_conflicts(sessions, [t.civil_servant_id for t in trainees], self.index, self.labels)
        dates = sorted({s.date for s in sessions})
        added: dict[tuple[date, str], int] = defaultdict(int)
        for t in trainees:
            for d in dates:
                added[(d, t.commune_code)] += d not in self.away.get(t.civil_servant_id, ())
        first: dict[date, str] = {}
        for s in sorted(sessions, key=lambda s: (s.date, s.buoi != "morning")):
            first.setdefault(s.date, s.session_id)
        absent = {key: self.counts.get(key, 0) + n for key, n in added.items()}
        return out + domain.commune_share_conflicts(absent, self.staff, self.limits, first)

    def book(self, course_id: str, code: str, sessions: list[domain.NewSession], trainees: list[Trainee]) -> None:
        """Add an accepted course's sessions and trainees to the index (later courses of a batch see them)."""
        for s in sessions:
            booking = domain.Booking(s.session_id, course_id, code, s.date, s.buoi)
            if s.lecturer_id:
                self.index.lecturer.setdefault((s.lecturer_id, s.date, s.buoi), booking)
            if s.venue_id:
                self.index.venue.setdefault((s.venue_id, s.date, s.buoi), booking)
            for t in trainees:
                self.index.trainee.setdefault((t.civil_servant_id, s.date, s.buoi), booking)
        for t in trainees:
            for d in {s.date for s in sessions} - self.away[t.civil_servant_id]:
                self.counts[(d, t.commune_code)] += 1
                self.away[t.civil_servant_id].add(d)


def _add_labels(session: Session, checker: BookingIndex, courses: list[Course]) -> None:
    venue_ids = set()
    for course in courses:
        for s in course.sessions:
            checker.labels[s.lecturer_id] = s.lecturer.name
            if v := _effective_venue(course, s):
                venue_ids.add(v)
    if venue_ids:
        checker.labels.update(dict(session.execute(sa.select(Venue.id, Venue.name).where(
            Venue.id.in_(sorted(venue_ids)))).all()))


def find_conflicts(session: Session, course: Course, trainees: list[Trainee] | None = None) -> list[domain.Conflict]:
    """Every double booking and commune-share breach the course (or these trainees in it) would cause."""
    trainees = _enrolled_trainees(session, course.id) if trainees is None else trainees
    sessions = _new_sessions(course)
    checker = BookingIndex(session, {course.id}, sessions, trainees)
    _add_labels(session, checker, [course])
    return checker.check(sessions, trainees)


def course_conflicts(session: Session, course_id: str) -> list[dict]:
    """Preview the conflicts scheduling the course would meet (nothing is changed)."""
    course = _course(session, course_id)
    return [c.__dict__ for c in find_conflicts(session, course)]


def _raise_conflicts(conflicts: list[domain.Conflict], field: str) -> None:
    if conflicts:
        more = f" (và {len(conflicts) - 3} xung đột khác)" if len(conflicts) > 3 else ""
        raise Conflict("Xung đột lịch: " + " ".join(c.message for c in conflicts[:3]) + more, field=field)
