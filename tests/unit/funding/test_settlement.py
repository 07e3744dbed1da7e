"""Settling a course end to end inside the funding service (SQLite, no broker): ledger, budget lines, guards."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa

from services.funding.models import LedgerEntry, Settlement
from tests.factories import make_course_completed
from tests.unit.apps import ADMIN_AUTH, build_app, deliver, sqlite_url


def _app(tmp_path):
    app = build_app("funding", sqlite_url(tmp_path / "funding.db"))
    # sample norms, a ĐT-BD line for the organiser and a regular-budget line for two of the five communes only
    resp = app.test_client().post("/admin/funding/seed", headers=ADMIN_AUTH, json={
        "fiscal_year": 2026, "organizer_unit_code": "CM-THOIBINH", "communes": ["CM-THOIBINH", "CM-BIENBACH"]})
    assert resp.status_code == 200, resp.data
    return app


def _rows(app, model):
    with app.extensions["service"].session_factory() as s:
        return list(s.scalars(sa.select(model)))


def test_settlement_posts_balanced_journals_and_budget_balances_follow_from_the_ledger(tmp_path):
    app = _app(tmp_path)
    _, body, _ = make_course_completed(participants=5, days=2, tier=2)
    deliver(app, body)

    [settlement] = _rows(app, Settlement)
    # tier 2 sample norm from 2025-10-28: 2,000,000/buổi × 4 buổi; support 150,000/day × 2 days × 5 trainees
    assert (settlement.lecturer_fees, settlement.learner_support, settlement.total) == (8_000_000, 1_500_000, 9_500_000)
    journals = defaultdict(lambda: [0, 0])
    for e in _rows(app, LedgerEntry):
        journals[e.journal_id][0] += e.debit
        journals[e.journal_id][1] += e.credit
    assert all(debit == credit for debit, credit in journals.values())

    lines = {(b["source"], b["owner_unit_code"]): b
             for b in app.test_client().get("/api/v1/budget-lines?fiscal_year=2026").get_json()}
    assert lines[("dtbd_state", "CM-THOIBINH")]["spent"] == 8_000_000
    # the factory sends trainees from the five communes in turn: one each from Thới Bình and Biển Bạch
    assert lines[("unit_regular", "CM-THOIBINH")]["spent"] == 300_000
    assert lines[("unit_regular", "CM-BIENBACH")]["spent"] == 300_000
    assert all(b["balance"] == b["allocated"] - b["spent"] for b in lines.values())


def test_support_owed_by_a_commune_without_a_budget_line_is_booked_as_unfunded_not_dropped(tmp_path):
    app = _app(tmp_path)
    _, body, payload = make_course_completed(participants=5, days=2)
    deliver(app, body)
    unfunded = [e for e in _rows(app, LedgerEntry) if e.account.startswith("unfunded:")]
    # Trí Phải, Tân Lộc and Hồ Thị Kỷ have no regular-budget line in 2026: 300,000 each is owed all the same
    assert sorted((e.account, e.credit) for e in unfunded) == [
        ("unfunded:unit_regular:CM-HOTHIKY:2026", 300_000), ("unfunded:unit_regular:CM-TANLOC:2026", 300_000),
        ("unfunded:unit_regular:CM-TRIPHAI:2026", 300_000)]
    lines = app.test_client().get(f"/api/v1/settlements/{payload['course_id']}").get_json()["lines"]
    assert sum(line["amount"] for line in lines if line["budget_line_id"] is None) == 900_000


def test_the_same_course_completed_again_under_a_new_event_id_is_not_settled_twice(tmp_path):
    from shared.events import new_event

    app = _app(tmp_path)
    _, body, payload = make_course_completed()
    deliver(app, body)
    _, again = new_event("courses.course_completed", payload, producer="courses")  # a producer retry, new id
    deliver(app, again)
    assert len(_rows(app, Settlement)) == 1
    assert len({e.journal_id for e in _rows(app, LedgerEntry) if e.course_id == payload["course_id"]}) == 1
