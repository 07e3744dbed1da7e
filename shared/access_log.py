"""The access log (issue 14): every call of a protected /api/v1 operation — the reads and writes of personal data
and of everything else not public — is recorded: who (the token's subject and the role it acted in), whose record
(the person or object the path names), what operation (method and route template), when (UTC), the answer's status
and the correlation id. One append-only table per service (`access_log`: its models.py defines it with
`access_log_table`, its migrations create it with triggers refusing UPDATE and DELETE); refusals (403, 404…) are
recorded too: an attempt is worth knowing. An inspector lists it at GET /api/v1/access-log.

Recording access to personal data: Law 91/2025/QH15 on personal data protection and Decree 356/2025/NĐ-CP
(in force 1 January 2026). Nothing of the request's content is kept: ids from the path only, never a query value
or a body (names, birth years, tokens).
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import current_app, g, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from shared.db import UTCDateTime, utcnow

log = logging.getLogger("access_log")

TABLE = "access_log"
MESSAGE = "access_log is append-only"
# path parameters naming whose record it is, most specific first
RECORD_KINDS = (("cs_id", "civil_servant"), ("civil_servant_id", "civil_servant"), ("course_id", "course"),
                ("plan_id", "plan"), ("campaign_id", "campaign"), ("budget_line_id", "budget_line"),
                ("journal_id", "journal"), ("indicator_id", "unit_indicator"))


def access_log_table(metadata: sa.MetaData) -> sa.Table:
    """Define the access log on a service's metadata (its models.py calls this)."""
    return sa.Table(
        TABLE, metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("operation", sa.String(200), nullable=False),
        sa.Column("record_type", sa.String(40), nullable=True),
        sa.Column("record_id", sa.String(100), nullable=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Index("ix_access_log_at", "at"),
        sa.Index("ix_access_log_record", "record_id"),
        sa.Index("ix_access_log_subject", "subject"),
    )


def append_only_ddl(dialect: str) -> list[str]:
    """The statements making the table append-only (a migration runs them; copy them there, never import)."""
    return {
        "postgresql": [
            "CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$",
            "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log "
            "FOR EACH ROW EXECUTE FUNCTION access_log_append_only()"],
        "sqlite": [
            f"CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
            f"CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"],
    }.get(dialect, [])


def _table() -> sa.Table | None:
    service = current_app.extensions["service"]
    metadata = service.outbox.table.metadata
    return metadata.tables.get(TABLE)


def _record() -> tuple[str | None, str | None]:
    args = request.view_args or {}
    for name, kind in RECORD_KINDS:
        if args.get(name) is not None:
            return kind, str(args[name])[:100]
    return None, None


def record(response):
    """after_request: one row for a call of a protected /api/ operation (one the caller was authenticated for)."""
    principal, role = g.get("principal"), g.get("principal_role")
    if principal is None or not request.path.startswith("/api/") or request.url_rule is None:
        return response
    table = _table()
    if table is None:
        return response
    kind, record_id = _record()
    row = {"at": utcnow(), "subject": principal.subject[:200], "role": role or "-",
           "operation": f"{request.method} {request.url_rule.rule}"[:200], "record_type": kind,
           "record_id": record_id, "status": response.status_code, "correlation_id": g.get("correlation_id", "-")}
    # On the request's own session (its transaction is over, but serialising the answer may have begun a read
    # one): a second connection would wait for that one's lock on SQLite.
    session = g.get("db_session")
    if session is None:
        session = g.db_session = current_app.extensions["service"].session_factory()
    try:
        session.execute(sa.insert(table), [row])
        session.commit()
    except sa.exc.SQLAlchemyError as exc:  # the answer stands; the failure is an operations alarm, not the caller's
        session.rollback()
        log.error("access not recorded", extra={"error_type": type(exc).__name__, "operation": row["operation"]})
    return response


def install(app) -> None:
    """Record every protected /api/ call of this app."""
    app.after_request(record)


class AccessLogArgs(Schema):
    subject = fields.String(load_default=None, validate=validate.Length(max=200))
    record_id = fields.String(load_default=None, validate=validate.Length(max=100))
    since = fields.AwareDateTime(load_default=None, default_timezone=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class AccessEntrySchema(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    subject = fields.String()
    role = fields.String()
    operation = fields.String()
    record_type = fields.String(allow_none=True)
    record_id = fields.String(allow_none=True)
    status = fields.Integer()
    correlation_id = fields.String()


def access_log_blueprint() -> Blueprint:
    """GET /api/v1/access-log for the inspector: newest first, by subject, record or time."""
    from shared.auth import INSPECTOR, requires
    blp = Blueprint("access_log", __name__, url_prefix="/access-log", description="Nhật ký truy cập dữ liệu cá nhân")

    @blp.route("")
    @requires(INSPECTOR)
    @blp.arguments(AccessLogArgs, location="query")
    @blp.response(200, AccessEntrySchema(many=True))
    def list_access(args):
        """List who read or wrote which record, newest first (inspector)."""
        table = _table()
        if table is None:
            return []
        stmt = sa.select(table).order_by(table.c.id.desc()).limit(args["limit"])
        if args["subject"]:
            stmt = stmt.where(table.c.subject == args["subject"])
        if args["record_id"]:
            stmt = stmt.where(table.c.record_id == args["record_id"])
        if args["since"]:
            stmt = stmt.where(table.c.at >= args["since"])
        with current_app.extensions["service"].engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    return blp
