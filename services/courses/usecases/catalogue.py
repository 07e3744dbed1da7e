"""Topics, lecturers (with their ratings and the standard check) and venues."""
from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain, seed
from services.courses.models import Course, CourseSession, Lecturer, LecturerRating, Topic, Venue, VenueDistance
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import local_today
from services.courses.usecases.queries import _enrolled_trainees, _topic
from services.courses.usecases.rules import _lecturer_standard
from services.courses.usecases.scheduling import _roster_changed


def create_topic(session: Session, data: dict) -> Topic:
    """Add a topic ("chuyên đề") to the catalogue with its content area, competencies and fostering types."""
    if session.get(Topic, data["code"]) is not None:
        raise Conflict(f"Đã có chuyên đề mã {data['code']}.", field="code")
    topic = Topic(**{**data, "competency_codes": list(dict.fromkeys(data["competency_codes"])),
                     "fostering_types": list(dict.fromkeys(data["fostering_types"]))})
    session.add(topic)
    session.flush()
    return topic


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
                                        _lecturer_standard(session, on or local_today()))
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


def get_lecturer(session: Session, lecturer_id: str, on: date | None = None) -> dict:
    """Show a lecturer with their rating history."""
    lecturer = session.get(Lecturer, lecturer_id)
    if lecturer is None:
        raise NotFound("Không tìm thấy giảng viên.", field="lecturer_id")
    view = _lecturer_view(session, lecturer, _ratings(session, [lecturer_id]), on=on)
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


def seed_reference_data(session: Session) -> int:
    """Insert the missing reference and sample rows (topics, MẪU rule versions); return how many. Idempotent."""
    return seed.seed(session)
