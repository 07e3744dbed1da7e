"""Payloads of the events the evaluation service publishes, one builder per event (schemas in shared/events.py)."""
from __future__ import annotations

from datetime import datetime


def feedback_requested(course_id: str, request_count: int, deadline: datetime) -> dict:
    """evaluation.feedback_requested: the course's feedback window is open (one of courses' closing conditions)."""
    return {"course_id": course_id, "request_count": request_count, "deadline": deadline}


def feedback_reminder_issued(course_id: str, notification_id: str, civil_servant_id: str, link: str,
                             deadline: datetime, code: str | None = None, title: str | None = None) -> dict:
    """evaluation.feedback_reminder_issued: a reminder to one non-respondent (needs delivers it)."""
    return {"course_id": course_id, "notification_id": notification_id, "civil_servant_id": civil_servant_id,
            "link": link, "deadline": deadline, "course_code": code, "course_title": title}


def trainee_feedback_requested(course_id: str, code: str, title: str, recipients: list[dict],
                               deadline: datetime) -> dict:
    """evaluation.trainee_feedback_requested v2: the course's trainees, each with their own feedback link
    (`recipients[]` {civil_servant_id, link}), and the deadline, in one message (needs delivers one per trainee)."""
    return {"course_id": course_id, "course_code": code, "course_title": title, "deadline": deadline,
            "recipients": recipients}


def followup_requested(course_id: str, code: str, title: str, civil_servant_id: str, respondent: str, link: str,
                       deadline: datetime) -> dict:
    """evaluation.followup_requested: the L3/L4 survey link to the trainee or (respondent "supervisor") to the
    trainee's direct supervisor, whom needs resolves."""
    return {"course_id": course_id, "course_code": code, "course_title": title, "civil_servant_id": civil_servant_id,
            "respondent": respondent, "link": link, "deadline": deadline}


def course_evaluated(result: dict, evaluated_at: datetime, min_group_size: int) -> dict:
    """evaluation.course_evaluated: the frozen result. The event leaves this service: a lecturer's mean over fewer
    forms than the privacy minimum would be those trainees' own answers in another service's records, so only
    lecturers with enough forms travel."""
    lecturers = [lec for lec in result["lecturer_scores"]
                 if lec.get("responses", 0) >= min_group_size and lec.get("mean") is not None]
    return {**result, "lecturer_scores": lecturers, "evaluated_at": evaluated_at}
