"""Scheduling on a real database: the use cases and handlers on SQLite and PostgreSQL (row locks, JSON columns,
the batch path), and parallel schedule requests that never double-book a lecturer on PostgreSQL."""
from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from services import get_settings
from services.courses import handlers, usecases
from services.courses.models import Course, Trainee
from shared.db import make_engine, make_session_factory, transaction, utcnow
from shared.errors import DomainError
from shared.events import decode, new_event
from shared.migrate import upgrade

pytestmark = [pytest.mark.postgres]
MON = date(2026, 3, 2)


def setup(factory, trainees: int = 6) -> dict:
    with transaction(factory) as s:
        s.execute(sa.insert(Trainee), [{
            "civil_servant_id": str(uuid.uuid4()), "code": f"I-{i}", "unit_code": "CM-TANLOC",
            "commune_code": "CM-TANLOC", "position_code": "VHXH", "female": True, "ethnic_minority": False,
            "hard_area": False, "child_under_36_months": False, "updated_at": utcnow(),
            "employment_status": "active"} for i in range(trainees)]) if trainees else None
        usecases.set_duty_share(s, {"commune_code": "*", "max_absent_percent": 100, "note": "test"})
        lecturer = usecases.create_lecturer(s, {"name": "TS. A", "tier": 2, "degree": "doctor",
                                                "pedagogy_certificate": True, "years_experience": 9})["id"]
        venue = usecases.create_venue(s, {"name": "Hội trường", "address": "Thới Bình", "capacity": 50,
                                          "distances": [{"commune_code": "CM-TANLOC", "km": 18}]}).id
        ids = list(s.scalars(sa.select(Trainee.civil_servant_id).order_by(Trainee.code)))
    return {"lecturer": lecturer, "venue": venue, "trainees": ids}


def draft(factory, made, code, start=MON, venue=True) -> str:
    with transaction(factory) as s:
        return usecases.create_course(s, {
            "code": code, "title": "Kỹ năng số", "organizer_unit_code": "CM-THOIBINH", "topic_code": "KN-CNTT",
            "venue_id": made["venue"] if venue else None, "form": "in_person" if venue else "online",
            "sessions": [{"date": start + timedelta(days=d), "buoi": b, "lecturer_id": made["lecturer"]}
                         for d in range(2) for b in ("morning", "afternoon")]})["id"]


@pytest.fixture
def db(db_url_factory):
    url = db_url_factory("crs")
    upgrade("courses", url)
    engine = make_engine(url, pool_size=12, max_overflow=0) if url.startswith("postgresql") else make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def test_schedule_confirm_attend_and_complete_on_the_database(db):
    made = setup(db)
    cid = draft(db, made, "K-DB-1")
    with transaction(db) as s:
        usecases.enroll(s, cid, made["trainees"][:3])
        usecases.schedule_course(s, cid)
    _, body = new_event("funding.budget_reserved", {"course_id": cid, "revision": 1, "reservation_id": "r1",
                                                    "estimate_total": 5_000_000, "lines": []}, producer="funding")
    with transaction(db) as s:
        handlers.on_budget_reserved(decode(body), s, get_settings("courses"))
    with transaction(db) as s:
        course = usecases.get_course(s, cid)
        assert course["status"] == "confirmed"
        usecases.record_attendance(s, cid, [{"session_id": x.id, "civil_servant_id": t, "present": True}
                                            for x in course["sessions"] for t in made["trainees"][:3]])
        usecases.record_results(s, cid, [{"civil_servant_id": made["trainees"][0], "kind": "post", "score": 4},
                                         {"civil_servant_id": made["trainees"][2], "kind": "post", "score": 7}])
    with transaction(db) as s:
        usecases.complete_course(s, cid)
        rows = {r["civil_servant_id"]: r for r in usecases.list_enrollments(s, cid)}
    assert [rows[t]["certified"] for t in made["trainees"][:3]] == [False, False, True]  # 2nd has no post test
    assert rows[made["trainees"][2]]["certificate_no"]


def test_batch_scheduling_checks_courses_against_each_other(db):
    made = setup(db)
    a, b = draft(db, made, "K-A"), draft(db, made, "K-B")  # same lecturer, same days
    with pytest.raises(DomainError, match="K-A"):
        with transaction(db) as s:
            usecases.schedule_courses(s, [a, b])
    with transaction(db) as s:
        assert {c.status for c in s.scalars(sa.select(Course))} == {"draft"}  # all or nothing
    c = draft(db, made, "K-C", start=MON + timedelta(days=7))
    with transaction(db) as s:
        usecases.schedule_courses(s, [a, c])
    with transaction(db) as s:
        assert {c.code: c.status for c in s.scalars(sa.select(Course))} == {"K-A": "scheduled", "K-B": "draft",
                                                                            "K-C": "scheduled"}


def test_parallel_schedule_requests_never_double_book_a_lecturer(db_url_factory):
    if db_url_factory.backend != "postgresql":
        pytest.skip("SQLite serialises writers by itself")
    url = db_url_factory("crs_par")
    upgrade("courses", url)
    engine = make_engine(url, pool_size=12, max_overflow=0)
    factory = make_session_factory(engine)
    made = setup(factory, trainees=0)
    ids = [draft(factory, made, f"K-P{i}", venue=False) for i in range(8)]
    barrier = threading.Barrier(len(ids))
    outcomes: list[str] = []

    def run(cid):
        barrier.wait(timeout=10)
        try:
            with transaction(factory) as s:
                usecases.schedule_course(s, cid)
            outcomes.append("scheduled")
        except DomainError:
            outcomes.append("refused")

    threads = [threading.Thread(target=run, args=(cid,)) for cid in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    engine.dispose()
    assert sorted(outcomes) == ["refused"] * 7 + ["scheduled"]
