"""A commune officer writes only their own commune's L4 unit indicators (issue 14): by API, by file and deleting;
evaluation in AUTH_MODE=oidc with tokens from the loopback provider (tests/oidc.py)."""
from __future__ import annotations

import pytest

from tests.oidc import oidc_app, provider  # noqa: F401 - a fixture
from tests.unit.apps import sqlite_url


@pytest.fixture
def client(provider, tmp_path):
    app = oidc_app("evaluation", sqlite_url(tmp_path / "e.db"), provider)
    yield app.test_client()
    app.extensions["service"].engine.dispose()


def _item(commune: str, period: str = "2026-01") -> dict:
    return {"commune_code": commune, "indicator_code": "citizen_satisfaction", "period": period, "value": 90}


def test_a_commune_officer_writes_only_their_communes_indicators(client, provider):
    officer = provider.auth("commune-officer", audience="evaluation", unit_code="CM-BIENBACH")
    district = provider.auth("training-officer", audience="evaluation")
    resp = client.post("/api/v1/unit-indicators", json={"items": [_item("CM-BIENBACH"), _item("CM-TANLOC")]},
                       headers=officer)
    assert resp.status_code == 403 and "items.1.commune_code" in resp.get_json()["errors"]["json"]
    assert client.get("/api/v1/unit-indicators").get_json()["items"] == []  # nothing written
    csv = "commune_code,indicator_code,period,value\nCM-TANLOC,citizen_satisfaction,2026-02,91\n"
    resp = client.post("/api/v1/unit-indicators/import", headers=officer, content_type="multipart/form-data",
                       data={"file": (__import__("io").BytesIO(csv.encode()), "chi-so.csv")})
    assert resp.status_code == 403 and "file" in resp.get_json()["errors"]["json"]
    assert client.post("/api/v1/unit-indicators", json={"items": [_item("CM-BIENBACH")]},
                       headers=officer).get_json() == {"count": 1}
    assert client.post("/api/v1/unit-indicators", json={"items": [_item("CM-TANLOC")]},
                       headers=district).get_json() == {"count": 1}
    rows = {r["commune_code"]: r["id"] for r in client.get("/api/v1/unit-indicators").get_json()["items"]}
    assert client.delete(f"/api/v1/unit-indicators/{rows['CM-TANLOC']}", headers=officer).status_code == 403
    assert client.delete(f"/api/v1/unit-indicators/{rows['CM-BIENBACH']}", headers=officer).status_code == 204
