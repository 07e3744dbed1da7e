"""The access log (issue 14, shared/access_log.py): who read or wrote whose record, the operation, when, the
correlation id; refused attempts too; append-only in the database; listed by the inspector only. needs in
AUTH_MODE=oidc with tokens from the loopback provider (tests/oidc.py), on both backends."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.oidc import oidc_app, provider  # noqa: F401 - a fixture


@pytest.fixture
def needs(backend, provider):
    app = oidc_app("needs", backend.migrated("needs"), provider, migrate=False)
    client = app.test_client()
    assert client.post("/admin/needs/seed", json={"civil_servants": 3},
                       headers=provider.auth("operator")).status_code == 200
    yield client
    app.extensions["service"].engine.dispose()


def _log(needs, provider, **query) -> list[dict]:
    resp = needs.get("/api/v1/access-log", query_string=query, headers=provider.auth("inspector", subject="insp"))
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()


def test_reads_writes_and_refusals_are_recorded_and_the_inspector_lists_them(needs, provider):
    officer = provider.auth("training-officer", subject="officer-1")
    people = needs.get("/api/v1/civil-servants", headers=officer).get_json()["items"]
    person = people[0]["id"]
    cid = {"X-Correlation-ID": "audit-42"}
    assert needs.get(f"/api/v1/civil-servants/{person}", headers={**officer, **cid}).status_code == 200
    assert needs.patch(f"/api/v1/civil-servants/{person}", json={"hard_area": True}, headers=officer).status_code == 200
    assert needs.get(f"/api/v1/civil-servants/{person}",
                     headers=provider.auth("lecturer", subject="lect-9")).status_code == 403
    needs.get("/api/v1/units", headers=officer)  # open reference list: not recorded
    needs.get("/admin/outbox", headers=provider.auth("operator"))  # operator routes: not in this log

    about = _log(needs, provider, record_id=person)
    assert [(e["subject"], e["role"], e["operation"], e["status"]) for e in about] == [
        ("lect-9", "-", "GET /api/v1/civil-servants/<cs_id>", 403),
        ("officer-1", "training-officer", "PATCH /api/v1/civil-servants/<cs_id>", 200),
        ("officer-1", "training-officer", "GET /api/v1/civil-servants/<cs_id>", 200)]
    assert about[2]["correlation_id"] == "audit-42" and about[2]["record_type"] == "civil_servant"
    assert about[0]["at"] >= about[2]["at"]
    everything = _log(needs, provider)
    assert not any("/units" in e["operation"] or "/admin" in e["operation"] for e in everything)
    assert [e["operation"] for e in _log(needs, provider, subject="officer-1")][-1] == "GET /api/v1/civil-servants"
    assert needs.get("/api/v1/access-log", headers=officer).status_code == 403  # only the inspector
    assert _log(needs, provider, subject="insp")  # the inspector's own reading is recorded as well


def test_the_access_log_is_append_only(needs, provider):
    needs.get("/api/v1/civil-servants", headers=provider.auth("inspector"))
    engine = needs.application.extensions["service"].engine
    table = sa.table("access_log", sa.column("role"))
    for statement in (sa.update(table).values(role="x"), sa.delete(table)):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(statement)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM access_log")) >= 1
