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


# --- retention: a versioned rule, the workers' purge, and the database allowing no other delete ---------------

def _entries(app, *ages_days: float) -> None:
    """Access-log entries written `ages_days` ago (an INSERT is always allowed)."""
    from datetime import timedelta

    from shared.localtime import utcnow
    service = app.extensions["service"]
    table = service.outbox.table.metadata.tables["access_log"]
    now = utcnow()
    with service.engine.begin() as conn:
        conn.execute(sa.insert(table), [
            {"at": now - timedelta(days=age), "subject": f"aged-{age}", "role": "inspector",
             "operation": "GET /api/v1/civil-servants", "status": 200, "correlation_id": "-"} for age in ages_days])


def _subjects(engine) -> set[str]:
    with engine.connect() as conn:
        return {s for (s,) in conn.execute(sa.text("SELECT subject FROM access_log WHERE subject LIKE 'aged-%'"))}


def _purge_all(app, now=None) -> int:
    from shared import access_log
    from shared.db import transaction
    service = app.extensions["service"]
    metadata = service.outbox.table.metadata
    total = 0
    while True:
        with transaction(service.session_factory) as session:
            deleted = access_log.purge(session, metadata, now, batch=2)
        total += deleted
        if deleted < 2:
            return total


def test_the_retention_rule_is_versioned_with_its_legal_basis(needs, provider):
    operator, inspector = provider.auth("operator"), provider.auth("inspector")
    rule = needs.get("/api/v1/access-log/retention", headers=inspector)
    assert rule.status_code == 200, rule.get_data(as_text=True)[:300]
    sample = rule.get_json()["in_force"]
    assert sample["days"] == 730 and sample["is_sample"] is True and sample["valid_from"] == "2026-01-01"
    assert "MẪU" in sample["legal_basis"] and "91/2025/QH15" in sample["legal_basis"]
    assert "356/2025/NĐ-CP" in sample["legal_basis"]
    assert needs.get("/api/v1/access-log/retention", headers=provider.auth("training-officer")).status_code == 403

    body = {"days": 365, "valid_from": "2026-06-01", "legal_basis": "Quyết định của đơn vị (ví dụ kiểm thử)"}
    added = needs.post("/admin/access-log/retention", json=body, headers=operator)
    assert added.status_code == 201, added.get_data(as_text=True)[:300]
    assert added.get_json()["is_sample"] is False
    versions = needs.get("/admin/access-log/retention", headers=operator).get_json()["versions"]
    assert [(v["days"], v["valid_from"], v["valid_to"]) for v in versions] == [
        (365, "2026-06-01", None), (730, "2026-01-01", "2026-05-31")]  # the sample ends the day before
    clash = needs.post("/admin/access-log/retention", json={**body, "valid_from": "2026-03-01"}, headers=operator)
    assert clash.status_code == 409 and clash.get_json()["errors"]["json"]["valid_from"]
    for bad, field in (({**body, "days": 0}, "days"), ({**body, "days": "x"}, "days"),
                       ({**body, "valid_to": "2026-01-01"}, "valid_to"), ({"days": 30}, "valid_from")):
        resp = needs.post("/admin/access-log/retention", json=bad, headers=operator)
        assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"], (bad, resp.get_json())
    assert needs.post("/admin/access-log/retention", json=body, headers=inspector).status_code == 403


def test_the_purge_deletes_only_entries_older_than_the_period_in_force(needs, provider):
    from shared import access_log
    from shared.localtime import local_today
    app = needs.application
    engine = app.extensions["service"].engine
    _entries(app, 900, 800, 731, 400, 100, 1)
    assert _purge_all(app) == 3  # the sample's 730 days (and the hour's margin): 900, 800, 731 go
    assert _subjects(engine) == {"aged-400", "aged-100", "aged-1"}

    assert needs.post("/admin/access-log/retention", headers=provider.auth("operator"), json={
        "days": 90, "valid_from": str(local_today()),
        "legal_basis": "Quyết định của đơn vị (ví dụ kiểm thử)"}).status_code == 201
    service = app.extensions["service"]
    tick = access_log.purge_tick(service.outbox.table.metadata)  # the worker's round
    assert tick(service.session_factory, None) == 2 and tick(service.session_factory, None) == 0
    assert _subjects(engine) == {"aged-1"}
    assert needs.get("/api/v1/access-log", headers=provider.auth("inspector")).status_code == 200


def test_the_database_refuses_any_other_delete_and_every_update(needs, provider):
    from shared import rules
    from shared.access_log import retention_model
    from shared.db import transaction
    from shared.localtime import local_today
    app = needs.application
    service = app.extensions["service"]
    engine = service.engine
    _entries(app, 800, 10)
    table = sa.table("access_log", sa.column("subject"), sa.column("role"))
    for statement in (sa.delete(table).where(table.c.subject == "aged-10"), sa.delete(table),
                      sa.update(table).values(role="x").where(table.c.subject == "aged-800")):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with engine.begin() as conn:
                conn.execute(statement)
    assert _subjects(engine) == {"aged-800", "aged-10"}

    # with no version in force, nothing is purged and the database refuses even the oldest entry's delete
    model = retention_model(service.outbox.table.metadata)
    with transaction(service.session_factory) as session:
        current = rules.in_force(session, model, local_today())
        rules.end_version(session, model, current, current.valid_from)
    assert _purge_all(app) == 0
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.delete(table).where(table.c.subject == "aged-800"))
    assert _subjects(engine) == {"aged-800", "aged-10"}
