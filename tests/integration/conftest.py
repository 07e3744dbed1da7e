"""Fixtures for integration tests: a test-side broker client, migrated databases, consumers and relays in threads.

The test side talks to RabbitMQ with pika (not the kombu/py-amqp stack under test), so a bug in the code under
test cannot hide itself in the assertions.
"""
from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

import pika
import pytest
import sqlalchemy as sa
from kombu import Connection
from sqlalchemy.orm import Session, sessionmaker

from shared.bus import topology
from shared.bus.consumer import EventConsumer
from shared.bus.relay import OutboxRelay
from shared.config import Settings
from shared.db import make_engine, make_session_factory, messaging_tables, utcnow
from shared.events import new_event
from shared.migrate import upgrade
from tests.servers import bus, db_url_factory, pg_url_factory  # noqa: F401 (fixtures)
from tests.events import make_course_completed
from tests.helpers import AMQP_URL, BusNamespace, wait_for_consumer, wait_until

RETRY_DELAYS_MS = (100, 200)
# pika reads the kombu-style "…:5672//" as the empty vhost; "%2F" is "/" for both clients.
PIKA_URL = AMQP_URL[:-1] + "%2F" if AMQP_URL.endswith("//") else AMQP_URL


# --- broker, seen from the test -----------------------------------------------------------------------------------

class Broker:
    """A pika client for the test side: publish with confirms, capture queues in the namespace, queue depths."""

    def __init__(self, bus: BusNamespace):
        self.bus = bus
        params = pika.URLParameters(PIKA_URL)
        params.socket_timeout = 5
        self.conn = pika.BlockingConnection(params)
        self.ch = self._open_channel()
        self._captures: list[str] = []

    def _open_channel(self):
        ch = self.conn.channel()
        ch.confirm_delivery()
        return ch

    def declare_exchange(self) -> None:
        self.ch.exchange_declare(self.bus.exchange, exchange_type="topic", durable=True)

    def capture(self, *routing_keys: str) -> str:
        """Declare a queue in the namespace bound to the exchange with `routing_keys`; deleted at teardown."""
        self.declare_exchange()
        name = f"{self.bus.queue_prefix}capture.{uuid.uuid4().hex[:6]}"
        self.ch.queue_declare(name, durable=True)
        self._captures.append(name)
        for key in routing_keys:
            self.bind(name, key)
        return name

    def bind(self, queue: str, routing_key: str) -> None:
        self.ch.queue_bind(queue, self.bus.exchange, routing_key=routing_key)

    def publish(self, body: bytes | str, *, routing_key: str, message_id: str | None, exchange: str | None = None,
                correlation_id: str | None = None, headers: dict | None = None,
                content_type: str = "application/json") -> None:
        """Publish with confirms and mandatory (a test publish that is not routed fails the test at once)."""
        props = pika.BasicProperties(message_id=message_id, correlation_id=correlation_id,
                                     content_type=content_type, delivery_mode=2, headers=headers)
        body = body.encode() if isinstance(body, str) else body
        self.ch.basic_publish(self.bus.exchange if exchange is None else exchange, routing_key, body, props,
                              mandatory=True)

    def publish_event(self, env, body: str, copies: int = 1) -> None:
        """Publish an envelope the way the relay does: to the exchange, routing key = type."""
        for _ in range(copies):
            self.publish(body, routing_key=env.type, message_id=env.id, correlation_id=env.correlation_id)

    def publish_to_queue(self, queue: str, body: bytes | str, message_id: str, **kw) -> None:
        """Publish straight to one queue through the default exchange."""
        self.publish(body, routing_key=queue, message_id=message_id, exchange="", **kw)

    def get(self, queue: str):
        """Take one message (acked), or None."""
        method, props, body = self.ch.basic_get(queue, auto_ack=True)
        return None if method is None else (method, props, body)

    def take(self, queue: str, count: int, timeout: float = 15) -> list:
        """Take (and ack) exactly `count` messages, waiting up to `timeout` for them to arrive."""
        got = []

        def enough():
            while len(got) < count:
                msg = self.get(queue)
                if msg is None:
                    return False
                got.append(msg)
            return True

        wait_until(enough, timeout=timeout, what=f"{count} messages on {queue} (got {len(got)})")
        return got

    def depth(self, queue: str) -> int | None:
        """Return the number of ready messages in `queue`, or None when it does not exist."""
        info = self._declare_passive(queue)
        return None if info is None else info.message_count

    def consumers(self, queue: str) -> int:
        info = self._declare_passive(queue)
        return 0 if info is None else info.consumer_count

    def _declare_passive(self, queue: str):
        try:
            return self.ch.queue_declare(queue, passive=True).method
        except pika.exceptions.ChannelClosedByBroker:
            self.ch = self._open_channel()
            return None

    def close(self) -> None:
        try:
            for name in self._captures:
                self.ch.queue_delete(name)
        finally:
            if self.conn.is_open:
                self.conn.close()


@pytest.fixture
def broker(bus):
    b = Broker(bus)
    yield b
    b.close()


def declare_topology(settings: Settings, routing_keys) -> None:
    """Declare a service's exchange and queues before its consumer starts (so messages can wait in its queue)."""
    with Connection(settings.amqp_url, connect_timeout=5) as conn:
        topology.declare(settings, conn.channel(), routing_keys)


# --- databases ----------------------------------------------------------------------------------------------------

@dataclass
class Db:
    url: str
    engine: sa.Engine
    session_factory: sessionmaker[Session]
    tables: dict = field(default_factory=dict)

    def scalar(self, stmt):
        with self.session_factory() as s:
            return s.scalar(stmt)

    def rows(self, stmt) -> list:
        with self.session_factory() as s:
            return list(s.execute(stmt))

    def count(self, table, *where) -> int:
        return self.scalar(sa.select(sa.func.count()).select_from(table).where(*where))


@pytest.fixture
def service_db(db_url_factory):
    """Factory: a fresh database migrated to one real service's schema (SQLite or PostgreSQL)."""
    made: list[Db] = []

    def make(service: str) -> Db:
        url = db_url_factory(service)
        upgrade(service, url)
        engine = make_engine(url)
        db = Db(url, engine, make_session_factory(engine))
        made.append(db)
        return db

    yield make
    for db in made:
        db.engine.dispose()


@pytest.fixture
def test_db(db_url_factory):
    """A fresh database with outbox, inbox and an `effects` table that test handlers write to."""
    url = db_url_factory("msg")
    metadata = sa.MetaData()
    outbox, inbox = messaging_tables(metadata)
    effects = sa.Table(
        "effects", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("course_id", sa.String(64)),
    )
    engine = make_engine(url)
    metadata.create_all(engine)
    db = Db(url, engine, make_session_factory(engine), {"outbox": outbox, "inbox": inbox, "effects": effects})
    yield db
    engine.dispose()


# --- consumers and relays in threads ------------------------------------------------------------------------------

class RecordingConsumer(EventConsumer):
    """The real consumer, noting each batch it flushes: (message id, retry count) per delivery."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches: list[list[tuple[str | None, int]]] = []

    def flush(self) -> None:
        if self._buffer:
            self.batches.append([(d.message.properties.get("message_id"),
                                  int((d.message.headers or {}).get("x-retry-count", 0))) for d in self._buffer])
        super().flush()

    def deliveries_of(self, message_id: str) -> list[int]:
        """Return the retry count seen on each delivery of `message_id`, in order."""
        return [retry for batch in list(self.batches) for mid, retry in batch if mid == message_id]


@pytest.fixture
def run_consumer(broker):
    """Factory: start a RecordingConsumer in a thread and wait until it consumes; stopped and joined afterwards."""
    started: list[tuple[EventConsumer, threading.Thread]] = []

    def start(settings: Settings, session_factory, inbox: sa.Table, handlers: dict, **kwargs) -> RecordingConsumer:
        consumer = RecordingConsumer(settings, session_factory, inbox, handlers, **kwargs)
        thread = threading.Thread(target=consumer.run, name=f"consumer-{settings.service}", daemon=True)
        thread.start()
        started.append((consumer, thread))
        consumer.thread = thread
        wait_for_consumer(settings.queue, timeout=15)
        return consumer

    yield start
    for consumer, _ in started:
        consumer.stop.set()
    for consumer, thread in started:
        thread.join(timeout=15)
        assert not thread.is_alive(), "consumer thread did not stop"


class CountingRelay(OutboxRelay):
    """The real relay, counting the rows it got confirmed and its rounds (claims)."""

    published = 0
    rounds = 0

    def run_once(self) -> int:
        self.rounds += 1
        n = super().run_once()
        self.published += n
        return n


@pytest.fixture
def make_relay():
    """Factory: an OutboxRelay to drive by hand with run_once(); its connection is closed afterwards."""
    made: list[OutboxRelay] = []

    def make(settings: Settings, session_factory, outbox) -> CountingRelay:
        relay = CountingRelay(settings, session_factory, outbox)
        made.append(relay)
        return relay

    yield make
    for relay in made:
        relay.close()


@pytest.fixture
def run_relay():
    """Factory: start an OutboxRelay loop in a thread (own relay, own connection); stopped and joined afterwards."""
    started: list[tuple[threading.Event, threading.Thread, OutboxRelay]] = []

    def start(settings: Settings, session_factory, outbox, start_barrier: threading.Barrier | None = None):
        relay = CountingRelay(settings, session_factory, outbox)
        stop = threading.Event()

        def loop():
            if start_barrier is not None:
                start_barrier.wait(timeout=15)
            relay.run(stop)

        thread = threading.Thread(target=loop, name="relay", daemon=True)
        thread.start()
        started.append((stop, thread, relay))
        return relay

    yield start
    for stop, _, relay in started:
        stop.set()
        relay.wake.set()
    for _, thread, _ in started:
        thread.join(timeout=15)
        assert not thread.is_alive(), "relay thread did not stop"


# --- events -------------------------------------------------------------------------------------------------------

def feedback_requested(course_id: str | None = None, **kw):
    """A small valid catalogue event (evaluation.feedback_requested v1) for test handlers."""
    return new_event("evaluation.feedback_requested", {
        "course_id": course_id or str(uuid.uuid4()), "request_count": 3,
        "deadline": utcnow() + timedelta(days=14)}, producer="evaluation", **kw)


def course_completed(course_id: str | None = None, start: date = date(2025, 11, 3), **kw):
    """A valid courses.course_completed v1 event: 2 buổi by a tier-2 lecturer, 2 trainees (1 and 2 days)."""
    course_id = course_id or str(uuid.uuid4())
    _, _, payload = make_course_completed(
        course_id=course_id, code=f"K-{course_id[:8]}", title="Bồi dưỡng kỹ năng số", start=start, days=2,
        total_sessions=2,
        sessions=[
            {"session_id": "s1", "date": start, "buoi": "morning", "lecturer_id": "L-1", "lecturer_tier": 2},
            {"session_id": "s2", "date": start + timedelta(days=1), "buoi": "morning", "lecturer_id": "L-1",
             "lecturer_tier": 2},
        ],
        participants=[
            {"civil_servant_id": "cs-1", "commune_code": "CM-TANLOC", "sessions_attended": 2, "days_attended": 2,
             "completed": True},
            {"civil_servant_id": "cs-2", "commune_code": "CM-TRIPHAI", "sessions_attended": 1, "days_attended": 1,
             "completed": False},
        ])
    return new_event("courses.course_completed", payload, producer="courses", **kw)  # **kw: envelope fields


# Sample norms in force on 2025-11-03 (services.funding SAMPLE norms): tier 2 = 2,000,000 per buổi, learner support
# 150,000 per day attended, and the class costs: materials 2 × 60,000, one certificate 25,000, opening/closing
# 1,200,000, class management 2 days × 250,000, hall 2 days × 1,200,000, water 3 person-days × 25,000.
COURSE_COMPLETED_TOTAL = (2 * 2_000_000 + 3 * 150_000
                          + 2 * 60_000 + 25_000 + 1_200_000 + 2 * 250_000 + 2 * 1_200_000 + 3 * 25_000)


def envelope_of(body: bytes | str) -> dict:
    return json.loads(body)
