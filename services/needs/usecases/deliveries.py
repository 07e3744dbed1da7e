"""Deliveries (issue 13): what other services ask needs to tell people becomes one row per purpose + recipient +
object, claimed in the inbox transaction of the event, and one durable job (DELIVERY_JOBS) that sends it later
(usecases/sending.py). A duplicate event, a replay under a new id or a redelivery finds the row taken and adds
nothing: exactly one message per person and purpose. Officers read the status per course and per person and may
resend one message."""
from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs.models import DELIVERY_JOBS, Delivery
from services.needs.usecases.contacts import resolve_supervisor
from shared import jobs
from shared.db import insert_ignoring_conflicts
from shared.errors import Conflict, NotFound
from shared.events import Envelope
from shared.localtime import utcnow

STATUSES = ("pending", "sending", "sent", "failed", "bounced", "parked", "skipped", "unconfirmed")
FINAL = frozenset({"sent", "failed", "bounced", "parked", "skipped", "unconfirmed"})
JOB_KIND = "deliver"


def _json(value):
    """Event values as JSON column values (dates as ISO text)."""
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def claim(session: Session, purpose: str, recipient_id: str, object_key: str, payload: dict, *,
          course_id: str | None, source_event_id: str | None, subject_id: str | None = None,
          status: str = "pending", recipient_kind: str = "civil_servant", now: datetime | None = None) -> str | None:
    """Claim the delivery (purpose, recipient, object) and queue its job; return its id, or None when it was
    claimed before (nothing is added). `status="skipped"` records one that cannot be sent (no supervisor known).
    `recipient_kind`: whose contact book the recipient is in (civil_servant, or lecturer: courses' lecturer id)."""
    now = now or utcnow()
    return claim_all(session, [_row(purpose, recipient_id, object_key, payload, course_id=course_id,
                                    source_event_id=source_event_id, subject_id=subject_id, status=status,
                                    recipient_kind=recipient_kind, now=now)], now)[0]


def _row(purpose: str, recipient_id: str, object_key: str, payload: dict, *, course_id: str | None,
         source_event_id: str | None, now: datetime, subject_id: str | None = None, status: str = "pending",
         recipient_kind: str = "civil_servant") -> dict:
    return {"id": str(uuid.uuid4()), "purpose": purpose, "recipient_id": recipient_id, "object_key": object_key,
            "recipient_kind": recipient_kind,
            "course_id": course_id, "subject_id": subject_id, "payload": _json(payload), "status": status,
            "attempts": 0, "source_event_id": source_event_id, "created_at": now, "updated_at": now,
            "last_error": "no supervisor known" if status == "skipped" else None}


def claim_all(session: Session, rows: list[dict], now: datetime) -> list[str | None]:
    """Claim several deliveries (rows made by _row) at once: one INSERT … ON CONFLICT DO NOTHING, one read of which
    of the fresh ids went in, one INSERT of their jobs — three statements for a course's trainees, not four per
    trainee (issue 16). Returns, row by row, the id claimed now or None (claimed before, or twice in `rows`)."""
    if not rows:
        return []
    session.execute(insert_ignoring_conflicts(session, Delivery.__table__), rows)
    new = set(session.scalars(sa.select(Delivery.id).where(Delivery.id.in_([r["id"] for r in rows]))))
    jobs.enqueue_many(session, DELIVERY_JOBS, [
        {"kind": JOB_KIND, "payload": {"delivery_id": r["id"]}, "dedupe_key": f"deliver:{r['id']}"}
        for r in rows if r["id"] in new and r["status"] == "pending"], now=now)
    return [r["id"] if r["id"] in new else None for r in rows]


def _what(p: dict, *keys) -> dict:
    return {k: p.get(k) for k in keys}


def claim_feedback_request(session: Session, env: Envelope, now: datetime | None = None) -> int:
    """evaluation.trainee_feedback_requested: each trainee's link, once per course (v2 names the course's trainees,
    v1 one trainee). Returns how many deliveries were claimed now."""
    p = env.payload
    what = _what(p, "course_code", "course_title", "deadline")
    recipients = p["recipients"] if env.version >= 2 else [p]
    now = now or utcnow()
    return sum(1 for taken in claim_all(session, [
        _row("feedback_request", r["civil_servant_id"], p["course_id"], {**what, "link": r["link"]},
             course_id=p["course_id"], source_event_id=env.id, now=now) for r in recipients], now) if taken)


def claim_reminder(session: Session, env: Envelope, now: datetime | None = None) -> str | None:
    """evaluation.feedback_reminder_issued: each reminder once (evaluation issues it only to non-respondents)."""
    p = env.payload
    return claim(session, "feedback_reminder", p["civil_servant_id"], p["notification_id"],
                 _what(p, "course_code", "course_title", "link", "deadline"), course_id=p["course_id"],
                 source_event_id=env.id, now=now)


def claim_followup(session: Session, env: Envelope, now: datetime | None = None) -> str | None:
    """evaluation.followup_requested: to the trainee, or to the trainee's direct supervisor (resolved here; one
    message per trainee they supervise). No supervisor known → recorded as skipped, visible to officers."""
    p = env.payload
    what = _what(p, "course_code", "course_title", "link", "deadline")
    trainee = p["civil_servant_id"]
    if p["respondent"] == "trainee":
        return claim(session, "followup_trainee", trainee, p["course_id"], what, course_id=p["course_id"],
                     source_event_id=env.id, now=now)
    supervisor = resolve_supervisor(session, trainee)
    return claim(session, "followup_supervisor", supervisor or trainee, f"{p['course_id']}:{trainee}", what,
                 course_id=p["course_id"], subject_id=trainee, source_event_id=env.id,
                 status="pending" if supervisor else "skipped", now=now)


def claim_course_notice(session: Session, env: Envelope, now: datetime | None = None) -> int:
    """courses.course_notice_issued: one message per trainee named and course SEQUENCE, whatever the kind (a
    trainee promoted from the waitlist and then in the confirmation's invitation list hears once; a later change
    of the course is a new SEQUENCE; the same notice again is nothing)."""
    p = env.payload
    what = {"course_code": p["code"], "course_title": p["title"], **_what(
        p, "kind", "start_date", "end_date", "venue_name", "sessions", "reason", "ics", "sequence")}
    now = now or utcnow()
    return sum(1 for taken in claim_all(session, [
        _row("course_notice", cs_id, f"{p['course_id']}:{p['sequence']}", what, course_id=p["course_id"],
             source_event_id=env.id, now=now) for cs_id in dict.fromkeys(p["civil_servant_ids"])], now) if taken)


def claim_lecturer_notice(session: Session, env: Envelope, now: datetime | None = None) -> str | None:
    """courses.lecturer_notice_issued: one message per lecturer and course SEQUENCE — assigned to teach (with the
    calendar of their own sessions), a session moved, the venue changed, the course cancelled."""
    p = env.payload
    what = {"course_code": p["code"], "course_title": p["title"], **_what(
        p, "kind", "start_date", "end_date", "venue_name", "sessions", "reason", "ics", "sequence")}
    return claim(session, "lecturer_notice", p["lecturer_id"], f"{p['course_id']}:{p['sequence']}", what,
                 course_id=p["course_id"], source_event_id=env.id, recipient_kind="lecturer", now=now)


def _course_names(session: Session, course_id: str) -> dict:
    """The course's code and title as an earlier message of that course named them (the evaluation event does
    not carry them): empty when needs never told anyone about it."""
    for payload in session.scalars(sa.select(Delivery.payload).where(Delivery.course_id == course_id)
                                   .order_by(Delivery.created_at).limit(20)):
        if (payload or {}).get("course_code"):
            return {"course_code": payload["course_code"], "course_title": payload.get("course_title")}
    return {"course_code": None, "course_title": None}


def claim_lecturer_ratings(session: Session, env: Envelope, now: datetime | None = None) -> int:
    """evaluation.course_evaluated: each lecturer rated (those with enough forms: evaluation leaves the others
    out) gets their rating summary once per course."""
    p = env.payload
    scores = p.get("lecturer_scores") or []
    if not scores:
        return 0
    names = _course_names(session, p["course_id"])
    now = now or utcnow()
    return sum(1 for taken in claim_all(session, [
        _row("lecturer_rating", score["lecturer_id"], p["course_id"],
             {**names, "mean": score["mean"], "band": score["band"], "responses": score.get("responses", 0),
              "general_index": p.get("general_index"), "course_band": p.get("band")},
             course_id=p["course_id"], source_event_id=env.id, recipient_kind="lecturer", now=now)
        for score in scores], now) if taken)


# --- officers and operators ------------------------------------------------------------------------------------

def _view(d: Delivery) -> dict:
    return {"id": d.id, "purpose": d.purpose, "recipient_id": d.recipient_id, "subject_id": d.subject_id,
            "course_id": d.course_id, "status": d.status, "channel": d.channel, "attempts": d.attempts,
            "last_error": d.last_error, "deferred_until": d.deferred_until, "created_at": d.created_at,
            "sent_at": d.sent_at, "resends": (d.payload or {}).get("resends", 0)}


def course_deliveries(session: Session, course_id: str) -> dict:
    """A course's deliveries: counts per status (every status, 0 when none) and purpose, and the rows."""
    rows = list(session.scalars(sa.select(Delivery).where(Delivery.course_id == course_id)
                                .order_by(Delivery.purpose, Delivery.recipient_id)))
    counts = {s: 0 for s in STATUSES}
    by_purpose: dict[str, dict[str, int]] = {}
    for d in rows:
        counts[d.status] += 1
        by_purpose.setdefault(d.purpose, {}).setdefault(d.status, 0)
        by_purpose[d.purpose][d.status] += 1
    return {"course_id": course_id, "counts": counts, "by_purpose": by_purpose, "items": [_view(d) for d in rows]}


def person_deliveries(session: Session, cs_id: str, limit: int = 200) -> list[dict]:
    """A person's deliveries, newest first."""
    return [_view(d) for d in session.scalars(sa.select(Delivery).where(Delivery.recipient_id == cs_id)
                                              .order_by(Delivery.created_at.desc(), Delivery.id).limit(limit))]


def delivery_figures(session: Session) -> dict:
    """Every delivery counted per status and per purpose × status, for /admin/needs/deliveries."""
    counts = {s: 0 for s in STATUSES}
    by_purpose: dict[str, dict[str, int]] = {}
    for purpose, status, n in session.execute(sa.select(Delivery.purpose, Delivery.status, sa.func.count())
                                              .group_by(Delivery.purpose, Delivery.status)):
        counts[status] = counts.get(status, 0) + n
        by_purpose.setdefault(purpose, {})[status] = n
    return {"counts": counts, "by_purpose": by_purpose, "jobs": jobs.counts(session, DELIVERY_JOBS)}


def resend(session: Session, delivery_id: str, now: datetime | None = None) -> dict:
    """Send one message again (an officer's decision: a lost mail, a new address): the delivery goes back to
    pending under a new idempotency key (the providers would drop a second message with the first key)."""
    now = now or utcnow()
    d = session.get(Delivery, delivery_id, with_for_update=True)
    if d is None:
        raise NotFound("Không tìm thấy thông báo.", field="delivery_id")
    if d.status in ("pending", "sending"):
        raise Conflict("Thông báo đang chờ gửi; không cần gửi lại.", field="delivery_id")
    resends = (d.payload or {}).get("resends", 0) + 1
    d.payload = {**(d.payload or {}), "resends": resends}
    d.status, d.attempts, d.last_error, d.deferred_until, d.updated_at = "pending", 0, None, None, now
    d.provider_id = None
    jobs.enqueue(session, DELIVERY_JOBS, JOB_KIND, {"delivery_id": d.id}, dedupe_key=f"deliver:{d.id}:r{resends}",
                 now=now)
    session.flush()
    return _view(d)
