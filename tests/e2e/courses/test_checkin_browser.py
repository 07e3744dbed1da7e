"""A trainee checks in with their own link in real headless Chromium (a phone-sized window): open the link during
the session, tap the button, see that the presence waits for the officer; the officer confirms it and it counts.
A civil-servant code on the session's link is refused. The real courses app runs on a local server thread
(werkzeug) over a migrated SQLite file; no broker is needed (needs' events are handed to the handler)."""
from __future__ import annotations

import os
import shutil
import threading
from datetime import datetime, timedelta

import pytest
from werkzeug.serving import make_server

from tests.helpers import Clock
from tests.unit.apps import API_AUTH, build_app
from tests.unit.courses.factories import confirmed_course, ok

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (make tools installs it)"),
]


@pytest.fixture
def server(tmp_path):
    """The courses app on a free local port; yields (base_url, test client on the same database, the app's clock)."""
    clock = Clock()
    app = build_app("courses", f"sqlite:///{tmp_path / 'courses.db'}", clock=clock)
    client = app.test_client()
    ok(client.post("/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                     "note": "tests"}, headers=API_AUTH))
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", client, clock
    srv.shutdown()
    thread.join(10)
    app.extensions["service"].engine.dispose()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=412,915"):  # a phone-sized window
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_a_trainee_checks_in_with_their_own_link_in_chromium(server, browser):
    from selenium.webdriver.common.by import By

    base, client, clock = server
    course, (a, b) = confirmed_course(client, 2)
    clock.at = datetime.fromisoformat(course["sessions"][0]["starts_at"]) + timedelta(minutes=5)
    links = {r["civil_servant_id"]: r for r in ok(client.get(f"/api/v1/courses/{course['id']}/checkin-links",
                                                             headers=API_AUTH))}
    own = base + "/" + links[a]["url"].split("/", 3)[3]

    browser.get(own)
    assert browser.title == "Điểm danh" and browser.find_elements(By.TAG_NAME, "script") == []
    assert course["code"] in browser.find_element(By.TAG_NAME, "body").text
    from selenium.webdriver.support.ui import WebDriverWait
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    # the click returns before the answer page has loaded: wait for it (a bare read raced it once in CI)
    from selenium.common.exceptions import StaleElementReferenceException
    WebDriverWait(browser, 15, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: "chờ cán bộ lớp xác nhận" in d.find_element(By.TAG_NAME, "body").text)

    session = course["sessions"][0]["id"]
    listed = ok(client.get(f"/api/v1/courses/{course['id']}/sessions/{session}/self-checkins", headers=API_AUTH))
    assert [(i["civil_servant_id"], i["confirmation"]) for i in listed["items"]] == [(a, "pending")]
    ok(client.post(f"/api/v1/courses/{course['id']}/sessions/{session}/self-checkins/review",
                   json={"decision": "confirm"}, headers=API_AUTH))
    rows = {r["civil_servant_id"]: r["sessions_attended"]
            for r in ok(client.get(f"/api/v1/courses/{course['id']}/enrollments", headers=API_AUTH))}
    assert rows == {a: 1, b: 0}

    room = ok(client.get(f"/api/v1/courses/{course['id']}/sessions/{session}/checkin", headers=API_AUTH))["url"]
    browser.get(base + "/" + room.split("/", 3)[3])  # the session's link: no code field, a pointer to the own link
    assert browser.find_elements(By.NAME, "code") == [] and browser.find_elements(By.TAG_NAME, "form") == []
    assert "riêng của anh/chị" in browser.find_element(By.TAG_NAME, "body").text
