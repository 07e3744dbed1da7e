"""QR check-in with a personal credential (issue 12, finding 6): a staff code marks nobody, a trainee's own link
marks only that trainee and stays pending until the officer confirms it, refused attempts are limited per client
and per session link (durably, for every worker), and only confirmed attendance counts at completion."""
from __future__ import annotations

import csv
import io
import secrets
from datetime import datetime, timedelta, timezone

import pytest

from tests.unit.apps import build_app
from tests.unit.courses.factories import API_AUTH, confirmed_course, make_venue, ok, outbox

CLIENT_LIMIT, LINK_LIMIT = 10, 20  # the shipped settings (services/courses/settings.py)


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def session_link(client, course, index=0) -> str:
    link = ok(client.get(f"/api/v1/courses/{course['id']}/sessions/{course['sessions'][index]['id']}/checkin",
                         headers=API_AUTH))
    assert len(link["url"].rsplit("/", 1)[1]) >= 32  # unguessable
    return path_of(link["url"])


def personal_links(client, course) -> dict[str, dict]:
    """civil_servant_id → {code, url (a path), qr_svg} of every enrolled trainee."""
    rows = ok(client.get(f"/api/v1/courses/{course['id']}/checkin-links", headers=API_AUTH))
    return {r["civil_servant_id"]: {**r, "url": path_of(r["url"])} for r in rows}


def at_session(clock, course, index=0, minutes=10):
    """Set the app's clock `minutes` into a session."""
    clock.at = datetime.fromisoformat(course["sessions"][index]["starts_at"]) + timedelta(minutes=minutes)


def attended(client, course) -> dict[str, int]:
    rows = ok(client.get(f"/api/v1/courses/{course['id']}/enrollments", headers=API_AUTH))
    return {r["civil_servant_id"]: r["sessions_attended"] for r in rows}


def self_checkins(client, course, index=0, **query) -> dict:
    return ok(client.get(f"/api/v1/courses/{course['id']}/sessions/{course['sessions'][index]['id']}/self-checkins",
                         query_string=query, headers=API_AUTH))


def review(client, course, decision, ids=None, index=0, status=200):
    body = {"decision": decision, **({"civil_servant_ids": ids} if ids is not None else {})}
    return ok(client.post(f"/api/v1/courses/{course['id']}/sessions/{course['sessions'][index]['id']}"
                          "/self-checkins/review", json=body, headers=API_AUTH), status)


def from_client(n: int) -> dict:
    return {"X-Real-IP": f"198.51.100.{n}"}


# --- a staff code is no credential --------------------------------------------------------------------------------

def test_111_sequential_staff_codes_posted_to_a_session_link_mark_nobody_present(backend, client, clock):
    course, ids = confirmed_course(client, 111, venue=make_venue(client, capacity=120))
    codes = sorted(t["code"] for t in ok(client.get("/api/v1/trainees", headers=API_AUTH)))
    assert len(codes) == 111 and course["status"] == "confirmed"
    at_session(clock, course)
    url = session_link(client, course)
    statuses = [client.post(url, data={"code": code}, headers=from_client(1)).status_code for code in codes]
    assert statuses == [422] * CLIENT_LIMIT + [429] * (111 - CLIENT_LIMIT)
    assert set(attended(client, course).values()) == {0}
    assert self_checkins(client, course)["items"] == []
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["status"] == "confirmed"  # nothing happened


def test_a_staff_code_is_refused_on_the_page_and_the_page_asks_for_the_personal_link(client, clock):
    course, (a,) = confirmed_course(client, 1)
    code = ok(client.get("/api/v1/trainees", headers=API_AUTH))[0]["code"]
    at_session(clock, course)
    url = session_link(client, course)
    page = client.get(url)
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html" and "<script" not in text
    assert course["code"] in text and 'name="code"' not in text and "riêng của anh/chị" in text
    resp = client.post(url, data={"code": code})
    assert resp.status_code == 422 and "Không điểm danh bằng mã công chức" in resp.get_data(as_text=True)
    assert attended(client, course) == {a: 0}


# --- each trainee's own link --------------------------------------------------------------------------------------

def test_a_trainees_own_link_marks_only_that_trainee_pending_until_confirmed(backend, client, clock):
    course, (a, b) = confirmed_course(client, 2)
    links = personal_links(client, course)
    assert set(links) == {a, b} and links[a]["url"] != links[b]["url"]
    assert len(links[a]["url"].rsplit("/", 1)[1]) >= 32
    assert client.get(f"/api/v1/courses/{course['id']}/checkin-links").status_code == 401  # personal: token only
    at_session(clock, course)
    page = client.get(links[a]["url"])
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and '<form method="post">' in text and "<script" not in text
    resp = client.post(links[a]["url"])
    assert resp.status_code == 201 and "chờ cán bộ lớp xác nhận" in resp.get_data(as_text=True)
    assert attended(client, course) == {a: 0, b: 0}  # pending: not counted
    listed = self_checkins(client, course)
    assert listed["pending"] == 1 and [(i["civil_servant_id"], i["confirmation"]) for i in listed["items"]] == [
        (a, "pending")]
    assert ok(client.get(f"/api/v1/courses/{course['id']}"))["status"] == "in_progress"
    assert client.post(links[a]["url"]).status_code == 201  # again: still one pending check-in
    assert self_checkins(client, course)["pending"] == 1

    one = ok(client.post(f"/api/v1/courses/{course['id']}/sessions/{course['sessions'][0]['id']}"
                         f"/self-checkins/{a}/review", json={"decision": "confirm"}, headers=API_AUTH))
    assert one == {"decision": "confirm", "count": 1, "pending": 0}
    assert attended(client, course) == {a: 1, b: 0}
    assert self_checkins(client, course, confirmation="confirmed")["items"][0]["reviewed_at"]
    again = client.post(links[a]["url"])
    assert again.status_code == 201 and "đã xác nhận" in again.get_data(as_text=True)


def test_the_session_link_with_a_personal_token_checks_that_trainee_in(client, clock):
    course, (a, b) = confirmed_course(client, 2)
    other, _ = confirmed_course(client, 1)
    token = personal_links(client, course)[a]["url"].rsplit("/", 1)[1]
    foreign = next(iter(personal_links(client, other).values()))["url"].rsplit("/", 1)[1]
    at_session(clock, course)
    url = session_link(client, course)
    assert f'value="{token}"' in client.get(url, query_string={"t": token}).get_data(as_text=True)
    assert client.post(url, data={"t": foreign}).status_code == 422  # another course's trainee
    assert client.post(url, data={"t": token}).status_code == 201
    assert [i["civil_servant_id"] for i in self_checkins(client, course)["items"]] == [a]


def test_the_json_check_in_answers_pending(backend, client, clock):
    course, (a,) = confirmed_course(client, 1)
    token = personal_links(client, course)[a]["url"].rsplit("/", 1)[1]
    at_session(clock, course, index=2)
    body = ok(client.post(f"/api/v1/checkin/{token}"), 201)
    assert (body["session_id"], body["confirmation"], body["course_code"]) == (
        course["sessions"][2]["id"], "pending", course["code"])


def test_outside_every_session_window_the_own_link_records_nothing(client, clock):
    course, (a,) = confirmed_course(client, 1)
    url = personal_links(client, course)[a]["url"]
    at_session(clock, course, minutes=-61)
    page = client.get(url).get_data(as_text=True)
    assert "Hiện không có buổi học nào" in page and "<form" not in page
    resp = client.post(url)
    assert resp.status_code == 422 and "Ngoài giờ điểm danh" in resp.get_data(as_text=True)
    by_session_link = client.post(session_link(client, course), data={"t": url.rsplit("/", 1)[1]})
    assert by_session_link.status_code == 422 and "Ngoài giờ điểm danh" in by_session_link.get_data(as_text=True)
    assert self_checkins(client, course)["items"] == []


def test_unknown_links_are_404(client):
    assert client.get("/checkin/not-a-token").status_code == 404
    assert client.get(f"/checkin/me/{secrets.token_urlsafe(24)}").status_code == 404
    resp = client.post(f"/api/v1/checkin/{secrets.token_urlsafe(24)}")
    assert resp.status_code == 404 and "token" in resp.get_json()["errors"]["json"]


@pytest.mark.parametrize("token", ["%00abc", "é" * 300, "a" * 65, "a'--"])
def test_hostile_tokens_are_404_without_a_lookup(backend, client, token):
    """A token that new_token could not have made is not looked up (a NUL in it was a 500 on PostgreSQL)."""
    for path in (f"/checkin/me/{token}", f"/checkin/{token}"):
        assert client.get(path).status_code == 404, path
        assert client.post(path).status_code == 404, path
    assert client.post(f"/api/v1/checkin/{token}").status_code == 404


def test_a_withdrawn_trainees_link_no_longer_checks_in(client, clock):
    course, (a, b) = confirmed_course(client, 2)
    url = personal_links(client, course)[a]["url"]
    ok(client.post(f"/api/v1/courses/{course['id']}/enrollments/{a}/withdraw", json={"reason": "Ốm dài ngày"},
                   headers=API_AUTH))
    at_session(clock, course)
    assert client.post(url).status_code == 409
    assert self_checkins(client, course)["items"] == []


def test_personal_qr_codes_are_served_as_svg_and_png(client):
    course, (a,) = confirmed_course(client, 1)
    link = next(iter(ok(client.get(f"/api/v1/courses/{course['id']}/checkin-links", headers=API_AUTH))))
    qr = path_of(link["qr_svg"])
    svg = client.get(qr, headers=API_AUTH)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    png = client.get(qr, query_string={"format": "png"}, headers=API_AUTH)
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")
    assert client.get(qr).status_code == 401
    assert client.get(f"/api/v1/courses/{course['id']}/enrollments/nobody/checkin-qr",
                      headers=API_AUTH).status_code == 404


def test_session_qr_code_is_served_as_svg_and_png(client):
    course, _ = confirmed_course(client, 1)
    base = f"/api/v1/courses/{course['id']}/sessions/{course['sessions'][0]['id']}/qr"
    svg = client.get(base, headers=API_AUTH)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    png = client.get(base, query_string={"format": "png"}, headers=API_AUTH)
    assert png.status_code == 200 and png.data.startswith(b"\x89PNG")


# --- attempt limits -----------------------------------------------------------------------------------------------

def test_attempts_over_the_client_limit_get_429_json_and_a_vietnamese_page_on_every_worker(backend, client):
    for _ in range(CLIENT_LIMIT):
        assert client.post(f"/api/v1/checkin/{secrets.token_urlsafe(24)}", headers=from_client(7)).status_code == 404
    resp = client.post(f"/api/v1/checkin/{secrets.token_urlsafe(24)}", headers=from_client(7))
    body = resp.get_json()
    assert resp.status_code == 429 and body["code"] == 429 and "quá nhiều lần" in body["message"]
    page = client.get(f"/checkin/me/{secrets.token_urlsafe(24)}", headers=from_client(7))
    assert page.status_code == 429 and page.mimetype == "text/html" and page.headers["Retry-After"] == "900"
    assert "quá nhiều lần" in page.get_data(as_text=True)
    assert client.get(f"/checkin/me/{secrets.token_urlsafe(24)}", headers=from_client(8)).status_code == 404
    # another worker on the same database counts the same failures
    url = client.application.extensions["service"].settings.database_url
    other = build_app("courses", url, migrate=False)
    try:
        again = other.test_client().post(f"/api/v1/checkin/{secrets.token_urlsafe(24)}", headers=from_client(7))
        assert again.status_code == 429
    finally:
        other.extensions["service"].engine.dispose()


def test_attempts_over_the_link_limit_close_the_session_link_but_not_the_own_links(backend, client, clock):
    course, (a,) = confirmed_course(client, 1)
    at_session(clock, course)
    url = session_link(client, course)
    statuses = [client.post(url, data={"code": f"TB-{n:04d}"}, headers=from_client(n)).status_code
                for n in range(1, LINK_LIMIT + 3)]
    assert statuses == [422] * LINK_LIMIT + [429, 429]  # each from a different client
    assert client.get(url, headers=from_client(200)).status_code == 429
    own = personal_links(client, course)[a]["url"]
    assert client.post(own, headers=from_client(200)).status_code == 201


def test_old_failures_stop_counting_after_the_window(client, clock):
    clock.at = now = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)
    for _ in range(CLIENT_LIMIT):
        client.post(f"/api/v1/checkin/{secrets.token_urlsafe(24)}")
    assert client.post(f"/api/v1/checkin/{secrets.token_urlsafe(24)}").status_code == 429
    clock.at = now + timedelta(minutes=16)
    assert client.post(f"/api/v1/checkin/{secrets.token_urlsafe(24)}").status_code == 404


# --- the officer confirms -----------------------------------------------------------------------------------------

def test_completion_counts_only_confirmed_self_check_ins(backend, client, clock):
    course, (a, b, c) = confirmed_course(client, 3)
    first = course["sessions"][0]["id"]
    ok(client.post(f"/api/v1/courses/{course['id']}/attendance", headers=API_AUTH, json={"records": [
        {"session_id": s["id"], "civil_servant_id": cs, "present": True}
        for cs in (a, b, c) for s in course["sessions"][1:]]}), 201)
    links = personal_links(client, course)
    at_session(clock, course)
    for cs in (a, b, c):
        assert client.post(links[cs]["url"]).status_code == 201
    refused = client.post(f"/api/v1/courses/{course['id']}/complete", headers=API_AUTH)
    assert refused.status_code == 409 and "chưa được xác nhận" in refused.get_json()["message"]
    assert review(client, course, "confirm", [a]) == {"decision": "confirm", "count": 1, "pending": 2}
    assert review(client, course, "reject", [b]) == {"decision": "reject", "count": 1, "pending": 1}
    assert review(client, course, "confirm") == {"decision": "confirm", "count": 1, "pending": 0}  # all pending: c
    rejected = client.post(links[b]["url"])
    assert rejected.status_code == 409 and "không xác nhận" in rejected.get_data(as_text=True)
    assert attended(client, course) == {a: 4, b: 3, c: 4}
    ok(client.post(f"/api/v1/courses/{course['id']}/complete", headers=API_AUTH))
    [payload] = [p for p in outbox(client, "courses.course_completed") if p["course_id"] == course["id"]]
    parts = {p["civil_servant_id"]: p for p in payload["participants"]}
    assert (parts[a]["sessions_attended"], parts[a]["completed"], parts[a]["certified"]) == (4, True, True)
    assert (parts[b]["sessions_attended"], parts[b]["completed"], parts[b]["certified"]) == (3, False, False)
    assert parts[b]["days_attended"] == 2 and parts[c]["certified"] is True
    marks = sheet_marks(client, course)
    assert (marks[a][0], marks[b][0], marks[c][0]) == ("x", "v", "x")  # rejected: absent
    after = client.post(f"/api/v1/courses/{course['id']}/sessions/{first}/self-checkins/review",
                        json={"decision": "confirm", "civil_servant_ids": [b]}, headers=API_AUTH)
    assert after.status_code == 409  # completed: decisions are final


def sheet_marks(client, course) -> dict[str, list[str]]:
    """civil_servant_id → the marks of the attendance sheet (CSV), one per session."""
    resp = client.get(f"/api/v1/courses/{course['id']}/attendance-sheet", query_string={"format": "csv"},
                      headers=API_AUTH)
    assert resp.status_code == 200
    by_code = {r["code"]: r["civil_servant_id"] for r in ok(client.get(f"/api/v1/courses/{course['id']}/enrollments",
                                                                        headers=API_AUTH))}
    rows = list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))
    n = len(course["sessions"])
    return {by_code[cell]: row[-n:] for row in rows[1:] for cell in row if cell in by_code}


def test_a_pending_self_check_in_is_left_blank_on_the_sheet(client, clock):
    course, (a,) = confirmed_course(client, 1)
    at_session(clock, course)
    assert client.post(personal_links(client, course)[a]["url"]).status_code == 201
    assert sheet_marks(client, course)[a] == ["", "", "", ""]
    review(client, course, "confirm")
    assert sheet_marks(client, course)[a] == ["x", "", "", ""]


def test_the_officers_list_replaces_a_pending_self_check_in(client, clock):
    course, (a,) = confirmed_course(client, 1)
    at_session(clock, course)
    assert client.post(personal_links(client, course)[a]["url"]).status_code == 201
    ok(client.post(f"/api/v1/courses/{course['id']}/attendance", headers=API_AUTH, json={"records": [
        {"session_id": course["sessions"][0]["id"], "civil_servant_id": a, "present": False}]}), 201)
    assert self_checkins(client, course)["items"] == []  # now the officer's record, confirmed
    assert attended(client, course) == {a: 0}
    assert client.post(personal_links(client, course)[a]["url"]).status_code == 409  # recorded absent


@pytest.mark.parametrize("body, field", [({"decision": "maybe"}, "decision"),
                                         ({"decision": "confirm", "civil_servant_ids": []}, "civil_servant_ids"),
                                         ({"decision": "confirm", "civil_servant_ids": ["x"]},
                                          "civil_servant_ids.0")])
def test_bad_reviews_are_422_naming_the_field(client, body, field):
    course, (a,) = confirmed_course(client, 1)
    resp = client.post(f"/api/v1/courses/{course['id']}/sessions/{course['sessions'][0]['id']}/self-checkins/review",
                       json=body, headers=API_AUTH)
    assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"], resp.get_json()


def test_reviews_of_an_unknown_session_are_404(client):
    course, _ = confirmed_course(client, 1)
    resp = client.post(f"/api/v1/courses/{course['id']}/sessions/nope/self-checkins/review",
                       json={"decision": "confirm"}, headers=API_AUTH)
    assert resp.status_code == 404
    assert client.get(f"/api/v1/courses/{course['id']}/sessions/nope/self-checkins",
                      headers=API_AUTH).status_code == 404


def test_no_personal_token_or_client_address_reaches_the_log(client, clock, caplog):
    course, (a,) = confirmed_course(client, 1)
    url = personal_links(client, course)[a]["url"]
    at_session(clock, course)
    with caplog.at_level("DEBUG"):
        assert client.post(url, headers=from_client(42)).status_code == 201
        assert client.post(f"/checkin/me/{secrets.token_urlsafe(24)}x", headers=from_client(42)).status_code == 404
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert url.rsplit("/", 1)[1] not in text and "198.51.100.42" not in text
