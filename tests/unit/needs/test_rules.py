"""Business rules of the needs service, pure: combining assessments, gaps, standards, priority, plan lines."""
from datetime import date

import pytest

from services.needs import domain, seed
from services.needs.domain import CombinationRule, Person, PriorityWeights, StandardRule

TODAY = date(2026, 3, 1)
STANDARDS = [StandardRule.from_data(r) for r in dict((c, v) for c, v, _ in seed.RULES)["standards"]["rules"]]
WEIGHTS = PriorityWeights.from_data(dict((c, v) for c, v, _ in seed.RULES)["priority_weights"])


def make_person(**overrides) -> Person:
    quals = {"llct_level": "so_cap", "qlnn_level": "chuyen_vien", "degree_level": "bachelor",
             **overrides.pop("qualifications", {})}
    return Person(**{"id": "cs-1", "position_code": "VHXH", "qualifications": quals,
                     "employed_from": date(2020, 1, 1), **overrides})


# --- combination rule --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("self_level,sup,expected", [(4, 2, 2), (4, None, 4), (None, 3, 3), (None, None, None)])
def test_supervisor_else_self_takes_the_supervisor_when_present(self_level, sup, expected):
    assert domain.combine(self_level, sup, CombinationRule("supervisor_else_self")) == expected


def test_weighted_mean_uses_the_weights_as_data_and_rounds_half_up():
    rule = CombinationRule("weighted", self_weight=0.5, supervisor_weight=0.5)
    assert domain.combine(3, 2, rule) == 3  # 2.5 → 3, half-up
    assert domain.combine(4, 2, CombinationRule("weighted", 0.3, 0.7)) == 3  # 2.6 → 3
    assert domain.combine(5, 1, CombinationRule("weighted", 0.1, 0.9)) == 1  # 1.4 → 1
    assert domain.combine(None, 2, rule) == 2  # only the levels present count


def test_minimum_rule_takes_the_lower_level():
    assert domain.combine(4, 2, CombinationRule("minimum")) == 2


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError):
        domain.combine(1, 2, CombinationRule("median"))


def test_rule_reads_from_data():
    rule = CombinationRule.from_data({"method": "weighted", "self_weight": 1, "supervisor_weight": 3})
    assert (rule.method, rule.self_weight, rule.supervisor_weight) == ("weighted", 1.0, 3.0)


# --- gap ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("required,assessed,expected", [(3, 1, 2), (3, 3, 0), (3, 5, 0), (4, None, 0), (None, 2, 0)])
def test_gap_is_required_minus_assessed_never_negative(required, assessed, expected):
    assert domain.gap(required, assessed) == expected


# --- standards ---------------------------------------------------------------------------------------------------

def codes(unmet):
    return sorted(u.rule.code for u in unmet)


def test_a_person_meeting_every_standard_has_no_mandatory_need():
    assert domain.unmet_standards(make_person(), STANDARDS) == []


def test_missing_political_theory_maps_to_llct_socap():
    unmet = domain.unmet_standards(make_person(qualifications={"llct_level": "none"}), STANDARDS)
    assert codes(unmet) == ["STD-LLCT"] and unmet[0].rule.topic_code == "LLCT-SOCAP"


def test_missing_state_management_certificate_maps_to_qlnn_cv():
    unmet = domain.unmet_standards(make_person(qualifications={"qlnn_level": None}), STANDARDS)
    assert codes(unmet) == ["STD-QLNN"] and unmet[0].rule.topic_code == "QLNN-CV"


def test_hard_area_staff_without_degree_get_a_deadline_five_years_from_recruitment():
    p = make_person(hard_area=True, qualifications={"degree_level": "intermediate"}, employed_from=date(2023, 2, 1))
    unmet = domain.unmet_standards(p, STANDARDS)
    assert codes(unmet) == ["STD-DEGREE-HARD"]
    assert unmet[0].deadline == date(2028, 2, 1)


def test_other_staff_without_degree_have_an_unmet_standard_without_deadline():
    unmet = domain.unmet_standards(make_person(qualifications={"degree_level": "college"}), STANDARDS)
    assert codes(unmet) == ["STD-DEGREE"] and unmet[0].deadline is None


def test_a_higher_level_than_the_minimum_meets_the_standard():
    assert domain.unmet_standards(make_person(qualifications={"llct_level": "cao_cap"}), STANDARDS) == []


def test_a_standard_limited_to_some_positions_skips_the_others():
    rule = StandardRule("S", "x", "it_level", ("none", "basic"), "basic", "KN-CNTT", positions=("HCC-MC",))
    assert domain.unmet_standards(make_person(qualifications={"it_level": "none"}), [rule]) == []
    assert len(domain.unmet_standards(make_person(position_code="HCC-MC", qualifications={"it_level": "none"}),
                                      [rule])) == 1


def test_deadline_from_29_february_falls_on_28_february():
    rule = StandardRule("S", "x", "degree_level", ("none", "bachelor"), "bachelor", "T", deadline_years=5)
    p = make_person(qualifications={"degree_level": "none"}, employed_from=date(2024, 2, 29))
    assert domain.unmet_standards(p, [rule])[0].deadline == date(2029, 2, 28)


# --- priority ----------------------------------------------------------------------------------------------------

def test_priority_sums_the_points_of_every_reason_and_lists_them():
    p = make_person(leadership=True, hard_area=True, ethnic_minority=True)
    score, reasons = domain.priority(p, WEIGHTS, TODAY, gap_levels=2, wished=True)
    assert [r["code"] for r in reasons] == ["gap", "leadership", "hard_area", "ethnic_minority", "wished"]
    assert score == 2 * 10 + 10 + 8 + 5 + 5
    assert reasons[0]["label"] == "Thiếu hụt 2 mức năng lực so với yêu cầu vị trí"


@pytest.mark.parametrize("deadline,code", [
    (date(2026, 2, 1), "deadline_passed"), (date(2026, 12, 1), "deadline_within_12_months"),
    (date(2027, 12, 1), "deadline_within_24_months"), (date(2030, 1, 1), None)])
def test_deadline_proximity_adds_points(deadline, code):
    _, reasons = domain.priority(make_person(), WEIGHTS, TODAY, mandatory=True, deadline=deadline)
    assert [r["code"] for r in reasons] == ["mandatory"] + ([code] if code else [])


def test_weights_are_data_a_zero_weight_drops_the_reason():
    weights = PriorityWeights.from_data({"leadership": 0, "unknown_key": 99})
    score, reasons = domain.priority(make_person(leadership=True), weights, TODAY, gap_levels=1)
    assert [r["code"] for r in reasons] == ["gap"] and score == 10


# --- needs of one person -----------------------------------------------------------------------------------------

def test_needs_are_one_per_competency_below_required_plus_one_per_unmet_standard():
    topics = {c: t for c, _, t in seed.COMPETENCIES}
    required = seed.requirements_for("VPTK")  # CM03 and CM06 at level 4
    assessed = {"CM01": 3, "CM02": 3, "CM03": 2, "CM04": 3, "CM05": 5, "CM06": 4, "CM07": None}
    person = make_person(position_code="VPTK", qualifications={"llct_level": "none"})
    needs = domain.needs_of(person, required, assessed, topics, STANDARDS, WEIGHTS, TODAY, {"KN-VANBAN"})
    assert [(n.kind, n.topic_code, n.gap) for n in needs] == [
        ("competency_gap", "KN-VANBAN", 2), ("standard", "LLCT-SOCAP", 0)]
    assert needs[0].priority_score == 2 * 10 + 5  # gap + wished
    assert needs[1].priority_score == 30


def test_leadership_positions_require_a_level_more():
    assert seed.requirements_for("LD-CT-UBND")["CM02"] == seed.requirements_for("VHXH")["CM02"] + 1


# --- plans -------------------------------------------------------------------------------------------------------

def need(i, cs, topic="KN-CNTT", commune="CM-TANLOC", position="VHXH", score=10.0, comp="CM06"):
    return domain.OpenNeed(f"n{i}", cs, topic, comp, commune, position, score)


def test_draft_lines_group_by_topic_and_commune_one_candidate_per_person():
    lines = domain.draft_lines([need(1, "a"), need(2, "a", comp="CM06", score=30), need(3, "b"),
                                need(4, "c", commune="CM-TRIPHAI")])
    tanloc = next(ln for ln in lines if ln.commune_code == "CM-TANLOC")
    assert tanloc.headcount == 2 and tanloc.position_code is None
    assert tanloc.candidates[0] == {"civil_servant_id": "a", "commune_code": "CM-TANLOC", "priority_score": 30,
                                    "need_ids": ["n1", "n2"]}
    assert tanloc.competency_codes == ["CM06"]


def test_draft_lines_by_position_splits_positions():
    lines = domain.draft_lines([need(1, "a"), need(2, "b", position="TCKT")], by_position=True)
    assert sorted(ln.position_code for ln in lines) == ["TCKT", "VHXH"]


def test_a_group_larger_than_a_class_is_split_highest_priority_first():
    lines = domain.draft_lines([need(i, f"p{i:02d}", score=i) for i in range(12)], class_size=5)
    assert [ln.headcount for ln in sorted(lines, key=lambda ln: -ln.candidates[0]["priority_score"])] == [5, 5, 2]
    assert lines[0].candidates[0]["civil_servant_id"] == "p11"


def test_the_most_urgent_lines_come_in_the_first_quarter():
    lines = domain.draft_lines([need(i, f"p{i}", topic=f"T{i}", score=i) for i in range(8)])
    assert [ln.quarter for ln in lines] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert lines[0].topic_code == "T7"


@pytest.mark.parametrize("status,action,after", [("draft", "submit", "submitted"), ("submitted", "approve", "approved"),
                                                 ("submitted", "return", "draft")])
def test_plan_workflow_moves_draft_submitted_approved(status, action, after):
    assert domain.next_status(status, action) == after


@pytest.mark.parametrize("status,action", [("draft", "approve"), ("approved", "submit"), ("approved", "return")])
def test_plan_workflow_refuses_skipping_a_step(status, action):
    with pytest.raises(ValueError):
        domain.next_status(status, action)


def test_coverage_target_is_rounded_up_to_whole_people():
    assert domain.coverage(27, 40, 8, 0.3) == {"active": 27, "planned": 40, "trained": 8, "target_share": 0.3,
                                               "target": 9, "trained_share": 0.2963, "target_met": False}
    assert domain.coverage(0, 0, 0, None)["trained_share"] is None


# --- units over time ---------------------------------------------------------------------------------------------

def test_reorganisation_check_refuses_unknown_or_closed_predecessors_and_unknown_successors():
    old = domain.Unit("A", "A", "xa", date(1990, 1, 1), date(2025, 6, 30))
    live = domain.Unit("B", "B", "xa", date(2025, 7, 1), None)
    problems = domain.check_reorganisation(date(2027, 1, 1), {"A": old, "B": live, "Z": None}, {"N"}, {"B"},
                                           {"N", "Q"})
    messages = " ".join(m for _, m in problems)
    assert "«A»" in messages and "«Z»" in messages and "«Q»" in messages and "«B»" not in messages


def test_a_later_merger_is_followed_through_the_history():
    succ = [domain.Succession("TB-X-TANLOC", "CM-TANLOC", date(2025, 7, 1)),
            domain.Succession("CM-TANLOC", "CM-NEW", date(2027, 1, 1))]
    assert domain.unit_on("TB-X-TANLOC", date(2026, 1, 1), succ) == "CM-TANLOC"
    assert domain.unit_on("TB-X-TANLOC", date(2027, 1, 1), succ) == "CM-NEW"
    assert domain.unit_on("TB-X-TANLOC", date(2025, 6, 30), succ) == "TB-X-TANLOC"
