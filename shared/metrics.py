"""Prometheus metrics of every process (issue 15): `/metrics` on each web app, a metrics port on each worker.

Names follow Prometheus conventions (`thoibinh_` namespace, base units, `_seconds`, `_total` on counters). Labels
are closed sets chosen by the code — service, HTTP method, the route *template* (never the concrete path: paths
carry ids and feedback tokens), status code, event type from the catalogue, job kind — never an id or a person.

* Counters and histograms live in prometheus_client's default registry. Under gunicorn they are kept per worker
  process in PROMETHEUS_MULTIPROC_DIR (set by deploy/gunicorn.conf.py before the workers fork) and summed at
  scrape time by a MultiProcessCollector, so every worker counts whichever one answers the scrape.
* Gauges read from the database — outbox backlog and oldest pending age, jobs per status — are computed when
  scraped by `DatabaseCollector`, with bounded queries (pending outbox rows use the partial index; jobs are counted
  for the active statuses only), never written per event. The dead-letter depth is the one the consumer last read
  from the broker (shared/bus/consumer.py, at most every 30 s when idle), so a scrape costs the broker nothing.

The hooks (`observe_request`, `event_received`, …) are called by shared/web.py, shared/bus/consumer.py,
shared/bus/relay.py and shared/jobs.py; they only touch in-memory counters.
"""
from __future__ import annotations

import contextvars
import logging
import os
import time
from datetime import datetime
from typing import Callable, Iterable

import sqlalchemy as sa
from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram,
                               generate_latest, start_http_server)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from shared.bus.safe import describe
from shared.events import CATALOGUE

log = logging.getLogger(__name__)

NAMESPACE = "thoibinh"
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
EVENT_TYPES = frozenset(t for t, _ in CATALOGUE)
# Request durations from a 5 ms health probe to a 10 MiB import; consumer lag up to a long broker outage.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
WORK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

HTTP_REQUESTS = Counter("http_requests", "HTTP requests answered, by route template and status",
                        ["service", "method", "route", "status"], namespace=NAMESPACE)
HTTP_DURATION = Histogram("http_request_duration_seconds", "Time to answer an HTTP request",
                          ["service", "method", "route", "status"], namespace=NAMESPACE, buckets=HTTP_BUCKETS)

EVENTS_RECEIVED = Counter("events_received", "Deliveries taken from the service's queue",
                          ["service", "event_type"], namespace=NAMESPACE)
EVENTS_APPLIED = Counter("events_applied", "Events applied and committed (inbox row written)",
                         ["service", "event_type"], namespace=NAMESPACE)
EVENTS_DUPLICATE = Counter("events_duplicates_skipped", "Deliveries acked without applying: already in the inbox",
                           ["service", "event_type"], namespace=NAMESPACE)
EVENTS_RETRIED = Counter("events_retried", "Events sent to a delay queue after a transient handler failure",
                         ["service", "event_type"], namespace=NAMESPACE)
EVENTS_PARKED = Counter("events_parked", "Events moved to the dead-letter queue by this service",
                        ["service", "event_type"], namespace=NAMESPACE)
HANDLER_DURATION = Histogram("event_handler_duration_seconds", "Time spent in a handler call (one event or a run "
                             "of consecutive events of a batch handler)", ["service", "event_type"],
                             namespace=NAMESPACE, buckets=WORK_BUCKETS)
BATCH_DURATION = Histogram("consumer_batch_duration_seconds", "Time to apply, retry or park and ack one batch",
                           ["service"], namespace=NAMESPACE, buckets=WORK_BUCKETS)
CONSUMER_LAG = Histogram("consumer_lag_seconds", "Receipt time minus the event's occurred_at (producer commit)",
                         ["service", "event_type"], namespace=NAMESPACE, buckets=LAG_BUCKETS)

OUTBOX_PUBLISHED = Counter("outbox_published", "Outbox rows confirmed by the broker", ["service", "event_type"],
                           namespace=NAMESPACE)
OUTBOX_FAILURES = Counter("outbox_publish_failures", "Outbox publish failures: refused (returned or nacked, the "
                          "row backs off) or unavailable (broker away or no confirm in time, the batch stays due)",
                          ["service", "reason"], namespace=NAMESPACE)
OUTBOX_DURATION = Histogram("outbox_publish_duration_seconds", "Time to publish one relay batch and await its "
                            "confirms", ["service"], namespace=NAMESPACE, buckets=WORK_BUCKETS)

JOB_RUNS = Counter("job_runs", "Durable job runs that committed (done or due again)", ["service", "kind"],
                   namespace=NAMESPACE)
JOB_FAILURES = Counter("job_failures", "Durable job runs that failed (backed off, or failed for good)",
                       ["service", "kind", "outcome"], namespace=NAMESPACE)
JOB_DURATION = Histogram("job_duration_seconds", "Time of one durable job run", ["service", "kind"],
                         namespace=NAMESPACE, buckets=WORK_BUCKETS)

COURSES_CLOSED = Counter("courses_closed", "Courses closed (feedback requested and settlement posted), counted when "
                         "the closing transaction commits", ["service"], namespace=NAMESPACE)

# Counters of one service's own flow, made at 0 when its web or worker starts (a series born at 1 hides the first
# increase from rate() and increase()).
SERVICE_COUNTERS = {"courses": (COURSES_CLOSED,)}

# The service a thread works for, for hooks whose callers do not carry the settings (shared/jobs.py's loop).
_SERVICE: contextvars.ContextVar[str] = contextvars.ContextVar("metrics_service", default="")


def bind_service(service: str) -> None:
    """Name the service the current thread works for (shared/worker.py's loops call it when they start)."""
    _SERVICE.set(service)


def current_service() -> str:
    """The service bound to this thread by bind_service ("" when none)."""
    return _SERVICE.get()


def initialise(service: str) -> None:
    """Make the service's own counters' series at 0, so they are scraped before their first increment."""
    for counter in SERVICE_COUNTERS.get(service, ()):
        counter.labels(service)


def event_label(event_type: str | None) -> str:
    """An event type as a label: catalogue types only (a message's type is untrusted input), else "other"."""
    return event_type if event_type in EVENT_TYPES else "other"


# --- hooks --------------------------------------------------------------------------------------------------------

def observe_request(service: str, method: str, route: str, status: int, seconds: float) -> None:
    labels = (service, method if method in HTTP_METHODS else "other", route, str(status))
    HTTP_REQUESTS.labels(*labels).inc()
    HTTP_DURATION.labels(*labels).observe(seconds)


def event_received(service: str, event_type: str | None, occurred_at: datetime | None, now: datetime) -> None:
    label = event_label(event_type)
    EVENTS_RECEIVED.labels(service, label).inc()
    if occurred_at is not None:
        CONSUMER_LAG.labels(service, label).observe(max((now - occurred_at).total_seconds(), 0.0))


def events_applied(service: str, applied: Iterable[str], duplicates: Iterable[str]) -> None:
    for event_type in applied:
        EVENTS_APPLIED.labels(service, event_label(event_type)).inc()
    for event_type in duplicates:
        EVENTS_DUPLICATE.labels(service, event_label(event_type)).inc()


def event_retried(service: str, event_type: str | None) -> None:
    EVENTS_RETRIED.labels(service, event_label(event_type)).inc()


def event_parked(service: str, event_type: str | None) -> None:
    EVENTS_PARKED.labels(service, event_label(event_type)).inc()


def handler_timer(service: str, event_type: str):
    return HANDLER_DURATION.labels(service, event_label(event_type)).time()


def batch_timer(service: str):
    return BATCH_DURATION.labels(service).time()


def relay_published(service: str, event_types: Iterable[str], seconds: float) -> None:
    OUTBOX_DURATION.labels(service).observe(seconds)
    for event_type in event_types:
        OUTBOX_PUBLISHED.labels(service, event_label(event_type)).inc()


def relay_failed(service: str, reason: str, count: int = 1) -> None:
    """reason: "refused" (per row) or "unavailable" (per batch)."""
    OUTBOX_FAILURES.labels(service, reason).inc(count)


def job_ran(kind: str, seconds: float, known: bool = True) -> None:
    JOB_RUNS.labels(_SERVICE.get(), kind if known else "unknown").inc()
    JOB_DURATION.labels(_SERVICE.get(), kind if known else "unknown").observe(seconds)


def job_failed(kind: str, outcome: str | None, known: bool = True) -> None:
    """outcome: the job's status after the failure — "pending" (backed off) or "failed" (for good)."""
    JOB_FAILURES.labels(_SERVICE.get(), kind if known else "unknown", outcome or "gone").inc()


def after_commit(session, hook: Callable[[], None]) -> None:
    """Call `hook` once the session's current transaction commits, never when it rolls back: a counter of what a
    transaction did must not count work that was undone (the consumer rolls a failed batch back and applies it
    again one message at a time). Hooks run in order; one that raises is logged, the others still run."""
    pending = session.info.setdefault("metrics.after_commit", [])
    if not session.info.get("metrics.after_commit.listening"):
        session.info["metrics.after_commit.listening"] = True
        sa.event.listen(session, "after_commit", _run_after_commit)
        sa.event.listen(session, "after_soft_rollback", _drop_after_commit)
    pending.append(hook)


def _run_after_commit(session) -> None:
    hooks, session.info["metrics.after_commit"] = session.info.get("metrics.after_commit", []), []
    for hook in hooks:
        try:
            hook()
        except Exception as exc:  # noqa: BLE001 - a metric never fails the committed work
            log.warning("metrics: after-commit hook failed", extra={"error": describe(exc)})


def _drop_after_commit(session, previous_transaction) -> None:
    if not previous_transaction.nested:  # the whole transaction is undone (a savepoint's rollback is not tracked)
        session.info["metrics.after_commit"] = []


def course_closed(session, service: str) -> None:
    """Count one course closed by the session's transaction, once that transaction commits."""
    after_commit(session, COURSES_CLOSED.labels(service).inc)


# --- gauges read at scrape time -----------------------------------------------------------------------------------

def job_tables(metadata: sa.MetaData) -> list[sa.Table]:
    """The durable-job tables (shared.jobs.job_table) defined on a service's metadata."""
    return [t for t in metadata.tables.values() if t.info.get("shared.jobs")]


class DatabaseCollector:
    """Outbox backlog, oldest pending age and failing rows, jobs per active status, and (in a worker) the last
    dead-letter depth read from the broker; computed when scraped, each query bounded by an index."""

    def __init__(self, service: str, session_factory, outbox, *, dead_letters: Callable[[], int | None] | None = None,
                 now: Callable[[], datetime] | None = None):
        from shared.db import utcnow
        self.service = service
        self.session_factory = session_factory
        self.outbox = outbox
        self.jobs = job_tables(outbox.table.metadata)
        self.dead_letters = dead_letters
        self.now = now or utcnow

    def collect(self):
        from shared import console_ops, console_replay
        from shared.jobs import ACTIVE_STATUSES, active_counts
        up = GaugeMetricFamily(f"{NAMESPACE}_metrics_database_up", "1 when the scrape's database queries answered",
                               labels=["service"])
        pending = GaugeMetricFamily(f"{NAMESPACE}_outbox_pending_events", "Outbox rows not yet confirmed by the "
                                    "broker (counted up to 100,000)", labels=["service"])
        failing = GaugeMetricFamily(f"{NAMESPACE}_outbox_failing_events", "Pending outbox rows that failed at least "
                                    "once (backing off)", labels=["service"])
        oldest = GaugeMetricFamily(f"{NAMESPACE}_outbox_oldest_pending_age_seconds", "Age of the oldest pending "
                                   "outbox row (0 when none is pending)", labels=["service"])
        jobs = GaugeMetricFamily(f"{NAMESPACE}_jobs", "Durable jobs per active status (pending, running, failed)",
                                 labels=["service", "status"])
        replays = GaugeMetricFamily(f"{NAMESPACE}_console_operations", "The operations console's dead-letter "
                                    "replays per status (running, done, failed)", labels=["service", "status"])
        op_counts = None
        try:
            with self.session_factory() as session:
                backlog = self.outbox.backlog(session)
                job_counts = {}
                for table in self.jobs:
                    for status, n in active_counts(session, table).items():
                        job_counts[status] = job_counts.get(status, 0) + n
                if console_ops.OPERATIONS in self.outbox.table.metadata.tables:
                    op_counts = console_replay.operation_counts(
                        session, console_ops.tables_of(self.outbox.table.metadata))
        except Exception as exc:  # noqa: BLE001 - the database away: report it, keep the scrape's other metrics
            log.warning("metrics: database gauges unavailable", extra={"error": describe(exc)})
            up.add_metric([self.service], 0)
            yield up
        else:
            up.add_metric([self.service], 1)
            yield up
            pending.add_metric([self.service], backlog["pending"])
            failing.add_metric([self.service], backlog["failing"])
            age = (self.now() - backlog["oldest_created_at"]).total_seconds() if backlog["oldest_created_at"] else 0
            oldest.add_metric([self.service], max(age, 0.0))
            yield from (pending, failing, oldest)
            if self.jobs:
                for status in ACTIVE_STATUSES:
                    jobs.add_metric([self.service, status], job_counts.get(status, 0))
                yield jobs
            if op_counts is not None:
                for status, n in op_counts.items():
                    replays.add_metric([self.service, status], n)
                yield replays
        if self.dead_letters is not None:
            depth = self.dead_letters()
            if depth is not None:
                dlq = GaugeMetricFamily(f"{NAMESPACE}_dead_letter_messages", "Messages in the service's dead-letter "
                                        "queue, as last read from the broker", labels=["service"])
                dlq.add_metric([self.service], depth)
                yield dlq


class _Forward:
    """The default registry's metrics (this process's counters, process and platform) inside another registry."""

    def collect(self):
        yield from REGISTRY.collect()


def multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR when gunicorn's workers share counters through it (prometheus_client reads it)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


def registry_for(collector: DatabaseCollector | None) -> CollectorRegistry:
    """One scrape's registry: every gunicorn worker's counters (multiprocess mode) or this process's, plus the
    database gauges."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        MultiProcessCollector(registry)
    else:
        registry.register(_Forward())
    if collector is not None:
        registry.register(collector)
    return registry


def install_web(app) -> None:
    """Count and time every request of a service's Flask app by route template, and add GET /metrics (the
    Prometheus text format: every gunicorn worker's counters plus the database gauges)."""
    from flask import Response, g, request

    from shared.web import ctx

    service = app.name
    initialise(service)

    @app.before_request
    def _metrics_start():
        g.metrics_t0 = time.perf_counter()

    @app.after_request
    def _metrics_finish(response):
        started = g.get("metrics_t0")
        if started is not None:
            # The rule template, never the concrete path: paths carry ids and feedback tokens.
            route = request.url_rule.rule if request.url_rule else "<unmatched>"
            observe_request(service, request.method, route, response.status_code, time.perf_counter() - started)
        return response

    def metrics():
        context = ctx()
        collector = DatabaseCollector(context.settings.service, context.session_factory, context.outbox)
        return Response(generate_latest(registry_for(collector)), mimetype=CONTENT_TYPE_LATEST,
                        headers={"Cache-Control": "no-store"})

    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])


def serve_worker(service: str, host: str, port: int | None, session_factory, outbox,
                 dead_letters: Callable[[], int | None]):
    """Start the worker's metrics port (a daemon thread) when `port` is set; return the server, or None."""
    if not port:
        return None
    initialise(service)
    collector = DatabaseCollector(service, session_factory, outbox, dead_letters=dead_letters)
    server, thread = start_http_server(port, addr=host, registry=registry_for(collector))
    log.info("metrics port open", extra={"port": port})
    return server, thread
