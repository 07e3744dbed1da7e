"""Durable jobs of the needs service (shared.jobs), run by the needs worker: closing a large survey campaign; and,
each round, moving stored needs to the successor units when a reorganisation decided ahead comes into force.

POST /campaigns/{id}/close on a campaign larger than the inline limit only queues "close_campaign" jobs, one per
lane (a key range of the surveyed people, usecases/closing.py); each run of one computes one chunk of its lane,
committed together with the lane's cursor (in the job's payload) and the close's counters (progress is visible at
GET /campaigns/{id}), and returns Again() until the lane is empty; the last lane closes the campaign. shared.jobs
claims with FOR UPDATE SKIP LOCKED on PostgreSQL, so the worker's job threads (NEEDS_JOB_THREADS) and several
workers compute different lanes side by side and never the same chunk; a worker killed mid-chunk never commits it,
and the next claim resumes from the lane's last committed cursor. A chunk that keeps failing backs off and, after
MAX_ATTEMPTS, stops its lane as failed (visible at /admin/needs/jobs; asking to close again re-queues it).
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
    """Compute the next chunk of one lane of a campaign's close (`step`: usecases.close_campaign_step): None when the
    lane is finished, else Again() (due again at once) with the lane's new cursor in its payload, committed with
    the chunk. A job queued before lanes (payload without "after") resumes from the close's own cursor."""
    payload = job.payload
    cursor = (step or usecases.close_campaign_step)(session, payload["campaign_id"], chunk,
                                                    after=payload.get("after"), upto=payload.get("upto"),
                                                    lane_job_id=job.id)
    if cursor is None:
        log.info("close lane done", extra={"campaign_id": payload["campaign_id"], "lane": payload.get("lane", 0)})
        return None
    return jobs.Again(payload={**payload, "after": cursor})


def run_close_jobs(session_factory, *, chunk: int = usecases.CLOSE_CHUNK,
                   stop: threading.Event | None = None, max_steps: int | None = None,
                   now_fn: Callable[[], datetime] = utcnow, step: Callable | None = None, threads: int = 1) -> int:
    """Run due jobs one at a time per thread (one chunk, one transaction each) until none is due (or stopped, or
    `max_steps` in all); return the runs tried, failed ones included. `threads` > 1 runs the lanes of a close side
    by side, as the worker's job threads do. The CLI, the benchmark and the tests drive closes with it (`step`: what
    computes one chunk, usecases.close_campaign_step unless a test makes it fail)."""
    steps = [0]
    lock = threading.Lock()

    def loop():
        while not (stop is not None and stop.is_set()):
            with lock:
                if max_steps is not None and steps[0] >= max_steps:
                    return
                steps[0] += 1
            tried: list[str] = []

            def run(session, job: jobs.Job):
                tried.append(job.id)
                return run_close_campaign(session, job, chunk=chunk, step=step)
            jobs.run_due(session_factory, usecases.JOBS_TABLE, {**JOBS, "close_campaign": run}, now_fn, limit=1,
                         max_attempts=MAX_ATTEMPTS, stop=stop)
            if not tried:
                with lock:
                    steps[0] -= 1
                return
    if threads <= 1:
        loop()
    else:
        workers = [threading.Thread(target=loop, name=f"close-{k}") for k in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    return steps[0]


def tick(session_factory, stop: threading.Event) -> int:
    """One round of the needs worker's loop: move needs for reorganisations come into force, then run one due job
    (a lane of a close is one chunk: the other job threads take the other lanes meanwhile); return the jobs run."""
    with transaction(session_factory) as session:
        if usecases.apply_due_reorganisations(session):
            log.info("reorganisation in force: needs moved to the successor units")
    return lane_tick(session_factory, stop)


def lane_tick(session_factory, stop: threading.Event) -> int:
    """A further job thread's round (NEEDS_JOB_THREADS): claim and run one due job."""
    return jobs.run_due(session_factory, usecases.JOBS_TABLE, JOBS, limit=1, max_attempts=MAX_ATTEMPTS, stop=stop)


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
