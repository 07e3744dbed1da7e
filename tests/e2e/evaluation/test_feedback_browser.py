"""A trainee answers the feedback form in real headless Chromium: open the link, fill, submit, see the
confirmation; the same link refuses a second submission. The real evaluation app runs on a local server thread
(werkzeug) over a migrated SQLite file; no broker is needed (the course_completed event is handed to the handler).
"""
from __future__ import annotations

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from tests.unit.apps import API_AUTH, build_app
from tests.unit.evaluation.factories import open_course, trainee

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (make tools installs it)"),
]


@pytest.fixture
def server(tmp_path):
    """The evaluation app on a free local port; yields (base_url, test client on the same database)."""
    app = build_app("evaluation", f"sqlite:///{tmp_path / 'evaluation.db'}")
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}", app.test_client()
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


def test_a_trainee_fills_the_form_in_chromium_and_cannot_submit_twice(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    base, client = server
    course_id, reqs = open_course(client, [trainee(), trainee()])
    link = f"{base}/feedback/{reqs[0]['token']}"

    browser.get(link)
    assert "Phiếu lấy ý kiến học viên" in browser.title
    assert browser.find_elements(By.TAG_NAME, "script") == []
    groups = {e.get_attribute("name") for e in browser.find_elements(By.CSS_SELECTOR, "input[type=radio]")}
    assert {"q1", "q2", "q3", "q4", "q5", "g1_1", "g2_5"} <= groups
    for name in sorted(groups):  # 9 for the course items, 8 for the lecturers
        value = "9" if name.startswith("q") else "8"
        radio = browser.find_element(By.CSS_SELECTOR, f"input[name={name}][value='{value}']")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", radio)
        radio.click()
    browser.find_element(By.NAME, "t7").send_keys("Cần thêm bài tập thực hành")
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 15).until(EC.presence_of_element_located((By.ID, "message")))
    assert "Phiếu đã được ghi nhận" in browser.find_element(By.ID, "message").text

    browser.get(link)  # the same link again: a clear message, no form
    message = WebDriverWait(browser, 15).until(EC.presence_of_element_located((By.ID, "message"))).text
    assert "đã được gửi" in message
    assert browser.find_elements(By.TAG_NAME, "form") == []

    summary = client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()
    # one answer of two: counted, but its scores are not shown (they would be that trainee's)
    assert (summary["responses"], summary["valid_responses"], summary["index"], summary["suppressed"]) == \
        (1, 1, None, True)
    import sqlalchemy as sa
    from services.evaluation.models import FeedbackResponse
    from tests.unit.evaluation.factories import session_factory
    with session_factory(client)() as s:
        [(stored, texts)] = s.execute(sa.select(FeedbackResponse.scores, FeedbackResponse.texts)
                                      .where(FeedbackResponse.course_id == course_id)).all()
    assert set(stored.values()) == {9} and list(texts.values()) == ["Cần thêm bài tập thực hành"]
    listed = client.get(f"/api/v1/courses/{course_id}/feedback-requests", headers=API_AUTH).get_json()
    assert sum(1 for r in listed if r["submitted_at"]) == 1


def test_a_second_submission_from_a_stale_page_is_refused(server, browser):
    """Two tabs open on one link: the second submit is refused, and the first answer stays the only one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    base, client = server
    course_id, reqs = open_course(client, [trainee()])
    link = f"{base}/feedback/{reqs[0]['token']}"
    browser.get(link)
    first = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(link)
    for handle in (first, browser.current_window_handle):
        browser.switch_to.window(handle)
        for n in range(1, 6):
            radio = browser.find_element(By.CSS_SELECTOR, f"input[name=q{n}][value='7']")
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", radio)
            radio.click()
    browser.switch_to.window(first)
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 15).until(EC.presence_of_element_located((By.ID, "message")))
    assert "Phiếu đã được ghi nhận" in browser.find_element(By.ID, "message").text
    browser.switch_to.window(browser.window_handles[1])
    browser.find_element(By.ID, "submit").click()
    WebDriverWait(browser, 15).until(EC.presence_of_element_located((By.ID, "message")))
    assert "đã được gửi" in browser.find_element(By.ID, "message").text
    assert client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()["responses"] == 1
