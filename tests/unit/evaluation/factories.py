"""Factories for evaluation tests: course_completed events, a migrated app, answers."""
from __future__ import annotations

import dataclasses
import uuid
from datetime import date, timedelta

import sqlalchemy as sa

from shared.db import utcnow
from shared.events import decode
from tests.events import make_course_completed
from tests.unit.apps import API_AUTH, deliver

# Courses end yesterday, so their 3-month follow-up is still in the future.
START = date.today() - timedelta(days=2)
YEAR = (START + timedelta(days=1)).year
BASE = "http://127.0.0.1:8003"  # the test settings' feedback_base_url
LECTURERS = ("11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222")


def trainee(commune: str = "CM-TANLOC", *, pre: float | None = None, post: float | None = None,
            competency: str | None = "CM06", certified: bool | None = True, attended: int = 4) -> dict:
    """One participant of a course_completed payload, with optional pre/post test scores."""
    tests = []
    if pre is not None:
        tests.append({"kind": "pre", "competency_code": competency, "score": pre})
    if post is not None:
        tests.append({"kind": "post", "competency_code": competency, "score": post})
    return {"civil_servant_id": str(uuid.uuid4()), "commune_code": commune, "sessions_attended": attended,
            "days_attended": 2, "completed": attended > 0, "certified": certified, "tests": tests}


def course_completed(participants: list[dict], *, course_id: str | None = None, topic: str = "KN-CNTT",
                     start: date = START, code: str | None = None,
                     title: str = "Kỹ năng sử dụng công nghệ số") -> tuple[str, str]:
    """A courses.course_completed event (wire body) with two lecturers over four sessions."""
    course_id = course_id or str(uuid.uuid4())
    sessions = [{"session_id": str(uuid.uuid4()), "date": start + timedelta(days=d // 2),
                 "buoi": ("morning", "afternoon")[d % 2], "lecturer_id": LECTURERS[d // 2], "lecturer_tier": 2}
                for d in range(4)]
    _, body, _ = make_course_completed(course_id=course_id, code=code or f"K-{course_id[:6]}", title=title,
                                       start=start, days=2, total_sessions=4, sessions=sessions,
                                       participants=participants, topic_code=topic, competency_codes=["CM06"])
    return course_id, body


def deliver_with(app, body: str, **settings) -> None:
    """Hand one event to evaluation's handler as the consumer would, with these settings overridden
    (e.g. feedback_window_days=-1: a window that closed yesterday)."""
    from services.evaluation.handlers import HANDLERS
    from shared.db import transaction
    service = app.extensions["service"]
    envelope = decode(body)
    with transaction(service.session_factory) as session:
        HANDLERS[envelope.type]([envelope], session, dataclasses.replace(service.settings, **settings))


def open_course(client, participants: list[dict], *, settings: dict | None = None, **kw) -> tuple[str, list[dict]]:
    """Deliver a course_completed event to the app (with `settings` overridden); return the course id and its
    feedback requests."""
    course_id, body = course_completed(participants, **kw)
    if settings:
        deliver_with(client.application, body, **settings)
    else:
        deliver(client.application, body)
    resp = client.get(f"/api/v1/courses/{course_id}/feedback-requests", headers=API_AUTH)
    assert resp.status_code == 200, resp.data
    return course_id, resp.get_json()


def scores(value: int | None = 8, **overrides) -> dict:
    """The five common dimensions, each `value` unless overridden."""
    from services.evaluation.domain import CRITERIA
    return {**{c: value for c in CRITERIA}, **overrides}


def lecturer_form(value: int | None = 9, **overrides) -> dict:
    """One lecturer's answers to the GV-TT10 form."""
    codes = ("lec_knowledge", "lec_ethics", "lec_responsibility", "lec_methods", "lec_testing")
    return {**{c: value for c in codes}, **overrides}


def outbox_events(app, event_type: str) -> list[dict]:
    """Payloads of the app's outbox rows of one type, oldest first."""
    service = app.extensions["service"]
    t = service.outbox.table
    with service.engine.connect() as conn:
        bodies = conn.execute(sa.select(t.c.body).where(t.c.event_type == event_type).order_by(t.c.seq)).scalars()
        return [decode(b).payload for b in bodies]


def job_rows(client, course_id: str) -> dict:
    """The course's durable jobs (shared.jobs rows) by kind: window, followup."""
    from services.evaluation.models import JOBS_TABLE as t
    keys = [f"window:{course_id}", f"followup:{course_id}"]
    with session_factory(client)() as s:
        return {r.kind: r for r in s.execute(sa.select(t).where(t.c.dedupe_key.in_(keys)))}


def run_jobs(client, now=None, functions: dict | None = None) -> int:
    """Run the app's due jobs as the worker's loop does (at `now`), with its settings; return how many ran."""
    from services.evaluation.jobs import bound
    from services.evaluation.models import JOBS_TABLE
    from shared import jobs
    now_fn = (lambda: now) if now else utcnow
    functions = functions or bound(client.application.extensions["service"].settings, now_fn)
    return jobs.run_due(session_factory(client), JOBS_TABLE, functions, now_fn)


def session_factory(client):
    """The app's session factory (for running use cases and the scheduler directly)."""
    return client.application.extensions["service"].session_factory


LONG_AGO = START - timedelta(days=120)  # a course that ended four months ago: its follow-up may start


def closed_course(client, n=3, value=8, commune="CM-TANLOC", topic="KN-CNTT"):
    course_id, reqs = open_course(client, [trainee(commune, pre=5.0, post=8.0) for _ in range(n)], topic=topic)
    for r in reqs:
        client.post(f"/api/v1/feedback/{r['token']}", json={"scores": scores(value),
                                                            "lecturers": {LECTURERS[0]: lecturer_form(value)}})
    client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    return course_id


def close(client, course_id: str) -> None:
    """Close the course's answer window as an officer would (the scheduler does it at the deadline)."""
    resp = client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    assert resp.status_code == 200, resp.data


def jobs(client, course_id: str) -> dict:
    """The course's durable jobs by kind (job_rows)."""
    return job_rows(client, course_id)
