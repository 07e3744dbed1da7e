"""The access log (issue 14): every call of a protected /api/v1 operation — the reads and writes of personal data
and of everything else not public — is recorded: who (the token's subject and the role it acted in), whose record
(the person or object the path names), what operation (method and route template), when (UTC), the answer's status
and the correlation id. One append-only table per service (`access_log`: its models.py defines it with
`access_log_table`, its migrations create it with triggers refusing UPDATE and DELETE); refusals (403, 404…) are
recorded too: an attempt is worth knowing. An inspector lists it at GET /api/v1/access-log.

Recording access to personal data: Law 91/2025/QH15 on personal data protection and Decree 356/2025/NĐ-CP
(in force 1 January 2026). Nothing of the request's content is kept: ids from the path only, never a query value
or a body (names, birth years, tokens).

Retention is a versioned rule (shared/rules.py): `access_log_retention` holds how many days entries are kept, with
its legal basis and validity dates (the shipped version is a sample, MẪU, until the real period is loaded). Each
worker purges on a schedule (`purge_tick`, every ACCESS_LOG_PURGE_SECONDS) the entries older than the period in
force that day (local date, Asia/Ho_Chi_Minh), in batches. The table stays append-only otherwise: the database's
own trigger refuses every UPDATE, and every DELETE of an entry not older than the period in force (none in force:
every DELETE) — the purge is the only delete that can succeed, whoever sends it. The inspector and the operator
read the versions at GET /api/v1/access-log/retention; the operator adds one at POST /admin/access-log/retention.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app, g, request
from marshmallow import Schema, fields, validate

from shared import rules
from shared.db import UTCDateTime, transaction, utcnow
from shared.localtime import local_today

log = logging.getLogger("access_log")

TABLE = "access_log"
RETENTION_TABLE = "access_log_retention"
MESSAGE = "access_log is append-only"
PURGE_BATCH = 5_000
# The purge keeps an hour more than the period, so a database clock a little behind this one (the trigger judges
# by the database's now) never refuses a purge batch.
PURGE_MARGIN = timedelta(hours=1)
# The shipped version (migrations: needs 0009, courses 0007, evaluation 0006, funding 0006): a sample, not a legal
# figure — the period is set by the controller under the law and loaded as a new version.
SAMPLE_RETENTION = {"days": 730, "valid_from": date(2026, 1, 1), "valid_to": None, "is_sample": True,
                    "legal_basis": "MẪU — giá trị mẫu, chưa phải thời hạn được quy định; căn cứ: Luật Bảo vệ dữ "
                                   "liệu cá nhân số 91/2025/QH15, Nghị định 356/2025/NĐ-CP"}
# path parameters naming whose record it is, most specific first
RECORD_KINDS = (("cs_id", "civil_servant"), ("civil_servant_id", "civil_servant"), ("course_id", "course"),
                ("plan_id", "plan"), ("campaign_id", "campaign"), ("budget_line_id", "budget_line"),
                ("journal_id", "journal"), ("indicator_id", "unit_indicator"), ("lecturer_id", "lecturer"))


class _Retention:
    """A version of the retention rule (mapped per service onto its `access_log_retention` table)."""

    def __init__(self, **values):
        for key, value in values.items():
            setattr(self, key, value)


def retention_table(metadata: sa.MetaData) -> sa.Table:
    """The versioned retention rule, on the same metadata as the access log (access_log_table defines both)."""
    table = sa.Table(
        RETENTION_TABLE, metadata,
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date, nullable=True),
        sa.Column("legal_basis", sa.String(300), nullable=False),
        sa.Column("is_sample", sa.Boolean, nullable=False),
    )
    model = type("AccessLogRetention", (_Retention,), {"__module__": __name__})
    sa.orm.registry(metadata=metadata).map_imperatively(model, table)
    table.info["model"] = model
    return table


def retention_model(metadata: sa.MetaData):
    """The mapped class of this metadata's retention versions (for shared.rules)."""
    return metadata.tables[RETENTION_TABLE].info["model"]


def access_log_table(metadata: sa.MetaData) -> sa.Table:
    """Define the access log (and its retention rule, `access_log_retention`) on a service's metadata (its models.py
    calls this)."""
    if RETENTION_TABLE not in metadata.tables:
        retention_table(metadata)
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


# The local day of the database's now: Vietnam keeps UTC+7 all year (no daylight saving).
_PG_TODAY = "(now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date"
_SQLITE_TODAY = "date('now', '+7 hours')"


def append_only_ddl(dialect: str) -> list[str]:
    """The statements making the table append-only but for the retention purge (the access-log migrations run their
    own frozen copy; this is the current form, after the retention rule: needs 0009, courses 0007, evaluation and
    funding 0006). UPDATE is always refused; DELETE only of an entry older than the period in force today."""
    return {
        "postgresql": [
            "CREATE OR REPLACE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "DECLARE keep_days integer; BEGIN "
            "IF TG_OP = 'DELETE' THEN "
            f"SELECT days INTO keep_days FROM {RETENTION_TABLE} WHERE valid_from <= {_PG_TODAY} "
            f"AND (valid_to IS NULL OR valid_to >= {_PG_TODAY}) ORDER BY valid_from DESC LIMIT 1; "
            "IF keep_days IS NOT NULL AND OLD.at < now() - make_interval(days => keep_days) THEN RETURN OLD; "
            "END IF; END IF; "
            f"RAISE EXCEPTION '{MESSAGE}'; END $$",
            "CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log "
            "FOR EACH ROW EXECUTE FUNCTION access_log_append_only()"],
        "sqlite": [
            f"CREATE TRIGGER access_log_no_update BEFORE UPDATE ON access_log BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END",
            "CREATE TRIGGER access_log_no_delete BEFORE DELETE ON access_log "
            "WHEN coalesce(OLD.at < (SELECT datetime('now', '-' || days || ' days') "
            f"FROM {RETENTION_TABLE} WHERE valid_from <= {_SQLITE_TODAY} "
            f"AND (valid_to IS NULL OR valid_to >= {_SQLITE_TODAY}) ORDER BY valid_from DESC LIMIT 1), 0) = 0 "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"],
    }.get(dialect, [])


# --- retention ---------------------------------------------------------------------------------------------------

def retention_in_force(session, metadata: sa.MetaData, on: date):
    """The retention version in force on `on`, or None (then nothing is purged)."""
    return rules.in_force(session, retention_model(metadata), on)


def purge(session, metadata: sa.MetaData, now: datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete up to `batch` entries older than the period in force on today's local date (oldest first); return how
    many. The caller owns the transaction; call again while it returns `batch`."""
    now = now or utcnow()
    version = retention_in_force(session, metadata, local_today(now))
    if version is None:
        return 0
    table = metadata.tables[TABLE]
    cutoff = now - timedelta(days=version.days) - PURGE_MARGIN
    oldest = sa.select(table.c.id).where(table.c.at < cutoff).order_by(table.c.id).limit(batch)
    ids = list(session.scalars(oldest))
    if ids:
        session.execute(sa.delete(table).where(table.c.id.in_(ids)))
    return len(ids)


def purge_tick(metadata: sa.MetaData, now_fn=utcnow):
    """The worker's polling-loop round (shared.worker): one purge batch in its own transaction. A full batch makes
    the loop run again at once; an empty one waits for the next period."""
    def tick(session_factory, _stop) -> int:
        with transaction(session_factory) as session:
            deleted = purge(session, metadata, now_fn())
        if deleted:
            log.info("access log purged", extra={"deleted": deleted})
        return deleted
    return tick


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
    session = g.get("db_session")
    service = current_app.extensions["service"]
    try:
        if service.engine.dialect.name == "postgresql":
            # One statement in autocommit: committed as durably as any transaction, in one round trip instead of
            # BEGIN, INSERT, COMMIT (issue 16: 3 of the 13 of POST …/attendance). A read transaction the answer's
            # serialisation may have begun on the request's session holds no lock this insert would wait for.
            with service.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.insert(table), row)
            return response
        # On the request's own session (its transaction is over, but serialising the answer may have begun a read
        # one): a second connection would wait for that one's lock on SQLite.
        if session is None:
            session = g.db_session = service.session_factory()
        try:
            session.execute(sa.insert(table), row)
            session.commit()
        except sa.exc.SQLAlchemyError:
            session.rollback()
            raise
    except sa.exc.SQLAlchemyError as exc:  # the answer stands; the failure is an operations alarm, not the caller's
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


class RetentionSchema(Schema):
    id = fields.String()
    days = fields.Integer(metadata={"description": "entries are kept this many days"})
    valid_from = fields.Date()
    valid_to = fields.Date(allow_none=True)
    legal_basis = fields.String()
    is_sample = fields.Boolean(metadata={"description": "a sample value (MẪU), not a legal figure"})


class RetentionRuleSchema(Schema):
    in_force = fields.Nested(RetentionSchema, allow_none=True, metadata={"description": "the version in force today"})
    versions = fields.List(fields.Nested(RetentionSchema))


class RetentionCreateSchema(Schema):
    days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=36_500))
    valid_from = fields.Date(required=True)
    valid_to = fields.Date(load_default=None)
    legal_basis = fields.String(required=True, validate=validate.Length(min=3, max=300))


_RETENTION_FIELDS = ("id", "days", "valid_from", "valid_to", "legal_basis", "is_sample")


def _plain(version) -> dict | None:
    return None if version is None else {name: getattr(version, name) for name in _RETENTION_FIELDS}


def _retention_rule() -> dict:
    from shared.web import ctx
    metadata = _table().metadata
    model = retention_model(metadata)
    with ctx().transaction() as session:
        current = retention_in_force(session, metadata, local_today())
        return {"in_force": _plain(current),
                "versions": [_plain(v) for v in rules.versions(session, model, newest_first=True)]}


def retention_admin_blueprint() -> Blueprint:
    """/admin/access-log/retention for the operator: read the versions, add one (shared.rules: an open-ended
    version that began earlier ends the day before; any other overlap is a 409 naming valid_from)."""
    from shared.auth import OPERATOR, requires
    from shared.web import Blueprint, ctx
    blp = Blueprint("access_log_retention", __name__, url_prefix="/admin/access-log",
                    description="Thời hạn lưu nhật ký truy cập (quy định có phiên bản)")

    @blp.route("/retention")
    @requires(OPERATOR)
    @blp.response(200, RetentionRuleSchema)
    def read_retention():
        """The retention versions and the one in force today (operator)."""
        return _retention_rule()

    @blp.route("/retention", methods=["POST"])
    @requires(OPERATOR)
    @blp.arguments(RetentionCreateSchema)
    @blp.response(201, RetentionSchema)
    def add_retention(data):
        """Add a retention version with its legal basis and validity dates (operator)."""
        model = retention_model(_table().metadata)
        with ctx().transaction() as session:
            return _plain(rules.add_version(session, model, {**data, "is_sample": False}))

    return blp


def access_log_blueprint() -> Blueprint:
    """GET /api/v1/access-log for the inspector: newest first, by subject, record or time; the retention rule."""
    from shared.auth import INSPECTOR, OPERATOR, requires
    from shared.web import Blueprint
    blp = Blueprint("access_log", __name__, url_prefix="/access-log", description="Nhật ký truy cập dữ liệu cá nhân")

    @blp.route("/retention")
    @requires(INSPECTOR, OPERATOR)
    @blp.response(200, RetentionRuleSchema)
    def read_retention():
        """How long the access log is kept: the versions and the one in force today (inspector, operator)."""
        return _retention_rule()

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
