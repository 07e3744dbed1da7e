"""Tables owned by the funding service. Money is whole VND in BIGINT columns."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime, messaging_tables
from shared.outbox import Outbox


class Base(DeclarativeBase):
    pass


OUTBOX_TABLE, INBOX_TABLE = messaging_tables(Base.metadata)
OUTBOX = Outbox("funding", OUTBOX_TABLE)


class BudgetLine(Base):
    __tablename__ = "budget_lines"
    __table_args__ = (sa.UniqueConstraint("fiscal_year", "source", "owner_unit_code"),)
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(sa.Integer)
    source: Mapped[str] = mapped_column(sa.String(20))
    owner_unit_code: Mapped[str] = mapped_column(sa.String(40))
    allocated: Mapped[int] = mapped_column(sa.BigInteger)
    decision_no: Mapped[str] = mapped_column(sa.String(100))
    decision_date: Mapped[date] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CostNorm(Base):
    """A cost norm as versioned data: the one in force on the course's date is applied."""

    __tablename__ = "cost_norms"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    item: Mapped[str] = mapped_column(sa.String(40))
    unit: Mapped[str] = mapped_column(sa.String(20))  # per_buoi | per_day | per_km | per_person
    lecturer_tier: Mapped[int | None] = mapped_column(sa.Integer)
    province_code: Mapped[str] = mapped_column(sa.String(20))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    legal_basis: Mapped[str] = mapped_column(sa.String(300))
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)
    is_sample: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class Settlement(Base):
    """One per course: the unique course_id makes a second settlement impossible."""

    __tablename__ = "settlements"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.String(36), unique=True)
    course_code: Mapped[str] = mapped_column(sa.String(40))
    source_event_id: Mapped[str] = mapped_column(sa.String(64))
    settled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lecturer_fees: Mapped[int] = mapped_column(sa.BigInteger)
    learner_support: Mapped[int] = mapped_column(sa.BigInteger)
    total: Mapped[int] = mapped_column(sa.BigInteger)
    lines: Mapped[list["SettlementLine"]] = relationship(order_by="SettlementLine.seq")


class SettlementLine(Base):
    __tablename__ = "settlement_lines"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(sa.ForeignKey("settlements.id"), index=True)
    seq: Mapped[int] = mapped_column(sa.Integer)
    item: Mapped[str] = mapped_column(sa.String(40))
    payee_kind: Mapped[str] = mapped_column(sa.String(20))
    payee_ref: Mapped[str] = mapped_column(sa.String(36))
    source: Mapped[str] = mapped_column(sa.String(20))
    owner_unit_code: Mapped[str] = mapped_column(sa.String(40))
    quantity: Mapped[int] = mapped_column(sa.Integer)
    unit_amount: Mapped[int] = mapped_column(sa.BigInteger)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    norm_id: Mapped[str] = mapped_column(sa.ForeignKey("cost_norms.id"))
    budget_line_id: Mapped[str | None] = mapped_column(sa.ForeignKey("budget_lines.id"))


class LedgerEntry(Base):
    """Double-entry and append-only: each journal's debits equal its credits; corrections are reversals."""

    __tablename__ = "ledger_entries"
    seq: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    journal_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    account: Mapped[str] = mapped_column(sa.String(120), index=True)
    debit: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    credit: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    course_id: Mapped[str | None] = mapped_column(sa.String(36), index=True)
    cause: Mapped[str] = mapped_column(sa.String(120))  # "event:<id>" or "request:<correlation id>"
    memo: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
