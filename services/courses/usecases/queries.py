"""Read models of courses: the course, its participants, lists, the calendar and document rows (reads only)."""
from __future__ import annotations

import functools
from collections import defaultdict
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Session

from services.courses import domain, formats
from services.courses.domain import ACTIVE_ENROLLMENT
from services.courses.usecases.scope import check_teaches, ids_within, trainee_in
from services.courses.models import (Attendance, Course, CourseCandidate, CourseSession, Enrollment, Lecturer,
    TestResult, Topic, Trainee, Venue)
from shared.errors import Invalid, NotFound
from shared.localtime import local_today, utcnow
from services.courses.usecases.rules import _course_rule


def _state(status: str) -> str:
    """A course state as officers read it in messages: «đã xếp lịch», never the code."""
    return f"«{formats.STATUS_VI.get(status, status)}»"


def _course(session: Session, course_id: str, *, lock: bool = False, venue: bool = True) -> Course:
    """The course (404 if none); `venue=False`: its venue (and the venue's distances) loaded only when read."""
    stmt = sa.select(Course).where(Course.id == course_id)
    if not venue:
        stmt = stmt.options(orm.lazyload(Course.venue))
    if lock:
        stmt = stmt.with_for_update(of=Course)  # the venue is eager-joined: lock the course row only
    course = session.scalar(stmt)
    if course is None:
        raise NotFound("Không tìm thấy lớp học.", field="course_id")
    return course


def _topic(session: Session, code: str | None, field: str = "topic_code") -> Topic | None:
    if code is None:
        return None
    topic = session.get(Topic, code)
    if topic is None:
        raise Invalid(f"Không có chuyên đề mã {code}.", field=field)
    return topic


def _venue(session: Session, venue_id: str | None, field: str = "venue_id") -> Venue | None:
    if venue_id is None:
        return None
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise Invalid("Không tìm thấy địa điểm.", field=field)
    return venue


def _effective_venue(course: Course, s: CourseSession) -> str | None:
    if course.form == "online":
        return None
    return s.venue_id or course.venue_id


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _enrolled_by_course(session: Session, course_ids: list[str]) -> dict[str, list[Trainee]]:
    out: dict[str, list[Trainee]] = {cid: [] for cid in course_ids}
    for chunk in _chunks(course_ids, 900):
        for cid, trainee in session.execute(
                sa.select(Enrollment.course_id, Trainee).join(Trainee, Enrollment.civil_servant_id ==
                                                              Trainee.civil_servant_id)
                .where(Enrollment.course_id.in_(chunk), Enrollment.status == ACTIVE_ENROLLMENT)
                .order_by(Trainee.code)):
            out[cid].append(trainee)
    return out


def _enrolled_trainees(session: Session, course_id: str) -> list[Trainee]:
    return _enrolled_by_course(session, [course_id])[course_id]


def _counts(session: Session, course_id: str) -> dict[str, int]:
    return dict(session.execute(sa.select(Enrollment.status, sa.func.count()).where(
        Enrollment.course_id == course_id).group_by(Enrollment.status)).all())


_ENROLLMENT_FIELDS = ("status", "status_reason", "priority_score", "need_ids", "certified", "certificate_no", "token")
_TRAINEE_FIELDS = ("civil_servant_id", "code", "unit_code", "commune_code", "position_code", "female",
                   "ethnic_minority", "child_under_36_months")
_KIND_ORDER = {"pre": 0, "post": 1, "module": 2}


@functools.cache
def _participant_reads() -> tuple[sa.Select, sa.Select, sa.Select]:
    """_participants' three statements, built once and read as rows, not ORM objects (issue 16: loading instances
    was most of a completion's CPU): the enrollments with their trainees, the confirmed attendance that counts
    (present, or absent with permission), the test results."""
    e, t = Enrollment.__table__, Trainee.__table__
    a, s, r = Attendance.__table__, CourseSession.__table__, TestResult.__table__
    pairs = (sa.select(*(e.c[f] for f in _ENROLLMENT_FIELDS), *(t.c[f].label(f"t_{f}") for f in _TRAINEE_FIELDS))
             .join_from(e, t, t.c.civil_servant_id == e.c.civil_servant_id)
             .where(e.c.course_id == sa.bindparam("course_id")).order_by(e.c.status, t.c.code))
    # a self check-in counts once the officer confirms it (a rejected one never); those still waiting for the
    # officer come too, counted, not applied: a completion waits for none (one statement, not a count of its own)
    attendance = (sa.select(a.c.civil_servant_id, a.c.session_id, a.c.present, a.c.excused, a.c.confirmation)
                  .join_from(a, s, s.c.id == a.c.session_id)
                  .where(s.c.course_id == sa.bindparam("course_id"), sa.or_(
                      a.c.confirmation == "confirmed", sa.and_(a.c.method == "qr", a.c.confirmation == "pending"))))
    results = (sa.select(r.c.civil_servant_id, r.c.kind, r.c.competency_code, r.c.score)
               .where(r.c.course_id == sa.bindparam("course_id")))
    return pairs, attendance, results


def _participants(session: Session, course: Course, statuses: tuple | None = None, sessions=None) -> list[dict]:
    """Each enrollment with attendance, excused absences, test scores and the certificate outcome so far
    (`sessions`: the course's sessions when the caller has read them, else the ORM's)."""
    return participants_and_pending(session, course, statuses, sessions)[0]


def participants_and_pending(session: Session, course: Course, statuses: tuple | None = None,
                             sessions=None) -> tuple[list[dict], int]:
    """_participants, and how many of the course's self check-ins still wait for the officer (read with the
    attendance: a completion, which refuses while any waits, needs no count of its own)."""
    sessions = course.sessions if sessions is None else sessions
    pairs_stmt, attendance_stmt, results_stmt = _participant_reads()
    if statuses:
        pairs_stmt = pairs_stmt.where(Enrollment.__table__.c.status.in_(statuses))
    params = {"course_id": course.id}
    session.flush()  # the reads below are rows: the unit of work's pending changes first, as a query would
    pairs = session.execute(pairs_stmt, params).all()
    slots = [domain.SessionSlot(s.id, s.date, s.buoi) for s in sessions]
    present: dict[str, set[str]] = defaultdict(set)
    excused: dict[str, set[str]] = defaultdict(set)
    pending = 0
    for cs, session_id, is_present, is_excused, confirmation in session.execute(attendance_stmt, params):
        if confirmation != "confirmed":
            pending += 1
        elif is_present:
            present[cs].add(session_id)
        elif is_excused:
            excused[cs].add(session_id)
    scores: dict[str, list[domain.Score]] = defaultdict(list)
    results = session.execute(results_stmt, params).all()
    for cs, kind, competency, score in sorted(results, key=lambda r: (_KIND_ORDER[r[1]], r[2])):
        scores[cs].append(domain.Score(kind, competency or None, score))
    required = {(s.kind, s.competency_code) for rows in scores.values() for s in rows
                if s.kind in domain.CERTIFYING_TEST_KINDS}
    # TT 01/2018: the pass score in force when the course opens applies to all its tests
    opened = min((s.date for s in sessions), default=local_today())
    pass_score = _course_rule(session, "pass_score", opened)
    out = []
    for (status, status_reason, priority_score, need_ids, certified, certificate_no, token,
         cs, code, unit_code, commune_code, position_code, female, ethnic_minority, child) in pairs:
        o = domain.participant_outcome(slots, present[cs], excused[cs], course.excused_max_percent or 0, scores[cs],
                                       required, pass_score)
        out.append({"civil_servant_id": cs, "code": code, "unit_code": unit_code,
                    "commune_code": commune_code, "position_code": position_code, "status": status,
                    "status_reason": status_reason, "priority_score": priority_score,
                    "need_ids": need_ids or [], "sessions_attended": o.sessions_attended,
                    "days_attended": o.days_attended, "excused_sessions": o.excused_sessions,
                    "completed": o.completed, "certified": certified if certified is not None else o.certified,
                    "outcome_reasons": list(o.reasons), "certificate_no": certificate_no,
                    "tests": [{"kind": s.kind, "competency_code": s.competency_code, "score": s.score}
                              for s in scores[cs]],
                    "female": female, "ethnic_minority": ethnic_minority,
                    "child_under_36_months": child, "_token": token})
    return out, pending


_HEAD_COUNTS = (ACTIVE_ENROLLMENT, "waitlisted", "withdrawn")
_COURSE_FIELDS = (
    "id", "code", "title", "organizer_unit_code", "status", "status_reason", "created_at", "completed_at",
    "topic_code", "fostering_type", "fostering_variant", "form", "venue_id", "capacity", "excused_max_percent",
    "plan_id", "plan_line_id", "revision", "scheduled_at", "confirmed_at", "cancelled_at", "reservation_id",
    "estimate_total")
_CLOSING_FIELDS = ("feedback_requested_at", "feedback_request_count", "settled_at", "settlement_total", "closed_at")
_VENUE_FIELDS = ("id", "name", "address", "capacity", "province_code", "facilities")


@functools.cache
def _course_reads() -> tuple[sa.Select, sa.Select, sa.Select]:
    """get_course's three statements, built once (constructing them cost more than SQLAlchemy's compiled cache
    saves), read as rows, not ORM objects (issue 16: identity map and instance state were most of a GET's CPU):
    the course with its venue and head-counts; the venue's distances; the sessions with their lecturers."""
    from services.courses.models import VenueDistance
    c, v, s, lec = Course.__table__, Venue.__table__, CourseSession.__table__, Lecturer.__table__
    heads = [sa.select(sa.func.count()).where(Enrollment.course_id == c.c.id, Enrollment.status == status)
             .correlate(c).scalar_subquery().label(f"n_{status}") for status in _HEAD_COUNTS]
    course = (sa.select(*(c.c[f] for f in _COURSE_FIELDS + _CLOSING_FIELDS),
                        *(v.c[f].label(f"venue_{f}") for f in _VENUE_FIELDS), *heads)
              .select_from(c.outerjoin(v, v.c.id == c.c.venue_id)).where(c.c.id == sa.bindparam("course_id")))
    d = VenueDistance.__table__
    distances = (sa.select(d.c.commune_code, d.c.km).where(d.c.venue_id == sa.bindparam("venue_id"))
                 .order_by(d.c.commune_code))
    sessions = (sa.select(s.c.id, s.c.date, s.c.buoi, s.c.periods, s.c.venue_id, s.c.starts_at, s.c.ends_at,
                          lec.c.id.label("lecturer_id"), lec.c.name.label("lecturer_name"),
                          lec.c.tier.label("lecturer_tier"))
                .join(lec, lec.c.id == s.c.lecturer_id).where(s.c.course_id == sa.bindparam("course_id"))
                .order_by(s.c.date, sa.case((s.c.buoi == "morning", 0), else_=1)))
    return course, distances, sessions


class _LecturerRef:
    __slots__ = ("id", "name", "tier")

    def __init__(self, lecturer_id: str, name: str, tier: int):
        self.id, self.name, self.tier = lecturer_id, name, tier


class _SessionRow:
    """A session as SessionSchema and the event builders read it (attributes, as the ORM object has them)."""

    __slots__ = ("id", "date", "buoi", "periods", "venue_id", "starts_at", "ends_at", "lecturer_id", "lecturer")

    def __init__(self, row):
        (self.id, self.date, self.buoi, self.periods, self.venue_id, self.starts_at, self.ends_at,
         self.lecturer_id, name, tier) = row
        self.lecturer = _LecturerRef(self.lecturer_id, name, tier)


def course_sessions(session: Session, course_id: str) -> list[_SessionRow]:
    """A course's sessions, morning before afternoon, with their lecturers — as rows, read once by a completion for
    the outcome, the event and the answer (issue 16: the ORM's lazy load of them, lecturers joined, read them again)."""
    return [_SessionRow(r) for r in session.execute(_course_reads()[2], {"course_id": course_id})]


def get_course(session: Session, course_id: str, sessions: list[_SessionRow] | None = None) -> dict:
    """Return a course with its sessions, head-counts, funding state and where its closing stands (`sessions`: the
    course's course_sessions when the caller has them already)."""
    session.flush()  # read after the use cases that return it: their changes first
    course_stmt, distances_stmt, _ = _course_reads()
    row = session.execute(course_stmt, {"course_id": course_id}).mappings().first()
    if row is None:
        raise NotFound("Không tìm thấy lớp học.", field="course_id")
    venue = None
    if row["venue_id"] is not None:
        venue = {f: row[f"venue_{f}"] for f in _VENUE_FIELDS}
        venue["distances"] = [dict(r) for r in session.execute(distances_stmt, {"venue_id": venue["id"]}).mappings()]
    return {**{f: row[f] for f in _COURSE_FIELDS},
            "venue": venue,
            "sessions": sessions if sessions is not None else course_sessions(session, course_id),
            "enrolled": row[f"n_{ACTIVE_ENROLLMENT}"], "waitlisted": row["n_waitlisted"],
            "withdrawn": row["n_withdrawn"],
            "closing": None if row["completed_at"] is None else {
                "state": domain.closing_state(row["feedback_requested_at"] is not None, row["settled_at"] is not None),
                **{f: row[f] for f in _CLOSING_FIELDS}}}


def list_courses(session: Session, status: str | None, topic_code: str | None = None) -> list[Course]:
    """List courses, newest first, optionally by status and topic."""
    stmt = sa.select(Course).order_by(Course.created_at.desc())
    if status:
        stmt = stmt.where(Course.status == status)
    if topic_code:
        stmt = stmt.where(Course.topic_code == topic_code)
    return list(session.scalars(stmt))


def list_enrollments(session: Session, course_id: str, status: str | None = None,
                     within: str | None = None, lecturer: str | None = None) -> list[dict]:
    """Return a course's trainees (enrolled, waitlisted, withdrawn) with their attendance and results so far;
    with `within` (the caller's unit), only its trainees; with `lecturer` (the caller's lecturer record), only a
    course where they teach a session (else Forbidden)."""
    course = _course(session, course_id)
    check_teaches(course, lecturer)
    rows = _participants(session, course, statuses=(status,) if status else None)
    if within is not None:
        inside = ids_within(session, within, [r["civil_servant_id"] for r in rows])
        rows = [r for r in rows if r["civil_servant_id"] in inside]
    return rows


def list_candidates(session: Session, course_id: str, within: str | None = None) -> list[CourseCandidate]:
    """List the candidates a plan line named for a course, best priority first (`within`: the caller's unit's)."""
    _course(session, course_id)
    stmt = sa.select(CourseCandidate).where(CourseCandidate.course_id == course_id).order_by(CourseCandidate.rank)
    if within is not None:
        stmt = stmt.join(Trainee, Trainee.civil_servant_id == CourseCandidate.civil_servant_id).where(
            trainee_in(within))
    return list(session.scalars(stmt))


def list_certificates(session: Session, course_id: str, within: str | None = None) -> list[dict]:
    """List the certificates issued for a course (`within`: to the caller's unit's trainees)."""
    course = _course(session, course_id)
    where = [trainee_in(within)] if within is not None else []
    return [{"civil_servant_id": e.civil_servant_id, "code": t.code, "commune_code": t.commune_code,
             "certificate_no": e.certificate_no, "course_code": course.code, "course_title": course.title}
            for e, t in session.execute(sa.select(Enrollment, Trainee).join(Trainee).where(
                Enrollment.course_id == course_id, Enrollment.certificate_no.is_not(None), *where)
                .order_by(Enrollment.certificate_no))]


def list_trainees(session: Session, commune_code: str | None, within: str | None = None) -> list[Trainee]:
    """List the civil servants known to courses, optionally of one commune; with `within`, the caller's only."""
    stmt = sa.select(Trainee).order_by(Trainee.code)
    if commune_code:
        stmt = stmt.where(Trainee.commune_code == commune_code)
    if within is not None:
        stmt = stmt.where(trainee_in(within))
    return list(session.scalars(stmt))


def list_topics(session: Session) -> list[Topic]:
    """List the topics with their competencies and content areas."""
    return list(session.scalars(sa.select(Topic).order_by(Topic.code)))


def list_venues(session: Session, min_capacity: int | None = None) -> list[Venue]:
    """List venues, optionally those holding at least `min_capacity` people."""
    stmt = sa.select(Venue).order_by(Venue.name)
    if min_capacity:
        stmt = stmt.where(Venue.capacity >= min_capacity)
    return list(session.scalars(stmt))


def list_calendar(session: Session, kind: str, ref: str, start: date | None, end: date | None) -> list[dict]:
    """Sessions of booked courses for a commune (its trainees), a lecturer or a venue, in date order."""
    stmt = (sa.select(CourseSession, Course).join(Course, Course.id == CourseSession.course_id)
            .where(Course.status.in_((*domain.BOOKING_STATUSES, "completed", "closed")))
            .order_by(CourseSession.date, CourseSession.buoi, Course.code))
    if kind == "lecturer":
        if session.get(Lecturer, ref) is None:
            raise NotFound("Không tìm thấy giảng viên.", field="lecturer_id")
        stmt = stmt.where(CourseSession.lecturer_id == ref)
    elif kind == "venue":
        if session.get(Venue, ref) is None:
            raise NotFound("Không tìm thấy địa điểm.", field="venue_id")
        stmt = stmt.where(sa.func.coalesce(CourseSession.venue_id, Course.venue_id) == ref, Course.form != "online")
    else:
        stmt = stmt.where(Course.id.in_(sa.select(Enrollment.course_id).join(Trainee).where(
            Trainee.commune_code == ref, Enrollment.status == ACTIVE_ENROLLMENT)))
    if start:
        stmt = stmt.where(CourseSession.date >= start)
    if end:
        stmt = stmt.where(CourseSession.date <= end)
    rows = session.execute(stmt).all()
    per_commune = {}
    if kind == "commune" and rows:
        per_commune = dict(session.execute(sa.select(Enrollment.course_id, sa.func.count()).join(Trainee).where(
            Trainee.commune_code == ref, Enrollment.status == ACTIVE_ENROLLMENT,
            Enrollment.course_id.in_({c.id for _, c in rows})).group_by(Enrollment.course_id)).all())
    venues = {v.id: v for v in session.scalars(sa.select(Venue))}
    out = []
    for s, c in rows:
        venue = venues.get(_effective_venue(c, s))
        out.append({"session_id": s.id, "course_id": c.id, "course_code": c.code, "title": c.title,
                    "status": c.status, "date": s.date, "buoi": s.buoi, "periods": s.periods,
                    "starts_at": s.starts_at, "ends_at": s.ends_at, "lecturer_id": s.lecturer_id,
                    "lecturer_name": s.lecturer.name, "venue_id": venue.id if venue else None,
                    "venue_name": venue.name if venue else None, "venue_address": venue.address if venue else None,
                    "form": c.form, "trainees_from_commune": per_commune.get(c.id)})
    return out


def list_document_rows(session: Session, course_id: str, within: str | None = None,
                       lecturer: str | None = None) -> tuple[Course, list[dict]]:
    """The enrolled trainees of a course with their attendance marks per session (class list, attendance sheet);
    with `within` (the caller's unit), only its trainees; with `lecturer`, only a course they teach in."""
    course = _course(session, course_id)
    check_teaches(course, lecturer)
    participants = _participants(session, course, statuses=(ACTIVE_ENROLLMENT,))
    if within is not None:
        inside = ids_within(session, within, [p["civil_servant_id"] for p in participants])
        participants = [p for p in participants if p["civil_servant_id"] in inside]
    marks: dict[tuple[str, str], str] = {}
    for a in session.scalars(sa.select(Attendance).join(CourseSession).where(CourseSession.course_id == course_id)):
        if a.confirmation == "pending":
            continue  # not decided yet: left blank for the officer
        present = a.present and a.confirmation == "confirmed"
        marks[(a.civil_servant_id, a.session_id)] = "x" if present else ("P" if a.excused else "v")
    for i, p in enumerate(participants, start=1):
        p["no"] = i
        for s in course.sessions:
            p[f"s_{s.id}"] = marks.get((p["civil_servant_id"], s.id), "")
    return course, participants


def list_unclosed_courses(session: Session, now: datetime | None = None) -> dict:
    """Completed courses not closed yet, oldest first, with what each still waits for."""
    now = now or utcnow()
    rows = session.scalars(sa.select(Course).where(Course.status == "completed").order_by(Course.completed_at)).all()
    return {"count": len(rows), "items": [{
        "course_id": c.id, "code": c.code,
        "waiting": domain.closing_state(c.feedback_requested_at is not None, c.settled_at is not None),
        "completed_seconds_ago": round((now - c.completed_at).total_seconds(), 1),
    } for c in rows]}
