"""Funding end to end inside the service (SQLite, no broker): reserve, replace, reject, release, settle, ledger."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import date

import sqlalchemy as sa

from services.funding.models import OUTBOX_TABLE, LedgerEntry, Reservation, Settlement
from tests.factories import make_course_completed
from tests.unit.apps import ADMIN_AUTH, API_AUTH, build_app, deliver, sqlite_url
from tests.unit.funding.factories import cancelled, completed_from, registered, scheduled, trainee


def make_app(tmp_path, seed: bool = True, backend=None):
    """A funding app on a SQLite file in tmp_path, or on the test's `backend` (tests/conftest.py) when given."""
    app = (build_app("funding", backend.migrated("funding"), migrate=False) if backend is not None
           else build_app("funding", sqlite_url(tmp_path / "funding.db")))
    if seed:
        resp = app.test_client().post("/admin/funding/seed", headers=ADMIN_AUTH, json={"fiscal_year": 2026})
        assert resp.status_code == 200, resp.data
    return app


def rows(app, model):
    with app.extensions["service"].session_factory() as s:
        return list(s.scalars(sa.select(model)))


def events(app, event_type: str) -> list[dict]:
    with app.extensions["service"].session_factory() as s:
        bodies = s.scalars(sa.select(OUTBOX_TABLE.c.body).where(OUTBOX_TABLE.c.event_type == event_type)
                           .order_by(OUTBOX_TABLE.c.seq))
        return [json.loads(b)["payload"] for b in bodies]


def lines(app, year: int = 2026) -> dict[tuple[str, str], dict]:
    got = app.test_client().get(f"/api/v1/budget-lines?fiscal_year={year}").get_json()
    return {(b["source"], b["owner_unit_code"]): b for b in got}


def assert_ledger_consistent(app) -> None:
    journals = defaultdict(lambda: [0, 0])
    for e in rows(app, LedgerEntry):
        journals[e.journal_id][0] += e.debit
        journals[e.journal_id][1] += e.credit
    assert all(d == c for d, c in journals.values())
    verify = app.test_client().get("/admin/funding/verify", headers=ADMIN_AUTH).get_json()
    assert verify["consistent"], verify
    for b in lines(app).values():
        assert b["balance"] == b["allocated"] - b["reserved"] - b["spent"] and b["ledger_consistent"]


def small_line(app, source: str, owner: str, allocated: int, year: int = 2026) -> str:
    resp = app.test_client().post("/api/v1/budget-lines", headers=API_AUTH, json={
        "fiscal_year": year, "source": source, "owner_unit_code": owner, "allocated": allocated,
        "decision_no": "01/QĐ-UBND", "decision_date": f"{year}-01-05"})
    assert resp.status_code == 201, resp.data
    return resp.get_json()["id"]


# --- reservation -----------------------------------------------------------------------------------------------

def test_scheduling_reserves_the_estimate_per_source_and_publishes_budget_reserved(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    body, plan = scheduled(trainees=[trainee("CM-TANLOC"), trainee("CM-BIENBACH")], distances={"CM-TANLOC": 20})
    deliver(app, body)
    [reserved] = events(app, "funding.budget_reserved")
    # tier 2 × 4 buổi = 8,000,000; materials 2 × 60,000; certificates 2 × 25,000; opening 1,200,000;
    # management 2 × 250,000; hall 2 × 1,200,000; water 4 × 25,000 → 12,370,000 on the ĐT-BD line
    # Tân Lộc (20 km: lodged 1 night): meals 300,000 + lodging 250,000 + travel 80,000 = 630,000
    # Biển Bạch (no distance known): meals 300,000
    assert {(x["source"], x["owner_unit_code"]): x["amount"] for x in reserved["lines"]} == {
        ("state_dtbd", "CM-THOIBINH"): 12_370_000, ("unit_regular", "CM-TANLOC"): 630_000,
        ("unit_regular", "CM-BIENBACH"): 300_000}
    assert (reserved["course_id"], reserved["revision"], reserved["estimate_total"]) == (plan["course_id"], 1,
                                                                                         13_300_000)
    assert lines(app)[("state_dtbd", "CM-THOIBINH")]["reserved"] == 12_370_000
    estimate = app.test_client().get(f"/api/v1/courses/{plan['course_id']}/estimate", headers=API_AUTH).get_json()
    assert estimate["status"] == "active" and estimate["estimate_total"] == 13_300_000
    assert {x["item"] for x in estimate["lines"]} >= {"lecturer_fee", "learner_support", "lodging", "travel"}
    assert all(x["norm_id"] for x in estimate["lines"])
    assert estimate["by_source"] == {"state_dtbd/CM-THOIBINH": 12_370_000, "unit_regular/CM-TANLOC": 630_000,
                                     "unit_regular/CM-BIENBACH": 300_000}
    assert (estimate["by_item"]["lecturer_fee"], estimate["by_item"]["lodging"]) == (8_000_000, 250_000)
    assert_ledger_consistent(app)


def test_a_higher_revision_replaces_the_reservation_and_an_older_or_equal_one_is_ignored(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    body1, plan = scheduled(trainees=[trainee() for _ in range(2)])
    body3, _ = scheduled(plan["course_id"], revision=3, trainees=[trainee() for _ in range(4)])
    body2, _ = scheduled(plan["course_id"], revision=2, trainees=[trainee() for _ in range(9)])
    deliver(app, body1)
    deliver(app, body3)
    deliver(app, body2)  # arrives late: older than 3
    again, _ = scheduled(plan["course_id"], revision=3, trainees=[])
    deliver(app, again)  # equal revision under another event id
    published = events(app, "funding.budget_reserved")
    assert [x["revision"] for x in published] == [1, 3]
    by_status = {r.revision: r.status for r in rows(app, Reservation)}
    assert by_status == {1: "superseded", 3: "active"}
    # only revision 3 is held: 4 trainees × 2 days × 150,000 on Tân Lộc's regular budget
    assert lines(app)[("unit_regular", "CM-TANLOC")]["reserved"] == 1_200_000
    assert_ledger_consistent(app)


def test_a_short_line_rejects_the_reservation_naming_it_and_holds_nothing(tmp_path, backend):
    app = make_app(tmp_path, seed=False, backend=backend)
    app.test_client().post("/admin/funding/seed", headers=ADMIN_AUTH, json={"fiscal_year": 2026})
    body, plan = scheduled(start=date(2031, 3, 2), trainees=[trainee("CM-TANLOC")])
    small_line(app, "state_dtbd", "CM-THOIBINH", 5_000_000, 2031)
    deliver(app, body)
    [rejected] = events(app, "funding.reservation_rejected")
    assert rejected["revision"] == 1 and "CM-THOIBINH năm 2031 còn 5.000.000 đồng" in rejected["reason"]
    assert "chưa có dòng dự toán Kinh phí thường xuyên của cơ quan cử đi học của CM-TANLOC" in rejected["reason"]
    shorts = {(s["source"], s["owner_unit_code"]): (s["required"], s["available"]) for s in rejected["short_lines"]}
    assert shorts[("state_dtbd", "CM-THOIBINH")][1] == 5_000_000
    assert shorts[("unit_regular", "CM-TANLOC")] == (300_000, 0)
    assert events(app, "funding.budget_reserved") == []
    assert lines(app, 2031)[("state_dtbd", "CM-THOIBINH")]["reserved"] == 0


def test_a_rejected_new_revision_releases_the_previous_reservation(tmp_path, backend):
    app = make_app(tmp_path, seed=False, backend=backend)
    app.test_client().post("/admin/funding/seed", headers=ADMIN_AUTH, json={"fiscal_year": 2026})
    small_line(app, "state_dtbd", "CM-THOIBINH", 13_000_000, 2031)
    small_line(app, "unit_regular", "CM-TANLOC", 10_000_000, 2031)
    body1, plan = scheduled(start=date(2031, 3, 2), trainees=[trainee()])
    body2, _ = scheduled(plan["course_id"], revision=2, start=date(2031, 3, 2), days=3, trainees=[trainee()])
    deliver(app, body1)
    deliver(app, body2)  # 6 buổi of tier 2 alone need 12,000,000: the class costs no longer fit
    assert [x["revision"] for x in events(app, "funding.reservation_rejected")] == [2]
    assert all(b["reserved"] == 0 for b in lines(app, 2031).values())


def test_cancelling_releases_the_reservation_and_a_late_schedule_reserves_nothing(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    body, plan = scheduled()
    deliver(app, body)
    deliver(app, cancelled(plan["course_id"]))
    assert all(b["reserved"] == 0 for b in lines(app).values())
    assert [r.status for r in rows(app, Reservation)] == ["released"]
    late, _ = scheduled(plan["course_id"], revision=2)
    deliver(app, late)
    assert len(events(app, "funding.budget_reserved")) == 1
    assert_ledger_consistent(app)


def test_missing_norm_rejects_with_a_vietnamese_reason(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    body, _ = scheduled(tier=9)
    deliver(app, body)
    [rejected] = events(app, "funding.reservation_rejected")
    assert rejected["reason"] == ("Không lập được dự toán: Chưa có định mức «Thù lao giảng viên» hạng 9 áp dụng "
                                  "cho ngày 02/03/2026.")
    assert rejected["short_lines"] == []


# --- settlement ------------------------------------------------------------------------------------------------

def test_settlement_after_a_reservation_reports_variance_and_releases_what_was_not_spent(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    a, b = trainee("CM-TANLOC"), trainee("CM-BIENBACH")
    body, plan = scheduled(trainees=[a, b], distances={"CM-TANLOC": 20, "CM-BIENBACH": 5})
    deliver(app, body)
    estimate = events(app, "funding.budget_reserved")[0]["estimate_total"]
    done, _ = completed_from(plan, {b["civil_servant_id"]: 0})  # B never came
    deliver(app, done)
    [settled] = events(app, "funding.course_settled")
    s = app.test_client().get(f"/api/v1/settlements/{plan['course_id']}", headers=API_AUTH).get_json()
    # actual: fees 8,000,000 + materials 60,000 + certificate 25,000 + opening 1,200,000 + management 500,000
    # + hall 2,400,000 + water 50,000 = 12,235,000; A: meals 300,000 + lodging 250,000 + travel 80,000
    assert s["total"] == settled["total_amount"] == 12_235_000 + 630_000
    assert s["by_source"] == {"state_dtbd/CM-THOIBINH": 12_235_000, "unit_regular/CM-TANLOC": 630_000}
    assert settled["estimate_total"] == s["estimate_total"] == estimate
    assert settled["variance"] == s["variance"] == s["total"] - estimate < 0
    assert settled["released"] == estimate - s["total"]
    assert all(b["reserved"] == 0 for b in lines(app).values())
    assert sum(b["spent"] for b in lines(app).values()) == s["total"]
    journals = {e.journal_id for e in rows(app, LedgerEntry) if e.course_id == plan["course_id"]
                and e.cause == f"event:{json.loads(done)['id']}"}
    assert len(journals) == 1  # the settlement is one journal: spend, consume and release together
    assert_ledger_consistent(app)


def test_settlement_without_a_reservation_posts_balanced_journals_from_free_balance(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    _, body, _ = make_course_completed(participants=5, days=2, tier=2)
    deliver(app, body)
    [settlement] = rows(app, Settlement)
    # fees 4 × 2,000,000; class costs 4,775,000 (materials 300,000, certificates 125,000, opening 1,200,000,
    # management 500,000, hall 2,400,000, water 250,000); support 150,000 × 2 days × 5 trainees
    assert (settlement.lecturer_fees, settlement.learner_support, settlement.total) == (
        8_000_000, 1_500_000, 8_000_000 + 4_775_000 + 1_500_000)
    assert (settlement.estimate_total, settlement.variance, settlement.released) == (None, None, 0)
    got = lines(app)
    assert got[("state_dtbd", "CM-THOIBINH")]["spent"] == 12_775_000
    assert got[("unit_regular", "CM-BIENBACH")]["spent"] == 300_000
    assert_ledger_consistent(app)


def test_support_owed_by_a_commune_without_a_budget_line_is_booked_as_unfunded_not_dropped(tmp_path, backend):
    app = make_app(tmp_path, seed=False, backend=backend)
    app.test_client().post("/admin/funding/seed", headers=ADMIN_AUTH, json={"fiscal_year": 2026})
    small_line(app, "state_dtbd", "CM-THOIBINH", 100_000_000, 2031)
    small_line(app, "unit_regular", "CM-TANLOC", 100_000, 2031)  # less than the 300,000 owed
    _, body, payload = make_course_completed(participants=5, days=2, start=date(2031, 3, 3))
    deliver(app, body)
    unfunded = sorted((e.account, e.credit) for e in rows(app, LedgerEntry) if e.account.startswith("unfunded:"))
    assert unfunded == [("unfunded:unit_regular:CM-BIENBACH:2031", 300_000),
                        ("unfunded:unit_regular:CM-HOTHIKY:2031", 300_000),
                        ("unfunded:unit_regular:CM-TANLOC:2031", 200_000),
                        ("unfunded:unit_regular:CM-THOIBINH:2031", 300_000),
                        ("unfunded:unit_regular:CM-TRIPHAI:2031", 300_000)]
    s = app.test_client().get(f"/api/v1/settlements/{payload['course_id']}", headers=API_AUTH).get_json()
    assert s["unfunded"] == 1_400_000
    assert lines(app, 2031)[("unit_regular", "CM-TANLOC")]["balance"] == 0  # never below zero


def test_the_same_course_completed_again_under_a_new_event_id_is_not_settled_twice(tmp_path, backend):
    from shared.events import new_event

    app = make_app(tmp_path, backend=backend)
    _, body, payload = make_course_completed()
    deliver(app, body)
    _, again = new_event("courses.course_completed", payload, producer="courses")  # a producer retry, new id
    deliver(app, again)
    assert len(rows(app, Settlement)) == 1
    assert len({e.journal_id for e in rows(app, LedgerEntry) if e.course_id == payload["course_id"]}) == 1
    assert len(events(app, "funding.course_settled")) == 1


def test_a_batch_with_the_same_course_twice_settles_it_once(tmp_path, backend):
    from shared.db import transaction
    from shared.events import decode, new_event
    from services.funding.handlers import on_course_completed

    app = make_app(tmp_path, backend=backend)
    _, body, payload = make_course_completed()
    _, again = new_event("courses.course_completed", payload, producer="courses")
    _, other, _ = make_course_completed()
    with transaction(app.extensions["service"].session_factory) as session:
        on_course_completed([decode(body), decode(again), decode(other)], session, app.extensions["service"].settings)
    assert len(rows(app, Settlement)) == 2
    assert len(events(app, "funding.course_settled")) == 2


def test_payee_list_has_amounts_per_item_totals_and_a_signature_column(tmp_path, backend):
    app = make_app(tmp_path, backend=backend)
    a, b = trainee("CM-TANLOC"), trainee("CM-BIENBACH")
    body, plan = scheduled(trainees=[a, b], distances={"CM-TANLOC": 20})
    deliver(app, registered(a["civil_servant_id"], "CB-0042"))  # a staff code, never a name
    deliver(app, body)
    deliver(app, completed_from(plan)[0])
    client = app.test_client()
    sheet = client.get(f"/api/v1/settlements/{plan['course_id']}/payees", headers=API_AUTH).get_json()
    by_ref = {p["payee_ref"]: p for p in sheet["payees"]}
    assert (by_ref[a["civil_servant_id"]]["payee_code"], by_ref[b["civil_servant_id"]]["payee_code"]) == ("CB-0042",
                                                                                                          None)
    assert by_ref["lecturer-1"]["amounts"] == {"lecturer_fee": 8_000_000}
    assert by_ref[a["civil_servant_id"]]["amounts"] == {"learner_support": 300_000, "lodging": 250_000,
                                                        "travel": 80_000}
    assert by_ref[b["civil_servant_id"]]["total"] == 300_000
    assert sheet["total"] == 8_000_000 + 630_000 + 300_000  # class costs paid to suppliers are not on it
    csv = client.get(f"/api/v1/settlements/{plan['course_id']}/payees?format=csv", headers=API_AUTH)
    text = csv.get_data(as_text=True)
    assert csv.status_code == 200 and "Ký nhận" in text.splitlines()[0] and "TỔNG CỘNG" in text
    assert a["civil_servant_id"] in text and "630000" in text and "CB-0042" in text
    xlsx = client.get(f"/api/v1/settlements/{plan['course_id']}/payees?format=xlsx", headers=API_AUTH)
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    from io import BytesIO

    from openpyxl import load_workbook
    sheet_rows = [[c for c in r] for r in load_workbook(BytesIO(xlsx.data)).active.iter_rows(values_only=True)]
    assert any("Ký nhận" in (r or []) for r in sheet_rows)
    assert client.get("/api/v1/settlements/unknown/payees", headers=API_AUTH).status_code == 404
