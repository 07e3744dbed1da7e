"""Funding's part of the training cycle over HTTP, every process running: estimate and reservation on
scheduling, settlement against the reservation on completion, the payee list, a consistent ledger."""
from __future__ import annotations

import pytest
import requests

from shared.config import SERVICES
from tests.helpers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.broker]
API = {"Authorization": "Bearer e2e-api"}
ADMIN = {"Authorization": "Bearer e2e-admin"}


def ok(resp, status=200):
    assert resp.status_code == status, f"{resp.request.method} {resp.url} → {resp.status_code} {resp.text[:300]}"
    return resp.json() if "json" in resp.headers.get("Content-Type", "") else resp


def test_a_scheduled_course_is_reserved_then_settled_with_its_payee_list(stack_factory):
    stack = stack_factory({})
    stack.migrate()
    stack.start()
    stack.wait_ready()
    needs, courses, _, funding = (stack.url(s) for s in SERVICES)
    ok(requests.post(f"{needs}/admin/needs/seed", json={"civil_servants": 60}, headers=ADMIN))
    ok(requests.post(f"{funding}/admin/funding/seed", json={"fiscal_year": 2026}, headers=ADMIN))
    trainees = wait_until(lambda: (lambda t: t if len(t) == 60 else None)(
        ok(requests.get(f"{courses}/api/v1/trainees", headers=API))), timeout=30, what="trainees synced from needs")
    lecturer = ok(requests.post(f"{courses}/api/v1/lecturers", json={"name": "GV B", "tier": 3, "degree": "master", "pedagogy_certificate": True,
                                                                  "years_experience": 10}, headers=API), 201)
    venue = ok(requests.post(f"{courses}/api/v1/venues", headers=API, json={
        "name": "Hội trường UBND xã Thới Bình", "address": "Thới Bình, Cà Mau", "capacity": 60,
        "distances": [{"commune_code": c, "km": km} for c, km in (
            ("CM-THOIBINH", 0), ("CM-BIENBACH", 9), ("CM-TRIPHAI", 18), ("CM-TANLOC", 22), ("CM-HOTHIKY", 30))]}), 201)
    course = ok(requests.post(f"{courses}/api/v1/courses", headers=API, json={
        "code": "E2E-F1", "title": "Kỹ năng phối hợp", "organizer_unit_code": "CM-THOIBINH", "venue_id": venue["id"],
        "sessions": [{"date": d, "buoi": b, "lecturer_id": lecturer["id"]}
                     for d in ("2026-04-06", "2026-04-07") for b in ("morning", "afternoon")]}), 201)
    by_commune: dict[str, list[str]] = {}
    for t in trainees:
        by_commune.setdefault(t["commune_code"], []).append(t["civil_servant_id"])
    # a commune may not send more than 30 % of its civil servants at once
    chosen = [cs for commune in sorted(by_commune) for cs in by_commune[commune][:min(2, len(by_commune[commune]) * 3 // 10)]]
    ok(requests.post(f"{courses}/api/v1/courses/{course['id']}/enrollments", json={"civil_servant_ids": chosen},
                     headers=API), 201)
    ok(requests.post(f"{courses}/api/v1/courses/{course['id']}/schedule", headers=API))

    def estimate():
        resp = requests.get(f"{funding}/api/v1/courses/{course['id']}/estimate", headers=API)
        return resp.json() if resp.status_code == 200 and resp.json()["status"] == "active" else None
    reserved = wait_until(estimate, timeout=30, what="funding to reserve the course's estimate")
    assert reserved["estimate_total"] == sum(x["amount"] for x in reserved["lines"]) > 0
    assert sum(x["amount"] for x in reserved["reserved_lines"]) == reserved["estimate_total"]

    confirmed = wait_until(lambda: (lambda c: c if c["status"] != "scheduled" else None)(
        ok(requests.get(f"{courses}/api/v1/courses/{course['id']}"))), timeout=30, what="courses to confirm")
    assert confirmed["status"] == "confirmed"
    sessions = course["sessions"]
    records = [{"session_id": s["id"], "civil_servant_id": cs, "present": not (i == 0 and s["date"] == "2026-04-07")}
               for i, cs in enumerate(chosen) for s in sessions]
    ok(requests.post(f"{courses}/api/v1/courses/{course['id']}/attendance", json={"records": records},
                     headers=API), 201)
    ok(requests.post(f"{courses}/api/v1/courses/{course['id']}/complete", headers=API))
    settlement = wait_until(lambda: (lambda r: r.json() if r.status_code == 200 else None)(
        requests.get(f"{funding}/api/v1/settlements/{course['id']}", headers=API)), timeout=60, what="the settlement")
    assert settlement["total"] == sum(x["amount"] for x in settlement["lines"])
    assert {"lecturer_fee", "learner_support", "travel", "hall_rental"} <= {x["item"] for x in settlement["lines"]}
    assert settlement["estimate_total"] == reserved["estimate_total"]
    assert settlement["variance"] == settlement["total"] - reserved["estimate_total"] < 0  # one trainee missed a day
    lines = ok(requests.get(f"{funding}/api/v1/budget-lines", params={"fiscal_year": 2026}))
    assert all(b["reserved"] == 0 and b["ledger_consistent"] for b in lines)
    assert sum(b["spent"] for b in lines) == settlement["total"]
    csv = ok(requests.get(f"{funding}/api/v1/settlements/{course['id']}/payees", params={"format": "csv"}, headers=API))
    text = csv.content.decode("utf-8-sig")
    assert "Ký nhận" in text.splitlines()[0] and all(cs in text for cs in chosen)
    assert ok(requests.get(f"{funding}/admin/funding/verify", headers=ADMIN))["consistent"] is True
    assert stack.stop() == {name: 0 for name in stack.commands}
