"""Evaluation use cases through the real app on SQLite: the window, closing, reminders, follow-up, L2, L4, rules."""
from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from services.evaluation import usecases
from services.evaluation.models import JOBS_TABLE, FeedbackResponse
from shared import jobs as durable
from shared.db import transaction, utcnow
from tests.unit.apps import ADMIN_AUTH, API_AUTH
from tests.unit.evaluation.factories import (
    LECTURERS, START, job_rows, lecturer_form, open_course, outbox_events, run_jobs, scores, session_factory, trainee,
)

BASE = "http://127.0.0.1:8003"
YEAR = (START + timedelta(days=1)).year


@pytest.fixture
def client(make_client):
    return make_client("evaluation")


def jobs(client, course_id):
    return job_rows(client, course_id)


# --- opening ---------------------------------------------------------------------------------------------------

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


# --- answering through the JSON API ------------------------------------------------------------------------------

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


# --- closing -----------------------------------------------------------------------------------------------------

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


# --- reminders -------------------------------------------------------------------------------------------------

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


# --- scheduler restart-safety (SQLite; PostgreSQL in tests/integration/evaluation) ------------------------------

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


# --- L3/L4 follow-up ---------------------------------------------------------------------------------------------

def test_follow_up_is_due_three_months_after_the_course_end_at_eight_local(client):
    course_id, _ = open_course(client, [trainee()])
    client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    due = jobs(client, course_id)["followup"].due_at
    end = START + timedelta(days=1)
    assert due == datetime.combine(end + timedelta(days=90), time(8), ZoneInfo("Asia/Ho_Chi_Minh"))


LONG_AGO = START - timedelta(days=120)  # a course that ended four months ago: its follow-up may start


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


# --- L2: entering and importing test scores ---------------------------------------------------------------------

def test_entered_scores_replace_earlier_ones_and_feed_the_gain(client):
    p = trainee(pre=3.0)
    course_id, _ = open_course(client, [p])
    resp = client.post(f"/api/v1/courses/{course_id}/test-scores", headers=API_AUTH, json={"scores": [
        {"civil_servant_id": p["civil_servant_id"], "kind": "pre", "competency_code": "CM06", "score": 4.0},
        {"civil_servant_id": p["civil_servant_id"], "kind": "post", "competency_code": "CM06", "score": 7.5}]})
    assert resp.get_json() == {"count": 2}
    gain = client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()["learning_gain"]
    assert gain == [{"competency_code": "CM06", "pre_mean": 4.0, "post_mean": 7.5, "gain": 3.5, "paired": 1}]


def test_scores_of_someone_not_in_the_course_are_422_naming_the_line(client):
    course_id, _ = open_course(client, [trainee()])
    resp = client.post(f"/api/v1/courses/{course_id}/test-scores", headers=API_AUTH, json={"scores": [
        {"civil_servant_id": "stranger", "kind": "pre", "score": 4.0}]})
    assert resp.status_code == 422 and "scores.0.civil_servant_id" in resp.get_json()["errors"]["json"]


@pytest.mark.usefixtures("backend")  # import
def test_importing_a_file_with_one_bad_line_writes_nothing(client):
    p = trainee()
    course_id, _ = open_course(client, [p])
    cs = p["civil_servant_id"]
    bad = f"Mã định danh công chức,Loại bài kiểm tra,Mã năng lực,Điểm (0–10)\n{cs},đầu khóa,CM06,4\n{cs},post,CM06,11\n"
    resp = client.post(f"/api/v1/courses/{course_id}/test-scores/import", headers=API_AUTH,
                       data={"file": (io.BytesIO(bad.encode()), "diem.csv")})
    assert resp.status_code == 422
    assert [(x["line"], x["field"]) for x in resp.get_json()["problems"]] == [(3, "score")]
    assert resp.get_json()["errors"]["files"]["file"][0].startswith("Dòng 3, «score»")
    assert client.get(f"/api/v1/courses/{course_id}/test-scores", headers=API_AUTH).get_json() == []
    good = bad.replace(",11\n", ",8,5\n").replace("CM06,8,5", "CM06,\"8,5\"")
    resp = client.post(f"/api/v1/courses/{course_id}/test-scores/import", headers=API_AUTH,
                       data={"file": (io.BytesIO(good.encode()), "diem.csv")})
    assert resp.status_code == 201, resp.data
    got = client.get(f"/api/v1/courses/{course_id}/test-scores", headers=API_AUTH).get_json()
    assert sorted((x["kind"], x["score"], x["source"]) for x in got) == [("post", 8.5, "import"), ("pre", 4.0, "import")]


def test_import_without_a_file_is_422_naming_file(client):
    resp = client.post("/api/v1/unit-indicators/import", headers=API_AUTH, data={})
    assert resp.status_code == 422 and "file" in resp.get_json()["errors"]["json"]


# --- L4: unit indicators -----------------------------------------------------------------------------------------

def test_unit_indicators_before_and_after_a_course(client):
    course_id, _ = open_course(client, [trainee("CM-TANLOC"), trainee("CM-BIENBACH")], start=date(2026, 3, 2))
    items = [{"commune_code": "CM-TANLOC", "indicator_code": "procedures_on_time_share", "period": p, "value": v}
             for p, v in (("2026-01", 80.0), ("2026-02", 82.5), ("2026-06", 95.0), ("2026-Q3", 97.0))]
    assert client.post("/api/v1/unit-indicators", json={"items": items}, headers=API_AUTH).get_json() == {"count": 4}
    rows = client.get(f"/api/v1/courses/{course_id}/unit-indicators").get_json()["items"]
    tanloc = next(r for r in rows if r["commune_code"] == "CM-TANLOC" and
                  r["indicator_code"] == "procedures_on_time_share")
    assert (tanloc["before_period"], tanloc["before"], tanloc["after_period"], tanloc["after"], tanloc["change"]) == \
        ("2026-02", 82.5, "2026-06", 95.0, 12.5)
    assert {r["commune_code"] for r in rows} == {"CM-TANLOC", "CM-BIENBACH"}
    csv = client.get(f"/api/v1/courses/{course_id}/unit-indicators?format=csv")
    assert csv.mimetype == "text/csv" and "Thay đổi" in csv.get_data(as_text=True)


def test_unknown_indicator_or_bad_period_is_422_and_nothing_is_written(client):
    good = {"commune_code": "CM-TANLOC", "indicator_code": "citizen_satisfaction", "period": "2026-01", "value": 90}
    for bad, field in (({"indicator_code": "nope"}, "items.1.indicator_code"), ({"period": "2026-13"}, "items.1.period")):
        resp = client.post("/api/v1/unit-indicators", json={"items": [good, {**good, **bad}]}, headers=API_AUTH)
        assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"], resp.get_json()
    assert client.get("/api/v1/unit-indicators").get_json()["items"] == []


def test_indicators_import_from_xlsx_and_export_back(client):
    from shared.tabular import to_xlsx
    from services.evaluation.reports import INDICATOR_COLUMNS
    rows = [{"commune_code": "CM-TRIPHAI", "indicator_code": "citizen_satisfaction", "period": "2026-Q1",
             "value": 88.0}]
    data = to_xlsx(rows, INDICATOR_COLUMNS[:4], heading="Chỉ số")
    resp = client.post("/api/v1/unit-indicators/import", headers=API_AUTH,
                       data={"file": (io.BytesIO(data), "chiso.xlsx")})
    assert resp.status_code == 201, resp.data
    listed = client.get("/api/v1/unit-indicators?commune_code=CM-TRIPHAI").get_json()["items"]
    assert [(x["period"], x["value"], x["period_start"]) for x in listed] == [("2026-Q1", 88.0, "2026-01-01")]
    xlsx = client.get("/api/v1/unit-indicators?format=xlsx")
    assert xlsx.data[:2] == b"PK"
    assert client.delete(f"/api/v1/unit-indicators/{listed[0]['id']}").status_code == 401
    assert client.delete(f"/api/v1/unit-indicators/{listed[0]['id']}", headers=API_AUTH).status_code == 204
    assert client.get("/api/v1/unit-indicators").get_json()["items"] == []
    assert client.delete(f"/api/v1/unit-indicators/{listed[0]['id']}", headers=API_AUTH).status_code == 404


# --- rules and templates as versioned data ----------------------------------------------------------------------

@pytest.mark.usefixtures("backend")  # rule versions by date
def test_a_new_excellence_rule_version_applies_from_its_date_and_closes_the_old_one(client):
    today = utcnow().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    resp = client.post("/api/v1/rules/excellent-learner", headers=API_AUTH, json={
        "valid_from": today.isoformat(), "legal_basis": "Quyết định mẫu 01/2026",
        "params": {"require_certified": True, "min_post_mean": 8.0}})
    assert resp.status_code == 201, resp.data
    versions = client.get("/api/v1/rules/excellent-learner").get_json()
    assert [v["valid_to"] for v in versions] == [None, (today - timedelta(days=1)).isoformat()]
    p = trainee(post=8.0)
    course_id, _ = open_course(client, [p])
    client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    [ev] = outbox_events(client.application, "evaluation.course_evaluated")
    assert [x["civil_servant_id"] for x in ev["excellent_learners"]] == [p["civil_servant_id"]]


def test_the_rules_list_every_kind_with_the_version_in_force_today_and_its_legal_basis(client):
    listed = client.get("/api/v1/rules").get_json()
    assert [r["kind"] for r in listed] == ["scoring", "feedback-window", "followup", "level-mapping",
                                          "excellent-learner", "report-privacy", "templates", "unit-indicators"]
    assert all(r["in_force"]["legal_basis"] and r["in_force"]["kind"] == r["kind"] for r in listed)
    assert client.get("/api/v1/rules/no-such-kind").status_code == 404


def test_a_closed_version_fitting_before_the_first_one_is_accepted(client):
    first = client.get("/api/v1/rules/report-privacy").get_json()[-1]["valid_from"]
    resp = client.post("/api/v1/rules/report-privacy", headers=API_AUTH, json={
        "valid_from": "2000-01-01", "valid_to": "2000-12-31", "legal_basis": "x", "params": {"min_group_size": 5}})
    assert first > "2000-12-31" and resp.status_code == 201, resp.data


@pytest.mark.usefixtures("backend")  # rule versions by date
def test_an_overlapping_or_malformed_rule_version_is_refused(client):
    resp = client.post("/api/v1/rules/report-privacy", headers=API_AUTH, json={
        "valid_from": "2010-01-01", "legal_basis": "x", "params": {"min_group_size": 5}})
    assert resp.status_code == 409 and "valid_from" in resp.get_json()["errors"]["json"]
    resp = client.post("/api/v1/rules/level-mapping", headers=API_AUTH, json={
        "valid_from": "2030-01-01", "legal_basis": "x", "params": {"thresholds": [[5, 2]]}})
    assert resp.status_code == 422 and "params.thresholds" in resp.get_json()["errors"]["json"]


@pytest.mark.usefixtures("backend")  # versions by date, JSON
def test_a_new_template_version_from_the_bank_is_used_for_courses_opened_after_it(client):
    resp = client.post("/api/v1/form-templates", headers=API_AUTH, json={
        "code": "KH-CHUNG", "purpose": "course", "title": "Phiếu v2",
        "item_codes": ["content", "fac_room", "organisation", "txt_improve"]})
    assert resp.status_code == 201, resp.data
    assert resp.get_json()["version"] == 2
    _, reqs = open_course(client, [trainee()])
    form = client.get(f"/api/v1/feedback/{reqs[0]['token']}").get_json()
    assert [c["code"] for c in form["criteria"]] == ["content", "fac_room", "organisation"]
    assert [s["object"] for s in form["sections"]] == ["programme", "facilities", "organisation", "free_text"]
    bad = client.post("/api/v1/form-templates", headers=API_AUTH, json={
        "code": "X", "purpose": "course", "title": "t", "item_codes": ["lec_ethics"]})
    assert bad.status_code == 422 and "item_codes.0" in bad.get_json()["errors"]["json"]


def test_the_question_bank_covers_all_six_objects(client):
    bank = client.get("/api/v1/question-bank?purpose=course").get_json()
    assert {q["object_code"] for q in bank} == {"programme", "learners", "lecturers", "facilities", "organisation",
                                                "effectiveness"}


# --- reports and charts ------------------------------------------------------------------------------------------

def closed_course(client, n=3, value=8, commune="CM-TANLOC", topic="KN-CNTT"):
    course_id, reqs = open_course(client, [trainee(commune, pre=5.0, post=8.0) for _ in range(n)], topic=topic)
    for r in reqs:
        client.post(f"/api/v1/feedback/{r['token']}", json={"scores": scores(value),
                                                            "lecturers": {LECTURERS[0]: lecturer_form(value)}})
    client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    return course_id


@pytest.mark.usefixtures("backend")  # aggregation SQL
def test_reports_per_topic_lecturer_commune_and_year(client):
    closed_course(client, 3, 8, "CM-TANLOC", "KN-CNTT")
    closed_course(client, 3, 9, "CM-TRIPHAI", "KN-CNTT")
    closed_course(client, 2, 6, "CM-BIENBACH", "KN-VANBAN")
    closed_course(client, 3, 7, "CM-TANLOC", "KN-KHAC")
    topics = {r["topic_code"]: r for r in client.get(f"/api/v1/reports/topics?year={YEAR}").get_json()["items"]}
    assert (topics["KN-CNTT"]["index"], topics["KN-CNTT"]["band"], topics["KN-CNTT"]["gain"]) == (8.5, "excellent", 3.0)
    # KN-VANBAN has two forms: hidden; KN-KHAC (the smallest shown) is hidden too, else year − the others = VANBAN
    assert [(t, topics[t]["index"], topics[t]["suppressed"]) for t in ("KN-VANBAN", "KN-KHAC")] == \
        [("KN-VANBAN", None, True), ("KN-KHAC", None, True)]
    [lec] = client.get(f"/api/v1/reports/lecturers?year={YEAR}").get_json()["items"]
    # 11 forms, but the 2 of the KN-VANBAN course (hidden in its summary) would come back as
    # 11 × year mean − the three shown course means: hidden
    assert (lec["responses"], lec["mean"], lec["courses"], lec["suppressed"]) == (11, None, 4, True)
    communes = {r["commune_code"]: r for r in client.get("/api/v1/reports/communes").get_json()["items"]}
    assert (communes["CM-TANLOC"]["satisfaction"], communes["CM-TANLOC"]["suppressed"]) == (7.5, False)
    assert (communes["CM-BIENBACH"]["satisfaction"], communes["CM-BIENBACH"]["suppressed"]) == (None, True)
    assert (communes["CM-TRIPHAI"]["satisfaction"], communes["CM-TRIPHAI"]["suppressed"]) == (None, True)
    assert communes["CM-BIENBACH"]["response_rate"] == 1.0
    courses = client.get(f"/api/v1/reports/courses?year={YEAR}").get_json()["items"]
    by_topic = {}
    for r in courses:
        by_topic.setdefault(r["topic_code"], []).append(r)
    assert [r["suppressed"] for r in by_topic["KN-VANBAN"]] == [True]
    # one more course is hidden beside it (the year − the shown ones would give it back); if that one is from
    # KN-CNTT, its sibling goes too (KN-CNTT's topic row − the sibling would give it back)
    assert [r["suppressed"] for r in by_topic["KN-CNTT"]] in ([False, False], [True, True])
    assert sum(r["suppressed"] for r in courses) in (2, 3)
    assert all(r["index"] is None for r in courses if r["suppressed"])
    [year] = client.get("/api/v1/reports/years").get_json()["items"]
    assert (year["year"], year["courses"], year["index"]) == (YEAR, 4, 7.64)
    assert client.get(f"/api/v1/reports/topics?year={YEAR - 1}").get_json()["items"] == []


def test_a_hidden_course_cannot_be_recovered_from_its_topic_or_the_year(client):
    a = closed_course(client, 3, 8, "CM-TANLOC", "KN-CNTT")
    b = closed_course(client, 2, 4, "CM-TANLOC", "KN-CNTT")
    c = closed_course(client, 3, 9, "CM-TRIPHAI", "KN-KHAC")
    rows = {r["course_id"]: r for r in client.get(f"/api/v1/reports/courses?year={YEAR}").get_json()["items"]}
    assert rows[b]["suppressed"] and rows[b]["index"] is None
    assert rows[a]["suppressed"]  # else topic KN-CNTT (5 forms, shown) − a = b
    assert not rows[c]["suppressed"] and rows[c]["index"] == 9.0


@pytest.mark.parametrize("fmt, mime, magic", [("csv", "text/csv", "\ufeff".encode()),
                                              ("xlsx", "application/vnd.openxmlformats-officedocument."
                                                       "spreadsheetml.sheet", b"PK")])
def test_reports_download_as_csv_and_xlsx(client, fmt, mime, magic):
    course_id = closed_course(client)
    for path in (f"/api/v1/reports/courses/{course_id}", "/api/v1/reports/courses", "/api/v1/reports/topics",
                 "/api/v1/reports/lecturers", "/api/v1/reports/communes", "/api/v1/reports/years"):
        resp = client.get(f"{path}?format={fmt}")
        assert resp.status_code == 200 and resp.mimetype == mime and resp.data.startswith(magic), path


def test_course_report_json_has_every_level(client):
    course_id = closed_course(client)
    r = client.get(f"/api/v1/reports/courses/{course_id}").get_json()
    assert (r["index"], r["band"], r["status"]) == (8.0, "excellent", "closed")
    assert {"trainee", "supervisor", "unit_indicators"} <= set(r["followup"])
    assert any(line["section"] == "Kết quả học tập (L2)" for line in r["lines"])


@pytest.mark.parametrize("fmt, mime, magic", [("svg", "image/svg+xml", b"<?xml"), ("png", "image/png", b"\x89PNG")])
def test_charts_render_as_svg_and_png(client, fmt, mime, magic):
    course_id = closed_course(client)
    for path in (f"/api/v1/reports/courses/{course_id}/charts/criteria",
                 f"/api/v1/reports/courses/{course_id}/charts/gain", "/api/v1/reports/charts/response-rates",
                 "/api/v1/reports/charts/topics"):
        resp = client.get(f"{path}?format={fmt}")
        assert resp.status_code == 200 and resp.mimetype == mime and resp.data.startswith(magic), path


def test_unknown_course_report_is_404(client):
    assert client.get("/api/v1/reports/courses/nope").status_code == 404
    assert client.get("/api/v1/reports/courses/nope/charts/gain").status_code == 404


def test_comments_are_shown_only_with_enough_answers(client):
    course_id, reqs = open_course(client, [trainee() for _ in range(3)])
    client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"scores": scores(), "comment": "Cần thêm thực hành"})
    assert client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()["comments"] == []
    for r in reqs[1:]:
        client.post(f"/api/v1/feedback/{r['token']}", json={"scores": scores(), "texts": {"txt_good": "Bài tập"}})
    assert client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()["comments"] == []  # still open
    close(client, course_id)
    assert client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()["comments"] == \
        ["Bài tập", "Bài tập", "Cần thêm thực hành"]


def test_admin_progress_lists_the_state(client):
    open_course(client, [trainee()])
    [item] = client.get("/admin/evaluation/progress", headers=ADMIN_AUTH).get_json()["items"]
    assert (item["status"], item["requests"], item["answered"]) == ("open", 1, 0)



def test_a_course_summary_under_three_valid_forms_shows_counts_but_no_scores(client):
    course_id, reqs = open_course(client, [trainee() for _ in range(3)])
    client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"scores": scores(3)})
    close(client, course_id)
    one = client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()
    assert (one["responses"], one["suppressed"], one["index"], one["band"]) == (1, True, None, None)
    assert one["suppressed_reason"] == "too_few_forms"
    assert set(one["means"].values()) == {None} and one["object_scores"] == {} and one["criterion_means"] == {}
    report = client.get(f"/api/v1/reports/courses/{course_id}").get_json()
    assert report["index"] is None and "3" not in str([x["value"] for x in report["lines"][1:]])
    course_id, reqs = open_course(client, [trainee() for _ in range(3)])
    for n, r in enumerate(reqs):
        client.post(f"/api/v1/feedback/{r['token']}", json={"scores": scores(3 if n == 0 else 9)})
    close(client, course_id)
    three = client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()
    assert (three["suppressed"], three["index"]) == (False, 7.0)


def test_scores_stay_hidden_while_the_window_is_open_so_each_new_answer_cannot_be_read_off(client):
    course_id, reqs = open_course(client, [trainee() for _ in range(4)])
    for r in reqs[:3]:
        client.post(f"/api/v1/feedback/{r['token']}", json={"scores": scores(8), "comment": "Hay"})
    live = client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()
    assert (live["responses"], live["suppressed"], live["suppressed_reason"]) == (3, True, "window_open")
    assert (live["index"], live["band"], live["object_scores"], live["comments"]) == (None, None, {}, [])
    assert all(x["mean"] is None for x in live["lecturer_scores"])
    close(client, course_id)
    final = client.get(f"/api/v1/courses/{course_id}/feedback-summary").get_json()
    assert (final["suppressed"], final["index"], final["band"]) == (False, 8.0, "excellent")


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
    from services.evaluation.models import FeedbackRequest, FeedbackResponse
    course_id, reqs = open_course(client, [trainee()])
    client.post(f"/api/v1/feedback/{reqs[0]['token']}", json={"scores": scores()})
    with session_factory(client)() as s:
        asked = s.scalar(sa.select(FeedbackRequest.submitted_at).where(FeedbackRequest.course_id == course_id))
        answered = s.scalar(sa.select(FeedbackResponse.submitted_at).where(FeedbackResponse.course_id == course_id))
    assert answered != asked and answered == asked.replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.mark.parametrize("bands", [
    [1, 2, 3, 4, 5],
    [[8, 1, "x"], [6, "good", "Tốt"], [4, "average", "TB"], [2, "weak", "Yếu"], [0, "poor", "Kém"]],
    [["8", "excellent", "XS"], [6, "good", "Tốt"], [4, "average", "TB"], [2, "weak", "Yếu"], [0, "poor", "Kém"]],
    [[2, "excellent", "XS"], [6, "good", "Tốt"], [4, "average", "TB"], [8, "weak", "Yếu"], [0, "poor", "Kém"]],
    [[8, "excellent", "XS"], [6, "good", "Tốt"], [4, "average", "TB"], [2, "weak", "Yếu"]],
])
def test_malformed_bands_are_422_naming_them_never_500(client, bands):
    resp = client.post("/api/v1/rules/scoring", headers=API_AUTH, json={
        "valid_from": "2030-01-01", "legal_basis": "x",
        "params": {"max_unanswered_share": 0.05, "index_method": "object_mean", "bands": bands}})
    assert resp.status_code == 422, resp.data
    assert any(k.startswith("params.bands") for k in resp.get_json()["errors"]["json"])


def test_an_imported_competency_code_too_long_for_its_column_is_422_naming_the_line(client):
    p = trainee()
    course_id, _ = open_course(client, [p])
    text = (f"Mã định danh công chức,Loại bài kiểm tra,Mã năng lực,Điểm (0–10)\n"
            f"{p['civil_servant_id']},pre,{'X' * 21},4\n")
    resp = client.post(f"/api/v1/courses/{course_id}/test-scores/import", headers=API_AUTH,
                       data={"file": (io.BytesIO(text.encode()), "diem.csv")})
    # the one shape of a refused upload (issue 10: every row's problems in one answer)
    assert resp.status_code == 422 and resp.get_json()["problems"][0]["line"] == 2
    assert resp.get_json()["problems"][0]["field"] == "competency_code"
    assert client.get(f"/api/v1/courses/{course_id}/test-scores", headers=API_AUTH).get_json() == []


def test_an_imported_commune_code_too_long_for_its_column_is_422_naming_the_line(client):
    text = f"Mã xã,Mã chỉ số,Kỳ (YYYY-MM hoặc YYYY-Qn),Giá trị (%)\n{'X' * 41},citizen_satisfaction,2026-01,80\n"
    resp = client.post("/api/v1/unit-indicators/import", headers=API_AUTH,
                       data={"file": (io.BytesIO(text.encode()), "chiso.csv")})
    assert resp.status_code == 422
    assert [(p["line"], p["field"]) for p in resp.get_json()["problems"]] == [(2, "commune_code")]


def test_one_period_written_two_ways_is_one_value(client):
    item = {"commune_code": "CM-TANLOC", "indicator_code": "citizen_satisfaction", "value": 80.0}
    for period, value in (("2026-Q1", 80.0), ("2026-q01", 85.0), ("+2026-Q1", 90.0)):
        resp = client.post("/api/v1/unit-indicators", headers=API_AUTH,
                           json={"items": [{**item, "period": period, "value": value}]})
        assert resp.status_code == 201, resp.data
    listed = client.get("/api/v1/unit-indicators").get_json()["items"]
    assert [(x["period"], x["value"]) for x in listed] == [("2026-Q1", 90.0)]


@pytest.mark.parametrize("days, status", [(30, 422), (88, 422), (185, 422), (120, 201)])
def test_the_follow_up_delay_stays_within_three_to_six_months(client, days, status):
    resp = client.post("/api/v1/rules/followup", headers=API_AUTH, json={
        "valid_from": "2030-01-01", "legal_basis": "TT 10/2017",
        "params": {"delay_days": days, "answer_days": 21}})
    assert resp.status_code == status, resp.data
    if status == 422:
        assert "params.delay_days" in resp.get_json()["errors"]["json"]


def test_a_lecturer_year_mean_is_shown_when_no_hidden_course_could_be_derived_from_it(client):
    closed_course(client, 3, 8)
    closed_course(client, 4, 6)
    [lec] = client.get(f"/api/v1/reports/lecturers?year={YEAR}").get_json()["items"]
    assert (lec["responses"], lec["mean"], lec["band"], lec["suppressed"]) == (7, 6.86, "good", False)  # 48/7


@pytest.mark.parametrize("code, params, field", [
    ("unit_indicators", {"indicators": {"x" * 41: "Chỉ số"}}, "params.indicators"),
    ("feedback_window", {"days": 7, "reminder_days_before": 2, "close_when_all_answered": "no"},
     "params.close_when_all_answered"),
])
def test_rule_values_that_could_not_be_stored_or_would_be_misread_are_422(client, code, params, field):
    resp = client.post(f"/api/v1/rules/{code.replace('_', '-')}", headers=API_AUTH, json={
        "valid_from": "2031-01-01", "legal_basis": "x", "params": params})
    assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"], resp.data


def close(client, course_id: str) -> None:
    """Close the course's answer window as an officer would (the scheduler does it at the deadline)."""
    resp = client.post(f"/api/v1/courses/{course_id}/close-feedback", headers=API_AUTH)
    assert resp.status_code == 200, resp.data
