"""Evaluation through the real app on SQLite: reports, charts and what the summaries hide (usecases/reports.py)."""
from __future__ import annotations

import pytest

from tests.unit.apps import ADMIN_AUTH
from tests.unit.evaluation.factories import (
    YEAR, close, closed_course, open_course, scores, trainee,
)


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


def test_a_lecturer_year_mean_is_shown_when_no_hidden_course_could_be_derived_from_it(client):
    closed_course(client, 3, 8)
    closed_course(client, 4, 6)
    [lec] = client.get(f"/api/v1/reports/lecturers?year={YEAR}").get_json()["items"]
    assert (lec["responses"], lec["mean"], lec["band"], lec["suppressed"]) == (7, 6.86, "good", False)  # 48/7
