"""Registry, units and positions through the real needs app on SQLite: events, import/export, reorganisation."""
import io
from datetime import date

import pytest
import sqlalchemy as sa
from openpyxl import Workbook, load_workbook

from services.needs.models import CivilServant
from tests.unit.apps import ADMIN_AUTH, API_AUTH
from tests.unit.needs.factories import events, register, seeded, session_of

HEADER = "Mã công chức,Họ và tên,Giới tính,Năm sinh,Dân tộc,Mã đơn vị,Mã vị trí việc làm,Lý luận chính trị,Vùng khó khăn\n"


def upload(client, content: bytes, name: str = "ds.csv"):
    return client.post("/api/v1/civil-servants/import", data={"file": (io.BytesIO(content), name)},
                       headers=API_AUTH, content_type="multipart/form-data")


def registry_count(client) -> int:
    with session_of(client) as s:
        return s.scalar(sa.select(sa.func.count()).select_from(CivilServant))


# --- units -------------------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("backend")  # validity dates
def test_units_as_of_a_day_before_and_after_the_merger_and_their_parents(make_client):
    client = seeded(make_client)
    before = client.get("/api/v1/units", query_string={"as_of": "2025-06-30"}).get_json()
    after = client.get("/api/v1/units", query_string={"as_of": "2025-07-01"}).get_json()
    assert len(before) == 12 and {u["parent_code"] for u in before} == {"TB-HUYEN"}
    assert len(after) == 5 and {u["parent_code"] for u in after} == {"CM"}
    provinces = client.get("/api/v1/units", query_string={"kind": "tinh"}).get_json()
    assert [u["code"] for u in provinces] == ["CM"]


def reorg_body(**overrides):
    return {"decision_no": "NQ 99/NQ-UBTVQH15", "effective_date": "2027-01-01",
            "new_units": [{"code": "CM-THOIBINH-MOI", "name": "Xã Thới Bình (mới)", "kind": "xa", "parent_code": "CM"}],
            "successions": [{"predecessor_code": "CM-THOIBINH", "successor_code": "CM-THOIBINH-MOI"},
                            {"predecessor_code": "CM-HOTHIKY", "successor_code": "CM-THOIBINH-MOI"}], **overrides}


@pytest.mark.usefixtures("backend")  # validity dates
def test_reorganisation_closes_predecessors_the_day_before_and_publishes_the_event(make_client):
    client = seeded(make_client)
    resp = client.post("/admin/needs/reorganisations", json=reorg_body(), headers=ADMIN_AUTH)
    assert resp.status_code == 201, resp.data
    old = client.get("/api/v1/units/CM-HOTHIKY").get_json()
    assert old["unit"]["valid_to"] == "2026-12-31"
    assert [s["successor_code"] for s in old["successors"]] == ["CM-THOIBINH-MOI"]
    in_2027 = {u["code"] for u in client.get("/api/v1/units", query_string={"as_of": "2027-01-01"}).get_json()}
    assert in_2027 == {"CM-THOIBINH-MOI", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC"}
    [event] = events(client, "needs.units_reorganised")
    assert event["effective_date"] == "2027-01-01" and len(event["successions"]) == 2
    assert event["new_units"][0]["unit_type"] == "xa"


def test_a_former_unit_is_followed_through_two_reorganisations(make_client):
    client = seeded(make_client)
    cs = register(client, unit_code="TB-X-HOTHIKY")
    assert cs["commune_code"] == "CM-HOTHIKY"
    client.post("/admin/needs/reorganisations", json=reorg_body(effective_date="2025-08-01"), headers=ADMIN_AUTH)
    assert client.get(f"/api/v1/civil-servants/{cs['id']}", headers=API_AUTH).get_json()["commune_code"] == \
        "CM-THOIBINH-MOI"
    by_former = client.get("/api/v1/civil-servants", query_string={"unit_code": "TB-X-HOTHIKY"}, headers=API_AUTH)
    assert by_former.get_json()["total"] == 1


def test_reorganising_an_unknown_or_closed_unit_is_422_naming_successions_and_changes_nothing(make_client):
    client = seeded(make_client)
    bad = reorg_body(successions=[{"predecessor_code": "TB-X-TANPHU", "successor_code": "CM-THOIBINH-MOI"}])
    resp = client.post("/admin/needs/reorganisations", json=bad, headers=ADMIN_AUTH)
    assert resp.status_code == 422 and "successions" in resp.get_json()["errors"]["json"]
    assert client.get("/api/v1/units/CM-THOIBINH-MOI").status_code == 404
    assert events(client, "needs.units_reorganised") == []


# --- positions ---------------------------------------------------------------------------------------------------

def test_position_catalogue_holds_legacy_titles_and_new_positions_and_is_editable(make_client):
    client = seeded(make_client)
    positions = client.get("/api/v1/positions").get_json()
    assert sum(p["legacy"] for p in positions) == 6
    assert any(p["category"] == "leadership" for p in positions)
    resp = client.post("/api/v1/positions", json={"code": "KT-DOTHI", "name": "Chuyên viên quản lý đô thị"},
                       headers=API_AUTH)
    assert resp.status_code == 201
    resp = client.patch("/api/v1/positions/KT-DOTHI", json={"active": False}, headers=API_AUTH)
    assert resp.get_json()["active"] is False
    assert client.post("/api/v1/positions", json={"code": "KT-DOTHI", "name": "x"}, headers=API_AUTH).status_code == 409


# --- civil servants ----------------------------------------------------------------------------------------------

def test_updating_a_civil_servant_publishes_updated_with_the_changed_fields(make_client):
    client = seeded(make_client)
    cs = register(client)
    resp = client.patch(f"/api/v1/civil-servants/{cs['id']}",
                        json={"position_code": "HCC-MC", "llct_level": "trung_cap", "employment_status": "on_leave",
                              "status_since": "2026-01-05"}, headers=API_AUTH)
    assert resp.status_code == 200, resp.data
    assert resp.get_json()["status_since"] == "2026-01-05"
    [event] = events(client, "needs.civil_servant_updated")
    assert event["changed_fields"] == ["employment_status", "llct_level", "position_code"]
    assert (event["position_code"], event["employment_status"]) == ("HCC-MC", "on_leave")
    assert "full_name" not in event and "birth_year" not in event


def test_an_update_that_changes_nothing_publishes_nothing(make_client):
    client = seeded(make_client)
    cs = register(client)
    assert client.patch(f"/api/v1/civil-servants/{cs['id']}", json={"gender": "female"},
                        headers=API_AUTH).status_code == 200
    assert events(client, "needs.civil_servant_updated") == []


def test_update_with_an_unknown_position_is_422_naming_position_code(make_client):
    client = seeded(make_client)
    cs = register(client)
    resp = client.patch(f"/api/v1/civil-servants/{cs['id']}", json={"position_code": "NOPE"}, headers=API_AUTH)
    assert resp.status_code == 422 and "position_code" in resp.get_json()["errors"]["json"]


def test_leaving_publishes_left_and_the_person_can_no_longer_be_changed(make_client):
    client = seeded(make_client)
    cs = register(client, employed_from="2015-01-01")
    resp = client.post(f"/api/v1/civil-servants/{cs['id']}/leave", json={"left_on": "2026-02-01", "reason": "resigned"},
                       headers=API_AUTH)
    assert resp.status_code == 200 and resp.get_json()["employment_status"] == "left"
    [event] = events(client, "needs.civil_servant_left")
    assert (event["left_on"], event["reason"], event["commune_code"]) == ("2026-02-01", "resigned", "CM-TANLOC")
    again = client.post(f"/api/v1/civil-servants/{cs['id']}/leave", json={"left_on": "2026-02-02", "reason": "other"},
                        headers=API_AUTH)
    assert again.status_code == 409
    assert client.patch(f"/api/v1/civil-servants/{cs['id']}", json={"rank": "x"}, headers=API_AUTH).status_code == 409


def test_leaving_before_recruitment_is_422_naming_left_on(make_client):
    client = seeded(make_client)
    cs = register(client, employed_from="2015-01-01")
    resp = client.post(f"/api/v1/civil-servants/{cs['id']}/leave", json={"left_on": "2014-01-01", "reason": "other"},
                       headers=API_AUTH)
    assert resp.status_code == 422 and "left_on" in resp.get_json()["errors"]["json"]


# --- import / export ---------------------------------------------------------------------------------------------

@pytest.mark.usefixtures("backend")  # import: bulk insert
def test_csv_import_registers_new_codes_and_updates_known_ones_publishing_each(make_client):
    client = seeded(make_client)
    known = register(client, code="CS-KNOWN", llct_level="none")
    body = (HEADER + "CS-NEW1,Lê Văn An,Nam,1985,Kinh,TB-X-TRILUC,TPHT,so_cap,\n"
            "CS-NEW2,Trần Thị Hà,Nữ,1990,Khmer,CM-HOTHIKY,HCC-MC,,x\n"
            "CS-KNOWN,Nguyễn Thị Lan,Nữ,1988,Khmer,TB-X-TANLOCBAC,VHXH,so_cap,\n").encode()
    resp = upload(client, body)
    assert resp.status_code == 200, resp.data
    assert resp.get_json() == {"rows": 3, "registered": 2, "updated": 1, "unchanged": 0}
    registered = events(client, "needs.civil_servant_registered")
    assert {e["code"] for e in registered} == {"CS-KNOWN", "CS-NEW1", "CS-NEW2"}
    assert next(e for e in registered if e["code"] == "CS-NEW1")["commune_code"] == "CM-TRIPHAI"
    [updated] = events(client, "needs.civil_servant_updated")
    assert updated["civil_servant_id"] == known["id"] and "llct_level" in updated["changed_fields"]


@pytest.mark.usefixtures("backend")  # import: nothing written
def test_a_file_with_bad_rows_is_refused_whole_listing_line_and_field(make_client):
    client = seeded(make_client)
    body = (HEADER + "CS-1,Lê Văn An,Nam,1985,Kinh,TB-X-TRILUC,TPHT,so_cap,\n"
            "CS-2,Trần Thị Hà,Khác,1990,Khmer,TB-X-NOWHERE,HCC-MC,,\n"
            "CS-3,Võ Minh Tâm,Nam,nineteen,Kinh,TB-X-TRILUC,NOPE,tien_si,\n"
            "CS-1,Lê Văn An,Nam,1985,Kinh,TB-X-TRILUC,TPHT,so_cap,\n").encode()
    resp = upload(client, body)
    assert resp.status_code == 422
    problems = {(p["line"], p["field"]) for p in resp.get_json()["problems"]}
    assert {(3, "gender"), (4, "birth_year"), (4, "llct_level")} <= problems
    assert registry_count(client) == 0 and events(client) == []
    # catalogue checks come once the cells parse
    body = (HEADER + "CS-1,Lê Văn An,Nam,1985,Kinh,TB-X-NOWHERE,NOPE,,\nCS-1,Lê Văn An,Nam,1985,Kinh,TB-X-TRILUC,TPHT,,\n")
    problems = {(p["line"], p["field"]) for p in upload(client, body.encode()).get_json()["problems"]}
    assert problems == {(2, "unit_code"), (2, "position_code"), (3, "code")}
    assert registry_count(client) == 0


def test_missing_required_column_is_reported_on_the_header_line(make_client):
    client = seeded(make_client)
    resp = upload(client, "Mã công chức,Họ và tên\nCS-1,Lê Văn An\n".encode())
    assert resp.status_code == 422
    assert {"line": 1, "field": "gender", "message": "Thiếu cột bắt buộc «Giới tính»."} in resp.get_json()["problems"]


def test_import_without_a_file_is_422_naming_file(make_client):
    client = seeded(make_client)
    resp = client.post("/api/v1/civil-servants/import", data={}, headers=API_AUTH, content_type="multipart/form-data")
    assert resp.status_code == 422 and "file" in resp.get_json()["errors"]["files"]
    assert upload(client, b"x", "ds.pdf").get_json()["problems"][0]["field"] == "file"


@pytest.mark.usefixtures("backend")  # import: bulk insert
def test_xlsx_import_reads_the_format_district_officers_use(make_client):
    client = seeded(make_client)
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.strip().split(","))
    ws.append(["CS-X1", "Lê Văn An", "Nam", 1985, "Kinh", "TB-X-TRILUC", "TPHT", "so_cap", "x"])
    buf = io.BytesIO()
    wb.save(buf)
    resp = upload(client, buf.getvalue(), "ds.xlsx")
    assert resp.status_code == 200, resp.data
    listed = client.get("/api/v1/civil-servants", query_string={"commune_code": "CM-TRIPHAI"}, headers=API_AUTH)
    [item] = listed.get_json()["items"]
    assert (item["code"], item["birth_year"], item["hard_area"], item["llct_level"]) == ("CS-X1", 1985, True, "so_cap")


@pytest.mark.usefixtures("backend")  # import: bulk update
def test_export_then_import_round_trips_without_changes(make_client):
    client = seeded(make_client, civil_servants=24)
    xlsx = client.get("/api/v1/civil-servants/export", query_string={"format": "xlsx"}, headers=API_AUTH)
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    assert sheet.cell(1, 1).value == "DANH SÁCH CÔNG CHỨC CẤP XÃ"
    resp = upload(client, xlsx.data, "ds.xlsx")
    assert resp.get_json() == {"rows": 24, "registered": 0, "updated": 0, "unchanged": 24}
    csv = client.get("/api/v1/civil-servants/export", query_string={"format": "csv", "commune_code": "CM-HOTHIKY"},
                     headers=API_AUTH)
    lines = csv.data.decode("utf-8-sig").strip().splitlines()
    assert lines[0].startswith("Mã công chức,Họ và tên") and len(lines) == 1 + 2  # 24 over 12 units: 2 in Hồ Thị Kỷ
    assert upload(client, csv.data).get_json()["unchanged"] == 2


def test_export_needs_the_api_token(make_client):
    client = seeded(make_client)
    assert client.get("/api/v1/civil-servants/export").status_code == 401


def test_seeded_people_carry_qualifications_and_recruitment_dates(make_client):
    client = seeded(make_client, civil_servants=12)
    items = client.get("/api/v1/civil-servants", headers=API_AUTH).get_json()["items"]
    assert all(i["llct_level"] and i["employed_from"] for i in items)
    assert all(date.fromisoformat(i["employed_from"]) < date(2025, 1, 1) for i in items)


def test_a_split_creates_both_units_and_people_follow_the_first_successor(make_client):
    client = seeded(make_client)
    cs = register(client, unit_code="CM-TRIPHAI")
    body = {"decision_no": "NQ 100/NQ-UBTVQH15", "effective_date": "2026-01-01",
            "new_units": [{"code": "CM-TRIPHAI-A", "name": "Xã Trí Phải A", "kind": "xa", "parent_code": "CM"},
                          {"code": "CM-TRIPHAI-B", "name": "Phường Trí Phải B", "kind": "phuong", "parent_code": "CM"}],
            "successions": [{"predecessor_code": "CM-TRIPHAI", "successor_code": "CM-TRIPHAI-A"},
                            {"predecessor_code": "CM-TRIPHAI", "successor_code": "CM-TRIPHAI-B"}]}
    assert client.post("/admin/needs/reorganisations", json=body, headers=ADMIN_AUTH).status_code == 201
    kinds = {u["code"]: u["kind"] for u in client.get("/api/v1/units", query_string={"as_of": "2026-01-01"}).get_json()}
    assert kinds["CM-TRIPHAI-B"] == "phuong" and "CM-TRIPHAI" not in kinds
    assert client.get(f"/api/v1/civil-servants/{cs['id']}", headers=API_AUTH).get_json()["commune_code"] == \
        "CM-TRIPHAI-A"


def test_a_unit_cannot_succeed_itself(make_client):
    client = seeded(make_client)
    body = reorg_body(new_units=[], successions=[{"predecessor_code": "CM-TANLOC", "successor_code": "CM-TANLOC"}])
    resp = client.post("/admin/needs/reorganisations", json=body, headers=ADMIN_AUTH)
    assert resp.status_code == 422 and "successions" in resp.get_json()["errors"]["json"]


@pytest.mark.usefixtures("backend")  # rule versions by date
def test_a_rule_version_dated_inside_a_closed_one_is_409_naming_valid_from_and_changes_nothing(make_client):
    # Rewritten with the one rule semantics (shared/rules.py): needs used to slot a version in before a later one
    # and shorten the closed one it fell in; now only an open-ended version started earlier is closed, any other
    # overlap is refused (end_version first, then add_version, is the explicit way).
    client = seeded(make_client)
    rule = {"legal_basis": "QĐ mẫu", "value": {"per_gap_level": 12}}
    assert client.post("/api/v1/rules/priority-weights", json={**rule, "valid_from": "2027-01-01"},
                       headers=API_AUTH).status_code == 201
    resp = client.post("/api/v1/rules/priority-weights", json={**rule, "valid_from": "2026-01-01"}, headers=API_AUTH)
    assert resp.status_code == 409 and "valid_from" in resp.get_json()["errors"]["json"]
    versions = [(r["valid_from"], r["valid_to"]) for r in client.get("/api/v1/rules/priority-weights").get_json()
                if r["code"] == "priority_weights"]
    assert versions == [("2025-07-01", "2026-12-31"), ("2027-01-01", None)]
    again = client.post("/api/v1/rules/priority-weights", json={**rule, "valid_from": "2027-01-01"}, headers=API_AUTH)
    assert again.status_code == 409 and "valid_from" in again.get_json()["errors"]["json"]
