"""Failure tests on real processes, RabbitMQ and PostgreSQL: per course, 0 settlements lost and 0 duplicated."""
from __future__ import annotations

import random
import signal
import subprocess

import pytest
import requests
from kombu import Connection, Queue

from services.courses.models import OUTBOX as COURSES_OUTBOX
from services.funding import seed as funding_seed
from services.funding.handlers import HANDLERS as FUNDING_HANDLERS
from shared.bus import topology
from shared.db import make_engine, make_session_factory, transaction
from shared.events import new_event
from tests.e2e.conftest import count_by, declare_queue, publish, scalar
from tests.factories import make_course_completed
from tests.helpers import AMQP_URL, wait_for_consumer, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.broker, pytest.mark.postgres]
ADMIN = {"Authorization": "Bearer e2e-admin"}
API = {"Authorization": "Bearer e2e-api"}


def seed_norms(url: str) -> None:
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        funding_seed.seed_samples(session, 2026, "CM-THOIBINH", ["CM-THOIBINH"])
    engine.dispose()


def sink(bus) -> str:
    """Bind a queue to funding.course_settled, standing in for courses, and return its name."""
    name = bus.queue("sink")
    with Connection(AMQP_URL) as conn:
        Queue(name, exchange=topology.event_exchange(bus.settings("funding")), routing_key="funding.course_settled",
              durable=True, queue_arguments={"x-queue-type": "quorum"})(conn.channel()).declare()
    return name


def queue_ready(name: str) -> int:
    with Connection(AMQP_URL) as conn:
        return conn.channel().queue_declare(name, passive=True).message_count


def funding_under_test(stack_factory, pg_url_factory, bus, **env):
    """A funding database with the sample norms, its queue declared and a stand-in for courses bound."""
    url = pg_url_factory("e2e_fund")
    stack = stack_factory({"funding": url}, **env)
    stack.migrate()
    seed_norms(url)
    declare_queue(bus, "funding", FUNDING_HANDLERS)
    sink(bus)
    return stack, url


def settled_counts(url: str) -> dict[str, int]:
    return count_by(url, "SELECT course_id, count(*) FROM settlements GROUP BY course_id")


def assert_each_settled_once(url: str, course_ids: list[str]) -> None:
    """Per course: one settlement, one ledger journal, one funding.course_settled event in the outbox."""
    settlements = settled_counts(url)
    journals = count_by(url, "SELECT course_id, count(DISTINCT journal_id) FROM ledger_entries "
                             "WHERE course_id IS NOT NULL GROUP BY course_id")
    lost = [c for c in course_ids if settlements.get(c, 0) == 0]
    duplicated = [c for c in course_ids if settlements.get(c, 0) > 1 or journals.get(c, 0) > 1]
    assert (len(lost), len(duplicated)) == (0, 0), f"lost={lost[:3]} duplicated={duplicated[:3]}"
    assert set(settlements) == set(course_ids)
    assert scalar(url, "SELECT count(*) FROM outbox WHERE event_type = 'funding.course_settled'") == len(course_ids)


def test_same_event_delivered_many_times_to_two_funding_workers_settles_each_course_once(
        stack_factory, pg_url_factory, bus):
    stack, url = funding_under_test(stack_factory, pg_url_factory, bus, WORKER_PREFETCH="8", WORKER_BATCH_SIZE="4")
    events = [make_course_completed() for _ in range(40)]
    messages = [(mid, body) for _ in range(5) for mid, body, _ in events]
    # The same course again under a new message id (a producer retry): only the business guard stops it.
    for _, _, payload in events[:5]:
        env, body = new_event("courses.course_completed", payload, producer="courses")
        messages.append((env.id, body))
    random.Random(7).shuffle(messages)
    publish(bus, "courses.course_completed", messages)

    stack.start(["funding-worker"])
    stack.start(["funding-worker"], replica=2)
    queue = bus.settings("funding").queue
    wait_until(lambda: queue_ready(queue) == 0 and len(settled_counts(url)) == 40, timeout=90,
               what="both workers to drain the duplicates")
    codes = stack.stop()  # SIGTERM: each finishes its batch in hand, acks, exits 0
    assert set(codes.values()) == {0}, codes
    assert queue_ready(queue) == 0
    assert_each_settled_once(url, [p["course_id"] for _, _, p in events])
    inbox = scalar(url, "SELECT count(*) FROM inbox")
    assert inbox == 45  # 40 distinct ids + 5 re-sent under new ids; the 160 copies were dropped by the inbox


def test_funding_worker_killed_mid_stream_and_restarted_loses_and_duplicates_nothing(
        stack_factory, pg_url_factory, bus):
    stack, url = funding_under_test(stack_factory, pg_url_factory, bus, WORKER_PREFETCH="20", WORKER_BATCH_SIZE="10")
    events = [make_course_completed(participants=10) for _ in range(300)]
    publish(bus, "courses.course_completed", [(mid, body) for mid, body, _ in events])

    stack.start(["funding-worker"])
    wait_until(lambda: len(settled_counts(url)) >= 40, timeout=60, what="some settlements before the kill")
    stack.kill("funding-worker", signal.SIGKILL)  # mid-stream: unacked deliveries go back to the queue
    killed_at = len(settled_counts(url))
    assert killed_at < 300, "the kill came too late to test anything"
    stack.start(["funding-worker"])
    wait_until(lambda: len(settled_counts(url)) == 300, timeout=120, what="the restarted worker to finish")
    wait_until(lambda: scalar(url, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0, timeout=30,
               what="follow-ups to be relayed")
    stack.stop()
    assert_each_settled_once(url, [p["course_id"] for _, _, p in events])


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=120)


def test_broker_restart_while_events_wait_in_the_outbox_loses_and_duplicates_nothing(
        stack_factory, pg_url_factory, bus):
    courses_url, funding_url = pg_url_factory("e2e_crs"), pg_url_factory("e2e_fund")
    stack = stack_factory({"courses": courses_url, "funding": funding_url})
    stack.migrate()
    seed_norms(funding_url)
    declare_queue(bus, "funding", FUNDING_HANDLERS)
    sink(bus)
    stack.start(["courses-worker", "funding-worker"])
    wait_for_consumer(bus.settings("funding").queue, timeout=30)
    wait_until(lambda: queue_ready(bus.settings("funding").queue) == 0, timeout=30, what="funding worker to consume")

    _rabbitmqctl("stop_app")
    try:
        # courses' use case commits its events while the broker is away: they wait in its outbox.
        engine = make_engine(courses_url)
        payloads = []
        with transaction(make_session_factory(engine)) as session:
            for _ in range(50):
                _, _, payload = make_course_completed(participants=8)
                COURSES_OUTBOX.emit(session, "courses.course_completed", payload)
                payloads.append(payload)
        engine.dispose()
        pending = lambda: scalar(courses_url, "SELECT count(*) FROM outbox WHERE published_at IS NULL")  # noqa: E731
        assert pending() == 50
    finally:
        _rabbitmqctl("start_app")
        subprocess.run(["rabbitmqctl", "await_startup"], check=False, timeout=120, stdout=subprocess.DEVNULL)
    wait_until(lambda: pending() == 0, timeout=120, what="the courses relay to publish after the restart")
    wait_until(lambda: len(settled_counts(funding_url)) == 50, timeout=120, what="funding to settle after restart")
    stack.stop()
    assert_each_settled_once(funding_url, [p["course_id"] for p in payloads])


def test_poison_message_parks_in_dead_letter_queue_while_later_events_flow_then_replays_once(
        stack_factory, pg_url_factory, bus):
    stack, url = funding_under_test(stack_factory, pg_url_factory, bus)
    stack.start(["funding-web", "funding-worker"])
    base = stack.url("funding")
    wait_until(lambda: _ready(base), timeout=30, what="funding web")

    # Tier 9 has no cost norm: settling fails on every try, so the event goes through the delay queues to the DLQ.
    poison_id, poison_body, poison = make_course_completed(tier=9)
    publish(bus, "courses.course_completed", [("garbage-1", "this is not json"), (poison_id, poison_body)])
    later = [make_course_completed() for _ in range(20)]
    publish(bus, "courses.course_completed", [(mid, body) for mid, body, _ in later])

    wait_until(lambda: len(settled_counts(url)) == 20, timeout=60, what="later events to flow past the poison")
    parked = wait_until(lambda: (lambda r: r if r["count"] == 2 else None)(
        requests.get(f"{base}/admin/dead-letters", headers=ADMIN, timeout=10).json()), timeout=60,
        what="both poison messages to be parked")
    reasons = {item["message_id"]: item["reason"] for item in parked["items"]}
    assert "undecodable" in reasons["garbage-1"]
    assert "tier=9" in reasons[poison_id] and "gave up after 2 retries" in reasons[poison_id]
    assert requests.get(f"{base}/admin/dead-letters", timeout=10).status_code == 401

    # The operator loads the missing norm, then replays exactly that message through the admin endpoint.
    r = requests.post(f"{base}/api/v1/rules/cost-norms", headers=API, timeout=10, json={
        "item": "lecturer_fee", "unit": "per_buoi", "lecturer_tier": 9, "province_code": "CM", "amount": 300_000,
        "legal_basis": "test norm", "valid_from": "2018-01-01"})
    assert r.status_code == 201, r.text
    r = requests.post(f"{base}/admin/dead-letters/replay", headers=ADMIN, json={"message_id": poison_id}, timeout=10)
    assert r.json() == {"replayed": 1}
    wait_until(lambda: len(settled_counts(url)) == 21, timeout=60, what="the replayed event to settle")
    # The same message once more (a late duplicate) must not settle twice; a sentinel behind it in the
    # queue (one consumer, FIFO) tells us when the duplicate has been handled.
    sentinel_id, sentinel_body, sentinel = make_course_completed()
    publish(bus, "courses.course_completed", [(poison_id, poison_body), (sentinel_id, sentinel_body)])
    wait_until(lambda: len(settled_counts(url)) == 22, timeout=60, what="the sentinel to settle")
    left = requests.get(f"{base}/admin/dead-letters", headers=ADMIN, timeout=10).json()
    assert [i["message_id"] for i in left["items"]] == ["garbage-1"]
    assert requests.post(f"{base}/admin/dead-letters/purge", headers=ADMIN, json={"all": True},
                         timeout=10).json() == {"purged": 1}
    stack.stop()
    assert scalar(url, "SELECT count(*) FROM inbox") == 22  # 20 later + poison + sentinel; the copy was dropped
    assert_each_settled_once(url, [p["course_id"] for _, _, p in later] + [poison["course_id"], sentinel["course_id"]])
    settlement_total = scalar(url, f"SELECT total FROM settlements WHERE course_id = '{poison['course_id']}'")
    # 4 buổi at the tier-9 norm + support 150,000 × 2 days × 5 + sample class costs on 2026-03-02 (materials
    # 5 × 60,000, certificates 5 × 25,000, opening/closing 1,200,000, management 2 × 250,000, hall 2 × 1,200,000,
    # water 10 × 25,000)
    assert settlement_total == 4 * 300_000 + 5 * 2 * 150_000 + 4_775_000


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/health/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False
