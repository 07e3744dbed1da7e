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

from services.funding import seed as funding_seed
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

    def handle(env, session, settings=None):  # also called by the other test handlers with (env, session)
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

    def handle(env, session, settings):
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
                            {EVENT: lambda env, s, _settings: (calls.append(env.id), record(env, s))})

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

    def flaky(env, session, settings):
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

    def fails_first_call(env, session, settings):
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

    def database_away(env, session, settings):
        calls[env.id] += 1
        if calls[env.id] <= 3:  # the connection error of a database that is down or restarting
            raise sa.exc.OperationalError("INSERT …", {}, Exception("server closed the connection unexpectedly"))
        record(env, session)

    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], {EVENT: database_away})
    env, body = feedback_requested()
    broker.publish_event(env, body)
    wait_until(lambda: effects_of(test_db, env.id) == 1, timeout=30, what="the event applied once the db is back")
    assert calls[env.id] == 4
    # held unacked on the same connection and retried — never redelivered, never sent to a delay queue, never parked
    assert consumer.deliveries_of(env.id) == [0]
    assert consumer.database_waits == 3
    assert broker.depth(settings.dead_letter_queue) == 0
    assert all(broker.depth(settings.retry_queue(i + 1)) == 0 for i in range(len(RETRY_DELAYS_MS)))


def test_a_handler_that_always_raises_ends_in_the_dead_letter_queue_after_every_retry(
        bus, broker, test_db, run_consumer):
    settings = consumer_settings(bus, test_db)

    def always(env, session, settings):
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

    def always(env, session, settings):
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

    def handler(env, session, settings):
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

    def slow(env, session, settings):
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
    # the connection is closed when run() returns; the broker drops its consumer a moment later (asynchronously:
    # read at once, it was still listed in about one run in seven)
    wait_until(lambda: broker.consumers(settings.queue) == 0, timeout=10, what="the consumer gone from the queue")


# --- a real service -------------------------------------------------------------------------------------------

def test_funding_settles_a_completed_course_exactly_once_and_publishes_course_settled(
        bus, broker, service_db, run_consumer, run_relay):
    db = service_db("funding")
    settings = bus.settings("funding", database_url=db.url, retry_delays_ms=RETRY_DELAYS_MS,
                            relay_poll_seconds=0.05)
    with transaction(db.session_factory) as s:
        funding_seed.seed_samples(s, 2025, "CM-THOIBINH", ["CM-TANLOC", "CM-TRIPHAI"])
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


# --- a long database outage, redeliveries, dead letters the broker made ------------------------------------------

def test_a_database_outage_longer_than_the_delivery_limit_parks_nothing_and_keeps_one_delivery(
        bus, broker, test_db, run_consumer):
    """Regression: the consumer used to reconnect after each failure; each reconnect returned the batch, and after
    20 returns the quorum queue dead-lettered healthy events."""
    from shared.bus.topology import DELIVERY_LIMIT
    settings = consumer_settings(bus, test_db)
    record = write_effect(test_db)
    failures = DELIVERY_LIMIT + 5
    calls = Counter()

    def database_away(env, session, settings):
        calls[env.id] += 1
        if calls[env.id] <= failures:
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))
        record(env, session)

    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], {EVENT: database_away},
                            database_backoff=(0.01, 0.05))
    events = [feedback_requested() for _ in range(3)]
    for env, body in events:
        broker.publish_event(env, body)
    wait_until(lambda: all(effects_of(test_db, e.id) == 1 for e, _ in events), timeout=60,
               what="every event applied once the database is back")
    wait_until(lambda: consumer.processed == 3, timeout=10, what="the batch acked")
    assert [consumer.deliveries_of(e.id) for e, _ in events] == [[0]] * 3  # one delivery each, never returned
    assert consumer.database_waits >= failures
    assert broker.depth(settings.dead_letter_queue) == 0
    assert_queues_drained(broker, settings)


def _consumer_errors(caplog) -> list:
    return [r for r in caplog.records if r.name == "shared.bus.consumer" and r.levelname == "ERROR"]


def test_a_delivery_close_to_the_delivery_limit_is_logged_as_an_error_naming_queue_and_count(
        bus, broker, test_db, run_consumer, caplog):
    from shared.bus.topology import DELIVERY_LIMIT
    settings = consumer_settings(bus, test_db)
    handlers = {EVENT: write_effect(test_db)}
    declare_topology(settings, handlers)
    env, body = feedback_requested()
    broker.publish_event(env, body)
    for _ in range(DELIVERY_LIMIT // 2):  # handed out and returned, as by a consumer that keeps crashing
        got = wait_until(lambda: (lambda m: m if m[0] is not None else None)(
            broker.ch.basic_get(settings.queue, auto_ack=False)), timeout=10, what="the message")
        broker.ch.basic_nack(got[0].delivery_tag, requeue=True)
    caplog.set_level("INFO", logger="shared.bus.consumer")
    run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], handlers)
    wait_until(lambda: effects_of(test_db, env.id) == 1, timeout=15, what="the event applied")
    [record] = [r for r in _consumer_errors(caplog) if "redelivered" in r.getMessage()]
    assert record.queue == settings.queue and record.count >= DELIVERY_LIMIT // 2
    assert record.message_id == env.id and record.delivery_limit == DELIVERY_LIMIT


def test_dead_letters_this_worker_did_not_park_are_logged_as_an_error(
        bus, broker, test_db, run_consumer, caplog):
    caplog.set_level("INFO", logger="shared.bus.consumer")
    settings = consumer_settings(bus, test_db)
    run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], {EVENT: write_effect(test_db)},
                 dead_letter_check_seconds=0.2)
    broker.publish(b"not json", routing_key=EVENT, message_id="garbage")  # parked by the worker itself: a warning
    wait_until(lambda: broker.depth(settings.dead_letter_queue) == 1, timeout=10, what="the worker's own park")
    import time
    time.sleep(0.6)  # several checks pass with only the worker's own park in the queue
    assert [r for r in _consumer_errors(caplog) if "dead-letter queue grew" in r.getMessage()] == []
    # as the broker does at the delivery limit: straight into the dead-letter queue, the worker never sees it
    env, body = feedback_requested()
    broker.publish_to_queue(settings.dead_letter_queue, body, env.id, headers={"x-death": [
        {"reason": "delivery_limit", "queue": settings.queue, "count": 1}]})
    [record] = wait_until(lambda: [r for r in _consumer_errors(caplog) if "dead-letter queue grew" in r.getMessage()],
                          timeout=10, what="an error about the dead-letter queue")
    assert record.queue == settings.queue and record.dead_letter_queue == settings.dead_letter_queue
    assert record.count == 2 and record.added == 1


def test_handler_errors_are_logged_by_kind_never_with_the_values_their_message_carries(
        bus, broker, test_db, run_consumer, caplog):
    settings = consumer_settings(bus, test_db, retry_delays_ms=(50,))
    secret = "Nguyễn Văn Bí Mật 1987"

    def leaky(env, session, settings):
        raise RuntimeError(f"cannot settle for {secret}")

    caplog.set_level("INFO")
    run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], {EVENT: leaky})
    env, body = feedback_requested()
    broker.publish_event(env, body)
    [(props, _)] = parked(broker, settings, 1).values()
    assert secret in props.headers["x-dead-letter-reason"]  # operators see it on the parked message, not in logs
    wait_until(lambda: any("parked" in r.getMessage() for r in caplog.records), timeout=10, what="the park logged")
    logged = "\n".join(f"{r.getMessage()} {r.__dict__} {r.exc_text or ''}" for r in caplog.records)
    assert "RuntimeError" in logged and env.id in logged
    assert secret not in logged


# --- a frozen broker node ------------------------------------------------------------------------------------

def test_a_consumer_whose_node_froze_stops_within_a_bound(bus, broker, test_db, run_consumer):
    """Regression: leaving `with connect(...)` waited for the frozen node's close-ok (and cancel-ok) forever."""
    from tests.integration.frozen_broker import FreezableBroker
    frozen = FreezableBroker()
    try:
        settings = consumer_settings(bus, test_db, amqp_url=frozen.url)
        consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"],
                                {EVENT: write_effect(test_db)})
        env, body = feedback_requested()
        broker.publish_event(env, body)
        wait_until(lambda: consumer.processed == 1, timeout=15, what="the event processed through the node")
        frozen.freeze()
        consumer.stop.set()
        consumer.thread.join(timeout=12)
        assert not consumer.thread.is_alive(), "the consumer hung closing its connection to the frozen node"
    finally:
        frozen.close()


# --- quorum leaders: balanced on declaration, existing queues left as they are ---------------------------------

def test_new_queues_get_the_balanced_leader_locator_and_queues_declared_before_it_still_consume(
        bus, broker, test_db, run_consumer):
    import amqp
    from kombu import Connection

    from shared.bus import topology
    settings = consumer_settings(bus, test_db)
    handlers = {EVENT: write_effect(test_db)}
    legacy = topology.without_leader_locator(topology.main_queue(settings, handlers))
    with Connection(settings.amqp_url, connect_timeout=5) as conn:
        legacy(conn.channel()).declare()  # as deployed before: no x-queue-leader-locator
    consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"], handlers)
    env, body = feedback_requested()
    broker.publish_event(env, body)
    wait_until(lambda: consumer.processed == 1, timeout=15, what="the event consumed from the legacy queue")
    assert effects_of(test_db, env.id) == 1
    # the delay and dead-letter queues were new: they carry the locator (a declaration without it is refused)
    with Connection(settings.amqp_url, connect_timeout=5) as conn:
        with pytest.raises(amqp.exceptions.PreconditionFailed, match="x-queue-leader-locator"):
            topology.without_leader_locator(topology.dead_letter_queue(settings))(conn.channel()).declare()


def test_a_consumer_whose_node_froze_fails_over_to_the_next_url(bus, broker, test_db, run_consumer):
    """Regression: a consumer on a frozen node noticed nothing for 2 × heartbeat (60 s), longer than a typical freeze."""
    from tests.helpers import AMQP_URL
    from tests.integration.frozen_broker import FreezableBroker, pin_order
    frozen = FreezableBroker()
    try:
        settings = consumer_settings(bus, test_db, amqp_url=pin_order(f"{frozen.url};{AMQP_URL}"))
        consumer = run_consumer(settings, test_db.session_factory, test_db.tables["inbox"],
                                {EVENT: write_effect(test_db)}, silence_limit_seconds=3.0)  # 30 s in production
        frozen.freeze()
        # The frozen node keeps its (stale) consumer until it is declared down; the worker has a second one, on
        # the next URL, within silence limit + bounded close + the frozen node's handshake time-out.
        wait_until(lambda: broker.consumers(settings.queue) >= 2, timeout=25,
                   what="the consumer attached again through the next URL")
        assert consumer.thread.is_alive()
    finally:
        frozen.close()
