"""The outbox relay against the real broker and a migrated service database (SQLite and PostgreSQL)."""
from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import datetime

import pytest
import sqlalchemy as sa

from services.funding.models import OUTBOX, OUTBOX_TABLE
from shared.db import transaction, utcnow
from shared.logs import reset_correlation_id, set_correlation_id
from tests.helpers import wait_until
from tests.integration.conftest import envelope_of

SETTLED = "funding.course_settled"
UNBOUND = "evaluation.feedback_requested"  # a catalogue event no test queue is bound to, unless a test binds it


def settled_payload(**overrides) -> dict:
    return {"course_id": str(uuid.uuid4()), "settlement_id": str(uuid.uuid4()), "lecturer_fees": 4_000_000,
            "learner_support": 450_000, "total_amount": 4_450_000, "settled_at": utcnow(), **overrides}


def feedback_payload() -> dict:
    return {"course_id": str(uuid.uuid4()), "request_count": 2, "deadline": utcnow()}


def outbox_row(db, message_id: str):
    return db.rows(sa.select(OUTBOX_TABLE).where(OUTBOX_TABLE.c.message_id == message_id))[0]


def test_relay_publishes_committed_rows_with_the_wire_contract_and_marks_them_published(
        bus, broker, service_db, make_relay):
    db = service_db("funding")
    settings = bus.settings("funding", database_url=db.url)
    queue = broker.capture(SETTLED)
    token = set_correlation_id("corr-wire-contract")
    try:
        with transaction(db.session_factory) as s:
            envs = [OUTBOX.emit(s, SETTLED, settled_payload(total_amount=i)) for i in range(3)]
    finally:
        reset_correlation_id(token)

    relay = make_relay(settings, db.session_factory, OUTBOX)
    assert relay.run_once() == 3

    received = {props.message_id: (method, props, body) for method, props, body in broker.take(queue, 3)}
    assert set(received) == {e.id for e in envs}
    for env in envs:
        method, props, body = received[env.id]
        row = outbox_row(db, env.id)
        assert method.exchange == settings.exchange
        assert method.routing_key == SETTLED == env.type
        assert props.message_id == env.id
        assert props.correlation_id == "corr-wire-contract" == env.correlation_id
        assert props.content_type == "application/json"
        assert props.delivery_mode == 2
        assert body.decode("utf-8") == row.body
        wire = envelope_of(body)
        assert set(wire) == {"id", "type", "version", "occurred_at", "producer", "correlation_id", "causation_id",
                             "payload"}
        assert wire["id"] == env.id and wire["type"] == SETTLED and wire["version"] == 1
        assert wire["producer"] == "funding" and wire["causation_id"] is None
        assert wire["correlation_id"] == "corr-wire-contract"
        assert datetime.fromisoformat(wire["occurred_at"]) == env.occurred_at
        assert wire["payload"] == env.payload
        assert row.published_at is not None and row.attempts == 0 and row.last_error is None

    assert relay.run_once() == 0, "published rows must not be published again"
    assert broker.depth(queue) == 0


def test_relay_publishes_nothing_from_a_rolled_back_transaction(bus, broker, service_db, make_relay):
    db = service_db("funding")
    settings = bus.settings("funding", database_url=db.url)
    queue = broker.capture(SETTLED)
    with pytest.raises(RuntimeError, match="use case failed"):
        with transaction(db.session_factory) as s:
            OUTBOX.emit(s, SETTLED, settled_payload())
            raise RuntimeError("use case failed")
    assert db.count(OUTBOX_TABLE) == 0
    with transaction(db.session_factory) as s:
        marker = OUTBOX.emit(s, SETTLED, settled_payload())

    relay = make_relay(settings, db.session_factory, OUTBOX)
    assert relay.run_once() == 1

    [(_, props, _)] = broker.take(queue, 1)
    assert props.message_id == marker.id
    assert broker.depth(queue) == 0


def test_relay_keeps_an_unroutable_event_pending_until_a_queue_is_bound_and_retry_now(
        bus, broker, service_db, make_relay):
    db = service_db("funding")
    settings = bus.settings("funding", database_url=db.url)
    queue = broker.capture(SETTLED)  # the exchange exists, but nothing is bound to UNBOUND
    with transaction(db.session_factory) as s:
        env = OUTBOX.emit(s, UNBOUND, feedback_payload())
    relay = make_relay(settings, db.session_factory, OUTBOX)

    before = utcnow()
    assert relay.run_once() == 0
    row = outbox_row(db, env.id)
    assert row.published_at is None
    assert row.attempts == 1
    assert "return" in row.last_error.lower(), row.last_error
    assert "NO_ROUTE" in row.last_error or "312" in row.last_error, row.last_error
    assert row.next_attempt_at > before
    assert relay.run_once() == 0, "a backed-off row is not due yet"
    assert outbox_row(db, env.id).attempts == 1

    broker.bind(queue, UNBOUND)
    with transaction(db.session_factory) as s:
        assert OUTBOX.retry_now(s) == 1
    assert relay.run_once() == 1

    [(method, props, _)] = broker.take(queue, 1)
    assert props.message_id == env.id and method.routing_key == UNBOUND
    row = outbox_row(db, env.id)
    assert row.published_at is not None and row.last_error is None


def test_relay_marks_routable_events_published_when_one_event_of_the_batch_is_unroutable(
        bus, broker, service_db, make_relay):
    db = service_db("funding")
    settings = bus.settings("funding", database_url=db.url)
    queue = broker.capture(SETTLED)
    with transaction(db.session_factory) as s:
        first = OUTBOX.emit(s, SETTLED, settled_payload())
        lost = OUTBOX.emit(s, UNBOUND, feedback_payload())
        last = OUTBOX.emit(s, SETTLED, settled_payload())
    relay = make_relay(settings, db.session_factory, OUTBOX)

    assert relay.run_once() == 2
    assert outbox_row(db, first.id).published_at is not None
    assert outbox_row(db, last.id).published_at is not None
    assert outbox_row(db, lost.id).published_at is None and outbox_row(db, lost.id).attempts == 1

    broker.bind(queue, UNBOUND)
    with transaction(db.session_factory) as s:
        OUTBOX.retry_now(s)
    assert relay.run_once() == 1

    ids = Counter(props.message_id for _, props, _ in broker.take(queue, 3))
    assert broker.depth(queue) == 0, "a routable event of the batch was published twice"
    assert ids == Counter({first.id: 1, lost.id: 1, last.id: 1})


def test_relay_loop_publishes_rows_committed_while_it_runs(bus, broker, service_db, run_relay):
    db = service_db("funding")
    settings = bus.settings("funding", database_url=db.url, relay_poll_seconds=0.05)
    queue = broker.capture(SETTLED)
    relay = run_relay(settings, db.session_factory, OUTBOX)
    emitted = []
    for _ in range(3):
        with transaction(db.session_factory) as s:
            emitted.append(OUTBOX.emit(s, SETTLED, settled_payload()).id)
        relay.wake.set()
    got = [props.message_id for _, props, _ in broker.take(queue, 3)]
    assert sorted(got) == sorted(emitted)
    wait_until(lambda: db.count(OUTBOX_TABLE, OUTBOX_TABLE.c.published_at.is_(None)) == 0, timeout=10,
               what="every row marked published")


def test_the_relay_claims_again_at_once_only_after_a_full_batch(bus, broker, service_db, run_relay):
    """issue 16: after a batch smaller than RELAY_BATCH_SIZE the relay waits for the next wake-up instead of claiming
    again at once (that claim found nothing: one transaction more per activation); after a full batch it goes on."""
    db = service_db("funding")
    postgres = not db.url.startswith("sqlite")
    settings = bus.settings("funding", database_url=db.url, relay_batch_size=2, relay_poll_seconds=30)
    queue = broker.capture(SETTLED)
    relay = run_relay(settings, db.session_factory, OUTBOX)
    wait_until(lambda: relay.rounds >= 1, timeout=10, what="the relay's first round")
    time.sleep(0.3)  # the listener's wake-up on connecting, taken

    def emit(n: int) -> int:
        before = relay.rounds
        with transaction(db.session_factory) as s:
            for _ in range(n):
                OUTBOX.emit(s, SETTLED, settled_payload())  # on PostgreSQL its NOTIFY wakes the relay
        if not postgres:
            relay.wake.set()  # SQLite has no NOTIFY: the writer's wake-up, by hand
        broker.take(queue, n)
        wait_until(lambda: db.count(OUTBOX_TABLE, OUTBOX_TABLE.c.published_at.is_(None)) == 0, timeout=10,
                   what="every row marked published")
        time.sleep(0.3)  # room for a round too many
        return relay.rounds - before

    assert emit(1) == 1  # one row, one round: no claim that finds nothing
    assert emit(3) == 2  # a full batch of 2, then at once the 1 left
    assert relay.published == 4


def test_two_concurrent_relays_publish_each_of_500_rows_exactly_once(bus, broker, service_db, run_relay):
    db = service_db("funding")
    # Small batches so that both relays claim rows while the other holds its own locked batch.
    settings = bus.settings("funding", database_url=db.url, relay_batch_size=20, relay_poll_seconds=0.05)
    queue = broker.capture(SETTLED)
    emitted = []
    for _ in range(5):
        with transaction(db.session_factory) as s:
            emitted += [OUTBOX.emit(s, SETTLED, settled_payload()).id for _ in range(100)]

    barrier = threading.Barrier(2)
    relays = [run_relay(settings, db.session_factory, OUTBOX, start_barrier=barrier) for _ in range(2)]
    wait_until(lambda: db.count(OUTBOX_TABLE, OUTBOX_TABLE.c.published_at.is_(None)) == 0, timeout=60,
               what="all 500 rows marked published")

    # Every publish was confirmed before its row was marked, so every copy is in the queue by now.
    received = Counter(props.message_id for _, props, _ in broker.take(queue, 500, timeout=30))
    assert broker.depth(queue) == 0, "some rows were published more than once"
    assert set(received) == set(emitted)
    assert set(received.values()) == {1}
    assert sum(r.published for r in relays) == 500
    if db.url.startswith("postgresql"):
        # SKIP LOCKED lets both work at once; on SQLite BEGIN IMMEDIATE serialises them (one may get all).
        assert all(r.published > 0 for r in relays), [r.published for r in relays]


def test_an_unreachable_broker_leaves_rows_due_and_untouched_so_they_go_out_as_soon_as_it_is_back(
        bus, broker, service_db, make_relay):
    from shared.bus.relay import BrokerUnavailable

    db = service_db("funding")
    queue = broker.capture(SETTLED)
    with transaction(db.session_factory) as s:
        env = OUTBOX.emit(s, SETTLED, settled_payload())
    away = make_relay(bus.settings("funding", database_url=db.url, amqp_url="amqp://guest:guest@127.0.0.1:1//"),
                      db.session_factory, OUTBOX)
    with pytest.raises(BrokerUnavailable):
        away.run_once()
    row = outbox_row(db, env.id)
    assert (row.published_at, row.attempts, row.next_attempt_at) == (None, 0, None)  # not the row's fault

    back = make_relay(bus.settings("funding", database_url=db.url), db.session_factory, OUTBOX)
    assert back.run_once() == 1  # due at once: no per-row back-off accumulated during the outage
    assert [props.message_id for _, props, _ in broker.take(queue, 1)] == [env.id]


# --- a frozen broker node (SIGSTOP, not dead): every wait is bounded, and the relay moves to the next URL ---------

@pytest.fixture
def frozen_node():
    from tests.integration.frozen_broker import FreezableBroker
    proxy = FreezableBroker()
    yield proxy
    proxy.close()


def _returns_within(seconds: float, func) -> float:
    """Run `func` in a thread; fail unless it returns within `seconds`; return how long it took."""
    import time
    done, errors = threading.Event(), []

    def run():
        try:
            func()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    started = time.monotonic()
    threading.Thread(target=run, daemon=True).start()
    assert done.wait(seconds), f"still waiting after {seconds}s (a frozen node's close-ok never comes)"
    assert not errors, errors
    return time.monotonic() - started


def test_closing_a_publisher_whose_node_froze_returns_within_a_bound(bus, frozen_node):
    from shared.bus.publisher import LazyPublisher, Outgoing, PublishError
    settings = bus.settings("funding", amqp_url=frozen_node.url, confirm_timeout=1.0)
    publisher = LazyPublisher(settings)
    publisher.get()  # connected and in confirm mode through the node
    frozen_node.freeze()
    with pytest.raises(PublishError, match="confirm timeout"):
        publisher.get().publish_one(Outgoing("m-1", "nowhere", b"{}", exchange=""))
    took = _returns_within(10, publisher.close)
    assert took < 6


def test_the_relay_fails_over_from_a_frozen_node_to_the_next_url(bus, broker, service_db, make_relay, frozen_node):
    from shared.bus.relay import BrokerUnavailable
    from tests.integration.frozen_broker import pin_order
    db = service_db("funding")
    url = pin_order(f"{frozen_node.url};{bus.settings('funding').amqp_url}")
    settings = bus.settings("funding", database_url=db.url, amqp_url=url, confirm_timeout=1.0)
    queue = broker.capture(SETTLED)
    relay = make_relay(settings, db.session_factory, OUTBOX)
    with transaction(db.session_factory) as s:
        OUTBOX.emit(s, SETTLED, settled_payload())
    assert relay.run_once() == 1  # through the first node
    frozen_node.freeze()
    with transaction(db.session_factory) as s:
        envs = [OUTBOX.emit(s, SETTLED, settled_payload()) for _ in range(3)]

    def fail_then_publish():
        with pytest.raises(BrokerUnavailable):
            relay.run_once()  # no confirm from the frozen node; the connection is abandoned within a bound
        assert relay.run_once() == 3  # the frozen node's handshake times out; the next URL takes the rows
    took = _returns_within(30, fail_then_publish)
    got = {props.message_id for _, props, _ in broker.take(queue, 4)}
    assert {e.id for e in envs} <= got
    print(f"relay failed over from a frozen node in {took:.1f}s")


def test_failover_order_is_a_stable_per_process_permutation_of_the_cluster_urls():
    from shared.bus.publisher import failover_order
    urls = [f"amqp://u:p@10.0.0.{i}:5672//" for i in range(1, 6)]
    joined = ";".join(urls)
    first = failover_order(joined)
    assert sorted(first.split(";")) == sorted(urls) and failover_order(joined) == first
    assert failover_order(urls[0]) == urls[0]


def test_a_nacked_publish_backs_off_and_the_next_attempt_uses_a_fresh_connection(bus, broker, service_db,
                                                                                  make_relay):
    """A nack (here: a queue that rejects publishes, full at length 0) leaves the row due with its error and a
    back-off, and drops the relay's connection, so the retry does not go out on the channel that was refused
    (test-cluster: a channel whose publishes a quorum queue kept refusing after a leader change)."""
    db = service_db("funding")
    settings = bus.settings("funding", database_url=db.url)
    broker.declare_exchange()
    full = f"{bus.queue_prefix}full.{uuid.uuid4().hex[:6]}"
    broker.ch.queue_declare(full, durable=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
    broker._captures.append(full)
    broker.bind(full, SETTLED)
    with transaction(db.session_factory) as s:
        env = OUTBOX.emit(s, SETTLED, settled_payload())
    relay = make_relay(settings, db.session_factory, OUTBOX)

    assert relay.run_once() == 0
    row = outbox_row(db, env.id)
    assert row.published_at is None and row.attempts == 1 and row.last_error == "nacked by broker"
    assert row.next_attempt_at is not None
    assert relay._publisher._publisher is None  # the refused channel's connection is gone

    broker.ch.queue_delete(full)
    queue = broker.capture(SETTLED)
    with transaction(db.session_factory) as s:
        assert OUTBOX.retry_now(s) == 1
    assert relay.run_once() == 1  # on a new connection
    assert [props.message_id for _, props, _ in broker.take(queue, 1)] == [env.id]
    assert outbox_row(db, env.id).published_at is not None
