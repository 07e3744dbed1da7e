"""Tables owned by the funding service. Money is whole VND in BIGINT columns."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.access_log import access_log_table
from shared.console_ops import console_tables
from shared.db import UTCDateTime, messaging_tables
from shared.outbox import Outbox


class Base(DeclarativeBase):
    pass


OUTBOX_TABLE, INBOX_TABLE = messaging_tables(Base.metadata)
CONSOLE_TABLES = console_tables(Base.metadata)  # the operations console's tracked operations (shared.console_ops)
ACCESS_LOG = access_log_table(Base.metadata)  # who read or wrote which record (shared.access_log, issue 14)
OUTBOX = Outbox("funding", OUTBOX_TABLE)


class BudgetLine(Base):
    __tablename__ = "budget_lines"
    __table_args__ = (sa.UniqueConstraint("fiscal_year", "source", "owner_unit_code"),)
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(sa.Integer)
    source: Mapped[str] = mapped_column(sa.String(20))
    owner_unit_code: Mapped[str] = mapped_column(sa.String(40))
    allocated: Mapped[int] = mapped_column(sa.BigInteger)  # original allocation + amendments
    # Kept in step with the ledger in the same transaction (checked by verify_balances):
    # balance = allocated − reserved − spent.
    reserved: Mapped[int] = mapped_column(sa.BigInteger, server_default="0", default=0)
    spent: Mapped[int] = mapped_column(sa.BigInteger, server_default="0", default=0)
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
    reservation_id: Mapped[str | None] = mapped_column(sa.String(36))
    estimate_total: Mapped[int | None] = mapped_column(sa.BigInteger)
    variance: Mapped[int | None] = mapped_column(sa.BigInteger)  # actual − estimate
    released: Mapped[int | None] = mapped_column(sa.BigInteger)
    unfunded: Mapped[int | None] = mapped_column(sa.BigInteger)
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
    cap_norm_id: Mapped[str | None] = mapped_column(sa.String(36))
    detail: Mapped[str | None] = mapped_column(sa.String(200))


class BudgetAmendment(Base):
    """A change to a line's allocation by a decision (positive adds money, negative withdraws it)."""

    __tablename__ = "budget_amendments"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    budget_line_id: Mapped[str] = mapped_column(sa.ForeignKey("budget_lines.id"), index=True)
    delta: Mapped[int] = mapped_column(sa.BigInteger)
    decision_no: Mapped[str] = mapped_column(sa.String(100))
    decision_date: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FundingCourse(Base):
    """What funding knows of a course: the latest schedule revision it acted on, and the venue."""

    __tablename__ = "funding_courses"
    course_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    # None while funding only knows the course from a cancellation that overtook its schedule
    code: Mapped[str | None] = mapped_column(sa.String(40))
    organizer_unit_code: Mapped[str | None] = mapped_column(sa.String(40))
    start_date: Mapped[date | None] = mapped_column(sa.Date)
    revision: Mapped[int] = mapped_column(sa.Integer)  # 0: no schedule revision seen yet
    status: Mapped[str] = mapped_column(sa.String(20))  # domain.COURSE_TRANSITIONS
    form: Mapped[str | None] = mapped_column(sa.String(20))
    venue_json: Mapped[str | None] = mapped_column(sa.Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CivilServantRef(Base):
    """A civil servant's staff code, to print on payee lists; funding keeps no names (they stay in needs)."""

    __tablename__ = "civil_servant_refs"
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40))
    commune_code: Mapped[str] = mapped_column(sa.String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Reservation(Base):
    """The estimate of one schedule revision, and the money it holds on budget lines while active."""

    __tablename__ = "reservations"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    revision: Mapped[int] = mapped_column(sa.Integer)
    fiscal_year: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[str] = mapped_column(sa.String(20))  # domain.RESERVATION_TRANSITIONS
    estimate_total: Mapped[int] = mapped_column(sa.BigInteger)
    reason: Mapped[str | None] = mapped_column(sa.String(1000))
    source_event_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lines: Mapped[list["ReservationLine"]] = relationship(order_by="ReservationLine.budget_line_id")
    estimate: Mapped[list["EstimateLine"]] = relationship(order_by="EstimateLine.seq")


class ReservationLine(Base):
    __tablename__ = "reservation_lines"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    reservation_id: Mapped[str] = mapped_column(sa.ForeignKey("reservations.id"), index=True)
    budget_line_id: Mapped[str] = mapped_column(sa.ForeignKey("budget_lines.id"))
    source: Mapped[str] = mapped_column(sa.String(20))
    owner_unit_code: Mapped[str] = mapped_column(sa.String(40))
    amount: Mapped[int] = mapped_column(sa.BigInteger)


class EstimateLine(Base):
    """One estimated cost line (planned trainees, full attendance), with the norm it used."""

    __tablename__ = "estimate_lines"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    reservation_id: Mapped[str] = mapped_column(sa.ForeignKey("reservations.id"), index=True)
    seq: Mapped[int] = mapped_column(sa.Integer)
    item: Mapped[str] = mapped_column(sa.String(40))
    payee_kind: Mapped[str] = mapped_column(sa.String(20))
    payee_ref: Mapped[str] = mapped_column(sa.String(40))
    source: Mapped[str] = mapped_column(sa.String(20))
    owner_unit_code: Mapped[str] = mapped_column(sa.String(40))
    quantity: Mapped[int] = mapped_column(sa.Integer)
    unit_amount: Mapped[int] = mapped_column(sa.BigInteger)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    norm_id: Mapped[str] = mapped_column(sa.String(36))
    cap_norm_id: Mapped[str | None] = mapped_column(sa.String(36))
    detail: Mapped[str | None] = mapped_column(sa.String(200))


class IncentivePayment(Base):
    """A reward to an excellent learner: at most one per course, learner and item."""

    __tablename__ = "incentive_payments"
    __table_args__ = (sa.UniqueConstraint("course_id", "civil_servant_id", "item"),)
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    course_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36))
    commune_code: Mapped[str] = mapped_column(sa.String(40))
    item: Mapped[str] = mapped_column(sa.String(40))
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    norm_id: Mapped[str] = mapped_column(sa.String(36))
    cap_norm_id: Mapped[str | None] = mapped_column(sa.String(36))
    source: Mapped[str] = mapped_column(sa.String(20))
    owner_unit_code: Mapped[str] = mapped_column(sa.String(40))
    budget_line_id: Mapped[str | None] = mapped_column(sa.ForeignKey("budget_lines.id"))
    fiscal_year: Mapped[int] = mapped_column(sa.Integer)
    source_event_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DegreeCommitment(Base):
    """A degree-training commitment to serve for a time after training (NĐ 171/2025: ≥ 3× the training time)."""

    __tablename__ = "degree_commitments"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    programme: Mapped[str] = mapped_column(sa.String(200))
    decision_no: Mapped[str] = mapped_column(sa.String(100))
    training_cost: Mapped[int] = mapped_column(sa.BigInteger)  # F, whole VND
    training_months: Mapped[int] = mapped_column(sa.Integer)
    committed_months: Mapped[int] = mapped_column(sa.Integer)  # T1
    multiplier_norm_id: Mapped[str | None] = mapped_column(sa.String(36))
    service_start: Mapped[date] = mapped_column(sa.Date)  # the day after training ended
    status: Mapped[str] = mapped_column(sa.String(20))  # domain.COMMITMENT_TRANSITIONS (open | repayable | waived | fulfilled)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Receivable(Base):
    """Money owed back by a civil servant who left before serving the committed time: S = F / T1 × (T1 − T2)."""

    __tablename__ = "receivables"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    commitment_id: Mapped[str] = mapped_column(sa.ForeignKey("degree_commitments.id"), unique=True)
    civil_servant_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    amount: Mapped[int] = mapped_column(sa.BigInteger)
    training_cost: Mapped[int] = mapped_column(sa.BigInteger)
    committed_months: Mapped[int] = mapped_column(sa.Integer)
    served_months: Mapped[int] = mapped_column(sa.Integer)
    left_on: Mapped[date] = mapped_column(sa.Date)
    reason: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20))  # domain.RECEIVABLE_TRANSITIONS
    source_event_id: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


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
    reverses: Mapped[str | None] = mapped_column(sa.String(36), index=True)  # the journal this one reverses
    memo: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Append-only in the database too, not only in the code: UPDATE and DELETE of an entry are refused, so a correction
# can only be a reversal journal (migration 0003 installs the same triggers).
LEDGER_APPEND_ONLY_MESSAGE = "ledger_entries is append-only: post a reversal journal"
APPEND_ONLY_DDL = {
    "postgresql": [
        "CREATE OR REPLACE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{LEDGER_APPEND_ONLY_MESSAGE}'; END $$",
        "CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries "
        "FOR EACH ROW EXECUTE FUNCTION ledger_append_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries "
        f"BEGIN SELECT RAISE(ABORT, '{LEDGER_APPEND_ONLY_MESSAGE}'); END",
        "CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries "
        f"BEGIN SELECT RAISE(ABORT, '{LEDGER_APPEND_ONLY_MESSAGE}'); END",
    ],
}
for _dialect, _statements in APPEND_ONLY_DDL.items():
    for _statement in _statements:
        sa.event.listen(LedgerEntry.__table__, "after_create", sa.DDL(_statement).execute_if(dialect=_dialect))
