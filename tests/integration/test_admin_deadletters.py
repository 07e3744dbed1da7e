"""Operator endpoints of a real service app (funding) through Flask's test client, on the real broker and database."""
from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from services.funding.app import create_app
from services.funding.handlers import HANDLERS
from services.funding.models import INBOX_TABLE, OUTBOX, OUTBOX_TABLE, Settlement
from shared.bus.relay import OutboxRelay
from tests.helpers import wait_until
from tests.integration.conftest import RETRY_DELAYS_MS, course_completed

EVENT = "courses.course_completed"
COMMUNES = ["CM-TANLOC", "CM-TRIPHAI"]


class Funding:
    """A funding app on a migrated database, its settings and an admin-authenticated client."""

    def __init__(self, bus, db):
        self.db = db
        self.settings = bus.settings("funding", database_url=db.url, retry_delays_ms=RETRY_DELAYS_MS)
        self.app = create_app(self.settings)
        self.client = self.app.test_client()
        self.auth = {"Authorization": f"Bearer {self.settings.admin_token}"}

    def get(self, path, **kw):
        return self.client.get(path, headers=kw.pop("headers", self.auth), **kw)

    def post(self, path, body=None, **kw):
        return self.client.post(path, json=body, headers=kw.pop("headers", self.auth), **kw)

    def parked(self, **query) -> dict:
        res = self.get("/admin/dead-letters", query_string=query)
        assert res.status_code == 200, res.get_data(as_text=True)
        return res.get_json()

    def settled_courses(self) -> set[str]:
        return {c for (c,) in self.db.rows(sa.select(Settlement.course_id))}


@pytest.fixture
def funding(bus, service_db):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # create_app() installs JSON logging on the root logger
    f = Funding(bus, service_db("funding"))
    yield f
    f.app.extensions["service"].engine.dispose()
    root.handlers[:] = handlers
    root.setLevel(level)


def unknown_version_event():
    """A course_completed envelope with a version the catalogue does not know: parked at once."""
    env, body = course_completed()
    raw = json.loads(body)
    raw["version"] = 7
    return env, json.dumps(raw)


def test_lists_parked_messages_without_consuming_them_then_purges_one_and_all(funding, broker, run_consumer):
    s = funding.settings
    run_consumer(s, funding.db.session_factory, INBOX_TABLE, HANDLERS)
    events = [unknown_version_event() for _ in range(3)]
    for env, body in events:
        broker.publish_event(env, body)
    ids = {env.id for env, _ in events}
    wait_until(lambda: broker.depth(s.dead_letter_queue) == 3, timeout=15, what="three messages parked")

    first = funding.parked()
    assert first["count"] == 3
    assert {i["message_id"] for i in first["items"]} == ids
    for item in first["items"]:
        assert item["event_type"] == EVENT
        assert f"unknown event {EVENT} v7" in item["reason"]
        assert item["original_routing_key"] == EVENT
    assert funding.parked()["count"] == 3, "listing consumed parked messages"
    assert funding.parked(limit=2)["count"] == 2
    wait_until(lambda: broker.depth(s.dead_letter_queue) == 3, timeout=5, what="the listed messages back in the DLQ")

    one = events[0][0].id
    res = funding.post("/admin/dead-letters/purge", {"message_id": one})
    assert res.status_code == 200 and res.get_json() == {"purged": 1}
    wait_until(lambda: broker.depth(s.dead_letter_queue) == 2, timeout=5, what="one message purged")
    assert {i["message_id"] for i in funding.parked()["items"]} == ids - {one}

    res = funding.post("/admin/dead-letters/purge", {"all": True})
    assert res.status_code == 200 and res.get_json() == {"purged": 2}
    assert broker.depth(s.dead_letter_queue) == 0
    assert funding.parked()["count"] == 0
    assert funding.post("/admin/dead-letters/purge", {}).status_code == 422


def test_replays_one_parked_message_by_id_then_all_the_rest(funding, broker, run_consumer):
    s = funding.settings
    # No cost norms loaded yet: settling fails (transiently) until an operator loads them, then replays.
    consumer = run_consumer(s, funding.db.session_factory, INBOX_TABLE, HANDLERS)
    events = [course_completed() for _ in range(3)]
    for env, body in events:
        broker.publish_event(env, body)
    wait_until(lambda: broker.depth(s.dead_letter_queue) == 3, timeout=20, what="three settlements parked")
    listed = funding.parked()
    assert {i["message_id"] for i in listed["items"]} == {env.id for env, _ in events}
    for item in listed["items"]:
        assert item["retries"] == len(RETRY_DELAYS_MS)
        assert "NormNotFound" in item["reason"] and f"gave up after {len(RETRY_DELAYS_MS)} retries" in item["reason"]

    res = funding.post("/admin/funding/seed", {"fiscal_year": 2025, "communes": COMMUNES})
    assert res.status_code == 200, res.get_data(as_text=True)

    one = events[0][0]
    res = funding.post("/admin/dead-letters/replay", {"message_id": one.id})
    assert res.status_code == 200 and res.get_json() == {"replayed": 1}
    wait_until(lambda: funding.settled_courses() == {one.payload["course_id"]}, timeout=15,
               what="the replayed course settled")
    assert consumer.deliveries_of(one.id) == [0, 1, 2, 0], "replay goes to the main queue with fresh retries"
    wait_until(lambda: broker.depth(s.dead_letter_queue) == 2, timeout=5, what="the two others still parked")
    assert {i["message_id"] for i in funding.parked()["items"]} == {e.id for e, _ in events[1:]}

    res = funding.post("/admin/dead-letters/replay", {"message_id": "not-parked"})
    assert res.status_code == 404
    assert res.get_json()["errors"] == {"json": {"message_id": ["not parked"]}}

    res = funding.post("/admin/dead-letters/replay", {"all": True})
    assert res.status_code == 200 and res.get_json() == {"replayed": 2}
    wait_until(lambda: funding.settled_courses() == {e.payload["course_id"] for e, _ in events}, timeout=15,
               what="every course settled")
    assert broker.depth(s.dead_letter_queue) == 0
    assert funding.db.count(INBOX_TABLE) == 3
    assert funding.db.count(OUTBOX_TABLE) == 3


def test_admin_endpoints_refuse_requests_without_the_admin_token(funding):
    wrong = {"Authorization": "Bearer not-the-token"}
    api_token = {"Authorization": f"Bearer {funding.settings.api_token}"}
    for headers in ({}, wrong, api_token, {"Authorization": funding.settings.admin_token}):
        for method, path in [("get", "/admin/dead-letters"), ("post", "/admin/dead-letters/replay"),
                             ("post", "/admin/dead-letters/purge"), ("get", "/admin/outbox"),
                             ("get", "/admin/inbox"), ("get", "/admin/queues")]:
            if method == "get":
                res = funding.get(path, headers=headers)
            else:
                res = funding.post(path, {"all": True}, headers=headers)
            expected = 403 if headers is api_token else 401  # the API token is no operator's
            assert res.status_code == expected, (method, path, headers, res.status_code)
            assert res.get_json()["code"] == expected


def test_outbox_inbox_and_queue_endpoints_report_counts(funding, broker, run_consumer):
    s = funding.settings
    assert funding.post("/admin/funding/seed", {"fiscal_year": 2025, "communes": COMMUNES}).status_code == 200
    consumer = run_consumer(s, funding.db.session_factory, INBOX_TABLE, HANDLERS)
    events = [course_completed() for _ in range(2)]
    for env, body in events:
        broker.publish_event(env, body, copies=2)
    wait_until(lambda: consumer.processed == 4, timeout=15, what="four deliveries processed")

    inbox = funding.get("/admin/inbox").get_json()
    assert inbox["total"] == 2
    assert inbox["by_type"][EVENT]["count"] == 2 and inbox["by_type"][EVENT]["last_received_at"]
    outbox = funding.get("/admin/outbox").get_json()
    assert (outbox["pending"], outbox["published"], outbox["failing"]) == (2, 0, 0)
    assert outbox["oldest_pending_age_seconds"] >= 0 and outbox["recent_errors"] == []

    captured = broker.capture("funding.course_settled")
    relay = OutboxRelay(s, funding.db.session_factory, OUTBOX)
    try:
        assert relay.run_once() == 2
    finally:
        relay.close()
    assert len(broker.take(captured, 2)) == 2
    outbox = funding.get("/admin/outbox").get_json()
    assert (outbox["pending"], outbox["published"], outbox["oldest_pending_age_seconds"]) == (0, 2, None)

    queues = funding.get("/admin/queues")
    assert queues.status_code == 200, queues.get_data(as_text=True)
    depths = queues.get_json()
    assert depths[s.queue] == {"messages": 0, "consumers": 1}
    assert depths[s.dead_letter_queue]["messages"] == 0


def test_ready_probe_reports_database_and_broker_ok(funding):
    res = funding.client.get("/health/ready")
    assert res.status_code == 200
    assert res.get_json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
    assert funding.client.get("/health/live").get_json() == {"status": "ok"}


# --- a cluster: the endpoints try every node ------------------------------------------------------------------

def test_dead_letter_endpoints_fail_over_when_the_first_node_is_down_or_frozen(bus, broker):
    from shared.bus import deadletters
    from shared.bus.publisher import connect
    from shared.bus.topology import declare
    from tests.integration.frozen_broker import FreezableBroker, pin_order
    real = bus.settings("funding").amqp_url
    frozen = FreezableBroker()
    try:
        frozen.freeze()
        for first in ("amqp://guest:guest@127.0.0.1:1//", frozen.url):  # refused, then accepted but silent
            settings = bus.settings("funding", amqp_url=pin_order(f"{first};{real}"))
            conn = connect(settings)
            try:
                declare(settings, conn.channel(), HANDLERS)
            finally:
                conn.release()
            env, body = unknown_version_event()
            broker.publish_to_queue(settings.dead_letter_queue, body, env.id)
            depths = deadletters.queue_depths(settings)
            assert depths[settings.dead_letter_queue]["messages"] == 1
            [item] = deadletters.list_parked(settings)
            assert item["message_id"] == env.id
            assert deadletters.purge(settings) == 1
    finally:
        frozen.close()
