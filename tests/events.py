"""One factory per catalogue event for tests: `make_<event>(**overrides)` returns (message id, JSON body, payload).

Every payload passes its catalogue schema (shared/events.py); overrides replace top-level fields. Sections follow
the producing service.
"""
from __future__ import annotations

# --- needs ------------------------------------------------------------------------------------------------------

def _needs_event(event_type: str, payload: dict, producer: str) -> tuple[str, str, dict]:
    from shared.events import new_event
    env, body = new_event(event_type, payload, producer=producer)
    return env.id, body, payload


def _needs_civil_servant(**fields):
    import uuid
    from types import SimpleNamespace
    base = {"id": str(uuid.uuid4()), "code": f"TB-{uuid.uuid4().hex[:6]}", "unit_code": "TB-X-TANLOCBAC",
            "position_code": "VHXH", "gender": "female", "ethnic_minority": False, "hard_area": False,
            "child_under_36_months": False, "employment_status": "active", "left_on": None, "left_reason": None}
    return SimpleNamespace(**{**base, **fields})


_NEEDS_PAYLOAD_FIELDS = {"civil_servant_id": "id", "reason": "left_reason"}  # payload name → builder attribute


def _needs_split(overrides: dict) -> tuple[dict, dict]:
    """Overrides of a civil servant's attributes (payload names accepted) and of the payload itself."""
    attrs = {"id", "code", "unit_code", "position_code", "gender", "ethnic_minority", "hard_area",
             "child_under_36_months", "employment_status", "left_on", "left_reason"}
    person, payload = {}, {}
    for key, value in overrides.items():
        name = _NEEDS_PAYLOAD_FIELDS.get(key, key)
        (person if name in attrs else payload)[name if name in attrs else key] = value
    return person, payload


def make_civil_servant_registered(*, commune_code: str = "CM-TANLOC", producer: str = "needs",
                                  **overrides) -> tuple[str, str, dict]:
    """needs.civil_servant_registered (payload from services/needs/events.py); overrides use the payload's names
    (`civil_servant_id`, `female`, …) or the civil servant's (`gender`)."""
    from services.needs import events as needs_events
    person, extra = _needs_split(overrides)
    payload = {**needs_events.civil_servant_registered(_needs_civil_servant(**person), commune_code), **extra}
    return _needs_event("needs.civil_servant_registered", payload, producer)


def make_civil_servant_updated(*, commune_code: str = "CM-TANLOC", changed_fields: tuple[str, ...] = ("unit_code",),
                               producer: str = "needs", **overrides) -> tuple[str, str, dict]:
    """needs.civil_servant_updated: the full shareable state after a change of `changed_fields`."""
    from services.needs import events as needs_events
    person, extra = _needs_split(overrides)
    payload = {**needs_events.civil_servant_updated(_needs_civil_servant(**person), commune_code,
                                                    list(changed_fields)), **extra}
    return _needs_event("needs.civil_servant_updated", payload, producer)


def make_civil_servant_left(*, commune_code: str = "CM-TANLOC", producer: str = "needs",
                            **overrides) -> tuple[str, str, dict]:
    """needs.civil_servant_left: resigned on 2026-03-01 unless `left_on` / `reason` say otherwise."""
    from datetime import date

    from services.needs import events as needs_events
    person, extra = _needs_split({"left_on": date(2026, 3, 1), "reason": "resigned", **overrides})
    person["employment_status"] = "left"
    payload = {**needs_events.civil_servant_left(_needs_civil_servant(**person), commune_code), **extra}
    return _needs_event("needs.civil_servant_left", payload, producer)


def make_units_reorganised(*, predecessor: str = "TB-X-TANLOCBAC", successor: str = "CM-TANLOC",
                           successor_name: str = "Xã Tân Lộc", effective=None, producer: str = "needs",
                           **overrides) -> tuple[str, str, dict]:
    """needs.units_reorganised: `predecessor` merged into the new commune `successor` on `effective` (2025-07-01)."""
    import uuid
    from datetime import date

    from services.needs import events as needs_events
    effective = effective or date(2025, 7, 1)
    payload = {**needs_events.units_reorganised(
        str(uuid.uuid4()), effective, "1655/NQ-UBTVQH15", [{"code": successor, "name": successor_name, "kind": "xa"}],
        [(predecessor, successor)]), **overrides}
    return _needs_event("needs.units_reorganised", payload, producer)


def make_plan_approved(*, lines: list[dict] | None = None, year: int = 2026, producer: str = "needs",
                       **overrides) -> tuple[str, str, dict]:
    """needs.plan_approved: `lines` are taken as given (payload shape); by default one KN-CNTT line of two
    named candidates in CM-TANLOC."""
    import uuid
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from services.needs import events as needs_events
    plan = SimpleNamespace(id=str(uuid.uuid4()), year=year, scheme_code="DA-2025-2030")
    approved_at = datetime(year, 1, 10, tzinfo=timezone.utc)
    if lines is None:
        line = SimpleNamespace(id=str(uuid.uuid4()), topic_code="KN-CNTT", competency_codes=["CM06"],
                               unit_code="CM-TANLOC", position_code=None, headcount=2, quarter=1)
        people = [SimpleNamespace(civil_servant_id=str(uuid.uuid4()), commune_code="CM-TANLOC",
                                  priority_score=score, need_ids=[str(uuid.uuid4())]) for score in (40.0, 30.0)]
        payload = needs_events.plan_approved(plan, [line], {line.id: people}, approved_at)
    else:
        payload = {**needs_events.plan_approved(plan, [], {}, approved_at), "lines": lines}
    payload.update(overrides)
    return _needs_event("needs.plan_approved", payload, producer)


# --- courses ----------------------------------------------------------------------------------------------------

import uuid  # noqa: E402 - each section imports what it needs (four engineers edit this file)
from datetime import date, datetime, timedelta, timezone  # noqa: E402

from shared.events import new_event  # noqa: E402

COMMUNES = ["CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"]


def _course_sessions(days: int, tier: int, start: date) -> list[dict]:
    return [{"session_id": str(uuid.uuid4()), "date": start + timedelta(days=d // 2),
             "buoi": ("morning", "afternoon")[d % 2], "lecturer_id": "lecturer-1", "lecturer_tier": tier}
            for d in range(days * 2)]


def make_course_scheduled(*, trainees: int = 3, days: int = 2, tier: int = 3, start: date = date(2026, 3, 2),
                          producer: str = "courses", **overrides) -> tuple[str, str, dict]:
    """Return (message id, JSON body, payload) of a valid courses.course_scheduled event (revision 1)."""
    sessions = _course_sessions(days, tier, start)
    payload = {
        "course_id": str(uuid.uuid4()), "revision": 1, "code": f"T-{uuid.uuid4().hex[:6]}", "title": "Khóa kiểm thử",
        "topic_code": "KN-CNTT", "fostering_type": "job_position", "form": "in_person",
        "organizer_unit_code": "CM-THOIBINH", "start_date": start, "end_date": start + timedelta(days=days - 1),
        "venue": None, "sessions": [{**s, "periods": 4, "venue_id": None} for s in sessions],
        "planned_trainees": [{"civil_servant_id": str(uuid.uuid4()), "commune_code": COMMUNES[i % len(COMMUNES)],
                              "female": False, "ethnic_minority": False, "child_under_36_months": False}
                             for i in range(trainees)],
    }
    payload.update(overrides)
    env, body = new_event("courses.course_scheduled", payload, producer=producer)
    return env.id, body, payload


def make_course_cancelled(*, producer: str = "courses", **overrides) -> tuple[str, str, dict]:
    """Return (message id, JSON body, payload) of a valid courses.course_cancelled event."""
    payload = {"course_id": str(uuid.uuid4()), "reason": "Không đủ học viên.",
               "cancelled_at": datetime.now(timezone.utc), **overrides}
    env, body = new_event("courses.course_cancelled", payload, producer=producer)
    return env.id, body, payload


def make_course_completed(*, participants: int | list[dict] = 5, days: int = 2, tier: int = 3,
                          start: date = date(2026, 3, 2), producer: str = "courses",
                          **overrides) -> tuple[str, str, dict]:
    """Return (message id, JSON body, payload) of a valid courses.course_completed event.

    `participants` is how many full-attendance participants to make up, or the participant entries themselves;
    `days` × 2 buổi of sessions unless `sessions` (and `total_sessions`) are given among the overrides."""
    sessions = _course_sessions(days, tier, start)
    if isinstance(participants, int):
        participants = [{"civil_servant_id": str(uuid.uuid4()), "commune_code": COMMUNES[i % len(COMMUNES)],
                         "sessions_attended": len(sessions), "days_attended": days, "completed": True}
                        for i in range(participants)]
    payload = {
        "course_id": str(uuid.uuid4()), "code": f"T-{uuid.uuid4().hex[:6]}", "title": "Khóa kiểm thử",
        "organizer_unit_code": "CM-THOIBINH", "start_date": start, "end_date": start + timedelta(days=days - 1),
        "completed_at": datetime.now(timezone.utc), "total_sessions": len(sessions), "sessions": sessions,
        "participants": participants,
    }
    payload.update(overrides)
    env, body = new_event("courses.course_completed", payload, producer=producer)
    return env.id, body, payload


def make_course_notice_issued(*, kind: str = "invitation", trainees: int = 2, producer: str = "courses",
                              **overrides) -> tuple[str, str, dict]:
    """courses.course_notice_issued: an invitation of `trainees` people to a two-buổi course, with its calendar."""
    from types import SimpleNamespace

    from services.courses import events as courses_events
    start = date(2026, 3, 2)
    course = SimpleNamespace(id=str(uuid.uuid4()), code=f"T-{uuid.uuid4().hex[:6]}", title="Khóa kiểm thử",
                             form="in_person", venue=SimpleNamespace(name="Hội trường UBND xã Thới Bình"),
                             sessions=[SimpleNamespace(date=start, buoi="morning"),
                                       SimpleNamespace(date=start, buoi="afternoon")])
    payload = courses_events.course_notice_issued(
        course, kind, [str(uuid.uuid4()) for _ in range(trainees)], str(uuid.uuid4()), 0,
        "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n")
    payload.update(overrides)
    env, body = new_event("courses.course_notice_issued", payload, producer=producer)
    return env.id, body, payload


def make_lecturer_notice_issued(*, kind: str = "assigned", sequence: int = 0, producer: str = "courses",
                                **overrides) -> tuple[str, str, dict]:
    """courses.lecturer_notice_issued: one lecturer assigned to both buổi of a one-day course, with their calendar."""
    from types import SimpleNamespace

    from services.courses import events as courses_events
    start = date(2026, 3, 2)
    course = SimpleNamespace(id=str(uuid.uuid4()), code=f"T-{uuid.uuid4().hex[:6]}", title="Khóa kiểm thử")
    sessions = [{"date": start, "buoi": "morning"}, {"date": start, "buoi": "afternoon"}]
    method = "CANCEL" if kind == "cancelled" else "REQUEST"
    payload = courses_events.lecturer_notice_issued(
        course, kind, str(uuid.uuid4()), str(uuid.uuid4()), sequence, sessions,
        f"BEGIN:VCALENDAR\r\nMETHOD:{method}\r\nEND:VCALENDAR\r\n", "Hội trường UBND xã Thới Bình",
        "Bão số 3" if kind == "cancelled" else None)
    payload.update(overrides)
    env, body = new_event("courses.lecturer_notice_issued", payload, producer=producer)
    return env.id, body, payload


# --- evaluation -------------------------------------------------------------------------------------------------

import uuid as _uuid  # noqa: E402 - each section imports what it needs (four engineers edit this file)
from datetime import datetime as _datetime, timezone as _timezone  # noqa: E402

from services.evaluation import events as evaluation_events  # noqa: E402
from shared.events import new_event as _new_event  # noqa: E402


def _evaluation_event(event_type: str, payload: dict, overrides: dict) -> tuple[str, str, dict]:
    payload = {**payload, **overrides}
    env, body = _new_event(event_type, payload, producer="evaluation")
    return env.id, body, payload


def make_feedback_requested(**overrides) -> tuple[str, str, dict]:
    """evaluation.feedback_requested: a course's window opened with 5 requests, answers due in 7 days."""
    payload = evaluation_events.feedback_requested(
        str(_uuid.uuid4()), 5, _datetime(2026, 3, 10, 10, 0, tzinfo=_timezone.utc))
    return _evaluation_event("evaluation.feedback_requested", payload, overrides)


def make_feedback_reminder_issued(**overrides) -> tuple[str, str, dict]:
    """evaluation.feedback_reminder_issued: one reminder record to a trainee who has not answered yet."""
    payload = evaluation_events.feedback_reminder_issued(
        str(_uuid.uuid4()), str(_uuid.uuid4()), str(_uuid.uuid4()), "http://127.0.0.1:8003/feedback/tok",
        _datetime(2026, 3, 10, 10, 0, tzinfo=_timezone.utc))
    return _evaluation_event("evaluation.feedback_reminder_issued", payload, overrides)


def make_trainee_feedback_requested(**overrides) -> tuple[str, str, dict]:
    """evaluation.trainee_feedback_requested: a course's two trainees, each with their feedback link, and the
    deadline."""
    payload = evaluation_events.trainee_feedback_requested(
        str(_uuid.uuid4()), "KH2026-01", "Kỹ năng số",
        [{"civil_servant_id": str(_uuid.uuid4()), "link": f"http://127.0.0.1:8003/feedback/tok{n}"} for n in (1, 2)],
        _datetime(2026, 3, 10, 10, 0, tzinfo=_timezone.utc))
    return _evaluation_event("evaluation.trainee_feedback_requested", payload, overrides)


def make_followup_requested(**overrides) -> tuple[str, str, dict]:
    """evaluation.followup_requested: the follow-up survey link to a trainee's direct supervisor."""
    payload = evaluation_events.followup_requested(
        str(_uuid.uuid4()), "KH2026-01", "Kỹ năng số", str(_uuid.uuid4()), "supervisor",
        "http://127.0.0.1:8003/feedback/tok", _datetime(2026, 9, 10, 10, 0, tzinfo=_timezone.utc))
    return _evaluation_event("evaluation.followup_requested", payload, overrides)


def make_course_evaluated(*, band: str = "good", index: float | None = 7.5, **overrides) -> tuple[str, str, dict]:
    """evaluation.course_evaluated: a closed course's result (index, band, one lecturer with enough forms, a gain,
    one excellent learner and one assessed level)."""
    cs = str(_uuid.uuid4())
    result = {"course_id": str(_uuid.uuid4()), "topic_code": "KN-CNTT", "request_count": 5, "valid_responses": 4,
              "response_rate": 0.8, "general_index": index, "band": band if index is not None else None,
              "object_scores": {"programme": 7.5},
              "lecturer_scores": [{"lecturer_id": str(_uuid.uuid4()), "mean": 8.0, "band": "excellent",
                                   "responses": 4}],
              "learning_gain": [{"competency_code": "CM06", "pre_mean": 5.0, "post_mean": 8.0, "gain": 3.0}],
              "excellent_learners": [{"civil_servant_id": cs, "commune_code": "CM-TANLOC"}],
              "assessed_levels": [{"civil_servant_id": cs, "competency_code": "CM06", "level": 4}]}
    payload = evaluation_events.course_evaluated(result, _datetime(2026, 3, 10, 10, 0, tzinfo=_timezone.utc), 3)
    return _evaluation_event("evaluation.course_evaluated", payload, overrides)


# --- funding ----------------------------------------------------------------------------------------------------

def make_budget_reserved(**overrides) -> tuple[str, str, dict]:
    """funding.budget_reserved: one course's estimate covered by one ĐT-BD line (payload from funding's builder)."""
    import uuid

    from services.funding import events as funding_events
    from shared.events import new_event
    line = {"budget_line_id": str(uuid.uuid4()), "source": "state_dtbd", "owner_unit_code": "CM-THOIBINH",
            "amount": 4_000_000}
    payload = {**funding_events.budget_reserved(str(uuid.uuid4()), 1, str(uuid.uuid4()), 4_000_000, [line]),
               **overrides}
    message_id, body = new_event("funding.budget_reserved", payload, producer="funding")
    return message_id, body, payload


def make_reservation_rejected(**overrides) -> tuple[str, str, dict]:
    """funding.reservation_rejected: no budget line for the organiser's ĐT-BD need."""
    import uuid

    from services.funding import domain as funding_domain
    from services.funding import events as funding_events
    from shared.events import new_event
    shorts = [funding_domain.Short("state_dtbd", "CM-THOIBINH", None, 4_000_000, 0)]
    payload = {**funding_events.reservation_rejected(str(uuid.uuid4()), 1, funding_domain.rejection_reason(
        shorts, 2026), 4_000_000, shorts), **overrides}
    message_id, body = new_event("funding.reservation_rejected", payload, producer="funding")
    return message_id, body, payload


def make_course_settled(**overrides) -> tuple[str, str, dict]:
    """funding.course_settled: a course settled at its estimate."""
    import uuid

    from services.funding import events as funding_events
    from shared.events import new_event
    from shared.localtime import utcnow
    sums = {"lecturer_fees": 3_600_000, "learner_support_total": 300_000, "total": 4_000_000}
    payload = {**funding_events.course_settled(str(uuid.uuid4()), str(uuid.uuid4()), sums, utcnow(), 4_000_000, 0,
                                               0), **overrides}
    message_id, body = new_event("funding.course_settled", payload, producer="funding")
    return message_id, body, payload
