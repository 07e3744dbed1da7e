"""The inbox consumer against the real broker and a real database (SQLite and PostgreSQL).

Test handlers write one row per applied event into an `effects` table, so "applied exactly once" is counted
in the database, never inferred.
"""
from __future__ import annotations

import json
import threading
import uuid
from collections import Counter

import pytest
import sqlalchemy as sa

from services.funding import usecases as funding_usecases
from services.funding.handlers import HANDLERS as FUNDING_HANDLERS
from services.funding.models import INBOX_TABLE as FUNDING_INBOX
from services.funding.models import OUTBOX as FUNDING_OUTBOX
from services.funding.models import OUTBOX_TABLE as FUNDING_OUTBOX_TABLE
from services.funding.models import Settlement
from shared.db import transaction, utcnow
from shared.errors import PermanentError
from shared.events import new_event
from shared.outbox import Outbox
from tests.helpers import wait_until
from tests.integration.conftest import (
    COURSE_COMPLETED_TOTAL, RETRY_DELAYS_MS, course_completed, declare_topology, envelope_of, feedback_requested,
)

EVENT = "evaluation.feedback_requested"  # the event the test consumer subscribes to
FOLLOW_UP = "funding.course_settled"


def consumer_settings(bus, db, **overrides):
    return bus.settings("courses", **{"database_url": db.url, "retry_delays_ms": RETRY_DELAYS_MS, **overrides})


def write_effect(db):
    """A handler that records the event in the effects table."""
    effects = db.tables["effects"]

    def handle(env, session):
        session.execute(sa.insert(effects).values(message_id=env.id, event_type=env.type,
                                                  course_id=env.payload["course_id"]))
    return handle


def effects_of(db, message_id: str) -> int:
    t = db.tables["effects"]
    return db.count(t, t.c.message_id == message_id)


def parked(broker, settings, count: int) -> dict[str, tuple]:
    """Take `count` messages from the dead-letter queue; return them by message id (props, body)."""
    return {props.message_id: (props, body) for _, props, body in
            broker.take(settings.dead_letter_queue, count, timeout=15)}


def assert_queues_drained(broker, settings) -> None:
    assert broker.depth(settings.queue) == 0
    for tier in range(1, len(settings.retry_delays_ms) + 1):
        assert broker.depth(settings.retry_queue(tier)) == 0


# --- exactly once ---------------------------------------------------------------------------------------------

def test_applies_an_event_once_when_the_same_message_is_published_five_times(bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)
    handlers = {EVENT: write_effect(test_db)}
    declare_topology(settings, handlers)
    env, body = feedback_requested()
    broker.publish_event(env, body, copies=2)  # waiting in the queue: both copies arrive in the first batch

    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], handlers)
    wait_until(lambda: consumer.processed == 2, timeout=15, what="the first two copies processed")
    for n in range(3, 6):
        broker.publish_event(env, body)
        wait_until(lambda: consumer.processed == n, timeout=15, what=f"copy {n} processed")

    assert any(Counter(mid for mid, _ in batch)[env.id] == 2 for batch in consumer.batches), consumer.batches
    assert len(consumer.deliveries_of(env.id)) == 5
    assert effects_of(test_db, env.id) == 1
    inbox = test_db.tables["inbox"]
    assert test_db.rows(sa.select(inbox.c.consumer, inbox.c.message_id, inbox.c.event_type)) == [
        ("courses", env.id, EVENT)]
    assert_queues_drained(broker, settings)
    assert broker.depth(settings.dead_letter_queue) == 0


# --- follow-up events -----------------------------------------------------------------------------------------

def emitting_handler(db, fail_for: set[str] = frozenset()):
    """Write the effect and emit a follow-up event; raise afterwards for courses in `fail_for`."""
    outbox = Outbox("courses", db.tables["outbox"])
    record = write_effect(db)

    def handle(env, session):
        record(env, session)
        outbox.emit(session, FOLLOW_UP, {
            "course_id": env.payload["course_id"], "settlement_id": str(uuid.uuid4()), "lecturer_fees": 1,
            "learner_support": 2, "total_amount": 3, "settled_at": utcnow()}, cause=env)
        if env.payload["course_id"] in fail_for:
            raise PermanentError("refused after emitting")
    return handle


def test_follow_up_events_emitted_by_a_handler_are_committed_with_its_inbox_row(bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)
    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"],
                            {EVENT: emitting_handler(test_db)})
    env, body = feedback_requested()
    broker.publish_event(env, body)
    wait_until(lambda: consumer.processed == 1, timeout=15, what="the event processed")

    outbox = test_db.tables["outbox"]
    [row] = test_db.rows(sa.select(outbox))
    assert row.event_type == FOLLOW_UP and row.routing_key == FOLLOW_UP and row.published_at is None
    assert row.correlation_id == env.correlation_id
    wire = envelope_of(row.body)
    assert wire["causation_id"] == env.id and wire["correlation_id"] == env.correlation_id
    assert wire["payload"]["course_id"] == env.payload["course_id"]
    assert effects_of(test_db, env.id) == 1
    assert test_db.count(test_db.tables["inbox"]) == 1


def test_a_handler_that_raises_after_emitting_leaves_no_outbox_row(bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)
    bad_course = str(uuid.uuid4())
    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"],
                            {EVENT: emitting_handler(test_db, fail_for={bad_course})})
    bad, bad_body = feedback_requested(bad_course)
    good, good_body = feedback_requested()
    broker.publish_event(bad, bad_body)
    broker.publish_event(good, good_body)

    [(props, _)] = parked(broker, settings, 1).values()
    wait_until(lambda: consumer.processed == 2, timeout=15, what="both events processed")
    assert props.message_id == bad.id
    assert "refused after emitting" in props.headers["x-dead-letter-reason"]
    outbox = test_db.tables["outbox"]
    assert [envelope_of(b)["causation_id"] for (b,) in test_db.rows(sa.select(outbox.c.body))] == [good.id]
    assert effects_of(test_db, bad.id) == 0
    inbox = test_db.tables["inbox"]
    assert [m for (m,) in test_db.rows(sa.select(inbox.c.message_id))] == [good.id]


# --- bad messages ---------------------------------------------------------------------------------------------

def test_parks_contract_violations_at_once_with_the_reason_and_never_retries(bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)
    calls = []
    record = write_effect(test_db)
    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"],
                            {EVENT: lambda env, s: (calls.append(env.id), record(env, s))})

    env, body = feedback_requested()
    unknown_version = json.loads(body)
    unknown_version.update(id=str(uuid.uuid4()), version=99)
    unhandled, unhandled_body = new_event("funding.course_settled", {
        "course_id": "c-1", "settlement_id": "s-1", "lecturer_fees": 1, "learner_support": 2, "total_amount": 3,
        "settled_at": utcnow()}, producer="funding")
    cases = {  # message id → (body, expected reason)
        "undecodable": (b"\xff\xfe\x00garbage", "undecodable body"),
        "not-an-object": (b"[1, 2, 3]", "envelope is not a JSON object"),
        "not-an-envelope": (b'{"hello": "world"}', "envelope or payload invalid"),
        unknown_version["id"]: (json.dumps(unknown_version), f"unknown event {EVENT} v99"),
    }
    for message_id, (raw, _) in cases.items():
        broker.publish(raw, routing_key=EVENT, message_id=message_id)
    # The queue is not bound to an event it has no handler for: a misrouted one arrives straight in the queue.
    broker.publish_to_queue(settings.queue, unhandled_body, unhandled.id)
    cases[unhandled.id] = (unhandled_body, "no handler for funding.course_settled")
    broker.publish_event(env, body)  # a good one among them

    dead = parked(broker, settings, len(cases))
    assert set(dead) == set(cases)
    for message_id, (raw, reason) in cases.items():
        props, dead_body = dead[message_id]
        assert reason in props.headers["x-dead-letter-reason"], (message_id, props.headers)
        assert "x-retry-count" not in props.headers
        assert props.headers["x-dead-lettered-by"] == "courses"
        assert dead_body == (raw.encode() if isinstance(raw, str) else raw)
        assert consumer.deliveries_of(message_id) == [0], "a contract violation must not be retried"
    wait_until(lambda: effects_of(test_db, env.id) == 1, timeout=10, what="the good event applied")
    assert calls == [env.id]
    assert test_db.count(test_db.tables["inbox"]) == 1
    assert_queues_drained(broker, settings)
    assert broker.depth(settings.dead_letter_queue) == 0


# --- transient failures ---------------------------------------------------------------------------------------

def test_a_handler_failing_on_the_first_delivery_is_applied_once_through_the_retry_queue(
        bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)
    record = write_effect(test_db)
    holder = {}

    def flaky(env, session):
        # Fails for the whole first delivery (the batch attempt and the one-message replay), then succeeds.
        if len(holder["consumer"].deliveries_of(env.id)) < 2:
            raise ConnectionError("database briefly away")
        record(env, session)

    holder["consumer"] = consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"],
                                                 {EVENT: flaky})
    env, body = feedback_requested()
    broker.publish_event(env, body)

    wait_until(lambda: effects_of(test_db, env.id) == 1, timeout=15, what="the event applied after a retry")
    wait_until(lambda: consumer.processed == 2, timeout=10, what="the retried delivery acked")
    assert consumer.deliveries_of(env.id) == [0, 1]
    assert effects_of(test_db, env.id) == 1
    assert test_db.count(test_db.tables["inbox"]) == 1
    assert_queues_drained(broker, settings)
    assert broker.depth(settings.dead_letter_queue) == 0


def test_a_handler_failing_once_is_applied_once_by_the_one_message_replay(bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)
    record = write_effect(test_db)
    calls = Counter()

    def fails_first_call(env, session):
        calls[env.id] += 1
        if calls[env.id] == 1:
            raise ConnectionError("deadlock detected")
        record(env, session)

    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], {EVENT: fails_first_call})
    env, body = feedback_requested()
    broker.publish_event(env, body)
    wait_until(lambda: consumer.processed == 1, timeout=15, what="the event processed")
    assert effects_of(test_db, env.id) == 1
    assert calls[env.id] == 2 and consumer.deliveries_of(env.id) == [0]
    assert broker.depth(settings.dead_letter_queue) == 0


def test_a_database_outage_is_neither_retried_nor_parked_and_the_event_applies_once_when_it_is_back(
        bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)
    record = write_effect(test_db)
    calls = Counter()

    def database_away(env, session):
        calls[env.id] += 1
        if calls[env.id] <= 3:  # the connection error of a database that is down or restarting
            raise sa.exc.OperationalError("INSERT …", {}, Exception("server closed the connection unexpectedly"))
        record(env, session)

    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], {EVENT: database_away})
    env, body = feedback_requested()
    broker.publish_event(env, body)
    wait_until(lambda: effects_of(test_db, env.id) == 1, timeout=30, what="the event applied once the db is back")
    assert calls[env.id] == 4
    # redelivered by the broker after each reconnect — never sent to a delay queue, never parked
    assert set(consumer.deliveries_of(env.id)) == {0}  # every delivery had retry count 0
    assert broker.depth(settings.dead_letter_queue) == 0
    assert all(broker.depth(settings.retry_queue(i + 1)) == 0 for i in range(len(RETRY_DELAYS_MS)))


def test_a_handler_that_always_raises_ends_in_the_dead_letter_queue_after_every_retry(
        bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)

    def always(env, session):
        raise RuntimeError("norm table unreadable")

    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], {EVENT: always})
    env, body = feedback_requested()
    broker.publish_event(env, body)

    [(props, dead_body)] = parked(broker, settings, 1).values()
    assert props.message_id == env.id and dead_body == body.encode()
    assert props.headers["x-retry-count"] == len(RETRY_DELAYS_MS)
    reason = props.headers["x-dead-letter-reason"]
    assert f"gave up after {len(RETRY_DELAYS_MS)} retries" in reason and "norm table unreadable" in reason
    assert consumer.deliveries_of(env.id) == [0, 1, 2]
    assert test_db.count(test_db.tables["inbox"]) == 0
    assert test_db.count(test_db.tables["effects"]) == 0
    assert_queues_drained(broker, settings)


def test_a_message_parked_after_retries_keeps_its_original_routing_key(bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db, retry_delays_ms=(50,))

    def always(env, session):
        raise RuntimeError("still failing")

    run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], {EVENT: always})
    env, body = feedback_requested()
    broker.publish_event(env, body)
    [(props, _)] = parked(broker, settings, 1).values()
    # After a delay queue, the delivery's routing key is the queue name; operators need the event's own key.
    assert props.headers["x-original-routing-key"] == EVENT


def test_a_poison_message_does_not_hold_back_the_good_messages_of_its_batch(bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)
    record = write_effect(test_db)
    poison_course = str(uuid.uuid4())

    def handler(env, session):
        record(env, session)  # written, then rolled back for the poison message
        if env.payload["course_id"] == poison_course:
            raise RuntimeError("poison")

    handlers = {EVENT: handler}
    declare_topology(settings, handlers)
    goods = [feedback_requested() for _ in range(3)]
    poison, poison_body = feedback_requested(poison_course)
    broker.publish_event(*goods[0])
    broker.publish_event(poison, poison_body)
    broker.publish(b"not json", routing_key=EVENT, message_id="garbage")
    broker.publish_event(*goods[1])
    broker.publish_event(*goods[2])

    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], handlers)
    wait_until(lambda: all(effects_of(test_db, g.id) == 1 for g, _ in goods), timeout=15,
               what="every good message applied")
    first = [mid for mid, _ in consumer.batches[0]]
    assert first == [goods[0][0].id, poison.id, "garbage", goods[1][0].id, goods[2][0].id]
    for g, _ in goods:
        assert consumer.deliveries_of(g.id) == [0], "a good message was delivered again"
    dead = parked(broker, settings, 2)
    assert set(dead) == {poison.id, "garbage"}
    assert effects_of(test_db, poison.id) == 0
    assert test_db.count(test_db.tables["inbox"]) == 3


# --- stopping -------------------------------------------------------------------------------------------------

def test_stop_lets_run_return_after_finishing_the_batch_in_hand(bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)
    record = write_effect(test_db)
    entered, release = threading.Event(), threading.Event()

    def slow(env, session):
        entered.set()
        release.wait(timeout=15)
        record(env, session)

    handlers = {EVENT: slow}
    declare_topology(settings, handlers)
    events = [feedback_requested() for _ in range(3)]
    for env, body in events:
        broker.publish_event(env, body)
    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], handlers)

    assert entered.wait(timeout=15), "the handler never ran"
    consumer.stop.set()
    release.set()
    consumer.thread.join(timeout=15)
    assert not consumer.thread.is_alive(), "run() did not return after stop"

    assert len(consumer.batches) == 1 and len(consumer.batches[0]) == 3
    assert all(effects_of(test_db, env.id) == 1 for env, _ in events)
    assert consumer.processed == 3
    assert broker.depth(settings.queue) == 0, "the finished batch was not acked before stopping"
    assert broker.consumers(settings.queue) == 0


# --- a real service -------------------------------------------------------------------------------------------

def test_funding_settles_a_completed_course_exactly_once_and_publishes_course_settled(
        bus, broker, service_db, run_consumer, run_relay):
    db = service_db("funding")
    settings = bus.settings("funding", database_url=db.url, retry_delays_ms=RETRY_DELAYS_MS,
                            relay_poll_seconds=0.05)
    with transaction(db.session_factory) as s:
        funding_usecases.seed_samples(s, 2025, "CM-THOIBINH", ["CM-TANLOC", "CM-TRIPHAI"])
    settled = broker.capture(FOLLOW_UP)
    relay = run_relay(settings, db.session_factory, FUNDING_OUTBOX)
    consumer = run_consumer(settings, db.session_factory, FUNDING_INBOX, FUNDING_HANDLERS,
                            on_commit=relay.wake.set)

    env, body = course_completed()
    broker.publish_event(env, body, copies=3)
    # The same course completed again under another event id: the unique course_id is the second guard.
    again, again_body = course_completed(env.payload["course_id"])
    broker.publish_event(again, again_body)
    wait_until(lambda: consumer.processed == 4, timeout=20, what="all four deliveries processed")

    [settlement] = db.rows(sa.select(Settlement))
    settlement = settlement[0]
    assert settlement.course_id == env.payload["course_id"] and settlement.source_event_id == env.id
    assert settlement.total == COURSE_COMPLETED_TOTAL
    assert db.count(FUNDING_INBOX) == 2
    rows = db.rows(sa.select(FUNDING_OUTBOX_TABLE))
    assert [r.event_type for r in rows] == [FOLLOW_UP]
    wire = envelope_of(rows[0].body)
    assert wire["causation_id"] == env.id and wire["correlation_id"] == env.correlation_id
    assert wire["payload"]["settlement_id"] == settlement.id
    assert wire["payload"]["total_amount"] == COURSE_COMPLETED_TOTAL

    [(method, props, published)] = broker.take(settled, 1)
    assert props.message_id == wire["id"] and method.routing_key == FOLLOW_UP
    assert envelope_of(published) == wire
    wait_until(lambda: db.count(FUNDING_OUTBOX_TABLE, FUNDING_OUTBOX_TABLE.c.published_at.is_(None)) == 0,
               timeout=10, what="course_settled marked published")
    assert broker.depth(settings.dead_letter_queue) == 0


# --- the relay dies after the broker confirmed, before the rows were marked sent ----------------------------------

class _DiesAfterConfirm(Outbox):
    """The relay process is killed between the broker's confirms and the commit that marks the rows sent."""

    def mark_published(self, session, seqs):
        raise SystemExit("relay killed after confirm")


def test_events_republished_after_a_relay_died_between_confirm_and_mark_sent_are_applied_once(
        bus, broker, service_db, test_db, make_relay, run_consumer):
    producer = service_db("funding")
    relay_settings = bus.settings("funding", database_url=producer.url)
    consumer = run_consumer(consumer_settings(bus, test_db), test_db.session_factory, test_db.tables["inbox"],
                            {FOLLOW_UP: write_effect(test_db)})
    with transaction(producer.session_factory) as s:
        envs = [FUNDING_OUTBOX.emit(s, FOLLOW_UP, {
            "course_id": str(uuid.uuid4()), "settlement_id": str(uuid.uuid4()), "lecturer_fees": 1, "learner_support": 2,
            "total_amount": 3, "settled_at": utcnow()}) for _ in range(5)]

    dying = make_relay(relay_settings, producer.session_factory, _DiesAfterConfirm("funding", FUNDING_OUTBOX_TABLE))
    with pytest.raises(SystemExit):
        dying.run_once()  # published and confirmed, but the marking transaction never commits
    pending = sa.select(sa.func.count()).select_from(FUNDING_OUTBOX_TABLE).where(
        FUNDING_OUTBOX_TABLE.c.published_at.is_(None))
    assert producer.scalar(pending) == 5

    relay = make_relay(relay_settings, producer.session_factory, FUNDING_OUTBOX)  # the restarted relay
    assert relay.run_once() == 5
    assert producer.scalar(pending) == 0
    wait_until(lambda: consumer.processed == 10, timeout=15, what="both copies of each event delivered")
    assert [effects_of(test_db, e.id) for e in envs] == [1] * 5
    assert test_db.count(test_db.tables["inbox"]) == 5
