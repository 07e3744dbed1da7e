"""Evaluation through the real app on SQLite: opening the window, answering, closing, reminders, the window job (usecases/closing.py and feedback.py)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from services.evaluation import usecases
from services.evaluation.models import JOBS_TABLE, FeedbackResponse
from shared import jobs as durable
from shared.db import transaction, utcnow
from tests.unit.apps import ADMIN_AUTH, API_AUTH
from tests.unit.evaluation.factories import (
    BASE, LECTURERS, close, jobs, lecturer_form, open_course, outbox_events, run_jobs, scores, session_factory, trainee,
)


@pytest.mark.usefixtures("backend")  # opening: COPY batch
def test_opening_schedules_the_reminder_two_days_before_a_seven_day_deadline(client):
    course_id, reqs = open_course(client, [trainee(), trainee(attended=0)])
    assert len(reqs) == 1  # only who attended
    assert reqs[0]["link"].endswith(f"/feedback/{reqs[0]['token']}")
    j = jobs(client, course_id)
    deadline = datetime.fromisoformat(reqs[0]["deadline"])
    assert deadline - utcnow() > timedelta(days=6, hours=23)
    assert (list(j), j["window"].due_at) == (["window"], deadline - timedelta(days=2))  # first due to remind
    assert outbox_events(client.application, "evaluation.feedback_requested")[0]["request_count"] == 1


def test_test_scores_from_the_event_are_stored_and_module_tests_ignored(client):
    p = trainee(pre=4.0, post=8.0)
    p["tests"].append({"kind": "module", "competency_code": "CM06", "score": 1.0})
    course_id, _ = open_course(client, [p])
    resp = client.get(f"/api/v1/courses/{course_id}/test-scores", headers=API_AUTH)
    assert sorted((r["kind"], r["score"], r["source"]) for r in resp.get_json()) == \
        [("post", 8.0, "event"), ("pre", 4.0, "event")]


def test_lecturer_forms_are_scored_per_lecturer_and_hidden_under_three_forms(client):
    course_id, reqs = open_course(client, [trainee() for _ in range(4)])
    for n, r in enumerate(reqs[:3]):
        body = {"scores": scores(8), "lecturers": {LECTURERS[0]: lecturer_form(9 - n)}}
        if n == 0:
            body["lecturers"][LECTURERS[1]] = lecturer_form(6)
        assert client.post(f"/api/v1/feedback/{r['token']}", json=body).status_code == 201
    close(client, course_id)
    lecs = {x["lecturer_id"]: x for x in client.get(f"/api/v1/courses/{course_id}/feedback-summary")
            .get_json()["lecturer_scores"]}
    assert (lecs[LECTURERS[0]]["mean"], lecs[LECTURERS[0]]["band"], lecs[LECTURERS[0]]["responses"]) == \
        (8.0, "excellent", 3)
    assert (lecs[LECTURERS[1]]["mean"], lecs[LECTURERS[1]]["suppressed"]) == (None, True)


def test_an_answer_to_an_indicator_not_on_the_form_is_422_naming_it(client):
    _, reqs = open_course(client, [trainee()])
    resp = client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"answers": {"fac_room": 8}})
    assert resp.status_code == 422
    assert "answers.fac_room" in resp.get_json()["errors"]["json"]
    resp = client.post(f"/api/v1/feedback/{reqs[0]['token']}",
                       json={"scores": scores(), "lecturers": {"someone-else": lecturer_form()}})
    assert resp.status_code == 422
    assert client.get(f"/api/v1/feedback/{reqs[0]['token']}").get_json()["state"] == "open"


@pytest.mark.parametrize("body, field", [({"answers": {"content": 11}}, "answers"),
                                         ({"lecturers": {LECTURERS[0]: {"lec_ethics": 0}}}, "lecturers"),
                                         ({"texts": {"txt_good": "x" * 2001}}, "texts")])
def test_out_of_range_answers_are_422_naming_the_field(client, body, field):
    _, reqs = open_course(client, [trainee()])
    resp = client.post(f"/api/v1/feedback/{reqs[0]['token']}", json=body)
    assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"]


def test_responses_carry_no_civil_servant_id(client):
    _, reqs = open_course(client, [trainee()])
    client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"scores": scores(), "comment": "Hay"})
    assert "civil_servant_id" not in FeedbackResponse.__table__.c
    with transaction(session_factory(client)) as s:
        row = s.scalar(sa.select(FeedbackResponse))
        assert reqs[0]["civil_servant_id"] not in str((row.scores, row.texts, row.comment, row.lecturer_scores))


@pytest.mark.usefixtures("backend")  # JSON payloads
def test_closing_publishes_course_evaluated_once_with_index_band_gain_levels_and_excellent_learners(client):
    star, good, weak = trainee(pre=5.0, post=9.5), trainee(pre=4.0, post=8.0), trainee(pre=3.0, post=5.0,
                                                                                         certified=False)
    course_id, reqs = open_course(client, [star, good, weak])
    for r, v in zip(reqs, (9, 8, 7)):
        client.post(f"/api/v1/feedback/{r['token']}", json={"scores": scores(v),
                                                            "lecturers": {LECTURERS[0]: lecturer_form(v)}})
    resp = client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    assert resp.status_code == 200, resp.data
    assert resp.get_json()["status"] == "closed"
    [ev] = outbox_events(client.application, "evaluation.course_evaluated")
    assert (ev["general_index"], ev["band"], ev["request_count"], ev["valid_responses"], ev["response_rate"]) == \
        (8.0, "excellent", 3, 3, 1.0)
    assert ev["topic_code"] == "KN-CNTT"
    assert ev["object_scores"] == {"programme": 8.0, "lecturers": 8.0, "organisation": 8.0, "effectiveness": 8.0}
    assert ev["lecturer_scores"] == [{"lecturer_id": LECTURERS[0], "mean": 8.0, "band": "excellent", "responses": 3}]
    assert ev["learning_gain"] == [{"competency_code": "CM06", "pre_mean": 4.0, "post_mean": 7.5, "gain": 3.5}]
    assert ev["excellent_learners"] == [{"civil_servant_id": star["civil_servant_id"], "commune_code": "CM-TANLOC"}]
    levels = {x["civil_servant_id"]: x["level"] for x in ev["assessed_levels"]}
    assert levels == {star["civil_servant_id"]: 5, good["civil_servant_id"]: 4, weak["civil_servant_id"]: 2}
    # closing again changes nothing and publishes nothing
    assert client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH).status_code == 200
    assert len(outbox_events(client.application, "evaluation.course_evaluated")) == 1
    assert {k: j.status for k, j in jobs(client, course_id).items()} == {"window": "done", "followup": "pending"}


def test_a_lecturer_rated_on_fewer_forms_than_the_privacy_minimum_is_left_out_of_course_evaluated(client):
    course_id, reqs = open_course(client, [trainee() for _ in range(3)])
    for n, r in enumerate(reqs):
        lecturers = {LECTURERS[0]: lecturer_form(8)} | ({LECTURERS[1]: lecturer_form(3)} if n == 0 else {})
        client.post(f"/api/v1/feedback/{r['token']}", json={"scores": scores(8), "lecturers": lecturers})
    close(client, course_id)
    [ev] = outbox_events(client.application, "evaluation.course_evaluated")
    # one trainee's marks for the second lecturer would be that trainee's own answer in the courses service
    assert [x["lecturer_id"] for x in ev["lecturer_scores"]] == [LECTURERS[0]]


def test_a_trainee_cannot_answer_after_the_window_closed_early(client):
    course_id, reqs = open_course(client, [trainee(), trainee()])
    client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    resp = client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"scores": scores()})
    assert resp.status_code == 410
    assert client.get(f"/api/v1/feedback/{reqs[0]['token']}").get_json()["state"] == "expired"


def test_when_everyone_answered_the_scheduler_closes_the_window_at_once(client):
    course_id, reqs = open_course(client, [trainee(), trainee()])
    client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"scores": scores()})
    assert run_jobs(client) == 0  # one answer missing: nothing is due
    client.post(f"/api/v1/feedback/{reqs[1]['token']}", json={"scores": scores()})
    assert run_jobs(client) == 1
    assert [e["course_id"] for e in outbox_events(client.application, "evaluation.course_evaluated")] == [course_id]


def test_the_deadline_closes_the_window_with_whatever_came_back(client):
    course_id, reqs = open_course(client, [trainee(), trainee(), trainee()])
    client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"scores": scores(5)})
    later = utcnow() + timedelta(days=8)
    assert run_jobs(client, now=later) == 1  # past the deadline: the window job closes without reminding
    [ev] = outbox_events(client.application, "evaluation.course_evaluated")
    assert (ev["general_index"], ev["band"], ev["response_rate"]) == (5.0, "average", 0.3333)
    assert jobs(client, course_id)["window"].status == "done"
    assert outbox_events(client.application, "evaluation.feedback_reminder_issued") == []


def test_no_valid_form_gives_no_index_and_no_band(client):
    course_id, reqs = open_course(client, [trainee()])
    client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"scores": scores(None, content=9)})
    client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    [ev] = outbox_events(client.application, "evaluation.course_evaluated")
    assert (ev["general_index"], ev["band"], ev["valid_responses"]) == (None, None, 0)


@pytest.mark.usefixtures("backend")  # jobs: bulk insert
def test_reminder_job_writes_one_notification_and_event_per_non_respondent(client):
    course_id, reqs = open_course(client, [trainee(), trainee(), trainee()])
    client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"scores": scores()})
    assert run_jobs(client, now=utcnow() + timedelta(days=5, hours=1)) == 1  # reminded; the job waits on
    window = jobs(client, course_id)["window"]
    assert (window.status, window.due_at) == ("pending", datetime.fromisoformat(reqs[0]["deadline"]))
    assert run_jobs(client, now=utcnow() + timedelta(days=5, hours=2)) == 0  # not due again: no second reminder
    events = outbox_events(client.application, "evaluation.feedback_reminder_issued")
    assert sorted(e["civil_servant_id"] for e in events) == sorted(r["civil_servant_id"] for r in reqs[1:])
    notes = client.get("/api/v1/notifications", query_string={"course_id": course_id}, headers=API_AUTH).get_json()
    assert {n["id"] for n in notes} == {e["notification_id"] for e in events}
    assert all(n["link"] in n["message"] and "Nhắc" in n["message"] for n in notes)
    assert {n["link"] for n in notes} == {f"{BASE}/feedback/{r['token']}" for r in reqs[1:]}
    admin = client.get("/admin/evaluation/notifications", headers=ADMIN_AUTH).get_json()["items"]
    assert len(admin) == 2
    counts = {r["civil_servant_id"]: r["reminders"] for r in
              client.get(f"/api/v1/courses/{course_id}/feedback-requests", headers=API_AUTH).get_json()}
    assert counts[reqs[0]["civil_servant_id"]] == 0 and counts[reqs[1]["civil_servant_id"]] == 1


def test_officer_reminder_endpoint_reminds_now(client):
    course_id, _ = open_course(client, [trainee()])
    assert client.post(f"/api/v1/courses/{course_id}/reminders", headers=API_AUTH).get_json() == {"count": 1}


@pytest.mark.usefixtures("backend")  # jobs: row locks
def test_a_job_claimed_by_a_transaction_that_never_committed_is_due_again(client):
    course_id, _ = open_course(client, [trainee()])
    factory = session_factory(client)
    dying = factory()
    dying.begin()
    [job] = durable.claim_due(dying, JOBS_TABLE, utcnow() + timedelta(days=30))
    usecases.run_window(dying, job.payload, BASE, utcnow() + timedelta(days=30))  # the worker dies here: no commit
    dying.rollback()
    dying.close()
    assert jobs(client, course_id)["window"].status == "pending"
    assert run_jobs(client, now=utcnow() + timedelta(days=30)) == 1
    assert len(outbox_events(client.application, "evaluation.course_evaluated")) == 1


def test_a_failing_job_backs_off_and_keeps_its_error(client):
    course_id, _ = open_course(client, [trainee()])

    def boom(session, job):
        raise RuntimeError("database hiccup")
    assert run_jobs(client, now=utcnow() + timedelta(days=30), functions={"window": boom, "followup": boom}) == 0
    failed = [j for j in jobs(client, course_id).values() if j.attempts]
    # shared.jobs records the error's type and place, never its text (it may quote personal data)
    assert len(failed) == 1 and failed[0].status == "pending" and failed[0].last_error.startswith("RuntimeError")
    assert "database hiccup" not in failed[0].last_error
    assert failed[0].due_at > utcnow()
    listed = client.get("/admin/evaluation/jobs", headers=ADMIN_AUTH).get_json()["items"]
    assert any(j["last_error"] for j in listed)


def test_the_index_follows_indicator_criterion_object_chain_of_tt_10_2017(client):
    # KH-CHUNG: programme {content}, lecturers {methods, lecturer}, organisation {organisation},
    # effectiveness {applicability}. Objects: 10, (4 + 6)/2 = 5, 10, 10 → index 8.75 (indicator mean would be 8.0)
    course_id, reqs = open_course(client, [trainee() for _ in range(3)])
    for r in reqs:
        client.post(f"/api/v1/feedback/{r['token']}", json={"scores": scores(10, methods=4, lecturer=6)})
    close(client, course_id)
    summary = client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()
    assert summary["object_scores"] == {"programme": 10.0, "lecturers": 5.0, "organisation": 10.0,
                                        "effectiveness": 10.0}
    assert (summary["index"], summary["band"]) == (8.75, "excellent")


def test_answers_keep_only_the_day_so_they_cannot_be_joined_to_the_request_by_time(client):
    import sqlalchemy as sa
    from services.evaluation.models import FeedbackResponse, FeedbackSubmission
    course_id, reqs = open_course(client, [trainee()])
    client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"scores": scores()})
    with session_factory(client)() as s:
        asked = s.scalar(sa.select(FeedbackSubmission.submitted_at).where(FeedbackSubmission.course_id == course_id))
        answered = s.scalar(sa.select(FeedbackResponse.submitted_at).where(FeedbackResponse.course_id == course_id))
    assert answered != asked and answered == asked.replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.mark.usefixtures("backend")  # the handle's unique index, the submissions' ON CONFLICT
def test_links_are_computed_from_the_course_and_a_forged_one_opens_nothing(client):
    course_id, reqs = open_course(client, [trainee(), trainee()])
    [sent] = outbox_events(client.application, "evaluation.trainee_feedback_requested")
    assert sorted((r["civil_servant_id"], r["link"]) for r in sent["recipients"]) == sorted(
        (r["civil_servant_id"], r["link"]) for r in reqs)  # the links sent are the links listed, computed again
    token = reqs[0]["token"]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BA")
    assert client.get(f"/api/v1/feedback/{forged}").status_code == 404
    assert client.post(f"/api/v1/feedback/{forged}", json={"scores": scores()}).status_code == 404
    assert client.post(f"/api/v1/feedback/{token}", json={"scores": scores()}).status_code == 201
    assert client.post(f"/api/v1/feedback/{token}", json={"scores": scores()}).status_code == 409
    [progress] = [p for p in client.get("/admin/evaluation/progress", headers=ADMIN_AUTH).get_json()["items"]
                  if p["course_id"] == course_id]
    assert (progress["requests"], progress["answered"]) == (2, 1)


@pytest.mark.usefixtures("backend")  # the rosters searched as text: JSON on both backends
def test_a_persons_requests_are_read_from_the_rosters_with_answer_and_reminders(client):
    from services.evaluation.usecases.requests import requests_of_person
    person = trainee()
    lookalike = {**trainee(), "civil_servant_id": person["civil_servant_id"][:-1] + "%"}  # LIKE's wildcard, escaped
    first, reqs = open_course(client, [person, trainee()])
    second, _ = open_course(client, [{**person}, lookalike])
    open_course(client, [trainee()])  # a course without the person
    mine = next(r for r in reqs if r["civil_servant_id"] == person["civil_servant_id"])
    client.post(f"/api/v1/feedback/{mine['token']}", json={"scores": scores()})
    client.post(f"/api/v1/courses/{second}/reminders", headers=API_AUTH)
    with session_factory(client)() as s:
        rows = requests_of_person(s, person["civil_servant_id"], 100)
        assert requests_of_person(s, person["civil_servant_id"][:-1], 100) == []  # a prefix names nobody
        assert [r["course_id"] for r in requests_of_person(s, lookalike["civil_servant_id"], 100)] == [second]
    by_course = {r["course_id"]: r for r in rows}
    assert sorted(by_course) == sorted([first, second])
    assert by_course[first]["submitted_at"] is not None and by_course[first]["reminders"] == 0
    assert by_course[second]["submitted_at"] is None and by_course[second]["reminders"] == 1
    assert not any("token" in k or "link" in k for r in rows for k in r)
