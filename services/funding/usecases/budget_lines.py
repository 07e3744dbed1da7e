"""Budget lines: open one with its allocation decision, amend it, list it with balances from the ledger, verify the
kept totals against the ledger. Lines are locked in one order so no course overdraws one."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding import domain
from services.funding.models import BudgetAmendment, BudgetLine, LedgerEntry
from services.funding.usecases.ledger import post_journal, request_cause, trial_balance
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import utcnow


def _source(value: str) -> str:
    return domain.LEGACY_SOURCES.get(value, value)


def lock_lines(session: Session, ids) -> dict[str, BudgetLine]:
    """Lock budget lines in one consistent order (by id) for the rest of the transaction: no overdraw, no deadlock."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    stmt = sa.select(BudgetLine).where(BudgetLine.id.in_(ids)).order_by(BudgetLine.id).with_for_update()
    return {b.id: b for b in session.scalars(stmt.execution_options(populate_existing=True))}


def lock_lines_for(session: Session, keys: set[tuple[int, str, str]],
                   ids=()) -> tuple[dict[tuple[int, str, str], str], dict[str, BudgetLine]]:
    """Lock the budget lines of (fiscal year, source, owner unit) `keys` that exist and those of `ids`, in one
    statement and lock_lines' order (issue 16: reading the keys' ids, then locking them, were two round trips per
    batch); return (key → line id, line id → line)."""
    keys, ids = set(keys), sorted(set(ids))
    if not keys and not ids:
        return {}, {}
    t = BudgetLine.__table__
    wanted = []
    if keys:
        wanted.append(sa.tuple_(t.c.fiscal_year, t.c.source, t.c.owner_unit_code).in_(sorted(keys)))
    if ids:
        wanted.append(t.c.id.in_(ids))
    stmt = sa.select(BudgetLine).where(sa.or_(*wanted)).order_by(BudgetLine.id).with_for_update()
    lines = {b.id: b for b in session.scalars(stmt.execution_options(populate_existing=True))}
    by_key = {(b.fiscal_year, b.source, b.owner_unit_code): b.id for b in lines.values()}
    return {k: by_key[k] for k in keys if k in by_key}, lines


def free_balance(line: BudgetLine) -> int:
    return line.allocated - line.reserved - line.spent


def create_budget_line(session: Session, data: dict, now: datetime | None = None) -> dict:
    """Open a budget line with its allocation decision, posting the allocation to the ledger; return it with its
    balances (list_budget_lines' shape)."""
    now = now or utcnow()
    data = {**data, "source": _source(data["source"])}
    exists = session.scalar(sa.select(BudgetLine.id).where(
        BudgetLine.fiscal_year == data["fiscal_year"], BudgetLine.source == data["source"],
        BudgetLine.owner_unit_code == data["owner_unit_code"]))
    if exists:
        raise Conflict("Dòng ngân sách cho năm, nguồn và đơn vị này đã có.", field="owner_unit_code")
    line = BudgetLine(id=str(uuid.uuid4()), created_at=now, reserved=0, spent=0, **data)
    session.add(line)
    post_journal(session, [(domain.budget_account(line.id), line.allocated, 0),
                           (f"allocation:{line.id}", 0, line.allocated)],
          cause=request_cause(), memo=f"Giao dự toán theo {line.decision_no}", now=now)
    session.flush()
    return list_budget_lines(session, line_id=line.id)[0]


def amend_budget_line(session: Session, line_id: str, data: dict, now: datetime | None = None) -> BudgetAmendment:
    """Add (delta > 0) or withdraw (delta < 0) money by a decision; never below what is reserved and spent."""
    now = now or utcnow()
    line = lock_lines(session, [line_id]).get(line_id)
    if line is None:
        raise NotFound("Không tìm thấy dòng ngân sách.", field="budget_line_id")
    delta = data["delta"]
    if delta == 0:
        raise Invalid("Số điều chỉnh phải khác 0.", field="delta")
    if delta < 0 and -delta > free_balance(line):
        raise Conflict(f"Chỉ có thể giảm tối đa {domain.vnd(free_balance(line))} đồng (phần chưa giữ chỗ, chưa chi).",
                          field="delta")
    amendment = BudgetAmendment(id=str(uuid.uuid4()), budget_line_id=line.id, created_at=now, **data)
    session.add(amendment)
    line.allocated += delta
    up, down = max(delta, 0), max(-delta, 0)
    post_journal(session, [(domain.budget_account(line.id), up, down), (f"allocation:{line.id}", down, up)],
          cause=request_cause(), memo=f"Điều chỉnh dự toán theo {data['decision_no']}: {data['reason']}", now=now)
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


def verify_ledger(session: Session) -> dict:
    """Check every budget line's kept totals against the ledger and the trial balance; list the disagreements."""
    bad = verify_balances(session)
    tb = trial_balance(session)
    return {"consistent": not bad and tb["total_debit"] == tb["total_credit"], "inconsistent_lines": bad,
            "total_debit": tb["total_debit"], "total_credit": tb["total_credit"]}


def reverse_journal(session: Session, journal_id: str, reason: str) -> dict:
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
    lines = lock_lines(session, line_ids)
    for e in entries:
        if e.account.startswith("allocation:"):
            line = lines[e.account.split(":", 1)[1]]
            line.allocated -= e.credit - e.debit
            if free_balance(line) < 0:
                raise Conflict("Không thể đảo: dòng ngân sách sẽ âm (đã giữ chỗ hoặc đã chi).", field="journal_id")
    reversal = post_journal(session, [(e.account, e.credit, e.debit) for e in entries], cause=request_cause(),
                            memo=f"Đảo bút toán {journal_id}: {reason}", course_id=entries[0].course_id,
                            reverses=journal_id)
    return {"journal_id": reversal, "reverses": journal_id}
