"""shared/jobs.py on both databases: claiming due jobs, one back-off, failures kept without their text, operator
retry, leases after a dead worker — and on PostgreSQL two claimers at once never take the same job."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from shared import jobs
from shared.db import make_engine, make_session_factory, transaction
from tools.isolation import create_pg_database, drop_pg_database

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
METADATA = sa.MetaData()
JOBS = jobs.job_table(METADATA)
RAN = sa.Table("ran", METADATA, sa.Column("n", sa.Integer, primary_key=True, autoincrement=True),
               sa.Column("job_id", sa.String(36), nullable=False), sa.Column("worker", sa.String(20)))


class Clock:
    """An explicit clock the test moves (no sleeps, no patching)."""

    def __init__(self, now: datetime = T0):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}" if request.param == "sqlite" else create_pg_database("jobs")
    engine = make_engine(url)
    METADATA.create_all(engine)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
        if request.param == "postgresql":
            drop_pg_database(url)


@pytest.fixture
def pg():
    url = create_pg_database("jobs")
    engine = make_engine(url, pool_size=10)
    METADATA.create_all(engine)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
        drop_pg_database(url)


def add(db, n=1, kind="ping", due_at=T0, **kw) -> list[str]:
    with transaction(db) as s:
        return [jobs.enqueue(s, JOBS, kind, {"n": i}, due_at, now=T0, **kw) for i in range(n)]


def job(db, job_id) -> sa.Row:
    with transaction(db) as s:
        return s.execute(sa.select(JOBS).where(JOBS.c.id == job_id)).one()


def record_run(session, j: jobs.Job, worker="w"):
    session.execute(sa.insert(RAN).values(job_id=j.id, worker=worker))


def boom(session, j):
    raise RuntimeError("Nguyễn Văn A, born 1980")  # personal data in the text: must never be stored


# --- enqueue and claim -----------------------------------------------------------------------------------------

def test_only_due_jobs_are_claimed_oldest_first_and_marked_running(db):
    late = add(db, due_at=T0 + timedelta(hours=1))[0]
    first, second = add(db, 2)
    with transaction(db) as s:
        claimed = jobs.claim_due(s, JOBS, T0, limit=10)
    assert sorted(j.id for j in claimed) == sorted([first, second]) and late not in {j.id for j in claimed}
    assert all(j.kind == "ping" and j.attempts == 0 and j.due_at == T0 + jobs.LEASE for j in claimed)
    assert job(db, first).status == "running"
    with transaction(db) as s:
        assert jobs.claim_due(s, JOBS, T0, limit=10) == []  # running under a lease: not claimed twice


def test_a_dedupe_key_makes_one_job_ever(db):
    [a] = add(db, dedupe_key="window:c1")
    [b] = add(db, dedupe_key="window:c1")
    with transaction(db) as s:
        jobs.enqueue_many(s, JOBS, [{"kind": "ping", "payload": {}, "dedupe_key": "window:c1"},
                                    {"kind": "ping", "payload": {}, "dedupe_key": "window:c2"}], now=T0)
        assert a == b and jobs.find(s, JOBS, "window:c1").id == a
        assert s.scalar(sa.select(sa.func.count()).select_from(JOBS)) == 2


def test_reschedule_moves_a_pending_job_by_its_key(db):
    [a] = add(db, due_at=T0 + timedelta(days=90), dedupe_key="followup:c1")
    with transaction(db) as s:
        assert jobs.reschedule(s, JOBS, "followup:c1", T0, skip_locked=True) == 1
        assert jobs.reschedule(s, JOBS, "followup:nope", T0) == 0
    assert job(db, a).due_at == T0


# --- running ---------------------------------------------------------------------------------------------------

def test_run_due_runs_each_job_in_its_own_transaction_and_marks_it_done(db):
    ids = add(db, 3)
    clock = Clock()
    assert jobs.run_due(db, JOBS, {"ping": record_run}, clock, limit=10) == 3
    with transaction(db) as s:
        assert sorted(s.scalars(sa.select(RAN.c.job_id))) == sorted(ids)
        assert jobs.counts(s, JOBS) == {"pending": 0, "running": 0, "done": 3, "failed": 0}
    assert job(db, ids[0]).finished_at == T0
    assert jobs.run_due(db, JOBS, {"ping": record_run}, clock) == 0


def test_a_job_that_is_not_finished_is_due_again_with_its_new_payload(db):
    [a] = add(db)
    again_at = T0 + timedelta(hours=2)

    def chunk(session, j):
        record_run(session, j)
        return jobs.Again(again_at, {"cursor": "p60"}) if "cursor" not in j.payload else None

    assert jobs.run_due(db, JOBS, {"ping": chunk}, Clock()) == 1
    row = job(db, a)
    assert (row.status, row.due_at, row.payload) == ("pending", again_at, {"cursor": "p60"})
    assert jobs.run_due(db, JOBS, {"ping": chunk}, Clock()) == 0  # not due yet
    assert jobs.run_due(db, JOBS, {"ping": chunk}, Clock(again_at)) == 1
    assert job(db, a).status == "done"


def test_run_due_takes_a_unit_of_work_as_well_as_a_session_factory(db):
    add(db, 2)
    assert jobs.run_due(lambda: transaction(db), JOBS, {"ping": record_run}, Clock()) == 2


# --- failures --------------------------------------------------------------------------------------------------

def test_failures_back_off_exponentially_keep_type_and_place_only_then_fail(db):
    [a] = add(db)
    clock = Clock()
    waits = []
    for attempt in range(1, jobs.MAX_ATTEMPTS + 1):
        assert jobs.run_due(db, JOBS, {"ping": boom}, clock) == 0
        row = job(db, a)
        assert row.attempts == attempt
        if attempt < jobs.MAX_ATTEMPTS:
            assert row.status == "pending"
            waits.append(row.due_at - clock.now)
            assert jobs.run_due(db, JOBS, {"ping": boom}, clock) == 0 and job(db, a).attempts == attempt  # not yet
            clock.now = row.due_at
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 60, 60, 60)]
    assert row.status == "failed" and row.finished_at == clock.now
    assert row.last_error.startswith("RuntimeError at tests/integration/shared_mechanisms/test_jobs_backends.py:")
    assert row.last_error.endswith(" in boom") and "Nguyễn" not in row.last_error and "1980" not in row.last_error
    clock.advance(days=1)
    assert jobs.run_due(db, JOBS, {"ping": boom}, clock) == 0 and job(db, a).attempts == jobs.MAX_ATTEMPTS


def test_max_attempts_is_a_parameter_of_the_one_back_off(db):
    [a] = add(db)
    clock = Clock()
    for _ in range(5):
        jobs.run_due(db, JOBS, {"ping": boom}, clock, max_attempts=5)
        clock.advance(hours=1)
    assert (job(db, a).status, job(db, a).attempts) == ("failed", 5)


def test_one_failing_job_does_not_stop_the_others(db):
    add(db, 2, kind="ping")
    [bad] = add(db, kind="bad")
    assert jobs.run_due(db, JOBS, {"ping": record_run, "bad": boom}, Clock()) == 2
    assert job(db, bad).attempts == 1


def test_a_kind_without_a_function_waits_visibly(db):
    [a] = add(db, kind="from_a_newer_version")
    assert jobs.run_due(db, JOBS, {"ping": record_run}, Clock()) == 0
    row = job(db, a)
    assert row.status == "pending" and row.last_error.startswith("UnknownJobKind")


def test_an_operator_retries_a_failed_job_and_it_runs(db):
    [a] = add(db)
    clock = Clock()
    jobs.run_due(db, JOBS, {"ping": boom}, clock, max_attempts=1)
    with transaction(db) as s:
        [listed] = jobs.list_jobs(s, JOBS, status="failed")
        assert listed["id"] == a and listed["attempts"] == 1 and listed["last_error"].startswith("RuntimeError")
        assert jobs.retry(s, JOBS, a, now=clock.now) == {"id": a, "status": "pending"}
    assert job(db, a).finished_at is None
    assert jobs.run_due(db, JOBS, {"ping": record_run}, clock) == 1
    with transaction(db) as s:
        with pytest.raises(jobs.JobAlreadyDone):
            jobs.retry(s, JOBS, a)
        with pytest.raises(jobs.JobNotFound):
            jobs.retry(s, JOBS, "no-such-job")
        assert jobs.list_jobs(s, JOBS, status="done", kind="ping")[0]["attempts"] == 1  # the record stays


# --- dead workers ----------------------------------------------------------------------------------------------

def test_a_job_whose_worker_died_after_claiming_is_claimed_again_after_the_lease(db):
    [a] = add(db)
    with transaction(db) as s:
        [stale] = jobs.claim_due(s, JOBS, T0)  # ... and the worker dies
    clock = Clock(T0 + jobs.LEASE - timedelta(seconds=1))
    assert jobs.run_due(db, JOBS, {"ping": record_run}, clock) == 0  # still leased
    clock.advance(seconds=1)
    assert jobs.run_due(db, JOBS, {"ping": record_run}, clock) == 1
    # the dead worker's claim, were it to come back, no longer owns the job
    assert jobs._run_one(lambda: transaction(db), JOBS, stale, record_run, clock) is False
    with transaction(db) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(RAN)) == 1
    assert job(db, a).status == "done"


def test_a_job_whose_transaction_never_committed_runs_again_once(db):
    [a] = add(db)

    def dies(session, j):
        record_run(session, j)
        raise SystemExit  # the process is killed mid-job: nothing of its transaction commits

    with pytest.raises(SystemExit):
        jobs.run_due(db, JOBS, {"ping": dies}, Clock())
    assert job(db, a).status == "running"
    assert jobs.run_due(db, JOBS, {"ping": record_run}, Clock(T0 + jobs.LEASE)) == 1
    with transaction(db) as s:
        assert list(s.scalars(sa.select(RAN.c.job_id))) == [a]


# --- PostgreSQL: several workers -------------------------------------------------------------------------------

@pytest.mark.postgres
def test_two_claimers_at_once_never_claim_the_same_job(pg):
    add(pg, 10)
    with pg() as a, pg() as b:
        a.begin()
        b.begin()
        first = jobs.claim_due(a, JOBS, T0, limit=4)  # A holds its 4 rows, uncommitted
        second = jobs.claim_due(b, JOBS, T0, limit=100)  # B skips them instead of waiting
        assert len(first) == 4 and len(second) == 6
        assert not {j.id for j in first} & {j.id for j in second}
        b.commit()
        a.commit()
    with transaction(pg) as s:
        assert jobs.claim_due(s, JOBS, T0, limit=100) == []


@pytest.mark.postgres
def test_four_workers_run_every_job_exactly_once(pg):
    ids = set(add(pg, 60))
    start = threading.Barrier(4)
    errors = []

    def worker(name):
        def run(session, j):
            record_run(session, j, name)
        try:
            start.wait(timeout=10)
            while jobs.run_due(pg, JOBS, {"ping": run}, Clock(), limit=3):
                pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    with transaction(pg) as s:
        ran = list(s.scalars(sa.select(RAN.c.job_id)))
        assert sorted(ran) == sorted(ids)  # every job once, none twice
        assert jobs.counts(s, JOBS)["done"] == 60
