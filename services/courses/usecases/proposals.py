"""Draft courses proposed from an approved plan, with their ranked candidates."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.courses.models import Course, CourseCandidate, Enrollment, Topic, Trainee
from shared.localtime import utcnow
from services.courses.usecases.enrollment import new_token


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


def propose_courses(session: Session, payload: dict, organizer_unit: str, now: datetime | None = None) -> int:
    """Propose one draft course per plan line, organised by `organizer_unit` (the service setting), with its
    candidates ranked by priority; return how many were made."""
    now = now or utcnow()
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
                        organizer_unit_code=organizer_unit, status="draft", created_at=now,
                        topic_code=line["topic_code"] if topic else None,
                        fostering_type=(topic.fostering_types[0] if topic and topic.fostering_types else None),
                        form="in_person", capacity=capacity, excused_max_percent=0, plan_id=payload["plan_id"],
                        plan_line_id=line["line_id"], revision=0)
        session.add(course)
        session.flush()
        known = set(session.scalars(sa.select(Trainee.civil_servant_id).where(
            Trainee.civil_servant_id.in_([c["civil_servant_id"] for c in ranked]),
            Trainee.employment_status != "left"))) if ranked else set()
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
                                       need_ids=list(c.get("need_ids") or []), token=new_token(),
                                       status_reason="Đề xuất từ kế hoạch đã duyệt."))
        made += 1
    return made
