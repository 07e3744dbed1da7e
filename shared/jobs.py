"""Durable jobs kept in the service's own database: work that must happen later or in the background (closing a
large survey campaign in chunks, reminding and closing a feedback window, opening a follow-up survey) and must
survive a restart. Built like the outbox: a table factory on the service's metadata plus plain functions.

One job's life: `enqueue` (pending, due at due_at) → `claim_due` (running, leased) → the service's function runs
in its own transaction → done | due again (`Again`) | failed attempt (`record_failure`: back-off, then failed after
MAX_ATTEMPTS) → an operator may `retry` a failed or pending job (pending, due now).

* **Claiming** takes a batch of due jobs in one short transaction: pending ones due by `now`, and running ones
  whose lease has run out (their worker died). It marks them running with `due_at = now + lease`; that value is
  the claim's token. FOR UPDATE SKIP LOCKED on PostgreSQL lets several workers claim side by side without ever
  taking the same job; SQLite's BEGIN IMMEDIATE (shared.db) already serialises writers.
* **Running** a job opens a new transaction, locks the row (FOR UPDATE, waiting) and checks that it is still
  running under this claim's token — a job re-claimed after its lease expired is skipped, not run twice — then
  calls the service's function, and marks the job done (or due again) in that same transaction. A worker killed
  mid-job never commits: the job stays running until its lease runs out, and the next claim takes it again. While
  a job runs its row stays locked, so a claimer on PostgreSQL skips it even after the lease.
* **Failures** are recorded in a fresh transaction: attempts + 1, due again after min(2^(attempts−1), 60)
  minutes — 1, 2, 4 … 60 — and `failed` after MAX_ATTEMPTS (kept for operators). `last_error` is the exception's
  type and where it was raised (the innermost frame in the project's code), never its text: a database error's text
  may quote row values, i.e. personal data.
* **The job function**: `run(session, job: Job) -> None | Again`. None means done; `Again(at, payload)` means
  "not finished": due again at `at` (now if None), optionally with a new payload (a cursor, "reminded").
* **The clock** is explicit: `now` / `now_fn`, so tests move time instead of patching.

Admin endpoints (`/admin/<svc>/jobs`, `/admin/<svc>/jobs/<id>/retry`) belong in shared/admin.py next to the
outbox's, because they need Flask: a `jobs_blueprint(table)` there would call `list_jobs` / `retry` from this module
inside `ctx().transaction()` — see the design note at the end of this file. This module imports no web framework.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Union

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics, tracing
from shared.db import UTCDateTime, insert_ignoring_conflicts, is_postgres, transaction
from shared.localtime import utcnow

log = logging.getLogger(__name__)

STATUSES = ("pending", "running", "done", "failed")
ACTIVE_STATUSES = ("pending", "running", "failed")  # what a metrics scrape counts (done rows only accumulate)
MAX_ATTEMPTS = 10
MAX_BACKOFF_MINUTES = 60
LEASE = timedelta(minutes=10)  # a claimed job not finished by then (its worker died) is claimed again
_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def job_table(metadata: sa.MetaData, name: str = "jobs") -> sa.Table:
    """Define this service's job table on its own metadata (like shared.db.messaging_tables)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(10), nullable=False, server_default="pending"),  # STATUSES
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),  # failed runs
        sa.Column("due_at", UTCDateTime, nullable=False),  # pending: due time; running: lease end (claim token)
        sa.Column("dedupe_key", sa.String(200), unique=True),  # e.g. "window:<course id>": one such job ever
        sa.Column("last_error", sa.String(500)),  # exception type and location only, never its text
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Index(f"ix_{name}_due", "status", "due_at"),
        info={"shared.jobs": True},  # found by shared.metrics on the service's metadata
    )


@dataclass(frozen=True)
class Job:
    """A claimed job as its function sees it."""

    id: str
    kind: str
    payload: dict
    attempts: int
    due_at: datetime  # the claim's token (lease end)


@dataclass(frozen=True)
class Again:
    """Returned by a job function that is not finished: due again at `at` (now if None), with `payload` if given."""

    at: datetime | None = None
    payload: dict | None = None


JobFunction = Callable[[Session, Job], Union[None, Again]]
UnitOfWork = Callable[[], AbstractContextManager[Session]]  # `with uow() as session:` commits or rolls back


# --- writing jobs (inside the caller's transaction) ------------------------------------------------------------

def enqueue(session: Session, table: sa.Table, kind: str, payload: dict, due_at: datetime | None = None,
            dedupe_key: str | None = None, *, now: datetime | None = None) -> str:
    """Add a pending job due at `due_at` (now by default) and return its id. With a `dedupe_key` already used (in
    any status) nothing is added and the existing job's id is returned."""
    now = now or utcnow()
    row = {"id": str(uuid.uuid4()), "kind": kind, "payload": payload, "status": "pending", "attempts": 0,
           "due_at": due_at or now, "dedupe_key": dedupe_key, "created_at": now}
    if dedupe_key is None:
        session.execute(sa.insert(table), [row])
        return row["id"]
    session.execute(insert_ignoring_conflicts(session, table), [row])
    return session.scalar(sa.select(table.c.id).where(table.c.dedupe_key == dedupe_key))


def enqueue_many(session: Session, table: sa.Table, jobs: list[dict], *, now: datetime | None = None) -> None:
    """Add many jobs with one INSERT: each {kind, payload, due_at?, dedupe_key?}; duplicates of a key are skipped."""
    now = now or utcnow()
    rows = [{"id": str(uuid.uuid4()), "kind": j["kind"], "payload": j["payload"], "status": "pending",
             "attempts": 0, "due_at": j.get("due_at") or now, "dedupe_key": j.get("dedupe_key"), "created_at": now}
            for j in jobs]
    if rows:
        session.execute(insert_ignoring_conflicts(session, table), rows)


def reschedule(session: Session, table: sa.Table, dedupe_key: str, due_at: datetime, *,
               skip_locked: bool = False) -> int:
    """Move a pending job (found by its key) to `due_at`; return 1 if moved, 0 if none is pending. `skip_locked`:
    leave it alone if a worker holds it right now (evaluation's "everyone answered, close now" path)."""
    ids = sa.select(table.c.id).where(table.c.dedupe_key == dedupe_key, table.c.status == "pending")
    if skip_locked and is_postgres(session):
        ids = ids.with_for_update(skip_locked=True)
    found = list(session.scalars(ids))
    if not found:
        return 0
    return session.execute(sa.update(table).where(table.c.id.in_(found)).values(due_at=due_at)).rowcount


def find(session: Session, table: sa.Table, dedupe_key: str) -> sa.Row | None:
    """The job with this key, if any."""
    return session.execute(sa.select(table).where(table.c.dedupe_key == dedupe_key)).first()


# --- the queue -------------------------------------------------------------------------------------------------

def claim_due(session: Session, table: sa.Table, now: datetime, limit: int = 100,
              lease: timedelta = LEASE) -> list[Job]:
    """Claim up to `limit` due jobs (pending and due, or running with a lapsed lease), oldest due first: mark them
    running with due_at = now + lease. FOR UPDATE SKIP LOCKED on PostgreSQL; plain on SQLite."""
    t = table
    stmt = (sa.select(t.c.id, t.c.kind, t.c.payload, t.c.attempts)
            .where(t.c.status.in_(("pending", "running")), t.c.due_at <= now)
            .order_by(t.c.due_at, t.c.id).limit(limit))
    if is_postgres(session):
        stmt = stmt.with_for_update(skip_locked=True)
    rows = session.execute(stmt).all()
    if not rows:
        return []
    token = now + lease
    session.execute(sa.update(t).where(t.c.id.in_([r.id for r in rows])).values(status="running", due_at=token))
    return [Job(r.id, r.kind, r.payload, r.attempts, token) for r in rows]


def mark_done(session: Session, table: sa.Table, job_id: str, now: datetime | None = None) -> None:
    """The job is finished (it stays in the table, for operators)."""
    session.execute(sa.update(table).where(table.c.id == job_id).values(
        status="done", finished_at=now or utcnow()))


def backoff(attempts: int) -> timedelta:
    """The one back-off: 1, 2, 4 … minutes after the 1st, 2nd, 3rd … failure, at most an hour."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), MAX_BACKOFF_MINUTES))


def describe_error(exc: BaseException) -> str:
    """The exception's type and where it was raised — "RuntimeError at services/x/usecases.py:12 in f" — never its
    text. The location is the innermost frame in the project's code (not the library that raised)."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    ours = [f for f in frames if f.filename.startswith(_PROJECT_ROOT + os.sep) and "site-packages" not in f.filename]
    where = (ours or frames)[-1] if frames else None
    name = type(exc).__name__
    if where is None:
        return name
    path = os.path.relpath(where.filename, _PROJECT_ROOT) if where.filename.startswith(_PROJECT_ROOT) else \
        os.path.basename(where.filename)
    return f"{name} at {path}:{where.lineno} in {where.name}"[:500]


def record_failure(session: Session, table: sa.Table, job_id: str, exc: BaseException, now: datetime, *,
                   max_attempts: int = MAX_ATTEMPTS) -> str | None:
    """Count a failed run: back off (pending, due after `backoff`), or `failed` after `max_attempts`. Returns the
    new status (None if the job is gone)."""
    t = table
    attempts = session.scalar(sa.select(t.c.attempts).where(t.c.id == job_id).with_for_update())
    if attempts is None:
        return None
    attempts += 1
    status = "failed" if attempts >= max_attempts else "pending"
    session.execute(sa.update(t).where(t.c.id == job_id).values(
        attempts=attempts, last_error=describe_error(exc), status=status,
        due_at=now + backoff(attempts), finished_at=now if status == "failed" else None))
    return status


class JobNotFound(LookupError):
    """retry() of an unknown job id."""


class JobAlreadyDone(ValueError):
    """retry() of a job that finished."""


def retry(session: Session, table: sa.Table, job_id: str, now: datetime | None = None) -> dict:
    """Operator: make a failed or pending job due now (attempts kept, so the record of failures stays).
    Raises JobNotFound / JobAlreadyDone, which the admin route maps to its errors."""
    t = table
    status = session.scalar(sa.select(t.c.status).where(t.c.id == job_id).with_for_update())
    if status is None:
        raise JobNotFound(job_id)
    if status == "done":
        raise JobAlreadyDone(job_id)
    if status != "running":  # a running job is being worked on; its lease decides
        session.execute(sa.update(t).where(t.c.id == job_id).values(status="pending", due_at=now or utcnow(),
                                                                      finished_at=None))
        status = "pending"
    return {"id": job_id, "status": status}


def list_jobs(session: Session, table: sa.Table, status: str | None = None, limit: int = 200,
              kind: str | None = None) -> list[dict]:
    """Jobs for operators, due first: id, kind, payload, status, attempts, due_at, last_error, dates."""
    t = table
    stmt = sa.select(t).order_by(t.c.due_at, t.c.id).limit(limit)
    if status:
        stmt = stmt.where(t.c.status == status)
    if kind:
        stmt = stmt.where(t.c.kind == kind)
    return [dict(r._mapping) for r in session.execute(stmt)]


def counts(session: Session, table: sa.Table) -> dict[str, int]:
    """Jobs per status (every status present, 0 when none), for /admin/<svc>/jobs and health."""
    found = dict(session.execute(sa.select(table.c.status, sa.func.count()).group_by(table.c.status)).all())
    return {s: found.get(s, 0) for s in STATUSES}


def active_counts(session: Session, table: sa.Table) -> dict[str, int]:
    """Jobs per active status (ACTIVE_STATUSES, 0 when none): counted through the (status, due_at) index, so a
    metrics scrape stays cheap however many done jobs the table keeps."""
    found = dict(session.execute(sa.select(table.c.status, sa.func.count())
                                 .where(table.c.status.in_(ACTIVE_STATUSES)).group_by(table.c.status)).all())
    return {s: found.get(s, 0) for s in ACTIVE_STATUSES}


# --- the loop body ---------------------------------------------------------------------------------------------

class UnknownJobKind(LookupError):
    """A job whose kind this worker has no function for."""



def _unit_of_work(source) -> UnitOfWork:
    if isinstance(source, sessionmaker):
        return lambda: transaction(source)
    return source


def _run_one(uow: UnitOfWork, table: sa.Table, job: Job, fn: JobFunction, now_fn: Callable[[], datetime]) -> bool:
    """Run one claimed job in its own transaction; False if another claim took it meanwhile."""
    t = table
    with uow() as session:
        current = session.execute(sa.select(t.c.status, t.c.due_at).where(t.c.id == job.id).with_for_update()).first()
        if current is None or current.status != "running" or current.due_at != job.due_at:
            return False
        outcome = fn(session, job)
        now = now_fn()
        if isinstance(outcome, Again):
            values: dict[str, Any] = {"status": "pending", "due_at": outcome.at or now}
            if outcome.payload is not None:
                values["payload"] = outcome.payload
            session.execute(sa.update(t).where(t.c.id == job.id).values(**values))
        else:
            mark_done(session, t, job.id, now)
    return True


def run_due(session_factory_or_unit_of_work: sessionmaker[Session] | UnitOfWork, table: sa.Table,
            jobs: dict[str, JobFunction], now_fn: Callable[[], datetime] = utcnow, limit: int = 100, *,
            max_attempts: int = MAX_ATTEMPTS, lease: timedelta = LEASE, stop=None,
            on_commit: Callable[[], None] | None = None) -> int:
    """Claim up to `limit` due jobs in one transaction, run each in its own, record failures in a fresh one;
    return how many ran (finished or due again), so shared/worker.py's loop wakes the relay.

    A kind missing from `jobs` counts as a failure (type "UnknownJobKind"), so a job written by a newer version of
    the service waits, visibly, instead of vanishing. `stop` (a threading.Event) stops between jobs; claimed jobs
    left over go back when their lease runs out.
    """
    uow = _unit_of_work(session_factory_or_unit_of_work)
    with uow() as session:
        claimed = claim_due(session, table, now_fn(), limit, lease)
    ran = 0
    for job in claimed:
        if stop is not None and stop.is_set():
            break
        started = time.perf_counter()
        try:
            fn = jobs.get(job.kind)
            if fn is None:
                raise UnknownJobKind(job.kind)
            with tracing.job_span(metrics.current_service(), job.kind):
                finished = _run_one(uow, table, job, fn, now_fn)
            if finished:
                ran += 1
                metrics.job_ran(job.kind, time.perf_counter() - started)
                if on_commit:
                    on_commit()
                log.info("job ran", extra={"job_id": job.id, "kind": job.kind})
        except Exception as exc:  # noqa: BLE001 - one failing job must not stop the others
            log.warning("job failed", extra={"job_id": job.id, "kind": job.kind, "error": type(exc).__name__})
            with uow() as session:
                status = record_failure(session, table, job.id, exc, now_fn(), max_attempts=max_attempts)
            metrics.job_failed(job.kind, status, known=job.kind in jobs)
            if status == "failed":
                log.error("job failed for good", extra={"job_id": job.id, "kind": job.kind})
    return ran


def tick(table: sa.Table, jobs: dict[str, JobFunction], *, limit: int = 100,
         now_fn: Callable[[], datetime] = utcnow, max_attempts: int = MAX_ATTEMPTS):
    """A shared/worker.py loop round (`Tick`) running this service's JOBS:
    `run_worker(..., loops={"jobs": (tick(JOBS_TABLE, JOBS), 1.0)})`."""
    def _tick(session_factory: sessionmaker[Session], stop) -> int:
        return run_due(session_factory, table, jobs, now_fn, limit, max_attempts=max_attempts, stop=stop)
    return _tick


# --- design note: the admin routes (they need Flask, so they live in shared/admin.py, not here) ---------------
#
#   def jobs_blueprint(table: sa.Table, url_prefix: str) -> Blueprint:      # shared/admin.py
#       blp = operator_blueprint("admin_jobs", __name__, url_prefix, "Durable jobs (admin token)")
#
#       @blp.route("/jobs")                 # GET /admin/<svc>/jobs?status=failed&kind=window&limit=200
#       @blp.arguments(JobListArgs, location="query")
#       @blp.response(200, JobListSchema)   # {"counts": {...}, "items": [...]} — payload ids only, no names
#       def jobs(args):
#           with ctx().transaction() as session:
#               return {"counts": counts(session, table), "items": list_jobs(session, table, **args)}
#
#       @blp.route("/jobs/<job_id>/retry", methods=["POST"])
#       @blp.response(200, JobRetrySchema)  # {"id", "status"}
#       def retry_job(job_id):
#           with ctx().transaction() as session:
#               try:
#                   return retry(session, table, job_id)
#               except JobNotFound:   -> NotFound("Không tìm thấy công việc.", field="job_id")      (404)
#               except JobAlreadyDone: -> Conflict("Công việc đã chạy xong.", field="job_id")        (409)
#       return blp
#
# A service with jobs registers `jobs_blueprint(JOBS_TABLE, "/admin/<svc>")` in its app.py beside admin_blueprint().
