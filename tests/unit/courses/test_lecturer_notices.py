"""Lecturers' notices (issue 13): courses.lecturer_notice_issued, one per lecturer, by lecturer id (never a contact
detail), with the calendar of their own sessions; each lecturer's SEQUENCE grows only when their sessions change;
reassigned away or cancelled → METHOD:CANCEL. Both backends."""
from __future__ import annotations

from datetime import timedelta

import pytest
from icalendar import Calendar

from tests.unit.courses.factories import (API_AUTH, MON, make_course, make_lecturer, make_trainees, make_venue, ok,
                                          outbox, enroll, reserve, schedule, sessions_for)

pytestmark = pytest.mark.usefixtures("backend")
LECTURER = "courses.lecturer_notice_issued"


def vevent(payload: dict):
    cal = Calendar.from_ical(payload["ics"])
    [ev] = cal.walk("VEVENT")
    return cal, ev


def periods(ev) -> int:
    if "RDATE" not in ev:
        return 1 if "DTSTART" in ev else 0
    rdate = ev["RDATE"]
    return 1 + len(rdate.dts if not isinstance(rdate, list) else [d for r in rdate for d in r.dts])


def two_lecturer_course(client):
    a, b = make_lecturer(client), make_lecturer(client)
    sessions = sessions_for(a["id"], MON, 1) + sessions_for(b["id"], MON + timedelta(days=1), 2)  # a: 2, b: 4
    course = make_course(client, sessions=sessions)
    enroll(client, course["id"], make_trainees(client, 2))
    reserve(client, course["id"], schedule(client, course["id"])["revision"])
    return ok(client.get(f"/api/v1/courses/{course['id']}")), a["id"], b["id"]


def confirm(client, course_id):
    reserve(client, course_id, ok(client.get(f"/api/v1/courses/{course_id}"))["revision"])


def by_lecturer(client, course_id) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for n in outbox(client, LECTURER):
        if n["course_id"] == course_id:
            out.setdefault(n["lecturer_id"], []).append(n)
    return out


def test_each_lecturer_is_assigned_with_a_calendar_of_their_own_sessions(client):
    course, a, b = two_lecturer_course(client)
    told = by_lecturer(client, course["id"])
    assert set(told) == {a, b}
    [na], [nb] = told[a], told[b]
    assert (na["kind"], na["sequence"], len(na["sessions"])) == ("assigned", 0, 2)
    assert (nb["kind"], nb["sequence"], len(nb["sessions"])) == ("assigned", 0, 4)
    cal, ev = vevent(nb)
    assert str(cal["METHOD"]) == "REQUEST" and int(ev["SEQUENCE"]) == 0 and periods(ev) == 4
    assert str(ev["UID"]) == f"{course['id']}@courses.thoibinh"
    assert na["start_date"] == MON and nb["start_date"] == MON + timedelta(days=1)
    assert set(na) >= {"lecturer_id", "code", "title", "ics"} and not {"email", "phone", "name"} & set(na)
    # the same revision confirmed again (a roster change) tells the lecturers nothing new
    enroll(client, course["id"], make_trainees(client, 1))
    confirm(client, course["id"])
    assert {k: len(v) for k, v in by_lecturer(client, course["id"]).items()} == {a: 1, b: 1}


def test_only_the_lecturer_whose_session_moved_hears_of_it_and_a_venue_change_reaches_both(client):
    course, a, b = two_lecturer_course(client)
    moved = next(s for s in course["sessions"] if s["lecturer"]["id"] == a)
    ok(client.patch(f"/api/v1/courses/{course['id']}/sessions/{moved['id']}", json={
        "date": (MON + timedelta(days=7)).isoformat()}, headers=API_AUTH))
    confirm(client, course["id"])
    told = by_lecturer(client, course["id"])
    assert [(n["kind"], n["sequence"]) for n in told[a]] == [("assigned", 0), ("session_moved", 1)]
    assert [(n["kind"], n["sequence"]) for n in told[b]] == [("assigned", 0)]
    assert int(vevent(told[a][-1])[1]["SEQUENCE"]) == 1
    ok(client.patch(f"/api/v1/courses/{course['id']}", json={"venue_id": make_venue(client)["id"]},
                    headers=API_AUTH))
    confirm(client, course["id"])
    told = by_lecturer(client, course["id"])
    assert [(n["kind"], n["sequence"]) for n in told[a]][-1] == ("venue_changed", 2)
    assert [(n["kind"], n["sequence"]) for n in told[b]][-1] == ("venue_changed", 1)


def test_a_lecturer_reassigned_away_gets_a_cancel_and_a_cancelled_course_cancels_every_lecturer(client):
    course, a, b = two_lecturer_course(client)
    for s in course["sessions"]:
        if s["lecturer"]["id"] == a:
            ok(client.patch(f"/api/v1/courses/{course['id']}/sessions/{s['id']}", json={"lecturer_id": b},
                            headers=API_AUTH))
    confirm(client, course["id"])
    told = by_lecturer(client, course["id"])
    gone = told[a][-1]
    assert (gone["kind"], gone["sequence"], gone["sessions"]) == ("cancelled", 1, [])
    assert str(vevent(gone)[0]["METHOD"]) == "CANCEL" and "không còn phụ trách" in gone["reason"]
    assert [(n["kind"], n["sequence"], len(n["sessions"])) for n in told[b]][-1] == ("session_moved", 1, 6)
    ok(client.post(f"/api/v1/courses/{course['id']}/cancel", json={"reason": "Bão số 3"}, headers=API_AUTH))
    told = by_lecturer(client, course["id"])
    assert len(told[a]) == 2  # told already that they no longer teach: nothing more
    last = told[b][-1]
    assert (last["kind"], last["sequence"], last["reason"]) == ("cancelled", 2, "Bão số 3")
    cal, ev = vevent(last)
    assert str(cal["METHOD"]) == "CANCEL" and str(ev["STATUS"]) == "CANCELLED" and int(ev["SEQUENCE"]) == 2
