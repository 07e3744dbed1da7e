"""The answer window of a course: reminders to non-respondents, closing (score, publish once, schedule the
follow-up) and the durable `window` job that does both on time."""
from __future__ import annotations

import logging
import uuid
from datetime import datetime, time, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.evaluation import events, formats
from services.evaluation.models import OUTBOX, JOBS_TABLE, Notification
from services.evaluation.usecases.queries import compute_result, find_course, get_course_summary
from services.evaluation.usecases.requests import feedback_link, submissions, tokens_of, unanswered_count
from services.evaluation.usecases.rules import active_rule, privacy_minimum
from shared import jobs as durable
from shared.db import is_postgres
from shared.localtime import LOCAL_TZ, local_today, utcnow, vn_datetime

log = logging.getLogger(__name__)


def send_reminders(session: Session, course_id: str, base_url: str, now: datetime | None = None) -> int:
    """One notification (and one evaluation.feedback_reminder_issued) per trainee who has not answered yet."""
    course = find_course(session, course_id)
    now = now or utcnow()
    if course.status == "closed" or now > course.feedback_deadline:
        return 0
    tokens, answered = tokens_of(session, course), submissions(session, course_id)
    deadline_vi = vn_datetime(course.feedback_deadline)
    notes, published = [], []
    for cs in sorted(set(tokens) - set(answered)):
        nid, link = str(uuid.uuid4()), feedback_link(base_url, tokens[cs])
        notes.append({"id": nid, "course_id": course_id, "civil_servant_id": cs,
                      "kind": "feedback_reminder", "channel": "event", "link": link,
                      "deadline": course.feedback_deadline, "created_at": now,
                      "message": formats.reminder_message(course.code, deadline_vi, link)})
        published.append(("evaluation.feedback_reminder_issued", events.feedback_reminder_issued(
            course_id, nid, cs, link, course.feedback_deadline, course.code, course.title), None))
    if notes:
        session.execute(sa.insert(Notification), notes)  # also each trainee's count of reminders
        OUTBOX.emit_many(session, published)
    log.info("feedback reminders issued", extra={"course_id": course_id, "count": len(notes)})
    return len(notes)


def _followup_due(course, delay_days: int) -> datetime:
    """08:00 local, `delay_days` after the course end."""
    end = course.end_date or local_today(course.completed_at)
    return datetime.combine(end + timedelta(days=delay_days), time(8, 0), LOCAL_TZ).astimezone(timezone.utc)


def close_feedback(session: Session, course_id: str, now: datetime | None = None) -> dict:
    """Close the feedback window: score the course, publish evaluation.course_evaluated once, schedule the
    follow-up survey. Closing a closed course returns its result unchanged."""
    if is_postgres(session):
        # Lock order job → course, the scheduler's order (it claims the window job, then closes): an officer's
        # close racing the scheduler then waits instead of deadlocking into a 500.
        session.execute(sa.select(JOBS_TABLE.c.id).where(JOBS_TABLE.c.dedupe_key == f"window:{course_id}")
                        .with_for_update())
    course = find_course(session, course_id, lock=True)
    if course.status == "closed":
        return course.result
    now = now or utcnow()
    result = compute_result(session, course, local_today(now))
    result["evaluated_at"] = now.isoformat()
    course.status, course.closed_at, course.result = "closed", now, result
    window = durable.find(session, JOBS_TABLE, f"window:{course_id}")
    if window is not None and window.status == "pending":  # a running one is this close's own job: its loop ends it
        durable.mark_done(session, JOBS_TABLE, window.id, now)
    delay = active_rule(session, "followup", local_today(now))["delay_days"]
    durable.enqueue(session, JOBS_TABLE, "followup", {"course_id": course_id}, _followup_due(course, delay),
                    f"followup:{course_id}", now=now)
    OUTBOX.emit(session, "evaluation.course_evaluated",
                events.course_evaluated(result, now, privacy_minimum(session)))
    log.info("course evaluated", extra={"course_id": course_id, "band": result["band"]})
    return result


def close_feedback_now(session: Session, course_id: str, now: datetime | None = None) -> dict:
    """Officer: close the window early (close_feedback) and return the course summary."""
    close_feedback(session, course_id, now)
    return get_course_summary(session, course_id)


def run_window(session: Session, payload: dict, base_url: str, now: datetime | None = None) -> durable.Again | None:
    """The window job of a course: remind non-respondents the first time it is due, then be due again at the
    deadline, when (or as soon as everyone answered) it closes the window. None = finished."""
    now = now or utcnow()
    course_id = payload["course_id"]
    course = find_course(session, course_id)
    if course.status == "closed":
        return None
    unanswered = unanswered_count(session, course)
    if now >= course.feedback_deadline or unanswered == 0:
        close_feedback(session, course_id, now)
        return None
    reminded = payload.get("reminded_at")
    if reminded is None:
        send_reminders(session, course_id, base_url, now)
        reminded = now.isoformat()
    return durable.Again(course.feedback_deadline, {"course_id": course_id, "reminded_at": reminded})


def run_due_jobs(session_factory, functions: dict, *, now: datetime | None = None, limit: int = 100) -> int:
    """Operator: run the due jobs now in this process (the worker's loop does this every second anyway)."""
    now_fn = (lambda: now) if now else utcnow
    return durable.run_due(session_factory, JOBS_TABLE, functions, now_fn, limit)


