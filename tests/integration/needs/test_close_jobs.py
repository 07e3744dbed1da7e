"""Closing a campaign as a worker job on a real database: resumable after a crash, safe with two workers."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from services.needs import jobs, usecases
from services.needs.models import CivilServant, CloseJob, CompetencyRecord, Need
from shared.db import transaction
from shared.localtime import utcnow

pytestmark = [pytest.mark.postgres]


def _surveyed(db) -> str:
    """Seed the district with its 111 synthetic civil servants and a fully answered open campaign."""
    with transaction(db.session_factory) as session:
        usecases.seed_reference_data(session)
        usecases.seed_civil_servants(session, 111)
        return usecases.seed_survey(session, 2026)["campaign_id"]


def _fingerprint(db) -> list[tuple]:
    return sorted(db.rows(sa.select(CivilServant.code, Need.kind, Need.topic_code, Need.competency_code,
                                    Need.standard_code, Need.gap, Need.priority_score, Need.commune_code)
                          .join(CivilServant, CivilServant.id == Need.civil_servant_id)))


def _levels_recorded_once(db) -> None:
    """Each surveyed person's 7 levels are in their competency record once (read from the assessments, not copied)."""
    assert db.count(CompetencyRecord.__table__) == 0
    with transaction(db.session_factory) as session:
        levels = usecases.survey_levels(session)
    assert len(levels) == 111 * 7 and len({(r.civil_servant_id, r.competency_code) for r in levels}) == 111 * 7


def _inline(service_db) -> list[tuple]:
    db = service_db("needs")
    campaign_id = _surveyed(db)
    with transaction(db.session_factory) as session:
        usecases.close_campaign(session, campaign_id)
    return _fingerprint(db)


def test_a_close_job_interrupted_mid_way_resumes_and_computes_what_closing_inline_computes(service_db):
    expected = _inline(service_db)
    db = service_db("needs")
    campaign_id = _surveyed(db)
    with transaction(db.session_factory) as session:
        assert usecases.request_close(session, campaign_id, inline_limit=0)[1] is True
    assert jobs.run_close_jobs(db.session_factory, chunk=20, max_steps=3) == 3  # the worker dies here
    job = db.rows(sa.select(CloseJob.status, CloseJob.people_done))[0]
    assert tuple(job) == ("running", 60)
    jobs.run_close_jobs(db.session_factory, chunk=20)  # a restarted worker
    assert db.scalar(sa.select(CloseJob.status)) == "done"
    assert _fingerprint(db) == expected
    _levels_recorded_once(db)


def test_two_workers_share_a_close_job_without_computing_anyone_twice(service_db, db_url_factory):
    if db_url_factory.backend != "postgresql":
        pytest.skip("row locks (FOR UPDATE SKIP LOCKED) are PostgreSQL's; SQLite has one writer")
    expected = _inline(service_db)
    db = service_db("needs")
    campaign_id = _surveyed(db)
    with transaction(db.session_factory) as session:
        usecases.request_close(session, campaign_id, inline_limit=0)
    errors = []

    def worker():
        try:
            jobs.run_close_jobs(db.session_factory, chunk=7)
        except Exception as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert db.scalar(sa.select(CloseJob.status)) == "done"
    assert db.scalar(sa.select(CloseJob.people_done)) == 111
    assert _fingerprint(db) == expected
    _levels_recorded_once(db)


def _lane_rows(db, campaign_id: str) -> list:
    return db.rows(sa.select(usecases.JOBS_TABLE.c.payload, usecases.JOBS_TABLE.c.status, usecases.JOBS_TABLE.c.id)
                   .where(usecases.JOBS_TABLE.c.kind == usecases.CLOSE_KIND).order_by(usecases.JOBS_TABLE.c.id))


def test_a_close_in_lanes_covers_everyone_once_and_two_job_threads_compute_them_side_by_side(service_db,
                                                                                              db_url_factory):
    expected = _inline(service_db)
    db = service_db("needs")
    campaign_id = _surveyed(db)
    with transaction(db.session_factory) as session:
        assert usecases.request_close(session, campaign_id, inline_limit=0, lanes=3)[1] is True
    lanes = [r.payload for r in _lane_rows(db, campaign_id)]
    if db_url_factory.backend != "postgresql":
        # SQLite has one writer: lanes would only take turns, so a close is one lane over everyone
        assert [(p["after"], p["upto"]) for p in lanes] == [("", None)]
    else:
        assert sorted(p["lane"] for p in lanes) == [0, 1, 2]
        lanes.sort(key=lambda p: p["lane"])
        assert lanes[0]["after"] == "" and lanes[-1]["upto"] is None
        assert [p["upto"] for p in lanes[:-1]] == [p["after"] for p in lanes[1:]]  # adjacent, no gap, no overlap
        ids = sorted(db.rows(sa.select(CivilServant.id)))
        sizes = [sum(1 for (i,) in ids if i > p["after"] and (p["upto"] is None or i <= p["upto"])) for p in lanes]
        assert sum(sizes) == 111 and max(sizes) - min(sizes) <= 1  # about the same size each
    # two job threads, as the worker's NEEDS_JOB_THREADS; each chunk commits its lane's cursor with its rows
    assert jobs.run_close_jobs(db.session_factory, chunk=10, threads=2) > 0
    assert db.scalar(sa.select(CloseJob.status)) == "done"
    assert db.scalar(sa.select(CloseJob.people_done)) == 111
    assert _fingerprint(db) == expected
    _levels_recorded_once(db)
    assert {r.status for r in _lane_rows(db, campaign_id)} == {"done"}


def test_a_failing_lane_leaves_the_campaign_closing_until_asked_again_and_a_pre_lane_job_resumes_its_cursor(
        service_db, db_url_factory):
    if db_url_factory.backend != "postgresql":
        pytest.skip("lanes are PostgreSQL's (one on SQLite)")
    expected = _inline(service_db)
    db = service_db("needs")
    campaign_id = _surveyed(db)
    with transaction(db.session_factory) as session:
        usecases.request_close(session, campaign_id, inline_limit=0, lanes=2)
    second = next(r for r in _lane_rows(db, campaign_id) if r.payload["lane"] == 1)

    def second_lane_broken(session, cid, chunk, *, after, upto, lane_job_id):
        if lane_job_id == second.id:
            raise RuntimeError("disk full")
        return usecases.close_campaign_step(session, cid, chunk, after=after, upto=upto, lane_job_id=lane_job_id)
    clock = iter(utcnow() + timedelta(hours=2 * k) for k in range(1, 100))
    jobs.run_close_jobs(db.session_factory, chunk=20, step=second_lane_broken, now_fn=lambda: next(clock))
    with transaction(db.session_factory) as session:
        shown = usecases.get_campaign(session, campaign_id)
    assert shown["status"] == "closing"  # the first lane is done, the campaign waits for the second
    assert shown["close_job"]["status"] == "failed" and shown["close_job"]["error"] == "RuntimeError"
    assert shown["close_job"]["lanes"] == 2 and 0 < shown["close_job"]["people_done"] < 111
    with transaction(db.session_factory) as session:
        assert usecases.request_close(session, campaign_id, inline_limit=0, lanes=2)[1] is True  # asked again
    assert {r.status for r in _lane_rows(db, campaign_id)} == {"done", "pending"}
    # the lane is resumed as a job queued before lanes is: no cursor in its payload, the close's own cursor
    with transaction(db.session_factory) as session:
        session.execute(sa.update(usecases.JOBS_TABLE).where(usecases.JOBS_TABLE.c.id == second.id).values(
            payload={"campaign_id": campaign_id}))
        session.execute(sa.update(CloseJob).values(cursor=second.payload["after"]))
    jobs.run_close_jobs(db.session_factory, chunk=20)
    assert db.scalar(sa.select(CloseJob.status)) == "done"
    assert db.scalar(sa.select(CloseJob.people_done)) == 111
    assert _fingerprint(db) == expected
    _levels_recorded_once(db)
