"""Course lifecycle over the real app on SQLite: draft → scheduled → confirmed (funding's answer) → in progress →
completed → closed, or awaiting funds / cancelled; revisions and late answers."""
import uuid
from datetime import date, timedelta

from shared.db import utcnow
from tests.unit.courses.factories import (
    API_AUTH, confirmed_course, enroll, event, make_course, make_lecturer, make_trainees, make_venue, ok, outbox,
    reject, reserve, schedule)


def test_a_new_course_is_a_draft_and_publishes_nothing(client):
    course = make_course(client)
    assert (course["status"], course["revision"]) == ("draft", 0)
    assert outbox(client, "courses.course_scheduled") == []


def test_scheduling_publishes_the_cost_drivers_with_revision_one(client):
    venue = make_venue(client, distances=[{"commune_code": "CM-TANLOC", "km": 23}])
    course = make_course(client, venue=venue)
    ids = make_trainees(client, 2, commune="CM-TANLOC")
    enroll(client, course["id"], ids)
    out = schedule(client, course["id"])
    assert (out["status"], out["revision"]) == ("scheduled", 1)
    [p] = outbox(client, "courses.course_scheduled")
    assert (p["revision"], p["form"], p["topic_code"], p["fostering_type"]) == (1, "in_person", "KN-CNTT",
                                                                             "job_position")
    assert p["venue"]["distances"] == [{"commune_code": "CM-TANLOC", "km": 23}]
    assert [(s["buoi"], s["lecturer_tier"], s["periods"], s["venue_id"]) for s in p["sessions"]][:2] == [
        ("morning", 2, 4, venue["id"]), ("afternoon", 2, 4, venue["id"])]
    assert sorted(t["civil_servant_id"] for t in p["planned_trainees"]) == sorted(ids)
    assert all(t["commune_code"] == "CM-TANLOC" and t["female"] for t in p["planned_trainees"])


def test_budget_reserved_for_the_current_revision_confirms_the_course(client):
    course, _ = confirmed_course(client)
    assert course["status"] == "confirmed" and course["reservation_id"] and course["estimate_total"] == 12_000_000


def test_rejected_reservation_shows_awaiting_funds_with_the_reason(client):
    course = make_course(client)
    schedule(client, course["id"])
    reject(client, course["id"], 1, "Thiếu 2.000.000 ₫ ở dòng ĐT-BD.")
    got = ok(client.get(f"/api/v1/courses/{course['id']}"))
    assert (got["status"], got["status_reason"]) == ("awaiting_funds", "Thiếu 2.000.000 ₫ ở dòng ĐT-BD.")


def test_rescheduling_after_rejection_grows_the_revision_and_a_late_answer_is_ignored(client):
    course = make_course(client)
    schedule(client, course["id"])
    reject(client, course["id"], 1)
    again = schedule(client, course["id"])
    assert (again["status"], again["revision"], again["status_reason"]) == ("scheduled", 2, None)
    reserve(client, course["id"], 1)  # an answer to the old revision arrives late
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["status"] == "scheduled"
    reject(client, course["id"], 1)
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["status"] == "scheduled"
    reserve(client, course["id"], 2)
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["status"] == "confirmed"
    assert [p["revision"] for p in outbox(client, "courses.course_scheduled")] == [1, 2]


def test_an_answer_for_an_unknown_course_is_ignored(client):
    reserve(client, str(uuid.uuid4()), 1)  # no error: the course may belong to another installation


def test_editing_a_confirmed_course_reschedules_it(client):
    course, _ = confirmed_course(client)
    other = make_venue(client)
    out = ok(client.patch(f"/api/v1/courses/{course['id']}", json={"venue_id": other["id"]}, headers=API_AUTH))
    assert (out["status"], out["revision"], out["venue"]["id"]) == ("scheduled", 2, other["id"])
    assert outbox(client, "courses.course_scheduled")[-1]["venue"]["venue_id"] == other["id"]


def test_scheduling_without_sessions_is_422_naming_sessions(client):
    course = make_course(client, sessions=[])
    resp = client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH)
    assert resp.status_code == 422 and "sessions" in resp.get_json()["errors"]["json"]


def test_in_person_course_without_a_venue_cannot_be_scheduled(client):
    course = make_course(client, venue={}, venue_id=None)
    resp = client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH)
    assert resp.status_code == 422 and "venue_id" in resp.get_json()["errors"]["json"]


def test_online_course_needs_no_venue(client):
    course = make_course(client, venue={}, venue_id=None, form="online")
    assert schedule(client, course["id"])["status"] == "scheduled"
    assert outbox(client, "courses.course_scheduled")[0]["venue"] is None


def test_job_position_course_longer_than_a_week_is_refused_citing_the_rule(client):
    course = make_course(client, days=6)
    resp = client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH)
    body = resp.get_json()
    assert resp.status_code == 422 and "NĐ 171/2025" in body["message"], body


def test_rank_course_may_last_four_weeks_in_blocks(client):
    course = make_course(client, days=12, fostering_type="rank", topic_code="QLNN-CV")
    assert schedule(client, course["id"])["status"] == "scheduled"


def test_a_rule_version_added_by_an_operator_applies_from_its_date(client):
    from tests.unit.apps import API_AUTH
    resp = client.post("/api/v1/rules/length-caps", headers=API_AUTH, json={
        "fostering_type": "leadership", "max_days": 2, "legal_basis": "QĐ thử nghiệm", "valid_from": "2026-01-01"})
    assert resp.status_code == 201, resp.data
    same_start = client.post("/api/v1/rules/length-caps", headers=API_AUTH, json={
        "fostering_type": "leadership", "max_days": 3, "legal_basis": "x", "valid_from": "2026-01-01"})
    assert same_start.status_code == 409 and "valid_from" in same_start.get_json()["errors"]["json"]
    course = make_course(client, days=3, fostering_type="leadership", topic_code="QPAN")
    resp = client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH)
    assert resp.status_code == 422 and "QĐ thử nghiệm" in resp.get_json()["message"]


def test_a_later_version_supersedes_an_open_ended_one_and_each_course_meets_the_cap_of_its_date(client):
    from tests.unit.apps import API_AUTH
    ok(client.post("/api/v1/rules/length-caps", headers=API_AUTH, json={
        "fostering_type": "leadership", "max_days": 2, "legal_basis": "QĐ thử nghiệm", "valid_from": "2026-01-01"}),
       201)
    ok(client.post("/api/v1/rules/length-caps", headers=API_AUTH, json={
        "fostering_type": "leadership", "max_days": 3, "legal_basis": "QĐ mới", "valid_from": "2026-06-01"}), 201)
    versions = [(r["valid_from"], r["valid_to"], r["max_days"]) for r in ok(client.get(
        "/api/v1/rules/length-caps", headers=API_AUTH)) if r["fostering_type"] == "leadership"]
    assert versions == [("2026-01-01", "2026-05-31", 2), ("2026-06-01", None, 3)]
    # crossing the now closed range is a real overlap
    crossing = client.post("/api/v1/rules/length-caps", headers=API_AUTH, json={
        "fostering_type": "leadership", "max_days": 4, "legal_basis": "x", "valid_from": "2026-05-01"})
    assert crossing.status_code == 409
    march = make_course(client, days=3, fostering_type="leadership", topic_code="QPAN")
    assert client.post(f"/api/v1/courses/{march['id']}/schedule", headers=API_AUTH).status_code == 422
    june = make_course(client, days=3, start=date(2026, 6, 1), fostering_type="leadership", topic_code="QPAN")
    assert schedule(client, june["id"])["status"] == "scheduled"


def test_lecturer_below_the_standard_cannot_be_scheduled(client):
    weak = make_lecturer(client, degree="college", pedagogy_certificate=False)
    course = make_course(client, lecturer=weak)
    resp = client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH)
    body = resp.get_json()
    assert resp.status_code == 422 and "nghiệp vụ sư phạm" in body["message"]
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["status"] == "draft"


def test_cancelling_a_scheduled_course_publishes_course_cancelled(client):
    course, _ = confirmed_course(client)
    out = ok(client.post(f"/api/v1/courses/{course['id']}/cancel", json={"reason": "Bão"}, headers=API_AUTH))
    assert (out["status"], out["status_reason"]) == ("cancelled", "Bão")
    [p] = outbox(client, "courses.course_cancelled")
    assert (p["course_id"], p["reason"]) == (course["id"], "Bão")
    reserve(client, course["id"], 1)  # a late reservation does not revive it
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["status"] == "cancelled"


def test_cancelling_a_draft_tells_funding_nothing(client):
    course = make_course(client)
    ok(client.post(f"/api/v1/courses/{course['id']}/cancel", json={"reason": "Trùng kế hoạch"}, headers=API_AUTH))
    assert outbox(client, "courses.course_cancelled") == []


def test_a_course_not_confirmed_cannot_be_completed_or_attended(client):
    course = make_course(client)
    ids = make_trainees(client, 1)
    enroll(client, course["id"], ids)
    schedule(client, course["id"])
    resp = client.post(f"/api/v1/courses/{course['id']}/complete", headers=API_AUTH)
    assert resp.status_code == 409 and "course_id" in resp.get_json()["errors"]["json"]
    resp = client.post(f"/api/v1/courses/{course['id']}/attendance", headers=API_AUTH, json={"records": [
        {"session_id": course["sessions"][0]["id"], "civil_servant_id": ids[0], "present": True}]})
    assert resp.status_code == 409


def test_completed_course_closes_after_feedback_and_settlement(client):
    course, ids = confirmed_course(client, 2)
    records = [{"session_id": s["id"], "civil_servant_id": cs, "present": True}
               for s in course["sessions"] for cs in ids]
    ok(client.post(f"/api/v1/courses/{course['id']}/attendance", json={"records": records}, headers=API_AUTH), 201)
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["status"] == "in_progress"
    done = ok(client.post(f"/api/v1/courses/{course['id']}/complete", headers=API_AUTH))
    assert (done["status"], done["closing"]["state"]) == ("completed", "awaiting_feedback_and_settlement")
    assert client.post(f"/api/v1/courses/{course['id']}/complete", headers=API_AUTH).status_code == 409
    event(client, "evaluation.feedback_requested", {"course_id": course["id"], "request_count": 2,
                                                    "deadline": utcnow() + timedelta(days=14)}, "evaluation")
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["closing"]["state"] == "awaiting_settlement"
    event(client, "funding.course_settled", {"course_id": course["id"], "settlement_id": "s1", "lecturer_fees": 1,
                                             "learner_support": 2, "total_amount": 3, "settled_at": utcnow()},
          "funding")
    closed = ok(client.get(f"/api/v1/courses/{course['id']}"))
    assert (closed["status"], closed["closing"]["state"], closed["closing"]["settlement_total"]) == (
        "closed", "closed", 3)


def test_start_moves_a_confirmed_course_in_progress(client):
    course, _ = confirmed_course(client, 1)
    assert ok(client.post(f"/api/v1/courses/{course['id']}/start", headers=API_AUTH))["status"] == "in_progress"
    assert client.post(f"/api/v1/courses/{course['id']}/start", headers=API_AUTH).status_code == 409


def test_sessions_are_listed_morning_first_with_local_times(client):
    course = make_course(client, days=1)
    assert [(s["buoi"], s["local_time"]) for s in course["sessions"]] == [
        ("morning", "07:30–11:30"), ("afternoon", "13:30–17:00")]


def test_a_session_spanning_midnight_is_422_naming_its_end_time(client):
    lecturer = make_lecturer(client)
    resp = client.post("/api/v1/courses", headers=API_AUTH, json={
        "code": "K-NIGHT", "title": "Lớp đêm", "organizer_unit_code": "CM-THOIBINH",
        "sessions": [{"date": "2026-03-02", "buoi": "afternoon", "lecturer_id": lecturer["id"],
                      "start_time": "22:00", "end_time": "00:30"}]})
    assert resp.status_code == 422
    assert resp.get_json()["errors"]["json"] == {"sessions.0.end_time": [resp.get_json()["message"]]}
