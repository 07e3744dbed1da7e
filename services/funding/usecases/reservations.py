"""Estimate a scheduled course and reserve it on the budget lines (a higher revision replaces the previous one
atomically), release it on cancellation, show the latest estimate."""
from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding import domain, events
from services.funding.models import OUTBOX, BudgetLine, EstimateLine, FundingCourse, Reservation, ReservationLine
from services.funding.usecases.budget_lines import free_balance, lock_lines, lock_lines_for
from services.funding.usecases.ledger import event_cause, post_journal
from services.funding.usecases.rules import norms_of
from shared.db import insert_ignoring_conflicts
from shared.errors import NotFound
from shared.events import Envelope
from shared.localtime import utcnow

log = logging.getLogger(__name__)
RESERVATION = domain.RESERVATION_TRANSITIONS


def lock_courses(session: Session, course_ids: list[str], now: datetime,
                 facts: dict[str, dict] | None = None) -> dict[str, FundingCourse]:
    """Make sure a row exists for each course, then lock them (by id) so a course's events apply one at a time.

    `facts` (course id → code, organizer_unit_code, start_date) fill a row made here, for a course funding first
    hears of by this event."""
    ids = sorted(set(course_ids))
    blank = {"code": None, "organizer_unit_code": None, "start_date": None}
    # RETURNING makes SQLAlchemy send the rows as one multi-row VALUES ("insertmanyvalues"), not one execute each
    session.execute(insert_ignoring_conflicts(session, FundingCourse.__table__).returning(
                        FundingCourse.__table__.c.course_id),
                    [{"course_id": c, "revision": 0, "status": "new", "updated_at": now,
                      **((facts or {}).get(c) or blank)} for c in ids])
    stmt = sa.select(FundingCourse).where(FundingCourse.course_id.in_(ids)).order_by(FundingCourse.course_id)
    return {c.course_id: c for c in session.scalars(stmt.with_for_update().execution_options(populate_existing=True))}


def reservations_held(session: Session, course_ids: list[str]) -> tuple[dict[str, Reservation],
                                                                         dict[str, dict[str, int]]]:
    """The courses' active reservations and what each holds per budget line, in one statement (issue 16:
    a SELECT of the reservations, then one of their lines, were two round trips): (course id → reservation,
    reservation id → {budget line id: amount}; empty for a reservation without lines)."""
    stmt = (sa.select(Reservation, ReservationLine.budget_line_id, ReservationLine.amount)
            .outerjoin(ReservationLine, ReservationLine.reservation_id == Reservation.id)
            .where(Reservation.course_id.in_(course_ids), Reservation.status == "active"))
    reservations: dict[str, Reservation] = {}
    held: dict[str, dict[str, int]] = defaultdict(dict)
    for r, line_id, amount in session.execute(stmt.execution_options(populate_existing=True)):
        reservations[r.course_id] = r
        if line_id is not None:
            held[r.id][line_id] = held[r.id].get(line_id, 0) + amount
    return reservations, held


def release_entries(amounts: dict[str, int], lines: dict[str, BudgetLine]) -> list[tuple[str, int, int]]:
    """Give reserved money back to the lines (kept totals and journal entries)."""
    entries = []
    for line_id, amount in sorted(amounts.items()):
        lines[line_id].reserved -= amount
        entries += [(domain.budget_account(line_id), amount, 0), (f"reserved:{line_id}", 0, amount)]
    return entries


def line_dict(line: domain.Line, seq: int) -> dict:
    return {"seq": seq, "item": line.item, "payee_kind": line.payee_kind, "payee_ref": line.payee_ref,
            "source": line.source, "owner_unit_code": line.owner_unit_code, "quantity": line.quantity,
            "unit_amount": line.unit_amount, "amount": line.amount, "norm_id": line.norm_id,
            "cap_norm_id": line.cap_norm_id, "detail": line.detail}


def reserve_for_schedule(session: Session, envelope: Envelope, *, province_code: str,
                         now: datetime | None = None) -> Reservation | None:
    """Estimate a scheduled course and reserve it on the budget lines, replacing the previous revision atomically.

    A revision older than or equal to the last one acted on is ignored; a course already cancelled or completed
    reserves nothing. Publishes funding.budget_reserved, or funding.reservation_rejected naming the short lines.
    The norms are those of `province_code` (the service setting).
    """
    now = now or utcnow()
    p = envelope.payload
    course = lock_courses(session, [p["course_id"]], now)[p["course_id"]]
    if p["revision"] <= course.revision or course.status in ("cancelled", "completed"):
        log.info("stale or closed schedule ignored", extra={"course_id": p["course_id"], "revision": p["revision"]})
        return None
    course.code, course.organizer_unit_code, course.start_date = p["code"], p["organizer_unit_code"], p["start_date"]
    course.revision, course.updated_at = p["revision"], now
    course.status = domain.next_status(domain.COURSE_TRANSITIONS, course.status, "scheduled")
    course.form = p["form"]
    course.venue_json = json.dumps(p.get("venue"), default=str) if p.get("venue") else None
    year = p["start_date"].year
    course_view = {**p, "participants": None}
    norms = norms_of(session, province_code)
    try:
        estimate = domain.cost_lines(course_view, domain.planned_participants(p["planned_trainees"], p["sessions"]),
                                     norms)
        missing_norm = None
    except domain.NormNotFound as exc:
        estimate, missing_norm = [], exc.vietnamese()
    needs = domain.needs_by_budget(estimate)
    active, holding = reservations_held(session, [p["course_id"]])
    previous = active.get(p["course_id"])
    held = holding[previous.id] if previous else {}
    ids, lines = lock_lines_for(session, {(year, s, o) for s, o in needs}, held)
    available = {(s, o): (ids[(year, s, o)], free_balance(lines[ids[(year, s, o)]]) + held.get(ids[(year, s, o)], 0))
                 for s, o in needs if (year, s, o) in ids}
    shorts = domain.check_cover(needs, available)
    entries = []
    if previous:  # the new revision replaces it, whether or not the new one can be covered
        previous.status, previous.closed_at = domain.next_status(RESERVATION, previous.status, "superseded"), now
        entries += release_entries(held, lines)
    total = sum(x.amount for x in estimate)
    reservation = Reservation(id=str(uuid.uuid4()), course_id=p["course_id"], revision=p["revision"],
                              fiscal_year=year, estimate_total=total, source_event_id=envelope.id,
                              created_at=now, status="active")
    session.add(reservation)
    session.flush()
    if estimate:
        session.execute(sa.insert(EstimateLine), [{"id": str(uuid.uuid4()), "reservation_id": reservation.id,
                                                   **line_dict(x, i)} for i, x in enumerate(estimate)])
    if missing_norm or shorts:
        reservation.status, reservation.closed_at = domain.next_status(RESERVATION, "active", "rejected"), now
        if missing_norm:
            reservation.reason = f"Không lập được dự toán: {missing_norm}"
        else:
            reservation.reason = domain.rejection_reason(shorts, year)
        post_journal(session, entries, cause=event_cause(envelope), course_id=p["course_id"],
              memo=f"Hủy giữ chỗ lớp {p['code']} (lần xếp lịch {p['revision']} không đủ kinh phí)", now=now)
        OUTBOX.emit(session, "funding.reservation_rejected", events.reservation_rejected(
            p["course_id"], p["revision"], reservation.reason, total, shorts), cause=envelope)
        return reservation
    reserved_lines = []
    for (source, owner), amount in sorted(needs.items()):
        if amount <= 0:  # a zero-rated item needs no money, and maybe no line exists for it
            continue
        line = lines[ids[(year, source, owner)]]
        if amount > free_balance(line):  # cannot happen under the lock; a last guard against overdraw
            raise RuntimeError("reservation would overdraw a budget line")
        line.reserved += amount
        entries += [(f"reserved:{line.id}", amount, 0), (domain.budget_account(line.id), 0, amount)]
        reserved_lines.append({"id": str(uuid.uuid4()), "reservation_id": reservation.id, "budget_line_id": line.id,
                               "source": source, "owner_unit_code": owner, "amount": amount})
    if reserved_lines:
        session.execute(sa.insert(ReservationLine), reserved_lines)
    post_journal(session, entries, cause=event_cause(envelope), course_id=p["course_id"],
          memo=f"Giữ chỗ kinh phí lớp {p['code']} (lần xếp lịch {p['revision']})", now=now)
    OUTBOX.emit(session, "funding.budget_reserved", events.budget_reserved(
        p["course_id"], p["revision"], reservation.id, total, reserved_lines), cause=envelope)
    return reservation


def release_for_cancel(session: Session, envelope: Envelope, now: datetime | None = None) -> int:
    """Release a cancelled course's reservation; remember the cancellation so a late schedule reserves nothing."""
    now = now or utcnow()
    course_id = envelope.payload["course_id"]
    course = lock_courses(session, [course_id], now)[course_id]
    if course.status == "completed":
        return 0
    course.status, course.updated_at = domain.next_status(domain.COURSE_TRANSITIONS, course.status, "cancelled"), now
    active, holding = reservations_held(session, [course_id])
    active = active.get(course_id)
    if active is None:
        return 0
    held = holding[active.id]
    lines = lock_lines(session, list(held))
    active.status, active.closed_at = domain.next_status(RESERVATION, active.status, "released"), now
    post_journal(session, release_entries(held, lines), cause=event_cause(envelope), course_id=course_id,
          memo=f"Giải phóng kinh phí giữ chỗ lớp {course.code or course_id} (hủy lớp)", now=now)
    return sum(held.values())


def get_estimate(session: Session, course_id: str) -> Reservation:
    """The latest estimate (and reservation state) of a course."""
    r = session.scalar(sa.select(Reservation).where(Reservation.course_id == course_id)
                       .order_by(Reservation.revision.desc(), Reservation.created_at.desc()).limit(1))
    if r is None:
        raise NotFound("Lớp học chưa có dự toán.", field="course_id")
    return r
