"""A commune officer takes part in the survey for their own units only (issues 13/14): they submit the answers of
the people registered in their subtree (another commune's person: 403 naming civil_servant_id, nothing recorded)
and read the progress of those people only; a training officer and an inspector see every commune. Both
backends, tokens from the loopback provider (tests/oidc.py); the request's day is after the 2025 merger, so Xã
Biển Bạch carries its three former units (NQ 1655/NQ-UBTVQH15)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from tests.helpers import Clock
from tests.oidc import MERGED_INTO_BIENBACH, provider, seeded_needs  # noqa: F401 - provider: a fixture

MERGED = MERGED_INTO_BIENBACH
DAY = date(2026, 3, 2)


@pytest.fixture
def needs(backend, provider):
    clock = Clock()
    clock.at = datetime(DAY.year, DAY.month, DAY.day, 5, 0, tzinfo=timezone.utc)
    yield from seeded_needs(backend, provider, clock)


def _campaign(needs, provider) -> str:
    resp = needs.post("/api/v1/campaigns", json={
        "year": 2026, "title": "Khảo sát kiểm thử", "deadline": "2026-12-31",
        "unit_codes": ["CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"]},
        headers=provider.auth("training-officer"))
    assert resp.status_code == 201, resp.get_data(as_text=True)[:300]
    return resp.get_json()["id"]


def _people(needs, provider) -> list[dict]:
    resp = needs.get("/api/v1/civil-servants?page_size=200", headers=provider.auth("training-officer"))
    return resp.get_json()["items"]


def _missing(progress: dict) -> list[str]:
    return [m["civil_servant_id"] for u in progress["units"] for m in u["missing"]]


def test_a_commune_officer_answers_and_follows_only_their_own_people(needs, provider):
    campaign = _campaign(needs, provider)
    people = _people(needs, provider)
    by_id = {p["id"]: p for p in people}
    inside = next(p for p in people if p["unit_code"] == "TB-X-TANBANG")
    outside = next(p for p in people if p["unit_code"] not in MERGED)
    officer = provider.auth("commune-officer", unit_code="CM-BIENBACH")
    answer = {"role": "self", "levels": {"CM06": 2}, "wished_topics": ["KN-CNTT"]}

    ok = needs.post(f"/api/v1/campaigns/{campaign}/responses", json={**answer, "civil_servant_id": inside["id"]},
                    headers=officer)
    assert ok.status_code == 200, ok.get_data(as_text=True)[:300]
    refused = needs.post(f"/api/v1/campaigns/{campaign}/responses",
                         json={**answer, "civil_servant_id": outside["id"]}, headers=officer)
    assert refused.status_code == 403 and "civil_servant_id" in refused.get_data(as_text=True)
    unknown = needs.post(f"/api/v1/campaigns/{campaign}/responses",
                         json={**answer, "civil_servant_id": "nobody"}, headers=officer)
    assert unknown.status_code == 403

    mine = needs.get(f"/api/v1/campaigns/{campaign}/progress", headers=officer)
    assert mine.status_code == 200
    progress = mine.get_json()
    listed = _missing(progress)
    assert listed and {by_id[i]["unit_code"] for i in listed} <= MERGED
    assert sum(u["expected"] for u in progress["units"]) == sum(p["unit_code"] in MERGED for p in people) == 6
    assert sum(u["self_done"] for u in progress["units"]) == 1
    row = next(m for u in progress["units"] for m in u["missing"] if m["civil_servant_id"] == inside["id"])
    assert (row["self_missing"], row["supervisor_missing"]) == (False, True)

    # the refused answer left nothing: the outsider is still missing their self-assessment for the whole district
    for role in ("training-officer", "inspector"):
        whole = needs.get(f"/api/v1/campaigns/{campaign}/progress", headers=provider.auth(role)).get_json()
        assert sum(u["expected"] for u in whole["units"]) == 24
        assert sum(u["self_done"] for u in whole["units"]) == 1
        assert outside["id"] in _missing(whole)
    other = provider.auth("commune-officer", unit_code="CM-TANLOC")
    theirs = needs.get(f"/api/v1/campaigns/{campaign}/progress", headers=other).get_json()
    assert inside["id"] not in _missing(theirs) and sum(u["self_done"] for u in theirs["units"]) == 0
    assert needs.post(f"/api/v1/campaigns/{campaign}/responses", json={**answer, "civil_servant_id": inside["id"]},
                      headers=provider.auth("inspector")).status_code == 403
