"""Every refused upload lists the format AND reference problems of every row in one answer (issue 10, defect 3).

Before, reading stopped at the cells that did not parse: a file with an unknown unit on line 4 and a bad gender on
line 5 was refused naming line 5 only, and the officer had to upload again to learn about line 4. The five uploads
(needs registry, funding cost norms, evaluation test scores and unit indicators, courses attendance sheet) now share
one mechanism (shared.tabular.RowErrors) and the one 422 shape.
"""
from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from tests.unit.apps import ADMIN_AUTH, API_AUTH


def _problems(resp) -> set[tuple[int, str]]:
    body = resp.get_json()
    assert resp.status_code == 422, body
    assert body["errors"]["files"]["file"] == [f"Dòng {p['line']}, «{p['field']}»: {p['message']}"
                                                for p in body["problems"]]
    assert [p["line"] for p in body["problems"]] == sorted(p["line"] for p in body["problems"])
    return {(p["line"], p["field"]) for p in body["problems"]}


def _post(client, url: str, data: bytes, name: str):
    return client.post(url, headers=API_AUTH, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), name)})


def _xlsx(rows: list[list]) -> bytes:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- needs: the registry -----------------------------------------------------------------------------------------

REGISTRY_HEADER = ["Mã công chức", "Họ và tên", "Giới tính", "Năm sinh", "Dân tộc", "Mã đơn vị", "Mã vị trí việc làm"]


def test_a_registry_xlsx_is_refused_listing_every_bad_row_format_and_reference(make_client):
    client = make_client("needs")
    assert client.post("/admin/needs/seed", json={"civil_servants": 0}, headers=ADMIN_AUTH).status_code == 200
    data = _xlsx([REGISTRY_HEADER,
                  ["CS-1", "Lê Văn An", "Nam", 1985, "Kinh", "TB-X-TRILUC", "TPHT"],           # line 2: fine
                  ["CS-2", "Trần Thị Hà", "Nữ", 1990, "Khmer", "CM-HOTHIKY", "HCC-MC"],        # line 3: fine
                  ["CS-3", "Võ Minh Tâm", "Nam", 1987, "Kinh", "TB-X-NOWHERE", "TPHT"],        # line 4: unknown unit
                  ["CS-4", "Đỗ Thu Trang", "Khác", "nineteen", "Kinh", "TB-X-TRILUC", "TPHT"],  # line 5: format
                  ["CS-1", "Lê Văn An", "Nam", 1985, "Kinh", "TB-X-TRILUC", "TPHT"],           # line 6: duplicate
                  ["CS-5", "Phạm Văn Bình", "Nam", 1992, "Kinh", "TB-X-TRILUC", "NOPE"]])      # line 7: position
    resp = _post(client, "/api/v1/civil-servants/import", data, "ds.xlsx")
    assert _problems(resp) == {(4, "unit_code"), (5, "gender"), (5, "birth_year"), (6, "code"),
                               (7, "position_code")}
    listed = client.get("/api/v1/civil-servants", headers=API_AUTH).get_json()
    assert listed["total"] == 0  # all or nothing
    # the answer repeats only what the submitter sent (the cell text), never other people's data
    assert "Lê Văn An" not in resp.get_data(as_text=True)


# --- funding: cost norms -----------------------------------------------------------------------------------------

NORM_HEADER = "Khoản chi,Đơn vị tính,Hạng giảng viên,Tỉnh,Mức chi (đồng),Căn cứ pháp lý,Hiệu lực từ,Hiệu lực đến\n"


def test_a_cost_norm_file_is_refused_listing_bad_cells_wrong_units_and_overlaps_together(make_client):
    client = make_client("funding")
    text = (NORM_HEADER
            + "lecturer_fee,per_buoi,1,CM,abc,NQ 01,2026-01-01,\n"        # line 2: amount does not parse
            + "travel,per_buoi,,CM,2000,NQ 01,2026-01-01,\n"              # line 3: the item's unit is per_km
            + "travel,per_km,,CM,2000,NQ 01,2026-01-01,2026-12-31\n"      # line 4: fine
            + "travel,per_km,,CM,2100,NQ 01,2026-06-01,\n"                # line 5: overlaps line 4
            + "learner_support,per_day,,CM,100000,NQ 01,2026-02-30,\n")   # line 6: no such date
    resp = _post(client, "/api/v1/rules/cost-norms/import", text.encode(), "norms.csv")
    assert _problems(resp) == {(2, "amount"), (3, "unit"), (5, "valid_from"), (6, "valid_from")}
    assert client.get("/api/v1/rules/cost-norms", headers=API_AUTH).get_json() == []


# --- evaluation: test scores and unit indicators -----------------------------------------------------------------

def test_a_test_score_file_is_refused_listing_bad_scores_and_people_outside_the_course(make_client):
    from tests.unit.evaluation.factories import open_course, trainee
    client = make_client("evaluation")
    p = trainee()
    course_id, _ = open_course(client, [p])
    cs = p["civil_servant_id"]
    text = ("Mã định danh công chức,Loại bài kiểm tra,Mã năng lực,Điểm (0–10)\n"
            f"{cs},pre,CM06,4\n"                 # line 2: fine
            "stranger,pre,CM06,5\n"              # line 3: not in the course
            f"{cs},post,CM06,11\n"               # line 4: score out of range
            f"{cs},post,{'X' * 21},7\n"          # line 5: competency code too long
            "stranger,mid,CM06,5\n")             # line 6: bad kind and not in the course
    resp = _post(client, f"/api/v1/courses/{course_id}/test-scores/import", text.encode(), "diem.csv")
    assert _problems(resp) == {(3, "civil_servant_id"), (4, "score"), (5, "competency_code"), (6, "kind"),
                               (6, "civil_servant_id")}
    assert client.get(f"/api/v1/courses/{course_id}/test-scores", headers=API_AUTH).get_json() == []


def test_a_unit_indicator_file_is_refused_listing_every_bad_row(make_client):
    client = make_client("evaluation")
    text = ("Mã xã,Mã chỉ số,Kỳ (YYYY-MM hoặc YYYY-Qn),Giá trị (%)\n"
            "CM-TANLOC,citizen_satisfaction,2026-01,80\n"     # line 2: fine
            f"{'X' * 41},citizen_satisfaction,2026-01,80\n"   # line 3: commune code too long
            "CM-TANLOC,nope,2026-02,80\n"                     # line 4: unknown indicator
            "CM-TANLOC,citizen_satisfaction,2026-13,80\n"     # line 5: no such period
            "CM-TANLOC,citizen_satisfaction,2026-03,150\n")   # line 6: value out of range
    resp = _post(client, "/api/v1/unit-indicators/import", text.encode(), "chiso.csv")
    assert _problems(resp) == {(3, "commune_code"), (4, "indicator_code"), (5, "period"), (6, "value")}
    assert client.get("/api/v1/unit-indicators").get_json()["items"] == []


# --- courses: the attendance sheet -------------------------------------------------------------------------------

def test_an_attendance_sheet_is_refused_listing_bad_marks_and_unknown_codes_together(make_client):
    from tests.unit.courses.factories import confirmed_course, ok
    client = make_client("courses")
    ok(client.post("/api/v1/rules/duty-shares", json={"commune_code": "*", "max_absent_percent": 100, "note": "t"},
                   headers=API_AUTH))
    course, _ = confirmed_course(client, 2)
    sheet = client.get(f"/api/v1/courses/{course['id']}/attendance-sheet", query_string={"format": "csv"},
                       headers=API_AUTH).data.decode("utf-8-sig").splitlines()
    filled = [sheet[0], sheet[1].rstrip(",") + ",x,?,x,x", "9,TB-NOBODY,x,x,x,x,x,x,x,x",
              sheet[2].rstrip(",") + ",x,x,x,x"]
    resp = _post(client, f"/api/v1/courses/{course['id']}/attendance-sheet", "\n".join(filled).encode(),
                 "diem-danh.csv")
    assert _problems(resp) == {(2, f"s_{course['sessions'][1]['id']}"), (3, "code")}
    assert all(r["sessions_attended"] == 0 for r in ok(client.get(f"/api/v1/courses/{course['id']}/enrollments",
                                                                   headers=API_AUTH)))


@pytest.mark.parametrize("service, url", [("needs", "/api/v1/civil-servants/import"),
                                          ("funding", "/api/v1/rules/cost-norms/import"),
                                          ("evaluation", "/api/v1/unit-indicators/import")])
def test_a_file_that_is_not_a_table_is_still_refused_at_once_in_the_same_shape(make_client, service, url):
    client = make_client(service)
    assert _problems(_post(client, url, b"x", "ds.pdf")) == {(0, "file")}
