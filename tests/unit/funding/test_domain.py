"""Pure funding rules: the cost norm in force on a day, a course settlement in whole VND, totals."""
from datetime import date

import pytest

from services.funding.domain import ITEM_LABELS, SOURCE_LABELS, SOURCES, Line, Norm, NormNotFound, select_norm, \
    settlement_lines, totals

TT36_END = date(2025, 10, 27)  # TT 36/2018 + TT 06/2023 apply until 27 Oct 2025
TT100_START = date(2025, 10, 28)  # TT 100/2025 from 28 Oct 2025


def make_norm(id: str = "n", item: str = "lecturer_fee", amount: int = 1_000_000,
              valid_from: date = date(2018, 1, 1), valid_to: date | None = None, tier: int | None = 1,
              unit: str = "per_buoi") -> Norm:
    return Norm(id=id, item=item, unit=unit, amount=amount, valid_from=valid_from, valid_to=valid_to,
                lecturer_tier=tier)


def sample_norms() -> list[Norm]:
    """Two versions per item, switching on 28 Oct 2025 (SAMPLE amounts shaped like Quảng Nam NQ 52/2018)."""
    return [
        make_norm("fee1-old", amount=2_000_000, valid_to=TT36_END, tier=1),
        make_norm("fee1-new", amount=2_200_000, valid_from=TT100_START, tier=1),
        make_norm("fee3-old", amount=1_400_000, valid_to=TT36_END, tier=3),
        make_norm("fee3-new", amount=1_600_000, valid_from=TT100_START, tier=3),
        make_norm("sup-old", "learner_support", 100_000, valid_to=TT36_END, tier=None, unit="per_day"),
        make_norm("sup-new", "learner_support", 150_000, valid_from=TT100_START, tier=None, unit="per_day"),
    ]


def session(lecturer_id: str, tier: int, day: date = date(2025, 8, 4), buoi: str = "morning") -> dict:
    return {"session_id": f"{lecturer_id}-{day}-{buoi}", "date": day, "buoi": buoi, "lecturer_id": lecturer_id,
            "lecturer_tier": tier}


def participant(cs_id: str, commune: str, days: int) -> dict:
    return {"civil_servant_id": cs_id, "commune_code": commune, "sessions_attended": days * 2,
            "days_attended": days, "completed": False}


def make_course(**overrides) -> dict:
    """A course_completed payload: L1 (tier 1) teaches 3 buổi, L3 (tier 3) 1 buổi; P1 2 days, P2 none, P3 1 day."""
    course = {
        "course_id": "c1", "code": "K1", "organizer_unit_code": "CM-THOIBINH", "start_date": date(2025, 8, 4),
        "sessions": [session("L1", 1, date(2025, 8, 4), "morning"), session("L1", 1, date(2025, 8, 4), "afternoon"),
                     session("L3", 3, date(2025, 8, 5), "morning"), session("L1", 1, date(2025, 8, 5), "afternoon")],
        "participants": [participant("P1", "CM-TANLOC", 2), participant("P2", "CM-TANLOC", 0),
                         participant("P3", "CM-BIENBACH", 1)],
    }
    return {**course, **overrides}


# --- select_norm -----------------------------------------------------------------------------------------------

def test_selects_the_version_in_force_on_the_day():
    assert select_norm(sample_norms(), "lecturer_fee", date(2025, 8, 4), 1).id == "fee1-old"
    assert select_norm(sample_norms(), "lecturer_fee", date(2026, 3, 1), 1).id == "fee1-new"


def test_valid_to_is_the_last_day_in_force():
    assert select_norm(sample_norms(), "lecturer_fee", TT36_END, 3).id == "fee3-old"
    assert select_norm(sample_norms(), "lecturer_fee", TT100_START, 3).id == "fee3-new"


def test_valid_from_is_the_first_day_in_force():
    norms = [make_norm("a", valid_from=date(2025, 1, 1))]
    assert select_norm(norms, "lecturer_fee", date(2025, 1, 1), 1).id == "a"
    with pytest.raises(NormNotFound):
        select_norm(norms, "lecturer_fee", date(2024, 12, 31), 1)


def test_latest_valid_from_wins_when_versions_overlap():
    norms = [make_norm("old", valid_from=date(2018, 1, 1)), make_norm("new", valid_from=date(2025, 1, 1))]
    assert select_norm(norms, "lecturer_fee", date(2024, 12, 31), 1).id == "old"
    assert select_norm(norms, "lecturer_fee", date(2025, 1, 1), 1).id == "new"


def test_selects_by_lecturer_tier():
    assert select_norm(sample_norms(), "lecturer_fee", date(2025, 8, 4), 3).amount == 1_400_000


def test_learner_support_is_selected_without_a_tier():
    assert select_norm(sample_norms(), "learner_support", date(2025, 8, 4)).id == "sup-old"


def test_raises_norm_not_found_for_a_missing_tier():
    with pytest.raises(NormNotFound, match="tier=2"):
        select_norm(sample_norms(), "lecturer_fee", date(2025, 8, 4), 2)


def test_raises_norm_not_found_before_any_version():
    with pytest.raises(NormNotFound, match="2017-12-31"):
        select_norm(sample_norms(), "lecturer_fee", date(2017, 12, 31), 1)


def test_raises_norm_not_found_for_an_unknown_item():
    with pytest.raises(NormNotFound):
        select_norm(sample_norms(), "field_trip", date(2025, 8, 4))


def test_raises_norm_not_found_after_a_closed_version_ends():
    with pytest.raises(NormNotFound):
        select_norm([make_norm(valid_to=TT36_END)], "lecturer_fee", TT100_START, 1)


# --- settlement_lines ------------------------------------------------------------------------------------------

def lines_by_payee(lines: list[Line]) -> dict[str, Line]:
    return {line.payee_ref: line for line in lines}


def test_lecturer_fee_is_per_buoi_by_tier_aggregated_per_lecturer():
    fees = [x for x in settlement_lines(make_course(), sample_norms()) if x.item == "lecturer_fee"]
    assert [(x.payee_ref, x.quantity, x.unit_amount, x.amount, x.norm_id) for x in fees] == [
        ("L1", 3, 2_000_000, 6_000_000, "fee1-old"),
        ("L3", 1, 1_400_000, 1_400_000, "fee3-old"),
    ]


def test_lecturer_fee_is_paid_from_the_organisers_dtbd_line():
    for line in settlement_lines(make_course(), sample_norms()):
        if line.item == "lecturer_fee":
            assert (line.payee_kind, line.source, line.owner_unit_code) == ("lecturer", "state_dtbd", "CM-THOIBINH")


def test_learner_support_per_day_attended_charged_to_the_trainees_commune_regular_budget():
    support = lines_by_payee([x for x in settlement_lines(make_course(), sample_norms())
                              if x.item == "learner_support"])
    assert set(support) == {"P1", "P3"}
    p1, p3 = support["P1"], support["P3"]
    assert (p1.payee_kind, p1.source, p1.owner_unit_code) == ("trainee", "unit_regular", "CM-TANLOC")
    assert (p1.quantity, p1.unit_amount, p1.amount, p1.norm_id) == (2, 100_000, 200_000, "sup-old")
    assert (p3.source, p3.owner_unit_code, p3.quantity, p3.amount) == ("unit_regular", "CM-BIENBACH", 1, 100_000)


def test_participant_with_zero_days_gets_no_line():
    assert "P2" not in lines_by_payee(settlement_lines(make_course(), sample_norms()))


def test_norms_in_force_on_the_first_day_apply_to_the_whole_course():
    # A course straddling 28 Oct 2025 is paid at the old rates: the first day decides.
    course = make_course(start_date=TT36_END,
                         sessions=[session("L1", 1, TT36_END), session("L1", 1, TT100_START)],
                         participants=[participant("P1", "CM-TANLOC", 2)])
    by = lines_by_payee(settlement_lines(course, sample_norms()))
    assert (by["L1"].unit_amount, by["L1"].amount) == (2_000_000, 4_000_000)
    assert (by["P1"].unit_amount, by["P1"].amount) == (100_000, 200_000)


def test_course_starting_under_tt_100_uses_the_new_rates():
    by = lines_by_payee(settlement_lines(make_course(start_date=TT100_START), sample_norms()))
    assert by["L1"].amount == 3 * 2_200_000
    assert by["P1"].amount == 2 * 150_000


def test_a_lecturer_teaching_at_two_tiers_gets_one_line_per_tier():
    course = make_course(sessions=[session("L1", 1), session("L1", 3, buoi="afternoon")], participants=[])
    lines = settlement_lines(course, sample_norms())
    assert [(x.payee_ref, x.quantity, x.amount) for x in lines] == [("L1", 1, 2_000_000), ("L1", 1, 1_400_000)]


def test_all_amounts_are_whole_vnd_integers():
    for line in settlement_lines(make_course(), sample_norms()):
        for value in (line.quantity, line.unit_amount, line.amount):
            assert type(value) is int


def test_no_learner_support_norm_is_needed_when_nobody_attended():
    norms = [n for n in sample_norms() if n.item == "lecturer_fee"]
    course = make_course(participants=[participant("P2", "CM-TANLOC", 0)])
    assert {x.item for x in settlement_lines(course, norms)} == {"lecturer_fee"}


def test_raises_norm_not_found_when_attendees_have_no_support_norm():
    norms = [n for n in sample_norms() if n.item == "lecturer_fee"]
    with pytest.raises(NormNotFound, match="learner_support"):
        settlement_lines(make_course(), norms)


def test_raises_norm_not_found_for_a_lecturer_tier_without_a_norm():
    with pytest.raises(NormNotFound, match="tier=5"):
        settlement_lines(make_course(sessions=[session("L9", 5)]), sample_norms())


# --- totals ----------------------------------------------------------------------------------------------------

def test_totals_sum_per_item_and_overall_worked_by_hand():
    # fees 3 × 2,000,000 + 1 × 1,400,000; support (2 + 1) × 100,000
    out = totals(settlement_lines(make_course(), sample_norms()))
    assert (out["lecturer_fee"], out["learner_support"], out["total"]) == (7_400_000, 300_000, 7_700_000)
    assert (out["lecturer_fees"], out["learner_support_total"], out["class_costs"]) == (7_400_000, 300_000, 0)


def test_totals_of_no_lines_are_zero():
    assert totals([]) == {"lecturer_fee": 0, "learner_support": 0, "lecturer_fees": 0, "learner_support_total": 0,
                          "class_costs": 0, "total": 0}


def test_line_amount_is_quantity_times_unit_amount():
    line = Line("learner_support", "trainee", "P", "unit_regular", "CM-TANLOC", 3, 150_000, "n")
    assert line.amount == 450_000


def test_every_source_and_item_has_a_vietnamese_label():
    assert set(SOURCE_LABELS) == set(SOURCES)
    from services.funding.seed import SAMPLE_NORMS
    assert {n[0] for n in SAMPLE_NORMS} <= set(ITEM_LABELS)
