"""Ethnicity is a code of the official list of 54 groups (QĐ 121-TCTK/PPCĐ 1979), the minority flag derived from it
(issue 12 finding 9: free text made «Việt» a minority, and the flag decides priority points and funding support)."""
import io
import unicodedata

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from services.needs import domain, formats
from services.needs.models import CivilServant
from tests.unit.apps import API_AUTH
from tests.unit.needs.factories import events, person, register, seeded, session_of
from tests.unit.needs.test_registry import HEADER, registry_count, upload

NFD_TAY = unicodedata.normalize("NFD", "Tày")


# --- the code list (pure) ---------------------------------------------------------------------------------------

def test_the_list_has_the_54_groups_coded_01_to_54_with_kinh_first_and_o_du_last():
    assert list(formats.ETHNIC_GROUPS) == [f"{n:02d}" for n in range(1, 55)]
    assert (formats.ETHNIC_GROUPS["01"], formats.ETHNIC_GROUPS["05"], formats.ETHNIC_GROUPS["54"]) == (
        "Kinh", "Khơ-me", "Ơ Đu")
    assert all(unicodedata.is_normalized("NFC", name) for name in formats.ETHNIC_GROUPS.values())


@pytest.mark.parametrize("text, code", [
    ("Kinh", "01"), ("Việt", "01"), ("VIỆT", "01"), ("người Kinh", "01"), ("01", "01"), ("1", "01"),
    ("Tày", "02"), (NFD_TAY, "02"), ("  tày ", "02"), ("Hoa", "04"), ("Người Hoa", "04"),
    ("Khmer", "05"), ("Khơ-me", "05"), ("Khơ Me", "05"), ("khome", "05"), ("Dân tộc Khơ-me", "05"),
    ("Mường", "06"), ("H'Mông", "08"), ("Mông", "08"), ("Ê Đê", "12"), ("Bru - Vân Kiều", "23"), ("Ơ Đu", "54"),
])
def test_codes_official_names_and_other_names_are_read_as_typed(text, code):
    assert formats.ethnicity_code(text) == code


@pytest.mark.parametrize("text", ["", "   ", "Khác", "Sao Hỏa", "kinhx", "55", "00", "người", "x" * 61, None])
def test_anything_else_names_no_group(text):
    assert formats.ethnicity_code(text) is None


def test_no_two_groups_share_a_name_as_compared():
    keys: dict[str, str] = {}
    for code, name in formats.ETHNIC_GROUPS.items():
        for text in (name, *[t for t, c in formats.ETHNIC_ALIASES.items() if c == code]):
            assert keys.setdefault(formats.ethnic_name_key(text), code) == code, text
    assert set(formats.ETHNIC_ALIASES.values()) <= set(formats.ETHNIC_GROUPS)


def test_every_group_but_kinh_is_a_minority():
    assert [code for code in formats.ETHNIC_GROUPS if not domain.is_ethnic_minority(code)] == ["01"]


# --- the registry over HTTP (both backends) -----------------------------------------------------------------------

@pytest.mark.usefixtures("backend")
def test_viet_is_kinh_and_not_a_minority_and_tay_is_one(make_client):
    client = seeded(make_client)
    viet = register(client, ethnicity="Việt")
    assert (viet["ethnicity"], viet["ethnicity_code"], viet["ethnic_minority"]) == ("Kinh", "01", False)
    tay = register(client, ethnicity=NFD_TAY)  # typed on macOS
    assert (tay["ethnicity"], tay["ethnicity_code"], tay["ethnic_minority"]) == ("Tày", "02", True)
    published = {e["civil_servant_id"]: e["ethnic_minority"] for e in events(client, "needs.civil_servant_registered")}
    assert published == {viet["id"]: False, tay["id"]: True}


@pytest.mark.usefixtures("backend")
def test_an_unknown_ethnicity_is_422_naming_the_field_without_echoing_it(make_client):
    client = seeded(make_client)
    for verb, path, body in [("post", "/api/v1/civil-servants", person(ethnicity="Sao Hỏa")),
                             ("patch", f"/api/v1/civil-servants/{register(client)['id']}", {"ethnicity": "Sao Hỏa"})]:
        resp = getattr(client, verb)(path, json=body, headers=API_AUTH)
        assert resp.status_code == 422 and "ethnicity" in resp.get_json()["errors"]["json"], resp.data
        assert "Sao Hỏa" not in resp.get_data(as_text=True)
    assert registry_count(client) == 1


@pytest.mark.usefixtures("backend")
def test_the_flag_is_derived_never_an_input_that_contradicts_the_code(make_client):
    client = seeded(make_client)
    resp = client.post("/api/v1/civil-servants", json=person(ethnicity="Việt", ethnic_minority=True), headers=API_AUTH)
    assert resp.status_code == 422 and "ethnic_minority" in resp.get_json()["errors"]["json"]
    agreed = client.post("/api/v1/civil-servants", json=person(ethnicity="Tày", ethnic_minority=True), headers=API_AUTH)
    assert agreed.status_code == 201 and agreed.get_json()["ethnic_minority"] is True
    alone = client.patch(f"/api/v1/civil-servants/{agreed.get_json()['id']}", json={"ethnic_minority": False},
                         headers=API_AUTH)
    assert alone.status_code == 422 and "ethnic_minority" in alone.get_json()["errors"]["json"]


@pytest.mark.usefixtures("backend")
def test_changing_the_ethnicity_changes_the_flag_and_tells_the_other_services(make_client):
    client = seeded(make_client)
    cs = register(client, ethnicity="Khmer")
    resp = client.patch(f"/api/v1/civil-servants/{cs['id']}", json={"ethnicity": "kinh"}, headers=API_AUTH)
    assert resp.status_code == 200 and (resp.get_json()["ethnicity_code"], resp.get_json()["ethnic_minority"]) == (
        "01", False)
    [updated] = events(client, "needs.civil_servant_updated")
    assert updated["ethnic_minority"] is False and "ethnic_minority" in updated["changed_fields"]
    again = client.patch(f"/api/v1/civil-servants/{cs['id']}", json={"ethnicity": "Việt"}, headers=API_AUTH)
    assert again.status_code == 200 and len(events(client, "needs.civil_servant_updated")) == 1  # same code: no change


@pytest.mark.usefixtures("backend")  # import: nothing written, then bulk insert
def test_an_upload_lists_every_row_with_an_unknown_ethnicity_and_stores_codes(make_client):
    client = seeded(make_client)
    body = (HEADER + "CS-1,Lê Văn An,Nam,1985,Việt,TB-X-TRILUC,TPHT,so_cap,\n"
            "CS-2,Trần Thị Hà,Nữ,1990,Sao Hỏa,CM-HOTHIKY,HCC-MC,,\n"
            f"CS-3,Võ Minh Tâm,Nam,1980,{NFD_TAY},TB-X-TRILUC,TPHT,,\n"
            "CS-4,Lý Thị Mai,Nữ,1992,Khác,TB-X-TRILUC,TPHT,,\n"
            "CS-5,Lâm Văn Vinh,Nam,1975,99,TB-X-TRILUC,TPHT,,\n").encode()
    resp = upload(client, body)
    assert resp.status_code == 422
    problems = resp.get_json()["problems"]
    assert {(p["line"], p["field"]) for p in problems} == {(3, "ethnicity"), (5, "ethnicity"), (6, "ethnicity")}
    assert not any("Sao Hỏa" in p["message"] for p in problems) and registry_count(client) == 0
    good = body.replace("Sao Hỏa".encode(), "Khơ Me".encode()).replace(b"Kh\xc3\xa1c", b"Hoa").replace(b",99,", b",24,")
    assert upload(client, good).status_code == 200
    items = client.get("/api/v1/civil-servants", headers=API_AUTH).get_json()["items"]
    assert {i["code"]: (i["ethnicity_code"], i["ethnic_minority"]) for i in items} == {
        "CS-1": ("01", False), "CS-2": ("05", True), "CS-3": ("02", True), "CS-4": ("04", True), "CS-5": ("24", True)}


@pytest.mark.usefixtures("backend")  # import: bulk update
def test_the_export_shows_the_name_and_the_code_and_reads_back_unchanged(make_client):
    client = seeded(make_client)
    register(client, code="CS-V", ethnicity="Việt")
    register(client, code="CS-K", ethnicity="05")
    xlsx = client.get("/api/v1/civil-servants/export", query_string={"format": "xlsx"}, headers=API_AUTH)
    rows = list(load_workbook(io.BytesIO(xlsx.data)).active.iter_rows(values_only=True))
    header = next(r for r in rows if r and r[0] == "Mã công chức")
    shown = {r[0]: (r[header.index("Dân tộc")], r[header.index("Mã dân tộc")]) for r in rows[rows.index(header) + 1:]}
    assert shown == {"CS-K": ("Khơ-me", "05"), "CS-V": ("Kinh", "01")}
    assert upload(client, xlsx.data, "ds.xlsx").get_json()["unchanged"] == 2


def test_the_code_list_is_served_read_only_without_a_token(make_client):
    client = make_client("needs")
    resp = client.get("/api/v1/ethnic-groups")
    assert resp.status_code == 200
    groups = resp.get_json()
    assert len(groups) == 54 and groups[0] == {"code": "01", "name": "Kinh", "other_names": ["Việt", "Kinh (Việt)"],
                                               "ethnic_minority": False}
    assert client.post("/api/v1/ethnic-groups", json={}).status_code == 405


def test_seeded_people_are_stored_with_codes(make_client):
    client = seeded(make_client, civil_servants=40)
    items = client.get("/api/v1/civil-servants", query_string={"page_size": 100}, headers=API_AUTH).get_json()["items"]
    assert {i["ethnicity_code"] for i in items} <= {"01", "04", "05"}
    assert all(i["ethnic_minority"] == (i["ethnicity_code"] != "01") for i in items)


@pytest.mark.usefixtures("backend")  # a row migration 0004 could not read
def test_a_person_without_a_code_keeps_the_flag_until_an_ethnicity_is_entered(make_client):
    client = seeded(make_client)
    cs = register(client, code="CS-OLD", ethnicity="Tày")
    with session_of(client) as s, s.begin():
        s.execute(sa.update(CivilServant).where(CivilServant.id == cs["id"]).values(ethnicity_code=None))
    shown = client.get(f"/api/v1/civil-servants/{cs['id']}", headers=API_AUTH).get_json()
    assert (shown["ethnicity"], shown["ethnicity_code"], shown["ethnic_minority"]) == (None, None, True)
    moved = client.patch(f"/api/v1/civil-servants/{cs['id']}", json={"llct_level": "none"}, headers=API_AUTH)
    assert moved.status_code == 200 and moved.get_json()["ethnic_minority"] is True
    csv = client.get("/api/v1/civil-servants/export", query_string={"format": "csv"}, headers=API_AUTH)
    refused = upload(client, csv.data)
    assert refused.status_code == 422 and {(p["line"], p["field"]) for p in refused.get_json()["problems"]} == {
        (2, "ethnicity")}
    fixed = client.patch(f"/api/v1/civil-servants/{cs['id']}", json={"ethnicity": "Kinh"}, headers=API_AUTH)
    assert (fixed.get_json()["ethnicity_code"], fixed.get_json()["ethnic_minority"]) == ("01", False)
