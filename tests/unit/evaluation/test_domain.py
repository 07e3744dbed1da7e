"""Pure scoring rules of course feedback (TT 10/2017/TT-BNV): form validity, bands, the course summary."""
import pytest

from services.evaluation.domain import BANDS, CRITERIA, CRITERIA_LABELS, band, form_is_valid, summarise

TWENTY = tuple(f"i{n:02d}" for n in range(20))


def make_form(value: int | None = 8, **overrides) -> dict[str, int | None]:
    """A form over the five course criteria, every one answered with `value` unless overridden."""
    return {**{c: value for c in CRITERIA}, **overrides}


# --- form_is_valid ---------------------------------------------------------------------------------------------

def test_five_criteria_all_answered_is_valid():
    assert form_is_valid(make_form()) is True


def test_five_criteria_with_one_unanswered_is_invalid():
    # 1 of 5 = 20 % unanswered > 5 %
    assert form_is_valid(make_form(lecturer=None)) is False


def test_a_criterion_left_out_counts_as_unanswered():
    form = make_form()
    del form["methods"]
    assert form_is_valid(form) is False


def test_twenty_indicators_with_one_unanswered_is_exactly_5_percent_and_valid():
    form = {i: 7 for i in TWENTY} | {"i03": None}
    assert form_is_valid(form, TWENTY) is True


def test_twenty_indicators_with_two_unanswered_is_invalid():
    form = {i: 7 for i in TWENTY} | {"i03": None, "i17": None}
    assert form_is_valid(form, TWENTY) is False


def test_an_empty_form_is_invalid():
    assert form_is_valid({}) is False


def test_answers_to_unknown_indicators_do_not_make_a_form_valid():
    assert form_is_valid({"other": 9, **make_form(content=None)}) is False


# --- band ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("index, code", [
    (0.0, "poor"), (1.99, "poor"),
    (2.0, "weak"), (3.99, "weak"),
    (4.0, "average"), (5.99, "average"),
    (6.0, "good"), (7.99, "good"),
    (8.0, "excellent"), (9.99, "excellent"), (10.0, "excellent"),
])
def test_band_edges_follow_tt_10_2017(index, code):
    assert band(index)[0] == code


def test_bands_carry_vietnamese_labels():
    assert band(10.0) == ("excellent", "Xuất sắc")
    assert band(7.0) == ("good", "Tốt")
    assert band(5.0) == ("average", "Trung bình")
    assert band(3.0) == ("weak", "Yếu")
    assert band(1.0) == ("poor", "Kém")
    assert {code for _, code, _ in BANDS} == {"poor", "weak", "average", "good", "excellent"}


# --- summarise -------------------------------------------------------------------------------------------------

def test_summary_of_two_valid_forms_worked_by_hand():
    a = {"content": 8, "methods": 6, "lecturer": 10, "organisation": 7, "applicability": 9}
    b = {"content": 6, "methods": 8, "lecturer": 8, "organisation": 5, "applicability": 7}
    s = summarise(4, [a, b])
    assert s.means == {"content": 7.0, "methods": 7.0, "lecturer": 9.0, "organisation": 6.0, "applicability": 8.0}
    assert s.index == 7.4  # (7 + 7 + 9 + 6 + 8) / 5
    assert (s.band, s.band_label) == ("good", "Tốt")
    assert (s.requests, s.responses, s.valid_responses) == (4, 2, 2)
    assert s.response_rate == 0.5


def test_invalid_forms_count_as_responses_but_not_in_the_means():
    valid = make_form(6)
    invalid = make_form(10, lecturer=None)  # 20 % unanswered
    s = summarise(3, [valid, invalid])
    assert (s.responses, s.valid_responses) == (2, 1)
    assert s.means == {c: 6.0 for c in CRITERIA}
    assert s.index == 6.0
    assert s.response_rate == 0.6667


def test_means_are_rounded_to_two_decimals():
    s = summarise(3, [make_form(7), make_form(8), make_form(8)])
    assert s.means["content"] == 7.67
    assert s.index == 7.67


def test_an_unanswered_indicator_is_left_out_of_its_own_mean():
    forms = [{i: 6 for i in TWENTY} | {"i00": None}, {i: 9 for i in TWENTY}]
    s = summarise(2, forms, TWENTY)
    assert s.means["i00"] == 9.0
    assert s.means["i01"] == 7.5


def test_index_at_exactly_eight_is_excellent():
    s = summarise(1, [make_form(8)])
    assert (s.index, s.band) == (8.0, "excellent")


def test_zero_requests_gives_zero_rate_and_no_index():
    s = summarise(0, [])
    assert s.response_rate == 0.0
    assert s.means == {c: None for c in CRITERIA}
    assert (s.index, s.band, s.band_label) == (None, None, None)
    assert (s.requests, s.responses, s.valid_responses) == (0, 0, 0)


def test_requests_without_any_valid_answer_give_no_index():
    s = summarise(5, [make_form(None)])
    assert (s.responses, s.valid_responses, s.response_rate) == (1, 0, 0.2)
    assert s.index is None and s.band is None


def test_every_criterion_has_a_label():
    assert set(CRITERIA_LABELS) == set(CRITERIA)


# --- criterion / object means and the index method -------------------------------------------------------------

from datetime import date  # noqa: E402

from services.evaluation.domain import (  # noqa: E402
    Indicator, RuleError, assessed_levels, before_after, excellent_learners, learning_gain, lecturer_scores,
    level_for, parse_period, suppress_small, validate_level_mapping,
)

STRUCTURE = [Indicator("a1", "programme", "content"), Indicator("a2", "programme", "content"),
             Indicator("b1", "programme", "materials"), Indicator("c1", "lecturers", "methods")]


def test_means_roll_up_indicator_to_criterion_to_object_worked_by_hand():
    forms = [{"a1": 6, "a2": 8, "b1": 10, "c1": 4}, {"a1": 8, "a2": 10, "b1": 8, "c1": 6}]
    s = summarise(2, forms, structure=STRUCTURE)
    assert s.means == {"a1": 7.0, "a2": 9.0, "b1": 9.0, "c1": 5.0}
    assert s.criterion_means == {"content": 8.0, "materials": 9.0, "methods": 5.0}
    assert s.object_means == {"programme": 8.5, "lecturers": 5.0}
    assert s.index == 6.75  # TT 10/2017 chain, the default: objects (8.5 + 5.0) / 2
    assert summarise(2, forms, structure=STRUCTURE, index_method="indicator_mean").index == 7.5  # (7+9+9+5)/4


def test_the_same_criterion_code_under_two_objects_stays_two_criteria():
    structure = [Indicator("p1", "programme", "quality"), Indicator("f1", "facilities", "quality"),
                 Indicator("f2", "facilities", "support")]
    s = summarise(1, [{"p1": 10, "f1": 4, "f2": 6}], structure=structure)
    assert s.criterion_means == {"programme.quality": 10.0, "facilities.quality": 4.0, "support": 6.0}
    assert s.object_means == {"programme": 10.0, "facilities": 5.0}  # not (10 + 4)/2 mixed into facilities
    assert s.index == 7.5


def test_the_band_is_taken_before_rounding_so_7_996_is_good_not_excellent():
    forms = [make_form(8) for _ in range(249)] + [make_form(7)]  # every indicator mean 7.996
    s = summarise(250, forms)
    assert (s.index, s.band) == (8.0, "good")


def test_object_mean_index_weighs_each_object_the_same():
    forms = [{"a1": 6, "a2": 8, "b1": 10, "c1": 4}, {"a1": 8, "a2": 10, "b1": 8, "c1": 6}]
    s = summarise(2, forms, structure=STRUCTURE, index_method="object_mean")
    assert s.index == 6.75  # (8.5 + 5.0) / 2
    assert s.band == "good"


def test_configured_share_changes_which_forms_count():
    form = {"a1": 9, "a2": None, "b1": 9, "c1": 9}  # 25 % unanswered
    assert summarise(1, [form], structure=STRUCTURE).valid_responses == 0
    assert summarise(1, [form], structure=STRUCTURE, max_unanswered_share=0.25).valid_responses == 1


@pytest.mark.parametrize("index, code", [(1.99, "poor"), (2.0, "weak"), (4.0, "average"), (6.0, "good"),
                                         (8.0, "excellent"), (10.0, "excellent")])
def test_band_edges_read_from_rule_data_in_any_order(index, code):
    as_stored = [[0.0, "poor", "Kém"], [4.0, "average", "Trung bình"], [8.0, "excellent", "Xuất sắc"],
                 [2.0, "weak", "Yếu"], [6.0, "good", "Tốt"]]
    assert band(index, [tuple(b) for b in as_stored])[0] == code


def test_index_of_exactly_two_from_forms_is_weak_not_poor():
    s = summarise(1, [{c: 2 for c in CRITERIA}])
    assert (s.index, s.band) == (2.0, "weak")


def test_index_just_under_six_is_average():
    # means 6, 6, 6, 6, 5.9 would need fractions; two forms: 6,6,6,6,5 and 6,6,6,6,6 → 5.5 on one indicator
    s = summarise(2, [make_form(6, applicability=5), make_form(6)])
    assert s.index == 5.9 and s.band == "average"


# --- lecturer scores -------------------------------------------------------------------------------------------

LEC = ("k", "e", "r", "m", "t")


def test_lecturer_scores_per_lecturer_over_valid_forms_only():
    forms = [("L1", {c: 9 for c in LEC}), ("L1", {c: 7 for c in LEC}), ("L2", {c: 5 for c in LEC}),
             ("L2", {"k": 10, "e": None, "r": 10, "m": 10, "t": 10})]  # 20 % unanswered: invalid
    out = lecturer_scores(forms, LEC)
    assert [(x["lecturer_id"], x["mean"], x["band"], x["responses"]) for x in out] == \
        [("L1", 8.0, "excellent", 2), ("L2", 5.0, "average", 1)]


def test_suppression_blanks_groups_under_the_threshold():
    rows = [{"id": "a", "n": 2, "mean": 9.0}, {"id": "b", "n": 3, "mean": 7.0}]
    out = suppress_small(rows, "n", 3, ("mean",))
    assert out == [{"id": "a", "n": 2, "mean": None, "suppressed": True},
                   {"id": "b", "n": 3, "mean": 7.0, "suppressed": False}]


# --- L2 ----------------------------------------------------------------------------------------------------------

def t(cs, kind, score, comp="CM06"):
    return {"civil_servant_id": cs, "kind": kind, "score": score, "competency_code": comp}


def test_learning_gain_counts_only_trainees_with_both_tests():
    rows = [t("a", "pre", 4.0), t("a", "post", 8.0), t("b", "pre", 6.0), t("b", "post", 7.0), t("c", "pre", 2.0)]
    [g] = learning_gain(rows)
    assert g == {"competency_code": "CM06", "pre_mean": 4.0, "post_mean": 7.5, "gain": 2.5, "paired": 2}


def test_learning_gain_separates_competencies_and_the_whole_course():
    rows = [t("a", "pre", 5.0, None), t("a", "post", 6.0, None), t("a", "pre", 3.0, "CM03"),
            t("a", "post", 9.0, "CM03"), t("a", "module", 1.0, "CM03")]
    assert [(g["competency_code"], g["gain"]) for g in learning_gain(rows)] == [(None, 1.0), ("CM03", 6.0)]


MAPPING = validate_level_mapping({"thresholds": [[9.0, 5], [8.0, 4], [6.5, 3], [5.0, 2], [0.0, 1]]})


@pytest.mark.parametrize("score, level", [(10, 5), (9.0, 5), (8.99, 4), (8.0, 4), (6.5, 3), (6.49, 2), (5.0, 2),
                                          (4.99, 1), (0, 1)])
def test_level_mapping_edges(score, level):
    assert level_for(score, MAPPING) == level


@pytest.mark.parametrize("thresholds", [[], [[5.0, 2]], [[9.0, 2], [0.0, 3]], [[11, 5], [0, 1]], [[5, 6], [0, 1]],
                                        "x", [[5.0, 2], [5.0, 3], [0, 1]]])
def test_bad_level_mappings_are_refused(thresholds):
    with pytest.raises(RuleError):
        validate_level_mapping({"thresholds": thresholds})


def test_assessed_level_uses_the_mean_of_post_tests_per_competency():
    rows = [t("a", "post", 9.5), t("a", "post", 8.5), t("a", "pre", 2.0), t("a", "post", 4.0, None)]
    assert assessed_levels(rows, MAPPING) == [{"civil_servant_id": "a", "competency_code": "CM06", "level": 5}]


RULE = {"require_certified": True, "min_post_mean": 9.0}


def test_excellent_learner_needs_certificate_and_post_mean_at_least_nine():
    trainees = [{"civil_servant_id": cs, "commune_code": "CM-TANLOC", "certified": cert}
                for cs, cert in (("a", True), ("b", True), ("c", False), ("d", True))]
    rows = [t("a", "post", 9.0), t("b", "post", 8.99), t("c", "post", 10.0), t("a", "pre", 1.0)]
    assert excellent_learners(trainees, rows, RULE) == [{"civil_servant_id": "a", "commune_code": "CM-TANLOC"}]
    assert [x["civil_servant_id"] for x in excellent_learners(trainees, rows, {**RULE, "require_certified": False})] \
        == ["a", "c"]


def test_excellence_mean_over_several_post_tests():
    trainees = [{"civil_servant_id": "a", "commune_code": "X", "certified": True}]
    assert excellent_learners(trainees, [t("a", "post", 10.0), t("a", "post", 8.0, "CM03")], RULE)
    assert not excellent_learners(trainees, [t("a", "post", 9.5), t("a", "post", 8.4, "CM03")], RULE)


# --- L4 ------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, first, last", [("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
                                               ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
                                               ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
                                               ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
                                               ("2026-q4", date(2026, 10, 1), date(2026, 12, 31))])
def test_periods_are_months_or_quarters(text, first, last):
    assert parse_period(text) == (first, last)


@pytest.mark.parametrize("text", ["2026", "2026-13", "2026-Q5", "2026-1", "abc", "1999-01", ""])
def test_bad_periods_are_refused(text):
    with pytest.raises(ValueError):
        parse_period(text)


def test_before_after_picks_last_period_before_start_and_first_after_end_plus_delay():
    periods = [{"period": p, "period_start": parse_period(p)[0], "period_end": parse_period(p)[1], "value": v}
               for p, v in (("2026-01", 70.0), ("2026-02", 72.0), ("2026-03", 90.0), ("2026-05", 80.0),
                            ("2026-06", 85.5), ("2026-07", 88.0))]
    out = before_after(periods, date(2026, 3, 2), date(2026, 3, 3), 90)  # after from 2026-06-01
    assert (out["before"]["period"], out["after"]["period"], out["change"]) == ("2026-02", "2026-06", 13.5)


def test_before_after_without_a_later_period_has_no_change():
    periods = [{"period": "2026-01", "period_start": date(2026, 1, 1), "period_end": date(2026, 1, 31), "value": 5}]
    out = before_after(periods, date(2026, 3, 2), date(2026, 3, 3), 90)
    assert out["after"] is None and out["change"] is None


def test_complement_suppression_hides_until_the_hidden_groups_hold_enough_answers_together():
    groups = [{"g": "a", "n": 1, "v": 4.0}, {"g": "b", "n": 1, "v": 9.0}, {"g": "c", "n": 6, "v": 7.0},
              {"g": "d", "n": 5, "v": 8.0}]
    out = suppress_small(groups, "n", 3, ("v",), complement=True)
    # a and b are hidden but hold 2 answers together (their mean = total − c − d): d, the smallest shown, goes too
    assert [(g["g"], g["v"], g["suppressed"]) for g in out] == \
        [("a", None, True), ("b", None, True), ("c", 7.0, False), ("d", None, True)]
    assert [g["suppressed"] for g in suppress_small(groups[2:], "n", 3, ("v",), complement=True)] == [False, False]
