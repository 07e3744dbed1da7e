"""Evaluation through the real app on SQLite: the L3/L4 follow-up survey (usecases/followup.py)."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.db import utcnow
from tests.unit.apps import API_AUTH
from tests.unit.evaluation.factories import (
    LONG_AGO, START, close, jobs, open_course, run_jobs, trainee,
)


def test_follow_up_is_due_three_months_after_the_course_end_at_eight_local(client):
    course_id, _ = open_course(client, [trainee()])
    client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    due = jobs(client, course_id)["followup"].due_at
    end = START + timedelta(days=1)
    assert due == datetime.combine(end + timedelta(days=90), time(8), ZoneInfo("Asia/Ho_Chi_Minh"))


@pytest.mark.usefixtures("backend")  # dates, bulk insert
def test_follow_up_creates_trainee_and_supervisor_links_and_answers_are_summarised(client):
    people = [trainee() for _ in range(3)]
    course_id, _ = open_course(client, people, start=LONG_AGO)
    client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    assert client.post(f"/api/v1/courses/{course_id}/followup", headers=API_AUTH).status_code == 200
    assert run_jobs(client) == 1
    links = client.get(f"/api/v1/courses/{course_id}/followup-requests", headers=API_AUTH).get_json()
    assert sorted(x["respondent"] for x in links) == ["supervisor"] * 3 + ["trainee"] * 3
    supervisor = next(x for x in links if x["respondent"] == "supervisor")
    form = client.get(f"/api/v1/feedback/{supervisor['token']}").get_json()
    assert form["kind"] == "supervisor" and [c["code"] for c in form["criteria"]] == \
        ["sv_apply", "sv_quality", "sv_citizens"]
    for x in links:
        codes = ("sv_apply", "sv_quality", "sv_citizens") if x["respondent"] == "supervisor" else \
            ("fu_apply", "fu_quality", "fu_speed")
        resp = client.post(f"/api/v1/feedback/{x['token']}", json={"answers": {c: 7 for c in codes}})
        assert resp.status_code == 201, resp.data
    fu = client.get(f"/api/v1/courses/{course_id}/followup-summary").get_json()
    assert (fu["supervisor"]["responses"], fu["supervisor"]["index"], fu["supervisor"]["suppressed"]) == (3, 7.0, False)
    notes = client.get("/api/v1/notifications", query_string={"kind": "followup_supervisor"}, headers=API_AUTH)
    assert len(notes.get_json()) == 3


def test_follow_up_with_fewer_than_three_answers_is_not_shown(client):
    course_id, _ = open_course(client, [trainee()], start=LONG_AGO)
    client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    client.post(f"/api/v1/courses/{course_id}/followup", headers=API_AUTH)
    run_jobs(client)
    [tr] = [x for x in client.get(f"/api/v1/courses/{course_id}/followup-requests", headers=API_AUTH).get_json()
            if x["respondent"] == "trainee"]
    client.post(f"/api/v1/feedback/{tr['token']}", json={"answers": {"fu_apply": 9, "fu_quality": 9, "fu_speed": 9}})
    fu = client.get(f"/api/v1/courses/{course_id}/followup-summary").get_json()["trainee"]
    assert (fu["responses"], fu["index"], fu["means"], fu["suppressed"]) == (1, None, {}, True)


def test_follow_up_cannot_start_before_the_window_closed(client):
    course_id, _ = open_course(client, [trainee()])
    assert client.post(f"/api/v1/courses/{course_id}/followup", headers=API_AUTH).status_code == 409


def test_follow_up_cannot_be_started_by_hand_before_three_months_after_the_course(client):
    course_id, _ = open_course(client, [trainee()])  # ended yesterday
    client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    resp = client.post(f"/api/v1/courses/{course_id}/followup", headers=API_AUTH)
    assert resp.status_code == 409 and "course_id" in resp.get_json()["errors"]["json"]
    assert "3–6 tháng" in resp.get_json()["message"]
    assert jobs(client, course_id)["followup"].due_at > utcnow() + timedelta(days=80)  # untouched
