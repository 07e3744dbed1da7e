"""Defects found in review: reporting by former unit, needs following a reorganisation, bad input answered 4xx."""
import io

from openpyxl import Workbook

from tests.unit.apps import ADMIN_AUTH, API_AUTH
from tests.unit.needs.factories import events, person, register, seeded
from tests.unit.needs.test_registry import reorg_body


def _closed_seed(make_client):
    client = seeded(make_client, civil_servants=111, survey_year=2026)
    resp = client.post(f"/api/v1/campaigns/{client.seed_result['survey']['campaign_id']}/close", headers=API_AUTH)
    assert resp.status_code == 200, resp.data
    return client


def _rollup(client, **query) -> list[dict]:
    resp = client.get("/api/v1/reports/needs", query_string=query)
    assert resp.status_code == 200, resp.data
    return resp.get_json()


def test_needs_report_by_former_unit_and_by_todays_commune_count_the_same_needs(make_client):
    client = _closed_seed(make_client)
    by_unit = {r["unit_code"]: r["needs"] for r in _rollup(client, group_by="unit_code")}
    by_commune = {r["commune_code"]: r["needs"] for r in _rollup(client, group_by="commune_code")}
    assert len(by_unit) == 12 and all(code.startswith("TB-") for code in by_unit)  # the 12 former units
    assert set(by_commune) == {"CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"}
    assert sum(by_unit.values()) == sum(by_commune.values())
    tan_loc = sum(n for u, n in by_unit.items() if u in ("TB-X-TANLOC", "TB-X-TANLOCBAC", "TB-X-TANLOCDONG"))
    assert by_commune["CM-TANLOC"] == tan_loc
    only = _rollup(client, group_by="topic_code", unit_code="TB-X-TANLOCBAC")
    assert sum(r["needs"] for r in only) == by_unit["TB-X-TANLOCBAC"]
    csv = client.get("/api/v1/reports/needs", query_string={"group_by": "unit_code", "format": "csv"})
    assert "Đơn vị (trước sắp xếp)" in csv.data.decode("utf-8-sig")


def test_a_reorganisation_in_force_moves_stored_needs_to_the_new_commune(make_client):
    client = _closed_seed(make_client)
    before = {r["commune_code"]: r["needs"] for r in _rollup(client, group_by="commune_code")}
    resp = client.post("/admin/needs/reorganisations", json=reorg_body(effective_date="2026-01-01"),
                       headers=ADMIN_AUTH)
    assert resp.status_code == 201, resp.data
    after = {r["commune_code"]: r["needs"] for r in _rollup(client, group_by="commune_code")}
    assert "CM-HOTHIKY" not in after and "CM-THOIBINH" not in after
    assert after["CM-THOIBINH-MOI"] == before["CM-THOIBINH"] + before["CM-HOTHIKY"]
    assert after["CM-TANLOC"] == before["CM-TANLOC"]
    listed = client.get("/api/v1/needs", query_string={"commune_code": "CM-HOTHIKY"}, headers=API_AUTH)
    assert listed.get_json()["total"] == 0


def _assert_4xx_naming(resp, field: str, status: int = 422):
    assert resp.status_code == status, resp.data
    assert field in str(resp.get_json()["errors"]), resp.get_json()


def test_reorganisation_listing_the_same_succession_twice_is_422_and_changes_nothing(make_client):
    client = seeded(make_client)
    body = reorg_body()
    body["successions"].append(dict(body["successions"][0]))
    _assert_4xx_naming(client.post("/admin/needs/reorganisations", json=body, headers=ADMIN_AUTH), "successions")
    assert client.get("/api/v1/units/CM-HOTHIKY").get_json()["unit"]["valid_to"] is None
    assert events(client, "needs.units_reorganised") == []


def test_plan_targets_naming_a_commune_twice_or_an_unknown_commune_are_422(make_client):
    client = seeded(make_client)
    plan = client.post("/api/v1/plans", json={"year": 2026, "title": "KH 2026", "from_needs": False},
                       headers=API_AUTH).get_json()
    twice = [{"commune_code": "CM-TANLOC", "target_share": 0.3}, {"commune_code": "CM-TANLOC", "target_share": 0.5}]
    _assert_4xx_naming(client.post(f"/api/v1/plans/{plan['plan']['id']}/targets", json={"targets": twice},
                                   headers=API_AUTH), "targets")
    _assert_4xx_naming(client.post("/api/v1/plans", json={"year": 2026, "title": "KH", "from_needs": False,
                                                          "targets": twice}, headers=API_AUTH), "targets")
    unknown = [{"commune_code": "NOWHERE", "target_share": 0.3}]
    _assert_4xx_naming(client.post("/api/v1/plans", json={"year": 2026, "title": "KH", "from_needs": False,
                                                          "targets": unknown}, headers=API_AUTH), "targets")


def test_plan_line_naming_a_person_twice_or_an_unknown_position_is_422(make_client):
    client = seeded(make_client)
    cs = register(client)
    plan = client.post("/api/v1/plans", json={"year": 2026, "title": "KH 2026", "from_needs": False},
                       headers=API_AUTH).get_json()
    url = f"/api/v1/plans/{plan['plan']['id']}/lines"
    line = {"topic_code": "KN-CNTT", "unit_code": "CM-TANLOC"}
    _assert_4xx_naming(client.post(url, json={**line, "civil_servant_ids": [cs["id"], cs["id"]]}, headers=API_AUTH),
                       "civil_servant_ids")
    _assert_4xx_naming(client.post(url, json={**line, "headcount": 5, "position_code": "NOPE"}, headers=API_AUTH),
                       "position_code")


def test_a_standards_rule_whose_minimum_is_not_on_its_scale_is_422(make_client):
    client = seeded(make_client)
    rule = {"code": "STD-X", "label": "Thử", "field": "llct_level", "scale": ["none", "so_cap"], "minimum": "cao_cap",
            "topic_code": "LLCT-SOCAP"}
    body = {"valid_from": "2027-01-01", "legal_basis": "thử", "value": {"rules": [rule]}}
    _assert_4xx_naming(client.post("/api/v1/rules/standards", json=body, headers=API_AUTH), "value")
    body["value"]["rules"] = [{**rule, "minimum": "so_cap", "field": "shoe_size"}]
    _assert_4xx_naming(client.post("/api/v1/rules/standards", json=body, headers=API_AUTH), "value")


def test_malformed_xlsx_and_xlsx_with_duplicate_codes_are_422_and_register_nobody(make_client):
    client = seeded(make_client)
    resp = client.post("/api/v1/civil-servants/import", headers=API_AUTH, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(b"PK\x03\x04 not really a zip"), "ds.xlsx")})
    assert resp.status_code == 422, resp.data
    export = client.get("/api/v1/civil-servants/export", query_string={"format": "xlsx"}, headers=API_AUTH)
    assert export.status_code == 200
    wb = Workbook()
    ws = wb.active
    header = ["Mã công chức", "Họ và tên", "Giới tính", "Năm sinh", "Dân tộc", "Mã đơn vị", "Mã vị trí việc làm"]
    ws.append(header)
    ws.append(["D-1", "Người mẫu", "Nam", 1990, "Kinh", "TB-X-TANLOC", "VHXH"])
    ws.append(["D-1", "Người mẫu", "Nữ", 1991, "Kinh", "TB-X-TANLOC", "VHXH"])
    buf = io.BytesIO()
    wb.save(buf)
    resp = client.post("/api/v1/civil-servants/import", headers=API_AUTH, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(buf.getvalue()), "ds.xlsx")})
    assert resp.status_code == 422, resp.data
    assert resp.get_json()["problems"][0]["field"] == "code"
    assert client.get("/api/v1/civil-servants", headers=API_AUTH).get_json()["total"] == 0


def test_the_same_evaluation_delivered_twice_adds_its_levels_to_the_history_once(make_client):
    from tests.unit.apps import deliver
    from tests.unit.needs.test_needs_flow import evaluated

    client = seeded(make_client)
    cs = register(client)
    body = evaluated(cs["id"], {"CM06": 4, "CM03": 3})
    deliver(client.application, body)
    deliver(client.application, body)  # e.g. re-published by evaluation after a restore: a new message, same facts
    profile = client.get(f"/api/v1/civil-servants/{cs['id']}/competencies", headers=API_AUTH).get_json()
    assert sorted(r["competency_code"] for r in profile["history"]) == ["CM03", "CM06"]


def test_recruitment_dates_in_the_future_or_before_birth_are_422_on_register_update_and_import(make_client):
    client = seeded(make_client)
    future = client.post("/api/v1/civil-servants", json=person(employed_from="2099-01-01"), headers=API_AUTH)
    _assert_4xx_naming(future, "employed_from")
    unborn = client.post("/api/v1/civil-servants", json=person(birth_year=1995, employed_from="1990-01-01"),
                         headers=API_AUTH)
    _assert_4xx_naming(unborn, "employed_from")
    cs = register(client, birth_year=1990, employed_from="2005-01-01")
    _assert_4xx_naming(client.patch(f"/api/v1/civil-servants/{cs['id']}", json={"birth_year": 2008},
                                    headers=API_AUTH), "birth_year")
    csv = ("Mã công chức,Họ và tên,Giới tính,Năm sinh,Dân tộc,Mã đơn vị,Mã vị trí việc làm,Ngày tuyển dụng\n"
           "I-1,Người mẫu,Nam,1990,Kinh,TB-X-TANLOC,VHXH,01/03/2015\n"
           "I-2,Người mẫu,Nữ,1990,Kinh,TB-X-TANLOC,VHXH,01/03/2099\n").encode()
    resp = client.post("/api/v1/civil-servants/import", headers=API_AUTH, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(csv), "ds.csv")})
    assert resp.status_code == 422
    assert resp.get_json()["problems"] == [{"line": 3, "field": "employed_from",
                                                   "message": "Ngày tuyển dụng ở tương lai."}]
    assert client.get("/api/v1/civil-servants", headers=API_AUTH).get_json()["total"] == 1  # nothing half-applied


def test_a_retired_position_takes_no_new_civil_servants_but_keeps_its_holders_editable(make_client):
    client = seeded(make_client)
    holder = register(client, position_code="VHXH")
    assert client.patch("/api/v1/positions/VHXH", json={"active": False}, headers=API_AUTH).status_code == 200
    _assert_4xx_naming(client.post("/api/v1/civil-servants", json=person(position_code="VHXH"), headers=API_AUTH),
                       "position_code")
    resp = client.patch(f"/api/v1/civil-servants/{holder['id']}", json={"position_code": "VHXH", "rank": "Cán sự"},
                        headers=API_AUTH)
    assert resp.status_code == 200, resp.data


def test_discarding_a_draft_plan_frees_its_needs_for_the_next_plan_and_an_approved_plan_cannot_be_discarded(
        make_client):
    from tests.unit.needs.test_needs_flow import approve, make_plan

    client = _closed_seed(make_client)
    first = make_plan(client, topic_codes=["KN-CNTT"])
    held = sum(ln["line"]["headcount"] for ln in first["lines"])
    assert held > 0
    assert make_plan(client, topic_codes=["KN-CNTT"])["lines"] == []  # the first draft holds every IT need
    assert client.delete(f"/api/v1/plans/{first['plan']['id']}", headers=API_AUTH).status_code == 204
    assert client.get(f"/api/v1/plans/{first['plan']['id']}", headers=API_AUTH).status_code == 404
    again = make_plan(client, topic_codes=["KN-CNTT"])
    assert sum(ln["line"]["headcount"] for ln in again["lines"]) == held
    approve(client, again["plan"]["id"])
    resp = client.delete(f"/api/v1/plans/{again['plan']['id']}", headers=API_AUTH)
    assert resp.status_code == 409 and "status" in str(resp.get_json()["errors"])


def test_the_registry_export_writes_gender_in_vietnamese_and_imports_back_unchanged(make_client):
    client = seeded(make_client)
    register(client, gender="female", full_name="Lê Thị Hoa")
    register(client, gender="male", full_name="Trần Văn Nam")
    export = client.get("/api/v1/civil-servants/export", query_string={"format": "csv"}, headers=API_AUTH)
    text = export.data.decode("utf-8-sig")
    assert ",Nữ," in text and ",Nam," in text and "female" not in text
    resp = client.post("/api/v1/civil-servants/import", headers=API_AUTH, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(export.data), "ds.csv")})
    assert resp.status_code == 200, resp.data
    assert resp.get_json() == {"rows": 2, "registered": 0, "updated": 0, "unchanged": 2}


def test_a_civil_servant_moved_to_another_unit_takes_their_open_needs_to_the_new_commune(make_client):
    client = _closed_seed(make_client)
    listed = client.get("/api/v1/needs", query_string={"commune_code": "CM-TANLOC", "page_size": 1},
                        headers=API_AUTH).get_json()
    cs_id = listed["items"][0]["civil_servant_id"]
    theirs = client.get("/api/v1/needs", query_string={"civil_servant_id": cs_id}, headers=API_AUTH).get_json()
    resp = client.patch(f"/api/v1/civil-servants/{cs_id}", json={"unit_code": "TB-X-TRILUC"}, headers=API_AUTH)
    assert resp.status_code == 200, resp.data
    moved = client.get("/api/v1/needs", query_string={"civil_servant_id": cs_id}, headers=API_AUTH).get_json()
    assert moved["total"] == theirs["total"] > 0
    assert {(n["commune_code"], n["unit_code"]) for n in moved["items"]} == {("CM-TRIPHAI", "TB-X-TRILUC")}


def test_a_reorganisation_decided_ahead_moves_the_needs_when_its_day_comes(make_client):
    from datetime import date

    from services.needs import usecases
    from tests.unit.needs.factories import session_of

    client = _closed_seed(make_client)
    before = {r["commune_code"]: r["needs"] for r in _rollup(client, group_by="commune_code")}
    resp = client.post("/admin/needs/reorganisations", json=reorg_body(effective_date="2027-01-01"),
                       headers=ADMIN_AUTH)
    assert resp.status_code == 201, resp.data
    with session_of(client) as session, session.begin():
        assert usecases.apply_due_reorganisations(session) == 0  # not yet in force
    assert {r["commune_code"]: r["needs"] for r in _rollup(client, group_by="commune_code")} == before
    with session_of(client) as session, session.begin():
        assert usecases.apply_due_reorganisations(session, today=date(2027, 1, 1)) == 1
    with session_of(client) as session, session.begin():
        assert usecases.apply_due_reorganisations(session, today=date(2027, 1, 1)) == 0  # once
    after = {r["commune_code"]: r["needs"] for r in _rollup(client, group_by="commune_code")}
    assert after["CM-THOIBINH-MOI"] == before["CM-THOIBINH"] + before["CM-HOTHIKY"]


def test_a_campaign_whose_deadline_is_after_its_plan_year_or_long_before_it_is_422_naming_deadline(make_client):
    client = seeded(make_client)
    body = {"year": 2026, "title": "Khảo sát", "unit_codes": ["CM-TANLOC"]}
    for deadline in ("2031-01-01", "2027-01-01", "2024-12-31"):
        resp = client.post("/api/v1/campaigns", json={**body, "deadline": deadline}, headers=API_AUTH)
        _assert_4xx_naming(resp, "deadline")
    ok = client.post("/api/v1/campaigns", json={**body, "deadline": "2025-11-30"}, headers=API_AUTH)
    assert ok.status_code == 201, ok.data
