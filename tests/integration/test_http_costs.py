"""The cost of the two requests `make bench-http` loads is a count, held here (issue 16): the SQL statements of
GET /api/v1/courses/<id> and of POST /api/v1/courses/<id>/attendance (the access log row included) on SQLite and
PostgreSQL (SQLite's BEGIN IMMEDIATE left out, as PostgreSQL's driver sends its BEGIN without a statement of ours).
Recording attendance must not query per record: 1 or 20 records, new, changed or a mix, cost the same statements
(one upsert of the records), at most POST_BOUND — before issue 16 a list of 10 records was 25 statements (a get and
an UPDATE per record), then one UPDATE per run of rows with the same changed columns.
Completing a course (the request issue 16's burst is made of) costs the same statements for 2 or 40 certified
trainees, at most COMPLETE_BOUND, with the year's certificate counter locked last.
Not timed: `make bench-http` prints requests/s and p95 under load, and `--anatomy` lists these statements.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from tools.bench_http import TOKEN, attendance_body, seed, statements_of

GET_BOUND = 3  # the course with its venue and head-counts, the venue's distances, the sessions
POST_BOUND = 5  # the course (locked), its sessions, the enrolled, one upsert of the records, the access log


@pytest.fixture
def courses_web(backend):
    from services.courses.app import create_app
    from services.courses.settings import get_settings

    url = backend.migrated("courses")
    course = seed(url, courses=1, trainees=40)[0]
    app = create_app(get_settings(database_url=url, api_token=TOKEN, admin_token=TOKEN + "-admin",
                                  log_level="WARNING"))
    engine = app.extensions["service"].engine
    try:
        yield app.test_client(), engine, course
    finally:
        engine.dispose()


H = {"Authorization": f"Bearer {TOKEN}"}


def _post(client, engine, course, body) -> list[str]:
    resp, sql = statements_of(engine, lambda: client.post(f"/api/v1/courses/{course['id']}/attendance", headers=H,
                                                          json=body))
    assert resp.status_code == 201, resp.get_data(as_text=True)
    assert resp.get_json() == {"count": len(body["records"])}
    return sql


def test_reading_a_course_is_a_bounded_number_of_statements(courses_web):
    client, engine, course = courses_web
    resp, get_sql = statements_of(engine, lambda: client.get(f"/api/v1/courses/{course['id']}", headers=H))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert len(body["sessions"]) == 2 and body["enrolled"] == 40 and body["waitlisted"] == body["withdrawn"] == 0
    assert len(get_sql) <= GET_BOUND, "\n".join(get_sql)


def test_recording_attendance_costs_the_same_statements_for_1_or_20_records(courses_web):
    client, engine, course = courses_web
    # The first record moves the course to in_progress (one UPDATE of the course, once): out of the counts.
    _post(client, engine, course, {"records": [{"session_id": course["sessions"][1],
                                                "civil_servant_id": course["trainees"][39], "present": True}]})
    counts, listing = {}, {}
    for name, body in (("1 new", attendance_body(course, 1)), ("20 new", attendance_body(course, 20, 1)),
                       ("20 changed", attendance_body(course, 20))):
        listing[name] = sql = _post(client, engine, course, body)
        counts[name] = len(sql)
        assert sum(s.startswith("INSERT INTO access_log") for s in sql) == 1, "\n".join(sql)  # still recorded
    assert counts["1 new"] == counts["20 new"] == counts["20 changed"], (
        f"statements by records: {counts}\n" + "\n".join(listing["20 changed"]))
    assert counts["20 changed"] <= POST_BOUND, "\n".join(listing["20 changed"])

    # what was written is what the lists said, the last one winning
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT civil_servant_id, present FROM attendance WHERE session_id = :s"),
                                 {"s": course["sessions"][0]}).all())
    assert {cs: bool(p) for cs, p in rows.items()} == {cs: i % 2 == 0 for i, cs in enumerate(course["trainees"][:20])}


def test_the_statements_do_not_depend_on_which_records_change(courses_web):
    client, engine, course = courses_web
    _post(client, engine, course, attendance_body(course, 20))  # alternating present / absent
    constant = len(_post(client, engine, course, attendance_body(course, 20, 1)))  # every row changes
    both = {"records": [{"session_id": s, "civil_servant_id": cs, "present": True}
                        for s in course["sessions"] for cs in course["trainees"][:20]]}  # half change, half new
    mixed = _post(client, engine, course, both)
    assert len(mixed) == constant, "\n".join(mixed)


COMPLETE_BOUND = 13  # 14 before the pending self check-ins were counted in the attendance read; 15 before the
# year's certificate block was one upsert; 20 before issue 16's burst work: the
# enrollments were read again as ORM objects to be written, the course was locked with its venue (the event now
# takes the venue from get_course: its distances read once), and its sessions were lazy-loaded as ORM objects
# beside get_course's rows of them (now read once, as rows)


def _complete(client, engine, course, attendees: int) -> list[str]:
    records = [{"session_id": s, "civil_servant_id": cs, "present": True}
               for s in course["sessions"] for cs in course["trainees"][:attendees]]
    assert client.post(f"/api/v1/courses/{course['id']}/attendance", headers=H, json={"records": records}
                       ).status_code == 201
    resp, sql = statements_of(engine, lambda: client.post(f"/api/v1/courses/{course['id']}/complete", headers=H))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json()["status"] == "completed"
    return sql


def test_completing_a_course_costs_the_same_statements_for_2_or_40_certified_trainees(backend):
    """The burst of issue 16 is made of completions: their statements must not grow with the course, and the
    year's certificate counter is taken last (it is held by every completion of the year until its commit)."""
    from services.courses.app import create_app
    from services.courses.settings import get_settings

    url = backend.migrated("courses")
    small, large = seed(url, courses=2, trainees=40)
    app = create_app(get_settings(database_url=url, api_token=TOKEN, admin_token=TOKEN + "-admin",
                                  log_level="WARNING"))
    engine = app.extensions["service"].engine
    try:
        client = app.test_client()
        counts, listing = {}, {}
        for name, course, attendees in (("2", small, 2), ("40", large, 40)):
            listing[name] = sql = _complete(client, engine, course, attendees)
            counts[name] = len(sql)
        with engine.connect() as conn:
            numbers = conn.execute(sa.text("SELECT certificate_no FROM enrollments WHERE certificate_no IS NOT NULL"
                                           )).scalars().all()
    finally:
        engine.dispose()
    assert counts["2"] == counts["40"], f"statements by certified trainees: {counts}\n" + "\n".join(listing["40"])
    assert counts["40"] <= COMPLETE_BOUND, "\n".join(listing["40"])
    assert len(numbers) == len(set(numbers)) == 42  # every attendee certified once, no number twice
    # the counter is the last lock taken: after it only the outcome, then the outbox row (an INSERT, or a COPY the
    # statement listener does not see, and its NOTIFY on PostgreSQL) and the access log row
    sql = listing["40"]
    counter = next(i for i, s in enumerate(sql) if s.startswith("INSERT INTO certificate_counters"))
    assert "ON CONFLICT" in sql[counter] and not [s for s in sql if "UPDATE certificate_counters" in s], \
        "\n".join(sql)  # one statement takes the block (issue 16), not an INSERT and then an UPDATE
    after = sql[counter + 1:]
    assert after[0].startswith("UPDATE enrollments SET certified"), "\n".join(sql)
    assert all(s.startswith(("INSERT INTO outbox", "SELECT pg_notify", "INSERT INTO access_log")) for s in after[1:]), \
        "\n".join(sql)
