"""Funding refuses input its rules could not apply (norms in the wrong unit, out-of-range cells and dates) with a
4xx naming the field, never a 5xx; a zero-rated item never needs a budget line; report headings are Vietnamese."""
from __future__ import annotations

from io import BytesIO

import pytest

from services.funding.models import CostNorm, Reservation
from tests.unit.apps import API_AUTH, deliver
from tests.unit.funding.factories import file_problems, scheduled, trainee
from tests.unit.funding.test_operations import HEADER, settled_course, upload
from tests.unit.funding.test_settlement import events, make_app, rows, small_line


def make_norm(**overrides) -> dict:
    return {"item": "travel", "unit": "per_km", "lecturer_tier": None, "province_code": "CM", "amount": 2_000,
            "legal_basis": "NQ 01/2026/NQ-HĐND", "valid_from": "2026-01-01", **overrides}


@pytest.mark.parametrize("overrides, field", [
    ({"item": "lecturer_fees"}, "item"),  # a typo would be stored and never applied
    ({"item": "learner_support", "unit": "per_km"}, "unit"),  # support is per day attended
    ({"item": "lecturer_fee", "unit": "per_buoi"}, "lecturer_tier"),  # the fee is set per tier
    ({"lecturer_tier": 2}, "lecturer_tier"),  # travel has no tiers: select_norm would never find it
])
def test_a_norm_the_rules_cannot_apply_as_written_is_422_naming_the_field(tmp_path, overrides, field):
    app = make_app(tmp_path, seed=False)
    resp = app.test_client().post("/api/v1/rules/cost-norms", json=make_norm(**overrides), headers=API_AUTH)
    assert resp.status_code == 422, resp.data
    assert field in resp.get_json()["errors"]["json"]
    assert rows(app, CostNorm) == []


def test_a_norm_in_its_items_unit_is_accepted(tmp_path):
    app = make_app(tmp_path, seed=False)
    for norm in (make_norm(), make_norm(item="lecturer_fee", unit="per_buoi", lecturer_tier=3, amount=1_400_000)):
        assert app.test_client().post("/api/v1/rules/cost-norms", json=norm, headers=API_AUTH).status_code == 201


def test_norm_file_with_unknown_item_or_oversized_cells_is_rejected_whole_by_line_and_field(tmp_path):
    app = make_app(tmp_path, seed=False)
    resp = upload(app, HEADER + "travel,per_km,,CM,2000,NQ 01,2026-01-01,\n"
                                "lecturer_fees,per_buoi,1,CM,2000,NQ 01,2026-01-01,\n"
                                "lodging,per_night,,CM,99999999999999999999999,NQ 01,2026-01-01,\n"
                                f"materials,per_person,,CM,5000,{'x' * 301},2026-01-01,\n"
                                "certificate,per_person,,CM,5000,NQ 01,0001-01-01,\n"
                                "class_management,per_day,9999999999,CM,5000,NQ 01,2026-01-01,\n")
    assert resp.status_code == 422, resp.data
    errors = file_problems(resp)
    assert "2" not in errors
    assert "item" in errors["3"] and "amount" in errors["4"] and "legal_basis" in errors["5"]
    assert "valid_from" in errors["6"] and "lecturer_tier" in errors["7"]
    assert rows(app, CostNorm) == []


def test_norm_file_with_a_unit_or_tier_the_item_does_not_take_is_rejected_whole(tmp_path):
    app = make_app(tmp_path, seed=False)
    resp = upload(app, HEADER + "travel,per_km,,CM,2000,NQ 01,2026-01-01,\n"
                                "learner_support,per_km,,CM,2000,NQ 01,2026-01-01,\n"
                                "lecturer_fee,per_buoi,,CM,2000000,NQ 01,2026-01-01,\n"
                                "materials,per_person,2,CM,5000,NQ 01,2026-01-01,\n")
    assert resp.status_code == 422, resp.data
    errors = file_problems(resp)
    assert "2" not in errors
    assert "unit" in errors["3"] and "lecturer_tier" in errors["4"] and "lecturer_tier" in errors["5"]
    assert rows(app, CostNorm) == []


@pytest.mark.parametrize("path", [
    "/api/v1/budget-lines?fiscal_year=999999999999999999999",
    "/api/v1/reports/spending?fiscal_year=999999999999999999999",
    "/api/v1/rules/cost-norms?on=0001-01-01",
])
def test_out_of_range_query_values_are_422_not_500(tmp_path, path):
    resp = make_app(tmp_path, seed=False).test_client().get(path)
    assert resp.status_code == 422, resp.data


def test_commitment_ending_on_the_last_representable_day_is_422_naming_training_end(tmp_path):
    resp = make_app(tmp_path).test_client().post("/api/v1/degree-commitments", headers=API_AUTH, json={
        "civil_servant_id": "cs-1", "programme": "Thạc sĩ QLC", "decision_no": "12/QĐ", "training_cost": 60_000_000,
        "training_months": 24, "training_end": "9999-12-31", "committed_months": 72})
    assert resp.status_code == 422 and "training_end" in resp.get_json()["errors"]["json"]


def test_norm_ending_before_it_starts_is_explained_in_vietnamese(tmp_path):
    resp = make_app(tmp_path, seed=False).test_client().post(
        "/api/v1/rules/cost-norms", json=make_norm(valid_to="2025-12-31"), headers=API_AUTH)
    assert resp.status_code == 422
    assert resp.get_json()["errors"]["json"]["valid_to"] == ["Ngày hết hiệu lực trước ngày bắt đầu hiệu lực."]


def test_a_zero_rated_item_for_a_commune_without_a_budget_line_does_not_block_the_reservation(tmp_path):
    app = make_app(tmp_path, seed=False)
    client = app.test_client()
    for norm in (make_norm(item="lecturer_fee", unit="per_buoi", lecturer_tier=2, amount=1_000_000),
                 make_norm(item="learner_support", unit="per_day", amount=0), make_norm(amount=0)):
        assert client.post("/api/v1/rules/cost-norms", json={**norm, "valid_from": "2018-01-01"},
                           headers=API_AUTH).status_code == 201
    small_line(app, "state_dtbd", "CM-THOIBINH", 100_000_000)  # no regular-budget line for CM-TANLOC
    body, plan = scheduled(trainees=[trainee("CM-TANLOC")], distances={"CM-TANLOC": 12})
    deliver(app, body)
    [reserved] = events(app, "funding.budget_reserved")
    assert reserved["estimate_total"] == 4 * 1_000_000
    assert [(x["source"], x["owner_unit_code"]) for x in reserved["lines"]] == [("state_dtbd", "CM-THOIBINH")]
    assert [r.status for r in rows(app, Reservation)] == ["active"]


def test_spending_report_download_is_headed_in_vietnamese(tmp_path):
    from openpyxl import load_workbook
    app = make_app(tmp_path)
    settled_course(app, [trainee("CM-TANLOC")])
    data = app.test_client().get("/api/v1/reports/spending?group_by=source&format=xlsx").data
    heading = load_workbook(BytesIO(data)).active["A1"].value
    assert heading == "TỔNG HỢP CHI ĐÀO TẠO, BỒI DƯỠNG THEO NGUỒN KINH PHÍ"


def test_spending_report_is_also_a_bar_chart(tmp_path):
    app = make_app(tmp_path)
    settled_course(app, [trainee("CM-TANLOC"), trainee("CM-BIENBACH")])
    client = app.test_client()
    svg = client.get("/api/v1/reports/spending?group_by=commune&fiscal_year=2026&format=svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert client.get("/api/v1/reports/spending?group_by=item&format=png").data[:4] == b"\x89PNG"


def test_plan_vs_actual_lists_a_course_under_the_fiscal_year_of_its_first_day_not_of_its_settlement(tmp_path):
    from datetime import date
    app = make_app(tmp_path)
    plan = settled_course(app, [trainee("CM-TANLOC")], start=date(2027, 1, 4))  # settled today, in 2026
    client = app.test_client()
    in_2027 = client.get("/api/v1/reports/plan-vs-actual?fiscal_year=2027").get_json()["courses"]
    in_2026 = client.get("/api/v1/reports/plan-vs-actual?fiscal_year=2026").get_json()["courses"]
    assert [c["course_id"] for c in in_2027] == [plan["course_id"]] and in_2026 == []
    spent_2027 = sum(x["spent"] for x in client.get("/api/v1/reports/plan-vs-actual?fiscal_year=2027")
                     .get_json()["budget_lines"])
    assert spent_2027 == in_2027[0]["actual_total"]
