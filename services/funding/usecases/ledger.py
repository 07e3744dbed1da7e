"""The append-only double-entry ledger: post a balanced journal, reverse an operator's journal, list entries, the
trial balance. Account names and the balanced-journal rule are in domain.py."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding import domain
from services.funding.models import LedgerEntry
from shared.db import bulk_insert, is_postgres
from shared.events import Envelope
from shared.localtime import utcnow
from shared.logs import get_correlation_id


def journal_rows(entries: list[tuple[str, int, int]], *, cause: str, memo: str, course_id: str | None = None,
                  reverses: str | None = None, now: datetime | None = None) -> list[dict]:
    """Rows of one balanced journal (account, debit, credit); zero entries are dropped."""
    entries = domain.balanced_entries(entries)
    journal_id, now = str(uuid.uuid4()), now or utcnow()
    return [{"journal_id": journal_id, "account": a, "debit": d, "credit": c, "course_id": course_id,
             "cause": cause[:120], "memo": memo[:300], "created_at": now, "reverses": reverses}
            for a, d, c in entries]


def post_journal(session: Session, entries: list[tuple[str, int, int]], *, cause: str, memo: str,
          course_id: str | None = None, reverses: str | None = None, now: datetime | None = None) -> str | None:
    """Append one balanced journal to the ledger; return its id (None when every amount is zero)."""
    rows = journal_rows(entries, cause=cause, memo=memo, course_id=course_id, reverses=reverses, now=now)
    if not rows:
        return None
    session.execute(sa.insert(LedgerEntry), rows)
    return rows[0]["journal_id"]


def insert_ledger(session: Session, rows: list[dict]) -> None:
    if is_postgres(session):
        bulk_insert(session, LedgerEntry.__table__, rows)
    elif rows:
        session.execute(sa.insert(LedgerEntry), rows)


def request_cause() -> str:
    return f"request:{get_correlation_id() or 'cli'}"


def event_cause(envelope: Envelope) -> str:
    return f"event:{envelope.id}"


def list_ledger_entries(session: Session, course_id: str | None = None, account: str | None = None,
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
