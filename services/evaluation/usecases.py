"""Use cases of the evaluation service: each takes a session inside the caller's transaction."""
from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation import domain
from services.evaluation.models import OUTBOX, EvaluatedCourse, FeedbackRequest, FeedbackResponse
from services.evaluation.settings import feedback_window_days
from shared.db import bulk_insert, insert_ignoring_conflicts, utcnow
from shared.errors import DomainError, NotFound
from shared.events import Envelope


def open_feedback(session: Session, envelopes: list[Envelope]) -> int:
    """For each completed course, one feedback request per participant who attended; publish
    evaluation.feedback_requested per course. Multi-row statements: this runs for a whole batch of events.

    Returns how many requests were created. A course already opened is skipped (a second guard behind the
    inbox, so a replayed event under a new id cannot open the course twice).
    """
    now = utcnow()
    deadline = now + timedelta(days=feedback_window_days())
    courses = {}
    for env in envelopes:
        p = env.payload
        courses.setdefault(p["course_id"], (env, [x["civil_servant_id"] for x in p["participants"]
                                                  if x["sessions_attended"] > 0]))
    opened = set(session.scalars(
        insert_ignoring_conflicts(session, EvaluatedCourse.__table__).returning(EvaluatedCourse.course_id), [
            {"course_id": cid, "code": env.payload["code"], "title": env.payload["title"],
             "completed_at": env.payload["completed_at"], "feedback_deadline": deadline,
             "participants": len(attendees), "opened_at": now}
            for cid, (env, attendees) in courses.items()
        ]))
    rows, events = [], []
    for cid, (env, attendees) in courses.items():
        if cid not in opened:
            continue
        # 24 random bytes (192 bits) from the OS CSPRNG: unguessable, and short enough for a link.
        rows += [{"course_id": cid, "civil_servant_id": cs_id, "token": secrets.token_urlsafe(24)}
                 for cs_id in attendees]
        events.append(("evaluation.feedback_requested",
                       {"course_id": cid, "request_count": len(attendees), "deadline": deadline}, env))
    bulk_insert(session, FeedbackRequest.__table__, rows)
    OUTBOX.emit_many(session, events)
    return len(rows)


def list_requests(session: Session, course_id: str) -> list[dict]:
    """Return a course's feedback requests (officers hand the links out)."""
    course = session.get(EvaluatedCourse, course_id)
    if course is None:
        raise NotFound("Lớp học chưa được mở đánh giá.", field="course_id")
    reqs = session.scalars(sa.select(FeedbackRequest).where(FeedbackRequest.course_id == course_id)
                           .order_by(FeedbackRequest.civil_servant_id))
    return [{"civil_servant_id": r.civil_servant_id, "token": r.token, "deadline": course.feedback_deadline,
             "submitted_at": r.submitted_at} for r in reqs]


def _request_by_token(session: Session, token: str) -> FeedbackRequest:
    req = session.scalar(sa.select(FeedbackRequest).where(FeedbackRequest.token == token))
    if req is None:
        raise NotFound("Đường dẫn đánh giá không hợp lệ.", field="token")
    return req


def feedback_form(session: Session, token: str) -> dict:
    """Describe the form behind a token: course, criteria, deadline and whether it can still be answered."""
    req = _request_by_token(session, token)
    course = session.get(EvaluatedCourse, req.course_id)
    state = "submitted" if req.submitted_at else ("expired" if utcnow() > course.feedback_deadline else "open")
    return {"course_code": course.code, "course_title": course.title, "deadline": course.feedback_deadline,
            "state": state,
            "criteria": [{"code": c, "label": domain.CRITERIA_LABELS[c]} for c in domain.CRITERIA]}


def submit_feedback(session: Session, token: str, scores: dict, comment: str | None) -> FeedbackResponse:
    """Record one answer per token; refuse an expired or already used token."""
    req = _request_by_token(session, token)
    now = utcnow()
    if now > session.get(EvaluatedCourse, req.course_id).feedback_deadline:
        raise DomainError("Đã hết hạn gửi đánh giá.", field="token", status=410)
    # Conditional update: of two concurrent submissions only one finds submitted_at still empty.
    claimed = session.execute(sa.update(FeedbackRequest).where(
        FeedbackRequest.token == token, FeedbackRequest.submitted_at.is_(None)).values(submitted_at=now)).rowcount
    if claimed != 1:
        raise DomainError("Phiếu đánh giá này đã được gửi.", field="token")
    answers = {c: scores.get(c) for c in domain.CRITERIA}
    resp = FeedbackResponse(id=str(uuid.uuid4()), course_id=req.course_id, scores=answers, comment=comment,
                            valid=domain.form_is_valid(answers), submitted_at=now)
    session.add(resp)
    return resp


def course_summary(session: Session, course_id: str) -> dict:
    """Aggregate a course's feedback anonymously: response rate, means per criterion, index and band."""
    course = session.get(EvaluatedCourse, course_id)
    if course is None:
        raise NotFound("Lớp học chưa được mở đánh giá.", field="course_id")
    requests = session.scalar(sa.select(sa.func.count()).where(FeedbackRequest.course_id == course_id))
    forms = list(session.scalars(sa.select(FeedbackResponse.scores).where(FeedbackResponse.course_id == course_id)))
    s = domain.summarise(requests, forms)
    return {"course_id": course_id, "course_code": course.code, "course_title": course.title,
            "feedback_deadline": course.feedback_deadline, **s.__dict__,
            "criteria_labels": domain.CRITERIA_LABELS}
