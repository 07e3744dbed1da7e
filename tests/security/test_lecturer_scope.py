"""A lecturer records attendance and results only for their own sessions (issue 14). The token's `lecturer_id`
claim (a Keycloak user attribute the `officer-portal` client maps into tokens; tools/dev_oidc emits it the same way)
names the lecturer's record in courses; a caller acting as lecturer may record attendance of the sessions that
record teaches, upload the sheet with marks in those sessions' columns, record results and read the roster of a
course where it teaches a session — another lecturer's session or course is 403 in the JSON error shape naming the
field, and a lecturer's token without the claim is 403. Training and commune officers are unchanged. The course is
set up through a static-token app, the checks go through a second app on the same database in AUTH_MODE=oidc with
tokens from the loopback provider (tests/oidc.py). Both backends."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from shared.auth import principal_of
from tests.oidc import provider, static_and_oidc  # noqa: F401 - provider: a fixture
from tests.unit.courses.factories import (API_AUTH, MON, enroll, make_course, make_lecturer, make_trainees, ok,
                                          reserve, schedule, sessions_for)
from tools.dev_oidc import fetch_token


@pytest.fixture
def apps(backend, provider):
    yield from static_and_oidc("courses", backend, provider)


@pytest.fixture
def course(apps):
    """A confirmed course: day 1 (two buổi) taught by lecturer A, day 2 by lecturer B; three trainees of Tân Lộc.
    A third lecturer teaches nothing in it."""
    setup, _ = apps
    ok(setup.post("/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100,
                                                     "note": "tests"}, headers=API_AUTH))
    a, b, c = make_lecturer(setup), make_lecturer(setup), make_lecturer(setup)
    made = make_course(setup, a, sessions=sessions_for(a["id"], MON, 1) + sessions_for(b["id"], MON + timedelta(1), 1))
    trainees = make_trainees(setup, 3, "CM-TANLOC")
    enroll(setup, made["id"], trainees)
    reserve(setup, made["id"], schedule(setup, made["id"])["revision"])
    made = ok(setup.get(f"/api/v1/courses/{made['id']}"))
    assert made["status"] == "confirmed"
    by = {lec["id"]: [s["id"] for s in made["sessions"] if s["lecturer"]["id"] == lec["id"]] for lec in (a, b)}
    assert len(by[a["id"]]) == len(by[b["id"]]) == 2
    return {"id": made["id"], "base": f"/api/v1/courses/{made['id']}", "a": a["id"], "b": b["id"], "c": c["id"],
            "sessions": by, "trainees": trainees, "all_sessions": [s["id"] for s in made["sessions"]]}


def _lecturer(provider, lecturer_id: str | None, *roles: str) -> dict:
    claims = {"lecturer_id": lecturer_id} if lecturer_id is not None else {}
    return provider.auth(*(roles or ("lecturer",)), audience="courses", **claims)


def _forbidden(resp, field: str) -> dict:
    body = resp.get_json()
    assert resp.status_code == 403 and body["code"] == 403 and body["status"] == "Forbidden", (resp.status_code, body)
    assert field in body["errors"]["json"], body
    return body


def _attended(setup, course) -> dict[str, int]:
    return {e["civil_servant_id"]: e["sessions_attended"]
            for e in ok(setup.get(f"{course['base']}/enrollments", headers=API_AUTH))}


def _records(session_ids, trainees, present=True) -> list[dict]:
    return [{"session_id": s, "civil_servant_id": cs, "present": present} for s in session_ids for cs in trainees]


def test_a_lecturer_records_attendance_of_their_own_sessions_only(apps, provider, course):
    setup, api = apps
    a, b = course["a"], course["b"]
    own, others = course["sessions"][a], course["sessions"][b]
    as_a = _lecturer(provider, a)
    assert ok(api.post(f"{course['base']}/attendance", headers=as_a,
                       json={"records": _records(own, course["trainees"])}), 201) == {"count": 6}
    # one record of B's session among A's: refused whole, naming that record's session
    mixed = _records(own[:1], course["trainees"]) + _records(others[:1], course["trainees"][:1], present=False)
    body = _forbidden(api.post(f"{course['base']}/attendance", headers=as_a, json={"records": mixed}),
                      "records.3.session_id")
    assert "giảng viên khác" in body["message"]
    assert _attended(setup, course) == {cs: 2 for cs in course["trainees"]}  # nothing of the refused request
    assert ok(api.post(f"{course['base']}/attendance", headers=_lecturer(provider, b),
                       json={"records": _records(others, course["trainees"][:1])}), 201) == {"count": 2}
    # a lecturer teaching nothing in the course is refused before any record is looked at
    _forbidden(api.post(f"{course['base']}/attendance", headers=_lecturer(provider, course["c"]),
                        json={"records": _records(own, course["trainees"][:1])}), "course_id")


def test_a_lecturer_records_results_and_reads_the_roster_only_of_a_course_they_teach(apps, provider, course):
    _, api = apps
    scores = {"scores": [{"civil_servant_id": cs, "kind": "post", "competency_code": "CM06", "score": 8}
                         for cs in course["trainees"]]}
    for lecturer in (course["a"], course["b"]):  # either lecturer of the course
        assert ok(api.post(f"{course['base']}/results", json=scores, headers=_lecturer(provider, lecturer)),
                  201) == {"count": 3}
    outsider = _lecturer(provider, course["c"])
    _forbidden(api.post(f"{course['base']}/results", json=scores, headers=outsider), "course_id")
    roster = ok(api.get(f"{course['base']}/enrollments", headers=_lecturer(provider, course["a"])))
    assert {e["civil_servant_id"] for e in roster} == set(course["trainees"])
    _forbidden(api.get(f"{course['base']}/enrollments", headers=outsider), "course_id")
    for document in ("class-list", "attendance-sheet"):
        assert api.get(f"{course['base']}/{document}?format=csv", headers=_lecturer(provider, course["b"])
                       ).status_code == 200
        _forbidden(api.get(f"{course['base']}/{document}?format=csv", headers=outsider), "course_id")
    # an unknown course is still 404 for a lecturer, not 403
    assert api.get("/api/v1/courses/no-such-course/enrollments", headers=outsider).status_code == 404


def test_a_lecturer_token_without_the_claim_is_403_on_every_lecturer_operation(apps, provider, course):
    _, api = apps
    bare = _lecturer(provider, None)
    own = course["sessions"][course["a"]]
    for resp in (
            api.post(f"{course['base']}/attendance", headers=bare, json={"records": _records(own, course["trainees"])}),
            api.post(f"{course['base']}/results", headers=bare, json={"scores": [
                {"civil_servant_id": course["trainees"][0], "kind": "pre", "score": 5}]}),
            api.get(f"{course['base']}/enrollments", headers=bare),
            api.get(f"{course['base']}/class-list?format=csv", headers=bare),
            api.post(f"{course['base']}/attendance-sheet", headers=bare, content_type="multipart/form-data",
                     data={"file": (io.BytesIO(b"x"), "diem-danh.csv")})):
        body = resp.get_json()
        assert resp.status_code == 403 and body["code"] == 403 and "lecturer_id" in body["message"], body
    assert principal_of({"sub": "x", "lecturer_id": ["not", "a", "string"]}).lecturer_id is None
    assert principal_of({"sub": "x", "lecturer_id": ""}).lecturer_id is None


def test_officers_are_unchanged_and_another_role_before_lecturer_lifts_the_confinement(apps, provider, course):
    setup, api = apps
    b_sessions = course["sessions"][course["b"]]
    district = provider.auth("training-officer", audience="courses")
    commune = provider.auth("commune-officer", audience="courses", unit_code="CM-TANLOC")
    both = _lecturer(provider, course["c"], "lecturer", "training-officer")  # C teaches nothing here
    for headers in (district, commune, both):  # B's session, recorded by people who are not (only) lecturer A
        assert ok(api.post(f"{course['base']}/attendance", headers=headers,
                           json={"records": _records(b_sessions, course["trainees"][:1])}), 201) == {"count": 2}
    inspector_and_lecturer = _lecturer(provider, course["c"], "lecturer", "inspector")
    assert len(ok(api.get(f"{course['base']}/enrollments", headers=inspector_and_lecturer))) == 3  # reads as inspector
    assert ok(api.post(f"{course['base']}/results", headers=both, json={"scores": [
        {"civil_servant_id": course["trainees"][0], "kind": "pre", "score": 5}]}), 201) == {"count": 1}


def _sheet(client, course, headers) -> list[list[str]]:
    resp = client.get(f"{course['base']}/attendance-sheet", query_string={"format": "csv"}, headers=headers)
    assert resp.status_code == 200, resp.data[:300]
    return list(csv.reader(io.StringIO(resp.data.decode("utf-8-sig"))))


def _upload(client, course, rows, headers):
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return client.post(f"{course['base']}/attendance-sheet", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(out.getvalue().encode("utf-8-sig")), "diem-danh.csv")})


def test_a_lecturer_uploads_the_sheet_with_marks_in_their_own_columns_only(apps, provider, course):
    setup, api = apps
    a, b = course["a"], course["b"]
    ok(setup.post(f"{course['base']}/attendance", headers=API_AUTH,  # B's day is recorded already: x x
                  json={"records": _records(course["sessions"][b], course["trainees"])}), 201)
    as_a = _lecturer(provider, a)
    rows = _sheet(api, course, as_a)
    header = next(i for i, r in enumerate(rows) if "Mã công chức" in r)
    first_session = len(rows[header]) - len(course["all_sessions"])
    column = {s: first_session + i for i, s in enumerate(course["all_sessions"])}
    people = [r for r in rows[header + 1:] if len(r) > first_session and r[1].startswith("TB-")]
    assert len(people) == 3 and all(r[column[s]] == "x" for r in people for s in course["sessions"][b])
    for r in people:  # A fills in their own day; B's columns stay as downloaded
        for s in course["sessions"][a]:
            r[column[s]] = "x"
    assert ok(_upload(api, course, rows, as_a), 201) == {"count": 6}
    assert _attended(setup, course) == {cs: 4 for cs in course["trainees"]}
    people[0][column[course["sessions"][b][0]]] = "v"  # a changed mark in B's column
    body = _forbidden(_upload(api, course, rows, as_a), "file")
    assert "giảng viên khác" in body["message"]
    assert _attended(setup, course) == {cs: 4 for cs in course["trainees"]}
    # B may change their own column; A's columns, unchanged, are left as they are
    assert ok(_upload(api, course, rows, _lecturer(provider, b)), 201) == {"count": 6}
    assert sorted(_attended(setup, course).values()) == [3, 4, 4]


def test_the_dev_providers_password_grant_carries_the_lecturer_id_the_administrator_set(apps, provider, course):
    """The realm file's officer-portal maps the `lecturer_id` user attribute into tokens; gv.mau has none until
    the administrator links the account to a lecturer record."""
    _, api = apps

    def login() -> dict:
        token = fetch_token(provider.issuer, "officer-portal", username="gv.mau", password="CHANGE-ME")
        return {"Authorization": f"Bearer {token}"}

    records = {"records": _records(course["sessions"][course["a"]], course["trainees"][:1])}
    unlinked = api.post(f"{course['base']}/attendance", headers=login(), json=records)
    assert unlinked.status_code == 403 and "lecturer_id" in unlinked.get_json()["message"]
    provider.set_user_attribute("gv.mau", "lecturer_id", course["a"])
    try:
        assert ok(api.post(f"{course['base']}/attendance", headers=login(), json=records), 201) == {"count": 2}
        records["records"][0]["session_id"] = course["sessions"][course["b"]][0]
        _forbidden(api.post(f"{course['base']}/attendance", headers=login(), json=records), "records.0.session_id")
    finally:
        provider.set_user_attribute("gv.mau", "lecturer_id")
    assert "lecturer_id" not in provider.realm.users["gv.mau"].attributes



def test_a_lecturer_shows_check_in_links_and_reviews_self_check_ins_only_of_their_own_sessions(apps, provider,
                                                                                                 course):
    """The QR check-in routes (services/courses/web.py): the session link and its QR code, the self check-ins and
    their review — lecturer A for A's sessions, not for B's (403 naming session_id); the trainees' own links and QR
    codes for a course A or B teaches, not for C who teaches none of it (403 naming course_id); officers unchanged."""
    _, app = apps
    a, c = _lecturer(provider, course["a"]), _lecturer(provider, course["c"])
    own, other = course["sessions"][course["a"]][0], course["sessions"][course["b"]][0]
    base, trainee = course["base"], course["trainees"][0]
    for path in ("checkin", "qr", "self-checkins"):
        assert app.get(f"{base}/sessions/{own}/{path}", headers=a).status_code == 200, path
        _forbidden(app.get(f"{base}/sessions/{other}/{path}", headers=a), "session_id")
    review = {"decision": "confirm"}
    assert app.post(f"{base}/sessions/{own}/self-checkins/review", json=review, headers=a).status_code == 200
    _forbidden(app.post(f"{base}/sessions/{other}/self-checkins/review", json=review, headers=a), "session_id")
    _forbidden(app.post(f"{base}/sessions/{other}/self-checkins/{trainee}/review", json=review, headers=a),
               "session_id")
    links = app.get(f"{base}/checkin-links", headers=a)
    assert links.status_code == 200 and len(links.get_json()) == 3
    assert app.get(f"{base}/enrollments/{trainee}/checkin-qr", headers=a).status_code == 200
    _forbidden(app.get(f"{base}/checkin-links", headers=c), "course_id")
    _forbidden(app.get(f"{base}/enrollments/{trainee}/checkin-qr", headers=c), "course_id")
    assert app.get(f"{base}/sessions/{own}/checkin", headers=_lecturer(provider, None)).status_code == 403  # no claim
    officer = provider.auth("training-officer", audience="courses")
    assert app.get(f"{base}/sessions/{other}/checkin", headers=officer).status_code == 200
