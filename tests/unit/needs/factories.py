"""Factories for needs tests: a seeded needs app on SQLite, civil servants, outbox reading."""
from __future__ import annotations

import json
import uuid

import sqlalchemy as sa

from tests.unit.apps import ADMIN_AUTH, API_AUTH


def seeded(make_client, civil_servants: int = 0, survey_year: int | None = None):
    """A needs app seeded with units, the merger, positions, the framework and rules (and people if asked)."""
    client = make_client("needs")
    body = {"civil_servants": civil_servants}
    if survey_year:
        body["survey_year"] = survey_year
    resp = client.post("/admin/needs/seed", json=body, headers=ADMIN_AUTH)
    assert resp.status_code == 200, resp.data
    client.seed_result = resp.get_json()
    return client


def person(**overrides) -> dict:
    """A valid civil servant body (synthetic)."""
    return {"code": f"T-{uuid.uuid4().hex[:8]}", "full_name": "Nguyễn Thị Lan", "gender": "female",
            "birth_year": 1988, "ethnicity": "Khmer", "unit_code": "TB-X-TANLOCBAC", "position_code": "VHXH",
            "llct_level": "so_cap", "qlnn_level": "chuyen_vien", "degree_level": "bachelor",
            "employed_from": "2015-03-01", **overrides}


def register(client, **overrides) -> dict:
    resp = client.post("/api/v1/civil-servants", json=person(**overrides), headers=API_AUTH)
    assert resp.status_code == 201, resp.data
    return resp.get_json()


def events(client, event_type: str | None = None) -> list[dict]:
    """The payloads in the app's outbox (of one type if given), oldest first."""
    ctx = client.application.extensions["service"]
    table = ctx.outbox.table
    stmt = sa.select(table.c.event_type, table.c.body).order_by(table.c.seq)
    with ctx.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return [json.loads(body)["payload"] for etype, body in rows if event_type in (None, etype)]


def session_of(client):
    """A session on the app's database (for handler calls and direct checks)."""
    return client.application.extensions["service"].session_factory()
