"""Funding operations (SQLite, no broker): rewards, degree commitments, amendments, norm import, reports, seed."""
from __future__ import annotations

from datetime import date
from io import BytesIO

import pytest

from services.funding.models import BudgetLine, CostNorm, IncentivePayment, LedgerEntry, Receivable
from tests.unit.apps import ADMIN_AUTH, API_AUTH
from tests.unit.funding.factories import (completed_from, evaluated, file_problems, left, registered, scheduled,
                                         trainee)
from tests.unit.funding.test_settlement import assert_ledger_consistent, deliver, lines, make_app, rows


# --- incentives ------------------------------------------------------------------------------------------------

def test_excellent_learners_are_rewarded_once_per_course_from_the_organisers_line(tmp_path):
    app = make_app(tmp_path)
    a, b = trainee("CM-TANLOC"), trainee("CM-BIENBACH")
    body, plan = scheduled(trainees=[a, b])
    deliver(app, body)
    deliver(app, completed_from(plan)[0])
    before = lines(app)[("state_dtbd", "CM-THOIBINH")]["spent"]
    deliver(app, evaluated(plan["course_id"], [a, b]))
    deliver(app, evaluated(plan["course_id"], [a]))  # a second evaluation of the same course pays nothing more
    paid = rows(app, IncentivePayment)
    assert sorted((p.civil_servant_id, p.amount) for p in paid) == sorted(
        [(a["civil_servant_id"], 200_000), (b["civil_servant_id"], 200_000)])
    assert all(p.norm_id for p in paid)
    assert lines(app)[("state_dtbd", "CM-THOIBINH")]["spent"] == before + 400_000
    sheet = app.test_client().get(f"/api/v1/settlements/{plan['course_id']}/payees", headers=API_AUTH).get_json()
    assert {p["payee_ref"]: p["amounts"].get("reward_excellent") for p in sheet["payees"]
            if p["payee_kind"] == "trainee"} == {a["civil_servant_id"]: 200_000, b["civil_servant_id"]: 200_000}
    listed = app.test_client().get(f"/api/v1/incentives?course_id={plan['course_id']}", headers=API_AUTH).get_json()
    assert len(listed) == 2
    assert_ledger_consistent(app)


def test_a_reward_above_the_cap_norm_is_paid_at_the_cap(tmp_path):
    app = make_app(tmp_path)
    with app.extensions["service"].session_factory() as s:
        norm = s.query(CostNorm).filter_by(item="reward_excellent", valid_to=None).one()
        norm.amount = 300_000  # an operator typo; the 200,000 cap still holds
        s.commit()
    body, plan = scheduled(trainees=[trainee()])
    deliver(app, body)
    deliver(app, evaluated(plan["course_id"], plan["planned_trainees"]))
    [paid] = rows(app, IncentivePayment)
    assert paid.amount == 200_000 and paid.cap_norm_id is not None


# --- degree-training commitments -------------------------------------------------------------------------------

def commit(app, *, known: bool = True, **overrides):
    """POST a commitment; its civil servant is first made known to funding by needs' registration event."""
    body = {"civil_servant_id": "cs-1", "programme": "Thạc sĩ Quản lý công", "decision_no": "15/QĐ-UBND",
            "training_cost": 120_000_000, "training_months": 24, "training_end": "2026-06-30", **overrides}
    if known:
        deliver(app, registered(body["civil_servant_id"], f"TB-{body['civil_servant_id']}"))
    return app.test_client().post("/api/v1/degree-commitments", json=body, headers=API_AUTH)


def test_commitment_defaults_to_three_times_the_training_time_under_nd_171(tmp_path):
    app = make_app(tmp_path)
    resp = commit(app)
    assert resp.status_code == 201, resp.data
    c = resp.get_json()
    assert (c["committed_months"], c["service_start"]) == (72, "2026-07-01")
    old = commit(app, training_end="2024-06-30").get_json()
    assert old["committed_months"] == 48  # twice the training time before NĐ 171/2025


@pytest.mark.parametrize("civil_servant_id", ["0", "cs-never-registered"])
def test_a_commitment_of_a_civil_servant_funding_does_not_know_is_422_naming_the_field(tmp_path, civil_servant_id):
    """Issue 12, finding 10: `civil_servant_id: "0"` was recorded; a receivable could never be opened for it."""
    app = make_app(tmp_path)
    commit(app, civil_servant_id="cs-1")  # someone else is known
    resp = commit(app, known=False, civil_servant_id=civil_servant_id)
    assert resp.status_code == 422, resp.data
    assert list(resp.get_json()["errors"]["json"]) == ["civil_servant_id"]
    listed = app.test_client().get("/api/v1/degree-commitments", headers=API_AUTH).get_json()
    assert [c["civil_servant_id"] for c in listed] == ["cs-1"]


def test_commitment_shorter_than_the_legal_minimum_is_422(tmp_path):
    resp = commit(make_app(tmp_path), committed_months=60)
    assert resp.status_code == 422 and "committed_months" in resp.get_json()["errors"]["json"]


def test_leaving_early_opens_a_receivable_of_f_over_t1_times_t1_minus_t2(tmp_path):
    app = make_app(tmp_path)
    commit(app)  # T1 = 72 months from 2026-07-01
    deliver(app, left("cs-1", date(2028, 7, 15)))  # served 24 whole months
    deliver(app, left("cs-1", date(2028, 8, 1)))  # a second notice finds no open commitment
    [r] = rows(app, Receivable)
    # 120,000,000 × (72 − 24) / 72 = 80,000,000
    assert (r.amount, r.committed_months, r.served_months) == (80_000_000, 72, 24)
    got = app.test_client().get("/api/v1/receivables?civil_servant_id=cs-1", headers=API_AUTH).get_json()
    assert got[0]["amount"] == 80_000_000
    entries = {e.account: (e.debit, e.credit) for e in rows(app, LedgerEntry) if e.cause.startswith("event:")}
    assert entries[f"receivable:{r.commitment_id}"] == (80_000_000, 0)


def test_retirement_or_full_service_opens_no_receivable(tmp_path):
    app = make_app(tmp_path)
    commit(app, civil_servant_id="cs-2")
    commit(app, civil_servant_id="cs-3")
    deliver(app, left("cs-2", date(2027, 1, 1), reason="retired"))
    deliver(app, left("cs-3", date(2032, 8, 1)))
    assert rows(app, Receivable) == []
    statuses = {c["civil_servant_id"]: c["status"] for c in
                app.test_client().get("/api/v1/degree-commitments", headers=API_AUTH).get_json()}
    assert statuses == {"cs-2": "waived", "cs-3": "fulfilled"}


# --- budget amendments and reversals ---------------------------------------------------------------------------

def test_amendments_change_the_allocation_with_their_decision_and_never_go_below_commitments(tmp_path):
    app = make_app(tmp_path)
    client = app.test_client()
    line = lines(app)[("unit_regular", "CM-TANLOC")]
    body, plan = scheduled(trainees=[trainee()])
    deliver(app, body)
    url = f"/api/v1/budget-lines/{line['id']}/amendments"
    ok = client.post(url, headers=API_AUTH, json={"delta": -1_999_000_000, "decision_no": "99/QĐ-UBND",
                                                  "decision_date": "2026-06-01", "reason": "Điều chuyển"})
    assert ok.status_code == 201, ok.data
    too_much = client.post(url, headers=API_AUTH, json={"delta": -800_000, "decision_no": "100/QĐ-UBND",
                                                        "decision_date": "2026-06-02", "reason": "Điều chuyển"})
    assert too_much.status_code == 409 and "delta" in too_much.get_json()["errors"]["json"]
    detail = client.get(f"/api/v1/budget-lines/{line['id']}").get_json()
    assert (detail["allocated"], detail["reserved"], detail["balance"]) == (1_000_000, 300_000, 700_000)
    assert [a["decision_no"] for a in detail["amendments"]] == ["99/QĐ-UBND"]
    assert_ledger_consistent(app)


def test_an_allocation_is_corrected_by_a_reversal_entry_never_an_edit(tmp_path):
    app = make_app(tmp_path, seed=False)
    client = app.test_client()
    created = client.post("/api/v1/budget-lines", headers=API_AUTH, json={
        "fiscal_year": 2026, "source": "sponsorship", "owner_unit_code": "CM-TANLOC", "allocated": 7_000_000,
        "decision_no": "5/QĐ", "decision_date": "2026-02-01"}).get_json()
    [journal] = {e.journal_id for e in rows(app, LedgerEntry)}
    count = len(rows(app, LedgerEntry))
    resp = client.post(f"/api/v1/ledger/journals/{journal}/reverse", json={"reason": "Nhập nhầm"}, headers=API_AUTH)
    assert resp.status_code == 201, resp.data
    assert len(rows(app, LedgerEntry)) == 2 * count  # appended, nothing edited
    assert client.get(f"/api/v1/budget-lines/{created['id']}").get_json()["allocated"] == 0
    again = client.post(f"/api/v1/ledger/journals/{journal}/reverse", json={"reason": "x"}, headers=API_AUTH)
    assert again.status_code == 409
    tb = client.get("/api/v1/ledger/trial-balance").get_json()
    assert tb["total_debit"] == tb["total_credit"]


def test_legacy_source_spelling_is_stored_as_state_dtbd(tmp_path):
    app = make_app(tmp_path, seed=False)
    resp = app.test_client().post("/api/v1/budget-lines", headers=API_AUTH, json={
        "fiscal_year": 2026, "source": "dtbd_state", "owner_unit_code": "CM", "allocated": 1,
        "decision_no": "1", "decision_date": "2026-01-01"})
    assert resp.get_json()["source"] == "state_dtbd"


# --- norm import -----------------------------------------------------------------------------------------------

HEADER = "Khoản chi,Đơn vị tính,Hạng giảng viên,Tỉnh,Mức chi (đồng),Căn cứ pháp lý,Hiệu lực từ,Hiệu lực đến\n"


def upload(app, text: str, name: str = "norms.csv"):
    return app.test_client().post("/api/v1/rules/cost-norms/import", headers=API_AUTH,
                                  content_type="multipart/form-data", data={"file": (BytesIO(text.encode()), name)})


def test_norms_import_from_csv_and_round_trip_through_the_export(tmp_path):
    app = make_app(tmp_path, seed=False)
    resp = upload(app, HEADER + "lecturer_fee,per_buoi,1,CM,2500000,NQ 01/2026/NQ-HĐND,2026-01-01,\n"
                                "learner_support,per_day,,CM,160000,NQ 01/2026/NQ-HĐND,2026-01-01,2026-12-31\n")
    assert resp.status_code == 201, resp.data
    assert resp.get_json() == {"imported": 2, "superseded": 0}
    exported = app.test_client().get("/api/v1/rules/cost-norms?format=xlsx")
    assert exported.status_code == 200
    from services.funding.formats import NORM_COLUMNS
    from shared.tabular import read_table
    back = read_table(exported.data, "x.xlsx", NORM_COLUMNS)
    assert sorted((r["item"], r["amount"]) for r in back) == [("learner_support", 160_000), ("lecturer_fee", 2_500_000)]


def test_a_bad_norm_file_is_rejected_whole_with_line_and_field(tmp_path):
    app = make_app(tmp_path, seed=False)
    resp = upload(app, HEADER + "lecturer_fee,per_buoi,1,CM,2500000,NQ 01,2026-01-01,\n"
                                "learner_support,per_week,,CM,abc,NQ 01,2026-02-30,\n")
    assert resp.status_code == 422
    errors = file_problems(resp)
    assert set(errors["3"]) == {"unit", "amount", "valid_from"}
    assert rows(app, CostNorm) == []


def test_overlapping_versions_in_the_file_or_with_the_database_are_rejected(tmp_path):
    app = make_app(tmp_path, seed=False)
    within = upload(app, HEADER + "travel,per_km,,CM,2000,NQ,2026-01-01,2026-12-31\n"
                                  "travel,per_km,,CM,2100,NQ,2026-06-01,\n")
    assert "valid_from" in file_problems(within)["3"]
    assert upload(app, HEADER + "travel,per_km,,CM,2000,NQ,2026-01-01,2026-12-31\n").status_code == 201
    clash = upload(app, HEADER + "travel,per_km,,CM,2000,NQ,2026-12-31,\n")
    assert "valid_from" in file_problems(clash)["2"]
    assert upload(app, HEADER + "travel,per_km,,CM,2000,NQ,2027-01-01,\n").status_code == 201


def test_import_without_a_file_is_422_naming_file(tmp_path):
    resp = make_app(tmp_path, seed=False).test_client().post("/api/v1/rules/cost-norms/import", headers=API_AUTH)
    assert resp.status_code == 422 and "file" in resp.get_json()["errors"]["files"]


# --- reports ---------------------------------------------------------------------------------------------------

def settled_course(app, trainees, start=date(2026, 3, 2)):
    body, plan = scheduled(trainees=trainees, start=start)
    deliver(app, body)
    deliver(app, completed_from(plan)[0])
    return plan


def test_spending_reports_by_source_item_commune_course_and_year(tmp_path):
    app = make_app(tmp_path)
    p1 = settled_course(app, [trainee("CM-TANLOC")])
    settled_course(app, [trainee("CM-BIENBACH"), trainee("CM-BIENBACH")], start=date(2026, 9, 7))
    client = app.test_client()
    by_source = client.get("/api/v1/reports/spending?group_by=source&fiscal_year=2026").get_json()
    amounts = {r["key"]: r["amount"] for r in by_source["rows"]}
    assert amounts["unit_regular"] == 3 * 300_000
    total = by_source["total"]
    for group in ("item", "commune", "course", "year"):
        got = client.get(f"/api/v1/reports/spending?group_by={group}").get_json()
        assert sum(r["amount"] for r in got["rows"]) == total, group
    communes = {r["key"]: r["amount"] for r in client.get("/api/v1/reports/spending?group_by=commune").get_json()["rows"]}
    assert (communes["CM-TANLOC"], communes["CM-BIENBACH"]) == (300_000, 600_000)
    assert client.get("/api/v1/reports/spending?group_by=course&format=csv").get_data(as_text=True).count(p1["code"]) == 1
    assert client.get("/api/v1/reports/spending?group_by=item&format=xlsx").data[:2] == b"PK"
    assert client.get("/api/v1/reports/spending?group_by=nothing").status_code == 422


def test_plan_vs_actual_and_budget_burn_chart(tmp_path):
    app = make_app(tmp_path)
    settled_course(app, [trainee("CM-TANLOC")])
    settled_course(app, [trainee("CM-TANLOC")], start=date(2026, 9, 7))
    client = app.test_client()
    plan = client.get("/api/v1/reports/plan-vs-actual?fiscal_year=2026").get_json()
    tanloc = next(x for x in plan["budget_lines"] if (x["source"], x["owner_unit_code"]) == ("unit_regular", "CM-TANLOC"))
    assert (tanloc["allocated"], tanloc["spent"]) == (2_000_000_000, 600_000)
    assert len(plan["courses"]) == 2 and all(c["variance"] == 0 for c in plan["courses"])
    assert client.get("/api/v1/reports/plan-vs-actual?fiscal_year=2026&format=csv").status_code == 200
    burn = client.get("/api/v1/reports/burn?fiscal_year=2026&format=json").get_json()
    regular = burn["series"]["unit_regular"]
    assert (regular[1], regular[2], regular[8], regular[11]) == (0, 300_000, 600_000, 600_000)  # cumulative
    svg = client.get("/api/v1/reports/burn?fiscal_year=2026")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    assert client.get("/api/v1/reports/burn?fiscal_year=2026&format=png").data[:4] == b"\x89PNG"
    from openpyxl import load_workbook
    book = load_workbook(BytesIO(client.get("/api/v1/reports/burn?fiscal_year=2026&format=xlsx").data))
    sheet = book.active
    assert len(sheet._charts) == 1
    header = [c.value for c in sheet[1]]
    column = header.index("Kinh phí thường xuyên của cơ quan cử đi học") + 1
    assert [sheet.cell(row=r, column=column).value for r in (3, 4, 13)] == [0, 300_000, 600_000]


# --- seed ------------------------------------------------------------------------------------------------------

def test_seed_loads_labelled_sample_norms_and_ample_lines_for_2025_to_2030_idempotently(tmp_path):
    app = make_app(tmp_path)
    again = app.test_client().post("/admin/funding/seed", headers=ADMIN_AUTH, json={"fiscal_year": 2026})
    assert again.get_json() == {"norms": 0, "budget_lines": 0}
    budget = rows(app, BudgetLine)
    assert {b.fiscal_year for b in budget} == set(range(2025, 2031))
    keys = {(b.source, b.owner_unit_code) for b in budget if b.fiscal_year == 2028}
    communes = {"CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"}
    assert keys == {("state_dtbd", c) for c in communes | {"CM"}} | {("unit_regular", c) for c in communes}
    norms = rows(app, CostNorm)
    assert norms and all(n.is_sample and "MẪU" in n.legal_basis for n in norms)
    assert {n.valid_to for n in norms if n.item == "lecturer_fee"} == {date(2025, 10, 27), None}
