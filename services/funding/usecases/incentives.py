"""Rewards for the learners an evaluation grades excellent, once per course, from the organiser's ĐT-BD line."""
from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.funding import domain
from services.funding.models import IncentivePayment
from services.funding.usecases.budget_lines import free_balance, lock_lines_for
from services.funding.usecases.ledger import event_cause, post_journal
from services.funding.usecases.reservations import lock_courses
from services.funding.usecases.rules import norms_of
from shared.events import Envelope
from shared.localtime import utcnow


def reward_excellent_learners(session: Session, envelope: Envelope, *, province_code: str,
                              now: datetime | None = None) -> int:
    """Reward each learner graded excellent, once per course, from the organiser's ĐT-BD line (capped by norm);
    the province's norms apply, and its line pays when the course's organiser is unknown."""
    now = now or utcnow()
    p = envelope.payload
    course_id = p["course_id"]
    course = lock_courses(session, [course_id], now)[course_id]
    if session.scalar(sa.select(sa.func.count()).select_from(IncentivePayment)
                      .where(IncentivePayment.course_id == course_id)):
        return 0
    learners = {x["civil_servant_id"]: x for x in p.get("excellent_learners", [])}
    if not learners:
        return 0
    day = course.start_date or p["evaluated_at"].date()
    amount, norm_id, cap_id = domain.reward_amount(norms_of(session, province_code), day)
    owner = course.organizer_unit_code or province_code
    year = day.year
    ids, lines = lock_lines_for(session, {(year, "state_dtbd", owner)})
    line = lines[ids[(year, "state_dtbd", owner)]] if ids else None
    total = amount * len(learners)
    funded = min(total, free_balance(line)) if line else 0
    entries = []
    if line:
        line.spent += funded
        entries += [(f"spent:{line.id}", funded, 0), (domain.budget_account(line.id), 0, funded)]
    if total > funded:
        entries += [(f"expense:unfunded:reward_excellent", total - funded, 0),
                    (domain.unfunded_account("state_dtbd", owner, year), 0, total - funded)]
    session.execute(sa.insert(IncentivePayment), [{
        "id": str(uuid.uuid4()), "course_id": course_id, "civil_servant_id": cs, "commune_code": x["commune_code"],
        "item": "reward_excellent", "amount": amount, "norm_id": norm_id, "cap_norm_id": cap_id,
        "source": "state_dtbd", "owner_unit_code": owner, "budget_line_id": line.id if line else None,
        "fiscal_year": year, "source_event_id": envelope.id, "created_at": now} for cs, x in sorted(learners.items())])
    post_journal(session, entries, cause=event_cause(envelope), course_id=course_id,
          memo=f"Khen thưởng {len(learners)} học viên xuất sắc lớp {course.code or course_id}", now=now)
    return len(learners)


def list_incentives(session: Session, course_id: str | None = None) -> list[IncentivePayment]:
    """Rewards paid, optionally for one course."""
    stmt = sa.select(IncentivePayment).order_by(IncentivePayment.created_at, IncentivePayment.civil_servant_id)
    if course_id:
        stmt = stmt.where(IncentivePayment.course_id == course_id)
    return list(session.scalars(stmt))
