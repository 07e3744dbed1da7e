"""thoibinh_courses_closed_total (issue 15, the dashboard's "closed" panel): one increment per course closed, counted
when the closing transaction commits — not when it rolls back, not again for a replayed event — on both backends."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from services.courses.handlers import HANDLERS
from shared import metrics
from shared.db import transaction, utcnow
from shared.events import decode, new_event
from tests.unit.apps import API_AUTH, deliver
from tests.unit.courses.factories import confirmed_course, ok

CLOSED = "thoibinh_courses_closed_total"


def closed_count() -> float:
    return REGISTRY.get_sample_value(CLOSED, {"service": "courses"}) or 0.0


@pytest.fixture
def courses(make_client):
    client = make_client("courses")
    ok(client.post("/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                      "note": "tests"}, headers=API_AUTH))
    return client


def completed_course(client) -> str:
    course, ids = confirmed_course(client, 1)
    records = [{"session_id": s["id"], "civil_servant_id": ids[0], "present": True} for s in course["sessions"]]
    ok(client.post(f"/api/v1/courses/{course['id']}/attendance", json={"records": records}, headers=API_AUTH), 201)
    ok(client.post(f"/api/v1/courses/{course['id']}/complete", headers=API_AUTH))
    return course["id"]


def feedback_requested(course_id: str) -> str:
    return new_event("evaluation.feedback_requested", {"course_id": course_id, "request_count": 1,
                                                       "deadline": utcnow() + timedelta(days=14)},
                     producer="evaluation")[1]


def settled(course_id: str) -> str:
    return new_event("funding.course_settled", {"course_id": course_id, "settlement_id": "s1", "lecturer_fees": 1,
                                                "learner_support": 2, "total_amount": 3, "settled_at": utcnow()},
                     producer="funding")[1]


def status(client, course_id: str) -> str:
    return ok(client.get(f"/api/v1/courses/{course_id}"))["status"]


def test_a_close_counts_once_when_it_commits_and_a_replayed_input_counts_nothing(backend, courses):
    course_id = completed_course(courses)
    before = closed_count()
    deliver(courses.application, feedback_requested(course_id))
    assert (status(courses, course_id), closed_count()) == ("completed", before)  # one of the two inputs
    deliver(courses.application, settled(course_id))
    assert (status(courses, course_id), closed_count()) == ("closed", before + 1)
    # The same settlement again under a new event id (a replay from the console): already closed, no second count.
    deliver(courses.application, settled(course_id))
    deliver(courses.application, feedback_requested(course_id))
    assert closed_count() == before + 1


def test_a_close_that_is_rolled_back_counts_nothing(backend, courses):
    course_id = completed_course(courses)
    deliver(courses.application, feedback_requested(course_id))
    service = courses.application.extensions["service"]
    envelope = decode(settled(course_id))
    before = closed_count()

    class Boom(Exception):
        pass

    with pytest.raises(Boom):  # the consumer's batch failed after the handler closed the course
        with transaction(service.session_factory) as session:
            HANDLERS[envelope.type](envelope, session, service.settings)
            assert closed_count() == before  # not before the commit either
            raise Boom
    assert (status(courses, course_id), closed_count()) == ("completed", before)
    deliver(courses.application, settled(course_id))  # applied again, one message per transaction: it commits
    assert (status(courses, course_id), closed_count()) == ("closed", before + 1)


def test_the_counter_is_scraped_at_zero_before_the_first_close_and_only_by_courses(make_client):
    def scraped(client) -> dict:
        text = client.get("/metrics").get_data(as_text=True)
        return {s.labels["service"]: s.value for f in text_string_to_metric_families(text)
                for s in f.samples if s.name == CLOSED}

    got = scraped(make_client("courses"))
    assert set(got) == {"courses"} and got["courses"] == closed_count()
    assert all(service == "courses" for service in scraped(make_client("needs")))


def test_after_commit_hooks_run_in_order_survive_a_failing_hook_and_are_dropped_on_rollback(make_client):
    service = make_client("funding").application.extensions["service"]
    ran = []

    def failing():
        raise RuntimeError("a broken hook")

    with transaction(service.session_factory) as session:
        session.execute(sa.text("select 1"))
        metrics.after_commit(session, lambda: ran.append("a"))
        metrics.after_commit(session, failing)
        metrics.after_commit(session, lambda: ran.append("b"))
        assert ran == []
    assert ran == ["a", "b"]
    with service.session_factory() as session:
        with session.begin():
            metrics.after_commit(session, lambda: ran.append("undone"))
            session.rollback()
        with session.begin():  # the same session's next transaction commits: the dropped hook stays dropped
            metrics.after_commit(session, lambda: ran.append("c"))
    assert ran == ["a", "b", "c"]
