"""Use cases of the courses service: each takes a session inside the caller's transaction."""
from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from services.courses import domain
from services.courses.models import OUTBOX, Attendance, BuoiTime, CertificateCounter, CommuneDutyRule, Course, \
    CourseCandidate, CourseRule, CourseSession, Enrollment, Lecturer, LecturerRating, LecturerStandard, LengthRule, \
    TestResult, Topic, Trainee, Venue, VenueDistance
from services.courses.settings import default_organizer_unit
from shared.db import insert_ignoring_conflicts, is_postgres, utcnow
from shared.errors import Conflict, Invalid, NotFound
from shared.events import Envelope

ACTIVE_ENROLLMENT = "enrolled"


def _state(status: str) -> str:
    """A course state as officers read it in messages: «đã xếp lịch», never the code."""
    return f"«{domain.STATUS_VI.get(status, status)}»"


def _token() -> str:
    return secrets.token_urlsafe(24)


# --- local copy of civil servants ------------------------------------------------------------------------------

def upsert_trainee(session: Session, payload: dict, occurred_at: datetime | None = None) -> None:
    """Keep the local copy of a civil servant up to date from needs' registered/updated event.

    `updated_at` is the event's time: an older event arriving late (a redelivered registration after an update,
    an update from before the person left) changes nothing.
    """
    occurred_at = occurred_at or utcnow()
    values = {k: payload[k] for k in ("code", "unit_code", "commune_code", "position_code", "female",
                                      "ethnic_minority", "hard_area", "child_under_36_months")}
    if payload.get("employment_status"):
        values["employment_status"] = payload["employment_status"]
    trainee = session.get(Trainee, payload["civil_servant_id"])
    if trainee is None:
        session.add(Trainee(civil_servant_id=payload["civil_servant_id"], updated_at=occurred_at,
                            **{"employment_status": "active", **values}))
    elif trainee.updated_at <= occurred_at:
        for key, value in values.items():
            setattr(trainee, key, value)
        trainee.updated_at = occurred_at


def trainee_left(session: Session, payload: dict, occurred_at: datetime | None = None) -> int:
    """Mark a civil servant as left and withdraw them from courses not yet completed; return how many.

    Leaving always applies (whatever arrived before it); it also outdates every registry event older than it.
    """
    occurred_at = occurred_at or utcnow()
    trainee = session.get(Trainee, payload["civil_servant_id"])
    if trainee is None:
        upsert_trainee(session, {**payload, "position_code": "", "female": False, "ethnic_minority": False,
                                 "hard_area": False, "child_under_36_months": False}, occurred_at)
        trainee = session.get(Trainee, payload["civil_servant_id"])
    trainee.employment_status, trainee.left_on = "left", payload["left_on"]
    trainee.updated_at = max(trainee.updated_at, occurred_at)
    why = domain.LEAVE_REASON_VI.get(payload["reason"], payload["reason"])
    reason = f"Công chức nghỉ việc từ {domain.vn_date(payload['left_on'])} ({why})."
    rows = session.execute(sa.select(Enrollment, Course).join(Course, Course.id == Enrollment.course_id).where(
        Enrollment.civil_servant_id == trainee.civil_servant_id, Enrollment.status != "withdrawn",
        Course.status.in_(domain.ENROLLABLE))).all()
    for enrollment, course in rows:
        was_enrolled = enrollment.status == ACTIVE_ENROLLMENT
        enrollment.status, enrollment.status_reason, enrollment.withdrawn_at = "withdrawn", reason, utcnow()
        if was_enrolled:
            session.flush()
            _promote(session, course)
            _roster_changed(session, course)
    return len(rows)


def units_reorganised(session: Session, payload: dict) -> None:
    """Remap commune codes (trainees, candidates, courses' organiser, venue distances, duty rules) from predecessors
    to successors."""
    mapping = {s["predecessor_code"]: s["successor_code"] for s in payload["successions"]
               if s["predecessor_code"] != s["successor_code"]}
    for old, new in mapping.items():
        session.execute(sa.update(Trainee).where(Trainee.commune_code == old).values(commune_code=new))
        session.execute(sa.update(CourseCandidate).where(CourseCandidate.commune_code == old).values(commune_code=new))
        # A venue keeps the shortest distance known for the merged commune (travel support is per whole km).
        for d in session.scalars(sa.select(VenueDistance).where(VenueDistance.commune_code == old)).all():
            existing = session.get(VenueDistance, (d.venue_id, new))
            if existing is None:
                session.add(VenueDistance(venue_id=d.venue_id, commune_code=new, km=d.km))
            else:
                existing.km = min(existing.km, d.km)
            session.delete(d)
        # A course organised by the predecessor is organised by its successor from now on.
        session.execute(sa.update(Course).where(Course.organizer_unit_code == old).values(organizer_unit_code=new))
        # The successor inherits the predecessor's on-duty versions unless it has its own.
        if session.scalar(sa.select(CommuneDutyRule.id).where(CommuneDutyRule.commune_code == new).limit(1)) is None:
            for rule in session.scalars(sa.select(CommuneDutyRule).where(CommuneDutyRule.commune_code == old)).all():
                session.add(CommuneDutyRule(id=str(uuid.uuid4()), commune_code=new,
                                            max_absent_percent=rule.max_absent_percent, note=rule.note,
                                            valid_from=rule.valid_from, valid_to=rule.valid_to,
                                            is_sample=rule.is_sample, updated_at=utcnow()))
        session.flush()


def list_trainees(session: Session, commune_code: str | None) -> list[Trainee]:
    """List the civil servants known to courses, optionally of one commune."""
    stmt = sa.select(Trainee).order_by(Trainee.code)
    if commune_code:
        stmt = stmt.where(Trainee.commune_code == commune_code)
    return list(session.scalars(stmt))


# --- reference data ---------------------------------------------------------------------------------------------

def list_topics(session: Session) -> list[Topic]:
    """List the topics with their competencies and content areas."""
    return list(session.scalars(sa.select(Topic).order_by(Topic.code)))


def create_topic(session: Session, data: dict) -> Topic:
    """Add a topic ("chuyên đề") to the catalogue with its content area, competencies and fostering types."""
    if session.get(Topic, data["code"]) is not None:
        raise Conflict(f"Đã có chuyên đề mã {data['code']}.", field="code")
    topic = Topic(**{**data, "competency_codes": list(dict.fromkeys(data["competency_codes"])),
                     "fostering_types": list(dict.fromkeys(data["fostering_types"]))})
    session.add(topic)
    session.flush()
    return topic


def _topic(session: Session, code: str | None, field: str = "topic_code") -> Topic | None:
    if code is None:
        return None
    topic = session.get(Topic, code)
    if topic is None:
        raise Invalid(f"Không có chuyên đề mã {code}.", field=field)
    return topic


def list_length_rules(session: Session) -> list[LengthRule]:
    """List every version of the length caps."""
    return list(session.scalars(sa.select(LengthRule).order_by(LengthRule.fostering_type, LengthRule.variant,
                                                               LengthRule.valid_from)))


def add_length_rule(session: Session, data: dict) -> LengthRule:
    """Add a version of a length cap; it supersedes an open-ended earlier version of the same type and variant."""
    variant = LengthRule.variant.is_(None) if data.get("variant") is None else LengthRule.variant == data["variant"]
    _make_room(session, LengthRule, data, LengthRule.fostering_type == data["fostering_type"], variant)
    rule = LengthRule(id=str(uuid.uuid4()), is_sample=False, **data)
    session.add(rule)
    session.flush()
    return rule


def _make_room(session: Session, model, data: dict, *where) -> None:
    """Fit a new version of a rule (`model` with valid_from/valid_to, same key = `where`) among the existing ones.

    A version starting strictly after an open-ended one closes it the day before (same transaction), so operators
    can load real values over the shipped samples; a real overlap (starting on or before the open-ended version's
    start, or crossing a closed range) is refused with 409 naming valid_from.
    """
    if data.get("valid_to") and data["valid_to"] < data["valid_from"]:
        raise Invalid("Ngày hết hiệu lực phải sau ngày bắt đầu.", field="valid_to")
    rows = {r.id: r for r in session.scalars(sa.select(model).where(*where).with_for_update())}
    close, clash = domain.supersede([domain.Version(r.id, r.valid_from, r.valid_to) for r in rows.values()],
                                    data["valid_from"], data.get("valid_to"))
    if clash is not None:
        until = f" đến {domain.vn_date(clash.valid_to)}" if clash.valid_to else " (chưa có ngày hết hiệu lực)"
        raise Conflict(f"Trùng thời gian hiệu lực với phiên bản từ {domain.vn_date(clash.valid_from)}{until}; "
                          "phiên bản mới phải bắt đầu sau ngày bắt đầu của phiên bản đang áp dụng.",
                          field="valid_from")
    for rid in close:
        rows[rid].valid_to = data["valid_from"] - timedelta(days=1)
    session.flush()


def list_lecturer_standards(session: Session) -> list[LecturerStandard]:
    """List every version of the lecturer standard."""
    return list(session.scalars(sa.select(LecturerStandard).order_by(LecturerStandard.valid_from)))


def add_lecturer_standard(session: Session, data: dict) -> LecturerStandard:
    """Add a version of the lecturer standard (seed §5.1); it supersedes an open-ended earlier version."""
    _make_room(session, LecturerStandard, data)
    standard = LecturerStandard(id=str(uuid.uuid4()), is_sample=False, **data)
    session.add(standard)
    session.flush()
    return standard


def _in_force(session: Session, model, on: date, *where):
    return session.scalar(sa.select(model).where(model.valid_from <= on, sa.or_(model.valid_to.is_(None),
                                                                                   model.valid_to >= on), *where)
                          .order_by(model.valid_from.desc()).limit(1))


def _length_rule(session: Session, course: Course, on: date) -> domain.LengthRule | None:
    if not course.fostering_type:
        return None
    variant = course.fostering_variant
    if course.fostering_type == "rank" and not variant:
        variant = "chuyen_vien"  # the most common rank course for commune staff
    variant_filter = LengthRule.variant.is_(None) if variant is None else LengthRule.variant == variant
    row = _in_force(session, LengthRule, on, LengthRule.fostering_type == course.fostering_type, variant_filter)
    return None if row is None else domain.LengthRule(row.fostering_type, row.variant, row.max_days,
                                                      row.max_block_working_days, row.legal_basis)


def _lecturer_standard(session: Session, on: date) -> domain.LecturerStandard | None:
    row = _in_force(session, LecturerStandard, on)
    return None if row is None else domain.LecturerStandard(row.min_degree, row.require_pedagogy,
                                                            row.min_years_experience, row.legal_basis)


def list_duty_rules(session: Session) -> list[CommuneDutyRule]:
    """List every version of the communes' on-duty rules ('*' is the default)."""
    return list(session.scalars(sa.select(CommuneDutyRule).order_by(CommuneDutyRule.commune_code,
                                                                     CommuneDutyRule.valid_from)))


UNDATED_FROM = date(2000, 1, 1)  # a setting loaded without a start date applies to every date


def _set_undated(session: Session, model, values: dict, *where):
    """Without valid_from, correct the current open-ended version in place (its validity kept), or start one valid
    for every date after the last closed version (or from UNDATED_FROM when there is none)."""
    if values.pop("valid_to", None) is not None:
        raise Invalid("Có ngày hết hiệu lực thì cần ngày bắt đầu hiệu lực.", field="valid_from")
    rows = list(session.scalars(sa.select(model).where(*where).order_by(model.valid_from).with_for_update()))
    current = next((r for r in reversed(rows) if r.valid_to is None), None)
    if current is None:
        start = max((r.valid_to for r in rows), default=None)
        current = model(id=str(uuid.uuid4()), valid_to=None,
                        valid_from=start + timedelta(days=1) if start else UNDATED_FROM)
        session.add(current)
    for key, value in values.items():
        setattr(current, key, value)
    current.is_sample = False
    session.flush()
    return current


def set_duty_rule(session: Session, data: dict) -> CommuneDutyRule:
    """Load a version of the most a commune may send away on one day, in % of its staff (valid from a date; without
    one, the current version is corrected)."""
    values = {"commune_code": data["commune_code"], "max_absent_percent": data["max_absent_percent"],
              "note": data["note"], "updated_at": utcnow()}
    key = CommuneDutyRule.commune_code == data["commune_code"]
    if data.get("valid_from") is None:
        return _set_undated(session, CommuneDutyRule, {**values, "valid_to": data.get("valid_to")}, key)
    _make_room(session, CommuneDutyRule, data, key)
    rule = CommuneDutyRule(id=str(uuid.uuid4()), valid_from=data["valid_from"], valid_to=data.get("valid_to"),
                           is_sample=False, **values)
    session.add(rule)
    session.flush()
    return rule


DEFAULT_BUOI_TIMES = {"morning": ("07:30", "11:30"), "afternoon": ("13:30", "17:00")}


def _buoi_times(session: Session, on: date) -> domain.BuoiTimes:
    """The buổi times in force on a day (the fallback default where no version is)."""
    rows = {}
    for buoi in domain.BUOI:
        row = _in_force(session, BuoiTime, on, BuoiTime.buoi == buoi)
        start, end = (row.start_local, row.end_local) if row else DEFAULT_BUOI_TIMES[buoi]
        rows[buoi] = (domain.parse_hhmm(start), domain.parse_hhmm(end))
    return domain.BuoiTimes(rows)


def list_buoi_times(session: Session) -> list[BuoiTime]:
    """List every version of the local times of each buổi."""
    return list(session.scalars(sa.select(BuoiTime).order_by(BuoiTime.buoi, BuoiTime.valid_from)))


def set_buoi_time(session: Session, data: dict) -> BuoiTime:
    """Load a version of a buổi's default local times (sessions on dates it covers, created later, use them)."""
    start, end = domain.parse_hhmm(data["start_local"]), domain.parse_hhmm(data["end_local"])
    try:
        domain.session_bounds(date(2025, 1, 6), data["buoi"],
                              domain.BuoiTimes({b: (start, end) for b in domain.BUOI}), start, end)
    except ValueError as exc:
        raise Invalid(str(exc), field="end_local") from None
    values = {"buoi": data["buoi"], "start_local": start.strftime("%H:%M"), "end_local": end.strftime("%H:%M"),
              "note": data["note"]}
    if data.get("valid_from") is None:
        return _set_undated(session, BuoiTime, {**values, "valid_to": data.get("valid_to")},
                            BuoiTime.buoi == data["buoi"])
    _make_room(session, BuoiTime, data, BuoiTime.buoi == data["buoi"])
    row = BuoiTime(id=str(uuid.uuid4()), valid_from=data["valid_from"], valid_to=data.get("valid_to"),
                   is_sample=False, **values)
    session.add(row)
    session.flush()
    return row


COURSE_RULE_FALLBACK = {"pass_score": domain.PASS_SCORE, "periods_per_buoi": domain.DEFAULT_PERIODS}


def list_course_rules(session: Session) -> list[CourseRule]:
    """List every version of the course rules (pass score, tiết per buổi)."""
    return list(session.scalars(sa.select(CourseRule).order_by(CourseRule.key, CourseRule.valid_from)))


def add_course_rule(session: Session, data: dict) -> CourseRule:
    """Add a version of a course rule; it supersedes an open-ended earlier version of the same key."""
    if data["key"] == "periods_per_buoi" and (data["value"] != int(data["value"]) or not 1 <= data["value"] <= 6):
        raise Invalid("Số tiết mỗi buổi phải là số nguyên từ 1 đến 6.", field="value")
    if data["key"] == "pass_score" and not 0 < data["value"] <= 10:
        raise Invalid("Điểm đạt phải trong khoảng (0; 10].", field="value")
    _make_room(session, CourseRule, data, CourseRule.key == data["key"])
    rule = CourseRule(id=str(uuid.uuid4()), is_sample=False, **data)
    session.add(rule)
    session.flush()
    return rule


def _course_rule(session: Session, key: str, on: date) -> float:
    """The value of a course rule in force on a day (the fallback where no version is)."""
    row = _in_force(session, CourseRule, on, CourseRule.key == key)
    return row.value if row is not None else COURSE_RULE_FALLBACK[key]


# --- lecturers and venues ---------------------------------------------------------------------------------------

def create_lecturer(session: Session, data: dict) -> dict:
    """Register a lecturer with the fee tier that drives their pay per buổi, qualifications and topics."""
    for code in data.get("topic_codes") or []:
        _topic(session, code, field="topic_codes")
    lecturer = Lecturer(id=str(uuid.uuid4()), **data)
    session.add(lecturer)
    session.flush()
    return _lecturer_view(session, lecturer, {})


def _ratings(session: Session, ids: list[str] | None = None) -> dict[str, tuple[float, int]]:
    stmt = sa.select(LecturerRating.lecturer_id, sa.func.avg(LecturerRating.mean), sa.func.count()).group_by(
        LecturerRating.lecturer_id)
    if ids is not None:
        stmt = stmt.where(LecturerRating.lecturer_id.in_(ids))
    return {lid: (round(float(avg), 2), n) for lid, avg, n in session.execute(stmt)}


def _lecturer_view(session: Session, lecturer: Lecturer, ratings: dict, busy: set[str] | None = None,
                   on: date | None = None) -> dict:
    avg, n = ratings.get(lecturer.id, (None, 0))
    problems = domain.lecturer_problems(lecturer.degree, lecturer.pedagogy_certificate, lecturer.years_experience,
                                        lecturer.topic_codes or [], None,
                                        _lecturer_standard(session, on or domain.local_today(utcnow())))
    return {"id": lecturer.id, "name": lecturer.name, "tier": lecturer.tier, "degree": lecturer.degree,
            "pedagogy_certificate": lecturer.pedagogy_certificate, "years_experience": lecturer.years_experience,
            "organisation": lecturer.organisation, "qualifications": lecturer.qualifications,
            "topic_codes": lecturer.topic_codes or [], "average_rating": avg, "rating_count": n,
            "meets_standard": not problems, "standard_problems": problems,
            "available": None if busy is None else lecturer.id not in busy}


def list_lecturers(session: Session, topic: str | None = None, on: date | None = None,
                   buoi: str | None = None) -> list[dict]:
    """List lecturers; with a topic and a date, the ones who teach it, available first, best rated first."""
    lecturers = list(session.scalars(sa.select(Lecturer).order_by(Lecturer.name)))
    if topic:
        lecturers = [lec for lec in lecturers if not lec.topic_codes or topic in lec.topic_codes]
    busy = None
    if on is not None:
        stmt = sa.select(CourseSession.lecturer_id).join(Course).where(
            CourseSession.date == on, Course.status.in_(domain.BOOKING_STATUSES))
        if buoi:
            stmt = stmt.where(CourseSession.buoi == buoi)
        busy = set(session.scalars(stmt))
    ratings = _ratings(session)
    views = [_lecturer_view(session, lec, ratings, busy, on) for lec in lecturers]
    if topic or on:
        # Available first, then best rated (unrated after rated), then meets the standard, then the higher tier.
        views.sort(key=lambda v: (v["available"] is False, v["average_rating"] is None, -(v["average_rating"] or 0),
                                  not v["meets_standard"], v["tier"], v["name"]))
    return views


def get_lecturer(session: Session, lecturer_id: str) -> dict:
    """Show a lecturer with their rating history."""
    lecturer = session.get(Lecturer, lecturer_id)
    if lecturer is None:
        raise NotFound("Không tìm thấy giảng viên.", field="lecturer_id")
    view = _lecturer_view(session, lecturer, _ratings(session, [lecturer_id]))
    view["ratings"] = [{"course_id": r.course_id, "mean": r.mean, "band": r.band, "responses": r.responses,
                        "evaluated_at": r.evaluated_at} for r in session.scalars(
        sa.select(LecturerRating).where(LecturerRating.lecturer_id == lecturer_id)
        .order_by(LecturerRating.evaluated_at.desc()))]
    return view


def record_lecturer_ratings(session: Session, payload: dict) -> int:
    """Keep each lecturer's score from an evaluated course (one row per course and lecturer; a later evaluation
    replaces it, an older one arriving late does not)."""
    n = 0
    for s in payload.get("lecturer_scores") or []:
        row = session.get(LecturerRating, (s["lecturer_id"], payload["course_id"]))
        if row is None:
            row = LecturerRating(lecturer_id=s["lecturer_id"], course_id=payload["course_id"])
            session.add(row)
        elif row.evaluated_at > payload["evaluated_at"]:
            continue
        row.mean, row.band, row.responses, row.evaluated_at = s["mean"], s["band"], s.get("responses") or 0, \
            payload["evaluated_at"]
        n += 1
    return n


def create_venue(session: Session, data: dict) -> Venue:
    """Register a venue with its capacity, address and distance from each commune."""
    distances = data.pop("distances", [])
    venue = Venue(id=str(uuid.uuid4()), **data)
    seen = set()
    for i, d in enumerate(distances):
        if d["commune_code"] in seen:
            raise Invalid("Xã bị lặp trong bảng khoảng cách.", field=f"distances.{i}.commune_code")
        seen.add(d["commune_code"])
        venue.distances.append(VenueDistance(commune_code=d["commune_code"], km=d["km"]))
    session.add(venue)
    session.flush()
    return venue


def update_venue(session: Session, venue_id: str, data: dict) -> Venue:
    """Edit a venue. A new distance table replaces the old one, and the booked courses held there ask funding again
    (travel and lodging follow the distance). A capacity below a booked course's enrolment is refused."""
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise NotFound("Không tìm thấy địa điểm.", field="venue_id")
    booked = list(session.scalars(sa.select(Course).where(Course.venue_id == venue_id,
                                                          Course.status.in_(domain.BOOKING_STATUSES))))
    if "capacity" in data:
        for course in booked:
            enrolled = len(_enrolled_trainees(session, course.id))
            if enrolled > data["capacity"]:
                raise Conflict(f"Lớp {course.code} đã có {enrolled} học viên ở địa điểm này; sức chứa mới "
                                  f"{data['capacity']} không đủ.", field="capacity")
    distances = data.pop("distances", None)
    for key, value in data.items():
        setattr(venue, key, value)
    if distances is not None:
        seen = set()
        for i, d in enumerate(distances):
            if d["commune_code"] in seen:
                raise Invalid("Xã bị lặp trong bảng khoảng cách.", field=f"distances.{i}.commune_code")
            seen.add(d["commune_code"])
        venue.distances.clear()
        session.flush()  # the old rows go before the new ones (one row per commune)
        venue.distances.extend(VenueDistance(commune_code=d["commune_code"], km=d["km"]) for d in distances)
        for course in booked:
            _roster_changed(session, course)  # the cost drivers changed: a new revision for funding
    session.flush()
    return venue


def list_venues(session: Session, min_capacity: int | None = None) -> list[Venue]:
    """List venues, optionally those holding at least `min_capacity` people."""
    stmt = sa.select(Venue).order_by(Venue.name)
    if min_capacity:
        stmt = stmt.where(Venue.capacity >= min_capacity)
    return list(session.scalars(stmt))


def _venue(session: Session, venue_id: str | None, field: str = "venue_id") -> Venue | None:
    if venue_id is None:
        return None
    venue = session.get(Venue, venue_id)
    if venue is None:
        raise Invalid("Không tìm thấy địa điểm.", field=field)
    return venue


# --- courses: drafts, sessions ------------------------------------------------------------------------------------

def _course(session: Session, course_id: str, *, lock: bool = False) -> Course:
    stmt = sa.select(Course).where(Course.id == course_id)
    if lock:
        stmt = stmt.with_for_update(of=Course)  # the venue is eager-joined: lock the course row only
    course = session.scalar(stmt)
    if course is None:
        raise NotFound("Không tìm thấy lớp học.", field="course_id")
    return course


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
                                 checkin_token=_token()))
    slots = [domain.SessionSlot(str(i), s.date, s.buoi) for i, s in enumerate(out)]
    dup = domain.duplicate_slots(slots)
    if dup:
        day, buoi = dup[0]
        raise Invalid(f"Buổi {domain.BUOI_VI[buoi]} ngày {domain.vn_date(day)} bị lặp.", field=prefix)
    return out


def create_course(session: Session, data: dict) -> Course:
    """Create a draft course (with or without sessions); scheduling it books people, lecturers and rooms."""
    if session.scalar(sa.select(Course.id).where(Course.code == data["code"])):
        raise Conflict("Mã lớp đã tồn tại.", field="code")
    specs = data.pop("sessions", None) or []
    _check_course_fields(session, data, creating=True)
    course = Course(id=str(uuid.uuid4()), status="draft", created_at=utcnow(), revision=0,
                    form=data.pop("form", None) or "in_person",
                    excused_max_percent=data.pop("excused_max_percent", None) or 0, **data)
    course.sessions = _build_sessions(session, course, specs)
    session.add(course)
    session.flush()
    return course


def update_course(session: Session, course_id: str, data: dict) -> Course:
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
        _schedule(session, course)  # one new revision with the new roster
    return course


def add_sessions(session: Session, course_id: str, specs: list[dict]) -> Course:
    """Add sessions to a course; a booked course is re-scheduled (conflicts re-checked)."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.SCHEDULABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)} không thể thêm buổi.", field="course_id")
    new = _build_sessions(session, course, specs)
    taken = {(s.date, s.buoi) for s in course.sessions}
    for i, s in enumerate(new):
        if (s.date, s.buoi) in taken:
            raise Invalid(f"Lớp đã có buổi {domain.BUOI_VI[s.buoi]} ngày {domain.vn_date(s.date)}.",
                              field=f"sessions.{i}.date")
    course.sessions.extend(new)
    session.flush()
    if course.status != "draft":
        _schedule(session, course)
    return course


def update_session(session: Session, course_id: str, session_id: str, data: dict) -> Course:
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
        raise Invalid(f"Lớp đã có buổi {domain.BUOI_VI[built.buoi]} ngày {domain.vn_date(built.date)}.",
                          field="date")
    keep_times = not {"date", "buoi", "start_time", "end_time"} & set(data)
    keys = ("date", "buoi", "periods", "lecturer_id", "venue_id") + (() if keep_times else ("starts_at", "ends_at"))
    for key in keys:
        setattr(row, key, getattr(built, key))
    session.flush()
    if course.status != "draft":
        _schedule(session, course)
    return course


def delete_session(session: Session, course_id: str, session_id: str) -> Course:
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
        _schedule(session, course)
    return course


# --- conflicts ----------------------------------------------------------------------------------------------------

def _effective_venue(course: Course, s: CourseSession) -> str | None:
    if course.form == "online":
        return None
    return s.venue_id or course.venue_id


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


class _Checker:
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


def _add_labels(session: Session, checker: _Checker, courses: list[Course]) -> None:
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
    checker = _Checker(session, {course.id}, sessions, trainees)
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


# --- scheduling and funding ---------------------------------------------------------------------------------------

def _capacity(session: Session, course: Course) -> int | None:
    """Seats: the course's own cap, and the smallest room it meets in (its venue or a session's own venue)."""
    caps = [c for c in (course.capacity, course.venue.capacity if course.venue and course.form != "online" else None)
            if c]
    rooms = {s.venue_id for s in course.sessions if s.venue_id and s.venue_id != course.venue_id}
    if rooms and course.form != "online":
        caps += session.scalars(sa.select(Venue.capacity).where(Venue.id.in_(sorted(rooms)))).all()
    return min(caps) if caps else None


def _schedule(session: Session, course: Course) -> None:
    """Validate one course and publish its cost drivers (the batch path with a batch of one)."""
    _schedule_many(session, [course])


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


def _schedule_many(session: Session, courses: list[Course]) -> None:
    """Validate courses and check them for conflicts against every booked course and each other; if all pass,
    mark them scheduled with a new revision and publish one courses.course_scheduled each. All or nothing."""
    _lock_bookings(session)
    ids = [c.id for c in courses]
    enrolled = _enrolled_by_course(session, ids)
    caches = {"batch": len(courses) > 1}
    for course in courses:
        _validate(session, course, enrolled[course.id], caches)
    planned = {c.id: _new_sessions(c) for c in courses}
    checker = _Checker(session, set(ids), [s for c in courses for s in planned[c.id]],
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
    now = utcnow()
    events = []
    for course in courses:
        course.status, course.status_reason = "scheduled", None
        course.revision = (course.revision or 0) + 1
        course.scheduled_at = now
        course.reservation_id = course.estimate_total = course.confirmed_at = None
        events.append(("courses.course_scheduled", _scheduled_payload(course, enrolled[course.id]), None))
    OUTBOX.emit_many(session, events)


def _scheduled_payload(course: Course, trainees: list[Trainee]) -> dict:
    """The cost drivers of a course's current revision (courses.course_scheduled)."""
    days = [s.date for s in course.sessions]
    return {
        "course_id": course.id, "revision": course.revision, "code": course.code, "title": course.title,
        "topic_code": course.topic_code, "fostering_type": course.fostering_type, "form": course.form,
        "organizer_unit_code": course.organizer_unit_code, "start_date": min(days), "end_date": max(days),
        "venue": _venue_ref(course),
        "sessions": _session_refs(course),
        "planned_trainees": [{"civil_servant_id": t.civil_servant_id, "commune_code": t.commune_code,
                              "female": t.female, "ethnic_minority": t.ethnic_minority,
                              "child_under_36_months": t.child_under_36_months} for t in trainees],
    }


ROSTER_REPUBLISH = ("scheduled", "awaiting_funds", "confirmed")


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
                _scheduled_payload(course, _enrolled_trainees(session, course.id)))


def _venue_ref(course: Course) -> dict | None:
    venue = course.venue if course.form != "online" else None
    if venue is None:
        return None
    return {"venue_id": venue.id, "name": venue.name, "province_code": venue.province_code,
            "distances": [{"commune_code": d.commune_code, "km": d.km} for d in venue.distances]}


def _session_refs(course: Course) -> list[dict]:
    return [{"session_id": s.id, "date": s.date, "buoi": s.buoi, "lecturer_id": s.lecturer_id,
             "lecturer_tier": s.lecturer.tier, "periods": s.periods, "venue_id": _effective_venue(course, s)}
            for s in course.sessions]


def schedule_course(session: Session, course_id: str) -> Course:
    """Schedule (or re-schedule) a course: checks, then courses.course_scheduled with a new revision."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.SCHEDULABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)} không thể xếp lịch.", field="course_id")
    _schedule(session, course)
    return course


def schedule_courses(session: Session, course_ids: list[str]) -> list[Course]:
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
    _schedule_many(session, courses)
    return courses


def record_budget_reserved(session: Session, payload: dict) -> None:
    """Confirm a scheduled course when funding reserved its current revision (older answers are ignored); a confirmed
    course whose roster changed takes the new reservation."""
    course = session.get(Course, payload["course_id"])
    if course is None or payload["revision"] != course.revision or course.status not in ROSTER_REPUBLISH:
        return
    course.status, course.status_reason, course.confirmed_at = "confirmed", None, utcnow()
    course.reservation_id, course.estimate_total = payload["reservation_id"], payload["estimate_total"]


def record_reservation_rejected(session: Session, payload: dict) -> None:
    """Show that a course waits for funds, with funding's reason (older revisions are ignored); a confirmed course
    whose new roster is not covered falls back to awaiting_funds."""
    course = session.get(Course, payload["course_id"])
    if course is None or payload["revision"] != course.revision or course.status not in ROSTER_REPUBLISH:
        return
    course.status, course.status_reason = "awaiting_funds", payload["reason"]
    course.confirmed_at = course.reservation_id = None
    course.estimate_total = payload["estimate_total"]


def start_course(session: Session, course_id: str) -> Course:
    """Mark a confirmed course as in progress (teaching has begun)."""
    course = _course(session, course_id, lock=True)
    if course.status != "confirmed":
        raise Conflict("Chỉ lớp đã được xác nhận kinh phí mới có thể bắt đầu.", field="course_id")
    course.status = "in_progress"
    return course


def cancel_course(session: Session, course_id: str, reason: str) -> Course:
    """Cancel a course; funding releases its reservation (courses.course_cancelled)."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.CANCELLABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)} không thể hủy.", field="course_id")
    was_scheduled = (course.revision or 0) > 0
    course.status, course.status_reason, course.cancelled_at = "cancelled", reason, utcnow()
    if was_scheduled:
        OUTBOX.emit(session, "courses.course_cancelled", {"course_id": course.id, "reason": reason,
                                                          "cancelled_at": course.cancelled_at})
    return course


# --- from an approved plan ----------------------------------------------------------------------------------------

def _plan_course_code(session: Session, year: int, line_id: str) -> str:
    """A short, unique code for a course proposed from a plan line: KH<year>-<first 8 of the line id>, longer when
    that is taken (two line ids sharing a prefix, or an officer's own course) — a clash would fail the whole plan."""
    short = f"KH{year}-{line_id[:8]}".upper()
    taken = set(session.scalars(sa.select(Course.code).where(Course.code.startswith(short))))
    if short not in taken:
        return short
    longer = f"KH{year}-{line_id}".upper()[:40]
    n = 1
    code = longer
    while code in taken:
        n += 1
        code = f"{longer[:36]}-{n}"
    return code


def propose_from_plan(session: Session, payload: dict) -> int:
    """Propose one draft course per plan line with its candidates ranked by priority; return how many were made."""
    made = 0
    for line in payload["lines"]:
        if session.scalar(sa.select(Course.id).where(Course.plan_line_id == line["line_id"])):
            continue  # proposed already (a redelivered or re-approved plan)
        topic = session.get(Topic, line["topic_code"])
        name = topic.name if topic else line["topic_code"]
        ranked = sorted(line["candidates"], key=lambda c: (-c["priority_score"], c["civil_servant_id"]))
        capacity = line["headcount"] or len(ranked) or None
        quarter = f" quý {line['quarter']}" if line.get("quarter") else ""
        course = Course(id=str(uuid.uuid4()), code=_plan_course_code(session, payload["year"], line["line_id"]),
                        title=f"Bồi dưỡng {name} – {line['unit_code']}{quarter}/{payload['year']}"[:300],
                        organizer_unit_code=default_organizer_unit(), status="draft", created_at=utcnow(),
                        topic_code=line["topic_code"] if topic else None,
                        fostering_type=(topic.fostering_types[0] if topic and topic.fostering_types else None),
                        form="in_person", capacity=capacity, excused_max_percent=0, plan_id=payload["plan_id"],
                        plan_line_id=line["line_id"], revision=0)
        session.add(course)
        session.flush()
        known = set(session.scalars(sa.select(Trainee.civil_servant_id).where(
            Trainee.civil_servant_id.in_([c["civil_servant_id"] for c in ranked]),
            Trainee.employment_status != "left"))) if ranked else set()
        now = utcnow()
        seated = 0
        for rank, c in enumerate(ranked, start=1):
            session.add(CourseCandidate(course_id=course.id, civil_servant_id=c["civil_servant_id"],
                                        commune_code=c["commune_code"], priority_score=c["priority_score"],
                                        need_ids=list(c.get("need_ids") or []), rank=rank))
            if c["civil_servant_id"] in known:
                status = "enrolled" if capacity is None or seated < capacity else "waitlisted"
                seated += status == "enrolled"
                session.add(Enrollment(course_id=course.id, civil_servant_id=c["civil_servant_id"], enrolled_at=now,
                                       status=status, priority_score=c["priority_score"],
                                       need_ids=list(c.get("need_ids") or []), token=_token(),
                                       status_reason="Đề xuất từ kế hoạch đã duyệt."))
        made += 1
    return made


def list_candidates(session: Session, course_id: str) -> list[CourseCandidate]:
    """List the candidates a plan line named for a course, best priority first."""
    _course(session, course_id)
    return list(session.scalars(sa.select(CourseCandidate).where(CourseCandidate.course_id == course_id)
                                .order_by(CourseCandidate.rank)))


# --- enrollment ---------------------------------------------------------------------------------------------------

def _counts(session: Session, course_id: str) -> dict[str, int]:
    return dict(session.execute(sa.select(Enrollment.status, sa.func.count()).where(
        Enrollment.course_id == course_id).group_by(Enrollment.status)).all())


def enroll(session: Session, course_id: str, civil_servant_ids: list[str]) -> dict:
    """Enroll trainees (beyond capacity they wait); in a booked course a clash refuses the whole request."""
    course = _course(session, course_id, lock=True)
    ids = list(dict.fromkeys(civil_servant_ids))
    known = {t.civil_servant_id: t for t in session.scalars(sa.select(Trainee).where(
        Trainee.civil_servant_id.in_(ids)))}
    missing = [i for i in ids if i not in known]
    if missing:
        raise Invalid(f"Không có công chức mã {', '.join(missing[:5])} trong danh sách (chưa đồng bộ từ nhu cầu).",
                          field="civil_servant_ids")
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
    now = utcnow()
    out = {"count": len(todo), "enrolled": 0, "waitlisted": 0}
    for i in todo:
        status = ACTIVE_ENROLLMENT if i in seat else "waitlisted"
        out["enrolled" if status == ACTIVE_ENROLLMENT else "waitlisted"] += 1
        cand = candidates.get(i)
        row = have.get(i) or Enrollment(course_id=course_id, civil_servant_id=i, token=_token())
        row.enrolled_at, row.status, row.withdrawn_at = now, status, None
        row.status_reason = None if status == ACTIVE_ENROLLMENT else "Lớp đã đủ chỗ: vào danh sách chờ."
        row.priority_score = cand.priority_score if cand else row.priority_score
        row.need_ids = list(cand.need_ids) if cand else (row.need_ids or [])
        session.add(row)
    if out["enrolled"]:
        _roster_changed(session, course)
    return out


def withdraw(session: Session, course_id: str, civil_servant_id: str, reason: str) -> dict:
    """Withdraw a trainee; the first waitlisted trainee who does not clash takes the seat."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.ENROLLABLE:
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)}, không thể rút tên.", field="course_id")
    row = session.get(Enrollment, (course_id, civil_servant_id))
    if row is None or row.status == "withdrawn":
        raise NotFound("Học viên không có trong lớp.", field="civil_servant_id")
    was_enrolled = row.status == ACTIVE_ENROLLMENT
    row.status, row.status_reason, row.withdrawn_at = "withdrawn", reason, utcnow()
    session.flush()
    promotions = _promote(session, course) if was_enrolled else []
    if was_enrolled:
        _roster_changed(session, course)  # the withdrawal and any promotions: one revision
    return {"withdrawn": civil_servant_id, "promotions": promotions}


def _promote(session: Session, course: Course) -> list[dict]:
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
                row.status_reason = (f"Không chuyển vào lớp ngày {domain.vn_date(domain.local_today(utcnow()))}: "
                                     f"{clash[0].message}")
                out.append({"civil_servant_id": cs, "promoted": False, "reason": row.status_reason})
                continue
        row.status, row.status_reason = ACTIVE_ENROLLMENT, "Chuyển từ danh sách chờ."
        seated += 1
        session.flush()
        out.append({"civil_servant_id": cs, "promoted": True, "reason": row.status_reason})
    return out


def list_enrollments(session: Session, course_id: str, status: str | None = None) -> list[dict]:
    """Return a course's trainees (enrolled, waitlisted, withdrawn) with their attendance and results so far."""
    course = _course(session, course_id)
    rows = _participants(session, course, statuses=(status,) if status else None)
    return rows


def _participants(session: Session, course: Course, statuses: tuple | None = None) -> list[dict]:
    """Each enrollment with attendance, excused absences, test scores and the certificate outcome so far."""
    stmt = (sa.select(Enrollment, Trainee).join(Trainee, Trainee.civil_servant_id == Enrollment.civil_servant_id)
            .where(Enrollment.course_id == course.id).order_by(Enrollment.status, Trainee.code))
    if statuses:
        stmt = stmt.where(Enrollment.status.in_(statuses))
    pairs = session.execute(stmt).all()
    slots = [domain.SessionSlot(s.id, s.date, s.buoi) for s in course.sessions]
    present: dict[str, set[str]] = defaultdict(set)
    excused: dict[str, set[str]] = defaultdict(set)
    for a in session.scalars(sa.select(Attendance).join(CourseSession).where(CourseSession.course_id == course.id)):
        if a.present:
            present[a.civil_servant_id].add(a.session_id)
        elif a.excused:
            excused[a.civil_servant_id].add(a.session_id)
    scores: dict[str, list[domain.Score]] = defaultdict(list)
    kind_order = {"pre": 0, "post": 1, "module": 2}
    results = session.scalars(sa.select(TestResult).where(TestResult.course_id == course.id)).all()
    for r in sorted(results, key=lambda r: (kind_order[r.kind], r.competency_code)):
        scores[r.civil_servant_id].append(domain.Score(r.kind, r.competency_code or None, r.score))
    required = {(s.kind, s.competency_code) for rows in scores.values() for s in rows
                if s.kind in domain.CERTIFYING_TEST_KINDS}
    # TT 01/2018: the pass score in force when the course opens applies to all its tests
    opened = min((s.date for s in course.sessions), default=domain.local_today(utcnow()))
    pass_score = _course_rule(session, "pass_score", opened)
    out = []
    for e, t in pairs:
        o = domain.participant_outcome(slots, present[t.civil_servant_id], excused[t.civil_servant_id],
                                       course.excused_max_percent or 0, scores[t.civil_servant_id], required,
                                       pass_score)
        out.append({"civil_servant_id": t.civil_servant_id, "code": t.code, "unit_code": t.unit_code,
                    "commune_code": t.commune_code, "position_code": t.position_code, "status": e.status,
                    "status_reason": e.status_reason, "priority_score": e.priority_score,
                    "need_ids": e.need_ids or [], "sessions_attended": o.sessions_attended,
                    "days_attended": o.days_attended, "excused_sessions": o.excused_sessions,
                    "completed": o.completed, "certified": e.certified if e.certified is not None else o.certified,
                    "outcome_reasons": list(o.reasons), "certificate_no": e.certificate_no,
                    "tests": [{"kind": s.kind, "competency_code": s.competency_code, "score": s.score}
                              for s in scores[t.civil_servant_id]],
                    "female": t.female, "ethnic_minority": t.ethnic_minority,
                    "child_under_36_months": t.child_under_36_months, "_token": e.token})
    return out


# --- attendance, check-in, results --------------------------------------------------------------------------------

def record_attendance(session: Session, course_id: str, records: list[dict]) -> int:
    """Record presence (or an excused absence) per session and trainee; the last entry wins."""
    course = _course(session, course_id, lock=True)
    session_ids = {s.id for s in course.sessions}
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
    course.status = "in_progress"
    _write_attendance(session, [(r["session_id"], r["civil_servant_id"], r["present"], bool(r.get("excused")),
                                 "list") for r in records])
    return len(records)


ATTENDANCE_MARKS = {"x": (True, False), "có": (True, False), "1": (True, False),
                    "p": (False, True), "cp": (False, True),
                    "v": (False, False), "0": (False, False), "k": (False, False), "không": (False, False)}


def _parse_mark(text: str) -> tuple[bool, bool]:
    mark = ATTENDANCE_MARKS.get(text.strip().lower())
    if mark is None:
        raise ValueError(f"«{text}» không phải ký hiệu điểm danh (x có mặt, P vắng có phép, v vắng).")
    return mark


def import_attendance_sheet(session: Session, course_id: str, data: bytes, filename: str) -> int:
    """Read a filled-in attendance sheet (our CSV/XLSX export); every bad cell is reported and nothing is written."""
    from shared.tabular import Column, RowErrors, read_table

    course = _course(session, course_id)
    if not data:
        raise Invalid("Chưa gửi tệp (trường «file»).", field="file")
    columns = [Column("code", "Mã công chức")] + [
        Column(f"s_{s.id}", f"{s.date:%d/%m} {domain.BUOI_VI[s.buoi]}", parse=_parse_mark) for s in course.sessions]
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
    if not records:
        raise Invalid("Tệp không có ô điểm danh nào được điền.", field="file")
    return record_attendance(session, course_id, records)


def _write_attendance(session: Session, rows: list[tuple[str, str, bool, bool, str]]) -> None:
    now = utcnow()
    for session_id, cs, present, excused, method in rows:
        row = session.get(Attendance, (session_id, cs))
        if row is None:
            session.add(Attendance(session_id=session_id, civil_servant_id=cs, present=present, excused=excused,
                                   method=method, recorded_at=now))
        else:
            row.present, row.excused, row.method, row.recorded_at = present, excused, method, now


def checkin_page(session: Session, token: str) -> dict:
    """Describe the session a check-in link belongs to (for the form)."""
    row = session.scalar(sa.select(CourseSession).where(CourseSession.checkin_token == token))
    if row is None:
        raise NotFound("Đường dẫn điểm danh không hợp lệ.", field="token")
    course = session.get(Course, row.course_id)
    return {"course_code": course.code, "course_title": course.title, "date": row.date, "buoi": row.buoi,
            "buoi_vi": domain.BUOI_VI[row.buoi], "starts_at": row.starts_at, "ends_at": row.ends_at}


def check_in(session: Session, token: str, code: str | None, enrollment_token: str | None,
             now: datetime | None = None) -> dict:
    """Mark a trainee present through a session's QR link, identified by civil servant code or enrollment token."""
    row = session.scalar(sa.select(CourseSession).where(CourseSession.checkin_token == token))
    if row is None:
        raise NotFound("Đường dẫn điểm danh không hợp lệ.", field="token")
    course = _course(session, row.course_id, lock=True)
    if course.status not in ("confirmed", "in_progress"):
        raise Conflict("Lớp chưa mở hoặc đã kết thúc, không thể điểm danh.", field="token")
    now = now or utcnow()
    if row.starts_at and not domain.checkin_open(now, row.starts_at, row.ends_at):
        raise Invalid("Ngoài giờ điểm danh của buổi học (từ 60 phút trước giờ học đến khi kết thúc).",
                          field="token")
    stmt = sa.select(Enrollment).where(Enrollment.course_id == course.id, Enrollment.status == ACTIVE_ENROLLMENT)
    if enrollment_token:
        stmt = stmt.where(Enrollment.token == enrollment_token)
    elif code:
        stmt = stmt.join(Trainee, Trainee.civil_servant_id == Enrollment.civil_servant_id).where(
            Trainee.code == code.strip())
    else:
        raise Invalid("Nhập mã công chức.", field="code")
    enrollment = session.scalar(stmt)
    if enrollment is None:
        raise Invalid("Không tìm thấy học viên trong lớp này.", field="code")
    course.status = "in_progress"
    _write_attendance(session, [(row.id, enrollment.civil_servant_id, True, False, "qr")])
    return {"course_code": course.code, "date": row.date, "buoi_vi": domain.BUOI_VI[row.buoi]}


def session_checkin_link(session: Session, course_id: str, session_id: str) -> str:
    """Return a session's check-in token (printed as a QR code by the officer)."""
    course = _course(session, course_id)
    row = next((s for s in course.sessions if s.id == session_id), None)
    if row is None:
        raise NotFound("Buổi học không thuộc lớp này.", field="session_id")
    return row.checkin_token


def record_results(session: Session, course_id: str, scores: list[dict]) -> int:
    """Record test scores 0–10 (pre/post/module, per competency); the last entry wins."""
    course = _course(session, course_id, lock=True)
    enrolled = set(session.scalars(sa.select(Enrollment.civil_servant_id).where(
        Enrollment.course_id == course_id, Enrollment.status == ACTIVE_ENROLLMENT)))
    for i, s in enumerate(scores):
        if s["civil_servant_id"] not in enrolled:
            raise Invalid("Học viên chưa ghi danh vào lớp.", field=f"scores.{i}.civil_servant_id")
    if course.status not in ("confirmed", "in_progress"):
        raise Conflict(f"Lớp ở trạng thái {_state(course.status)}, không thể ghi điểm.", field="course_id")
    now = utcnow()
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


# --- completion ---------------------------------------------------------------------------------------------------

def _next_certificate(session: Session, year: int) -> str:
    """Issue the next certificate number of `year`, once and in order, under concurrent completions.

    The year's counter row is created with INSERT … ON CONFLICT DO NOTHING before it is locked: two first
    completions of a year used to both find no row and both insert it, the second failing on the primary key
    (HTTP 500). Now the second waits for the first's row and then locks it (SELECT … FOR UPDATE on PostgreSQL;
    SQLite has one writer at a time)."""
    session.execute(insert_ignoring_conflicts(session, CertificateCounter.__table__).values(year=year, last_no=0))
    counter = session.get(CertificateCounter, year, with_for_update=True, populate_existing=True)
    counter.last_no += 1
    session.flush()
    return domain.certificate_number(year, counter.last_no)


def complete_course(session: Session, course_id: str) -> Course:
    """Close teaching: apply the certificate rule, issue certificate numbers once, publish course_completed."""
    course = _course(session, course_id, lock=True)
    if course.status not in domain.COMPLETABLE:
        already = course.status in ("completed", "closed")
        raise Conflict("Lớp đã được kết thúc trước đó." if already else
                          f"Lớp ở trạng thái {_state(course.status)}: chỉ lớp đã xác nhận hoặc đang học mới "
                          "kết thúc được.",
                          field="course_id")
    rows = [p for p in _participants(session, course, statuses=(ACTIVE_ENROLLMENT, "withdrawn"))
            if p["status"] == ACTIVE_ENROLLMENT or p["sessions_attended"] > 0]
    if not rows:
        raise Conflict("Lớp chưa có học viên.", field="course_id")
    course.status = "completed"
    course.completed_at = utcnow()
    year = course.completed_at.astimezone(domain.LOCAL_TZ).year
    for p in rows:
        certified = p["status"] == ACTIVE_ENROLLMENT and p["certified"]
        e = session.get(Enrollment, (course.id, p["civil_servant_id"]))
        e.certified = certified
        if certified and e.certificate_no is None:
            e.certificate_no = _next_certificate(session, year)
        p["certified"], p["certificate_no"] = certified, e.certificate_no
    topic = session.get(Topic, course.topic_code) if course.topic_code else None
    OUTBOX.emit(session, "courses.course_completed", {
        "course_id": course.id, "code": course.code, "title": course.title,
        "organizer_unit_code": course.organizer_unit_code,
        "start_date": min(s.date for s in course.sessions), "end_date": max(s.date for s in course.sessions),
        "completed_at": course.completed_at, "total_sessions": len(course.sessions),
        "sessions": _session_refs(course),
        "participants": rows,  # the catalogue schema keeps only its own fields on the wire
        "topic_code": course.topic_code, "competency_codes": topic.competency_codes if topic else [],
        "fostering_type": course.fostering_type, "form": course.form, "venue": _venue_ref(course),
        "plan_line_id": course.plan_line_id,
    })
    return course


def list_certificates(session: Session, course_id: str) -> list[dict]:
    """List the certificates issued for a course."""
    course = _course(session, course_id)
    return [{"civil_servant_id": e.civil_servant_id, "code": t.code, "commune_code": t.commune_code,
             "certificate_no": e.certificate_no, "course_code": course.code, "course_title": course.title}
            for e, t in session.execute(sa.select(Enrollment, Trainee).join(Trainee).where(
                Enrollment.course_id == course_id, Enrollment.certificate_no.is_not(None))
                .order_by(Enrollment.certificate_no))]


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
    """Return a course with its sessions, head-counts, funding state and where its closing stands."""
    course = _course(session, course_id)
    counts = _counts(session, course_id)
    return {**{c: getattr(course, c) for c in (
        "id", "code", "title", "organizer_unit_code", "status", "status_reason", "created_at", "completed_at",
        "topic_code", "fostering_type", "fostering_variant", "form", "venue_id", "capacity", "excused_max_percent",
        "plan_id", "plan_line_id", "revision", "scheduled_at", "confirmed_at", "cancelled_at", "reservation_id",
        "estimate_total")},
            "venue": course.venue, "sessions": course.sessions, "enrolled": counts.get(ACTIVE_ENROLLMENT, 0),
            "waitlisted": counts.get("waitlisted", 0), "withdrawn": counts.get("withdrawn", 0),
            "closing": None if course.completed_at is None else {
                "state": domain.closing_state(course.feedback_requested_at is not None,
                                              course.settled_at is not None),
                "feedback_requested_at": course.feedback_requested_at,
                "feedback_request_count": course.feedback_request_count,
                "settled_at": course.settled_at,
                "settlement_total": course.settlement_total,
                "closed_at": course.closed_at,
            }}


def list_courses(session: Session, status: str | None, topic_code: str | None = None) -> list[Course]:
    """List courses, newest first, optionally by status and topic."""
    stmt = sa.select(Course).order_by(Course.created_at.desc())
    if status:
        stmt = stmt.where(Course.status == status)
    if topic_code:
        stmt = stmt.where(Course.topic_code == topic_code)
    return list(session.scalars(stmt))


# --- calendar and printable documents -----------------------------------------------------------------------------

def calendar(session: Session, kind: str, ref: str, start: date | None, end: date | None) -> list[dict]:
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


def documents_rows(session: Session, course_id: str) -> tuple[Course, list[dict]]:
    """The enrolled trainees of a course with their attendance marks per session (class list, attendance sheet)."""
    course = _course(session, course_id)
    participants = _participants(session, course, statuses=(ACTIVE_ENROLLMENT,))
    marks: dict[tuple[str, str], str] = {}
    for a in session.scalars(sa.select(Attendance).join(CourseSession).where(CourseSession.course_id == course_id)):
        marks[(a.civil_servant_id, a.session_id)] = "x" if a.present else ("P" if a.excused else "v")
    for i, p in enumerate(participants, start=1):
        p["no"] = i
        for s in course.sessions:
            p[f"s_{s.id}"] = marks.get((p["civil_servant_id"], s.id), "")
    return course, participants
