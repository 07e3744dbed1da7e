"""Every id field of a request body, in all four services, refuses an id that names nothing the service knows
(`"0"`) with a 4xx in the JSON error shape naming that field — never a 2xx that stores a dangling reference
(issue 12, finding 10: funding recorded a degree-training commitment of civil servant "0"). Each service checks
the id against its own rows or its copy of another service's registry, in the use case that uses it."""
from __future__ import annotations

from tests.security.test_fuzzing import _seed_courses, _seed_evaluation, _seed_needs
from tests.unit.apps import API_AUTH, deliver

UNKNOWN = "0"


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
