"""Durable jobs of the evaluation service (shared.jobs): each `run_<kind>` makes one use-case call. JOBS is the
table the worker's loop runs (`bound(settings)` gives run_due's (session, job) functions)."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from services.evaluation import usecases
from services.evaluation.settings import EvaluationSettings
from shared.localtime import utcnow


def run_window(session, job, settings: EvaluationSettings, now: datetime | None = None):
    """Remind the course's non-respondents once, then close the window at the deadline (or once all answered)."""
    return usecases.run_window(session, job.payload, settings.feedback_base_url, now)


def run_followup(session, job, settings: EvaluationSettings, now: datetime | None = None):
    """Open the course's L3/L4 follow-up survey (trainee and supervisor links with notifications)."""
    usecases.open_followup(session, job.payload["course_id"], settings.feedback_base_url, now)


def bound(settings: EvaluationSettings, now_fn: Callable[[], datetime] = utcnow) -> dict:
    """JOBS as shared.jobs.run_due calls them, fn(session, job), with the settings and the loop's clock."""
    return {kind: (lambda session, job, fn=fn: fn(session, job, settings, now_fn())) for kind, fn in JOBS.items()}


JOBS = {
    "window": run_window,
    "followup": run_followup,
}
