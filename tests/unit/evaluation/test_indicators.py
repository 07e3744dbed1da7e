"""Evaluation through the real app on SQLite: L4 unit indicators (usecases/indicators.py)."""
from __future__ import annotations

import io
from datetime import date

from tests.unit.apps import API_AUTH
from tests.unit.evaluation.factories import (
    open_course, trainee,
)


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
    from services.evaluation.formats import INDICATOR_COLUMNS
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
