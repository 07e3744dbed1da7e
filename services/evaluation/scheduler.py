"""The evaluation scheduler loop: runs due jobs (reminders, closing the window, follow-up surveys) from the
database, so nothing is lost when the worker restarts.

Each job runs inside the transaction that claimed it (FOR UPDATE SKIP LOCKED on PostgreSQL, so several workers
share the work; BEGIN IMMEDIATE on SQLite). A worker killed mid-job never commits: its row lock goes with the
connection and the job is due again for the next worker. A failing job backs off and is kept for operators.
"""
from __future__ import annotations

import logging
import threading
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


class Scheduler:
    """A loop in its own thread: look for due jobs every `poll_seconds` until stopped."""

    def __init__(self, session_factory: sessionmaker[Session], base_url: str, poll_seconds: float = 1.0,
                 on_commit=None):
        self.session_factory = session_factory
        self.base_url = base_url
        self.poll_seconds = poll_seconds
        self.on_commit = on_commit
        self.stop = threading.Event()

    def run(self) -> None:
        """Loop until stop is set."""
        log.info("scheduler started")
        while not self.stop.is_set():
            try:
                ran = run_due_jobs(self.session_factory, self.base_url, on_commit=self.on_commit)
            except Exception:  # noqa: BLE001 — e.g. the database restarting: try again next tick
                log.exception("scheduler tick failed")
                ran = 0
            if not ran:
                self.stop.wait(self.poll_seconds)
        log.info("scheduler stopped")

    def start(self) -> threading.Thread:
        """Start the loop in a daemon thread."""
        thread = threading.Thread(target=self.run, name="evaluation-scheduler", daemon=True)
        thread.start()
        return thread
