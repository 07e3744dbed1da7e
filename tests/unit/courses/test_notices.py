"""Course notices (issue 13): the trainees of a confirmed course are invited with a calendar file (METHOD:REQUEST, a
UID stable per course, SEQUENCE 0, times in Asia/Ho_Chi_Minh); a moved session or a new venue is a new SEQUENCE;
a roster-only change keeps it; a cancellation is METHOD:CANCEL with the next SEQUENCE. Both backends."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from icalendar import Calendar

from shared.localtime import LOCAL_TZ
from tests.unit.courses.factories import (API_AUTH, MON, confirmed_course, enroll, make_trainees, make_venue, ok,
                                          outbox, reserve)

pytestmark = pytest.mark.usefixtures("backend")
NOTICE = "courses.course_notice_issued"


def vevent(payload: dict):
    cal = Calendar.from_ical(payload["ics"])
    [ev] = [c for c in cal.walk("VEVENT")]
    return cal, ev


def test_a_confirmed_course_invites_its_trainees_with_a_calendar_in_local_time(client):
    course, ids = confirmed_course(client)
    [notice] = outbox(client, NOTICE)
    assert (notice["kind"], notice["sequence"], sorted(notice["civil_servant_ids"])) == ("invitation", 0, sorted(ids))
    cal, ev = vevent(notice)
    assert str(cal["METHOD"]) == "REQUEST" and str(ev["UID"]) == f"{course['id']}@courses.thoibinh"
    assert int(ev["SEQUENCE"]) == 0 and str(ev["STATUS"]) == "CONFIRMED"
    start = ev.decoded("DTSTART")
    assert start.tzinfo is not None and str(start.tzinfo) in ("Asia/Ho_Chi_Minh", LOCAL_TZ.key)
    first = min(course["sessions"], key=lambda s: (s["date"], s["buoi"] != "morning"))
    assert start == datetime.fromisoformat(first["starts_at"]).astimezone(LOCAL_TZ)
    assert start.date() == MON and 6 <= start.hour <= 8  # a morning buổi, local time (not UTC)
    periods = ev["RDATE"].dts if not isinstance(ev["RDATE"], list) else [d for r in ev["RDATE"] for d in r.dts]
    assert len(periods) == len(course["sessions"]) - 1  # every other buổi as a period
    assert cal.walk("VTIMEZONE")  # the zone travels with the file
    assert "@" not in notice["ics"].split("UID:")[0]  # no address anywhere in it (only the UID has an @)


def test_a_change_is_a_new_sequence_and_a_roster_change_is_not(client):
    course, ids = confirmed_course(client)
    other = make_venue(client)
    out = ok(client.patch(f"/api/v1/courses/{course['id']}", json={"venue_id": other["id"]}, headers=API_AUTH))
    reserve(client, course["id"], out["revision"])
    moved = course["sessions"][-1]
    out = ok(client.patch(f"/api/v1/courses/{course['id']}/sessions/{moved['id']}", json={
        "date": (MON + timedelta(days=7)).isoformat()}, headers=API_AUTH))
    reserve(client, course["id"], out["revision"])
    newcomer = make_trainees(client, 1)
    enroll(client, course["id"], newcomer)
    revision = ok(client.get(f"/api/v1/courses/{course['id']}"))["revision"]
    reserve(client, course["id"], revision)
    notices = outbox(client, NOTICE)
    assert [(n["kind"], n["sequence"]) for n in notices] == [
        ("invitation", 0), ("venue_changed", 1), ("session_moved", 2), ("invitation", 2)]
    assert set(notices[-1]["civil_servant_ids"]) == set(ids) | set(newcomer)  # needs tells only the newcomer
    uids = {str(vevent(n)[1]["UID"]) for n in notices}
    assert len(uids) == 1 and [int(vevent(n)[1]["SEQUENCE"]) for n in notices] == [0, 1, 2, 2]


def test_cancelling_sends_method_cancel_with_the_next_sequence_and_a_draft_tells_nobody(client):
    course, ids = confirmed_course(client)
    ok(client.post(f"/api/v1/courses/{course['id']}/cancel", json={"reason": "Bão số 3"}, headers=API_AUTH))
    first, cancel = outbox(client, NOTICE)
    cal, ev = vevent(cancel)
    assert (cancel["kind"], cancel["sequence"], cancel["reason"]) == ("cancelled", 1, "Bão số 3")
    assert str(cal["METHOD"]) == "CANCEL" and str(ev["STATUS"]) == "CANCELLED"
    assert str(ev["UID"]) == str(vevent(first)[1]["UID"]) and sorted(cancel["civil_servant_ids"]) == sorted(ids)
    draft, _ = confirmed_course(client, n_trainees=0)
    assert [n["course_id"] for n in outbox(client, NOTICE)].count(draft["id"]) == 0
