"""A database outage answers 503 naming the dependency, in the one JSON error shape (issue 10, fault 5).

No mocks: each service's real app is built on a database that cannot be reached — a PostgreSQL URL on a port
nobody listens on, and a SQLite file in a folder that does not exist — and is asked to write and to show
/admin/outbox. Nothing of the exception text reaches the answer or the log (a driver's message can quote values).
"""
from __future__ import annotations

import importlib
import logging
import socket

import pytest

from services import get_settings
from tests.unit.apps import ADMIN_AUTH, ADMIN_TOKEN, API_AUTH, API_TOKEN

WRITES = {
    "needs": ("/api/v1/civil-servants", {
        "code": "T-OUTAGE-1", "full_name": "Nguyễn Thị Lan", "gender": "female", "birth_year": 1988,
        "ethnicity": "Khmer", "unit_code": "TB-X-TANLOCBAC", "position_code": "VHXH", "llct_level": "so_cap",
        "qlnn_level": "chuyen_vien", "degree_level": "bachelor", "employed_from": "2015-03-01"}),
    "courses": ("/api/v1/lecturers", {"name": "TS. Trần Văn Minh", "tier": 2, "degree": "doctor",
                                      "pedagogy_certificate": True, "years_experience": 9}),
    "evaluation": ("/api/v1/unit-indicators", {"items": [{"commune_code": "CM-TANLOC",
                                                          "indicator_code": "citizen_satisfaction",
                                                          "period": "2026-01", "value": 80}]}),
    "funding": ("/api/v1/rules/cost-norms", {"item": "travel", "unit": "per_km", "province_code": "CM", "amount": 2000,
                                       "legal_basis": "NQ 01/2026", "valid_from": "2026-01-01"}),
}
SECRETS = ("Nguyễn Thị Lan", "Trần Văn Minh", "1988", "T-OUTAGE-1", "postgres@", "Connection refused",
           "unable to open", API_TOKEN, ADMIN_TOKEN)


def _closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["postgresql", "sqlite"])
def unreachable_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        return f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/outage?connect_timeout=3"
    return f"sqlite:///{tmp_path / 'no-such-folder' / 'outage.db'}"


def _client(service: str, url: str):
    settings = get_settings(service, database_url=url, api_token=API_TOKEN, admin_token=ADMIN_TOKEN)
    app = importlib.import_module(f"services.{service}.app").create_app(settings)
    return app


def _assert_503(resp, logs: str) -> None:
    body = resp.get_json()
    assert resp.status_code == 503, body
    assert body["code"] == 503 and body["status"] == "Service Unavailable" and body["dependency"] == "database"
    assert body["errors"] == {"dependencies": {"database": ["unavailable"]}}
    assert body["message"] and resp.headers["Retry-After"]
    text = resp.get_data(as_text=True)
    for secret in SECRETS:
        assert secret not in text, secret
        assert secret not in logs, secret


@pytest.mark.parametrize("service", sorted(WRITES))
def test_a_write_and_admin_outbox_answer_503_naming_the_database_when_it_is_unreachable(
        service, unreachable_url, caplog, capfd):
    app = _client(service, unreachable_url)
    try:
        client = app.test_client()
        url, body = WRITES[service]
        with caplog.at_level(logging.INFO):
            write = client.post(url, json=body, headers=API_AUTH)
            outbox = client.get("/admin/outbox", headers=ADMIN_AUTH)
        logs = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records) + capfd.readouterr().err
        _assert_503(write, logs)
        _assert_503(outbox, logs)
        assert "dependency unavailable" in logs and "OperationalError" in logs  # the type is logged, not the text
    finally:
        app.extensions["service"].engine.dispose()


def test_readiness_still_reports_the_database_down_as_503(unreachable_url):
    app = _client("needs", unreachable_url)
    try:
        resp = app.test_client().get("/health/ready")
        assert resp.status_code == 503 and resp.get_json()["checks"]["database"].startswith("error")
    finally:
        app.extensions["service"].engine.dispose()


@pytest.mark.parametrize("path", ["/admin/queues", "/admin/dead-letters"])
def test_admin_broker_endpoints_answer_503_naming_the_broker_when_it_is_unreachable(tmp_path, path):
    settings = get_settings("needs", database_url=f"sqlite:///{tmp_path / 'needs.db'}",
                             amqp_url=f"amqp://guest:guest@127.0.0.1:{_closed_port()}//",
                             api_token=API_TOKEN, admin_token=ADMIN_TOKEN)
    app = importlib.import_module("services.needs.app").create_app(settings)
    try:
        resp = app.test_client().get(path, headers=ADMIN_AUTH)
        body = resp.get_json()
        assert resp.status_code == 503 and body["dependency"] == "broker", body
        assert body["errors"] == {"dependencies": {"broker": ["unavailable"]}}
    finally:
        app.extensions["service"].engine.dispose()
