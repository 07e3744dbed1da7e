"""Factories for test data: build valid events with overrides."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

from shared.events import new_event

COMMUNES = ["CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"]


def make_course_completed(*, participants: int = 5, days: int = 2, tier: int = 3, start: date = date(2026, 3, 2),
                          producer: str = "courses", **overrides) -> tuple[str, str, dict]:
    """Return (message id, JSON body, payload) of a valid courses.course_completed event."""
    sessions = [{"session_id": str(uuid.uuid4()), "date": start + timedelta(days=d // 2),
                 "buoi": ("morning", "afternoon")[d % 2], "lecturer_id": "lecturer-1", "lecturer_tier": tier}
                for d in range(days * 2)]
    payload = {
        "course_id": str(uuid.uuid4()), "code": f"T-{uuid.uuid4().hex[:6]}", "title": "Khóa kiểm thử",
        "organizer_unit_code": "CM-THOIBINH", "start_date": start, "end_date": start + timedelta(days=days - 1),
        "completed_at": datetime.now(timezone.utc), "total_sessions": len(sessions), "sessions": sessions,
        "participants": [{"civil_servant_id": str(uuid.uuid4()), "commune_code": COMMUNES[i % len(COMMUNES)],
                          "sessions_attended": len(sessions), "days_attended": days, "completed": True}
                         for i in range(participants)],
    }
    payload.update(overrides)
    env, body = new_event("courses.course_completed", payload, producer=producer)
    return env.id, body, payload
