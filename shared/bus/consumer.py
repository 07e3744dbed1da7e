"""The inbox consumer: batches deliveries, applies each event exactly once, acks only after commit.

For each batch, in ONE transaction: insert (consumer, message id) into the inbox — a conflict means the
event was already applied, so it is only acked — run the handler, let it add follow-up events to the
outbox; commit; then ack. If any handler fails, the batch is rolled back and replayed one message per
transaction so that only the failing message is retried or parked. Undecodable, invalid or unknown-version
messages go straight to the dead-letter queue with the reason in headers; transient failures go through
the delay queues with growing TTLs, then to the dead-letter queue.

When the database is away, no message is to blame: the batch is kept, unacked, on the same broker connection
(heartbeats keep flowing) and retried with bounded back-off until the database answers — reconnecting instead
would return the deliveries, and each return counts toward the quorum queue's delivery limit, after which the
broker dead-letters healthy events. Such a broker-made dead letter is logged as an error (a delivery close to
the limit, and any growth of the dead-letter queue that this worker did not cause itself).
"""
from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import amqp
import sqlalchemy as sa
from kombu import Consumer
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics, tracing
from shared.bus import topology
from shared.bus.publisher import BrokerSilent, LazyPublisher, Outgoing, bounded_rpc, close_bounded, connect
from shared.bus.safe import describe, stack
from shared.config import Settings
from shared.db import insert_ignoring_conflicts, utcnow
from shared.errors import DomainError, PermanentError
from shared.events import Envelope, EventContractError, decode
from shared.logs import reset_correlation_id, set_correlation_id
from shared.outbox import commits_wake_the_relay, take_rows_written

log = logging.getLogger(__name__)
Handler = Callable[[Envelope, Session, Settings], None]  # (envelope, the batch's session, the service's settings)
# Errors of the database connection itself (server away, SQLite locked too long, deadlock): no message is to
# blame, so none is retried or parked — the batch stays unacked and is retried on the same connection.
INFRASTRUCTURE_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError)
LINGER_SECONDS = 0.002  # how long a batch waits for more deliveries while they come in streams
DATABASE_BACKOFF = (0.5, 10.0)  # first and longest pause between attempts at a batch while the database is away
DEAD_LETTER_CHECK_SECONDS = 30.0  # how often the dead-letter queue's depth is compared with our own parks
# RabbitMQ sends a heartbeat every half of the negotiated 30 s to an idle connection: nothing heard for 30 s is two
# missed beats, a node frozen or cut off (py-amqp's own check waits 60 s, longer than a typical freeze).
SILENCE_LIMIT_SECONDS = 30.0


def drain_timeout(buffered: int, last_batch: int) -> float:
    """How long to wait for the broker's next delivery: 1 s with nothing in hand (then heartbeats and checks);
    with deliveries in hand, linger LINGER_SECONDS for more before flushing — but only while they come in streams
    (the last batch held more than one): a lone event after a quiet spell is applied at once, not 2 ms later at
    each hop of the chain (issue 16, complete → closed), and under a backlog the batches fill as before."""
    if not buffered:
        return 1.0
    return LINGER_SECONDS if last_batch > 1 else 0.0


def batch_handler(func):
    """Mark a handler that takes a list of envelopes of its type (consecutive in the queue) in one call.

    For throughput: the handler can then write all their effects with a few multi-row statements.
    """
    func.takes_batch = True
    return func


@dataclass
class _Delivery:
    message: object  # kombu Message
    envelope: Envelope | None = None
    error: str | None = None
    settled: bool = False  # committed, duplicate or sent to a delay queue: not to be done again
    trace: object = None  # the producer's trace context (AMQP traceparent header, else the envelope's), if any


class EventConsumer:
    """Consumes one service's queue with the handlers of its HANDLERS table."""

    def __init__(self, settings: Settings, session_factory: sessionmaker[Session], inbox: sa.Table,
                 handlers: dict[str, Handler], on_commit: Callable[[], None] | None = None, *,
                 database_backoff: tuple[float, float] = DATABASE_BACKOFF,
                 dead_letter_check_seconds: float = DEAD_LETTER_CHECK_SECONDS,
                 silence_limit_seconds: float = SILENCE_LIMIT_SECONDS):
        """The keyword arguments default to the module's constants (tests shorten them)."""
        self.settings = settings
        self.database_backoff = database_backoff
        self.dead_letter_check_seconds = dead_letter_check_seconds
        self.silence_limit_seconds = silence_limit_seconds
        self.session_factory = session_factory
        self.inbox = inbox
        self.handlers = handlers
        self.on_commit = on_commit or (lambda: None)
        self._last_batch = 0  # deliveries in the last batch flushed: more than one, and the next batch lingers
        self.wakes_relay = on_commit is not None
        self.stop = threading.Event()
        self._buffer: list[_Delivery] = []
        self._publisher = LazyPublisher(settings)  # for delay and dead-letter queues, apart from consuming
        self._conn = None  # the consuming connection, kept alive while a batch waits for the database
        self._watch_channel = None
        self._dlq_depth: int | None = None
        self._dlq_checked_at = 0.0
        self._parked_since_check = 0
        self._batch_span = None  # the current batch's span when traces are on
        self.processed = 0
        self.database_waits = 0  # pauses taken because the database was away (tests and operators)

    # --- the loop ----------------------------------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """Stop cleanly on SIGTERM/SIGINT: finish the batch in hand, then exit."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())

    def run(self) -> None:
        """Consume until stopped, reconnecting with back-off when the broker goes away."""
        # while consuming, this thread's batches wake the relay at commit (on_commit): no NOTIFY needed for them
        with commits_wake_the_relay() if self.wakes_relay else nullcontext():
            self._run()

    def _run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                self._consume()
                backoff = 0.5
            except Exception as exc:  # noqa: BLE001 - broker connection lost, or the database away
                if self.stop.is_set():
                    break
                log.warning("consumer interrupted; reconnecting after a pause",
                            extra={"queue": self.settings.queue, "error": describe(exc), "wait": backoff})
                self._publisher.close()
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 10)
        self._publisher.close()
        log.info("consumer stopped", extra={"queue": self.settings.queue, "processed": self.processed})

    def _consume(self) -> None:
        self._buffer = []  # deliveries of a lost connection cannot be acked on a new one
        conn = connect(self.settings)
        try:
            self._conn = conn
            with bounded_rpc(conn):
                channel = conn.channel()
                queue = topology.declare(self.settings, channel, self.handlers)
                channel.basic_qos(0, self.settings.prefetch, False)
                consumer = Consumer(channel, queues=[queue], on_message=self._on_message, no_ack=False)
                consumer.consume()
            log.info("consuming", extra={"queue": self.settings.queue, "events": sorted(self.handlers)})
            self._watch_dead_letters(force=True)
            first_at = None
            heard, heard_at = None, time.monotonic()
            while not self.stop.is_set():
                timeout = drain_timeout(len(self._buffer), self._last_batch)
                try:
                    conn.drain_events(timeout=timeout)
                except socket.timeout:
                    conn.heartbeat_check()
                    received = getattr(conn.connection, "bytes_recv", None)
                    if received != heard:
                        heard, heard_at = received, time.monotonic()
                    elif time.monotonic() - heard_at > self.silence_limit_seconds:
                        raise BrokerSilent(f"nothing from the broker for {self.silence_limit_seconds:.0f}s")
                    if self._buffer:
                        self.flush()
                        heard_at = time.monotonic()  # not listening while flushing: start counting again
                    else:
                        self._watch_dead_letters()
                    first_at = None
                    continue
                if self._buffer and first_at is None:
                    first_at = time.monotonic()
                if len(self._buffer) >= self.settings.batch_size or (
                        first_at is not None and time.monotonic() - first_at > 0.2):
                    self.flush()
                    first_at = None
                    conn.heartbeat_check()
            self.flush()
            # No basic.cancel (its cancel-ok is another unbounded wait): closing the connection cancels the consumer
            # and returns any unacked delivery.
        finally:
            # Bounded: a frozen node never answers close-ok, and failover must not wait for it.
            self._conn = self._watch_channel = None
            close_bounded(conn)

    def _keep_alive(self, seconds: float) -> None:
        """Serve the broker connection for `seconds`: heartbeats both ways (new deliveries join the buffer)."""
        conn = self._conn
        if conn is None:
            self.stop.wait(seconds)
            return
        try:
            conn.drain_events(timeout=seconds)
        except socket.timeout:
            pass
        conn.heartbeat_check()

    def _watch_dead_letters(self, force: bool = False) -> None:
        """Log an error when the dead-letter queue grew by more than this worker parked itself.

        Only the broker (the main queue's delivery limit) or another replica can account for the rest; a
        broker-made dead letter is otherwise silent.
        """
        now = time.monotonic()
        if self._conn is None or (not force and now - self._dlq_checked_at < self.dead_letter_check_seconds):
            return
        self._dlq_checked_at = now
        dlq = self.settings.dead_letter_queue
        try:
            with bounded_rpc(self._conn):
                if self._watch_channel is None:
                    self._watch_channel = self._conn.channel()
                depth = self._watch_channel.queue_declare(dlq, passive=True).message_count
        except amqp.exceptions.ChannelError:
            self._watch_channel = None  # the broker closed this channel; the consuming one is untouched
            return
        unexplained = 0 if self._dlq_depth is None else depth - self._dlq_depth - self._parked_since_check
        if unexplained > 0:
            log.error("dead-letter queue grew beyond this worker's own parks (delivery limit reached, or another "
                      "replica parked); see GET /admin/dead-letters", extra={
                          "queue": self.settings.queue, "dead_letter_queue": dlq, "count": depth,
                          "added": unexplained, "delivery_limit": topology.DELIVERY_LIMIT})
        self._dlq_depth = depth
        self._parked_since_check = 0

    @property
    def dead_letter_depth(self) -> int | None:
        """The dead-letter queue's depth as last read from the broker plus what this worker parked since (None
        before the first read): a gauge."""
        return None if self._dlq_depth is None else self._dlq_depth + self._parked_since_check

    def _on_message(self, message) -> None:
        self._buffer.append(_Delivery(message))

    # --- processing --------------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Process the buffered deliveries, then ack them all.

        While the database is away the batch is kept (unacked, on this connection) and tried again with
        bounded back-off; on stop it is left unacked for the broker to redeliver.
        """
        batch, self._buffer = self._buffer, []
        self._last_batch = len(batch)
        if not batch:
            return
        with metrics.batch_timer(self.settings.service):
            self._flush(batch)

    def _flush(self, batch: list[_Delivery]) -> None:
        service, received_at = self.settings.service, utcnow()
        for d in batch:
            self._note_redeliveries(d.message)
            try:
                d.envelope = decode(d.message.body)
                metrics.event_received(service, d.envelope.type, d.envelope.occurred_at, received_at)
                if d.envelope.type not in self.handlers:
                    d.error = f"no handler for {d.envelope.type}"
            except EventContractError as exc:
                metrics.event_received(service, d.message.properties.get("type"), None, received_at)
                d.error = f"{exc}: {exc.errors}" if exc.errors else str(exc)
            if tracing.active(service):
                d.trace = tracing.message_context(d.message.headers, getattr(d.envelope, "traceparent", None))
        with tracing.batch_span(service, self.settings.exchange, self.settings.queue,
                                [d.trace for d in batch]) as self._batch_span:
            self._settle_batch(batch)
        self._batch_span = None

    def _settle_batch(self, batch: list[_Delivery]) -> None:
        attempt = 0
        while True:
            try:
                self._process(batch)
                break
            except INFRASTRUCTURE_ERRORS as exc:
                if not self._wait_for_database(batch, attempt, exc):
                    return  # stopping: nothing acked, the broker redelivers the batch to the next consumer
                attempt += 1
        if attempt:
            log.info("database back; batch applied", extra={"queue": self.settings.queue, "size": len(batch),
                                                            "attempts": attempt + 1})
        for d in batch:
            if d.error is not None:
                self._park(d.message, d.error)
        # Everything in the batch is now committed, retried or parked: ack up to the last delivery.
        last = batch[-1].message
        last.channel.basic_ack(last.delivery_tag, multiple=True)
        self.processed += len(batch)

    def _process(self, batch: list[_Delivery]) -> None:
        """Apply the batch in one transaction, or one message per transaction when that fails.

        Raises INFRASTRUCTURE_ERRORS with what is done so far marked `settled`, so a retry only redoes the rest
        (the inbox would absorb a redone commit anyway; the mark also avoids a second copy in a delay queue).
        """
        good = [d for d in batch if d.error is None and not d.settled]
        try:
            self._apply(good)
        except INFRASTRUCTURE_ERRORS:
            raise  # the database is away: flush() keeps the batch and tries again
        except Exception:  # noqa: BLE001 - isolate the failing message: one transaction per message
            log.warning("batch failed; retrying one message at a time", extra={"size": len(good)})
            for d in good:
                if d.settled:
                    continue
                try:
                    self._apply([d])
                except INFRASTRUCTURE_ERRORS:
                    raise
                except (PermanentError, DomainError, EventContractError) as exc:
                    d.error = f"permanent: {exc}"
                except Exception as exc:  # noqa: BLE001 - transient by default: retry with delay
                    log.error("handler failed", extra={"message_id": d.envelope.id, "type": d.envelope.type,
                                                       "error": describe(exc), "where": stack(exc)})
                    self._retry_or_park(d, repr(exc))
                d.settled = True
            return
        for d in good:
            d.settled = True

    def _wait_for_database(self, batch: list[_Delivery], attempt: int, exc: BaseException) -> bool:
        """Pause before the next attempt at `batch`, serving the broker connection meanwhile; False on stop."""
        first, longest = self.database_backoff
        wait = min(first * 2 ** attempt, longest)
        self.database_waits += 1
        if attempt == 0 or attempt % 10 == 0:
            log.warning("database unavailable; holding the batch unacked on the broker connection and retrying",
                        extra={"queue": self.settings.queue, "size": len(batch), "attempt": attempt + 1,
                               "wait": wait, "error": describe(exc)})
        deadline = time.monotonic() + wait
        while not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            self._keep_alive(min(left, 1.0))
        return False

    def _note_redeliveries(self, message) -> None:
        """A delivery the broker has handed out many times is close to being dead-lettered by it: say so loudly."""
        count = (message.headers or {}).get("x-delivery-count")
        if isinstance(count, int) and count >= topology.DELIVERY_LIMIT // 2:
            log.error("event redelivered many times; the broker dead-letters it at the queue's delivery limit",
                      extra={"queue": self.settings.queue, "message_id": message.properties.get("message_id"),
                             "type": message.properties.get("type"), "count": count,
                             "delivery_limit": topology.DELIVERY_LIMIT})

    def _apply(self, deliveries: list[_Delivery]) -> None:
        if not deliveries:
            return
        take_rows_written()  # forget a rolled-back batch's rows
        with self.session_factory() as session, session.begin():
            fresh = self._claim(session, deliveries)
            todo, duplicates, traces = [], [], []
            for d in deliveries:
                if d.envelope.id in fresh:
                    fresh.discard(d.envelope.id)  # a copy twice in one batch is applied once
                    todo.append(d.envelope)
                    traces.append(d.trace)
                else:
                    duplicates.append(d.envelope.type)
            # Apply in queue order; consecutive envelopes of a batch handler's type go in one call.
            i = 0
            while i < len(todo):
                handler = self.handlers[todo[i].type]
                batched = getattr(handler, "takes_batch", False)
                j = i + 1
                while batched and j < len(todo) and todo[j].type == todo[i].type:
                    j += 1
                token = set_correlation_id(todo[i].correlation_id)
                try:
                    with metrics.handler_timer(self.settings.service, todo[i].type), \
                            tracing.process_span(self.settings.service, self.settings.exchange, self.settings.queue,
                                                 self._batch_span, todo[i:j], traces[i:j]):
                        handler(todo[i:j], session, self.settings) if batched else \
                            handler(todo[i], session, self.settings)
                finally:
                    reset_correlation_id(token)
                i = j
        metrics.events_applied(self.settings.service, [e.type for e in todo], duplicates)  # committed
        if take_rows_written():  # committed: the rows are there for the relay
            self.on_commit()

    def _claim(self, session: Session, deliveries: list[_Delivery]) -> set[str]:
        """Insert inbox rows; return the message ids seen for the first time (the others are duplicates)."""
        consumer = self.settings.service
        now = utcnow()
        rows, seen = [], set()
        for d in deliveries:
            if d.envelope.id not in seen:
                seen.add(d.envelope.id)
                rows.append({"consumer": consumer, "message_id": d.envelope.id, "event_type": d.envelope.type,
                             "occurred_at": d.envelope.occurred_at, "received_at": now})
        # executemany with RETURNING ("insertmanyvalues"): one cached statement, only new rows come back.
        stmt = insert_ignoring_conflicts(session, self.inbox).returning(self.inbox.c.message_id)
        return set(session.scalars(stmt, rows))

    # --- retry and dead-letter ---------------------------------------------------------------------------------

    def _republish(self, message, queue: str, headers: dict) -> None:
        props = message.properties
        out = Outgoing(
            message_id=props.get("message_id") or "", routing_key=queue, body=message.body, exchange="",
            correlation_id=props.get("correlation_id"), event_type=props.get("type"),
            headers={**(message.headers or {}), **headers},
        )
        try:
            self._publisher.get().publish_one(out)
        except Exception:
            self._publisher.close()
            raise

    def _retry_or_park(self, d: _Delivery, error: str) -> None:
        attempt = int((d.message.headers or {}).get("x-retry-count", 0)) + 1
        if attempt > len(self.settings.retry_delays_ms):
            d.error = f"gave up after {attempt - 1} retries: {error}"
            return
        self._republish(d.message, self.settings.retry_queue(attempt),
                        {"x-retry-count": attempt, "x-last-error": error[:500],
                         "x-original-routing-key": self._original_routing_key(d.message)})
        metrics.event_retried(self.settings.service, d.envelope.type)
        log.info("event scheduled for retry", extra={"message_id": d.envelope.id, "attempt": attempt})

    @staticmethod
    def _original_routing_key(message) -> str:
        """The event type it was first routed by (after a delay queue the routing key is the queue's name)."""
        return (message.headers or {}).get("x-original-routing-key") or message.delivery_info.get("routing_key", "")

    def _park(self, message, reason: str) -> None:
        """Move a message to the dead-letter queue with the reason in its headers."""
        self._republish(message, self.settings.dead_letter_queue, {
            "x-dead-letter-reason": reason[:1000],
            "x-dead-lettered-at": utcnow().isoformat(),
            "x-dead-lettered-by": self.settings.service,
            "x-original-routing-key": self._original_routing_key(message),
        })
        self._parked_since_check += 1
        metrics.event_parked(self.settings.service, message.properties.get("type"))
        # The reason (in the parked message's headers, for operators) may quote values: the log names its kind.
        log.warning("event parked in dead-letter queue", extra={
            "queue": self.settings.queue, "message_id": message.properties.get("message_id"),
            "type": message.properties.get("type"), "reason": reason.split(":", 1)[0][:80]})
