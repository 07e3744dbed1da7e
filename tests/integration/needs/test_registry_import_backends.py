"""The registry import (bulk insert of new civil servants) on SQLite and PostgreSQL: a refused file lists every bad
row and writes nothing; a good file registers every row (issue 10, defects 1 and 3)."""
from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from services.needs.models import CivilServant
from shared.db import transaction
from services.needs import usecases
from tests.unit.apps import API_AUTH, build_app

pytestmark = [pytest.mark.postgres]

HEADER = "Mã công chức,Họ và tên,Giới tính,Năm sinh,Dân tộc,Mã đơn vị,Mã vị trí việc làm,Ngày tuyển dụng\n"


def test_registry_import_refuses_every_bad_row_then_registers_a_good_file(service_db):
    db = service_db("needs")
    with transaction(db.session_factory) as session:
        usecases.seed_reference_data(session)
    app = build_app("needs", db.url, migrate=False)
    client = app.test_client()

    def upload(text: str):
        return client.post("/api/v1/civil-servants/import", headers=API_AUTH, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(text.encode()), "ds.csv")})
    try:
        bad = upload(HEADER + "CS-1,Lê Văn An,Nam,1985,Kinh,TB-X-TRILUC,TPHT,01/03/2010\n"
                              "CS-2,Trần Thị Hà,Nữ,1990,Khmer,TB-X-NOWHERE,HCC-MC,\n"
                              "CS-3,Võ Minh Tâm,Khác,1987,Kinh,TB-X-TRILUC,TPHT,01/03/1980\n"
                              "CS-1,Lê Văn An,Nam,1985,Kinh,TB-X-TRILUC,NOPE,\n")
        assert bad.status_code == 422, bad.get_json()
        assert {(p["line"], p["field"]) for p in bad.get_json()["problems"]} == {
            (3, "unit_code"), (4, "gender"), (4, "employed_from"), (5, "code"), (5, "position_code")}
        assert db.count(CivilServant.__table__) == 0
        good = upload(HEADER + "".join(f"CS-{i},Người {i},Nam,1985,Kinh,TB-X-TRILUC,TPHT,01/03/2010\n"
                                       for i in range(50)))
        assert good.status_code == 200, good.get_json()
        assert good.get_json()["registered"] == 50
        assert db.scalar(sa.select(sa.func.min(CivilServant.employed_from))).isoformat() == "2010-03-01"
    finally:
        app.extensions["service"].engine.dispose()
