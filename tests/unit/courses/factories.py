"""Factories for courses tests: a courses app on SQLite, trainees delivered as needs' events, lecturers, venues,
courses and funding's answers — each with overrides."""
from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta

import sqlalchemy as sa

from shared.events import decode, new_event
from tests.events import make_civil_servant_registered
from tests.unit.apps import ADMIN_AUTH, API_AUTH, deliver

COMMUNES = ["CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"]
MON = date(2026, 3, 2)  # a Monday
_seq = itertools.count(1)


def ok(resp, status=200):
    assert resp.status_code == status, (resp.status_code, resp.get_data(as_text=True)[:600])
    return resp.get_json()


def event(client, event_type: str, payload: dict, producer: str = "needs") -> None:
    """Deliver one catalogue event to the courses app's handler, as the consumer would."""
    _, body = new_event(event_type, payload, producer=producer)
    deliver(client.application, body)


def make_trainee(client, commune: str = "CM-TANLOC", **overrides) -> str:
    cs_id = str(uuid.uuid4())
    _, body, _ = make_civil_servant_registered(civil_servant_id=cs_id, code=f"TB-{next(_seq):05d}",
                                               unit_code="TB-X-TANLOCBAC", commune_code=commune,
                                               position_code="VHXH", gender="female", **overrides)
    deliver(client.application, body)
    return cs_id


def make_trainees(client, n: int, commune: str = "CM-TANLOC") -> list[str]:
    return [make_trainee(client, commune) for _ in range(n)]


def make_lecturer(client, **overrides) -> dict:
    body = {"name": f"TS. Giảng viên {next(_seq)}", "tier": 2, "degree": "doctor", "pedagogy_certificate": True,
            "years_experience": 10, **overrides}
    return ok(client.post("/api/v1/lecturers", json=body, headers=API_AUTH), 201)


def make_venue(client, **overrides) -> dict:
    body = {"name": f"Hội trường {next(_seq)}", "address": "Khóm 1, xã Thới Bình, Cà Mau", "capacity": 60,
            "distances": [{"commune_code": c, "km": 5 * i} for i, c in enumerate(COMMUNES)], **overrides}
    return ok(client.post("/api/v1/venues", json=body, headers=API_AUTH), 201)


def sessions_for(lecturer_id: str, start: date = MON, days: int = 2, **extra) -> list[dict]:
    return [{"date": (start + timedelta(days=d)).isoformat(), "buoi": b, "lecturer_id": lecturer_id, **extra}
            for d in range(days) for b in ("morning", "afternoon")]


def make_course(client, lecturer: dict | None = None, venue: dict | None = None, *, start: date = MON,
                days: int = 2, **overrides) -> dict:
    """A draft course with 2 days (4 buổi) by default."""
    lecturer = lecturer or make_lecturer(client)
    venue = venue if venue is not None else make_venue(client)
    body = {"code": f"K-{uuid.uuid4().hex[:8]}", "title": "Kỹ năng số cho công chức xã",
            "organizer_unit_code": "CM-THOIBINH", "topic_code": "KN-CNTT", "fostering_type": "job_position",
            "form": "in_person", "venue_id": venue["id"] if venue else None,
            "sessions": sessions_for(lecturer["id"], start, days), **overrides}
    return ok(client.post("/api/v1/courses", json=body, headers=API_AUTH), 201)


def enroll(client, course_id: str, ids: list[str], status: int = 201):
    return ok(client.post(f"/api/v1/courses/{course_id}/enrollments", json={"civil_servant_ids": ids},
                          headers=API_AUTH), status)


def schedule(client, course_id: str) -> dict:
    return ok(client.post(f"/api/v1/courses/{course_id}/schedule", headers=API_AUTH))


def outbox(client, event_type: str) -> list[dict]:
    """Payloads of the events of one type in the app's outbox, oldest first."""
    ctx = client.application.extensions["service"]
    t = ctx.outbox.table
    with ctx.engine.connect() as conn:
        bodies = conn.execute(sa.select(t.c.body).where(t.c.event_type == event_type).order_by(t.c.seq)).scalars()
        return [decode(b).payload for b in bodies]


def reserve(client, course_id: str, revision: int) -> None:
    """funding.budget_reserved for one revision of a course."""
    event(client, "funding.budget_reserved", {
        "course_id": course_id, "revision": revision, "reservation_id": str(uuid.uuid4()),
        "estimate_total": 12_000_000, "lines": [{"budget_line_id": "b1", "source": "state_dtbd",
                                                 "owner_unit_code": "CM-THOIBINH", "amount": 12_000_000}]},
          producer="funding")


def reject(client, course_id: str, revision: int, reason: str = "Dòng kinh phí ĐT-BD còn thiếu 2.000.000 ₫.") -> None:
    event(client, "funding.reservation_rejected", {
        "course_id": course_id, "revision": revision, "reason": reason, "estimate_total": 12_000_000,
        "short_lines": [{"source": "state_dtbd", "owner_unit_code": "CM-THOIBINH", "required": 12_000_000,
                         "available": 10_000_000}]}, producer="funding")


def confirmed_course(client, n_trainees: int = 3, **overrides) -> tuple[dict, list[str]]:
    """A course scheduled and confirmed by funding, with n enrolled trainees."""
    course = make_course(client, **overrides)
    ids = make_trainees(client, n_trainees) if n_trainees else []
    if ids:
        enroll(client, course["id"], ids)
    scheduled = schedule(client, course["id"])
    reserve(client, course["id"], scheduled["revision"])
    course = ok(client.get(f"/api/v1/courses/{course['id']}"))
    assert course["status"] == "confirmed", course
    return course, ids


__all__ = ["ADMIN_AUTH", "API_AUTH"]
