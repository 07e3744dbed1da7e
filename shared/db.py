"""Database plumbing: engines and sessions built on demand, SQLite tuned for several processes, UTC time."""
from __future__ import annotations

import functools
import json
import time

from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (stored as UTC everywhere)."""
    return datetime.now(timezone.utc)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def make_engine(url: str, **kwargs) -> sa.Engine:
    """Build an engine; on SQLite enable WAL, a busy timeout and real transactions (BEGIN IMMEDIATE); elsewhere a
    pooled connection idle longer than `ping_after_idle_s` (default PING_AFTER_IDLE_S; None: never) is pinged
    before use.

    Statement parameters are hidden from error messages: a logged IntegrityError would otherwise print the
    row's values — names and birth years of civil servants.
    """
    kwargs.setdefault("hide_parameters", True)
    ping_idle = kwargs.pop("ping_after_idle_s", PING_AFTER_IDLE_S)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn, _record):
            # pysqlite's own transaction handling breaks SAVEPOINT; we issue BEGIN ourselves.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # IMMEDIATE takes the write lock up front, so two writers wait instead of deadlocking.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if kwargs.get("pool_pre_ping") or ping_idle is None:  # the pool's own ping on every checkout, when asked for
        return sa.create_engine(url, **kwargs)
    engine = sa.create_engine(url, **kwargs)
    _ping_idle_connections(engine, ping_idle)
    return engine


# A pooled connection idle longer than this is pinged when checked out (a server restarted meanwhile, or a proxy
# that dropped it, and the request would fail); one used again within it is not — under load every checkout was
# a round trip of its own before the request's first statement (issue 16: 1 of the 7 of GET /api/v1/courses/<id>).
PING_AFTER_IDLE_S = 1.0


def _ping_idle_connections(engine: sa.Engine, idle_s: float) -> None:
    """SQLAlchemy's pessimistic disconnect handling, for connections idle longer than `idle_s` only: a failed ping
    raises DisconnectionError, so the pool drops that connection and checks out (or opens) another."""
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        if record is not None:
            record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        last = record.info.get("checked_in_at")  # cleared with the DBAPI connection: a new one is not pinged
        if last is None or time.monotonic() - last < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - any failure of the ping means: not this connection
            raise sa.exc.DisconnectionError("connection failed its ping after being idle") from exc


def make_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Return the session factory every use case receives."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit on success, roll back on error."""
    with session_factory() as session:
        with session.begin():
            yield session


def is_postgres(session_or_engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def messaging_tables(metadata: sa.MetaData) -> tuple[sa.Table, sa.Table]:
    """Define this service's outbox and inbox tables on its own metadata."""
    outbox = sa.Table(
        "outbox",
        metadata,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("routing_key", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("published_at", UTCDateTime),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Index("ix_outbox_pending", "seq", postgresql_where=sa.text("published_at IS NULL"),
                 sqlite_where=sa.text("published_at IS NULL")),
    )
    inbox = sa.Table(
        "inbox",
        metadata,
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("message_id", sa.String(64), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("occurred_at", UTCDateTime),  # when the producer committed it: received − occurred = lag
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Index("ix_inbox_received_at", "received_at"),
    )
    return outbox, inbox


def dialect_insert(session: Session, table):
    """An INSERT of the session's dialect (PostgreSQL or SQLite), which knows ON CONFLICT and `excluded`."""
    if is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_ignoring_conflicts(session: Session, table):
    """Return an INSERT … ON CONFLICT DO NOTHING for the session's dialect (PostgreSQL or SQLite)."""
    return dialect_insert(session, table).on_conflict_do_nothing()


def upsert(session: Session, table: sa.Table, rows: list[dict], keys: list[str], update: list[str]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET update = the new row's values, for every row in one executemany
    (PostgreSQL: SQLAlchemy's insertmanyvalues pages of multi-row VALUES, one statement a page; SQLite the same
    statement per row in process): what changes and what is new cost the same, whatever the mix."""
    if not rows:
        return
    session.execute(_upsert_statement("postgresql" if is_postgres(session) else "sqlite", table, tuple(keys),
                                      tuple(update)), rows)


@functools.cache
def _upsert_statement(dialect: str, table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...]):
    """The upsert of `table`, built once per process (issue 16: building it, its `excluded` columns and its cache
    key cost a request of POST …/attendance more than running it)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(table)
    return stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in update})


def bulk_insert(session: Session, table: sa.Table, rows: list[dict]) -> None:
    """Insert many rows in the session's transaction: COPY on PostgreSQL (several times faster than
    executemany for thousands of rows), a plain executemany elsewhere. Values must already be final
    (no column defaults or type hooks are applied on the COPY path).

    JSON columns take the Python value (list, dict, …) on both paths: this is the one place that encodes them
    for COPY. Callers must not encode them themselves — a pre-encoded string would be stored as a JSON string.
    Each distinct object is encoded once (rows often share one memoised value)."""
    if not rows:
        return
    if is_postgres(session):
        cols = list(rows[0])
        as_json = [isinstance(table.c[c].type, sa.JSON) for c in cols]  # COPY takes JSON columns as text
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur:
            with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                if not any(as_json):
                    for row in rows:
                        copy.write_row([row[c] for c in cols])
                    return
                encoded: dict[int, str] = {}  # id → text; the rows keep every value alive, so ids stay unique

                def enc(value) -> str | None:
                    if value is None:
                        return None
                    key = id(value)
                    text = encoded.get(key)
                    if text is None:
                        text = encoded[key] = json.dumps(value, ensure_ascii=False, default=str)
                    return text
                for row in rows:
                    copy.write_row([enc(row[c]) if j else row[c] for c, j in zip(cols, as_json)])
    else:
        session.execute(sa.insert(table), rows)
