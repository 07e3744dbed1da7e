"""Factories for the funding tests: courses.course_scheduled / course_cancelled / evaluation / needs events."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from shared.events import new_event
from tests.events import (make_civil_servant_left, make_civil_servant_registered, make_course_cancelled,
                          make_course_completed, make_course_scheduled)

COMMUNES = ["CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"]


def sessions(start: date, days: int, tier: int = 2, lecturer: str = "lecturer-1") -> list[dict]:
    return [{"session_id": str(uuid.uuid4()), "date": start + timedelta(days=d // 2),
             "buoi": ("morning", "afternoon")[d % 2], "lecturer_id": lecturer, "lecturer_tier": tier}
            for d in range(days * 2)]


def trainee(commune: str = "CM-TANLOC", **flags) -> dict:
    return {"civil_servant_id": str(uuid.uuid4()), "commune_code": commune, **flags}


def scheduled(course_id: str | None = None, *, revision: int = 1, trainees: list[dict] | None = None,
              start: date = date(2026, 3, 2), days: int = 2, tier: int = 2, distances: dict | None = None,
              organizer: str = "CM-THOIBINH", form: str = "in_person") -> tuple[str, dict]:
    """(JSON body, payload) of a courses.course_scheduled event."""
    _, body, payload = make_course_scheduled(
        course_id=course_id or str(uuid.uuid4()), revision=revision, code=f"K-{uuid.uuid4().hex[:5]}",
        title="Kỹ năng giao tiếp", form=form, organizer_unit_code=organizer, start=start, days=days,
        venue=None if distances is None else {
            "venue_id": "V1", "name": "Hội trường UBND xã", "distances": [
                {"commune_code": c, "km": km} for c, km in distances.items()]},
        sessions=sessions(start, days, tier),
        planned_trainees=trainees if trainees is not None else [trainee(c) for c in COMMUNES])
    return body, payload


def completed_from(plan: dict, attendance: dict[str, int] | None = None, **extra) -> tuple[str, dict]:
    """(body, payload) of courses.course_completed for a scheduled payload; attendance maps id → days."""
    days = len({s["date"] for s in plan["sessions"]})
    participants = []
    for t in plan["planned_trainees"]:
        n = days if attendance is None else attendance.get(t["civil_servant_id"], days)
        participants.append({**t, "sessions_attended": 2 * n, "days_attended": n, "completed": n == days})
    _, body, payload = make_course_completed(
        course_id=plan["course_id"], code=plan["code"], title=plan["title"],
        organizer_unit_code=plan["organizer_unit_code"], start_date=plan["start_date"], end_date=plan["end_date"],
        total_sessions=len(plan["sessions"]), sessions=plan["sessions"], participants=participants,
        form=plan["form"], **extra)
    return body, payload


def cancelled(course_id: str) -> str:
    _, body, _ = make_course_cancelled(course_id=course_id, reason="Không đủ học viên")
    return body


def evaluated(course_id: str, learners: list[dict]) -> str:
    _, body = new_event("evaluation.course_evaluated", {
        "course_id": course_id, "evaluated_at": datetime.now(timezone.utc), "request_count": 10,
        "valid_responses": 8, "response_rate": 0.8, "general_index": 8.2, "band": "excellent",
        "excellent_learners": [{"civil_servant_id": x["civil_servant_id"], "commune_code": x["commune_code"]}
                               for x in learners]}, producer="evaluation")
    return body


def left(civil_servant_id: str, left_on: date, reason: str = "resigned") -> str:
    _, body, _ = make_civil_servant_left(civil_servant_id=civil_servant_id, code="CB-001", unit_code="CM-TANLOC",
                                         commune_code="CM-TANLOC", left_on=left_on, reason=reason)
    return body


def registered(civil_servant_id: str, code: str, commune: str = "CM-TANLOC") -> str:
    _, body, _ = make_civil_servant_registered(civil_servant_id=civil_servant_id, code=code, unit_code=commune,
                                               commune_code=commune, position_code="CV", gender="male")
    return body


def file_problems(resp) -> dict[str, dict[str, list[str]]]:
    """A refused upload's problems by line and field, read from the one shared 422 shape (after checking it)."""
    body = resp.get_json()
    assert resp.status_code == 422, body
    assert body["errors"]["files"]["file"] == [f"Dòng {p['line']}, «{p['field']}»: {p['message']}"
                                                for p in body["problems"]]
    out: dict[str, dict[str, list[str]]] = {}
    for p in body["problems"]:
        out.setdefault(str(p["line"]), {}).setdefault(p["field"], []).append(p["message"])
    return out
