"""Durable jobs of the needs service, run by the needs worker: closing a large survey campaign, and moving stored
needs to the successor units when a reorganisation decided ahead comes into force.

POST /campaigns/{id}/close on a campaign larger than the inline limit only queues a CloseJob row; this loop works
through it in chunks of people, each chunk committed together with the job's cursor and counters (progress is
visible at GET /campaigns/{id}). The job row is locked for the chunk's transaction (FOR UPDATE SKIP LOCKED on
PostgreSQL), so several workers never compute the same chunk; a worker killed mid-chunk never commits it, and the
next one resumes from the last committed cursor. A chunk that keeps failing stops the job as failed, for operators.
"""
from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from services.needs import usecases
from shared.db import transaction

log = logging.getLogger(__name__)


def run_close_jobs(session_factory: sessionmaker[Session], *, chunk: int = usecases.CLOSE_CHUNK,
                   stop: threading.Event | None = None, max_steps: int | None = None) -> int:
    """Run close-job chunks, one transaction each, until no job is left (or stopped); return the chunks run."""
    steps = 0
    while not (stop is not None and stop.is_set()) and (max_steps is None or steps < max_steps):
        campaign_id = None
        try:
            with transaction(session_factory) as session:
                campaign_id = usecases.claim_close_job(session)
                if campaign_id is None:
                    break
                finished = usecases.close_campaign_step(session, campaign_id, chunk)
            steps += 1
            if finished:
                log.info("close job done", extra={"campaign_id": campaign_id})
        except Exception as exc:  # noqa: BLE001 — a failing chunk is counted on its job, the loop goes on
            if campaign_id is None:
                raise
            # Class name only: a database error's text may quote row values, i.e. personal data.
            log.warning("close job chunk failed", extra={"campaign_id": campaign_id,
                                                         "error": exc.__class__.__name__})
            with transaction(session_factory) as session:
                job = usecases.close_job_failed(session, campaign_id, exc.__class__.__name__)
                if job.status == "failed":
                    log.error("close job failed", extra={"campaign_id": campaign_id, "attempts": job.attempts})
            steps += 1
    return steps


def tick(session_factory: sessionmaker[Session], stop: threading.Event) -> int:
    """One round of the needs worker's loop: move needs for reorganisations come into force, then run close-job
    chunks until none is left or the worker stops; return the chunks run."""
    with transaction(session_factory) as session:
        if usecases.apply_due_reorganisations(session):
            log.info("reorganisation in force: needs moved to the successor units")
    return run_close_jobs(session_factory, stop=stop)
