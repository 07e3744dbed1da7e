"""The local copy of needs' civil servants: registered/updated, left, communes remapped on a reorganisation."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses import domain, formats
from services.courses.domain import ACTIVE_ENROLLMENT
from services.courses.models import CommuneDutyRule, Course, CourseCandidate, Enrollment, Trainee, VenueDistance
from shared.localtime import utcnow, vn_date
from services.courses.usecases.enrollment import _promote
from services.courses.usecases.scheduling import _roster_changed


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


def record_departure(session: Session, payload: dict, occurred_at: datetime | None = None,
                     now: datetime | None = None) -> int:
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
    why = formats.LEAVE_REASON_VI.get(payload["reason"], payload["reason"])
    reason = f"Công chức nghỉ việc từ {vn_date(payload['left_on'])} ({why})."
    rows = session.execute(sa.select(Enrollment, Course).join(Course, Course.id == Enrollment.course_id).where(
        Enrollment.civil_servant_id == trainee.civil_servant_id, Enrollment.status != "withdrawn",
        Course.status.in_(domain.ENROLLABLE))).all()
    for enrollment, course in rows:
        was_enrolled = enrollment.status == ACTIVE_ENROLLMENT
        enrollment.status, enrollment.status_reason, enrollment.withdrawn_at = "withdrawn", reason, now or utcnow()
        if was_enrolled:
            session.flush()
            _promote(session, course)
            _roster_changed(session, course)
    return len(rows)


def remap_communes(session: Session, payload: dict, now: datetime | None = None) -> None:
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
                                            is_sample=rule.is_sample, updated_at=now or utcnow()))
        session.flush()
