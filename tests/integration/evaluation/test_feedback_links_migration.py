"""Migration 0008: the feedback requests stop being rows. Answers become submissions, the random tokens already
sent keep working (feedback_legacy_tokens), a course without a roster gets one from its requests; the downgrade
rebuilds every request, with the computed tokens of the courses opened since. Both backends."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session

from services.evaluation.usecases import queries, requests
from shared import capability
from shared.db import UTCDateTime
from shared.migrate import alembic_config, upgrade
from tests.helpers import query_rows

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=timezone.utc)
ROSTER = {"communes": {"X1": ["cs-b", "cs-a"]}, "uncertified": []}
# (course, trainee, token, submitted_at, reminders)
REQUESTS = [("c-1", "cs-a", "A" * 32, NOW + timedelta(hours=2), 1), ("c-1", "cs-b", "B" * 32, None, 1),
            ("c-0", "cs-z", "Z" * 32, None, 0)]


def _course(course_id: str, roster) -> dict:
    return {"course_id": course_id, "code": course_id.upper(), "title": "Lớp", "completed_at": NOW,
            "feedback_deadline": NOW + timedelta(days=7), "participants": 2 if roster else 1, "opened_at": NOW,
            "status": "open", "roster": roster}


def _seed_0007(url: str) -> None:
    from services.evaluation.models import EvaluatedCourse, Notification
    engine = sa.create_engine(url)
    reqs = sa.table("feedback_requests", sa.column("course_id"), sa.column("civil_servant_id"), sa.column("token"),
                    sa.column("submitted_at", UTCDateTime()), sa.column("reminders"))
    with engine.begin() as conn:  # the models' columns that 0007 has: none of 0008's is named
        conn.execute(sa.insert(EvaluatedCourse.__table__), [_course("c-1", ROSTER)])
        conn.execute(sa.insert(EvaluatedCourse.__table__).values(roster=sa.null()), [_course("c-0", None)])
        conn.execute(reqs.insert(), [
            {"course_id": c, "civil_servant_id": cs, "token": tok, "submitted_at": at, "reminders": n}
            for c, cs, tok, at, n in REQUESTS])
        conn.execute(sa.insert(Notification.__table__), [
            {"id": f"n-{cs}", "course_id": c, "civil_servant_id": cs, "kind": "feedback_reminder", "channel": "event",
             "link": "-", "deadline": NOW, "message": "-", "created_at": NOW} for c, cs, _, _, n in REQUESTS if n])
    engine.dispose()


def _rows(url: str, sql: str) -> list[tuple]:
    return sorted(query_rows(url, sql))


def test_requests_become_submissions_and_kept_tokens_and_come_back(db_url_factory):
    url = db_url_factory("mig_feedback_links")
    upgrade("evaluation", url, "0007")
    _seed_0007(url)
    upgrade("evaluation", url, "0008")
    assert [r[:2] for r in _rows(url, "SELECT course_id, civil_servant_id FROM feedback_submissions")] == [
        ("c-1", "cs-a")]
    assert _rows(url, "SELECT token, course_id, civil_servant_id FROM feedback_legacy_tokens") == sorted(
        (tok, c, cs) for c, cs, tok, _, _ in REQUESTS)
    engine = sa.create_engine(url)
    try:
        from services.evaluation.models import EvaluatedCourse
        with Session(engine) as s:
            legacy = s.get(EvaluatedCourse, "c-0")
            assert legacy.roster == {"communes": {"": ["cs-z"]}, "uncertified": None}  # built from its requests
            assert queries.trainees(s, "c-0") == [{"civil_servant_id": "cs-z", "commune_code": "", "certified": None}]
            assert [r["civil_servant_id"] for r in requests.list_requests(s, legacy, "http://x")] == ["cs-z"]
            # The links already sent still open their trainee's request, answered or not.
            a = requests.find_course_request(s, "A" * 32)
            assert (a.course_id, a.civil_servant_id, a.submitted_at is not None) == ("c-1", "cs-a", True)
            assert requests.find_course_request(s, "B" * 32).submitted_at is None
            listed = requests.list_requests(s, s.get(EvaluatedCourse, "c-1"), "http://x")
            assert [(r["civil_servant_id"], r["token"], r["reminders"]) for r in listed] == [
                ("cs-a", "A" * 32, 1), ("cs-b", "B" * 32, 1)]
            # A course opened since: a handle and a key, no rows per trainee.
            [(handle, key)] = capability.new_secrets(1, lambda n: bytes(range(n)))
            s.add(EvaluatedCourse(**{**_course("c-2", ROSTER), "feedback_handle": handle, "feedback_key": key}))
            s.commit()
            computed = capability.tokens(requests.FEEDBACK_LINKS, handle, key, ["cs-a", "cs-b"])
            assert requests.find_course_request(s, computed["cs-b"]).civil_servant_id == "cs-b"
    finally:
        engine.dispose()
    command.downgrade(alembic_config("evaluation", url), "0007")
    back = _rows(url, "SELECT course_id, civil_servant_id, token, submitted_at IS NOT NULL, reminders "
                      "FROM feedback_requests")
    assert back == sorted([(c, cs, tok, at is not None, n) for c, cs, tok, at, n in REQUESTS]
                          + [("c-2", cs, tok, False, 0) for cs, tok in computed.items()])
    assert _rows(url, "SELECT course_id FROM evaluated_courses WHERE roster IS NULL") == [("c-0",)]
