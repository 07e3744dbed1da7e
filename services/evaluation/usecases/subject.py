"""evaluation's part of the data-subject report (issue 14, shared/subject_report.py): the feedback and follow-up
requests addressed to the person (whether and when answered — the answers themselves are kept apart from the
person, anonymous), test scores, the messages recorded (kind, channel, deadline, time: their text carries the answer link and is left
out), and who accessed the person's record. The answer links and their tokens are left out by
shared.subject_report."""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.evaluation.models import ACCESS_LOG, FollowupRequest, Notification, TestScore
from services.evaluation.usecases.requests import requests_of_person
from shared.subject_report import MAX_ROWS_PER_SECTION, Section, collect

SECTIONS = (
    Section("followup_requests", FollowupRequest.__table__, order_by=("course_id", "respondent")),
    Section("test_scores", TestScore.__table__),
    Section("notifications", Notification.__table__, omit=("message",), order_by=("created_at",)),
    Section("access_log", ACCESS_LOG, column="record_id"),
)


def subject_part(session: Session, civil_servant_id: str) -> dict[str, list[dict]]:
    """Every row evaluation holds about the person, by section. The course feedback requests are not rows of
    their own (issue 16): they are read from the courses' rosters, with the person's answer time and reminders."""
    return {"feedback_requests": requests_of_person(session, civil_servant_id, MAX_ROWS_PER_SECTION),
            **collect(session, civil_servant_id, SECTIONS)}
