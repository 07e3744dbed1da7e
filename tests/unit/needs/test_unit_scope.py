"""Commune-scoped registry (issue 14): a commune officer lists, reads and writes only the civil servants of their
unit's subtree as of the request's day, from the versioned unit tree (the 2025 merger, NQ 1655/NQ-UBTVQH15: from
1 July 2025 Xã Biển Bạch carries the three former units Biển Bạch, Biển Bạch Đông and Tân Bằng). Both backends,
tokens from the loopback provider (tests/oidc.py)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from tests.helpers import Clock
from tests.oidc import MERGED_INTO_BIENBACH, provider, seeded_needs  # noqa: F401 - provider: a fixture

MERGED = MERGED_INTO_BIENBACH
BEFORE, AFTER = date(2025, 6, 30), date(2025, 7, 1)


@pytest.fixture
def clock():
    """The needs app's clock: the request's day (the scope is resolved from the unit tree as of it)."""
    return Clock()


@pytest.fixture
def needs(backend, provider, clock):
    yield from seeded_needs(backend, provider, clock)


def _on(clock, day: date) -> None:
    """Make `day` the request's day (noon in Việt Nam)."""
    clock.at = datetime(day.year, day.month, day.day, 5, 0, tzinfo=timezone.utc)


def _listed(needs, headers) -> list[dict]:
    resp = needs.get("/api/v1/civil-servants?page_size=200", headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()["items"]


def _person(needs, provider, unit: str) -> dict:
    everyone = _listed(needs, provider.auth("training-officer"))
    return next(p for p in everyone if p["unit_code"] == unit)


def test_after_the_merger_an_officer_of_bien_bach_sees_the_three_former_units(needs, provider, clock):
    _on(clock, AFTER)
    officer = provider.auth("commune-officer", unit_code="CM-BIENBACH")
    seen = _listed(needs, officer)
    assert {p["unit_code"] for p in seen} == MERGED and len(seen) == 6
    assert len(_listed(needs, provider.auth("training-officer"))) == 24  # no unit: the whole registry
    inside, outside = _person(needs, provider, "TB-X-TANBANG"), _person(needs, provider, "TB-X-TRILUC")
    assert needs.get(f"/api/v1/civil-servants/{inside['id']}", headers=officer).status_code == 200
    assert needs.get(f"/api/v1/civil-servants/{inside['id']}/competencies", headers=officer).status_code == 200
    for resp in (needs.get(f"/api/v1/civil-servants/{outside['id']}", headers=officer),
                 needs.get(f"/api/v1/civil-servants/{outside['id']}/competencies", headers=officer),
                 needs.patch(f"/api/v1/civil-servants/{outside['id']}", json={"hard_area": True}, headers=officer),
                 needs.post(f"/api/v1/civil-servants/{outside['id']}/leave",
                            json={"left_on": "2026-01-31", "reason": "retired"}, headers=officer)):
        body = resp.get_json()
        assert resp.status_code == 403 and body["code"] == 403 and body["errors"]["json"]["id"], body
    moved = needs.patch(f"/api/v1/civil-servants/{inside['id']}", json={"unit_code": "TB-X-TRILUC"},
                        headers=officer)
    assert moved.status_code == 403 and moved.get_json()["errors"]["json"]["unit_code"]
    assert needs.patch(f"/api/v1/civil-servants/{inside['id']}", json={"hard_area": True},
                       headers=officer).status_code == 200
    export = needs.get("/api/v1/civil-servants/export?format=csv", headers=officer).get_data(as_text=True)
    assert "TB-X-TANBANG" in export and "TB-X-TRILUC" not in export


def test_needs_and_the_below_standard_report_show_only_the_officers_units(needs, provider, clock):
    _on(clock, AFTER)
    officer = provider.auth("commune-officer", unit_code="CM-BIENBACH")
    everyone = provider.auth("training-officer")
    assert needs.post("/admin/needs/seed", json={"civil_servants": 24, "survey_year": 2026},
                      headers=provider.auth("operator")).status_code == 200  # a survey: needs to list
    campaign = needs.get("/api/v1/campaigns").get_json()[0]["id"]
    assert needs.post(f"/api/v1/campaigns/{campaign}/close", headers=everyone).status_code == 200
    report = needs.get("/api/v1/reports/below-standard", headers=officer)
    assert report.status_code == 200
    assert {r["unit_code"] for r in report.get_json()} <= MERGED
    assert {r["unit_code"] for r in needs.get("/api/v1/reports/below-standard", headers=everyone).get_json()} - MERGED
    mine = needs.get("/api/v1/needs?page_size=200", headers=officer).get_json()
    assert {n["unit_code"] for n in mine["items"]} <= MERGED
    assert needs.get("/api/v1/needs?page_size=1", headers=everyone).get_json()["total"] > mine["total"]


def test_a_commune_officer_registers_only_in_their_commune(needs, provider, clock):
    _on(clock, AFTER)
    officer = provider.auth("commune-officer", unit_code="CM-BIENBACH")
    body = {"code": "SCOPE-1", "full_name": "Nguyễn Văn Thử", "gender": "male", "birth_year": 1990,
            "ethnicity": "Kinh", "unit_code": "CM-TRIPHAI", "position_code": "VPTK"}
    resp = needs.post("/api/v1/civil-servants", json=body, headers=officer)
    assert resp.status_code == 403 and resp.get_json()["errors"]["json"]["unit_code"]
    assert needs.post("/api/v1/civil-servants", json={**body, "unit_code": "CM-BIENBACH"},
                      headers=officer).status_code == 201


def test_before_the_merger_the_former_units_are_their_own(needs, provider, clock):
    _on(clock, BEFORE)
    assert _listed(needs, provider.auth("commune-officer", unit_code="CM-BIENBACH")) == []
    former = _listed(needs, provider.auth("commune-officer", unit_code="TB-X-BIENBACH"))
    assert {p["unit_code"] for p in former} == {"TB-X-BIENBACH"} and len(former) == 2
    other = _person(needs, provider, "TB-X-TANBANG")
    resp = needs.get(f"/api/v1/civil-servants/{other['id']}",
                     headers=provider.auth("commune-officer", unit_code="TB-X-BIENBACH"))
    assert resp.status_code == 403
    _on(clock, AFTER)  # the same officer of a former unit works for its successor from 1 July 2025
    assert needs.get(f"/api/v1/civil-servants/{other['id']}",
                     headers=provider.auth("commune-officer", unit_code="TB-X-BIENBACH")).status_code == 200


def test_a_commune_officer_without_a_unit_sees_nothing(needs, provider):
    resp = needs.get("/api/v1/civil-servants", headers=provider.auth("commune-officer"))
    assert resp.status_code == 403 and resp.get_json()["code"] == 403
