"""The evaluation scheduler on real databases: jobs survive restarts, a job held by a killed worker is due again,
SKIP LOCKED shares jobs between workers, and the real worker process closes a window and publishes the result."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from services.evaluation import usecases
from services.evaluation.jobs import bound
from services.evaluation.models import JOBS_TABLE, OUTBOX_TABLE, EvaluatedCourse
from services import get_settings
from shared import jobs as durable
from shared.config import PROJECT_ROOT
from shared.db import transaction, utcnow
from shared.events import decode
from tests.helpers import wait_until
from tests.integration.conftest import declare_topology
from tests.unit.evaluation.factories import course_completed, scores, trainee

pytestmark = [pytest.mark.postgres]
BASE = "http://127.0.0.1:8003"
LATER = utcnow() + timedelta(days=30)  # every job of a just-opened course is due by then (but the follow-up)


def run_due_jobs(session_factory, base_url: str, now=None) -> int:
    """Run the due jobs as the worker's loop does, at `now`; return how many ran."""
    now_fn = (lambda: now) if now else utcnow
    functions = bound(get_settings("evaluation", feedback_base_url=base_url), now_fn)
    return durable.run_due(session_factory, JOBS_TABLE, functions, now_fn)


def open_courses(db, n: int = 1, people: int = 2) -> list[str]:
    envs = [decode(course_completed([trainee() for _ in range(people)])[1]) for _ in range(n)]
    with transaction(db.session_factory) as s:
        usecases.open_feedback(s, envs, base_url="http://127.0.0.1:8003")
    return [e.payload["course_id"] for e in envs]


def evaluated(db) -> list[str]:
    bodies = db.rows(sa.select(OUTBOX_TABLE.c.body).where(OUTBOX_TABLE.c.event_type == "evaluation.course_evaluated"))
    return [json.loads(b)["payload"]["course_id"] for (b,) in bodies]


DYING_WORKER = textwrap.dedent("""
    import sys, time
    from datetime import datetime
    from services.evaluation import usecases
    from services.evaluation.models import JOBS_TABLE
    from shared import jobs
    from shared.db import make_engine, make_session_factory
    session = make_session_factory(make_engine(sys.argv[1]))()
    session.begin()
    [job] = jobs.claim_due(session, JOBS_TABLE, datetime.fromisoformat(sys.argv[2]), limit=1)
    usecases.run_window(session, job.payload, "http://x", datetime.fromisoformat(sys.argv[2]))
    session.flush()
    print(job.kind, flush=True)
    time.sleep(120)  # killed here, mid-transaction
""")


def test_a_job_held_by_a_killed_worker_is_due_again_and_runs_once(service_db):
    db = service_db("evaluation")
    [course_id] = open_courses(db)
    proc = subprocess.Popen([sys.executable, "-c", DYING_WORKER, db.url, LATER.isoformat()], cwd=PROJECT_ROOT,
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "LOG_LEVEL": "WARNING"})
    try:
        assert proc.stdout.readline().strip() == "window"  # it holds the window job, uncommitted
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    pending = db.rows(sa.select(JOBS_TABLE.c.kind, JOBS_TABLE.c.status).where(
        JOBS_TABLE.c.dedupe_key.in_([f"window:{course_id}", f"followup:{course_id}"])))
    assert pending == [("window", "pending")]  # the row survived, nothing done
    assert run_due_jobs(db.session_factory, BASE, now=LATER) == 1
    assert evaluated(db) == [course_id]
    assert run_due_jobs(db.session_factory, BASE, now=LATER) == 0


def test_skip_locked_gives_each_worker_a_different_job(service_db, db_url_factory):
    if db_url_factory.backend != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serialises writers with BEGIN IMMEDIATE")
    db = service_db("evaluation")
    open_courses(db, 2)
    a, b = db.session_factory(), db.session_factory()
    try:
        a.begin()
        b.begin()
        first = next(iter(durable.claim_due(a, JOBS_TABLE, LATER, limit=1)), None)
        second = next(iter(durable.claim_due(b, JOBS_TABLE, LATER, limit=1)), None)
        assert first is not None and second is not None and first.id != second.id
    finally:
        a.rollback(), b.rollback(), a.close(), b.close()


def test_two_scheduler_threads_run_every_job_exactly_once(service_db, db_url_factory):
    db = service_db("evaluation")
    course_ids = open_courses(db, 6)
    threads = [threading.Thread(target=run_due_jobs, args=(db.session_factory, BASE), kwargs={"now": LATER})
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(evaluated(db)) == sorted(course_ids)
    assert db.count(JOBS_TABLE, JOBS_TABLE.c.status == "done") == 6


@pytest.mark.broker
@pytest.mark.slow
def test_the_worker_process_closes_a_fully_answered_window_and_publishes_course_evaluated(service_db, bus, broker):
    db = service_db("evaluation")
    settings = get_settings("evaluation", database_url=db.url, exchange=bus.exchange,
                             queue_prefix=bus.queue_prefix)
    from services.evaluation.handlers import HANDLERS
    declare_topology(settings, HANDLERS)
    capture = broker.capture("evaluation.course_evaluated")
    env = {**os.environ, **bus.env(), "EVALUATION_DATABASE_URL": db.url, "LOG_LEVEL": "WARNING",
           "EVALUATION_SCHEDULER_POLL_SECONDS": "0.2"}
    worker = subprocess.Popen([sys.executable, "-m", "services.evaluation.worker"], cwd=PROJECT_ROOT, env=env)
    try:
        course_id, body = course_completed([trainee(), trainee()])
        broker.publish_event(decode(body), body)
        wait_until(lambda: db.count(EvaluatedCourse.__table__, EvaluatedCourse.course_id == course_id) == 1, 30,
                   what="the course opened for feedback")
        worker.send_signal(signal.SIGTERM)  # a restart between opening and answering
        assert worker.wait(30) == 0
        with transaction(db.session_factory) as s:
            tokens = [r["token"] for r in usecases.list_requests(s, course_id, BASE)]
            assert len(tokens) == 2
            for token in tokens:
                usecases.submit_feedback(s, token, scores(9), None)
        worker = subprocess.Popen([sys.executable, "-m", "services.evaluation.worker"], cwd=PROJECT_ROOT, env=env)
        [message] = broker.take(capture, 1, timeout=30)
        payload = json.loads(message[2])["payload"]
        assert (payload["course_id"], payload["general_index"], payload["band"]) == (course_id, 9.0, "excellent")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)


def test_an_officer_closing_while_the_scheduler_closes_the_same_window_waits_and_publishes_once(
        service_db, db_url_factory):
    if db_url_factory.backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers with BEGIN IMMEDIATE")
    db = service_db("evaluation")
    [course_id] = open_courses(db)
    scheduler = db.session_factory()
    scheduler.begin()
    errors: list[Exception] = []

    def officer():
        try:
            with transaction(db.session_factory) as s:
                usecases.close_feedback(s, course_id)
        except Exception as exc:  # noqa: BLE001 — the assertion below shows it
            errors.append(exc)

    try:
        [job] = durable.claim_due(scheduler, JOBS_TABLE, LATER, limit=1)  # the scheduler holds the window job …
        usecases.find_course(scheduler, course_id)  # … and has read the (still open) course, as run_job does
        thread = threading.Thread(target=officer)
        thread.start()
        wait_until(lambda: db.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")) >= 1, 20,
                   what="the officer's close waiting for a lock")
        assert usecases.run_window(scheduler, job.payload, BASE, LATER) is None  # closes; no deadlock with the officer
        durable.mark_done(scheduler, JOBS_TABLE, job.id, LATER)
        scheduler.commit()
    finally:
        scheduler.close()
    thread.join(30)
    assert errors == []
    assert evaluated(db) == [course_id]  # published exactly once


def test_the_last_answer_arriving_while_the_scheduler_closes_is_counted_without_deadlock(service_db, db_url_factory):
    if db_url_factory.backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite serialises writers with BEGIN IMMEDIATE")
    db = service_db("evaluation")
    [course_id] = open_courses(db, people=2)
    with transaction(db.session_factory) as s:
        first, last = [r["token"] for r in usecases.list_requests(s, course_id, BASE)]
        usecases.submit_feedback(s, first, scores(9), None)
    scheduler = db.session_factory()
    scheduler.begin()
    errors: list[Exception] = []

    def trainee_submits():
        try:
            with transaction(db.session_factory) as s:
                usecases.submit_feedback(s, last, scores(7), None)
        except Exception as exc:  # noqa: BLE001 — the assertion below shows it
            errors.append(exc)

    try:
        [job] = durable.claim_due(scheduler, JOBS_TABLE, LATER, limit=1)  # the scheduler holds the window job
        thread = threading.Thread(target=trainee_submits)
        thread.start()
        wait_until(lambda: not thread.is_alive() or
                   db.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted")) >= 1, 20,
                   what="the answer committed or waiting")
        assert usecases.run_window(scheduler, job.payload, BASE, LATER) is None
        durable.mark_done(scheduler, JOBS_TABLE, job.id, LATER)
        scheduler.commit()
    finally:
        scheduler.close()
    thread.join(30)
    assert errors == []
    [body] = db.rows(sa.select(OUTBOX_TABLE.c.body).where(
        OUTBOX_TABLE.c.event_type == "evaluation.course_evaluated"))
    payload = json.loads(body[0])["payload"]
    assert (payload["valid_responses"], payload["general_index"]) == (2, 8.0)  # the last answer is counted
