"""Calendars (JSON and iCalendar) per commune, lecturer and venue; the printable class list and attendance sheet;
lecturers' standards, ratings from evaluation and the suggestion order; topics."""
import io
import uuid
from datetime import datetime, timezone

from icalendar import Calendar
from openpyxl import load_workbook

from tests.unit.courses.factories import (
    API_AUTH, MON, confirmed_course, enroll, event, make_course, make_lecturer, make_trainees, make_venue, ok,
    schedule)


def test_topics_are_seeded_with_their_competencies(client):
    topics = {t["code"]: t for t in ok(client.get("/api/v1/topics"))}
    assert len(topics) == 11
    assert topics["KN-CNTT"]["competency_codes"] == ["CM06"] and topics["LLCT-SOCAP"]["content_area"] == \
        "political_theory"


def test_lecturer_calendar_as_ics_has_one_event_per_session_in_utc(client):
    lecturer = make_lecturer(client, name="TS. Lê Minh Khoa")
    course = make_course(client, lecturer=lecturer)
    schedule(client, course["id"])
    resp = client.get(f"/api/v1/calendar/lecturers/{lecturer['id']}", query_string={"format": "ics"})
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    cal = Calendar.from_ical(resp.data)
    events = [c for c in cal.walk("VEVENT")]
    assert len(events) == 4
    first = sorted(events, key=lambda e: e.decoded("dtstart"))[0]
    assert first.decoded("dtstart") == datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc)  # 07:30 in Cà Mau
    assert course["code"] in str(first.get("summary")) and str(first.get("status")) == "TENTATIVE"


def test_drafts_are_not_in_calendars(client):
    lecturer = make_lecturer(client)
    make_course(client, lecturer=lecturer)
    assert ok(client.get(f"/api/v1/calendar/lecturers/{lecturer['id']}")) == []


def test_commune_calendar_lists_courses_its_staff_attend_with_their_number(client):
    course, _ = confirmed_course(client, 3)  # trainees of CM-TANLOC
    rows = ok(client.get("/api/v1/calendar/communes/CM-TANLOC"))
    assert len(rows) == 4 and {r["trainees_from_commune"] for r in rows} == {3}
    assert rows[0]["status"] == "confirmed" and rows[0]["venue_name"]
    assert ok(client.get("/api/v1/calendar/communes/CM-HOTHIKY")) == []


def test_venue_calendar_filters_by_dates(client):
    venue = make_venue(client)
    schedule(client, make_course(client, venue=venue)["id"])
    rows = ok(client.get(f"/api/v1/calendar/venues/{venue['id']}", query_string={"from": "2026-03-03"}))
    assert {r["date"] for r in rows} == {"2026-03-03"}


def test_unknown_lecturer_calendar_is_404(client):
    assert client.get(f"/api/v1/calendar/lecturers/{uuid.uuid4()}").status_code == 404


def test_class_list_xlsx_has_a_signature_column_and_one_row_per_trainee(client):
    course, ids = confirmed_course(client, 3)
    resp = client.get(f"/api/v1/courses/{course['id']}/class-list", headers=API_AUTH)
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(resp.data)).active
    rows = [r for r in sheet.iter_rows(values_only=True) if any(r)]
    assert course["code"] in rows[0][0]
    assert rows[1] == ("STT", "Mã công chức", "Đơn vị", "Xã", "Vị trí việc làm", "Ký tên")
    assert [r[0] for r in rows[2:5]] == [1, 2, 3]


def test_attendance_sheet_csv_has_one_column_per_session_with_marks(client):
    course, (a, b) = confirmed_course(client, 2)
    first = course["sessions"][0]["id"]
    ok(client.post(f"/api/v1/courses/{course['id']}/attendance", headers=API_AUTH, json={"records": [
        {"session_id": first, "civil_servant_id": a, "present": True},
        {"session_id": first, "civil_servant_id": b, "present": False, "excused": True}]}), 201)
    resp = client.get(f"/api/v1/courses/{course['id']}/attendance-sheet", query_string={"format": "csv"},
                      headers=API_AUTH)
    lines = resp.data.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[5:] == ["02/03 sáng", "02/03 chiều", "03/03 sáng", "03/03 chiều"]
    assert sorted(line.split(",")[5] for line in lines[1:]) == ["P", "x"]


def test_documents_need_the_token(client):
    course, _ = confirmed_course(client, 1)
    assert client.get(f"/api/v1/courses/{course['id']}/class-list").status_code == 401


def evaluated(client, course_id, lecturer_id, mean):
    event(client, "evaluation.course_evaluated", {
        "course_id": course_id, "evaluated_at": datetime(2026, 4, 1, tzinfo=timezone.utc), "request_count": 10,
        "valid_responses": 8, "response_rate": 0.8, "general_index": mean, "band": "good",
        "lecturer_scores": [{"lecturer_id": lecturer_id, "mean": mean, "band": "good", "responses": 8}]},
          producer="evaluation")


def test_course_evaluated_records_ratings_and_the_average_is_shown(client):
    lecturer = make_lecturer(client)
    evaluated(client, "c1", lecturer["id"], 8.0)
    evaluated(client, "c2", lecturer["id"], 9.0)
    evaluated(client, "c2", lecturer["id"], 9.0)  # the same course again replaces, not duplicates
    got = ok(client.get(f"/api/v1/lecturers/{lecturer['id']}"))
    assert (got["average_rating"], got["rating_count"], len(got["ratings"])) == (8.5, 2, 2)


def test_lecturer_suggestions_put_available_then_best_rated_first(client):
    busy = make_lecturer(client, name="A bận", topic_codes=["KN-CNTT"])
    good = make_lecturer(client, name="B giỏi", topic_codes=["KN-CNTT"])
    fair = make_lecturer(client, name="C khá", topic_codes=["KN-CNTT", "KN-VANBAN"])
    make_lecturer(client, name="D khác chuyên đề", topic_codes=["KN-VANBAN"])
    evaluated(client, "c1", busy["id"], 9.8)
    evaluated(client, "c2", good["id"], 9.0)
    evaluated(client, "c3", fair["id"], 7.0)
    schedule(client, make_course(client, lecturer=busy)["id"])
    got = ok(client.get("/api/v1/lecturers", query_string={"topic": "KN-CNTT", "date": MON.isoformat(),
                                                           "buoi": "morning"}))
    assert [(x["name"], x["available"]) for x in got] == [("B giỏi", True), ("C khá", True), ("A bận", False)]


def test_lecturer_standard_is_shown_on_the_lecturer(client):
    weak = make_lecturer(client, degree=None, pedagogy_certificate=False, years_experience=None)
    got = ok(client.get(f"/api/v1/lecturers/{weak['id']}"))
    assert got["meets_standard"] is False and len(got["standard_problems"]) == 3


def test_lecturer_with_an_unknown_topic_is_422(client):
    resp = client.post("/api/v1/lecturers", json={"name": "X", "tier": 3, "topic_codes": ["NOPE"]},
                       headers=API_AUTH)
    assert resp.status_code == 422 and "topic_codes" in resp.get_json()["errors"]["json"]


def test_venue_with_a_commune_listed_twice_is_422_naming_it(client):
    resp = client.post("/api/v1/venues", headers=API_AUTH, json={
        "name": "Hội trường", "address": "Xã Thới Bình", "capacity": 40,
        "distances": [{"commune_code": "CM-TANLOC", "km": 10}, {"commune_code": "CM-TANLOC", "km": 12}]})
    assert resp.status_code == 422 and "distances.1.commune_code" in resp.get_json()["errors"]["json"]


def test_enrollment_list_needs_the_token(client):
    course = make_course(client)
    enroll(client, course["id"], make_trainees(client, 1))
    assert client.get(f"/api/v1/courses/{course['id']}/enrollments").status_code == 401
