"""Payload builders of the events courses publishes: one function per event, named after it (the catalogue schema
in shared/events.py is the contract; these build its fields from the ORM rows)."""
from __future__ import annotations


def _venue_ref(course) -> dict | None:
    venue = course.venue if course.form != "online" else None
    if venue is None:
        return None
    return {"venue_id": venue.id, "name": venue.name, "province_code": venue.province_code,
            "distances": [{"commune_code": d.commune_code, "km": d.km} for d in venue.distances]}


def _effective_venue(course, s) -> str | None:
    return None if course.form == "online" else (s.venue_id or course.venue_id)


def _session_refs(course, sessions=None) -> list[dict]:
    return [{"session_id": s.id, "date": s.date, "buoi": s.buoi, "lecturer_id": s.lecturer_id,
             "lecturer_tier": s.lecturer.tier, "periods": s.periods, "venue_id": _effective_venue(course, s)}
            for s in (course.sessions if sessions is None else sessions)]


def course_scheduled(course, trainees) -> dict:
    """courses.course_scheduled: the cost drivers of the course's current revision."""
    days = [s.date for s in course.sessions]
    return {
        "course_id": course.id, "revision": course.revision, "code": course.code, "title": course.title,
        "topic_code": course.topic_code, "fostering_type": course.fostering_type, "form": course.form,
        "organizer_unit_code": course.organizer_unit_code, "start_date": min(days), "end_date": max(days),
        "venue": _venue_ref(course),
        "sessions": _session_refs(course),
        "planned_trainees": [{"civil_servant_id": t.civil_servant_id, "commune_code": t.commune_code,
                              "female": t.female, "ethnic_minority": t.ethnic_minority,
                              "child_under_36_months": t.child_under_36_months} for t in trainees],
    }


def course_cancelled(course) -> dict:
    """courses.course_cancelled: funding releases the reservation."""
    return {"course_id": course.id, "reason": course.status_reason, "cancelled_at": course.cancelled_at}


def _venue_of_view(course, venue: dict | None) -> dict | None:
    """The venue reference from get_course's view of it (its distances included), as _venue_ref makes it."""
    if venue is None or course.form == "online":
        return None
    return {"venue_id": venue["id"], "name": venue["name"], "province_code": venue["province_code"],
            "distances": [{"commune_code": d["commune_code"], "km": d["km"]} for d in venue["distances"]]}


def course_completed(course, participants: list[dict], topic, venue: dict | None, sessions) -> dict:
    """courses.course_completed: attendance, results and certificates of every participant; `venue` and `sessions`
    as get_course reads them (the completion loads the course without either)."""
    return {
        "course_id": course.id, "code": course.code, "title": course.title,
        "organizer_unit_code": course.organizer_unit_code,
        "start_date": min(s.date for s in sessions), "end_date": max(s.date for s in sessions),
        "completed_at": course.completed_at, "total_sessions": len(sessions),
        "sessions": _session_refs(course, sessions),
        "participants": participants,  # the catalogue schema keeps only its own fields on the wire
        "topic_code": course.topic_code, "competency_codes": topic.competency_codes if topic else [],
        "fostering_type": course.fostering_type, "form": course.form,
        "venue": _venue_of_view(course, venue),
        "plan_line_id": course.plan_line_id,
    }


def course_notice_issued(course, kind: str, civil_servant_ids: list[str], notice_id: str, sequence: int,
                         ics: str | None, reason: str | None = None) -> dict:
    """courses.course_notice_issued: tell these trainees (by id; needs holds the contacts and sends) about their
    course — invitation, session_moved, venue_changed, promoted or cancelled — with the calendar file."""
    days = [s.date for s in course.sessions]
    venue = course.venue if course.form != "online" else None
    return {
        "notice_id": notice_id, "kind": kind, "course_id": course.id, "code": course.code, "title": course.title,
        "civil_servant_ids": list(civil_servant_ids), "sequence": sequence,
        "start_date": min(days) if days else None, "end_date": max(days) if days else None,
        "venue_name": venue.name if venue is not None else None,
        "sessions": [{"date": s.date, "buoi": s.buoi} for s in course.sessions],
        "reason": reason, "ics": ics,
    }


def lecturer_notice_issued(course, kind: str, lecturer_id: str, notice_id: str, sequence: int, sessions: list[dict],
                           ics: str | None, venue_name: str | None, reason: str | None = None) -> dict:
    """courses.lecturer_notice_issued: tell one lecturer (by lecturer id; needs holds the contact and sends) about
    a course they teach — assigned, session_moved, venue_changed or cancelled — with their own sessions."""
    days = [s["date"] for s in sessions]
    return {
        "notice_id": notice_id, "kind": kind, "course_id": course.id, "code": course.code, "title": course.title,
        "lecturer_id": lecturer_id, "sequence": sequence, "start_date": min(days) if days else None,
        "end_date": max(days) if days else None, "venue_name": venue_name,
        "sessions": [{"date": s["date"], "buoi": s["buoi"]} for s in sessions], "reason": reason, "ics": ics,
    }
