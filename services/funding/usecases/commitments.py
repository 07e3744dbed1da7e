"""Degree-training commitments (NĐ 101/2017, NĐ 171/2025) and the repayment receivables a leaver owes."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding import domain
from services.funding.models import CivilServantRef, DegreeCommitment, Receivable
from services.funding.usecases.ledger import event_cause, post_journal
from services.funding.usecases.rules import norms_of
from shared.errors import Invalid
from shared.events import Envelope
from shared.localtime import utcnow


def create_commitment(session: Session, data: dict, *, province_code: str,
                      now: datetime | None = None) -> DegreeCommitment:
    """Record a degree-training commitment of a civil servant funding knows from needs' registry events (an id it
    has never seen, "0" say, is refused: a receivable could never be opened for it); the committed time is at least
    the province's multiplier norm × the training time."""
    if session.get(CivilServantRef, data["civil_servant_id"]) is None:
        raise Invalid("Không tìm thấy công chức này trong danh sách (chưa đồng bộ từ phân hệ nhu cầu đào tạo).",
                      field="civil_servant_id")
    norms = norms_of(session, province_code)
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
        if p["reason"] not in domain.REPAYABLE_REASONS or amount == 0:
            c.status = domain.next_status(domain.COMMITMENT_TRANSITIONS, c.status, "waived" if amount else "fulfilled")
            continue
        c.status = domain.next_status(domain.COMMITMENT_TRANSITIONS, c.status, "repayable")
        r = Receivable(id=str(uuid.uuid4()), commitment_id=c.id, civil_servant_id=c.civil_servant_id, amount=amount,
                       training_cost=c.training_cost, committed_months=c.committed_months, served_months=served,
                       left_on=p["left_on"], reason=p["reason"], status="open", source_event_id=envelope.id,
                       created_at=now)
        session.add(r)
        post_journal(session, [(f"receivable:{c.id}", amount, 0), ("repayment_due:degree_training", 0, amount)],
              cause=event_cause(envelope), memo=f"Bồi hoàn chi phí đào tạo theo cam kết {c.decision_no}", now=now)
        out.append(r)
    return out


def list_receivables(session: Session, civil_servant_id: str | None = None) -> list[Receivable]:
    """Repayment receivables, optionally of one civil servant."""
    stmt = sa.select(Receivable).order_by(Receivable.created_at)
    if civil_servant_id:
        stmt = stmt.where(Receivable.civil_servant_id == civil_servant_id)
    return list(session.scalars(stmt))
