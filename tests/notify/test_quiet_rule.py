"""Quiet hours are a versioned rule of needs (issue 13), reachable at /api/v1/rules like every other kind: the
shipped sample is listed with its legal basis, a version that the sender would misread is refused naming `value`,
and a new version is what the sender follows from its first day. Both backends; the SMS gateway is a loopback
HTTP server."""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from services.needs.models import CivilServant
from shared.db import transaction
from shared.localtime import LOCAL_TZ
from shared.notify import NotifyConfig
from shared.notify.quiet import check_window
from shared.notify.sms import SmsGatewayChannel
from tests.notify.servers import HttpProvider
from tests.unit.apps import ADMIN_AUTH, API_AUTH, build_app

DAY = (datetime.now(LOCAL_TZ) + timedelta(days=2)).date()


@pytest.fixture
def needs(backend):
    app = build_app("needs", backend.migrated("needs"), migrate=False)
    seeded = app.test_client().post("/admin/needs/seed", json={"civil_servants": 2}, headers=ADMIN_AUTH)
    assert seeded.status_code == 200
    yield app
    app.extensions["service"].engine.dispose()


@pytest.mark.parametrize("value", [
    {"start": "21:00", "end": "07:00", "channels": ["fax"]},
    {"start": "25:00", "end": "07:00"},
    {"start": "21:00"},
    {"start": 21, "end": "07:00"},
    {"start": "21:00", "end": "07:00", "channels": "sms"},
    {"start": "21:00", "end": "07:00", "extra": 1},
    {"start": "２１:00", "end": "07:00"},
])
def test_a_window_the_sender_would_misread_is_refused(value):
    with pytest.raises((ValueError, KeyError, TypeError)):
        check_window(value)


def test_quiet_hours_are_a_rule_kind_and_a_new_version_is_what_the_sender_follows(needs):
    from services.needs import usecases
    from services.needs.usecases.deliveries import claim
    client = needs.test_client()
    listed = {r["kind"]: r for r in client.get("/api/v1/rules").get_json()}
    sample = listed["quiet-hours"]
    assert sample["value"] == {"start": "21:00", "end": "07:00", "channels": ["sms", "zalo"]}
    assert sample["legal_basis"].startswith("MẪU")
    bad = client.post("/api/v1/rules/quiet-hours", json={
        "valid_from": DAY.isoformat(), "value": {"start": "22:00", "end": "06:00", "channels": ["pager"]},
        "legal_basis": "Quyết định của đơn vị"}, headers=API_AUTH)
    assert bad.status_code == 422 and "value" in bad.get_data(as_text=True)
    assert client.post("/api/v1/rules/quiet-hours", json={
        "valid_from": DAY.isoformat(), "value": {"start": "23:00", "end": "06:00", "channels": ["sms"]},
        "legal_basis": "Quyết định của đơn vị"}).status_code == 401
    added = client.post("/api/v1/rules/quiet-hours", json={
        "valid_from": DAY.isoformat(), "value": {"start": "23:00", "end": "06:00", "channels": ["sms"]},
        "legal_basis": "Quyết định của đơn vị (kiểm thử)"}, headers=API_AUTH)
    assert added.status_code == 201, added.data
    versions = client.get("/api/v1/rules/quiet-hours").get_json()
    assert [(v["valid_from"], v["valid_to"]) for v in versions] == [
        ("2025-07-01", (DAY - timedelta(days=1)).isoformat()), (DAY.isoformat(), None)]

    sf = needs.extensions["service"].session_factory
    with transaction(sf) as s:
        cs = s.scalars(sa.select(CivilServant.id).order_by(CivilServant.code)).first()
        usecases.set_contact(s, cs, {"phone": "0912345678", "preferred_channel": "sms"})
        claim(s, "feedback_request", cs, "c-quiet", {"course_code": "KH-1", "course_title": "Kỹ năng",
                       "link": "http://x/feedback/T", "deadline": None}, course_id="c-quiet", source_event_id=None)
    before = datetime.combine(DAY - timedelta(days=1), time(22, 30), LOCAL_TZ).astimezone(timezone.utc)
    on_day = datetime.combine(DAY, time(22, 30), LOCAL_TZ).astimezone(timezone.utc)
    with HttpProvider() as gw:
        channels = {"sms": SmsGatewayChannel(NotifyConfig(sms_gateway_url=gw.url, attempts=1))}
        usecases.send_due(sf, channels, now_fn=lambda: before)  # the sample's 21:00–07:00: deferred
        assert not gw.requests
        usecases.send_due(sf, channels, now_fn=lambda: on_day)  # the new version's 23:00–06:00: 22:30 may send
        assert len(gw.requests) == 1
