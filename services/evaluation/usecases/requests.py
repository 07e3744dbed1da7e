"""Who a course asked for feedback, their links, and who has answered (issue 16).

A course's requests are not rows: the attendees are its roster, each trainee's token is computed from the course's
handle and key (shared.capability, FEEDBACK_LINKS), an answer writes one `feedback_submissions` row, and
the reminders a trainee received are their `feedback_reminder` notifications. Courses opened before migration 0008
keep the random tokens they were opened with (`feedback_legacy_tokens`). Read-only, like queries.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation.models import EvaluatedCourse, FeedbackSubmission, LegacyFeedbackToken, Notification
from shared import capability

FEEDBACK_LINKS = b"feedback-link"  # the purpose the MACs of evaluation's course tokens are personalised with


@dataclass(frozen=True)
class CourseRequest:
    """One trainee's request to answer a course's form: what a token stands for."""

    course_id: str
    civil_servant_id: str
    token: str
    submitted_at: datetime | None


def commune_of(roster: dict | None) -> dict[str, str]:
    """civil_servant_id → sending commune, from a course's stored roster."""
    return {cs: commune for commune, ids in (roster or {}).get("communes", {}).items() for cs in ids}


def attendees(course: EvaluatedCourse) -> list[str]:
    """The trainees asked for feedback, in token order (every attendee of the course)."""
    return capability.member_order(commune_of(course.roster))


def feedback_link(base_url: str, token: str) -> str:
    """The trainee's link: the server-rendered form."""
    return f"{base_url.rstrip('/')}/feedback/{token}"


def tokens_of(session: Session, course: EvaluatedCourse) -> dict[str, str]:
    """civil_servant_id → token of every attendee of the course."""
    if course.feedback_key is not None:
        return capability.tokens(FEEDBACK_LINKS, course.feedback_handle, course.feedback_key, attendees(course))
    return dict(session.execute(sa.select(LegacyFeedbackToken.civil_servant_id, LegacyFeedbackToken.token)
                                .where(LegacyFeedbackToken.course_id == course.course_id)).all())


def submissions(session: Session, course_id: str) -> dict[str, datetime]:
    """civil_servant_id → when they answered, of the trainees of the course who have."""
    return dict(session.execute(sa.select(FeedbackSubmission.civil_servant_id, FeedbackSubmission.submitted_at)
                                .where(FeedbackSubmission.course_id == course_id)).all())


def answered_count(session: Session, course_id: str) -> int:
    return session.scalar(sa.select(sa.func.count()).where(FeedbackSubmission.course_id == course_id))


def unanswered_count(session: Session, course: EvaluatedCourse) -> int:
    return len(commune_of(course.roster)) - answered_count(session, course.course_id)


def reminder_counts(session: Session, course_id: str) -> dict[str, int]:
    """civil_servant_id → feedback reminders sent to them for the course."""
    return dict(session.execute(
        sa.select(Notification.civil_servant_id, sa.func.count())
        .where(Notification.course_id == course_id, Notification.kind == "feedback_reminder")
        .group_by(Notification.civil_servant_id)).all())


def find_course_request(session: Session, token: str) -> CourseRequest | None:
    """The course request a token stands for, or None (a follow-up's token, or no token at all)."""
    parsed = capability.parse(token)
    if parsed is not None:
        course = session.scalar(sa.select(EvaluatedCourse).where(EvaluatedCourse.feedback_handle == parsed[0]))
        holder = capability.holder(FEEDBACK_LINKS, token, course.feedback_key, attendees(course)) if course else None
        if holder is None:
            return None
        course_id = course.course_id
    else:
        row = session.get(LegacyFeedbackToken, token) if len(token) <= 64 else None
        if row is None:
            return None
        course_id, holder = row.course_id, row.civil_servant_id
    submitted = session.scalar(sa.select(FeedbackSubmission.submitted_at).where(
        FeedbackSubmission.course_id == course_id, FeedbackSubmission.civil_servant_id == holder))
    return CourseRequest(course_id, holder, token, submitted)


def list_requests(session: Session, course: EvaluatedCourse, base_url: str) -> list[dict]:
    """A course's feedback requests with their links (officers hand the links out), by trainee id."""
    tokens, answered = tokens_of(session, course), submissions(session, course.course_id)
    reminded = reminder_counts(session, course.course_id)
    return [{"civil_servant_id": cs, "token": tokens[cs], "link": feedback_link(base_url, tokens[cs]),
             "deadline": course.feedback_deadline, "submitted_at": answered.get(cs), "reminders": reminded.get(cs, 0)}
            for cs in sorted(tokens)]


def requests_of_person(session: Session, civil_servant_id: str, limit: int) -> list[dict]:
    """The course feedback requests addressed to a person (data-subject report): whether and when answered and
    how often reminded; never the token. The rosters are searched as text, then parsed to confirm."""
    # The id as the roster's JSON text holds it, LIKE's wildcards escaped.
    needle = json.dumps(civil_servant_id).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    candidates = session.execute(sa.select(EvaluatedCourse.course_id, EvaluatedCourse.roster).where(
        sa.cast(EvaluatedCourse.roster, sa.Text).like(f"%{needle}%", escape="\\"))
        .order_by(EvaluatedCourse.course_id))
    ids = [cid for cid, roster in candidates if civil_servant_id in commune_of(roster)][:limit]
    if not ids:
        return []
    mine = (FeedbackSubmission.course_id.in_(ids), FeedbackSubmission.civil_servant_id == civil_servant_id)
    submitted = dict(session.execute(sa.select(FeedbackSubmission.course_id, FeedbackSubmission.submitted_at)
                                     .where(*mine)).all())
    reminded = dict(session.execute(
        sa.select(Notification.course_id, sa.func.count())
        .where(Notification.course_id.in_(ids), Notification.civil_servant_id == civil_servant_id,
               Notification.kind == "feedback_reminder").group_by(Notification.course_id)).all())
    return [{"course_id": cid, "civil_servant_id": civil_servant_id,
             "submitted_at": submitted[cid].isoformat() if cid in submitted else None,
             "reminders": reminded.get(cid, 0)} for cid in ids]
