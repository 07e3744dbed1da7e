"""The operations console (shared/console.py, shared/console_ops.py) on a real funding app, the real broker and
database: its login and CSRF guard, dead letters grouped, edit-and-retry, one correlation id followed through the
service, and the real consumer settling what a replay brought back (the replay itself, carried out by the worker and
killed between its steps: test_console_replay.py)."""
from __future__ import annotations

import json
import logging
import re
import threading

import pytest
import sqlalchemy as sa

from services.funding.app import create_app
from services.funding.handlers import HANDLERS
from services.funding.models import CONSOLE_TABLES
from shared.console_replay import replay_tick
from shared.db import utcnow
from tests.events import make_course_completed
from tests.integration.conftest import RETRY_DELAYS_MS, declare_topology
from tests.helpers import wait_until

EVENT = "courses.course_completed"
REASON_A = "EventContractError: courses.course_completed v1 payload invalid"
REASON_B = "HandlerError: budget line missing"


class Console:
    """A funding app and a test client logged in to its console."""

    def __init__(self, bus, db, **config):
        self.settings = bus.settings("funding", database_url=db.url, retry_delays_ms=RETRY_DELAYS_MS)
        self.db = db
        self.restart(**config)

    def restart(self, **config):
        """A new app on the same database and broker: what a process restart leaves."""
        self.app = create_app(self.settings)
        self.app.config.update(config)
        self.client = self.app.test_client()

    def login(self, actor="Nguyễn Văn An"):
        res = self.client.post("/admin/console/login", data={"actor": actor, "token": self.settings.admin_token})
        assert res.status_code == 303, res.get_data(as_text=True)
        return res

    def csrf(self) -> str:
        page = self.client.get("/admin/console/").get_data(as_text=True)
        return re.search(r'name="csrf" value="([^"]+)"', page).group(1)

    def dispose(self):
        self.app.extensions["service"].engine.dispose()


@pytest.fixture
def console(bus, service_db):
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # create_app() installs JSON logging on the root logger
    c = Console(bus, service_db("funding"))
    declare_topology(c.settings, HANDLERS)
    yield c
    c.dispose()
    root.handlers[:] = handlers
    root.setLevel(level)


def park(broker, settings, reason: str, **overrides) -> tuple[str, str]:
    """Put one course_completed in the service's dead-letter queue as the consumer parks it."""
    message_id, body, _ = make_course_completed(participants=1, **overrides)
    correlation = json.loads(body)["correlation_id"]
    broker.publish_to_queue(settings.dead_letter_queue, body, message_id, correlation_id=correlation, headers={
        "x-dead-letter-reason": reason, "x-dead-lettered-at": utcnow().isoformat(),
        "x-original-routing-key": EVENT})
    return message_id, body


def depth_becomes(broker, queue: str, n: int) -> None:
    """Quorum queues count a message requeued by a closed channel a moment later: wait for the count."""
    wait_until(lambda: broker.depth(queue) == n, timeout=10, what=f"{n} messages in {queue}")


def main_queue_ids(broker, settings) -> list[str]:
    ids = []
    while (msg := broker.get(settings.queue)) is not None:
        ids.append(msg[1].message_id)
    return ids


def test_the_page_needs_a_login_and_every_form_a_csrf_token(console):
    c = console.client
    res = c.get("/admin/console/")
    assert res.status_code == 303 and res.headers["Location"].endswith("/admin/console/login")
    assert c.post("/admin/console/replay", data={"event_type": EVENT, "reason": "x"}).status_code == 403
    wrong = c.post("/admin/console/login", data={"actor": "An", "token": "not-the-token"})
    assert wrong.status_code == 401 and "không đúng" in wrong.get_data(as_text=True)
    # the bearer token of the JSON endpoints is no session for the page
    assert c.get("/admin/console/", headers={"Authorization": f"Bearer {console.settings.admin_token}"}
                 ).status_code == 303

    cookie = console.login().headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin/console" in cookie
    page = c.get("/admin/console/")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = page.get_data(as_text=True)
    assert "Hộp thư đi" in text and "Outbox" in text and "<script" not in text
    assert c.post("/admin/console/replay", data={"event_type": EVENT, "reason": "x"}).status_code == 403
    assert c.post("/admin/console/replay", data={"event_type": EVENT, "reason": "x", "csrf": "forged"}
                  ).status_code == 403
    # a cookie signed for another admin token is no session
    other = create_app(console.settings.__class__(**{**console.settings.__dict__, "admin_token": "rotated"}))
    other_client = other.test_client()
    other_client.set_cookie("console_session", cookie.split(";")[0].split("=", 1)[1], path="/admin/console")
    assert other_client.get("/admin/console/").status_code == 303
    other.extensions["service"].engine.dispose()


def test_dead_letters_are_grouped_by_type_and_reason_with_counts(console, broker):
    for _ in range(3):
        park(broker, console.settings, REASON_A)
    park(broker, console.settings, REASON_B)
    console.login()
    text = console.client.get("/admin/console/").get_data(as_text=True)
    rows = re.findall(r'<tr class="group">(.*?)</tr>', text, re.S)
    assert len(rows) == 2
    assert REASON_A in rows[0] and '<td class="n count">3</td>' in rows[0]
    assert REASON_B in rows[1] and '<td class="n count">1</td>' in rows[1]
    depth_becomes(broker, console.settings.dead_letter_queue, 4)  # looking consumed nothing


def test_edit_and_retry_sends_a_corrected_copy_and_retires_the_original(console, broker):
    s = console.settings
    original, body = park(broker, s, REASON_A)
    console.login("Lê Văn Cường")
    form = console.client.get(f"/admin/console/messages/{original}")
    assert form.status_code == 200
    payload = json.loads(body)["payload"]
    bad = {**payload}
    del bad["participants"]
    refused = console.client.post(f"/admin/console/messages/{original}", data={
        "payload": json.dumps(bad), "note": "sửa", "csrf": console.csrf()})
    assert refused.status_code == 422 and "participants" in refused.get_data(as_text=True)
    no_reason = console.client.post(f"/admin/console/messages/{original}", data={
        "payload": json.dumps(payload), "note": " ", "csrf": console.csrf()})
    assert no_reason.status_code == 422
    depth_becomes(broker, s.dead_letter_queue, 1)  # nothing sent, nothing retired

    fixed = {**payload, "title": "Khóa đã sửa tên"}
    res = console.client.post(f"/admin/console/messages/{original}", data={
        "payload": json.dumps(fixed, ensure_ascii=False), "note": "tên khóa sai", "csrf": console.csrf()})
    assert res.status_code == 303
    depth_becomes(broker, s.dead_letter_queue, 0)
    [(method, props, sent)] = broker.take(s.queue, 1)
    envelope = json.loads(sent)
    assert props.message_id == envelope["id"] != original
    assert props.headers["x-edited-from"] == original
    assert envelope["payload"]["title"] == "Khóa đã sửa tên"
    assert envelope["correlation_id"] == json.loads(body)["correlation_id"]
    page = console.client.get(res.headers["Location"]).get_data(as_text=True)
    assert original in page and envelope["id"] in page and "Lê Văn Cường" in page and "tên khóa sai" in page


def test_one_correlation_id_through_the_service(console, broker):
    s = console.settings
    parked_id, body = park(broker, s, REASON_A)
    cid = json.loads(body)["correlation_id"]
    auth = {"Authorization": f"Bearer {s.admin_token}"}
    res = console.client.get(f"/admin/correlation/{cid}", headers=auth)
    assert res.status_code == 200
    data = res.get_json()
    assert [p["message_id"] for p in data["parked"]] == [parked_id]
    assert data["published"] == [] and data["received"] == []
    assert console.client.get("/admin/correlation/bad%20id", headers=auth).status_code == 422
    assert console.client.get(f"/admin/correlation/{cid}").status_code == 401


def test_the_real_consumer_parks_and_the_console_brings_every_message_home(console, broker, run_consumer):
    """Settling fails until the cost norms are loaded: the consumer parks the courses; after the seed, the console
    replays the group and the consumer settles each once; a course whose payload is broken is edited and applied."""
    from services.funding.models import INBOX_TABLE, Settlement
    from tests.integration.conftest import course_completed

    s = console.settings
    run_consumer(s, console.db.session_factory, INBOX_TABLE, HANDLERS)
    events = [course_completed() for _ in range(3)]
    for env, body in events:
        broker.publish_event(env, body)
    broken_env, broken_body = course_completed()
    raw = json.loads(broken_body)
    raw["payload"]["total_sessions"] = 0  # below the catalogue's minimum of 1: a contract error, parked at once
    broker.publish(json.dumps(raw), routing_key=EVENT, message_id=broken_env.id,
                   correlation_id=broken_env.correlation_id)
    depth_becomes(broker, s.dead_letter_queue, 4)

    console.login("Hoàng Văn Hải")
    text = console.client.get("/admin/console/").get_data(as_text=True)
    reasons = re.findall(r"<summary>(.*?)</summary>", text)
    norm = next(r for r in reasons if "NormNotFound" in r)
    seed = console.client.post("/admin/funding/seed", json={"fiscal_year": 2025, "communes": ["CM-TANLOC",
                                                                                              "CM-TRIPHAI"]},
                               headers={"Authorization": f"Bearer {s.admin_token}"})
    assert seed.status_code == 200, seed.get_data(as_text=True)
    import html
    res = console.client.post("/admin/console/replay", data={"event_type": EVENT, "reason": html.unescape(norm),
                                                             "note": "đã nạp định mức", "csrf": console.csrf()})
    assert res.status_code == 303
    op_id = res.headers["Location"].rsplit("/", 1)[1]
    # the worker's loop round carries the replay out (shared/console_replay.py; the real worker runs it in a thread)
    tick = replay_tick(s, CONSOLE_TABLES[0].metadata, settle_seconds=0)
    stop = threading.Event()
    wait_until(lambda: tick(console.db.session_factory, stop) == 0 and console.db.scalar(
        sa.select(CONSOLE_TABLES[0].c.status).where(CONSOLE_TABLES[0].c.id == op_id)) == "done",
        timeout=20, what="the replay done")

    def settled():
        with console.db.session_factory() as session:
            return set(session.scalars(sa.select(Settlement.course_id)))
    wait_until(lambda: settled() == {e.payload["course_id"] for e, _ in events}, timeout=20, what="three settled")

    fixed = {**raw["payload"], "total_sessions": len(raw["payload"]["sessions"])}
    res = console.client.post(f"/admin/console/messages/{broken_env.id}", data={
        "payload": json.dumps(fixed, ensure_ascii=False), "note": "số buổi bị mất", "csrf": console.csrf()})
    assert res.status_code == 303
    wait_until(lambda: broken_env.payload["course_id"] in settled(), timeout=20, what="the edited course settled")
    depth_becomes(broker, s.dead_letter_queue, 0)
    with console.db.session_factory() as session:
        applied = list(session.scalars(sa.select(INBOX_TABLE.c.message_id)))
    assert len(applied) == len(set(applied)) == 4 and broken_env.id not in applied  # the copy, not the original


def test_before_any_worker_declared_the_queues_nothing_is_parked(bus, service_db):
    """A service whose dead-letter queue does not exist yet answers "nothing parked" (it answered 500)."""
    db = service_db("funding")
    settings = bus.settings("funding", database_url=db.url)  # the namespace's queues: never declared here
    app = create_app(settings)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {settings.admin_token}"}
    try:
        assert client.get("/admin/dead-letters", headers=auth).get_json() == {"count": 0, "items": []}
        assert client.post("/admin/dead-letters/replay", json={"all": True}, headers=auth).get_json() == \
            {"replayed": 0}
        assert client.post("/admin/dead-letters/replay", json={"message_id": "m"}, headers=auth).status_code == 404
        assert client.post("/admin/dead-letters/purge", json={"all": True}, headers=auth).get_json() == {"purged": 0}
        assert client.get("/admin/correlation/abc", headers=auth).get_json()["broker_error"] is None
        client.post("/admin/console/login", data={"actor": "An", "token": settings.admin_token})
        page = client.get("/admin/console/").get_data(as_text=True)
        assert 'id="no-dead-letters"' in page and 'id="broker-error"' not in page
        assert client.get("/admin/console/messages/m").status_code == 404
    finally:
        app.extensions["service"].engine.dispose()
