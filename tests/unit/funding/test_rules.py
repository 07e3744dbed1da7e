"""Funding rules worked by hand: every cost item, caps, lodging threshold, rounding, repayment, cover checks."""
from datetime import date

import pytest

from services.funding.domain import (LineSettlement, Norm, NormNotFound, Short, check_cover, cost_lines, needs_by_budget,
                                     planned_participants, rejection_reason, repayment, reward_amount,
                                     round_half_up, settle_against, totals, whole_months_between)

DAY = date(2026, 3, 2)


def norm(item: str, amount: int, unit: str = "per_day", tier: int | None = None,
         valid_from: date = date(2025, 10, 28), valid_to: date | None = None) -> Norm:
    return Norm(f"{item}-{tier or ''}-{valid_from}", item, unit, amount, valid_from, valid_to, tier)


def norms() -> list[Norm]:
    """Shaped like the labelled sample set in force from 28 Oct 2025."""
    return [norm("lecturer_fee", 2_000_000, "per_buoi", 2), norm("learner_support", 150_000),
            norm("materials", 60_000, "per_person"), norm("certificate", 25_000, "per_person"),
            norm("opening_closing", 1_200_000, "per_course"), norm("hall_rental", 1_200_000),
            norm("water_stationery", 25_000, "per_person_day"), norm("class_management", 250_000),
            norm("support_ethnic_minority", 50_000), norm("support_child_u36", 50_000),
            norm("support_cap_per_day", 230_000, "cap_per_person_day"), norm("travel", 2_000, "per_km"),
            norm("lodging", 250_000, "per_night"), norm("lodging_min_km", 15, "threshold_km"),
            norm("reward_excellent", 200_000, "per_person"), norm("reward_cap", 200_000, "cap_per_person")]


def course(form: str = "in_person") -> dict:
    sessions = [{"date": d, "buoi": b, "lecturer_id": "L1", "lecturer_tier": 2}
                for d in (DAY, date(2026, 3, 3)) for b in ("morning", "afternoon")]
    return {"course_id": "c1", "code": "K1", "organizer_unit_code": "CM-THOIBINH", "start_date": DAY, "form": form,
            "sessions": sessions, "venue": {"venue_id": "V", "name": "Hội trường", "distances": [
                {"commune_code": "CM-TANLOC", "km": 20}, {"commune_code": "CM-BIENBACH", "km": 5}]}}


def people() -> list[dict]:
    return [{"civil_servant_id": "A", "commune_code": "CM-TANLOC", "days_attended": 2, "certified": True,
             "ethnic_minority": True, "child_under_36_months": True, "female": True},
            {"civil_servant_id": "B", "commune_code": "CM-BIENBACH", "days_attended": 1, "certified": False},
            {"civil_servant_id": "C", "commune_code": "CM-TANLOC", "days_attended": 0, "certified": False}]


def by(lines, payee: str) -> dict:
    return {x.item: x for x in lines if x.payee_ref == payee}


def test_class_costs_go_to_the_organisers_state_line_worked_by_hand():
    org = by(cost_lines(course(), people(), norms()), "CM-THOIBINH")
    got = {item: (x.quantity, x.unit_amount, x.amount) for item, x in org.items()}
    assert got == {
        "materials": (2, 60_000, 120_000),  # A and B attended; C never came
        "certificate": (1, 25_000, 25_000),  # only A is certified
        "opening_closing": (1, 1_200_000, 1_200_000),
        "class_management": (2, 250_000, 500_000),
        "hall_rental": (2, 1_200_000, 2_400_000),
        "water_stationery": (3, 25_000, 75_000),  # 2 + 1 trainee-days
    }
    assert {(x.source, x.payee_kind) for x in org.values()} == {("state_dtbd", "organiser")}


def test_learner_support_is_capped_per_day_by_the_work_trip_regime():
    a = by(cost_lines(course(), people(), norms()), "A")
    # 150,000 meal + 50,000 ethnic minority = 200,000; the child support is cut to the 30,000 left under 230,000
    assert (a["learner_support"].amount, a["support_ethnic_minority"].amount) == (300_000, 100_000)
    child = a["support_child_u36"]
    assert (child.quantity, child.unit_amount, child.amount) == (2, 30_000, 60_000)
    assert child.cap_norm_id == "support_cap_per_day--2025-10-28" and child.norm_id == "support_child_u36--2025-10-28"
    assert a["learner_support"].cap_norm_id is None


def test_lodging_only_from_the_threshold_distance_and_one_round_trip_when_lodged():
    lines = cost_lines(course(), people(), norms())
    a, b = by(lines, "A"), by(lines, "B")
    assert (a["lodging"].quantity, a["lodging"].amount) == (1, 250_000)  # 20 km ≥ 15 km: 1 night for 2 days
    assert (a["travel"].quantity, a["travel"].amount) == (40, 80_000)  # 20 km × 2 ways × 1 trip × 2,000
    assert "lodging" not in b  # 5 km: goes home every day
    assert (b["travel"].quantity, b["travel"].amount) == (10, 20_000)  # 5 km × 2 ways × 1 day attended


def test_trainee_who_never_came_gets_nothing():
    assert by(cost_lines(course(), people(), norms()), "C") == {}


def test_support_is_charged_to_each_sending_communes_regular_budget_and_totals_by_hand():
    lines = cost_lines(course(), people(), norms())
    assert needs_by_budget(lines) == {("state_dtbd", "CM-THOIBINH"): 8_000_000 + 4_320_000,
                                      ("unit_regular", "CM-TANLOC"): 790_000,
                                      ("unit_regular", "CM-BIENBACH"): 170_000}
    t = totals(lines)
    assert (t["lecturer_fees"], t["class_costs"], t["learner_support_total"], t["total"]) == (
        8_000_000, 4_320_000, 960_000, 13_280_000)
    assert all(type(x.amount) is int for x in lines)


def test_every_line_records_the_norm_it_used():
    ids = {n.id for n in norms()}
    assert all(x.norm_id in ids for x in cost_lines(course(), people(), norms()))


def test_an_online_course_pays_no_hall_water_travel_or_lodging():
    items = {x.item for x in cost_lines(course("online"), people(), norms())}
    assert not items & {"hall_rental", "water_stationery", "travel", "lodging"}
    assert {"lecturer_fee", "learner_support", "materials"} <= items


def test_an_item_without_a_norm_is_not_paid_but_a_missing_lecturer_tier_is_an_error():
    few = [n for n in norms() if n.item in ("lecturer_fee", "learner_support")]
    assert {x.item for x in cost_lines(course(), people(), few)} == {"lecturer_fee", "learner_support"}
    with pytest.raises(NormNotFound, match="tier=2"):
        cost_lines(course(), people(), [n for n in norms() if n.item != "lecturer_fee"])


def test_norms_in_force_on_the_first_day_apply_old_rates_before_28_october_2025():
    old = [norm("lecturer_fee", 1_800_000, "per_buoi", 2, date(2018, 1, 1), date(2025, 10, 27)),
           norm("learner_support", 100_000, valid_from=date(2018, 1, 1), valid_to=date(2025, 10, 27))]
    c = {**course(), "start_date": date(2025, 10, 27)}
    fee = by(cost_lines(c, people(), norms() + old), "L1")["lecturer_fee"]
    assert (fee.unit_amount, fee.norm_id) == (1_800_000, "lecturer_fee-2-2018-01-01")


def test_the_estimate_assumes_full_attendance_of_every_planned_trainee():
    planned = planned_participants([{"civil_servant_id": "A", "commune_code": "X"}], course()["sessions"])
    assert planned == [{"civil_servant_id": "A", "commune_code": "X", "days_attended": 2, "certified": True}]


@pytest.mark.parametrize("n,d,expected", [(5, 2, 3), (4, 2, 2), (7, 3, 2), (8, 3, 3), (1, 2, 1), (0, 7, 0),
                                          (2_600_000_000, 36, 72_222_222)])
def test_round_half_up_to_whole_vnd(n, d, expected):
    assert round_half_up(n, d) == expected


def test_round_half_up_refuses_negative_or_zero_denominators():
    with pytest.raises(ValueError):
        round_half_up(1, 0)
    with pytest.raises(ValueError):
        round_half_up(-1, 2)


@pytest.mark.parametrize("cost,t1,t2,expected", [
    (120_000_000, 36, 10, 86_666_667),  # 120e6 × 26 / 36 = 86,666,666.67 → half up
    (100_000_000, 48, 0, 100_000_000),  # left at once: all of it
    (100_000_000, 48, 48, 0), (100_000_000, 48, 60, 0),  # served in full (or more): nothing
    (1, 2, 1, 1),  # 0.5 VND rounds up to 1
    (90_000_000, 36, 12, 60_000_000),
])
def test_repayment_is_f_over_t1_times_t1_minus_t2(cost, t1, t2, expected):
    assert repayment(cost, t1, t2) == expected


@pytest.mark.parametrize("start,end,months", [
    (date(2024, 1, 15), date(2024, 2, 14), 0), (date(2024, 1, 15), date(2024, 2, 15), 1),
    (date(2024, 1, 31), date(2024, 2, 29), 0), (date(2023, 7, 1), date(2026, 6, 30), 35),
    (date(2023, 7, 1), date(2026, 7, 1), 36), (date(2026, 7, 1), date(2026, 1, 1), 0)])
def test_whole_months_served(start, end, months):
    assert whole_months_between(start, end) == months


def test_settle_against_uses_the_reservation_first_then_the_free_balance_and_releases_the_rest():
    # (consumed from the reservation, extra from the free balance, unfunded, released)
    assert settle_against(actual=700, reserved=1_000, free=0) == LineSettlement(700, 0, 0, 300)
    assert settle_against(actual=1_200, reserved=1_000, free=150) == LineSettlement(1_000, 150, 50, 0)
    assert settle_against(actual=0, reserved=400, free=10) == LineSettlement(0, 0, 0, 400)
    assert settle_against(actual=500, reserved=0, free=1_000) == LineSettlement(0, 500, 0, 0)


def test_check_cover_names_short_and_missing_lines():
    needs = {("state_dtbd", "CM-THOIBINH"): 1_000, ("unit_regular", "CM-TANLOC"): 500,
             ("unit_regular", "CM-TRIPHAI"): 10}
    shorts = check_cover(needs, {("state_dtbd", "CM-THOIBINH"): ("L1", 1_000), ("unit_regular", "CM-TANLOC"): ("L2", 499)})
    assert shorts == [Short("unit_regular", "CM-TANLOC", "L2", 500, 499), Short("unit_regular", "CM-TRIPHAI", None, 10, 0)]
    reason = rejection_reason(shorts, 2026)
    assert "CM-TANLOC năm 2026 còn 499 đồng, cần 500 đồng" in reason
    assert rejection_reason([Short("state_dtbd", "CM", "L", 12_500_000, 1_000_000)], 2026).endswith(
        "còn 1.000.000 đồng, cần 12.500.000 đồng.")
    assert "chưa có dòng dự toán Kinh phí thường xuyên của cơ quan cử đi học của CM-TRIPHAI" in reason


def test_reward_is_capped_by_the_reward_cap_norm():
    assert reward_amount(norms(), DAY) == (200_000, "reward_excellent--2025-10-28", None)
    generous = [n for n in norms() if n.item != "reward_excellent"] + [norm("reward_excellent", 250_000, "per_person")]
    assert reward_amount(generous, DAY) == (200_000, "reward_excellent--2025-10-28", "reward_cap--2025-10-28")
