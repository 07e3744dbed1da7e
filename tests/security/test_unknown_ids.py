"""Every id field of a request body, in all four services, refuses an id that names nothing the service knows
(`"0"`) with a 4xx in the JSON error shape naming that field — never a 2xx that stores a dangling reference
(issue 12, finding 10: funding recorded a degree-training commitment of civil servant "0"). Each service checks
the id against its own rows or its copy of another service's registry, in the use case that uses it."""
from __future__ import annotations

import pytest

from shared.config import SERVICES
from tests.security.test_fuzzing import _seed_courses, _seed_evaluation, _seed_needs
from tests.unit.apps import API_AUTH, deliver

UNKNOWN = "0"

# Every id field of a JSON request body in the four OpenAPI documents, as "METHOD /path field" (a list's items as
# `field[].`), and the test below that sends it an unknown id. A new id field fails the census until it is checked.
CHECKED = {
    "needs": {
        "POST /api/v1/campaigns framework_id": "needs",
        "POST /api/v1/campaigns/{campaign_id}/responses civil_servant_id": "needs",
        "POST /api/v1/plans/{plan_id}/lines civil_servant_ids": "needs",
    },
    "courses": {f"{op} {field}": "courses" for op, field in [
        ("POST /api/v1/courses", "venue_id"), ("POST /api/v1/courses", "sessions[].lecturer_id"),
        ("POST /api/v1/courses", "sessions[].venue_id"), ("PATCH /api/v1/courses/{course_id}", "venue_id"),
        ("POST /api/v1/courses/{course_id}/sessions", "sessions[].lecturer_id"),
        ("POST /api/v1/courses/{course_id}/sessions", "sessions[].venue_id"),
        ("PATCH /api/v1/courses/{course_id}/sessions/{session_id}", "lecturer_id"),
        ("PATCH /api/v1/courses/{course_id}/sessions/{session_id}", "venue_id"),
        ("POST /api/v1/courses/schedule", "course_ids"),
        ("POST /api/v1/courses/{course_id}/enrollments", "civil_servant_ids"),
        ("POST /api/v1/courses/{course_id}/attendance", "records[].session_id"),
        ("POST /api/v1/courses/{course_id}/attendance", "records[].civil_servant_id"),
        ("POST /api/v1/courses/{course_id}/results", "scores[].civil_servant_id"),
        ("POST /api/v1/courses/{course_id}/sessions/{session_id}/self-checkins/review", "civil_servant_ids")]},
    "evaluation": {"POST /api/v1/courses/{course_id}/test-scores scores[].civil_servant_id": "evaluation"},
    "funding": {"POST /api/v1/degree-commitments civil_servant_id": "funding"},
}
# Not checked here, with the reason.
NOT_CHECKED = {f"POST /admin/dead-letters/{verb} message_id": "a broker message id (shared/admin.py), not a row"
               for verb in ("replay", "purge")}


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _id_fields(spec: dict, schema: dict, prefix: str = ""):
    for name, prop in (_resolve(spec, schema).get("properties") or {}).items():
        prop = _resolve(spec, prop)
        if name.endswith(("_id", "_ids")):
            yield prefix + name
        if prop.get("type") == "array" and "items" in prop:
            yield from _id_fields(spec, prop["items"], f"{prefix}{name}[].")
        elif prop.get("properties"):
            yield from _id_fields(spec, prop, f"{prefix}{name}.")


@pytest.mark.parametrize("service", SERVICES)
def test_every_id_field_of_a_request_body_is_checked_here(make_client, service):
    spec = make_client(service).get("/openapi.json").get_json()
    found = set()
    for path, item in spec["paths"].items():
        for method, op in item.items():
            body = ((op.get("requestBody") or {}).get("content") or {}).get("application/json") \
                if isinstance(op, dict) else None
            if body:
                found |= {f"{method.upper()} {path} {field}" for field in _id_fields(spec, body["schema"])}
    assert found - set(NOT_CHECKED) == set(CHECKED[service]), (
        f"new: {sorted(found - set(NOT_CHECKED) - set(CHECKED[service]))}; "
        f"gone: {sorted(set(CHECKED[service]) - found)}")


def _refused(resp, field: str) -> None:
    assert 400 <= resp.status_code < 500, (field, resp.status_code, resp.data[:300])
    body = resp.get_json()
    assert body and field in body["errors"]["json"], (field, body)


def test_courses_refuses_unknown_lecturer_venue_course_trainee_and_session_ids(make_client):
    client = make_client("courses")
    known = _seed_courses(client)
    confirmed, draft = known["course_id"]
    lecturer, trainee, session = known["lecturer_id"][0], known["civil_servant_id"][0], known["session_id"][0]
    post = lambda path, body: client.post(f"/api/v1/courses{path}", json=body, headers=API_AUTH)  # noqa: E731
    one_session = {"date": "2026-03-10", "buoi": "morning", "lecturer_id": lecturer}
    _refused(post(f"/{draft}/sessions", {"sessions": [{**one_session, "lecturer_id": UNKNOWN}]}),
             "sessions.0.lecturer_id")
    _refused(post(f"/{draft}/sessions", {"sessions": [{**one_session, "venue_id": UNKNOWN}]}), "sessions.0.venue_id")
    _refused(client.patch(f"/api/v1/courses/{draft}", json={"venue_id": UNKNOWN}, headers=API_AUTH), "venue_id")
    _refused(post("/schedule", {"course_ids": [UNKNOWN]}), "course_ids.0")
    _refused(post(f"/{draft}/enrollments", {"civil_servant_ids": [UNKNOWN]}), "civil_servant_ids")
    _refused(post(f"/{confirmed}/attendance", {"records": [
        {"session_id": session, "civil_servant_id": UNKNOWN, "present": True}]}), "records.0.civil_servant_id")
    _refused(post(f"/{confirmed}/attendance", {"records": [
        {"session_id": UNKNOWN, "civil_servant_id": trainee, "present": True}]}), "records.0.session_id")
    _refused(post(f"/{confirmed}/results", {"scores": [{"civil_servant_id": UNKNOWN, "kind": "pre", "score": 5}]}),
             "scores.0.civil_servant_id")
    _refused(post(f"/{confirmed}/sessions/{session}/self-checkins/review",
                  {"civil_servant_ids": [UNKNOWN], "decision": "confirm"}), "civil_servant_ids.0")
    course = {"code": "K-ID-1", "title": "Lớp thử", "organizer_unit_code": "CM-THOIBINH", "sessions": [one_session]}
    _refused(post("", {**course, "venue_id": UNKNOWN}), "venue_id")
    _refused(post("", {**course, "sessions": [{**one_session, "lecturer_id": UNKNOWN}]}), "sessions.0.lecturer_id")
    _refused(post("", {**course, "sessions": [{**one_session, "venue_id": UNKNOWN}]}), "sessions.0.venue_id")
    draft_session = client.get(f"/api/v1/courses/{draft}", headers=API_AUTH).get_json()["sessions"][0]["id"]
    for field in ("lecturer_id", "venue_id"):
        resp = client.patch(f"/api/v1/courses/{draft}/sessions/{draft_session}", json={field: UNKNOWN},
                            headers=API_AUTH)
        _refused(resp, f"session.0.{field}")


def test_evaluation_refuses_a_test_score_of_someone_not_in_the_course(make_client):
    client = make_client("evaluation")
    [course_id] = _seed_evaluation(client)["course_id"]
    resp = client.post(f"/api/v1/courses/{course_id}/test-scores", headers=API_AUTH,
                       json={"scores": [{"civil_servant_id": UNKNOWN, "kind": "pre", "score": 5}]})
    _refused(resp, "scores.0.civil_servant_id")


def test_needs_refuses_unknown_people_in_survey_responses_and_plan_lines(make_client):
    client = make_client("needs")
    [campaign] = _seed_needs(client)["campaign_id"]
    resp = client.post(f"/api/v1/campaigns/{campaign}/responses", headers=API_AUTH,
                       json={"civil_servant_id": UNKNOWN, "role": "self", "levels": {"CM06": 2}})
    _refused(resp, "civil_servant_id")
    plan = client.post("/api/v1/plans", headers=API_AUTH, json={"year": 2026, "title": "Kế hoạch", "from_needs": False})
    assert plan.status_code == 201, plan.data
    resp = client.post(f"/api/v1/plans/{plan.get_json()['plan']['id']}/lines", headers=API_AUTH, json={
        "topic_code": "KN-CNTT", "unit_code": "CM-THOIBINH", "civil_servant_ids": [UNKNOWN]})
    _refused(resp, "civil_servant_ids")
    resp = client.post("/api/v1/campaigns", headers=API_AUTH, json={
        "year": 2027, "title": "Khảo sát 2027", "unit_codes": ["CM-THOIBINH"], "deadline": "2027-03-31",
        "framework_id": 999_999})
    _refused(resp, "framework_id")


def test_funding_refuses_a_commitment_of_a_civil_servant_it_does_not_know(make_client):
    from tests.unit.funding.factories import registered
    client = make_client("funding")
    body = {"programme": "Thạc sĩ Quản lý công", "decision_no": "15/QĐ-UBND", "training_cost": 120_000_000,
            "training_months": 24, "training_end": "2026-06-30", "committed_months": 72}
    post = lambda cs: client.post("/api/v1/degree-commitments", headers=API_AUTH,  # noqa: E731
                                  json={**body, "civil_servant_id": cs})
    _refused(post(UNKNOWN), "civil_servant_id")
    deliver(client.application, registered("5b0c7c1e-0000-4000-8000-000000000001", "TB-0001"))
    assert post("5b0c7c1e-0000-4000-8000-000000000001").status_code == 201
