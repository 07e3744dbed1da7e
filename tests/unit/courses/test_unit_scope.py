"""Commune-scoped enrollments and attendance (issue 14): courses keeps each trainee's commune as needs published it;
a commune officer lists, enrolls, withdraws and records attendance only for their commune's trainees (403 in the
JSON error shape otherwise). The course is set up through a static-token app, the checks go through a second app on
the same database in AUTH_MODE=oidc with tokens from the loopback provider (tests/oidc.py). Both backends."""
from __future__ import annotations

import pytest

from tests.oidc import provider, static_and_oidc  # noqa: F401 - provider: a fixture
from tests.unit.courses.factories import API_AUTH, enroll, make_course, make_trainees, ok, reserve, schedule


@pytest.fixture
def apps(backend, provider):
    yield from static_and_oidc("courses", backend, provider)


def _forbidden(resp, field: str) -> None:
    body = resp.get_json()
    assert resp.status_code == 403 and body["code"] == 403, (resp.status_code, body)
    assert field in body["errors"]["json"], body


def test_a_commune_officer_works_only_with_their_communes_trainees(apps, provider):
    setup, api = apps
    ok(setup.post("/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                     "note": "tests"}, headers=API_AUTH))
    course = make_course(setup)
    tan_loc, bien_bach = make_trainees(setup, 2, "CM-TANLOC"), make_trainees(setup, 2, "CM-BIENBACH")
    (tan_loc_more,), (bien_bach_more,) = make_trainees(setup, 1, "CM-TANLOC"), make_trainees(setup, 1, "CM-BIENBACH")
    enroll(setup, course["id"], tan_loc + bien_bach)
    reserve(setup, course["id"], schedule(setup, course["id"])["revision"])
    course = ok(setup.get(f"/api/v1/courses/{course['id']}"))
    assert course["status"] == "confirmed"
    base = f"/api/v1/courses/{course['id']}"
    officer = provider.auth("commune-officer", audience="courses", unit_code="CM-BIENBACH")
    district = provider.auth("training-officer", audience="courses")

    listed = ok(api.get(f"{base}/enrollments", headers=officer))
    assert {e["civil_servant_id"] for e in listed} == set(bien_bach)
    assert {e["civil_servant_id"] for e in ok(api.get(f"{base}/enrollments", headers=district))} == \
        set(tan_loc + bien_bach)

    _forbidden(api.post(f"{base}/enrollments", json={"civil_servant_ids": [bien_bach_more, tan_loc_more]},
                        headers=officer), "civil_servant_ids")
    ok(api.post(f"{base}/enrollments", json={"civil_servant_ids": [bien_bach_more]}, headers=officer), 201)
    _forbidden(api.post(f"{base}/enrollments/{tan_loc[0]}/withdraw", json={"reason": "ốm"}, headers=officer),
               "civil_servant_id")

    session_id = course["sessions"][0]["id"]
    records = [{"session_id": session_id, "civil_servant_id": cs, "present": True} for cs in bien_bach]
    _forbidden(api.post(f"{base}/attendance", headers=officer, json={"records": records + [
        {"session_id": session_id, "civil_servant_id": tan_loc[0], "present": True}]}), "records.2.civil_servant_id")
    assert ok(api.post(f"{base}/attendance", json={"records": records}, headers=officer), 201) == {"count": 2}
    codes = {t["civil_servant_id"]: t["code"] for t in ok(api.get("/api/v1/trainees", headers=district))}
    for document in ("class-list", "attendance-sheet"):  # the commune's own sheet to fill in and upload
        text = api.get(f"{base}/{document}?format=csv", headers=officer).get_data(as_text=True)
        assert all(codes[cs] in text for cs in bien_bach) and not any(codes[cs] in text for cs in tan_loc)
    assert ok(api.get(f"{base}/candidates", headers=officer)) == []  # none named here; the query runs scoped
    trainees = ok(api.get("/api/v1/trainees", headers=officer))
    assert {t["civil_servant_id"] for t in trainees} == set(bien_bach) | {bien_bach_more}
    other = provider.auth("commune-officer", audience="courses", unit_code="CM-TANLOC")
    seated = tan_loc + bien_bach + [bien_bach_more]
    ok(setup.post(f"{base}/attendance", headers=API_AUTH, json={"records": [
        {"session_id": s["id"], "civil_servant_id": cs, "present": True} for cs in seated for s in course["sessions"]]}),
       201)
    ok(setup.post(f"{base}/results", headers=API_AUTH, json={"scores": [
        {"civil_servant_id": cs, "kind": "post", "competency_code": "CM06", "score": 8} for cs in seated]}), 201)
    ok(setup.post(f"{base}/complete", headers=API_AUTH))
    assert len(ok(api.get(f"{base}/certificates", headers=district))) == 5
    assert {c["civil_servant_id"] for c in ok(api.get(f"{base}/certificates", headers=officer))} == \
        set(bien_bach) | {bien_bach_more}
    assert {e["civil_servant_id"] for e in ok(api.get(f"{base}/enrollments", headers=other))} == set(tan_loc)
