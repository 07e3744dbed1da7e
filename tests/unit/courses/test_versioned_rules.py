"""Versioned course rules (on-duty share, buổi times, pass score, tiết per buổi): the version in force on the
session or course date applies, a later version supersedes an open-ended one; roster changes of a booked course ask
funding again; reorganisations remap the organiser; the conflicts preview needs the token."""
from __future__ import annotations

from datetime import date

import pytest

from services.courses.models import CommuneDutyRule
from tests.events import make_civil_servant_left, make_units_reorganised
from tests.unit.apps import deliver
from tests.unit.courses.factories import (
    API_AUTH, MON, confirmed_course, enroll, make_course, make_trainees, ok, outbox, reject,
    reserve, schedule)
from tests.unit.courses.test_attendance_results import attend, complete, scores

APRIL = date(2026, 4, 6)  # a Monday


def rule(client, path: str, body: dict, status: int):
    return ok(client.post(f"/api/v1/rules/{path}", json=body, headers=API_AUTH), status)


# --- commune on-duty share ---------------------------------------------------------------------------------------

@pytest.mark.usefixtures("backend")  # rule versions by date
def test_a_communes_share_applies_only_on_the_dates_its_version_covers(strict_client):
    client = strict_client  # shipped default: 30 %
    rule(client, "duty-shares", {"commune_code": "CM-HOTHIKY", "max_absent_percent": 50, "note": "QĐ 7/2026 (thử)",
                                "valid_from": "2026-03-03"}, 200)
    ids = make_trainees(client, 10, commune="CM-HOTHIKY")
    course = make_course(client)  # 02/03 and 03/03
    enroll(client, course["id"], ids[:4])
    resp = client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH)
    message = resp.get_json()["message"]
    assert resp.status_code == 409 and "02/03/2026" in message and "03/03/2026" not in message
    later = make_course(client, start=date(2026, 3, 3), days=1)
    enroll(client, later["id"], ids[:4])
    assert schedule(client, later["id"])["status"] == "scheduled"


@pytest.mark.usefixtures("backend")  # rule versions by date
def test_a_dated_default_share_supersedes_the_open_ended_sample(strict_client):
    client = strict_client
    rule(client, "duty-shares", {"commune_code": "*", "max_absent_percent": 40, "note": "Chỉ đạo của UBND tỉnh",
                                "valid_from": "2026-01-01"}, 200)
    versions = [(r["max_absent_percent"], r["valid_from"], r["valid_to"], r["is_sample"])
                for r in ok(client.get("/api/v1/rules/duty-shares", headers=API_AUTH)) if r["commune_code"] == "*"]
    assert versions == [(30, "2017-09-01", "2025-12-31", True), (40, "2026-01-01", None, False)]
    same_day = client.post("/api/v1/rules/duty-shares", headers=API_AUTH, json={
        "commune_code": "*", "max_absent_percent": 50, "note": "x", "valid_from": "2026-01-01"})
    assert same_day.status_code == 409 and "valid_from" in same_day.get_json()["errors"]["json"]
    ids = make_trainees(client, 10, commune="CM-HOTHIKY")
    course = make_course(client)
    enroll(client, course["id"], ids[:4])
    assert schedule(client, course["id"])["status"] == "scheduled"  # 4/10 ≤ 40 %


@pytest.mark.usefixtures("backend")  # rule versions by date
def test_a_share_without_a_date_corrects_the_current_version(strict_client):
    client = strict_client
    rule(client, "duty-shares", {"commune_code": "*", "max_absent_percent": 35, "note": "sửa"}, 200)
    [only] = ok(client.get("/api/v1/rules/duty-shares", headers=API_AUTH))
    assert (only["max_absent_percent"], only["valid_from"], only["valid_to"], only["is_sample"]) == (
        35, "2017-09-01", None, False)


def test_an_end_date_without_a_start_date_is_422_naming_valid_from(client):
    resp = client.post("/api/v1/rules/duty-shares", headers=API_AUTH, json={
        "commune_code": "*", "max_absent_percent": 50, "note": "x", "valid_to": "2026-12-31"})
    assert resp.status_code == 422 and "valid_from" in resp.get_json()["errors"]["json"]


# --- buổi times -------------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("backend")  # rule versions by date
def test_buoi_times_of_the_session_date_apply(client):
    rule(client, "buoi-times", {"buoi": "morning", "start_local": "08:00", "end_local": "11:30",
                                "note": "Giờ làm việc mùa hè (QĐ thử)", "valid_from": "2026-04-01"}, 200)
    march, april = make_course(client, days=1), make_course(client, start=APRIL, days=1)
    assert march["sessions"][0]["local_time"] == "07:30–11:30"
    assert april["sessions"][0]["local_time"] == "08:00–11:30"
    mornings = [(r["start_local"], r["valid_from"], r["valid_to"]) for r in
                ok(client.get("/api/v1/rules/buoi-times", headers=API_AUTH)) if r["buoi"] == "morning"]
    assert mornings == [("07:30", "2017-09-01", "2026-03-31"), ("08:00", "2026-04-01", None)]


def test_buoi_times_crossing_noon_are_422_naming_end_local(client):
    resp = client.post("/api/v1/rules/buoi-times", headers=API_AUTH, json={
        "buoi": "afternoon", "start_local": "11:00", "end_local": "17:00", "valid_from": "2026-04-01"})
    assert resp.status_code == 422 and "end_local" in resp.get_json()["errors"]["json"]


# --- pass score and tiết per buổi -----------------------------------------------------------------------------------

@pytest.mark.usefixtures("backend")  # rule versions by date
def test_the_pass_score_in_force_when_the_course_opens_decides_the_certificate(client):
    rule(client, "course-rules", {"key": "pass_score", "value": 6, "legal_basis": "Quy chế mới (thử)",
                                  "valid_from": "2026-04-01"}, 201)
    for start, certified in ((MON, True), (APRIL, False)):
        course, (a,) = confirmed_course(client, 1, start=start)
        attend(client, course, [a])
        scores(client, course, [(a, "post", "CM06", 5.5)])
        [row] = ok(client.get(f"/api/v1/courses/{course['id']}/enrollments", headers=API_AUTH))
        assert row["certified"] is certified
        parts, _ = complete(client, course)
        assert parts[a]["certified"] is certified
    assert row["outcome_reasons"] == ["Điểm bài kiểm tra cuối khóa CM06 5.5 < 6."]


@pytest.mark.usefixtures("backend")  # rule versions by date
def test_default_periods_per_buoi_follow_the_version_of_the_session_date(client):
    rule(client, "course-rules", {"key": "periods_per_buoi", "value": 5, "legal_basis": "Định mức cũ (thử)",
                                  "valid_from": "2026-04-01"}, 201)
    march, april = make_course(client, days=1), make_course(client, start=APRIL, days=1)
    assert {s["periods"] for s in march["sessions"]} == {4} and {s["periods"] for s in april["sessions"]} == {5}
    versions = [(r["key"], r["value"], r["valid_to"]) for r in ok(client.get("/api/v1/rules/course-rules",
                                                                             headers=API_AUTH))]
    assert versions == [("pass_score", 5.0, None), ("periods_per_buoi", 4.0, "2026-03-31"),
                        ("periods_per_buoi", 5.0, None)]


def test_a_fractional_number_of_periods_is_422_naming_value(client):
    resp = client.post("/api/v1/rules/course-rules", headers=API_AUTH, json={
        "key": "periods_per_buoi", "value": 4.5, "legal_basis": "x", "valid_from": "2026-04-01"})
    assert resp.status_code == 422 and "value" in resp.get_json()["errors"]["json"]


# --- roster changes of a booked course -------------------------------------------------------------------------------

def revisions(client, course_id) -> list[tuple[int, int]]:
    return [(p["revision"], len(p["planned_trainees"])) for p in outbox(client, "courses.course_scheduled")
            if p["course_id"] == course_id]


def test_enrolling_into_a_confirmed_course_asks_funding_again_in_one_revision(client):
    course, ids = confirmed_course(client, 2)
    enroll(client, course["id"], make_trainees(client, 2))
    assert revisions(client, course["id"]) == [(1, 2), (2, 4)]
    got = ok(client.get(f"/api/v1/courses/{course['id']}"))
    assert (got["status"], got["revision"]) == ("confirmed", 2)  # confirmed until funding answers
    reserve(client, course["id"], 1)  # a late answer for the old roster changes nothing
    reserve(client, course["id"], 2)
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["status"] == "confirmed"


def test_a_rejected_new_roster_moves_the_course_to_awaiting_funds_with_the_reason(client):
    course, _ = confirmed_course(client, 1)
    enroll(client, course["id"], make_trainees(client, 1))
    reject(client, course["id"], 2, reason="Dòng kinh phí của xã còn thiếu 150.000 ₫.")
    got = ok(client.get(f"/api/v1/courses/{course['id']}"))
    assert (got["status"], got["status_reason"]) == ("awaiting_funds", "Dòng kinh phí của xã còn thiếu 150.000 ₫.")


def test_a_withdrawal_and_the_promotion_it_causes_make_one_revision(client):
    course, ids = confirmed_course(client, 2, capacity=2)
    waiting = make_trainees(client, 1)
    assert enroll(client, course["id"], waiting)["waitlisted"] == 1
    assert revisions(client, course["id"]) == [(1, 2)]  # only the waitlist changed: funding is not asked
    ok(client.post(f"/api/v1/courses/{course['id']}/enrollments/{ids[0]}/withdraw", json={"reason": "Ốm"},
                   headers=API_AUTH))
    assert revisions(client, course["id"]) == [(1, 2), (2, 2)]
    [latest] = [p for p in outbox(client, "courses.course_scheduled") if p["revision"] == 2]
    assert {t["civil_servant_id"] for t in latest["planned_trainees"]} == {ids[1], waiting[0]}


def test_a_trainee_leaving_a_scheduled_course_republishes_it(client):
    course = make_course(client)
    ids = make_trainees(client, 2)
    enroll(client, course["id"], ids)
    schedule(client, course["id"])
    deliver(client.application, make_civil_servant_left(civil_servant_id=ids[0], code="TB-1", unit_code="X",
                                                        commune_code="CM-TANLOC", left_on=date(2026, 2, 1),
                                                        reason="resigned")[1])
    assert revisions(client, course["id"]) == [(1, 2), (2, 1)]


def test_roster_changes_of_a_draft_publish_nothing(client):
    course = make_course(client)
    enroll(client, course["id"], make_trainees(client, 2))
    assert outbox(client, "courses.course_scheduled") == []


# --- reorganisation, token ---------------------------------------------------------------------------------------

@pytest.mark.usefixtures("backend")  # rule versions remapped
def test_a_reorganisation_remaps_the_organiser_and_the_on_duty_versions(client):
    course = make_course(client, organizer_unit_code="TB-X-TANLOCBAC")
    rule(client, "duty-shares", {"commune_code": "TB-X-TANLOCBAC", "max_absent_percent": 60, "note": "x",
                                "valid_from": "2025-01-01"}, 200)
    # TB-X-TANLOCBAC merged into the new CM-TANLOC on 2025-07-01 (1655/NQ-UBTVQH15)
    deliver(client.application, make_units_reorganised(reorganisation_id="r2", predecessor="TB-X-TANLOCBAC",
                                                       successor="CM-TANLOC", effective=date(2025, 7, 1))[1])
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["organizer_unit_code"] == "CM-TANLOC"
    with client.application.extensions["service"].session_factory() as s:
        inherited = [(r.max_absent_percent, r.valid_from) for r in s.query(CommuneDutyRule).filter_by(
            commune_code="CM-TANLOC")]
    assert inherited == [(60, date(2025, 1, 1))]


def test_the_conflicts_preview_needs_the_api_token(client):
    course = make_course(client)
    assert client.get(f"/api/v1/courses/{course['id']}/conflicts").status_code == 401
    assert client.get(f"/api/v1/courses/{course['id']}/conflicts", headers=API_AUTH).status_code == 200


# --- editing a venue ---------------------------------------------------------------------------------------------------

def test_new_distances_of_a_venue_make_its_booked_courses_ask_funding_again(client):
    course, _ = confirmed_course(client, 2)
    venue_id = course["venue"]["id"]
    got = ok(client.patch(f"/api/v1/venues/{venue_id}", headers=API_AUTH,
                          json={"distances": [{"commune_code": "CM-TANLOC", "km": 25}]}))
    assert [(d["commune_code"], d["km"]) for d in got["distances"]] == [("CM-TANLOC", 25)]
    assert revisions(client, course["id"]) == [(1, 2), (2, 2)]
    [latest] = [p for p in outbox(client, "courses.course_scheduled") if p["revision"] == 2]
    assert latest["venue"]["distances"] == [{"commune_code": "CM-TANLOC", "km": 25}]


def test_a_venue_capacity_below_a_booked_courses_enrolment_is_409_naming_capacity(client):
    course, _ = confirmed_course(client, 3)
    resp = client.patch(f"/api/v1/venues/{course['venue']['id']}", headers=API_AUTH, json={"capacity": 2})
    assert resp.status_code == 409 and "capacity" in resp.get_json()["errors"]["json"]
    assert ok(client.patch(f"/api/v1/venues/{course['venue']['id']}", headers=API_AUTH,
                           json={"capacity": 3, "name": "Hội trường mới"}))["capacity"] == 3


def test_editing_an_unknown_venue_is_404_and_duplicate_communes_are_422(client):
    assert client.patch("/api/v1/venues/nope", headers=API_AUTH, json={"capacity": 5}).status_code == 404
    course, _ = confirmed_course(client, 1)
    twice = [{"commune_code": "CM-TANLOC", "km": 1}, {"commune_code": "CM-TANLOC", "km": 2}]
    resp = client.patch(f"/api/v1/venues/{course['venue']['id']}", headers=API_AUTH, json={"distances": twice})
    assert resp.status_code == 422 and "distances.1.commune_code" in resp.get_json()["errors"]["json"]
    assert client.patch(f"/api/v1/venues/{course['venue']['id']}", json={"capacity": 5}).status_code == 401
