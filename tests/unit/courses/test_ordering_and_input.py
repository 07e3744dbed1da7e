"""Courses tolerates registry and evaluation events arriving out of order, never crashes on a plan whose line ids
share a prefix, refuses odd input with a 4xx naming the field, and speaks Vietnamese to officers."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

from services.courses import domain
from shared.events import new_event
from shared.localtime import local_today
from tests.unit.apps import deliver
from tests.unit.courses.factories import (API_AUTH, MON, confirmed_course, enroll, event, make_course,
                                          make_lecturer, make_trainee, make_venue, ok, outbox, schedule)
from tests.unit.courses.test_enrollment import plan_event


def registry_event(event_type: str, cs_id: str, **overrides) -> str:
    """The body of a needs registry event, built now (its occurred_at is the time of building)."""
    payload = {"civil_servant_id": cs_id, "code": "TB-OOO-1", "unit_code": "TB-X-TANLOC", "commune_code": "CM-TANLOC",
               "position_code": "VHXH", "female": False, "ethnic_minority": False, "hard_area": False,
               "child_under_36_months": False, **overrides}
    if event_type == "needs.civil_servant_updated":
        payload.setdefault("employment_status", "active")
    if event_type == "needs.civil_servant_left":
        payload = {k: payload[k] for k in ("civil_servant_id", "code", "unit_code", "commune_code")}
        payload.update(left_on=date(2026, 3, 1), reason="resigned")
    return new_event(event_type, payload, producer="needs")[1]


def trainee_view(client, cs_id: str) -> dict:
    return next(t for t in ok(client.get("/api/v1/trainees", headers=API_AUTH)) if t["civil_servant_id"] == cs_id)


# --- order of events ---------------------------------------------------------------------------------------------

def test_a_registration_arriving_after_a_newer_update_does_not_undo_it(client):
    cs_id = str(uuid.uuid4())
    registered = registry_event("needs.civil_servant_registered", cs_id, commune_code="CM-TANLOC")
    updated = registry_event("needs.civil_servant_updated", cs_id, commune_code="CM-BIENBACH")
    deliver(client.application, updated)
    deliver(client.application, registered)  # redelivered late
    assert trainee_view(client, cs_id)["commune_code"] == "CM-BIENBACH"


def test_an_update_from_before_leaving_arriving_late_does_not_reactivate_the_civil_servant(client):
    cs_id = str(uuid.uuid4())
    deliver(client.application, registry_event("needs.civil_servant_registered", cs_id))
    stale = registry_event("needs.civil_servant_updated", cs_id, employment_status="active")
    deliver(client.application, registry_event("needs.civil_servant_left", cs_id))
    deliver(client.application, stale)
    assert trainee_view(client, cs_id)["employment_status"] == "left"
    course = make_course(client)
    resp = client.post(f"/api/v1/courses/{course['id']}/enrollments", json={"civil_servant_ids": [cs_id]},
                       headers=API_AUTH)
    assert resp.status_code == 422


def test_leaving_withdraws_with_the_reason_in_vietnamese(client):
    course = make_course(client)
    cs_id = make_trainee(client)
    enroll(client, course["id"], [cs_id])
    deliver(client.application, registry_event("needs.civil_servant_left", cs_id))
    [row] = ok(client.get(f"/api/v1/courses/{course['id']}/enrollments", headers=API_AUTH))
    assert (row["status"], row["status_reason"]) == ("withdrawn", "Công chức nghỉ việc từ 01/03/2026 (thôi việc).")


def test_an_older_evaluation_arriving_late_does_not_replace_a_lecturers_newer_rating(client):
    lecturer = make_lecturer(client)

    def evaluated(day: int, mean: float) -> None:
        event(client, "evaluation.course_evaluated", {
            "course_id": "c1", "evaluated_at": datetime(2026, 4, day, tzinfo=timezone.utc), "request_count": 10,
            "valid_responses": 8, "response_rate": 0.8, "general_index": mean, "band": "good",
            "lecturer_scores": [{"lecturer_id": lecturer["id"], "mean": mean, "band": "good", "responses": 8}]},
              producer="evaluation")

    evaluated(20, 9.0)
    evaluated(1, 4.0)  # an earlier evaluation of the same course, delivered late
    got = ok(client.get(f"/api/v1/lecturers/{lecturer['id']}"))
    assert (got["average_rating"], got["rating_count"]) == (9.0, 1)


# --- plan lines sharing a prefix ---------------------------------------------------------------------------------

def test_plan_lines_whose_ids_share_a_prefix_each_become_a_course_with_its_own_code(client):
    make_course(client, code="KH2026-LINE-000")  # an officer's own course holding the short code
    lines = [{"line_id": f"line-000{i}", "topic_code": "KN-CNTT", "unit_code": "CM-TANLOC", "headcount": 5,
              "candidates": []} for i in (1, 2)]
    plan_event(client, lines)
    plan_event(client, lines)  # re-approved: nothing more
    drafts = ok(client.get("/api/v1/courses", query_string={"status": "draft"}))
    proposed = {c["plan_line_id"]: c["code"] for c in drafts if c["plan_line_id"]}
    assert set(proposed) == {"line-0001", "line-0002"}
    assert len(set(proposed.values()) | {"KH2026-LINE-000"}) == 3
    assert all(len(code) <= 40 for code in proposed.values())


# --- odd input -----------------------------------------------------------------------------------------------------

def test_a_session_in_year_one_is_422_naming_the_date_not_500(client):
    course = make_course(client)
    lecturer = course["sessions"][0]["lecturer"]["id"]
    resp = client.post(f"/api/v1/courses/{course['id']}/sessions", headers=API_AUTH, json={"sessions": [
        {"date": "0001-01-01", "buoi": "morning", "lecturer_id": lecturer, "start_time": "06:00"}]})
    assert resp.status_code == 422, resp.data
    assert resp.get_json()["errors"]["json"]["sessions"]["0"]["date"] == ["Ngày phải trong khoảng 2000–2100."]


def test_a_huge_minimum_capacity_is_422_not_500(client):
    resp = client.get("/api/v1/venues?min_capacity=99999999999999999999")
    assert resp.status_code == 422 and "min_capacity" in resp.get_json()["errors"]["query"]


def test_a_calendar_ending_before_it_starts_is_422_naming_to(client):
    venue = make_venue(client)
    resp = client.get(f"/api/v1/calendar/venues/{venue['id']}?from=2026-05-01&to=2026-01-01")
    assert resp.status_code == 422 and "to" in resp.get_json()["errors"]["query"]


# --- Vietnamese for officers ---------------------------------------------------------------------------------------

def test_a_refusal_names_the_course_state_in_vietnamese_not_its_code(client):
    course = make_course(client)
    ok(client.post(f"/api/v1/courses/{course['id']}/cancel", json={"reason": "Thiếu học viên"}, headers=API_AUTH))
    resp = client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH)
    message = resp.get_json()["message"]
    assert resp.status_code == 409 and "«đã hủy»" in message and "cancelled" not in message


def test_a_repeated_session_names_the_buoi_in_vietnamese(client):
    lecturer = make_lecturer(client)
    resp = client.post("/api/v1/courses", headers=API_AUTH, json={
        "code": "K-DUP", "title": "Lớp thử", "organizer_unit_code": "CM-THOIBINH", "sessions": [
            {"date": "2026-04-01", "buoi": "morning", "lecturer_id": lecturer["id"]},
            {"date": "2026-04-01", "buoi": "morning", "lecturer_id": lecturer["id"]}]})
    assert resp.status_code == 422 and resp.get_json()["message"] == "Buổi sáng ngày 01/04/2026 bị lặp."


def test_missing_and_failed_tests_are_named_in_vietnamese():
    slots = [domain.SessionSlot("s1", MON, "morning")]
    outcome = domain.participant_outcome(slots, {"s1"}, set(), 0, [domain.Score("module", "CM06", 4.0)],
                                         {("post", None), ("module", "CM06")})
    assert set(outcome.reasons) == {"Thiếu điểm bài kiểm tra cuối khóa.", "Điểm bài kiểm tra chuyên đề CM06 4 < 5."}


def test_the_ics_feed_describes_the_course_state_in_vietnamese(client):
    course, _ = confirmed_course(client, n_trainees=1)
    lecturer_id = course["sessions"][0]["lecturer"]["id"]
    ics = client.get(f"/api/v1/calendar/lecturers/{lecturer_id}?format=ics").get_data(as_text=True)
    unfolded = ics.replace("\r\n ", "")
    assert "trạng thái lớp: đã xác nhận kinh phí" in unfolded and "confirmed;" not in unfolded


def test_today_is_the_local_date_in_ho_chi_minh_city():
    assert local_today(datetime(2026, 3, 1, 17, 0, tzinfo=timezone.utc)) == date(2026, 3, 2)
    assert local_today(datetime(2026, 3, 1, 16, 59, tzinfo=timezone.utc)) == date(2026, 3, 1)


# --- lecturer standards as versioned data ---------------------------------------------------------------------------

def test_operators_add_a_lecturer_standard_version_and_scheduling_applies_the_one_in_force(client):
    standard = {"min_degree": "master", "require_pedagogy": True, "min_years_experience": 5,
                "legal_basis": "QĐ 12/2026/QĐ-UBND (mẫu)", "valid_from": "2026-01-01"}
    # the stricter version from 2026 supersedes the shipped open-ended sample (closed the day before)
    ok(client.post("/api/v1/rules/lecturer-standards", json=standard, headers=API_AUTH), 201)
    versions = ok(client.get("/api/v1/rules/lecturer-standards", headers=API_AUTH))
    assert [(v["min_degree"], v["valid_from"], v["valid_to"]) for v in versions] == [
        ("bachelor", "2017-09-01", "2025-12-31"), ("master", "2026-01-01", None)]
    again = client.post("/api/v1/rules/lecturer-standards", json=standard, headers=API_AUTH)
    assert again.status_code == 409 and "valid_from" in again.get_json()["errors"]["json"]
    bachelor = make_lecturer(client, degree="bachelor", years_experience=10)
    course = make_course(client, bachelor)
    resp = client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH)
    assert resp.status_code == 422 and "master" in resp.get_json()["message"]
    assert outbox(client, "courses.course_scheduled") == []
    early = make_course(client, bachelor, start=date(2025, 12, 1))
    assert schedule(client, early["id"])["status"] == "scheduled"


def test_a_lecturer_standard_ending_before_it_starts_is_422_naming_valid_to(client):
    resp = client.post("/api/v1/rules/lecturer-standards", headers=API_AUTH, json={
        "min_degree": "bachelor", "legal_basis": "x", "valid_from": "2030-01-01", "valid_to": "2029-01-01"})
    assert resp.status_code == 422 and "valid_to" in resp.get_json()["errors"]["json"]


def test_a_session_in_a_smaller_room_than_the_course_venue_caps_the_seats(client):
    hall, small_room = make_venue(client, capacity=60), make_venue(client, capacity=2)
    course = make_course(client, venue=hall)
    lecturer = course["sessions"][0]["lecturer"]["id"]
    ok(client.post(f"/api/v1/courses/{course['id']}/sessions", headers=API_AUTH, json={"sessions": [
        {"date": "2026-03-04", "buoi": "morning", "lecturer_id": lecturer, "venue_id": small_room["id"]}]}), 201)
    got = enroll(client, course["id"], [make_trainee(client) for _ in range(3)])
    assert (got["enrolled"], got["waitlisted"]) == (2, 1)


def test_officers_add_a_topic_and_courses_on_it_take_its_first_fostering_type(client):
    topic = {"code": "KN-CDS", "name": "Kỹ năng chuyển đổi số cấp xã", "content_area": "digital",
             "competency_codes": ["CM06"], "fostering_types": ["job_position"]}
    ok(client.post("/api/v1/topics", json=topic, headers=API_AUTH), 201)
    again = client.post("/api/v1/topics", json=topic, headers=API_AUTH)
    assert again.status_code == 409 and "code" in again.get_json()["errors"]["json"]
    bad = client.post("/api/v1/topics", json={**topic, "code": "KN-X", "fostering_types": ["weekly"]},
                      headers=API_AUTH)
    assert bad.status_code == 422 and "fostering_types" in bad.get_json()["errors"]["json"]
    assert "KN-CDS" in {t["code"] for t in ok(client.get("/api/v1/topics"))}
    course = make_course(client, topic_code="KN-CDS", fostering_type=None)
    assert course["fostering_type"] == "job_position"


def test_a_course_created_on_a_topic_without_a_fostering_type_still_meets_the_length_cap(client):
    course = make_course(client, topic_code="KN-VANBAN", fostering_type=None, days=6)
    assert course["fostering_type"] == "job_position"
    resp = client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH)
    assert resp.status_code == 422 and "vượt mức tối đa 5 ngày" in resp.get_json()["message"]
