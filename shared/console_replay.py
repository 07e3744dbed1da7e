"""Replaying a group of dead letters as a background operation (issue 15): the console's request only records the
operation (`start_replay`); the service's worker (`replay_tick`, a polling loop of shared/worker.py) carries every
running replay on in passes over the dead-letter queue until it is done.

One pass (`run_pass`) takes every parked message on one channel in AMQP transaction mode and handles the group's
copies in batches. Each batch is one step in the database and one in the broker:
1. one database transaction records the batch's new message ids (`dead_letter_operation_items`) and the progress
   (sent, copies retired, total) together, and commits;
2. one broker transaction publishes the batch to the service's queue and acks its parked copies, and commits.
The broker transaction makes "sent" and "no longer parked" one fact: a copy still parked was not sent. So:
- killed after 1, before 2: the copies go back to the dead-letter queue (their channel died unacked), their ids are
  recorded; the next pass sends them — once — without counting them again;
- killed after 2, before the next batch: nothing is left to decide; the next pass sees only the copies not sent.
A copy that comes back after being replayed (the handler failed again and the consumer parked it) carries this
operation's `x-replay-operation` header: it stays parked, for the operator to look at (a new operation may replay
it). Two parked copies of one message id in a pass: one is sent, the other acked unsent (`skipped`).
An operation is done when a pass finds no copy of the group left to send, SETTLE_SECONDS after its last step (a
quorum queue shows a copy requeued by a closed channel a moment later). Workers of one service running side by side
take an operation in turn (a PostgreSQL advisory lock per operation; SQLite has one worker).
"""
from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import datetime, timedelta
from typing import Callable

import pika
import sqlalchemy as sa

from shared.bus import deadletters
from shared.console_ops import _describe, _republish_props, get_operation, missing_queue, tables_of
from shared.db import utcnow
from shared.errors import Conflict

REPLAY_BATCH = 200  # parked copies per recorded step
SETTLE_SECONDS = 3.0
OP_HEADER = "x-replay-operation"
STATUSES = ("running", "done", "failed")

Step = Callable[[str], None]  # told "recorded" after the database step, "sending" after each publish of the broker's
# step (before its commit), "published" after the broker's commit (tests kill a worker there)


def start_replay(session, tables, event_type: str, reason: str, actor: str, note: str | None, total: int,
                 now: datetime | None = None) -> str:
    """Record a replay of the group (event type, reason) of `total` parked copies; the worker carries it out."""
    operations, _ = tables
    now = now or utcnow()
    op_id = str(uuid.uuid4())
    session.execute(sa.insert(operations).values(
        id=op_id, kind="replay", event_type=event_type, reason=reason, status="running", total=total, sent=0,
        skipped=0, actor=actor, note=note, created_at=now, updated_at=now))
    return op_id


def running_replays(session, tables) -> list[str]:
    operations, _ = tables
    return list(session.scalars(sa.select(operations.c.id).where(
        operations.c.kind == "replay", operations.c.status == "running").order_by(operations.c.created_at)))


def operation_counts(session, tables) -> dict[str, int]:
    """Operations per status (running, done, failed): the console's figures."""
    operations, _ = tables
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in session.execute(sa.select(operations.c.status, sa.func.count()).group_by(operations.c.status)):
        counts[status] = n
    return counts


def worker_consumers(settings) -> int | None:
    """Consumers on the service's queue (0: no worker running), None when the broker does not say."""
    try:
        return deadletters.queue_depths(settings).get(settings.queue, {}).get("consumers")
    except Exception:  # noqa: BLE001 - the page still shows the operation
        return None


def _lock_key(op_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"console-replay:{op_id}".encode()).digest()[:8], "big", signed=True)


class _QueueMissing(Exception):
    """The service's own queue is not declared: a replay would be unroutable."""


def run_pass(settings, session_factory, tables, op_id: str, *, batch: int = REPLAY_BATCH,
             settle_seconds: float = SETTLE_SECONDS, clock: Callable[[], datetime] = utcnow,
             stop: threading.Event | None = None, on_step: Step | None = None) -> int:
    """One pass of a running replay over the dead-letter queue; return the copies handled (sent or retired)."""
    engine = session_factory.kw["bind"]
    if engine.dialect.name != "postgresql":
        return _run_pass(settings, session_factory, tables, op_id, batch, settle_seconds, clock, stop, on_step)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as lock:
        # a session-level lock on a connection of its own: held for the pass, released by a crash too
        if not lock.scalar(sa.select(sa.func.pg_try_advisory_lock(_lock_key(op_id)))):
            return 0  # another worker of this service has it
        try:
            return _run_pass(settings, session_factory, tables, op_id, batch, settle_seconds, clock, stop, on_step)
        finally:
            lock.scalar(sa.select(sa.func.pg_advisory_unlock(_lock_key(op_id))))


def _run_pass(settings, session_factory, tables, op_id, batch, settle_seconds, clock, stop, on_step) -> int:
    operations, items = tables
    with session_factory() as session:
        op = get_operation(session, tables, op_id)
        sent_ids = set(session.scalars(sa.select(items.c.message_id).where(items.c.operation_id == op_id)))
    if op["kind"] != "replay":
        raise Conflict("Thao tác này không phải là gửi lại một nhóm.", field="operation_id")
    if op["status"] != "running":
        return 0
    try:
        handled = _pass_over_queue(settings, session_factory, tables, op, sent_ids, batch, clock, stop, on_step)
    except _QueueMissing:
        with session_factory() as session, session.begin():
            at = clock()
            session.execute(sa.update(operations).where(operations.c.id == op_id).values(
                status="failed", last_error="QueueNotFound", updated_at=at, finished_at=at))
        return 0
    except pika.exceptions.ChannelClosedByBroker as exc:
        if not missing_queue(exc):
            raise
        handled, settle_seconds = 0, 0  # no dead-letter queue yet: nothing is parked
    if handled == 0:  # nothing left to send: done once the last step has settled
        with session_factory() as session, session.begin():
            at = clock()
            session.execute(sa.update(operations).where(
                operations.c.id == op_id, operations.c.status == "running",
                operations.c.updated_at <= at - timedelta(seconds=settle_seconds)).values(
                status="done", updated_at=at, finished_at=at))
    return handled


def _pass_over_queue(settings, session_factory, tables, op, sent_ids, batch, clock, stop, on_step) -> int:
    op_id = op["id"]
    key = (op["event_type"] or "", op["reason"] or "")
    batch = max(1, batch)
    handled = 0
    with deadletters._channel(settings) as ch:
        probe = ch.connection.channel()  # a passive declare of a missing queue closes its channel
        try:
            probe.queue_declare(settings.queue, passive=True)
        except pika.exceptions.ChannelClosedByBroker as exc:
            if missing_queue(exc):
                raise _QueueMissing() from None
            raise
        probe.close()
        ch.tx_select()
        copies: dict[str, list] = {}  # message id → its parked copies of the group, in queue order
        for method, props, body in deadletters._drain(ch, settings.dead_letter_queue):
            d = _describe(method, props, body)
            if (d["event_type"] or "", d["reason"] or "") != key or not props.message_id:
                continue  # another group (or no id to track): requeued when the channel closes
            if (props.headers or {}).get(OP_HEADER) == op_id:
                continue  # sent by this operation and parked again: stays parked
            copies.setdefault(props.message_id, []).append((method, props, body))
        ids = list(copies)
        for start in range(0, len(ids), batch):
            chunk = ids[start:start + batch]
            _record(session_factory, tables, op_id, [m for m in chunk if m not in sent_ids],
                    sum(len(copies[m]) - 1 for m in chunk if m not in sent_ids), clock())
            if on_step:
                on_step("recorded")
            for message_id in chunk:
                (_, props, body), *_extra = copies[message_id]
                ch.basic_publish("", settings.queue, body, _republish_props(props, {
                    "x-replayed-from-dlq": True, OP_HEADER: op_id}), mandatory=True)
                if on_step:
                    on_step("sending")  # published, its copy not acked yet: neither counts before the commit
                for method, _, _ in copies[message_id]:
                    ch.basic_ack(method.delivery_tag)
            ch.tx_commit()  # sent and no longer parked, in one step
            if on_step:
                on_step("published")
            sent_ids.update(chunk)
            handled += sum(len(copies[m]) for m in chunk)
            if stop is not None and stop.is_set():
                break
    return handled


def _record(session_factory, tables, op_id: str, new_ids: list[str], retired: int, at: datetime) -> None:
    """The batch's step in the database: its new message ids and the progress, in one transaction."""
    operations, items = tables
    with session_factory() as session, session.begin():
        if new_ids:
            session.execute(sa.insert(items), [{"operation_id": op_id, "message_id": m, "sent_at": at}
                                               for m in new_ids])
        sent = operations.c.sent + len(new_ids)
        skipped = operations.c.skipped + retired
        session.execute(sa.update(operations).where(operations.c.id == op_id).values(
            sent=sent, skipped=skipped, total=sa.case((operations.c.total < sent + skipped, sent + skipped),
                                                      else_=operations.c.total), updated_at=at))


def replay_tick(settings, metadata: sa.MetaData, *, batch: int = REPLAY_BATCH,
                settle_seconds: float = SETTLE_SECONDS):
    """The worker's loop round: one pass of every running replay, oldest first (shared.worker.Tick)."""
    def tick(session_factory, stop: threading.Event) -> int:
        try:
            tables = tables_of(metadata)
        except Conflict:  # a service whose migration has not added the tables
            return 0
        with session_factory() as session:
            ids = running_replays(session, tables)
        handled = 0
        for op_id in ids:
            if stop.is_set():
                break
            handled += run_pass(settings, session_factory, tables, op_id, batch=batch,
                                settle_seconds=settle_seconds, stop=stop)
        return handled
    return tick
