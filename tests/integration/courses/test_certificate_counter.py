"""Certificate numbers under concurrent first completions of a year (issue 10, fault 4).

Two courses completing at the same time, the first of the year, used to both find no counter row, both insert it,
and the second failed on certificate_counters_pkey (HTTP 500). The counter row is now created with
INSERT … ON CONFLICT DO NOTHING and then locked, on SQLite and PostgreSQL.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from services import get_settings
from services.courses import handlers, usecases
from services.courses.models import CertificateCounter, Enrollment
from shared.db import make_engine, make_session_factory, transaction
from shared.events import decode, new_event
from shared.migrate import upgrade
from tests.helpers import wait_until
from tests.integration.courses.test_scheduling_db import MON, draft, setup

pytestmark = [pytest.mark.postgres]


@pytest.fixture
def db(db_url_factory):
    url = db_url_factory("cert")
    upgrade("courses", url)
    engine = make_engine(url, pool_size=6, max_overflow=0) if url.startswith("postgresql") else make_engine(url)
    factory = make_session_factory(engine)
    factory.backend = db_url_factory.backend
    yield factory
    engine.dispose()


def _ready_to_complete(db, made, code: str, start, trainees: list[str]) -> str:
    """A confirmed course whose trainees attended every session (so each earns a certificate)."""
    cid = draft(db, made, code, start=start)
    with transaction(db) as s:
        usecases.enroll(s, cid, trainees)
        usecases.schedule_course(s, cid)
    _, body = new_event("funding.budget_reserved", {"course_id": cid, "revision": 1, "reservation_id": f"r-{code}",
                                                    "estimate_total": 1_000_000, "lines": []}, producer="funding")
    with transaction(db) as s:
        handlers.on_budget_reserved(decode(body), s, get_settings("courses"))
    with transaction(db) as s:
        course = usecases.get_course(s, cid)
        usecases.record_attendance(s, cid, [{"session_id": x.id, "civil_servant_id": t, "present": True}
                                            for x in course["sessions"] for t in trainees])
        usecases.record_results(s, cid, [{"civil_servant_id": t, "kind": "post", "score": 8} for t in trainees])
    return cid


def _numbers(db) -> list[str]:
    with db() as s:
        return sorted(s.scalars(sa.select(Enrollment.certificate_no).where(Enrollment.certificate_no.is_not(None))))


def _two_courses(db):
    made = setup(db, trainees=6)
    first = _ready_to_complete(db, made, "K-CERT-1", MON, made["trainees"][:3])
    second = _ready_to_complete(db, made, "K-CERT-2", MON + timedelta(days=7), made["trainees"][3:])
    return first, second


def test_the_first_completions_of_a_year_create_the_counter_and_number_in_order(db):
    first, second = _two_courses(db)
    with db() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(CertificateCounter)) == 0
    for cid in (first, second):
        with transaction(db) as s:
            usecases.complete_course(s, cid)
    numbers = _numbers(db)
    assert len(numbers) == 6 and len(set(numbers)) == 6
    with db() as s:
        assert s.scalar(sa.select(CertificateCounter.last_no)) == 6


def test_a_second_first_completion_waits_for_the_first_instead_of_failing_on_the_counter_key(db):
    if db.backend != "postgresql":
        pytest.skip("concurrent writers: SQLite has one writer at a time (BEGIN IMMEDIATE)")
    first, second = _two_courses(db)
    first_done, release, errors = threading.Event(), threading.Event(), []

    def complete_and_hold():
        try:
            with transaction(db) as s:
                usecases.complete_course(s, first)  # creates the year's counter row, not yet committed
                first_done.set()
                assert release.wait(30)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(("first", exc.__class__.__name__, str(exc)[:200]))
            first_done.set()

    def complete():
        try:
            with transaction(db) as s:
                usecases.complete_course(s, second)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(("second", exc.__class__.__name__, str(exc)[:200]))

    holder = threading.Thread(target=complete_and_hold)
    holder.start()
    assert first_done.wait(30)
    racer = threading.Thread(target=complete)
    racer.start()
    try:
        # the second completion is blocked on the first's uncommitted counter row (a lock wait, seen by the server)
        with db() as s:
            def lock_waits() -> int:
                # one transaction per poll: pg_stat_activity is a snapshot kept until the transaction ends
                try:
                    return s.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                            "AND wait_event_type = 'Lock'"))
                finally:
                    s.rollback()
            # (or the racer's error, so that a failure says what it was instead of timing out)
            waiting = wait_until(lambda: errors or lock_waits() >= 1, timeout=60,
                                 what="the second completion waiting on a lock")
    finally:
        release.set()
        holder.join(60)
        racer.join(60)
    assert errors == [] and waiting is True
    numbers = _numbers(db)
    assert len(numbers) == 6 and len(set(numbers)) == 6
    with db() as s:
        assert s.scalar(sa.select(CertificateCounter.last_no)) == 6


def test_many_first_completions_at_once_all_succeed_with_distinct_numbers(db):
    if db.backend != "postgresql":
        pytest.skip("concurrent writers: SQLite has one writer at a time (BEGIN IMMEDIATE)")
    first, second = _two_courses(db)
    barrier, errors = threading.Barrier(2), []

    def complete(cid):
        try:
            barrier.wait(10)
            with transaction(db) as s:
                usecases.complete_course(s, cid)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc.__class__.__name__)
    threads = [threading.Thread(target=complete, args=(c,)) for c in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert len(set(_numbers(db))) == 6
