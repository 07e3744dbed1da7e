"""The operations console page on each service's real app (SQLite, a broker that does not answer): it renders
the database half, says the broker is unreachable, and keeps its guard (login, CSRF, no script)."""
from __future__ import annotations

import importlib
import re

import pytest

from services import get_settings
from shared.migrate import upgrade
from tests.unit.apps import ADMIN_TOKEN, SERVICES

NO_BROKER = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens on port 1


@pytest.fixture(params=SERVICES)
def client(request, tmp_path):
    service = request.param
    url = f"sqlite:///{tmp_path / f'{service}.db'}"
    upgrade(service, url)
    settings = get_settings(service, database_url=url, admin_token=ADMIN_TOKEN, amqp_url=NO_BROKER)
    app = importlib.import_module(f"services.{service}.app").create_app(settings)
    yield app.test_client()
    app.extensions["service"].engine.dispose()


def test_the_page_renders_without_a_broker_behind_its_login(client):
    assert client.get("/admin/console/").status_code == 303
    login = client.get("/admin/console/login")
    assert login.status_code == 200 and "Mã quản trị" in login.get_data(as_text=True)
    assert "Content-Security-Policy" in login.headers
    res = client.post("/admin/console/login", data={"actor": "Phạm Thị Dung", "token": ADMIN_TOKEN})
    assert res.status_code == 303
    page = client.get("/admin/console/")
    text = page.get_data(as_text=True)
    assert page.status_code == 200, text
    for label in ("Hộp thư đi", "Outbox", "Hộp thư đến", "Inbox", "Hàng đợi", "Queues", "Công việc", "Jobs",
                  "Dead letters", "Phạm Thị Dung"):
        assert label in text
    assert 'id="broker-error"' in text and "<script" not in text
    csrf = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
    assert client.post("/admin/console/logout", data={"csrf": "x"}).status_code == 403
    out = client.post("/admin/console/logout", data={"csrf": csrf})
    assert out.status_code == 303 and "console_session=;" in out.headers["Set-Cookie"]


def test_an_unknown_operation_is_a_404_page(client):
    client.post("/admin/console/login", data={"actor": "An", "token": ADMIN_TOKEN})
    res = client.get("/admin/console/operations/" + "0" * 36)
    assert res.status_code == 404
    assert 'id="message"' in res.get_data(as_text=True)


def test_a_login_with_a_wrong_token_is_refused(client):
    res = client.post("/admin/console/login", data={"actor": "An", "token": ADMIN_TOKEN + "x"})
    assert res.status_code == 401 and "Set-Cookie" not in res.headers
    assert client.post("/admin/console/login", data={"actor": "", "token": ADMIN_TOKEN}).status_code == 401


def test_the_session_cookie_is_secure_behind_the_proxys_tls(client):
    plain = client.post("/admin/console/login", data={"actor": "An", "token": ADMIN_TOKEN})
    assert "Secure" not in plain.headers["Set-Cookie"]
    tls = client.post("/admin/console/login", data={"actor": "An", "token": ADMIN_TOKEN},
                      headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in tls.headers["Set-Cookie"] and "HttpOnly" in tls.headers["Set-Cookie"]


@pytest.fixture
def needs_app(tmp_path):
    url = f"sqlite:///{tmp_path / 'needs.db'}"
    upgrade("needs", url)
    settings = get_settings("needs", database_url=url, admin_token=ADMIN_TOKEN, amqp_url=NO_BROKER)
    app = importlib.import_module("services.needs.app").create_app(settings)
    yield app
    app.extensions["service"].engine.dispose()


def test_a_failed_job_and_the_failing_outbox_are_retried_from_the_page(needs_app):
    from datetime import timedelta

    import sqlalchemy as sa

    from services.needs.models import JOBS_TABLE, OUTBOX_TABLE
    from shared import jobs
    from shared.db import utcnow
    from tests.events import make_plan_approved

    service = needs_app.extensions["service"]
    later = utcnow() + timedelta(hours=1)
    with service.session_factory() as session, session.begin():
        jobs.enqueue(session, JOBS_TABLE, "close_campaign", {"campaign_id": "c"})
        session.execute(sa.update(JOBS_TABLE).values(status="failed", attempts=10, last_error="OperationalError"))
        service.outbox.emit(session, "needs.plan_approved", make_plan_approved()[2])
        session.execute(sa.update(OUTBOX_TABLE).values(attempts=3, next_attempt_at=later, last_error="timeout"))
    client = needs_app.test_client()
    client.post("/admin/console/login", data={"actor": "An", "token": ADMIN_TOKEN})
    text = client.get("/admin/console/").get_data(as_text=True)
    csrf = re.search(r'name="csrf" value="([^"]+)"', text).group(1)
    [job_id] = re.findall(r'action="/admin/console/jobs/([^/"]+)/retry"', text)
    assert 'class="failed-job"' in text and "OperationalError" in text and 'id="outbox-retry"' in text
    assert client.post(f"/admin/console/jobs/{job_id}/retry", data={}).status_code == 403  # no CSRF token
    assert client.post(f"/admin/console/jobs/{job_id}/retry", data={"csrf": csrf}).status_code == 303
    assert client.post("/admin/console/jobs/no-such-job/retry", data={"csrf": csrf}).status_code == 404
    assert client.post("/admin/console/outbox/retry", data={"csrf": csrf}).status_code == 303
    with service.session_factory() as session:
        assert session.scalar(sa.select(JOBS_TABLE.c.status)) == "pending"
        due = session.scalar(sa.select(OUTBOX_TABLE.c.next_attempt_at))
        assert due is None or due <= utcnow()  # was an hour ahead
