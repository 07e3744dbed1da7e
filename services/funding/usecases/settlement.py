"""Settle completed courses exactly once from actual attendance (one pass per batch of events), show a settlement
and its payee list."""
from __future__ import annotations

import json
import uuid
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding import domain, events
from services.funding.models import (OUTBOX, CivilServantRef, FundingCourse, IncentivePayment, Reservation,
                                     Settlement, SettlementLine)
from services.funding.usecases.budget_lines import free_balance, lock_lines_for
from services.funding.usecases.ledger import event_cause, insert_ledger, journal_rows
from services.funding.usecases.reservations import line_dict, lock_courses, reservations_held
from services.funding.usecases.rules import norms_of
from shared.db import bulk_insert
from shared.errors import NotFound
from shared.events import Envelope
from shared.localtime import utcnow


def _participants(course: dict) -> list[dict]:
    return [{**x, "certified": x.get("completed") if x.get("certified") is None else x["certified"]}
            for x in course["participants"]]


def settle_courses(session: Session, envelopes: list[Envelope], *, province_code: str,
                   now: datetime | None = None) -> list[str]:
    """Settle completed courses from actual attendance, in one pass for a batch of events.

    Exactly once per course: the inbox drops a redelivered event, and the unique course_id drops a second
    settlement arriving under another event id. Per course one ledger journal: spending taken from the
    reservation, then from the line's free balance, the rest booked as unfunded; the unused reservation released.
    Returns the ids of the courses settled now (`now`: the settlement time, the clock by default).
    """
    now = now or utcnow()
    by_course: dict[str, Envelope] = {}
    for env in envelopes:
        by_course.setdefault(env.payload["course_id"], env)
    courses = lock_courses(session, list(by_course), now, {c: {
        "code": e.payload["code"], "organizer_unit_code": e.payload["organizer_unit_code"],
        "start_date": e.payload["start_date"]} for c, e in by_course.items()})
    # A course is settled when its locked row says so: the settlement and the status "completed" are written
    # together, by this function alone (issue 16: a SELECT of settlements was one more round trip per batch).
    todo = {c: e for c, e in by_course.items() if courses[c].status != "completed"}
    if not todo:
        return []
    norms = norms_of(session, province_code)
    reservations, held = reservations_held(session, list(todo))
    computed: dict[str, list[domain.Line]] = {}
    keys = set()
    for course_id, env in todo.items():
        p = env.payload
        known = courses[course_id]
        if p.get("venue") is None and known.venue_json:  # the completion may omit the venue it was scheduled at
            p = {**p, "venue": json.loads(known.venue_json)}
        if p.get("form") is None and known.form:
            p = {**p, "form": known.form}
        computed[course_id] = domain.cost_lines(p, _participants(p), norms)
        year = p["start_date"].year
        keys |= {(year, x.source, x.owner_unit_code) for x in computed[course_id]}
    ids, lines = lock_lines_for(session, keys, [i for r in reservations.values() for i in held[r.id]])
    settlement_rows, line_rows, ledger_rows, settled = [], [], [], []
    settled_reservations, unknown = [], []  # written set-wise below, not by the ORM one row at a time
    for course_id, env in todo.items():
        p, found = env.payload, computed[course_id]
        year = p["start_date"].year
        reservation = reservations.get(course_id)
        reserved = dict(held[reservation.id]) if reservation else {}
        actual: dict[str, int] = defaultdict(int)
        unfunded_keys: dict[tuple[str, str], int] = defaultdict(int)
        for x in found:
            line_id = ids.get((year, x.source, x.owner_unit_code))
            if line_id:
                actual[line_id] += x.amount
            else:
                unfunded_keys[(x.source, x.owner_unit_code)] += x.amount
        entries, released, unfunded = [], 0, 0
        for line_id in sorted(set(actual) | set(reserved)):
            line = lines[line_id]
            part = domain.settle_against(actual.get(line_id, 0), reserved.get(line_id, 0), free_balance(line))
            line.reserved -= part.consumed + part.released
            line.spent += part.consumed + part.extra
            released += part.released
            entries += [(f"spent:{line_id}", part.consumed + part.extra, 0), (f"reserved:{line_id}", 0, part.consumed),
                        (domain.budget_account(line_id), 0, part.extra),
                        (domain.budget_account(line_id), part.released, 0), (f"reserved:{line_id}", 0, part.released)]
            if part.unfunded:
                unfunded += part.unfunded
                account = domain.unfunded_account(line.source, line.owner_unit_code, year)
                entries += [(f"expense:unfunded:{line_id}", part.unfunded, 0), (account, 0, part.unfunded)]
        for (source, owner), amount in sorted(unfunded_keys.items()):
            # A line with no budget line is owed all the same: booked as unfunded, to be covered by a decision.
            unfunded += amount
            entries += [(f"expense:unfunded:{source}:{owner}", amount, 0),
                        (domain.unfunded_account(source, owner, year), 0, amount)]
        sums = domain.totals(found)
        settlement_id = str(uuid.uuid4())
        estimate_total = reservation.estimate_total if reservation else None
        variance = sums["total"] - estimate_total if estimate_total is not None else None
        settlement_rows.append({
            "id": settlement_id, "course_id": course_id, "course_code": p["code"], "source_event_id": env.id,
            "settled_at": now, "lecturer_fees": sums["lecturer_fees"],
            "learner_support": sums["learner_support_total"], "total": sums["total"],
            "reservation_id": reservation.id if reservation else None, "estimate_total": estimate_total,
            "variance": variance, "released": released, "unfunded": unfunded})
        for seq, x in enumerate(found):
            line_rows.append({"id": str(uuid.uuid4()), "settlement_id": settlement_id, **line_dict(x, seq),
                              "budget_line_id": ids.get((year, x.source, x.owner_unit_code))})
        ledger_rows += journal_rows(entries, cause=event_cause(env), course_id=course_id,
                                     memo=f"Quyết toán lớp {p['code']}", now=now)
        if reservation:
            domain.next_status(domain.RESERVATION_TRANSITIONS, reservation.status, "settled")  # allowed, or raises
            settled_reservations.append(reservation.id)
        known = courses[course_id]
        domain.next_status(domain.COURSE_TRANSITIONS, known.status, "completed")
        if known.organizer_unit_code is None:
            unknown.append({"k_id": course_id, "v_code": p["code"], "v_unit": p["organizer_unit_code"],
                            "v_start": p["start_date"]})
        settled.append(("funding.course_settled", events.course_settled(
            course_id, settlement_id, sums, now, estimate_total, variance, released), env))
    # The course rows locked above make a concurrent settlement of the same course wait and then see it settled;
    # the unique course_id is the last word all the same (a violation rolls the whole batch back).
    _mark_settled(session, list(todo), settled_reservations, unknown, now)
    bulk_insert(session, Settlement.__table__, settlement_rows)
    bulk_insert(session, SettlementLine.__table__, line_rows)
    insert_ledger(session, ledger_rows)
    OUTBOX.emit_many(session, settled)
    return list(todo)


def _mark_settled(session: Session, course_ids: list[str], reservation_ids: list[str], unknown: list[dict],
                  now: datetime) -> None:
    """The batch's courses become completed and their reservations settled, each table in one UPDATE (issue 16:
    the ORM's flush sent one UPDATE per course and per reservation, 200 executes on the wire for a batch of 200);
    a course whose row has no organiser yet (made by a cancellation funding heard first) takes its code, organiser
    and start from the completion — a row made by this batch has them already (lock_courses' facts)."""
    c, r = FundingCourse.__table__, Reservation.__table__
    # Core statements: the ORM objects of these rows keep their old values until they are read again (every later
    # reader locks or selects them with populate_existing).
    session.execute(sa.update(c).where(c.c.course_id.in_(course_ids)).values(status="completed", updated_at=now))
    if reservation_ids:
        session.execute(sa.update(r).where(r.c.id.in_(reservation_ids)).values(status="settled", closed_at=now))
    if unknown:
        session.execute(sa.update(c).where(c.c.course_id == sa.bindparam("k_id")).values(
            code=sa.bindparam("v_code"), organizer_unit_code=sa.bindparam("v_unit"),
            start_date=sa.bindparam("v_start")), unknown)


def settle_course(session: Session, envelope: Envelope, *, province_code: str,
                  now: datetime | None = None) -> Settlement | None:
    """Settle one completed course (see settle_courses); None when it was already settled."""
    done = settle_courses(session, [envelope], province_code=province_code, now=now)
    if not done:
        return None
    return session.scalar(sa.select(Settlement).where(Settlement.course_id == done[0]))


def get_settlement(session: Session, course_id: str) -> Settlement:
    """A course's settlement with its lines."""
    s = session.scalar(sa.select(Settlement).where(Settlement.course_id == course_id))
    if s is None:
        raise NotFound("Lớp học chưa được quyết toán.", field="course_id")
    return s


def get_payee_list(session: Session, course_id: str) -> dict:
    """The payee list ("danh sách ký nhận"): per trainee and lecturer, the amount of each item, totals, rewards.

    Funding holds no names: payees are shown by civil servant or lecturer id (names live in the needs service).
    """
    settlement = get_settlement(session, course_id)
    rewards = session.scalars(sa.select(IncentivePayment).where(IncentivePayment.course_id == course_id))
    rows: dict[tuple[str, str], dict] = {}
    items: list[str] = []
    for x in [*settlement.lines, *[_RewardAsLine(r) for r in rewards]]:
        if x.payee_kind == "organiser":
            continue
        row = rows.setdefault((x.payee_kind, x.payee_ref), {
            "payee_kind": x.payee_kind, "payee_ref": x.payee_ref, "owner_unit_code": x.owner_unit_code,
            "amounts": {}, "total": 0})
        row["amounts"][x.item] = row["amounts"].get(x.item, 0) + x.amount
        row["total"] += x.amount
        if x.item not in items:
            items.append(x.item)
    order = {"lecturer": 0, "trainee": 1}
    payees = sorted(rows.values(), key=lambda r: (order.get(r["payee_kind"], 2), r["owner_unit_code"], r["payee_ref"]))
    codes = dict(session.execute(sa.select(CivilServantRef.civil_servant_id, CivilServantRef.code).where(
        CivilServantRef.civil_servant_id.in_([r["payee_ref"] for r in payees if r["payee_kind"] == "trainee"]))).all())
    for i, r in enumerate(payees, start=1):
        r["no"] = i
        r["payee_code"] = codes.get(r["payee_ref"]) if r["payee_kind"] == "trainee" else None
    totals = {item: sum(r["amounts"].get(item, 0) for r in payees) for item in items}
    return {"course_id": course_id, "course_code": settlement.course_code, "settlement_id": settlement.id,
            "items": items, "item_labels": {i: domain.ITEM_LABELS.get(i, i) for i in items}, "payees": payees,
            "totals": totals, "total": sum(totals.values())}


class _RewardAsLine:
    """A reward shown on the payee list like a settlement line."""

    def __init__(self, r: IncentivePayment):
        self.payee_kind, self.payee_ref, self.owner_unit_code = "trainee", r.civil_servant_id, r.commune_code
        self.item, self.amount = r.item, r.amount
