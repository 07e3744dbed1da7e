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
