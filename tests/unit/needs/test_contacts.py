"""Contacts in the registry (issue 13): API, CSV/XLSX import and export, the legal basis, never in an event; on
SQLite and PostgreSQL."""
from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook

from tests.unit.apps import API_AUTH
from tests.unit.needs.factories import events, register, seeded

pytestmark = pytest.mark.usefixtures("backend")
HEADER = ("Mã công chức,Họ và tên,Giới tính,Năm sinh,Dân tộc,Mã đơn vị,Mã vị trí việc làm,Thư điện tử,Điện thoại,"
          "Kênh nhận thông báo,Mã người quản lý trực tiếp,Vị trí người quản lý trực tiếp\n")


def upload(client, content: bytes, name: str = "ds.csv"):
    return client.post("/api/v1/civil-servants/import", data={"file": (io.BytesIO(content), name)},
                       headers=API_AUTH, content_type="multipart/form-data")


def test_a_contact_is_registered_read_replaced_and_never_published(make_client):
    client = seeded(make_client)
    boss = register(client, code="CS-BOSS")
    cs = register(client, code="CS-HV", contact={"email": "hv@example.vn", "phone": "0912.345.678",
                                                  "preferred_channel": "sms", "supervisor_id": boss["id"]})
    got = client.get(f"/api/v1/civil-servants/{cs['id']}", headers=API_AUTH).get_json()["contact"]
    assert {k: got[k] for k in ("email", "phone", "preferred_channel", "supervisor_id")} == {
        "email": "hv@example.vn", "phone": "0912345678", "preferred_channel": "sms", "supervisor_id": boss["id"]}
    assert "91/2025/QH15" in got["legal_basis"]
    resp = client.patch(f"/api/v1/civil-servants/{cs['id']}", json={"contact": {
        "phone": "0987654321", "preferred_channel": "zalo", "supervisor_position_code": "LD-CT-UBND"}},
        headers=API_AUTH)
    assert resp.status_code == 200, resp.data
    got = resp.get_json()["contact"]
    assert (got["email"], got["phone"], got["supervisor_id"], got["supervisor_position_code"]) == \
        (None, "0987654321", None, "LD-CT-UBND")
    assert client.get(f"/api/v1/civil-servants/{boss['id']}", headers=API_AUTH).get_json()["contact"] is None
    outbox = json.dumps(events(client), ensure_ascii=False)
    assert "hv@example.vn" not in outbox and "0987654321" not in outbox and "0912345678" not in outbox
    assert not [e for e in events(client, "needs.civil_servant_updated") if e["civil_servant_id"] == cs["id"]]


@pytest.mark.parametrize("contact,field", [
    ({"email": "not-an-address"}, "email"), ({"phone": "12345"}, "phone"), ({"preferred_channel": "fax"},
                                                                             "preferred_channel"),
    ({"supervisor_id": "nobody"}, "supervisor_id"), ({"phone": "0٩١٢٣٤٥٦٧٨"}, "phone"),
    ({"supervisor_position_code": "NO-SUCH"}, "supervisor_position_code")])
def test_a_bad_contact_is_422_naming_the_field(make_client, contact, field):
    client = seeded(make_client)
    cs = register(client)
    resp = client.patch(f"/api/v1/civil-servants/{cs['id']}", json={"contact": contact}, headers=API_AUTH)
    assert resp.status_code == 422, resp.data
    assert field in json.dumps(resp.get_json()) and "not-an-address" not in json.dumps(resp.get_json())


def test_import_and_export_carry_the_contact_columns(make_client):
    client = seeded(make_client)
    body = (HEADER + "CS-A,Lê Văn An,Nam,1985,Kinh,TB-X-TRILUC,TPHT,an@example.vn,0912 345 678,email,CS-B,\n"
            "CS-B,Trần Thị Hà,Nữ,1990,Khmer,TB-X-TRILUC,LD-CT-UBND,,0987654321,sms,,\n"
            "CS-C,Võ Minh Tâm,Nam,1980,Kinh,TB-X-TRILUC,TPHT,,,,,LD-CT-UBND\n"
            "CS-D,Đỗ Văn Út,Nam,1982,Kinh,TB-X-TRILUC,TPHT,,,,,\n").encode()
    resp = upload(client, body)
    assert resp.status_code == 200, resp.data
    export = client.get("/api/v1/civil-servants/export?format=xlsx", headers=API_AUTH)
    rows = list(load_workbook(io.BytesIO(export.data)).active.iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if r and r[0] == "Mã công chức")
    cols = rows[header]
    by_code = {r[0]: dict(zip(cols, r)) for r in rows[header + 1:] if r and r[0]}
    assert (by_code["CS-A"]["Thư điện tử"], by_code["CS-A"]["Điện thoại"]) == ("an@example.vn", "0912345678")
    assert by_code["CS-A"]["Mã người quản lý trực tiếp"] == "CS-B"
    assert by_code["CS-B"]["Kênh nhận thông báo"] == "sms"
    assert by_code["CS-C"]["Vị trí người quản lý trực tiếp"] == "LD-CT-UBND"
    assert by_code["CS-D"]["Thư điện tử"] in (None, "")
    # the exported file reads back unchanged
    again = upload(client, export.data, "ds.xlsx")
    assert again.status_code == 200 and again.get_json()["registered"] == 0, again.data


def test_an_import_with_bad_contacts_is_refused_whole_naming_line_and_field(make_client):
    client = seeded(make_client)
    body = (HEADER + "CS-A,Lê Văn An,Nam,1985,Kinh,TB-X-TRILUC,TPHT,an@,0912345678,email,,\n"
            "CS-B,Trần Thị Hà,Nữ,1990,Khmer,TB-X-TRILUC,TPHT,,09,pigeon,CS-NONE,\n"
            "CS-C,Võ Minh Tâm,Nam,1980,Kinh,TB-X-TRILUC,TPHT,,,,CS-C,NO-SUCH\n").encode()
    resp = upload(client, body)
    assert resp.status_code == 422
    problems = {(p["line"], p["field"]) for p in resp.get_json()["problems"]}
    assert problems == {(2, "email"), (3, "phone"), (3, "preferred_channel"), (3, "supervisor_code"),
                        (4, "supervisor_code"), (4, "supervisor_position_code")}
    assert "an@" not in json.dumps(resp.get_json())
