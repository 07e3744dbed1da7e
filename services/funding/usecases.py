"""Use cases of the funding service: each takes a session inside the caller's transaction."""
from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding import domain
from services.funding.models import OUTBOX, BudgetLine, CostNorm, LedgerEntry, Settlement, SettlementLine
from services.funding.settings import province_code
from shared.db import insert_ignoring_conflicts, utcnow
from shared.errors import DomainError, NotFound
from shared.events import Envelope
from shared.logs import get_correlation_id

SAMPLE_BASIS = "MẪU – giá trị minh họa, không phải định mức của tỉnh Cà Mau; nạp định mức thật trước khi dùng"


def budget_account(line_id: str) -> str:
    return f"budget:{line_id}"


def _post(session: Session, entries: list[tuple[str, int, int]], *, cause: str, memo: str,
          course_id: str | None = None) -> str:
    """Append one balanced journal (account, debit, credit) to the ledger; return its id."""
    if sum(d for _, d, _ in entries) != sum(c for _, _, c in entries):
        raise ValueError("unbalanced journal")
    journal_id, now = str(uuid.uuid4()), utcnow()
    session.execute(sa.insert(LedgerEntry), [
        {"journal_id": journal_id, "account": a, "debit": d, "credit": c, "course_id": course_id, "cause": cause,
         "memo": memo, "created_at": now} for a, d, c in entries])
    return journal_id


def _request_cause() -> str:
    return f"request:{get_correlation_id() or 'cli'}"


# --- budget lines ----------------------------------------------------------------------------------------------

def create_budget_line(session: Session, data: dict) -> BudgetLine:
    """Open a budget line with its allocation decision, posting the allocation to the ledger."""
    exists = session.scalar(sa.select(BudgetLine.id).where(
        BudgetLine.fiscal_year == data["fiscal_year"], BudgetLine.source == data["source"],
        BudgetLine.owner_unit_code == data["owner_unit_code"]))
    if exists:
        raise DomainError("Dòng ngân sách cho năm, nguồn và đơn vị này đã có.", field="owner_unit_code")
    line = BudgetLine(id=str(uuid.uuid4()), created_at=utcnow(), **data)
    session.add(line)
    _post(session, [(budget_account(line.id), line.allocated, 0),
                    (f"appropriation:{line.source}:{line.fiscal_year}", 0, line.allocated)],
          cause=_request_cause(), memo=f"Giao dự toán theo {line.decision_no}")
    return line


def line_balances(session: Session, line_ids: list[str]) -> dict[str, dict[str, int]]:
    """Compute allocated, spent and balance of budget lines from the ledger entries alone."""
    accounts = {budget_account(i): i for i in line_ids}
    rows = session.execute(sa.select(LedgerEntry.account, sa.func.sum(LedgerEntry.debit),
                                     sa.func.sum(LedgerEntry.credit))
                           .where(LedgerEntry.account.in_(accounts)).group_by(LedgerEntry.account))
    out = {i: {"allocated": 0, "spent": 0, "balance": 0} for i in line_ids}
    for account, debit, credit in rows:
        debit, credit = int(debit or 0), int(credit or 0)
        out[accounts[account]] = {"allocated": debit, "spent": credit, "balance": debit - credit}
    return out


def list_budget_lines(session: Session, fiscal_year: int | None) -> list[dict]:
    stmt = sa.select(BudgetLine).order_by(BudgetLine.fiscal_year, BudgetLine.source, BudgetLine.owner_unit_code)
    if fiscal_year:
        stmt = stmt.where(BudgetLine.fiscal_year == fiscal_year)
    lines = list(session.scalars(stmt))
    balances = line_balances(session, [x.id for x in lines])
    return [{**{c: getattr(x, c) for c in ("id", "fiscal_year", "source", "owner_unit_code", "decision_no",
                                            "decision_date")},
             "source_label": domain.SOURCE_LABELS[x.source], **balances[x.id]} for x in lines]


# --- cost norms ------------------------------------------------------------------------------------------------

def create_norm(session: Session, data: dict) -> CostNorm:
    """Add a cost norm version; refuse one overlapping another version of the same item, tier and province."""
    t = CostNorm
    far = date(9999, 12, 31)
    overlap = session.scalar(sa.select(t.id).where(
        t.item == data["item"], t.province_code == data["province_code"],
        t.lecturer_tier.is_(None) if data.get("lecturer_tier") is None else t.lecturer_tier == data["lecturer_tier"],
        t.valid_from <= (data.get("valid_to") or far), sa.func.coalesce(t.valid_to, far) >= data["valid_from"]))
    if overlap:
        raise DomainError("Định mức trùng thời gian hiệu lực với một phiên bản khác.", field="valid_from")
    norm = CostNorm(id=str(uuid.uuid4()), **data)
    session.add(norm)
    return norm


def list_norms(session: Session, item: str | None = None, on: date | None = None) -> list[CostNorm]:
    stmt = sa.select(CostNorm).order_by(CostNorm.item, CostNorm.lecturer_tier, CostNorm.valid_from)
    if item:
        stmt = stmt.where(CostNorm.item == item)
    if on:
        stmt = stmt.where(CostNorm.valid_from <= on, sa.or_(CostNorm.valid_to.is_(None), CostNorm.valid_to >= on))
    return list(session.scalars(stmt))


def _domain_norms(session: Session) -> list[domain.Norm]:
    return [domain.Norm(n.id, n.item, n.unit, n.amount, n.valid_from, n.valid_to, n.lecturer_tier)
            for n in session.scalars(sa.select(CostNorm).where(CostNorm.province_code == province_code()))]


# --- settlement ------------------------------------------------------------------------------------------------

def settle_course(session: Session, envelope: Envelope) -> Settlement | None:
    """Settle a completed course from actual attendance, post the ledger, publish funding.course_settled.

    Exactly once: the inbox drops a redelivered event, and the unique course_id drops a second settlement
    of the same course arriving under another event id (returns None then).
    """
    course = envelope.payload
    lines = domain.settlement_lines(course, _domain_norms(session))
    sums = domain.totals(lines)
    settlement_id, now = str(uuid.uuid4()), utcnow()
    created = session.scalar(insert_ignoring_conflicts(session, Settlement.__table__).values(
        id=settlement_id, course_id=course["course_id"], course_code=course["code"], source_event_id=envelope.id,
        settled_at=now, lecturer_fees=sums["lecturer_fee"], learner_support=sums["learner_support"],
        total=sums["total"]).returning(Settlement.id))
    if created is None:
        return None
    fiscal_year = course["start_date"].year
    budget = {(b.source, b.owner_unit_code): b.id for b in session.scalars(
        sa.select(BudgetLine).where(BudgetLine.fiscal_year == fiscal_year))}
    rows, journal = [], []
    for seq, line in enumerate(lines):
        line_id = budget.get((line.source, line.owner_unit_code))
        rows.append({"id": str(uuid.uuid4()), "settlement_id": settlement_id, "seq": seq, "item": line.item,
                     "payee_kind": line.payee_kind, "payee_ref": line.payee_ref, "source": line.source,
                     "owner_unit_code": line.owner_unit_code, "quantity": line.quantity,
                     "unit_amount": line.unit_amount, "amount": line.amount, "norm_id": line.norm_id,
                     "budget_line_id": line_id})
        # A line with no budget line is owed all the same: it is booked to an "unfunded" account to be covered.
        credit_account = budget_account(line_id) if line_id else \
            f"unfunded:{line.source}:{line.owner_unit_code}:{fiscal_year}"
        journal += [(f"expense:{line.item}", line.amount, 0), (credit_account, 0, line.amount)]
    if rows:
        session.execute(sa.insert(SettlementLine), rows)
        _post(session, journal, cause=f"event:{envelope.id}", memo=f"Quyết toán lớp {course['code']}",
              course_id=course["course_id"])
    OUTBOX.emit(session, "funding.course_settled", {
        "course_id": course["course_id"], "settlement_id": settlement_id, "lecturer_fees": sums["lecturer_fee"],
        "learner_support": sums["learner_support"], "total_amount": sums["total"], "settled_at": now,
    }, cause=envelope)
    return session.get(Settlement, settlement_id)


def get_settlement(session: Session, course_id: str) -> Settlement:
    s = session.scalar(sa.select(Settlement).where(Settlement.course_id == course_id))
    if s is None:
        raise NotFound("Lớp học chưa được quyết toán.", field="course_id")
    return s


def ledger(session: Session, course_id: str | None = None, account: str | None = None,
           limit: int = 500) -> list[LedgerEntry]:
    stmt = sa.select(LedgerEntry).order_by(LedgerEntry.seq).limit(limit)
    if course_id:
        stmt = stmt.where(LedgerEntry.course_id == course_id)
    if account:
        stmt = stmt.where(LedgerEntry.account == account)
    return list(session.scalars(stmt))


# --- sample data -----------------------------------------------------------------------------------------------

SAMPLE_NORMS = [
    # (item, unit, tier, amount, valid_from, valid_to) — SAMPLE values, shaped like Quảng Nam NQ 52/2018's tiers
    ("lecturer_fee", "per_buoi", 1, 2_000_000, date(2018, 1, 1), date(2025, 10, 27)),
    ("lecturer_fee", "per_buoi", 2, 1_800_000, date(2018, 1, 1), date(2025, 10, 27)),
    ("lecturer_fee", "per_buoi", 3, 1_400_000, date(2018, 1, 1), date(2025, 10, 27)),
    ("lecturer_fee", "per_buoi", 4, 1_000_000, date(2018, 1, 1), date(2025, 10, 27)),
    ("lecturer_fee", "per_buoi", 5, 600_000, date(2018, 1, 1), date(2025, 10, 27)),
    ("lecturer_fee", "per_buoi", 1, 2_200_000, date(2025, 10, 28), None),
    ("lecturer_fee", "per_buoi", 2, 2_000_000, date(2025, 10, 28), None),
    ("lecturer_fee", "per_buoi", 3, 1_600_000, date(2025, 10, 28), None),
    ("lecturer_fee", "per_buoi", 4, 1_100_000, date(2025, 10, 28), None),
    ("lecturer_fee", "per_buoi", 5, 700_000, date(2025, 10, 28), None),
    ("learner_support", "per_day", None, 100_000, date(2018, 1, 1), date(2025, 10, 27)),
    ("learner_support", "per_day", None, 150_000, date(2025, 10, 28), None),
]
SAMPLE_BASES = {date(2018, 1, 1): "TT 36/2018/TT-BTC", date(2025, 10, 28): "TT 100/2025/TT-BTC"}


def seed_samples(session: Session, fiscal_year: int, organizer_unit_code: str, communes: list[str]) -> dict:
    """Load the clearly labelled sample norms and sample budget lines for one fiscal year (skips what exists)."""
    added = {"norms": 0, "budget_lines": 0}
    if not session.scalar(sa.select(sa.func.count()).select_from(CostNorm).where(CostNorm.is_sample.is_(True))):
        for item, unit, tier, amount, start, end in SAMPLE_NORMS:
            create_norm(session, {"item": item, "unit": unit, "lecturer_tier": tier, "province_code": province_code(),
                                  "amount": amount, "valid_from": start, "valid_to": end, "is_sample": True,
                                  "legal_basis": f"{SAMPLE_BASES[start]} – {SAMPLE_BASIS}"})
            added["norms"] += 1
    wanted = [("dtbd_state", organizer_unit_code, 500_000_000)] + [("unit_regular", c, 100_000_000) for c in communes]
    have = {(b.source, b.owner_unit_code) for b in session.scalars(
        sa.select(BudgetLine).where(BudgetLine.fiscal_year == fiscal_year))}
    for source, owner, amount in wanted:
        if (source, owner) not in have:
            create_budget_line(session, {"fiscal_year": fiscal_year, "source": source, "owner_unit_code": owner,
                                         "allocated": amount, "decision_no": f"MẪU-{fiscal_year}/QĐ-UBND",
                                         "decision_date": date(fiscal_year, 1, 5)})
            added["budget_lines"] += 1
    return added
