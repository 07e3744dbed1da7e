"""Evaluation through the real app on SQLite: rules, the question bank and templates as versioned data (usecases/rules.py)."""
from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.db import utcnow
from tests.unit.apps import API_AUTH
from tests.unit.evaluation.factories import (
    close, open_course, outbox_events, trainee,
)


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


@pytest.mark.parametrize("days, status", [(30, 422), (88, 422), (185, 422), (120, 201)])
def test_the_follow_up_delay_stays_within_three_to_six_months(client, days, status):
    resp = client.post("/api/v1/rules/followup", headers=API_AUTH, json={
        "valid_from": "2030-01-01", "legal_basis": "TT 10/2017",
        "params": {"delay_days": days, "answer_days": 21}})
    assert resp.status_code == status, resp.data
    if status == 422:
        assert "params.delay_days" in resp.get_json()["errors"]["json"]


@pytest.mark.parametrize("code, params, field", [
    ("unit_indicators", {"indicators": {"x" * 41: "Chỉ số"}}, "params.indicators"),
    ("feedback_window", {"days": 7, "reminder_days_before": 2, "close_when_all_answered": "no"},
     "params.close_when_all_answered"),
])
def test_rule_values_that_could_not_be_stored_or_would_be_misread_are_422(client, code, params, field):
    resp = client.post(f"/api/v1/rules/{code.replace('_', '-')}", headers=API_AUTH, json={
        "valid_from": "2031-01-01", "legal_basis": "x", "params": params})
    assert resp.status_code == 422 and field in resp.get_json()["errors"]["json"], resp.data
