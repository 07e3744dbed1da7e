"""Pure rules of course scheduling: attendance totals and completion, duplicate buổi, the closing state."""
from datetime import date

import pytest

from services.courses.domain import BUOI, AttendanceResult, SessionSlot, attendance_result, closing_state, \
    duplicate_slots

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
