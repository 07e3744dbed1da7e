"""Use cases of the funding service: each takes a session inside the caller's transaction.

Ledger accounts per budget line L (all balanced journals, append-only):
  allocation:L (credit = money given by decisions) · budget:L (free balance) · reserved:L · spent:L
so that, from the entries alone, balance(budget:L) = allocated − reserved − spent. Money owed beyond a line is
booked to unfunded:<source>:<unit>:<year>; repayments to receivable:<commitment>.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding import domain
from services.funding.models import (OUTBOX, BudgetAmendment, BudgetLine, CivilServantRef, CostNorm,
                                     DegreeCommitment, EstimateLine,
                                     FundingCourse, IncentivePayment, LedgerEntry, Receivable, Reservation,
                                     ReservationLine, Settlement, SettlementLine)
from services.funding.settings import DEFAULT_PROVINCE
from shared.db import bulk_insert, insert_ignoring_conflicts, is_postgres
from shared.errors import Conflict, Invalid, NotFound
from shared.events import Envelope
from shared.localtime import utcnow
from shared.logs import get_correlation_id
from shared import rules
from shared.rules import Version, supersede
from shared.localtime import local_today

log = logging.getLogger(__name__)
SAMPLE_BASIS = "MẪU – giá trị minh họa, không phải định mức của tỉnh Cà Mau; nạp định mức thật trước khi dùng"


def budget_account(line_id: str) -> str:
    """The ledger account holding a budget line's free balance."""
    return f"budget:{line_id}"


def unfunded_account(source: str, owner: str, year: int) -> str:
    """The ledger account of money owed beyond (or without) a budget line, to be covered by a decision."""
    return f"unfunded:{source}:{owner}:{year}"


def _journal_rows(entries: list[tuple[str, int, int]], *, cause: str, memo: str, course_id: str | None = None,
                  reverses: str | None = None, now: datetime | None = None) -> list[dict]:
    """Rows of one balanced journal (account, debit, credit); zero entries are dropped."""
    entries = [(a, d, c) for a, d, c in entries if d or c]
    if sum(d for _, d, _ in entries) != sum(c for _, _, c in entries):
        raise ValueError("unbalanced journal")
    if any(d < 0 or c < 0 for _, d, c in entries):
        raise ValueError("negative ledger amount")
    journal_id, now = str(uuid.uuid4()), now or utcnow()
    return [{"journal_id": journal_id, "account": a, "debit": d, "credit": c, "course_id": course_id,
             "cause": cause[:120], "memo": memo[:300], "created_at": now, "reverses": reverses}
            for a, d, c in entries]


def _post(session: Session, entries: list[tuple[str, int, int]], *, cause: str, memo: str,
          course_id: str | None = None, reverses: str | None = None, now: datetime | None = None) -> str | None:
    """Append one balanced journal to the ledger; return its id (None when every amount is zero)."""
    rows = _journal_rows(entries, cause=cause, memo=memo, course_id=course_id, reverses=reverses, now=now)
    if not rows:
        return None
    session.execute(sa.insert(LedgerEntry), rows)
    return rows[0]["journal_id"]


def _request_cause() -> str:
    return f"request:{get_correlation_id() or 'cli'}"


def _event_cause(envelope: Envelope) -> str:
    return f"event:{envelope.id}"


def _source(value: str) -> str:
    return domain.LEGACY_SOURCES.get(value, value)


def _lock_lines(session: Session, ids) -> dict[str, BudgetLine]:
    """Lock budget lines in one consistent order (by id) for the rest of the transaction: no overdraw, no deadlock."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    stmt = sa.select(BudgetLine).where(BudgetLine.id.in_(ids)).order_by(BudgetLine.id).with_for_update()
    return {b.id: b for b in session.scalars(stmt.execution_options(populate_existing=True))}


def _lines_for(session: Session, keys: set[tuple[int, str, str]]) -> dict[tuple[int, str, str], str]:
    """Ids of the budget lines for (fiscal year, source, owner unit) keys that exist."""
    if not keys:
        return {}
    years = {k[0] for k in keys}
    rows = session.execute(sa.select(BudgetLine.id, BudgetLine.fiscal_year, BudgetLine.source,
                                     BudgetLine.owner_unit_code).where(BudgetLine.fiscal_year.in_(years)))
    return {(y, s, o): i for i, y, s, o in rows if (y, s, o) in keys}


def _free(line: BudgetLine) -> int:
    return line.allocated - line.reserved - line.spent


# --- budget lines ----------------------------------------------------------------------------------------------

def create_budget_line(session: Session, data: dict, now: datetime | None = None) -> BudgetLine:
    """Open a budget line with its allocation decision, posting the allocation to the ledger."""
    now = now or utcnow()
    data = {**data, "source": _source(data["source"])}
    exists = session.scalar(sa.select(BudgetLine.id).where(
        BudgetLine.fiscal_year == data["fiscal_year"], BudgetLine.source == data["source"],
        BudgetLine.owner_unit_code == data["owner_unit_code"]))
    if exists:
        raise Conflict("Dòng ngân sách cho năm, nguồn và đơn vị này đã có.", field="owner_unit_code")
    line = BudgetLine(id=str(uuid.uuid4()), created_at=now, reserved=0, spent=0, **data)
    session.add(line)
    _post(session, [(budget_account(line.id), line.allocated, 0), (f"allocation:{line.id}", 0, line.allocated)],
          cause=_request_cause(), memo=f"Giao dự toán theo {line.decision_no}", now=now)
    return line


def amend_budget_line(session: Session, line_id: str, data: dict, now: datetime | None = None) -> BudgetAmendment:
    """Add (delta > 0) or withdraw (delta < 0) money by a decision; never below what is reserved and spent."""
    now = now or utcnow()
    line = _lock_lines(session, [line_id]).get(line_id)
    if line is None:
        raise NotFound("Không tìm thấy dòng ngân sách.", field="budget_line_id")
    delta = data["delta"]
    if delta == 0:
        raise Invalid("Số điều chỉnh phải khác 0.", field="delta")
    if delta < 0 and -delta > _free(line):
        raise Conflict(f"Chỉ có thể giảm tối đa {domain.vnd(_free(line))} đồng (phần chưa giữ chỗ, chưa chi).",
                          field="delta")
    amendment = BudgetAmendment(id=str(uuid.uuid4()), budget_line_id=line.id, created_at=now, **data)
    session.add(amendment)
    line.allocated += delta
    up, down = max(delta, 0), max(-delta, 0)
    _post(session, [(budget_account(line.id), up, down), (f"allocation:{line.id}", down, up)],
          cause=_request_cause(), memo=f"Điều chỉnh dự toán theo {data['decision_no']}: {data['reason']}", now=now)
    return amendment


def line_balances(session: Session, line_ids: list[str]) -> dict[str, dict[str, int]]:
    """Compute allocated, reserved, spent and balance of budget lines from the ledger entries alone."""
    out = {i: {"allocated": 0, "reserved": 0, "spent": 0, "balance": 0} for i in line_ids}
    if not line_ids:
        return out
    kinds = {"allocation": "allocated", "reserved": "reserved", "spent": "spent", "budget": "balance"}
    accounts = {f"{k}:{i}": (i, v) for i in line_ids for k, v in kinds.items()}
    stmt = (sa.select(LedgerEntry.account, sa.func.sum(LedgerEntry.debit), sa.func.sum(LedgerEntry.credit))
            .where(LedgerEntry.account.in_(list(accounts))).group_by(LedgerEntry.account))
    for account, debit, credit in session.execute(stmt):
        line_id, kind = accounts[account]
        debit, credit = int(debit or 0), int(credit or 0)
        out[line_id][kind] = credit - debit if kind == "allocated" else debit - credit
    return out


def list_budget_lines(session: Session, fiscal_year: int | None = None, line_id: str | None = None) -> list[dict]:
    """Budget lines with allocated, reserved, spent and balance from the ledger, and whether the kept totals agree."""
    stmt = sa.select(BudgetLine).order_by(BudgetLine.fiscal_year, BudgetLine.source, BudgetLine.owner_unit_code)
    if fiscal_year:
        stmt = stmt.where(BudgetLine.fiscal_year == fiscal_year)
    if line_id:
        stmt = stmt.where(BudgetLine.id == line_id)
    lines = list(session.scalars(stmt))
    balances = line_balances(session, [x.id for x in lines])
    out = []
    for x in lines:
        b = balances[x.id]
        consistent = (b["allocated"], b["reserved"], b["spent"]) == (x.allocated, x.reserved, x.spent) and \
            b["balance"] == b["allocated"] - b["reserved"] - b["spent"]
        out.append({**{c: getattr(x, c) for c in ("id", "fiscal_year", "source", "owner_unit_code", "decision_no",
                                                  "decision_date")},
                    "source_label": domain.SOURCE_LABELS[x.source], **b, "ledger_consistent": consistent})
    return out


def get_budget_line(session: Session, line_id: str) -> dict:
    """One budget line with its balances and amendments."""
    found = list_budget_lines(session, line_id=line_id)
    if not found:
        raise NotFound("Không tìm thấy dòng ngân sách.", field="budget_line_id")
    amendments = session.scalars(sa.select(BudgetAmendment).where(BudgetAmendment.budget_line_id == line_id)
                                 .order_by(BudgetAmendment.created_at))
    return {**found[0], "amendments": list(amendments)}


def verify_balances(session: Session) -> list[dict]:
    """Budget lines whose kept totals disagree with the ledger (empty when everything is consistent)."""
    return [x for x in list_budget_lines(session) if not x["ledger_consistent"]]


# --- cost norms ------------------------------------------------------------------------------------------------

def _overlapping(session: Session, data: dict) -> str | None:
    t = CostNorm
    far = date(9999, 12, 31)
    return session.scalar(sa.select(t.id).where(
        t.item == data["item"], t.unit == data["unit"], t.province_code == data["province_code"],
        t.lecturer_tier.is_(None) if data.get("lecturer_tier") is None else t.lecturer_tier == data["lecturer_tier"],
        t.valid_from <= (data.get("valid_to") or far), sa.func.coalesce(t.valid_to, far) >= data["valid_from"]))


NORM_KEY = ("item", "unit", "province_code", "lecturer_tier")  # one rule: its versions never overlap


def _norm_key(t, data: dict) -> list:
    tier = data.get("lecturer_tier")
    return [t.item == data["item"], t.unit == data["unit"], t.province_code == data["province_code"],
            t.lecturer_tier.is_(None) if tier is None else t.lecturer_tier == tier]


def create_norm(session: Session, data: dict) -> CostNorm:
    """Add a cost norm version (shared.rules): it supersedes (closes the day before) an open-ended earlier version of
    the same item, unit, tier and province; any other overlap is refused."""
    if data["unit"] not in domain.UNITS:
        raise Invalid("Đơn vị tính không hợp lệ.", field="unit")
    wrong = domain.norm_problems(data["item"], data["unit"], data.get("lecturer_tier"))
    if wrong:
        field, message = next(iter(wrong.items()))
        raise Invalid(message, field=field)
    key = {k: data.get(k) for k in NORM_KEY}
    return rules.add_version(session, CostNorm, {k: v for k, v in data.items() if k not in NORM_KEY}, **key)


def import_norms(session: Session, rows: list[dict], errors=None) -> dict:
    """Load parsed norm rows all-or-nothing: a row supersedes an open-ended earlier version (in the database or
    earlier in the file); any real overlap rejects the file (TableError, answered by the shared handler).

    `errors` (a tabular.RowErrors) holds the cells that failed to read: those rows are checked for what they have,
    and every problem of every row is refused in one answer."""
    from shared.tabular import RowErrors

    errors = RowErrors() if errors is None else errors
    key_cells = ("item", "unit", "lecturer_tier", "province_code", "valid_from", "valid_to")
    versions: dict[tuple, list[dict]] = {}  # key → [{id, from, to, line | row}] database rows, then file rows
    to_close: dict[str, date] = {}  # database norm id → its new valid_to
    for row in rows:
        line = row["_line"]
        if not errors.usable(row, *key_cells):
            continue  # a key cell did not read: its version cannot be placed (the cell's problem is reported)
        if row["valid_to"] and row["valid_to"] < row["valid_from"]:
            errors.add(line, "valid_to", "Ngày hết hiệu lực trước ngày bắt đầu hiệu lực.")
            continue
        wrong = domain.norm_problems(row["item"], row["unit"], row["lecturer_tier"])
        if wrong:
            for f, m in wrong.items():
                errors.add(line, f, m)
            continue
        key = (row["item"], row["unit"], row["lecturer_tier"], row["province_code"])
        if key not in versions:
            versions[key] = [{"id": n.id, "from": n.valid_from, "to": n.valid_to, "norm": n} for n in session.scalars(
                sa.select(CostNorm).where(*_norm_key(CostNorm, row)).with_for_update())]
        known = versions[key]
        close, clash = supersede([Version(v["id"], v["from"], v["to"]) for v in known],
                                        row["valid_from"], row["valid_to"])
        if clash is not None:
            other = next(v for v in known if v["id"] == clash.id)
            where = f"dòng {other['line']} của tệp" if "line" in other else "một định mức đã có"
            errors.add(line, "valid_from", f"Trùng thời gian hiệu lực với {where}.")
            continue
        for v in known:
            if v["id"] in close:
                v["to"] = row["valid_from"] - timedelta(days=1)
                if "norm" in v:
                    to_close[v["id"]] = v["to"]
                else:
                    v["row"]["valid_to"] = v["to"]
        known.append({"id": f"line-{line}", "from": row["valid_from"], "to": row["valid_to"],
                      "line": line, "row": row})
    errors.raise_if_any()
    for key, known in versions.items():
        for v in known:
            if v["id"] in to_close:
                v["norm"].valid_to = to_close[v["id"]]
    for row in rows:
        session.add(CostNorm(id=str(uuid.uuid4()), **{k: v for k, v in row.items() if k != "_line"}))
    session.flush()
    return {"imported": len(rows), "superseded": len(to_close)}


def list_norms(session: Session, item: str | None = None, on: date | None = None, *,
               province_code: str | None = None) -> list[CostNorm]:
    """Cost norm versions, optionally of one item, in force on a day and/or of one province."""
    stmt = sa.select(CostNorm).order_by(CostNorm.item, CostNorm.lecturer_tier, CostNorm.valid_from)
    if item:
        stmt = stmt.where(CostNorm.item == item)
    if province_code:
        stmt = stmt.where(CostNorm.province_code == province_code)
    if on:
        stmt = stmt.where(CostNorm.valid_from <= on, sa.or_(CostNorm.valid_to.is_(None), CostNorm.valid_to >= on))
    return list(session.scalars(stmt))


RULE_KINDS = {"cost-norms": "Định mức chi đào tạo, bồi dưỡng"}


def list_rules(session: Session, *, province_code: str, today: date | None = None) -> list[dict]:
    """Every rule kind of the service with the versions in force today (each with its legal basis)."""
    today = today or local_today()
    return [{"kind": "cost-norms", "label": RULE_KINDS["cost-norms"], "on": today,
             "in_force": list_norms(session, on=today, province_code=province_code)}]


def _domain_norms(session: Session, province_code: str) -> list[domain.Norm]:
    """Every version of the province's cost norms, for the pure rules to pick the one in force on a day."""
    return [domain.Norm(n.id, n.item, n.unit, n.amount, n.valid_from, n.valid_to, n.lecturer_tier)
            for n in session.scalars(sa.select(CostNorm).where(CostNorm.province_code == province_code))]


# --- courses known to funding ----------------------------------------------------------------------------------

def _lock_courses(session: Session, course_ids: list[str], now: datetime) -> dict[str, FundingCourse]:
    """Make sure a row exists for each course, then lock them (by id) so a course's events apply one at a time."""
    ids = sorted(set(course_ids))
    session.execute(insert_ignoring_conflicts(session, FundingCourse.__table__),
                    [{"course_id": c, "revision": 0, "status": "new", "updated_at": now} for c in ids])
    stmt = sa.select(FundingCourse).where(FundingCourse.course_id.in_(ids)).order_by(FundingCourse.course_id)
    return {c.course_id: c for c in session.scalars(stmt.with_for_update().execution_options(populate_existing=True))}


def _active_reservations(session: Session, course_ids: list[str]) -> dict[str, Reservation]:
    stmt = sa.select(Reservation).where(Reservation.course_id.in_(course_ids), Reservation.status == "active")
    return {r.course_id: r for r in session.scalars(stmt)}


def _reservation_amounts(session: Session, reservation_ids: list[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(dict)
    if reservation_ids:
        for rid, line_id, amount in session.execute(sa.select(
                ReservationLine.reservation_id, ReservationLine.budget_line_id, ReservationLine.amount)
                .where(ReservationLine.reservation_id.in_(reservation_ids))):
            out[rid][line_id] = out[rid].get(line_id, 0) + amount
    return out


def _release_entries(amounts: dict[str, int], lines: dict[str, BudgetLine]) -> list[tuple[str, int, int]]:
    """Give reserved money back to the lines (kept totals and journal entries)."""
    entries = []
    for line_id, amount in sorted(amounts.items()):
        lines[line_id].reserved -= amount
        entries += [(budget_account(line_id), amount, 0), (f"reserved:{line_id}", 0, amount)]
    return entries


def _line_dict(line: domain.Line, seq: int) -> dict:
    return {"seq": seq, "item": line.item, "payee_kind": line.payee_kind, "payee_ref": line.payee_ref,
            "source": line.source, "owner_unit_code": line.owner_unit_code, "quantity": line.quantity,
            "unit_amount": line.unit_amount, "amount": line.amount, "norm_id": line.norm_id,
            "cap_norm_id": line.cap_norm_id, "detail": line.detail}


# --- estimate and reservation ----------------------------------------------------------------------------------

def reserve_for_schedule(session: Session, envelope: Envelope, *, province_code: str,
                         now: datetime | None = None) -> Reservation | None:
    """Estimate a scheduled course and reserve it on the budget lines, replacing the previous revision atomically.

    A revision older than or equal to the last one acted on is ignored; a course already cancelled or completed
    reserves nothing. Publishes funding.budget_reserved, or funding.reservation_rejected naming the short lines.
    The norms are those of `province_code` (the service setting).
    """
    now = now or utcnow()
    p = envelope.payload
    course = _lock_courses(session, [p["course_id"]], now)[p["course_id"]]
    if p["revision"] <= course.revision or course.status in ("cancelled", "completed"):
        log.info("stale or closed schedule ignored", extra={"course_id": p["course_id"], "revision": p["revision"]})
        return None
    course.code, course.organizer_unit_code, course.start_date = p["code"], p["organizer_unit_code"], p["start_date"]
    course.revision, course.status, course.updated_at = p["revision"], "scheduled", now
    course.form = p["form"]
    course.venue_json = json.dumps(p.get("venue"), default=str) if p.get("venue") else None
    year = p["start_date"].year
    course_view = {**p, "participants": None}
    norms = _domain_norms(session, province_code)
    try:
        estimate = domain.cost_lines(course_view, domain.planned_participants(p["planned_trainees"], p["sessions"]),
                                     norms)
        missing_norm = None
    except domain.NormNotFound as exc:
        estimate, missing_norm = [], exc.vietnamese()
    needs = domain.needs_by_budget(estimate)
    previous = _active_reservations(session, [p["course_id"]]).get(p["course_id"])
    held = _reservation_amounts(session, [previous.id])[previous.id] if previous else {}
    ids = _lines_for(session, {(year, s, o) for s, o in needs})
    lines = _lock_lines(session, list(ids.values()) + list(held))
    available = {(s, o): (ids[(year, s, o)], _free(lines[ids[(year, s, o)]]) + held.get(ids[(year, s, o)], 0))
                 for s, o in needs if (year, s, o) in ids}
    shorts = domain.check_cover(needs, available)
    entries = []
    if previous:  # the new revision replaces it, whether or not the new one can be covered
        previous.status, previous.closed_at = "superseded", now
        entries += _release_entries(held, lines)
    total = sum(x.amount for x in estimate)
    reservation = Reservation(id=str(uuid.uuid4()), course_id=p["course_id"], revision=p["revision"],
                              fiscal_year=year, estimate_total=total, source_event_id=envelope.id,
                              created_at=now, status="active")
    session.add(reservation)
    session.flush()
    if estimate:
        session.execute(sa.insert(EstimateLine), [{"id": str(uuid.uuid4()), "reservation_id": reservation.id,
                                                   **_line_dict(x, i)} for i, x in enumerate(estimate)])
    if missing_norm or shorts:
        reservation.status, reservation.closed_at = "rejected", now
        if missing_norm:
            reservation.reason = f"Không lập được dự toán: {missing_norm}"
        else:
            reservation.reason = domain.rejection_reason(shorts, year)
        _post(session, entries, cause=_event_cause(envelope), course_id=p["course_id"],
              memo=f"Hủy giữ chỗ lớp {p['code']} (lần xếp lịch {p['revision']} không đủ kinh phí)", now=now)
        OUTBOX.emit(session, "funding.reservation_rejected", {
            "course_id": p["course_id"], "revision": p["revision"], "reason": reservation.reason,
            "estimate_total": total,
            "short_lines": [{"budget_line_id": s.budget_line_id, "source": s.source,
                             "owner_unit_code": s.owner_unit_code, "required": s.required, "available": s.available}
                            for s in shorts]}, cause=envelope)
        return reservation
    reserved_lines = []
    for (source, owner), amount in sorted(needs.items()):
        if amount <= 0:  # a zero-rated item needs no money, and maybe no line exists for it
            continue
        line = lines[ids[(year, source, owner)]]
        if amount > _free(line):  # cannot happen under the lock; a last guard against overdraw
            raise RuntimeError("reservation would overdraw a budget line")
        line.reserved += amount
        entries += [(f"reserved:{line.id}", amount, 0), (budget_account(line.id), 0, amount)]
        reserved_lines.append({"id": str(uuid.uuid4()), "reservation_id": reservation.id, "budget_line_id": line.id,
                               "source": source, "owner_unit_code": owner, "amount": amount})
    if reserved_lines:
        session.execute(sa.insert(ReservationLine), reserved_lines)
    _post(session, entries, cause=_event_cause(envelope), course_id=p["course_id"],
          memo=f"Giữ chỗ kinh phí lớp {p['code']} (lần xếp lịch {p['revision']})", now=now)
    OUTBOX.emit(session, "funding.budget_reserved", {
        "course_id": p["course_id"], "revision": p["revision"], "reservation_id": reservation.id,
        "estimate_total": total,
        "lines": [{"budget_line_id": r["budget_line_id"], "source": r["source"],
                   "owner_unit_code": r["owner_unit_code"], "amount": r["amount"]} for r in reserved_lines]},
        cause=envelope)
    return reservation


def release_for_cancel(session: Session, envelope: Envelope, now: datetime | None = None) -> int:
    """Release a cancelled course's reservation; remember the cancellation so a late schedule reserves nothing."""
    now = now or utcnow()
    course_id = envelope.payload["course_id"]
    course = _lock_courses(session, [course_id], now)[course_id]
    if course.status == "completed":
        return 0
    course.status, course.updated_at = "cancelled", now
    active = _active_reservations(session, [course_id]).get(course_id)
    if active is None:
        return 0
    held = _reservation_amounts(session, [active.id])[active.id]
    lines = _lock_lines(session, list(held))
    active.status, active.closed_at = "released", now
    _post(session, _release_entries(held, lines), cause=_event_cause(envelope), course_id=course_id,
          memo=f"Giải phóng kinh phí giữ chỗ lớp {course.code or course_id} (hủy lớp)", now=now)
    return sum(held.values())


def get_estimate(session: Session, course_id: str) -> Reservation:
    """The latest estimate (and reservation state) of a course."""
    r = session.scalar(sa.select(Reservation).where(Reservation.course_id == course_id)
                       .order_by(Reservation.revision.desc(), Reservation.created_at.desc()).limit(1))
    if r is None:
        raise NotFound("Lớp học chưa có dự toán.", field="course_id")
    return r


# --- settlement ------------------------------------------------------------------------------------------------

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
    courses = _lock_courses(session, list(by_course), now)
    already = set(session.scalars(sa.select(Settlement.course_id).where(Settlement.course_id.in_(list(by_course)))))
    todo = {c: e for c, e in by_course.items() if c not in already}
    if not todo:
        return []
    norms = _domain_norms(session, province_code)
    reservations = _active_reservations(session, list(todo))
    held = _reservation_amounts(session, [r.id for r in reservations.values()])
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
    ids = _lines_for(session, keys)
    lines = _lock_lines(session, list(ids.values()) + [i for r in reservations.values() for i in held[r.id]])
    settlement_rows, line_rows, ledger_rows, events = [], [], [], []
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
            part = domain.settle_against(actual.get(line_id, 0), reserved.get(line_id, 0), _free(line))
            line.reserved -= part.consumed + part.released
            line.spent += part.consumed + part.extra
            released += part.released
            entries += [(f"spent:{line_id}", part.consumed + part.extra, 0), (f"reserved:{line_id}", 0, part.consumed),
                        (budget_account(line_id), 0, part.extra),
                        (budget_account(line_id), part.released, 0), (f"reserved:{line_id}", 0, part.released)]
            if part.unfunded:
                unfunded += part.unfunded
                account = unfunded_account(line.source, line.owner_unit_code, year)
                entries += [(f"expense:unfunded:{line_id}", part.unfunded, 0), (account, 0, part.unfunded)]
        for (source, owner), amount in sorted(unfunded_keys.items()):
            # A line with no budget line is owed all the same: booked as unfunded, to be covered by a decision.
            unfunded += amount
            entries += [(f"expense:unfunded:{source}:{owner}", amount, 0),
                        (unfunded_account(source, owner, year), 0, amount)]
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
            line_rows.append({"id": str(uuid.uuid4()), "settlement_id": settlement_id, **_line_dict(x, seq),
                              "budget_line_id": ids.get((year, x.source, x.owner_unit_code))})
        ledger_rows += _journal_rows(entries, cause=_event_cause(env), course_id=course_id,
                                     memo=f"Quyết toán lớp {p['code']}", now=now)
        if reservation:
            reservation.status, reservation.closed_at = "settled", now
        known = courses[course_id]
        known.status, known.updated_at = "completed", now
        if known.organizer_unit_code is None:
            known.code, known.organizer_unit_code, known.start_date = p["code"], p["organizer_unit_code"], \
                p["start_date"]
        events.append(("funding.course_settled", {
            "course_id": course_id, "settlement_id": settlement_id, "lecturer_fees": sums["lecturer_fees"],
            "learner_support": sums["learner_support_total"], "total_amount": sums["total"], "settled_at": now,
            "estimate_total": estimate_total, "variance": variance, "released": released}, env))
    # The course rows locked above make a concurrent settlement of the same course wait and then see it settled;
    # the unique course_id is the last word all the same (a violation rolls the whole batch back).
    bulk_insert(session, Settlement.__table__, settlement_rows)
    bulk_insert(session, SettlementLine.__table__, line_rows)
    _insert_ledger(session, ledger_rows)
    OUTBOX.emit_many(session, events)
    return list(todo)


def _insert_ledger(session: Session, rows: list[dict]) -> None:
    if is_postgres(session):
        bulk_insert(session, LedgerEntry.__table__, rows)
    elif rows:
        session.execute(sa.insert(LedgerEntry), rows)


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


def payee_list(session: Session, course_id: str) -> dict:
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


def remember_civil_servant(session: Session, envelope: Envelope) -> None:
    """Keep a civil servant's staff code (no name) to print on payee lists."""
    p = envelope.payload
    ref = session.get(CivilServantRef, p["civil_servant_id"])
    if ref is None:
        session.add(CivilServantRef(civil_servant_id=p["civil_servant_id"], code=p["code"],
                                    commune_code=p["commune_code"], updated_at=envelope.occurred_at))
    elif ref.updated_at <= envelope.occurred_at:  # an older update arriving late changes nothing
        ref.code, ref.commune_code, ref.updated_at = p["code"], p["commune_code"], envelope.occurred_at


# --- incentives ------------------------------------------------------------------------------------------------

def reward_excellent_learners(session: Session, envelope: Envelope, *, province_code: str,
                              now: datetime | None = None) -> int:
    """Reward each learner graded excellent, once per course, from the organiser's ĐT-BD line (capped by norm);
    the province's norms apply, and its line pays when the course's organiser is unknown."""
    now = now or utcnow()
    p = envelope.payload
    course_id = p["course_id"]
    course = _lock_courses(session, [course_id], now)[course_id]
    if session.scalar(sa.select(sa.func.count()).select_from(IncentivePayment)
                      .where(IncentivePayment.course_id == course_id)):
        return 0
    learners = {x["civil_servant_id"]: x for x in p.get("excellent_learners", [])}
    if not learners:
        return 0
    day = course.start_date or p["evaluated_at"].date()
    amount, norm_id, cap_id = domain.reward_amount(_domain_norms(session, province_code), day)
    owner = course.organizer_unit_code or province_code
    year = day.year
    ids = _lines_for(session, {(year, "state_dtbd", owner)})
    line_id = ids.get((year, "state_dtbd", owner))
    line = _lock_lines(session, [line_id]).get(line_id) if line_id else None
    total = amount * len(learners)
    funded = min(total, _free(line)) if line else 0
    entries = []
    if line:
        line.spent += funded
        entries += [(f"spent:{line.id}", funded, 0), (budget_account(line.id), 0, funded)]
    if total > funded:
        entries += [(f"expense:unfunded:reward_excellent", total - funded, 0),
                    (unfunded_account("state_dtbd", owner, year), 0, total - funded)]
    session.execute(sa.insert(IncentivePayment), [{
        "id": str(uuid.uuid4()), "course_id": course_id, "civil_servant_id": cs, "commune_code": x["commune_code"],
        "item": "reward_excellent", "amount": amount, "norm_id": norm_id, "cap_norm_id": cap_id,
        "source": "state_dtbd", "owner_unit_code": owner, "budget_line_id": line.id if line else None,
        "fiscal_year": year, "source_event_id": envelope.id, "created_at": now} for cs, x in sorted(learners.items())])
    _post(session, entries, cause=_event_cause(envelope), course_id=course_id,
          memo=f"Khen thưởng {len(learners)} học viên xuất sắc lớp {course.code or course_id}", now=now)
    return len(learners)


def list_incentives(session: Session, course_id: str | None = None) -> list[IncentivePayment]:
    """Rewards paid, optionally for one course."""
    stmt = sa.select(IncentivePayment).order_by(IncentivePayment.created_at, IncentivePayment.civil_servant_id)
    if course_id:
        stmt = stmt.where(IncentivePayment.course_id == course_id)
    return list(session.scalars(stmt))


# --- degree-training commitments -------------------------------------------------------------------------------

def create_commitment(session: Session, data: dict, *, province_code: str,
                      now: datetime | None = None) -> DegreeCommitment:
    """Record a degree-training commitment; the committed time is at least the province's multiplier norm × the
    training time."""
    norms = _domain_norms(session, province_code)
    minimum, norm_id = None, None
    factor = domain.optional_norm(norms, "commitment_multiplier", data["training_end"])
    if factor is not None:
        minimum, norm_id = factor.amount * data["training_months"], factor.id
    committed = data.get("committed_months") or minimum
    if committed is None:
        raise Invalid("Chưa có định mức hệ số thời gian cam kết; hãy nhập số tháng cam kết.",
                          field="committed_months")
    if minimum is not None and committed < minimum:
        raise Invalid(f"Thời gian cam kết phải ít nhất {minimum} tháng ({factor.amount} lần thời gian đào tạo).",
                          field="committed_months")
    c = DegreeCommitment(id=str(uuid.uuid4()), civil_servant_id=data["civil_servant_id"],
                         programme=data["programme"], decision_no=data["decision_no"],
                         training_cost=data["training_cost"], training_months=data["training_months"],
                         committed_months=committed, multiplier_norm_id=norm_id,
                         service_start=data["training_end"] + timedelta(days=1), status="open",
                         created_at=now or utcnow())
    session.add(c)
    session.flush()
    return c


def list_commitments(session: Session, civil_servant_id: str | None = None) -> list[DegreeCommitment]:
    """Degree-training commitments, optionally of one civil servant."""
    stmt = sa.select(DegreeCommitment).order_by(DegreeCommitment.created_at)
    if civil_servant_id:
        stmt = stmt.where(DegreeCommitment.civil_servant_id == civil_servant_id)
    return list(session.scalars(stmt))


# NĐ 101/2017 Art. 7 (as amended): compensation is due when the trainee quits or is dismissed before serving the
# committed time; retirement, death or a transfer within the state system do not give rise to it.
REPAYABLE_REASONS = ("resigned", "dismissed", "other")


def open_repayments(session: Session, envelope: Envelope, now: datetime | None = None) -> list[Receivable]:
    """On a civil servant leaving: for each open commitment, S = F / T1 × (T1 − T2) becomes a receivable."""
    now = now or utcnow()
    p = envelope.payload
    commitments = list(session.scalars(sa.select(DegreeCommitment).where(
        DegreeCommitment.civil_servant_id == p["civil_servant_id"], DegreeCommitment.status == "open")
        .with_for_update()))
    out = []
    for c in commitments:
        served = domain.whole_months_between(c.service_start, p["left_on"])
        amount = domain.repayment(c.training_cost, c.committed_months, served)
        if p["reason"] not in REPAYABLE_REASONS or amount == 0:
            c.status = "waived" if amount else "fulfilled"
            continue
        c.status = "repayable"
        r = Receivable(id=str(uuid.uuid4()), commitment_id=c.id, civil_servant_id=c.civil_servant_id, amount=amount,
                       training_cost=c.training_cost, committed_months=c.committed_months, served_months=served,
                       left_on=p["left_on"], reason=p["reason"], status="open", source_event_id=envelope.id,
                       created_at=now)
        session.add(r)
        _post(session, [(f"receivable:{c.id}", amount, 0), ("repayment_due:degree_training", 0, amount)],
              cause=_event_cause(envelope), memo=f"Bồi hoàn chi phí đào tạo theo cam kết {c.decision_no}", now=now)
        out.append(r)
    return out


def list_receivables(session: Session, civil_servant_id: str | None = None) -> list[Receivable]:
    """Repayment receivables, optionally of one civil servant."""
    stmt = sa.select(Receivable).order_by(Receivable.created_at)
    if civil_servant_id:
        stmt = stmt.where(Receivable.civil_servant_id == civil_servant_id)
    return list(session.scalars(stmt))


# --- ledger ----------------------------------------------------------------------------------------------------

def ledger(session: Session, course_id: str | None = None, account: str | None = None,
           limit: int = 500) -> list[LedgerEntry]:
    """Ledger entries in order, by course or account."""
    stmt = sa.select(LedgerEntry).order_by(LedgerEntry.seq).limit(limit)
    if course_id:
        stmt = stmt.where(LedgerEntry.course_id == course_id)
    if account:
        stmt = stmt.where(LedgerEntry.account == account)
    return list(session.scalars(stmt))


def trial_balance(session: Session) -> dict:
    """Debits and credits per account from the entries alone; total debits equal total credits."""
    rows = session.execute(sa.select(LedgerEntry.account, sa.func.sum(LedgerEntry.debit),
                                     sa.func.sum(LedgerEntry.credit)).group_by(LedgerEntry.account)
                           .order_by(LedgerEntry.account))
    accounts = [{"account": a, "debit": int(d or 0), "credit": int(c or 0), "balance": int(d or 0) - int(c or 0)}
                for a, d, c in rows]
    return {"accounts": accounts, "total_debit": sum(a["debit"] for a in accounts),
            "total_credit": sum(a["credit"] for a in accounts)}


def reverse_journal(session: Session, journal_id: str, reason: str) -> str:
    """Correct an operator-made journal (an allocation or amendment) by posting its reversal; nothing is edited.

    Journals caused by events (reservations, settlements, rewards) are corrected by the events themselves.
    """
    entries = list(session.scalars(sa.select(LedgerEntry).where(LedgerEntry.journal_id == journal_id)))
    if not entries:
        raise NotFound("Không tìm thấy bút toán.", field="journal_id")
    if entries[0].reverses or not entries[0].cause.startswith("request:"):
        raise Conflict("Chỉ đảo được bút toán giao hoặc điều chỉnh dự toán do người dùng lập.", field="journal_id")
    if session.scalar(sa.select(LedgerEntry.journal_id).where(LedgerEntry.reverses == journal_id).limit(1)):
        raise Conflict("Bút toán này đã được đảo.", field="journal_id")
    line_ids = {e.account.split(":", 1)[1] for e in entries if e.account.startswith("allocation:")}
    lines = _lock_lines(session, line_ids)
    for e in entries:
        if e.account.startswith("allocation:"):
            line = lines[e.account.split(":", 1)[1]]
            line.allocated -= e.credit - e.debit
            if _free(line) < 0:
                raise Conflict("Không thể đảo: dòng ngân sách sẽ âm (đã giữ chỗ hoặc đã chi).", field="journal_id")
    return _post(session, [(e.account, e.credit, e.debit) for e in entries], cause=_request_cause(),
                 memo=f"Đảo bút toán {journal_id}: {reason}", course_id=entries[0].course_id, reverses=journal_id)


# --- reports ---------------------------------------------------------------------------------------------------

def _spending_rows(session: Session, fiscal_year: int | None) -> list[dict]:
    """Every spent amount (settlement lines and rewards) with its source, item, commune, course and year."""
    s, x = Settlement, SettlementLine
    stmt = (sa.select(x.source, x.item, x.owner_unit_code, s.course_id, s.course_code, FundingCourse.start_date,
                      s.settled_at, sa.func.sum(x.amount))
            .join(s, s.id == x.settlement_id).join(FundingCourse, FundingCourse.course_id == s.course_id,
                                                    isouter=True)
            .group_by(x.source, x.item, x.owner_unit_code, s.course_id, s.course_code, FundingCourse.start_date,
                      s.settled_at))
    rows = []
    for source, item, owner, course_id, code, start, settled_at, amount in session.execute(stmt):
        day = start or settled_at.date()
        rows.append({"source": source, "item": item, "commune": owner, "course": course_id, "course_code": code,
                     "year": day.year, "month": day.month, "amount": int(amount)})
    r = IncentivePayment
    for source, item, owner, course_id, code, year, created, amount in session.execute(
            sa.select(r.source, r.item, r.owner_unit_code, r.course_id, FundingCourse.code, r.fiscal_year,
                      r.created_at, sa.func.sum(r.amount))
            .join(FundingCourse, FundingCourse.course_id == r.course_id, isouter=True)
            .group_by(r.source, r.item, r.owner_unit_code, r.course_id, FundingCourse.code, r.fiscal_year,
                      r.created_at)):
        rows.append({"source": source, "item": item, "commune": owner, "course": course_id,
                     "course_code": code or course_id, "year": year,
                     "month": created.month if created.year == year else 12, "amount": int(amount)})
    return [row for row in rows if fiscal_year is None or row["year"] == fiscal_year]


def spending_report(session: Session, group_by: str, fiscal_year: int | None = None) -> list[dict]:
    """Actual spending grouped by source, item, commune, course or year (whole VND, largest first)."""
    sums: dict[str, int] = defaultdict(int)
    codes: dict[str, str] = {}
    for row in _spending_rows(session, fiscal_year):
        sums[str(row[group_by])] += row["amount"]
        codes[row["course"]] = row["course_code"]
    labels = domain.SOURCE_LABELS if group_by == "source" else domain.ITEM_LABELS if group_by == "item" else \
        codes if group_by == "course" else {}
    return [{"key": k, "label": labels.get(k, k), "amount": v}
            for k, v in sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))]


def plan_vs_actual(session: Session, fiscal_year: int) -> list[dict]:
    """Per budget line of a year: allocated (plan), reserved, spent (actual), balance, and spent as a share."""
    out = []
    for x in list_budget_lines(session, fiscal_year):
        share = round(100 * x["spent"] / x["allocated"], 1) if x["allocated"] else None  # display only
        out.append({"budget_line_id": x["id"], "source": x["source"], "source_label": x["source_label"],
                    "owner_unit_code": x["owner_unit_code"], "allocated": x["allocated"], "reserved": x["reserved"],
                    "spent": x["spent"], "balance": x["balance"], "spent_percent": share})
    return out


def course_plan_vs_actual(session: Session, fiscal_year: int | None = None) -> list[dict]:
    """Per settled course: estimate, actual, variance, released.

    A course belongs to the fiscal year of its first day, like its budget lines and spending (not to the year it was
    settled in: a December course settled in January is last year's).
    """
    stmt = (sa.select(Settlement, FundingCourse.start_date)
            .join(FundingCourse, FundingCourse.course_id == Settlement.course_id, isouter=True)
            .order_by(Settlement.settled_at))
    rows = []
    for s, start in session.execute(stmt):
        year = (start or s.settled_at.date()).year
        if fiscal_year and year != fiscal_year:
            continue
        rows.append({"course_id": s.course_id, "course_code": s.course_code, "estimate_total": s.estimate_total,
                     "actual_total": s.total, "variance": s.variance, "released": s.released,
                     "unfunded": s.unfunded})
    return rows


def burn(session: Session, fiscal_year: int) -> dict[str, list[int]]:
    """Cumulative spending per month of a fiscal year, per source (the budget-burn chart's data)."""
    series: dict[str, domain.BurnSeries] = {}
    for row in _spending_rows(session, fiscal_year):
        series.setdefault(row["source"], domain.BurnSeries(row["source"])).monthly[row["month"] - 1] += row["amount"]
    return {source: s.cumulative() for source, s in sorted(series.items())}


# --- sample data -----------------------------------------------------------------------------------------------

OLD, NEW = (date(2018, 1, 1), date(2025, 10, 27)), (date(2025, 10, 28), None)
SAMPLE_NORMS = [
    # (item, unit, tier, amount, (valid_from, valid_to)) — SAMPLE values, tiers shaped like Quảng Nam NQ 52/2018
    ("lecturer_fee", "per_buoi", 1, 2_000_000, OLD), ("lecturer_fee", "per_buoi", 2, 1_800_000, OLD),
    ("lecturer_fee", "per_buoi", 3, 1_400_000, OLD), ("lecturer_fee", "per_buoi", 4, 1_000_000, OLD),
    ("lecturer_fee", "per_buoi", 5, 600_000, OLD),
    ("lecturer_fee", "per_buoi", 1, 2_200_000, NEW), ("lecturer_fee", "per_buoi", 2, 2_000_000, NEW),
    ("lecturer_fee", "per_buoi", 3, 1_600_000, NEW), ("lecturer_fee", "per_buoi", 4, 1_100_000, NEW),
    ("lecturer_fee", "per_buoi", 5, 700_000, NEW),
    ("learner_support", "per_day", None, 100_000, OLD), ("learner_support", "per_day", None, 150_000, NEW),
    ("materials", "per_person", None, 50_000, OLD), ("materials", "per_person", None, 60_000, NEW),
    ("certificate", "per_person", None, 20_000, OLD), ("certificate", "per_person", None, 25_000, NEW),
    ("opening_closing", "per_course", None, 1_000_000, OLD), ("opening_closing", "per_course", None, 1_200_000, NEW),
    ("hall_rental", "per_day", None, 1_000_000, OLD), ("hall_rental", "per_day", None, 1_200_000, NEW),
    ("water_stationery", "per_person_day", None, 20_000, OLD),
    ("water_stationery", "per_person_day", None, 25_000, NEW),
    ("class_management", "per_day", None, 200_000, OLD), ("class_management", "per_day", None, 250_000, NEW),
    ("support_ethnic_minority", "per_day", None, 30_000, OLD),
    ("support_ethnic_minority", "per_day", None, 50_000, NEW),
    ("support_child_u36", "per_day", None, 30_000, OLD), ("support_child_u36", "per_day", None, 50_000, NEW),
    ("support_cap_per_day", "cap_per_person_day", None, 150_000, OLD),
    ("support_cap_per_day", "cap_per_person_day", None, 230_000, NEW),
    ("travel", "per_km", None, 1_500, OLD), ("travel", "per_km", None, 2_000, NEW),
    ("lodging", "per_night", None, 200_000, OLD), ("lodging", "per_night", None, 250_000, NEW),
    ("lodging_min_km", "threshold_km", None, 15, OLD), ("lodging_min_km", "threshold_km", None, 15, NEW),
    ("reward_excellent", "per_person", None, 200_000, OLD), ("reward_excellent", "per_person", None, 200_000, NEW),
    ("reward_cap", "cap_per_person", None, 200_000, OLD), ("reward_cap", "cap_per_person", None, 200_000, NEW),
    ("commitment_multiplier", "factor", None, 2, (date(2017, 9, 1), date(2025, 6, 30))),
    ("commitment_multiplier", "factor", None, 3, (date(2025, 7, 1), None)),
]
SAMPLE_BASES = {
    date(2018, 1, 1): "TT 36/2018/TT-BTC, TT 06/2023/TT-BTC; TT 40/2017/TT-BTC (trần công tác phí)",
    date(2025, 10, 28): "TT 100/2025/TT-BTC; TT 40/2017/TT-BTC (trần công tác phí)",
    date(2017, 9, 1): "NĐ 101/2017/NĐ-CP (cam kết gấp 2 lần thời gian đào tạo)",
    date(2025, 7, 1): "NĐ 171/2025/NĐ-CP (cam kết gấp 3 lần thời gian đào tạo)",
}
COMMUNES = ["CM-THOIBINH", "CM-BIENBACH", "CM-TRIPHAI", "CM-TANLOC", "CM-HOTHIKY"]
SEED_YEARS = range(2025, 2031)
SAMPLE_STATE_DTBD = 5_000_000_000  # ample, so that the demo's courses are confirmed
SAMPLE_UNIT_REGULAR = 2_000_000_000


def seed_samples(session: Session, fiscal_year: int, organizer_unit_code: str = "CM-THOIBINH",
                 communes: list[str] | None = None, *, province_code: str = DEFAULT_PROVINCE) -> dict:
    """Load the clearly labelled sample norms (missing items only) and ample sample budget lines (idempotent).

    Lines: state ĐT-BD for each commune and the province (CM), and the regular budget of each commune, for the
    fiscal years 2025–2030 and `fiscal_year`.
    """
    added = {"norms": 0, "budget_lines": 0}
    province = province_code
    for item, unit, tier, amount, (start, end) in SAMPLE_NORMS:
        data = {"item": item, "unit": unit, "lecturer_tier": tier, "province_code": province, "amount": amount,
                "valid_from": start, "valid_to": end, "is_sample": True,
                "legal_basis": f"{SAMPLE_BASES[start]} – {SAMPLE_BASIS}"[:300]}
        if not _overlapping(session, data):
            session.add(CostNorm(id=str(uuid.uuid4()), **data))
            session.flush()
            added["norms"] += 1
    units = sorted(set(COMMUNES) | set(communes or []) | {organizer_unit_code})
    wanted = [("state_dtbd", u, SAMPLE_STATE_DTBD) for u in units + [province]] + \
        [("unit_regular", u, SAMPLE_UNIT_REGULAR) for u in units]
    years = sorted(set(SEED_YEARS) | {fiscal_year})
    have = {(b.fiscal_year, b.source, b.owner_unit_code) for b in session.scalars(
        sa.select(BudgetLine).where(BudgetLine.fiscal_year.in_(years)))}
    for year in years:
        for source, owner, amount in wanted:
            if (year, source, owner) not in have:
                create_budget_line(session, {"fiscal_year": year, "source": source, "owner_unit_code": owner,
                                             "allocated": amount, "decision_no": f"MẪU-{year}/QĐ-UBND",
                                             "decision_date": date(year, 1, 5)})
                added["budget_lines"] += 1
    return added
