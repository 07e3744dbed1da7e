"""Operator endpoints every service has, under /admin, for the operator role (shared/auth.py).

Outbox backlog and oldest age, inbox counts, queue depths, dead-letter list, replay one or all, purge, and what the
service published, received and parked for one correlation id. The HTML console over them is shared/console.py.
"""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.bus import deadletters
from shared.db import utcnow
from shared.errors import Invalid
from shared import auth
from shared.web import Blueprint, ctx


class DeadLetterSelectSchema(Schema):
    message_id = fields.String(load_default=None, metadata={"description": "one parked message"})
    all = fields.Boolean(load_default=False, metadata={"description": "every parked message"})

    @validates_schema
    def _one_of(self, data, **_):
        if not data.get("message_id") and not data.get("all"):
            raise ValidationError("give message_id, or all=true", field_name="message_id")


class PruneSchema(Schema):
    older_than_days = fields.Integer(load_default=7, strict=True, validate=validate.Range(min=0, max=36_500))


class InboxPruneSchema(Schema):
    # The inbox is the duplicate filter: keep it well beyond any redelivery or replay window.
    older_than_days = fields.Integer(load_default=90, strict=True, validate=validate.Range(min=30, max=36_500))


class DeadLetterListArgs(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


# What the operator endpoints answer (documentation only: the routes return plain dicts).
def _count_schema(name: str, description: str) -> type[Schema]:
    return Schema.from_dict({name: fields.Integer(metadata={"description": description})}, name=f"{name.title()}Count")


RescheduledSchema = _count_schema("rescheduled", "pending outbox rows made due now")
DeletedSchema = _count_schema("deleted", "rows deleted")
ReplayedSchema = _count_schema("replayed", "messages sent back to the queue")
PurgedSchema = _count_schema("purged", "messages deleted")


class OutboxErrorSchema(Schema):
    message_id = fields.String()
    event_type = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)


class OutboxStatsSchema(Schema):
    pending = fields.Integer()
    oldest_pending_age_seconds = fields.Float(allow_none=True)
    failing = fields.Integer()
    published = fields.Integer()
    recent_errors = fields.List(fields.Nested(OutboxErrorSchema))


class InboxTypeSchema(Schema):
    count = fields.Integer()
    last_received_at = fields.String(allow_none=True)


class LagSchema(Schema):
    n = fields.Integer()
    p50 = fields.Float(allow_none=True)
    p95 = fields.Float(allow_none=True)
    max = fields.Float(allow_none=True)


class InboxStatsSchema(Schema):
    total = fields.Integer()
    by_type = fields.Dict(keys=fields.String(), values=fields.Nested(InboxTypeSchema))
    lag_ms = fields.Nested(LagSchema)


QUEUE_DEPTHS = {"type": "object", "description": "queue name → its counts (null where not declared yet)",
                "additionalProperties": {"type": "object", "nullable": True,
                                         "properties": {"messages": {"type": "integer"},
                                                        "consumers": {"type": "integer"}}}}


class ParkedSchema(Schema):
    message_id = fields.String(allow_none=True)
    event_type = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    dead_lettered_at = fields.String(allow_none=True)
    retries = fields.Integer(allow_none=True)
    original_routing_key = fields.String(allow_none=True)
    size = fields.Integer()


class ParkedListSchema(Schema):
    count = fields.Integer()
    items = fields.List(fields.Nested(ParkedSchema))


class JobListSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), metadata={"description": "status → jobs"})
    items = fields.List(fields.Dict(), metadata={"description": "id, kind, payload, status, attempts, due_at, "
                                                                "last_error, dates"})


OPERATOR_DOC = auth.doc(auth.OPERATOR)  # what every operator route declares in OpenAPI

CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # what shared.web keeps of an X-Correlation-ID header


class CorrelationArgs(Schema):
    message_id = fields.List(fields.String(validate=validate.Length(min=1, max=64)), load_default=list,
                             validate=validate.Length(max=500),
                             metadata={"description": "message ids published elsewhere: which did this service "
                                                      "receive?"})


class TracedSchema(Schema):
    message_id = fields.String()
    event_type = fields.String(allow_none=True)
    created_at = fields.String(allow_none=True)
    published_at = fields.String(allow_none=True)
    received_at = fields.String(allow_none=True)
    consumer = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    dead_lettered_at = fields.String(allow_none=True)
    correlation_id = fields.String(allow_none=True)
    retries = fields.Integer(allow_none=True)
    original_routing_key = fields.String(allow_none=True)
    size = fields.Integer()


class CorrelationSchema(Schema):
    service = fields.String()
    correlation_id = fields.String()
    published = fields.List(fields.Nested(TracedSchema))
    received = fields.List(fields.Nested(TracedSchema))
    parked = fields.List(fields.Nested(TracedSchema))
    broker_error = fields.String(allow_none=True, metadata={"description": "dead letters unreadable: why"})


class JobRetriedSchema(Schema):
    id = fields.String()
    status = fields.String()


def _pct(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return round(sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))], 1)


def inbox_summary(session, t: sa.Table) -> dict:
    """Consumed events by type, with the delivery lag (produced → applied) of the latest 1,000 (/admin/inbox and
    the console)."""
    rows = session.execute(sa.select(t.c.event_type, sa.func.count(), sa.func.max(t.c.received_at))
                           .group_by(t.c.event_type)).all()
    recent = session.execute(sa.select(t.c.received_at, t.c.occurred_at)
                             .where(t.c.occurred_at.is_not(None))
                             .order_by(t.c.received_at.desc()).limit(1000)).all()
    lags = sorted((r.received_at - r.occurred_at).total_seconds() * 1000 for r in recent)
    return {
        "total": sum(r[1] for r in rows),
        "by_type": {r[0]: {"count": r[1], "last_received_at": r[2].isoformat() if r[2] else None} for r in rows},
        "lag_ms": {"n": len(lags), "p50": _pct(lags, 0.5), "p95": _pct(lags, 0.95), "max": _pct(lags, 1.0)},
    }


def _unless_no_queue(call, nothing):
    """`call()`, or `nothing` when the dead-letter queue is not declared yet (no worker has started: nothing is
    parked), instead of the broker's 404 closing the channel — a 500 before."""
    from shared.console_ops import missing_queue
    try:
        return call()
    except Exception as exc:
        if missing_queue(exc):
            return nothing
        raise


def operator_blueprint(name: str, import_name: str, url_prefix: str, description: str) -> Blueprint:
    """A blueprint of operator endpoints: every route needs the operator role (ADMIN_TOKEN in static mode)."""
    blp = Blueprint(name, import_name, url_prefix=url_prefix, description=description)

    @blp.before_request
    def _auth():
        auth.authorize((auth.OPERATOR,))

    return blp


def admin_blueprint() -> Blueprint:
    """The operator endpoints every service has."""
    blp = operator_blueprint("admin", __name__, "/admin", "Operator endpoints (admin token)")

    @blp.route("/outbox")
    @blp.alt_response(200, schema=OutboxStatsSchema, success=True)
    @blp.doc(**OPERATOR_DOC)
    def outbox_stats():
        """Show the outbox backlog, its oldest age and failing rows."""
        with ctx().transaction() as session:
            return ctx().outbox.stats(session)

    @blp.route("/outbox/retry", methods=["POST"])
    @blp.alt_response(200, schema=RescheduledSchema, success=True)
    @blp.doc(**OPERATOR_DOC)
    def outbox_retry():
        """Make every pending outbox row due now."""
        with ctx().transaction() as session:
            return {"rescheduled": ctx().outbox.retry_now(session)}

    @blp.route("/outbox/prune", methods=["POST"])
    @blp.alt_response(200, schema=DeletedSchema, success=True)
    @blp.arguments(PruneSchema)
    @blp.doc(**OPERATOR_DOC)
    def outbox_prune(args):
        """Delete published outbox rows older than the given number of days."""
        with ctx().transaction() as session:
            return {"deleted": ctx().outbox.prune(session, timedelta(days=args["older_than_days"]))}

    @blp.route("/inbox")
    @blp.alt_response(200, schema=InboxStatsSchema, success=True)
    @blp.doc(**OPERATOR_DOC)
    def inbox_stats():
        """Count consumed events by type, with the delivery lag (produced → applied) of the latest 1,000."""
        with ctx().transaction() as session:
            return inbox_summary(session, ctx().inbox)

    @blp.route("/inbox/prune", methods=["POST"])
    @blp.alt_response(200, schema=DeletedSchema, success=True)
    @blp.arguments(InboxPruneSchema)
    @blp.doc(**OPERATOR_DOC)
    def inbox_prune(args):
        """Delete inbox rows older than the given number of days (at least 30: they filter duplicates)."""
        t = ctx().inbox
        cutoff = utcnow() - timedelta(days=args["older_than_days"])
        with ctx().transaction() as session:
            return {"deleted": session.execute(sa.delete(t).where(t.c.received_at < cutoff)).rowcount}

    @blp.route("/queues")
    @blp.alt_response(200, schema=QUEUE_DEPTHS, success=True)
    @blp.doc(**OPERATOR_DOC)
    def queues():
        """Show message counts of this service's queues."""
        return deadletters.queue_depths(ctx().settings)

    @blp.route("/dead-letters")
    @blp.alt_response(200, schema=ParkedListSchema, success=True)
    @blp.arguments(DeadLetterListArgs, location="query")
    @blp.doc(**OPERATOR_DOC)
    def dead_letters(args):
        """List parked messages with the reason each was parked."""
        items = _unless_no_queue(lambda: deadletters.list_parked(ctx().settings, args["limit"]), [])
        return {"count": len(items), "items": items}

    @blp.route("/dead-letters/replay", methods=["POST"])
    @blp.alt_response(200, schema=ReplayedSchema, success=True)
    @blp.arguments(DeadLetterSelectSchema)
    @blp.doc(**OPERATOR_DOC)
    def replay(args):
        """Send parked messages back to this service's queue."""
        n = _unless_no_queue(lambda: deadletters.replay(ctx().settings, None if args["all"] else args["message_id"]),
                             0)
        if n == 0 and not args["all"]:
            return {"code": 404, "status": "Not Found", "message": "Không tìm thấy thông điệp trong hàng đợi lỗi.",
                    "errors": {"json": {"message_id": ["not parked"]}}}, 404
        return {"replayed": n}

    @blp.route("/dead-letters/purge", methods=["POST"])
    @blp.alt_response(200, schema=PurgedSchema, success=True)
    @blp.arguments(DeadLetterSelectSchema)
    @blp.doc(**OPERATOR_DOC)
    def purge(args):
        """Delete parked messages for good."""
        return {"purged": _unless_no_queue(
            lambda: deadletters.purge(ctx().settings, None if args["all"] else args["message_id"]), 0)}

    @blp.route("/correlation/<correlation_id>")
    @blp.alt_response(200, schema=CorrelationSchema, success=True)
    @blp.arguments(CorrelationArgs, location="query")
    @blp.doc(**OPERATOR_DOC)
    def correlation(args, correlation_id):
        """What this service published (outbox), received (inbox, among the given message ids) and parked (dead
        letters) for one correlation id; the operations console asks each service in turn."""
        from shared.console_ops import correlation as trace
        if not CORRELATION_ID.fullmatch(correlation_id):
            raise Invalid("Mã tương quan không hợp lệ.", field="correlation_id")
        with ctx().transaction() as session:
            return trace(session, ctx().settings, ctx().outbox.table, ctx().inbox, correlation_id,
                         args["message_id"])

    return blp


class JobListArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(["pending", "running", "done", "failed"]))
    kind = fields.String(load_default=None, validate=validate.Length(max=64))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=1000))


def jobs_blueprint(table: sa.Table, url_prefix: str) -> Blueprint:
    """The operator endpoints of a service's durable jobs (shared.jobs): list with counts, retry one.

    A service with jobs registers `jobs_blueprint(JOBS_TABLE, "/admin/<svc>")` in its app.py."""
    from shared import jobs
    from shared.errors import Conflict, NotFound

    blp = operator_blueprint(f"admin_jobs_{url_prefix.strip('/').replace('/', '_')}", __name__, url_prefix,
                             "Durable jobs (admin token)")

    @blp.route("/jobs")
    @blp.alt_response(200, schema=JobListSchema, success=True)
    @blp.arguments(JobListArgs, location="query")
    @blp.doc(**OPERATOR_DOC)
    def list_jobs(args):
        """List the service's jobs (due first) with counts by status; failures name the error type and place."""
        with ctx().transaction() as session:
            return {"counts": jobs.counts(session, table),
                    "items": jobs.list_jobs(session, table, status=args["status"], limit=args["limit"],
                                            kind=args["kind"])}

    @blp.route("/jobs/<job_id>/retry", methods=["POST"])
    @blp.alt_response(200, schema=JobRetriedSchema, success=True)
    @blp.doc(**OPERATOR_DOC)
    def retry_job(job_id):
        """Make a pending or failed job due now (its attempts start again)."""
        with ctx().transaction() as session:
            try:
                return jobs.retry(session, table, job_id)
            except jobs.JobNotFound:
                raise NotFound("Không tìm thấy công việc.", field="job_id") from None
            except jobs.JobAlreadyDone:
                raise Conflict("Công việc đã chạy xong.", field="job_id") from None

    return blp
