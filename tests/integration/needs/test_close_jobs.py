"""Closing a campaign as a worker job on a real database: resumable after a crash, safe with two workers."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from services.needs import jobs, usecases
from services.needs.models import CivilServant, CloseJob, CompetencyRecord, Need
from shared.db import transaction

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
    assert db.count(CompetencyRecord.__table__) == 111 * 7  # each level recorded once, none twice


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
    assert db.count(CompetencyRecord.__table__) == 111 * 7
