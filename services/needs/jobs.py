"""Durable jobs of the needs service (shared.jobs), run by the needs worker: closing a large survey campaign; and,
each round, moving stored needs to the successor units when a reorganisation decided ahead comes into force.

POST /campaigns/{id}/close on a campaign larger than the inline limit only queues a "close_campaign" job; each run
of it computes one chunk of people, committed together with the close's cursor and counters (progress is visible at
GET /campaigns/{id}), and returns Again() until no one is left. shared.jobs claims with FOR UPDATE SKIP LOCKED on
PostgreSQL, so several workers never compute the same chunk; a worker killed mid-chunk never commits it, and the
next claim resumes from the last committed cursor. A chunk that keeps failing backs off and, after MAX_ATTEMPTS,
stops the job as failed (visible at /admin/needs/jobs; asking to close again re-queues it).
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Callable

from services.needs import usecases
from shared import jobs
from shared.db import transaction
from shared.localtime import utcnow
from shared.notify import build_channels

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # a close chunk failing five times stops the job as failed (as before the move to shared.jobs)


def run_close_campaign(session, job: jobs.Job, *, chunk: int = usecases.CLOSE_CHUNK,
                       step: Callable | None = None) -> jobs.Again | None:
    """Compute the next chunk of a campaign's close (`step`: usecases.close_campaign_step): None when finished,
    else Again() (due again at once)."""
    finished = (step or usecases.close_campaign_step)(session, job.payload["campaign_id"], chunk)
    if finished:
        log.info("close job done", extra={"campaign_id": job.payload["campaign_id"]})
        return None
    return jobs.Again()


def run_close_jobs(session_factory, *, chunk: int = usecases.CLOSE_CHUNK,
                   stop: threading.Event | None = None, max_steps: int | None = None,
                   now_fn: Callable[[], datetime] = utcnow, step: Callable | None = None) -> int:
    """Run due jobs one at a time (one chunk, one transaction each) until none is due (or stopped, or `max_steps`);
    return the runs tried, failed ones included. The CLI, the benchmark and the tests drive closes with it
    (`step`: what computes one chunk, usecases.close_campaign_step unless a test makes it fail)."""
    steps = 0
    while not (stop is not None and stop.is_set()) and (max_steps is None or steps < max_steps):
        tried: list[str] = []

        def run(session, job: jobs.Job):
            tried.append(job.id)
            return run_close_campaign(session, job, chunk=chunk, step=step)
        jobs.run_due(session_factory, usecases.JOBS_TABLE, {**JOBS, "close_campaign": run}, now_fn, limit=1,
                     max_attempts=MAX_ATTEMPTS, stop=stop)
        if not tried:
            break
        steps += 1
    return steps


def tick(session_factory, stop: threading.Event) -> int:
    """One round of the needs worker's loop: move needs for reorganisations come into force, then run the due
    jobs; return the jobs run."""
    with transaction(session_factory) as session:
        if usecases.apply_due_reorganisations(session):
            log.info("reorganisation in force: needs moved to the successor units")
    return jobs.run_due(session_factory, usecases.JOBS_TABLE, JOBS, max_attempts=MAX_ATTEMPTS, stop=stop)


JOBS = {
    "close_campaign": run_close_campaign,
}


def deliveries_tick(settings, channels: dict | None = None, now_fn: Callable[[], datetime] = utcnow):
    """The worker's delivery round (issue 13): send the due messages through the configured channels
    (usecases.send_due: claimed before the send, recorded after, outside any consumer transaction)."""
    channels = build_channels(settings.notify) if channels is None else channels
    lease = timedelta(seconds=settings.notify_lease_seconds)

    def _tick(session_factory, stop: threading.Event) -> int:
        return usecases.send_due(session_factory, channels, zalo_templates=settings.zalo_templates, now_fn=now_fn,
                                 lease=lease, stop=stop)
    return _tick
