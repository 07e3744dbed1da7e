"""Conflict detection through the scheduling use cases: a trainee, a lecturer or a venue booked twice, a commune
losing more than its share of staff on one day; changing a session re-checks; drafts and cancelled courses book
nothing."""
from tests.unit.courses.factories import (
    API_AUTH, MON, enroll, make_course, make_lecturer, make_trainees, make_venue, ok, outbox, schedule)


def conflict(resp) -> str:
    assert resp.status_code == 409, resp.get_data(as_text=True)
    body = resp.get_json()
    return body["message"]


def test_lecturer_booked_twice_is_refused_naming_the_other_session(client):
    lecturer = make_lecturer(client, name="TS. Lê Minh Khoa")
    first = make_course(client, lecturer=lecturer, code="K-FIRST")
    schedule(client, first["id"])
    second = make_course(client, lecturer=lecturer, code="K-SECOND")
    message = conflict(client.post(f"/api/v1/courses/{second['id']}/schedule", headers=API_AUTH))
    assert "TS. Lê Minh Khoa" in message and "K-FIRST" in message and first["sessions"][0]["id"] in message
    assert ok(client.get(f"/api/v1/courses/{second['id']}"))["status"] == "draft"
    assert len(outbox(client, "courses.course_scheduled")) == 1


def test_venue_booked_twice_is_refused(client):
    venue = make_venue(client, name="Hội trường UBND xã Thới Bình")
    schedule(client, make_course(client, venue=venue, code="K-A")["id"])
    second = make_course(client, venue=venue)
    assert "Hội trường UBND xã Thới Bình" in conflict(client.post(f"/api/v1/courses/{second['id']}/schedule",
                                                                  headers=API_AUTH))


def test_trainee_booked_twice_is_refused_naming_the_trainee_code(client):
    [cs] = make_trainees(client, 1)
    first = make_course(client, code="K-ONE")
    enroll(client, first["id"], [cs])
    schedule(client, first["id"])
    second = make_course(client)
    enroll(client, second["id"], [cs])  # a draft books nothing: enrolling is fine
    message = conflict(client.post(f"/api/v1/courses/{second['id']}/schedule", headers=API_AUTH))
    assert "Học viên TB-" in message and "K-ONE" in message


def test_enrolling_into_a_booked_course_a_trainee_already_busy_is_refused_whole(client):
    busy, free = make_trainees(client, 2)
    first = make_course(client, code="K-BUSY")
    enroll(client, first["id"], [busy])
    schedule(client, first["id"])
    second = make_course(client)
    schedule(client, second["id"])
    message = conflict(client.post(f"/api/v1/courses/{second['id']}/enrollments",
                                   json={"civil_servant_ids": [free, busy]}, headers=API_AUTH))
    assert "K-BUSY" in message
    assert ok(client.get(f"/api/v1/courses/{second['id']}"))["enrolled"] == 0  # nothing half-applied


def test_the_other_buoi_of_the_same_day_is_free(client):
    lecturer = make_lecturer(client)
    morning = [{"date": MON.isoformat(), "buoi": "morning", "lecturer_id": lecturer["id"]}]
    afternoon = [{"date": MON.isoformat(), "buoi": "afternoon", "lecturer_id": lecturer["id"]}]
    schedule(client, make_course(client, lecturer=lecturer, sessions=morning)["id"])
    assert schedule(client, make_course(client, lecturer=lecturer, sessions=afternoon)["id"])["status"] == "scheduled"


def test_a_cancelled_course_frees_its_lecturer(client):
    lecturer = make_lecturer(client)
    first = make_course(client, lecturer=lecturer)
    schedule(client, first["id"])
    ok(client.post(f"/api/v1/courses/{first['id']}/cancel", json={"reason": "Hoãn"}, headers=API_AUTH))
    assert schedule(client, make_course(client, lecturer=lecturer)["id"])["status"] == "scheduled"


def test_moving_a_session_onto_a_busy_lecturer_is_refused_and_changes_nothing(client):
    lecturer = make_lecturer(client)
    schedule(client, make_course(client, lecturer=lecturer, code="K-BUSY")["id"])  # Mon and Tue
    later = make_course(client, lecturer=lecturer, start=MON.replace(day=MON.day + 7))
    schedule(client, later["id"])
    target = later["sessions"][0]
    message = conflict(client.patch(f"/api/v1/courses/{later['id']}/sessions/{target['id']}",
                                    json={"date": MON.isoformat()}, headers=API_AUTH))
    assert "K-BUSY" in message
    after = ok(client.get(f"/api/v1/courses/{later['id']}"))
    assert (after["sessions"][0]["date"], after["revision"]) == (target["date"], 1)


def test_moving_a_session_to_a_free_slot_reschedules_with_a_new_revision(client):
    course = make_course(client)
    schedule(client, course["id"])
    target = course["sessions"][0]
    out = ok(client.patch(f"/api/v1/courses/{course['id']}/sessions/{target['id']}",
                          json={"date": "2026-03-04"}, headers=API_AUTH))
    assert out["revision"] == 2 and "2026-03-04" in [s["date"] for s in out["sessions"]]
    assert outbox(client, "courses.course_scheduled")[-1]["revision"] == 2


def test_adding_a_session_that_clashes_is_refused(client):
    lecturer = make_lecturer(client)
    schedule(client, make_course(client, lecturer=lecturer, code="K-X")["id"])
    other = make_course(client, start=MON.replace(day=MON.day + 7))
    schedule(client, other["id"])
    resp = client.post(f"/api/v1/courses/{other['id']}/sessions", headers=API_AUTH, json={"sessions": [
        {"date": MON.isoformat(), "buoi": "morning", "lecturer_id": lecturer["id"]}]})
    assert "K-X" in conflict(resp)


def test_conflict_preview_lists_each_conflict_with_both_sessions(client):
    lecturer = make_lecturer(client)
    first = make_course(client, lecturer=lecturer)
    schedule(client, first["id"])
    second = make_course(client, lecturer=lecturer)
    found = ok(client.get(f"/api/v1/courses/{second['id']}/conflicts", headers=API_AUTH))
    assert len(found) == 4 and {c["kind"] for c in found} == {"lecturer"}
    assert {c["other_session_id"] for c in found} == {s["id"] for s in first["sessions"]}


def test_commune_losing_more_than_its_share_on_a_day_is_refused(strict_client):
    client = strict_client  # the shipped default: at most 30 % of a commune's staff away on one day
    ids = make_trainees(client, 10, commune="CM-HOTHIKY")
    course = make_course(client)
    enroll(client, course["id"], ids[:4])
    message = conflict(client.post(f"/api/v1/courses/{course['id']}/schedule", headers=API_AUTH))
    assert "CM-HOTHIKY" in message and "4/10" in message and "30 %" in message


def test_commune_share_counts_every_booked_course_that_day(strict_client):
    client = strict_client
    ids = make_trainees(client, 10, commune="CM-HOTHIKY")
    first = make_course(client)
    enroll(client, first["id"], ids[:2])
    schedule(client, first["id"])
    second = make_course(client, start=MON, days=1)
    enroll(client, second["id"], ids[2:4])
    assert "4/10" in conflict(client.post(f"/api/v1/courses/{second['id']}/schedule", headers=API_AUTH))


def test_commune_share_is_configurable_per_commune(strict_client):
    client = strict_client
    ok(client.post("/api/v1/rules/duty-shares", json={"commune_code": "CM-HOTHIKY", "max_absent_percent": 50,
                                                     "note": "Xã đông công chức"}, headers=API_AUTH))
    ids = make_trainees(client, 10, commune="CM-HOTHIKY")
    course = make_course(client)
    enroll(client, course["id"], ids[:4])
    assert schedule(client, course["id"])["status"] == "scheduled"


def test_a_trainee_in_two_courses_on_one_day_is_counted_once_for_the_share(strict_client):
    client = strict_client
    ids = make_trainees(client, 10, commune="CM-HOTHIKY")
    lecturer = make_lecturer(client)
    morning = make_course(client, lecturer=lecturer, sessions=[{"date": MON.isoformat(), "buoi": "morning",
                                                                 "lecturer_id": lecturer["id"]}])
    enroll(client, morning["id"], ids[:3])
    schedule(client, morning["id"])
    afternoon = make_course(client, lecturer=lecturer, sessions=[{"date": MON.isoformat(), "buoi": "afternoon",
                                                                   "lecturer_id": lecturer["id"]}])
    enroll(client, afternoon["id"], ids[:3])
    assert schedule(client, afternoon["id"])["status"] == "scheduled"


def test_a_clash_on_the_enrollment_endpoint_names_civil_servant_ids(client):
    [cs] = make_trainees(client, 1)
    first = make_course(client)
    enroll(client, first["id"], [cs])
    schedule(client, first["id"])
    second = make_course(client)
    schedule(client, second["id"])
    resp = client.post(f"/api/v1/courses/{second['id']}/enrollments", json={"civil_servant_ids": [cs]},
                       headers=API_AUTH)
    assert resp.status_code == 409 and "civil_servant_ids" in resp.get_json()["errors"]["json"]


def test_scheduling_several_courses_at_once_is_all_or_nothing(client):
    lecturer = make_lecturer(client)
    a = make_course(client, lecturer=lecturer, code="K-BATCH-A")
    b = make_course(client, lecturer=lecturer, code="K-BATCH-B")  # the same lecturer on the same days
    resp = client.post("/api/v1/courses/schedule", json={"course_ids": [a["id"], b["id"]]}, headers=API_AUTH)
    assert "K-BATCH-B" in conflict(resp) and "K-BATCH-A" in resp.get_json()["message"]
    assert outbox(client, "courses.course_scheduled") == []
    c = make_course(client, lecturer=lecturer, start=MON.replace(day=MON.day + 7))
    out = ok(client.post("/api/v1/courses/schedule", json={"course_ids": [a["id"], c["id"]]}, headers=API_AUTH))
    assert [x["status"] for x in out] == ["scheduled", "scheduled"]
    assert len(outbox(client, "courses.course_scheduled")) == 2


def test_batch_scheduling_an_unknown_course_is_404_naming_it(client):
    a = make_course(client)
    resp = client.post("/api/v1/courses/schedule", json={"course_ids": [a["id"], "nope"]}, headers=API_AUTH)
    assert resp.status_code == 404 and "course_ids.1" in resp.get_json()["errors"]["json"]
