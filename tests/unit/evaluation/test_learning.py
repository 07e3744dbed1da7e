"""Evaluation through the real app on SQLite: L2 test scores entered and imported (usecases/learning.py)."""
from __future__ import annotations

import io
import pytest

from tests.unit.apps import API_AUTH
from tests.unit.evaluation.factories import (
    open_course, scores, trainee,
)


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
    assert resp.status_code == 422 and "file" in resp.get_json()["errors"]["files"]


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
