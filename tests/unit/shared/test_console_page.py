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
