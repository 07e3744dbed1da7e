"""The evaluation scheduler: runs due jobs (reminders, closing the window, follow-up surveys) from the database,
so nothing is lost when the worker restarts; the worker polls it (shared/worker.py loops).

Each job runs inside the transaction that claimed it (FOR UPDATE SKIP LOCKED on PostgreSQL, so several workers
share the work; BEGIN IMMEDIATE on SQLite). A worker killed mid-job never commits: its row lock goes with the
connection and the job is due again for the next worker. A failing job backs off and is kept for operators.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from services.evaluation import usecases
from shared.db import transaction

log = logging.getLogger(__name__)


def run_due_jobs(session_factory: sessionmaker[Session], base_url: str, *, now: datetime | None = None,
                 limit: int = 100, on_commit=None) -> int:
    """Run up to `limit` due jobs, one transaction each; return how many ran successfully."""
    done, failed = 0, set()
    for _ in range(limit):
        job_id = kind = None
        try:
            with transaction(session_factory) as session:
                job = usecases.claim_due_job(session, now, failed)
                if job is None:
                    break
                job_id, kind = job.id, job.kind
                if usecases.run_job(session, job, base_url, now):
                    job.status, job.done_at = "done", usecases.utcnow()
            done += 1
            if on_commit:
                on_commit()
            log.info("job done", extra={"job_id": job_id, "kind": kind})
        except Exception as exc:  # noqa: BLE001 — one failing job must not stop the loop
            if job_id is None:
                log.exception("scheduler could not claim a job")
                break
            log.warning("job failed", extra={"job_id": job_id, "kind": kind, "error": exc.__class__.__name__})
            failed.add(job_id)
            with transaction(session_factory) as session:
                usecases.job_failed(session, job_id, f"{exc.__class__.__name__}: {exc}")
    return done
