"""An operator uses the console in real headless Chromium (as the feedback form's test does): logs in, replays a
group of dead letters (the page reloads itself while the worker's loop carries the replay out), edits and retries
one message, follows a correlation id. The real funding app runs on a
local server thread (werkzeug) over a migrated database and the real broker."""
from __future__ import annotations

import json
import logging
import os
import shutil
import threading

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from services.funding.app import create_app
from services.funding.handlers import HANDLERS
from services.funding.models import CONSOLE_TABLES, OUTBOX
from tests.integration.conftest import RETRY_DELAYS_MS, declare_topology
from tests.integration.test_console import REASON_A, REASON_B, depth_becomes, main_queue_ids, park

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (make tools installs it)"),
]


@pytest.fixture
def server(bus, service_db):
    """The funding app on a free local port, its settings and database."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    db = service_db("funding")
    settings = bus.settings("funding", database_url=db.url, retry_delays_ms=RETRY_DELAYS_MS)
    declare_topology(settings, HANDLERS)
    app = create_app(settings)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{srv.server_port}"
    # funding answers for itself; needs is configured where nothing listens: the page says so and goes on
    app.config["CONSOLE_PEERS"] = {"needs": "http://127.0.0.1:1", "funding": base}
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield base, settings, db, app
    srv.shutdown()
    thread.join(10)
    app.extensions["service"].engine.dispose()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _wait_for(browser, condition):
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(browser, 15).until(condition)


def _replay_loop(settings, db):
    """The worker's console-replays loop (shared.worker's polling loop, settled at once) in a thread; returns stop."""
    from shared.console_replay import replay_tick
    from shared.worker import _poll
    stop, wake = threading.Event(), threading.Event()
    tick = replay_tick(settings, CONSOLE_TABLES[0].metadata, settle_seconds=0)
    thread = threading.Thread(target=_poll, args=("console-replays", tick, 0.2, db.session_factory, stop, wake),
                              daemon=True)
    thread.start()

    def halt():
        stop.set()
        thread.join(15)
    return halt


def _login(browser, base, settings, actor):
    from selenium.webdriver.common.by import By
    browser.get(f"{base}/admin/console/")
    assert "/admin/console/login" in browser.current_url
    browser.find_element(By.ID, "actor").send_keys(actor)
    browser.find_element(By.ID, "token").send_keys(settings.admin_token)
    browser.find_element(By.ID, "login").click()
    _wait_for(browser, lambda b: b.current_url.rstrip("/").endswith("/admin/console"))
    assert browser.find_elements(By.TAG_NAME, "script") == []


def test_an_operator_replays_a_group_and_edits_one_message_in_chromium(server, browser, broker):
    from selenium.webdriver.common.by import By

    base, settings, db, app = server
    group = {park(broker, settings, REASON_A)[0] for _ in range(3)}
    edited, body = park(broker, settings, REASON_B)
    _login(browser, base, settings, "Võ Thị Em")

    rows = browser.find_elements(By.CSS_SELECTOR, "tr.group")
    assert [r.find_element(By.CSS_SELECTOR, "td.count").text for r in rows] == ["3", "1"]
    first = rows[0]
    assert REASON_A in first.text
    first.find_element(By.CSS_SELECTOR, "input.note").send_keys("định mức đã nạp lại")
    first.find_element(By.CSS_SELECTOR, "button.replay").click()
    _wait_for(browser, lambda b: "/admin/console/operations/" in b.current_url)
    # the request only recorded the operation: the page says it runs and reloads itself (no JavaScript)
    assert browser.find_element(By.ID, "status").get_attribute("data-status") == "running"
    assert browser.find_element(By.ID, "progress").text == "0/3"
    assert browser.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')
    assert "Võ Thị Em" in browser.find_element(By.ID, "actor-cell").text
    worker = _replay_loop(settings, db)  # the service's worker picks the operation up
    try:
        _wait_for(browser, lambda b: b.find_element(By.ID, "status").get_attribute("data-status") == "done")
    finally:
        worker()
    assert browser.find_element(By.ID, "progress").text == "3/3"
    assert "Đã xong" in browser.find_element(By.ID, "status").text
    assert not browser.find_elements(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')
    assert sorted(main_queue_ids(broker, settings)) == sorted(group)
    depth_becomes(broker, settings.dead_letter_queue, 1)

    browser.get(f"{base}/admin/console/")
    [row] = browser.find_elements(By.CSS_SELECTOR, "tr.group")
    row.find_element(By.TAG_NAME, "summary").click()  # <details>: the group's messages
    row.find_element(By.CSS_SELECTOR, "a.edit-link").click()
    _wait_for(browser, lambda b: b.find_elements(By.ID, "payload"))
    payload = json.loads(browser.find_element(By.ID, "payload").get_attribute("value"))
    assert payload == json.loads(body)["payload"]
    area = browser.find_element(By.ID, "payload")
    area.clear()
    area.send_keys(json.dumps({**payload, "title": "Khóa học đã sửa"}, ensure_ascii=False))
    browser.find_element(By.ID, "note").send_keys("tên khóa bị gõ sai")
    browser.find_element(By.ID, "send").click()
    _wait_for(browser, lambda b: b.find_elements(By.ID, "original-id"))
    assert "Đã xong" in browser.find_element(By.ID, "status").text
    assert browser.find_element(By.ID, "original-id").text == edited
    new_id = browser.find_element(By.ID, "new-id").text
    [(_, props, sent)] = broker.take(settings.queue, 1)
    assert props.message_id == new_id != edited and json.loads(sent)["payload"]["title"] == "Khóa học đã sửa"
    depth_becomes(broker, settings.dead_letter_queue, 0)
    operations, _ = CONSOLE_TABLES
    with db.session_factory() as session:
        kept = session.execute(sa.select(operations.c.kind, operations.c.actor, operations.c.note)
                               .order_by(operations.c.created_at)).all()
    assert [tuple(k) for k in kept] == [("replay", "Võ Thị Em", "định mức đã nạp lại"),
                                        ("edit", "Võ Thị Em", "tên khóa bị gõ sai")]


@pytest.fixture
def evaluation_server(bus, service_db, server):
    """An evaluation app on its own port, made funding's console peer (asked over HTTP)."""
    from services.evaluation.app import create_app as create_evaluation
    db = service_db("evaluation")
    settings = bus.settings("evaluation", database_url=db.url, retry_delays_ms=RETRY_DELAYS_MS)
    app = create_evaluation(settings)
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    server[3].config["CONSOLE_PEERS"]["evaluation"] = f"http://127.0.0.1:{srv.server_port}"
    yield settings, db
    srv.shutdown()
    thread.join(10)
    app.extensions["service"].engine.dispose()


def test_an_operator_follows_a_correlation_id_in_chromium(server, evaluation_server, browser, broker):
    from selenium.webdriver.common.by import By

    from services.evaluation.models import OUTBOX as EVALUATION_OUTBOX
    from services.funding.models import INBOX_TABLE
    from shared.db import utcnow
    from tests.events import make_feedback_requested

    base, settings, db, app = server
    _, evaluation_db = evaluation_server
    parked_id, body = park(broker, settings, REASON_A)
    cid = json.loads(body)["correlation_id"]
    from shared.events import Envelope
    from datetime import datetime, timezone
    cause = Envelope(id="c-1", type="courses.course_completed", version=1, occurred_at=datetime.now(timezone.utc),
                     producer="courses", correlation_id=cid, causation_id=None, payload={})
    from tests.events import make_course_settled
    payload = make_course_settled()[2]
    with db.session_factory() as session, session.begin():
        published = OUTBOX.emit(session, "funding.course_settled", payload, cause=cause)
    with evaluation_db.session_factory() as session, session.begin():  # evaluation published one with that id …
        asked = EVALUATION_OUTBOX.emit(session, "evaluation.feedback_requested", make_feedback_requested()[2],
                                       cause=cause)
    with db.session_factory() as session, session.begin():  # … which funding's consumer has applied
        session.execute(sa.insert(INBOX_TABLE).values(consumer="funding", message_id=asked.id,
                                                      event_type=asked.type, occurred_at=asked.occurred_at,
                                                      received_at=utcnow()))
    _login(browser, base, settings, "Đỗ Văn Giang")
    browser.get(f"{base}/admin/console/trace")
    browser.find_element(By.ID, "correlation_id").send_keys(cid)
    browser.find_element(By.ID, "follow").click()
    _wait_for(browser, lambda b: b.find_elements(By.ID, "trace-funding"))
    section = browser.find_element(By.ID, "trace-funding").find_element(By.XPATH, "following-sibling::table[1]")
    assert published.id in section.find_element(By.CSS_SELECTOR, "tr.published").text
    assert parked_id in section.find_element(By.CSS_SELECTOR, "tr.parked").text
    assert asked.id in section.find_element(By.CSS_SELECTOR, "tr.received").text
    over_http = browser.find_element(By.ID, "trace-evaluation").find_element(By.XPATH, "following-sibling::table[1]")
    assert asked.id in over_http.find_element(By.CSS_SELECTOR, "tr.published").text
    assert "needs: không trả lời" in browser.find_element(By.TAG_NAME, "body").text
