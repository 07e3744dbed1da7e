"""Pure rules of course scheduling: session times, length caps, lecturer standards, conflicts, the certificate rule,
the waitlist order, duplicate buổi and the closing state."""
from datetime import date, datetime, time, timedelta, timezone

import pytest

from services.courses.domain import (
    BUOI, AttendanceResult, Booking, BuoiTimes, ConflictIndex, LecturerStandard, LengthRule, NewSession, Score,
    SessionSlot, allowed_excused, attendance_result, checkin_open, closing_state,
    commune_share_conflicts, duplicate_slots, find_conflicts, lecturer_problems, length_problems,
    participant_outcome, session_bounds, waitlist_order, working_day_blocks)
from services.courses.formats import certificate_number  # the number's format; issuing it is completion's

MON, TUE = date(2025, 8, 4), date(2025, 8, 5)


def two_day_course() -> list[SessionSlot]:
    """Mon morning s1, Mon afternoon s2, Tue morning s3, Tue afternoon s4: 2 days = 4 buổi."""
    return [SessionSlot("s1", MON, "morning"), SessionSlot("s2", MON, "afternoon"),
            SessionSlot("s3", TUE, "morning"), SessionSlot("s4", TUE, "afternoon")]


def test_a_day_has_two_buoi():
    assert BUOI == ("morning", "afternoon")


# --- attendance_result -----------------------------------------------------------------------------------------

def test_full_attendance_completes_the_course():
    assert attendance_result(two_day_course(), {"s1", "s2", "s3", "s4"}) == AttendanceResult(4, 2, True)


def test_missing_one_buoi_does_not_complete_the_course():
    assert attendance_result(two_day_course(), {"s1", "s2", "s3"}) == AttendanceResult(3, 2, False)


def test_one_buoi_of_a_day_counts_that_day_as_attended():
    # Learner support is paid per day attended: the morning of each day is enough for the day to count.
    assert attendance_result(two_day_course(), {"s1", "s3"}) == AttendanceResult(2, 2, False)


def test_both_buoi_of_one_day_count_as_one_day():
    assert attendance_result(two_day_course(), {"s1", "s2"}) == AttendanceResult(2, 1, False)


def test_no_attendance_gives_zero_sessions_and_days():
    assert attendance_result(two_day_course(), set()) == AttendanceResult(0, 0, False)


def test_a_course_without_sessions_is_never_completed():
    assert attendance_result([], set()) == AttendanceResult(0, 0, False)
    assert attendance_result([], {"s1"}) == AttendanceResult(0, 0, False)


def test_attendance_at_sessions_of_another_course_is_ignored():
    assert attendance_result(two_day_course(), {"s1", "other"}) == AttendanceResult(1, 1, False)


def test_single_session_course_completes_with_that_session():
    assert attendance_result([SessionSlot("s1", MON, "afternoon")], {"s1"}) == AttendanceResult(1, 1, True)


# --- duplicate_slots -------------------------------------------------------------------------------------------

def test_no_duplicates_in_a_well_formed_course():
    assert duplicate_slots(two_day_course()) == []


def test_same_date_and_buoi_twice_is_reported():
    sessions = two_day_course() + [SessionSlot("s5", TUE, "morning")]
    assert duplicate_slots(sessions) == [(TUE, "morning")]


def test_same_buoi_on_different_days_is_not_a_duplicate():
    assert duplicate_slots([SessionSlot("a", MON, "morning"), SessionSlot("b", TUE, "morning")]) == []


def test_different_buoi_on_the_same_day_is_not_a_duplicate():
    assert duplicate_slots([SessionSlot("a", MON, "morning"), SessionSlot("b", MON, "afternoon")]) == []


def test_every_duplicated_slot_is_reported():
    sessions = [SessionSlot("a", MON, "morning"), SessionSlot("b", MON, "morning"),
                SessionSlot("c", TUE, "afternoon"), SessionSlot("d", TUE, "afternoon")]
    assert duplicate_slots(sessions) == [(MON, "morning"), (TUE, "afternoon")]


def test_empty_course_has_no_duplicates():
    assert duplicate_slots([]) == []


# --- closing_state ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("feedback_requested, settled, state", [
    (False, False, "awaiting_feedback_and_settlement"),
    (True, False, "awaiting_settlement"),
    (False, True, "awaiting_feedback"),
    (True, True, "closed"),
])
def test_closing_state_needs_both_feedback_and_settlement(feedback_requested, settled, state):
    assert closing_state(feedback_requested, settled) == state


# --- session times ---------------------------------------------------------------------------------------------

TIMES = BuoiTimes({"morning": (time(7, 30), time(11, 30)), "afternoon": (time(13, 30), time(17, 0))})


def test_morning_session_is_stored_in_utc_seven_hours_earlier():
    start, end = session_bounds(MON, "morning", TIMES)
    assert (start, end) == (datetime(2025, 8, 4, 0, 30, tzinfo=timezone.utc),
                            datetime(2025, 8, 4, 4, 30, tzinfo=timezone.utc))


def test_afternoon_session_uses_the_configured_times():
    start, end = session_bounds(MON, "afternoon", TIMES)
    assert (start.hour, start.minute, end.hour) == (6, 30, 10)


def test_a_session_ending_after_midnight_is_impossible():
    with pytest.raises(ValueError, match="nửa đêm"):
        session_bounds(MON, "afternoon", TIMES, time(22, 0), time(0, 30))


def test_a_session_ending_when_it_starts_is_refused():
    with pytest.raises(ValueError):
        session_bounds(MON, "morning", TIMES, time(8, 0), time(8, 0))


def test_an_afternoon_session_cannot_start_in_the_morning():
    with pytest.raises(ValueError, match="buổi chiều"):
        session_bounds(MON, "afternoon", TIMES, time(9, 0), time(11, 0))


def test_own_times_inside_the_day_are_accepted():
    start, end = session_bounds(MON, "afternoon", TIMES, time(18, 0), time(21, 0))
    assert (start.hour, end.hour) == (11, 14)


# --- length caps -----------------------------------------------------------------------------------------------

WEEK_CAP = LengthRule("job_position", None, 5, 5, "NĐ 171/2025")


def days_from(start: date, n: int) -> list[date]:
    return [start + timedelta(days=i) for i in range(n)]


def test_five_working_days_fit_the_one_week_cap():
    assert length_problems(days_from(MON, 5), WEEK_CAP) == []


def test_six_training_days_exceed_the_one_week_cap():
    problems = length_problems(days_from(MON, 5) + [MON + timedelta(days=7)], WEEK_CAP)
    assert any("6 ngày học" in p for p in problems)


def test_a_weekend_does_not_break_a_block_of_working_days():
    # Thu, Fri, Mon, Tue, Wed, Thu = 6 consecutive working days
    thursday = MON + timedelta(days=3)
    days = [thursday, thursday + timedelta(days=1)] + days_from(MON + timedelta(days=7), 4)
    assert [len(b) for b in working_day_blocks(days)] == [6]
    rule = LengthRule("rank", "chuyen_vien", 20, 5, "x")
    assert any("6 ngày làm việc liên tục" in p for p in length_problems(days, rule))


def test_a_free_working_day_splits_blocks():
    days = days_from(MON, 3) + days_from(MON + timedelta(days=4), 1)  # Mon-Wed, Fri (Thu free)
    assert [len(b) for b in working_day_blocks(days)] == [3, 1]


def test_no_rule_means_no_length_problem():
    assert length_problems(days_from(MON, 30), None) == []


def test_uncapped_rule_checks_only_the_block():
    assert length_problems(days_from(MON, 12), LengthRule("leadership", None, None, None, "x")) == []


# --- lecturer standards ----------------------------------------------------------------------------------------

STD = LecturerStandard("bachelor", True, 2, "sample")


def test_lecturer_meeting_the_standard_has_no_problem():
    assert lecturer_problems("master", True, 5, [], "KN-CNTT", STD) == []


def test_lecturer_below_degree_without_pedagogy_and_too_new_gets_every_problem():
    problems = lecturer_problems("college", False, 1, [], None, STD)
    assert len(problems) == 3


def test_lecturer_without_a_degree_does_not_meet_the_standard():
    assert lecturer_problems(None, True, 5, [], None, STD)


def test_lecturer_not_registered_for_the_topic_is_flagged():
    assert lecturer_problems("doctor", True, 5, ["KN-VANBAN"], "KN-CNTT", STD) == [
        "không đăng ký giảng chuyên đề KN-CNTT"]


# --- conflicts -------------------------------------------------------------------------------------------------

def booked(sid="other-1", code="K-OTHER", day=MON, buoi="morning") -> Booking:
    return Booking(sid, "c-other", code, day, buoi)


def test_lecturer_booked_twice_names_the_conflicting_session():
    index = ConflictIndex(lecturer={("L1", MON, "morning"): booked()})
    [c] = find_conflicts([NewSession("s1", MON, "morning", "L1", None)], [], index, {"L1": "TS. An"})
    assert (c.kind, c.session_id, c.other_session_id) == ("lecturer", "s1", "other-1")
    assert "TS. An" in c.message and "K-OTHER" in c.message and "other-1" in c.message


def test_same_lecturer_in_the_other_buoi_is_no_conflict():
    index = ConflictIndex(lecturer={("L1", MON, "morning"): booked()})
    assert find_conflicts([NewSession("s1", MON, "afternoon", "L1", None)], [], index) == []


def test_venue_and_trainee_booked_twice_are_reported():
    index = ConflictIndex(venue={("V1", MON, "morning"): booked()}, trainee={("T1", MON, "morning"): booked()})
    kinds = [c.kind for c in find_conflicts([NewSession("s1", MON, "morning", "L9", "V1")], ["T1", "T2"], index)]
    assert kinds == ["venue", "trainee"]


def test_online_session_without_venue_never_clashes_on_a_venue():
    index = ConflictIndex(venue={("V1", MON, "morning"): booked()})
    assert find_conflicts([NewSession("s1", MON, "morning", "L9", None)], [], index) == []


def test_commune_over_its_share_on_a_day_is_a_conflict():
    [c] = commune_share_conflicts({(MON, "CM-TANLOC"): 4}, {"CM-TANLOC": 10}, {"CM-TANLOC": 30}, {MON: "s1"})
    assert (c.kind, c.ref, c.session_id) == ("commune_share", "CM-TANLOC", "s1")
    assert "4/10" in c.message and "30 %" in c.message


def test_commune_exactly_at_its_share_is_allowed():
    assert commune_share_conflicts({(MON, "CM-TANLOC"): 3}, {"CM-TANLOC": 10}, {"CM-TANLOC": 30}, {}) == []


def test_commune_share_rounds_the_allowance_down():
    # 30 % of 9 staff = 2.7 → at most 2 people away
    assert commune_share_conflicts({(MON, "X"): 3}, {"X": 9}, {"X": 30}, {})
    assert not commune_share_conflicts({(MON, "X"): 2}, {"X": 9}, {"X": 30}, {})


# --- completion rule -------------------------------------------------------------------------------------------

ALL = {"s1", "s2", "s3", "s4"}


def outcome(present, excused=frozenset(), percent=0, scores=(), required=frozenset()):
    return participant_outcome(two_day_course(), set(present), set(excused), percent, list(scores), set(required))


def test_full_attendance_and_no_tests_certifies():
    o = outcome(ALL)
    assert (o.completed, o.certified, o.excused_sessions) == (True, True, 0)


def test_excused_absence_breaks_full_attendance_under_the_strict_policy():
    o = outcome(ALL - {"s4"}, excused={"s4"})
    assert (o.completed, o.certified, o.excused_sessions) == (False, False, 1)


def test_excused_absence_within_the_policy_still_completes():
    o = outcome(ALL - {"s4"}, excused={"s4"}, percent=25)  # 25 % of 4 = 1 excused buổi allowed
    assert (o.completed, o.certified, o.excused_sessions) == (True, True, 1)


def test_unexcused_absence_never_completes_whatever_the_policy():
    assert outcome(ALL - {"s4"}, percent=100).completed is False


def test_more_excused_absences_than_the_policy_allows_do_not_complete():
    assert outcome({"s1", "s2"}, excused={"s3", "s4"}, percent=25).completed is False


def test_a_test_below_five_blocks_the_certificate():
    o = outcome(ALL, scores=[Score("post", None, 4.9)], required={("post", None)})
    assert (o.completed, o.certified) == (True, False)


def test_a_test_of_exactly_five_passes():
    assert outcome(ALL, scores=[Score("post", None, 5.0)], required={("post", None)}).certified


def test_a_missing_required_test_blocks_the_certificate():
    o = outcome(ALL, scores=[], required={("module", "CM06")})
    assert not o.certified and "Thiếu điểm" in o.reasons[0]


def test_a_low_pre_test_does_not_block_the_certificate():
    assert outcome(ALL, scores=[Score("pre", None, 2.0), Score("post", None, 8)],
                   required={("post", None)}).certified


def test_allowed_excused_rounds_down():
    assert (allowed_excused(6, 20), allowed_excused(10, 20), allowed_excused(4, 0)) == (1, 2, 0)


# --- waitlist, check-in, certificate numbers ---------------------------------------------------------------------

def test_waitlist_puts_higher_priority_first_then_first_come():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    entries = [("late-high", 0.9, t0 + timedelta(hours=2)), ("early-low", 0.1, t0), ("early-high", 0.9, t0),
               ("none", None, t0)]
    assert waitlist_order(entries) == ["early-high", "late-high", "early-low", "none"]


def test_checkin_opens_an_hour_before_and_closes_at_the_end():
    start = datetime(2026, 3, 2, 0, 30, tzinfo=timezone.utc)
    end = start + timedelta(hours=4)
    assert checkin_open(start - timedelta(minutes=60), start, end)
    assert not checkin_open(start - timedelta(minutes=61), start, end)
    assert checkin_open(end, start, end)
    assert not checkin_open(end + timedelta(seconds=1), start, end)


def test_certificate_numbers_are_per_year_and_zero_padded():
    assert certificate_number(2026, 7) == "GCN-2026-00007"
