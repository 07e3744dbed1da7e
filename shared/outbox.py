"""Outbox: events are rows written in the use case's own transaction; the relay publishes them later."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared import tracing
from shared.db import bulk_insert, is_postgres, utcnow
from shared.events import Envelope, new_event


_THREAD = threading.local()


@contextmanager
def commits_wake_the_relay() -> Iterator[None]:
    """Within the block, the calling thread's commits wake this process's relays themselves (a worker's consumer,
    by its on_commit): its outbox rows are then written without a NOTIFY, which only woke those relays a second
    time to claim rows already published (issue 16: the relay's claims were 17 % of funding's worker in a burst).
    Every other writer — the web's requests, the worker's job loops — still sends it."""
    before = getattr(_THREAD, "wakes_relay", False)
    _THREAD.wakes_relay = True
    try:
        yield
    finally:
        _THREAD.wakes_relay = before


def take_rows_written() -> bool:
    """Whether this thread wrote outbox rows without a NOTIFY (inside commits_wake_the_relay) since it last asked;
    asking forgets it. The consumer asks before a batch and after its commit, and wakes the relay only when the
    batch wrote rows (issue 16: a batch that emits nothing — needs' course_completed, courses' first answer — woke a
    relay all the same, which claimed nothing)."""
    written = getattr(_THREAD, "rows_written", False)
    _THREAD.rows_written = False
    return written


@dataclass
class Outbox:
    """Writes validated events into one service's outbox table."""

    service: str
    table: sa.Table

    def emit(self, session: Session, event_type: str, payload: dict, *, cause: Envelope | None = None) -> Envelope:
        """Validate an event and add it to the outbox inside the caller's transaction."""
        return self.emit_many(session, [(event_type, payload, cause)])[0]

    def emit_many(self, session: Session, events: list[tuple[str, dict, Envelope | None]]) -> list[Envelope]:
        """Validate several events (type, payload, cause) and add them with one statement (COPY on PostgreSQL)."""
        rows, envelopes = [], []
        traceparent = tracing.current_traceparent()  # the request's or the handler's span, when traces are on
        for event_type, payload, cause in events:
            env, body = new_event(
                event_type, payload, producer=self.service,
                causation_id=cause.id if cause else None,
                correlation_id=cause.correlation_id if cause else None,
                traceparent=traceparent,
            )
            envelopes.append(env)
            rows.append({"message_id": env.id, "event_type": env.type, "routing_key": env.routing_key,
                         "body": body, "correlation_id": env.correlation_id, "created_at": env.occurred_at,
                         "attempts": 0})
        if rows:
            bulk_insert(session, self.table, rows)  # COPY on PostgreSQL: one statement, not one execute per row
            if getattr(_THREAD, "wakes_relay", False):
                _THREAD.rows_written = True  # the consumer wakes the relay once this commits
            elif is_postgres(session):
                # Delivered at commit, coalesced per transaction: wakes the relay without waiting for its poll.
                session.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": self.channel})
        return envelopes

    @property
    def channel(self) -> str:
        """The PostgreSQL NOTIFY channel the relay listens on."""
        return f"outbox_{self.service}"

    # --- used by the relay and the admin endpoints ---------------------------------------------------------------

    def claim(self, session: Session, limit: int) -> list[sa.Row]:
        """Lock up to `limit` due rows (SKIP LOCKED on PostgreSQL so several relays share the work)."""
        t = self.table
        now = utcnow()
        stmt = (
            sa.select(t.c.seq, t.c.message_id, t.c.event_type, t.c.routing_key, t.c.body, t.c.correlation_id,
                      t.c.attempts)
            .where(t.c.published_at.is_(None))
            .where(sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now))
            .order_by(t.c.seq)
            .limit(limit)
        )
        if is_postgres(session):
            stmt = stmt.with_for_update(skip_locked=True)
        return list(session.execute(stmt))

    def mark_published(self, session: Session, seqs: list[int]) -> None:
        if seqs:
            session.execute(sa.update(self.table).where(self.table.c.seq.in_(seqs)).values(
                published_at=utcnow(), last_error=None))

    def mark_failed(self, session: Session, failures: list[tuple[sa.Row, str]]) -> None:
        """Back off failed rows; they stay pending and visible to operators, never dropped."""
        now = utcnow()
        for row, error in failures:
            delay = min(2 ** row.attempts, 300)
            session.execute(sa.update(self.table).where(self.table.c.seq == row.seq).values(
                attempts=row.attempts + 1, next_attempt_at=now + timedelta(seconds=delay), last_error=error[:500]))

    def backlog(self, session: Session, cap: int = 100_000) -> dict:
        """Pending rows (counted up to `cap`), failing ones among them and the oldest pending creation time: bounded
        reads of the pending rows in seq order (the partial index ix_outbox_pending on PostgreSQL), cheap enough
        for every metrics scrape however large a backlog grows."""
        t = self.table
        due = sa.select(t.c.seq, t.c.attempts).where(t.c.published_at.is_(None)).order_by(t.c.seq).limit(cap)
        due = due.subquery()
        pending, failing = session.execute(
            sa.select(sa.func.count(), sa.func.count().filter(due.c.attempts > 0)).select_from(due)).one()
        oldest = session.scalar(sa.select(t.c.created_at).where(t.c.published_at.is_(None))
                                .order_by(t.c.seq).limit(1))
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=utcnow().tzinfo)
        return {"pending": pending, "failing": failing, "oldest_created_at": oldest}

    def stats(self, session: Session) -> dict:
        """Return backlog size, oldest pending age and failing rows, for operators."""
        t = self.table
        pending, oldest, failing = session.execute(
            sa.select(sa.func.count(), sa.func.min(t.c.created_at),
                      sa.func.count().filter(t.c.attempts > 0))
            .where(t.c.published_at.is_(None))
        ).one()
        published = session.scalar(sa.select(sa.func.count()).where(t.c.published_at.is_not(None)))
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=utcnow().tzinfo)
        errors = [
            {"message_id": r.message_id, "event_type": r.event_type, "attempts": r.attempts, "last_error": r.last_error}
            for r in session.execute(sa.select(t).where(t.c.published_at.is_(None), t.c.attempts > 0)
                                     .order_by(t.c.seq).limit(20))
        ]
        return {
            "pending": pending,
            "oldest_pending_age_seconds": round((utcnow() - oldest).total_seconds(), 3) if oldest else None,
            "failing": failing,
            "published": published,
            "recent_errors": errors,
        }

    def retry_now(self, session: Session) -> int:
        """Make every pending row due immediately (after an operator fixed the cause)."""
        res = session.execute(sa.update(self.table).where(self.table.c.published_at.is_(None))
                              .values(next_attempt_at=None))
        if res.rowcount and is_postgres(session):  # the relays go at once, not at their next poll
            session.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": self.channel})
        return res.rowcount

    def prune(self, session: Session, older_than: timedelta) -> int:
        """Delete published rows older than the given age."""
        res = session.execute(sa.delete(self.table).where(
            self.table.c.published_at.is_not(None), self.table.c.published_at < utcnow() - older_than))
        return res.rowcount
