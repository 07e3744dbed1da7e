"""funding's part of the data-subject report (issue 14, shared/subject_report.py): the person's reference record,
incentive payments, degree commitments, receivables, and who accessed the person's record."""
from __future__ import annotations

from sqlalchemy.orm import Session

from services.funding.models import ACCESS_LOG, CivilServantRef, DegreeCommitment, IncentivePayment, Receivable
from shared.subject_report import Section, collect

SECTIONS = (
    Section("civil_servant_ref", CivilServantRef.__table__),
    Section("incentive_payments", IncentivePayment.__table__),
    Section("degree_commitments", DegreeCommitment.__table__),
    Section("receivables", Receivable.__table__),
    Section("access_log", ACCESS_LOG, column="record_id"),
)


def subject_part(session: Session, civil_servant_id: str) -> dict[str, list[dict]]:
    """Every row funding holds about the person, by section."""
    return collect(session, civil_servant_id, SECTIONS)
