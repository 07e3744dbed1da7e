"""Pure rules of course scheduling: attendance totals, completion and the closing state."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

BUOI = ("morning", "afternoon")  # a day has 2 buổi (half-days) [S, domain.md §4]


@dataclass(frozen=True)
class SessionSlot:
    session_id: str
    date: date
    buoi: str


@dataclass(frozen=True)
class AttendanceResult:
    sessions_attended: int
    days_attended: int
    completed: bool


def attendance_result(sessions: list[SessionSlot], attended_ids: set[str]) -> AttendanceResult:
    """Count sessions and distinct days attended; completion needs full attendance.

    TT 01/2018: a certificate requires full attendance (tests ≥ 5/10 come with the results module).
    Learner support is paid per day actually attended, so a day counts when at least one buổi was attended.
    """
    attended = [s for s in sessions if s.session_id in attended_ids]
    return AttendanceResult(
        sessions_attended=len(attended),
        days_attended=len({s.date for s in attended}),
        completed=bool(sessions) and len(attended) == len(sessions),
    )


def duplicate_slots(sessions: list[SessionSlot]) -> list[tuple[date, str]]:
    """Return (date, buổi) pairs that occur more than once in one course."""
    seen, dup = set(), []
    for s in sessions:
        key = (s.date, s.buoi)
        if key in seen:
            dup.append(key)
        seen.add(key)
    return dup


def closing_state(feedback_requested: bool, settled: bool) -> str:
    """A completed course is closed when both feedback collection and the settlement have happened."""
    if feedback_requested and settled:
        return "closed"
    if feedback_requested:
        return "awaiting_settlement"
    if settled:
        return "awaiting_feedback"
    return "awaiting_feedback_and_settlement"
