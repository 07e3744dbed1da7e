"""Officers' delivery status and the lecturers' contact book over HTTP (issue 13), in AUTH_MODE=oidc with tokens
from the loopback provider, on SQLite and PostgreSQL: GET /api/v1/deliveries per course and per person — a
training officer and an inspector see every message, a commune officer only those to people of their units
(another commune's person: 403); addresses only masked. PUT/GET /api/v1/lecturer-contacts/<lecturer_id>: a
training officer writes, an inspector reads, every call in the access log, the contact never in a log line."""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timezone

import pytest

from shared.db import transaction
from shared.events import decode, new_event
from shared.notify import NotifyConfig
from shared.notify.email import SmtpChannel
from tests.events import make_lecturer_notice_issued
from tests.helpers import Clock
from tests.notify.servers import SmtpSink
from tests.oidc import MERGED_INTO_BIENBACH, provider, seeded_needs  # noqa: F401 - provider: a fixture

MERGED = MERGED_INTO_BIENBACH
DEADLINE = datetime(2026, 12, 20, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def needs(backend, provider):
    clock = Clock()
    clock.at = datetime(2026, 3, 2, 5, 0, tzinfo=timezone.utc)  # after the 2025 merger
    yield from seeded_needs(backend, provider, clock)


def handle(client, body: str) -> None:
    from services.needs.handlers import HANDLERS
    service = client.application.extensions["service"]
    env = decode(body)
    with transaction(service.session_factory) as s:
        HANDLERS[env.type](env, s, service.settings)


def feedback(client, cs_id: str, course_id: str) -> None:
    _, body = new_event("evaluation.trainee_feedback_requested", {
        "course_id": course_id, "course_code": "KH2026-01", "course_title": "Kỹ năng số", "civil_servant_id": cs_id,
        "link": "http://127.0.0.1:8003/feedback/TOKEN", "deadline": DEADLINE}, producer="evaluation", version=1)
    handle(client, body)


def test_lecturer_contacts_are_written_by_training_officers_read_by_inspectors_and_never_logged(needs, provider,
                                                                                                 caplog):
    caplog.set_level(logging.DEBUG)
    lid = str(uuid.uuid4())
    officer, inspector = provider.auth("training-officer"), provider.auth("inspector", subject="insp")
    url = f"/api/v1/lecturer-contacts/{lid}"
    assert needs.get(url, headers=officer).status_code == 404
    body = {"full_name": "TS. Lê Thị Hoa", "email": "Hoa.Le@Example.vn", "phone": "0912 345 678",
            "preferred_channel": "sms"}
    made = needs.put(url, json=body, headers=officer)
    assert made.status_code == 200, made.get_data(as_text=True)[:300]
    got = needs.get(url, headers=inspector).get_json()
    assert (got["lecturer_id"], got["phone"], got["preferred_channel"]) == (lid, "0912345678", "sms")
    assert "91/2025/QH15" in got["legal_basis"]
    changed = needs.put(url, json={"email": "hoa.le@example.vn"}, headers=officer).get_json()
    assert (changed["phone"], changed["preferred_channel"], changed["full_name"]) == (None, "email", None)
    bad = needs.put(url, json={"email": "not-an-address"}, headers=officer)
    assert bad.status_code == 422 and "email" in bad.get_data(as_text=True)
    assert needs.put(url, json={}, headers=officer).status_code == 422  # neither e-mail nor phone
    assert needs.put(url, json=body, headers=inspector).status_code == 403
    for role in ("commune-officer", "finance-officer", "lecturer"):
        assert needs.get(url, headers=provider.auth(role, unit_code="CM-TANLOC")).status_code == 403
    assert needs.get(url).status_code == 401
    log = needs.get("/api/v1/access-log", query_string={"subject": "insp"}, headers=inspector).get_json()
    assert sorted((e["operation"], e["status"]) for e in log) == [  # the refusal is recorded too
        ("GET /api/v1/lecturer-contacts/<lecturer_id>", 200), ("PUT /api/v1/lecturer-contacts/<lecturer_id>", 403)]
    assert {(e["record_type"], e["record_id"]) for e in log} == {("lecturer", lid)}  # whose record
    text = caplog.text.lower()
    assert "hoa.le@example.vn" not in text and "0912345678" not in text and "lê thị hoa" not in text


def test_officers_see_delivery_status_of_their_units_with_masked_addresses(needs, provider):
    people = needs.get("/api/v1/civil-servants?page_size=200", headers=provider.auth("training-officer")).get_json()
    inside = next(p for p in people["items"] if p["unit_code"] == "TB-X-TANBANG")
    outside = next(p for p in people["items"] if p["unit_code"] not in MERGED)
    officer = provider.auth("training-officer")
    for person, contact in ((inside, {"email": "hv.trong@example.vn"}),
                            (outside, {"phone": "0987654321", "preferred_channel": "sms"})):
        assert needs.patch(f"/api/v1/civil-servants/{person['id']}", json={"contact": contact},
                           headers=officer).status_code == 200
    course_id = str(uuid.uuid4())
    for person in (inside, outside):
        feedback(needs, person["id"], course_id)
    _, body, notice = make_lecturer_notice_issued(course_id=course_id)
    assert needs.put(f"/api/v1/lecturer-contacts/{notice['lecturer_id']}", json={"email": "gv@example.vn"},
                     headers=officer).status_code == 200
    handle(needs, body)
    with SmtpSink() as sink:
        from services.needs import usecases
        sf = needs.application.extensions["service"].session_factory
        usecases.send_due(sf, {"email": SmtpChannel(NotifyConfig(smtp_host="127.0.0.1", smtp_port=sink.port,
                                                                 attempts=1))})
        assert len(sink.messages) == 2  # the e-mails; the SMS channel is not configured here: skipped

    whole = needs.get("/api/v1/deliveries", query_string={"course_id": course_id}, headers=officer)
    assert whole.status_code == 200, whole.get_data(as_text=True)[:300]
    status = whole.get_json()
    assert (status["counts"]["sent"], status["counts"]["skipped"], status["total"]) == (2, 1, 3)
    by = {r["recipient_id"]: r for r in status["items"]}
    assert by[inside["id"]]["address"] == "h***@e***.vn" and by[notice["lecturer_id"]]["recipient_kind"] == "lecturer"
    assert by[outside["id"]]["address"] == "098****321"
    raw = json.dumps(status)
    assert "hv.trong" not in raw and "0987654321" not in raw and "gv@example.vn" not in raw
    inspector = needs.get("/api/v1/deliveries", query_string={"course_id": course_id, "status": "sent"},
                          headers=provider.auth("inspector")).get_json()
    assert inspector["total"] == 2 and {r["status"] for r in inspector["items"]} == {"sent"}

    commune = provider.auth("commune-officer", unit_code="CM-BIENBACH")
    mine = needs.get("/api/v1/deliveries", query_string={"course_id": course_id}, headers=commune).get_json()
    assert [r["recipient_id"] for r in mine["items"]] == [inside["id"]] and mine["total"] == 1
    assert mine["counts"]["sent"] == 1 and mine["counts"]["skipped"] == 0
    person = needs.get("/api/v1/deliveries", query_string={"recipient_id": inside["id"]}, headers=commune)
    assert person.status_code == 200 and [r["purpose"] for r in person.get_json()["items"]] == ["feedback_request"]
    refused = needs.get("/api/v1/deliveries", query_string={"recipient_id": outside["id"]}, headers=commune)
    assert refused.status_code == 403 and "recipient_id" in refused.get_data(as_text=True)
    assert needs.get("/api/v1/deliveries", query_string={"recipient_id": notice["lecturer_id"]},
                     headers=commune).status_code == 404  # a lecturer is no person of a commune
    lecturer = needs.get("/api/v1/deliveries", query_string={"recipient_id": notice["lecturer_id"]},
                         headers=officer).get_json()
    assert [(r["purpose"], r["status"], r["address"]) for r in lecturer["items"]] == [
        ("lecturer_notice", "sent", "g***@e***.vn")]
    assert needs.get("/api/v1/deliveries", headers=officer).status_code == 422  # neither a course nor a person
    for role in ("finance-officer", "lecturer", "operator"):
        assert needs.get("/api/v1/deliveries", query_string={"course_id": course_id},
                         headers=provider.auth(role)).status_code == 403
