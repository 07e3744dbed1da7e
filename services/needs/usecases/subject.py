"""needs' part of the data-subject report (issue 14, shared/subject_report.py): the registry entry, contacts, survey
answers and assessments (a closed campaign's levels in the competency record are computed from these, not stored
again), competency records (evaluation's levels), needs, plan candidacies, the messages sent to or about them, and who accessed the
person's record. Credentials (link tokens, hashes) are left out by shared.subject_report."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs.models import (ACCESS_LOG, Assessment, CivilServant, CompetencyRecord, Contact, Delivery, Need,
                                   NeedReasonSet, PlanCandidate, SurveyResponse)
from shared.subject_report import Section, collect

SECTIONS = (
    Section("civil_servant", CivilServant.__table__, column="id"),
    Section("contacts", Contact.__table__),
    Section("survey_responses", SurveyResponse.__table__),
    Section("assessments", Assessment.__table__),
    Section("competency_records", CompetencyRecord.__table__),
    Section("needs", Need.__table__),
    Section("plan_candidates", PlanCandidate.__table__),
    # the payload carries the message's link (a trainee's token): kind, channel, status and times are reported
    Section("deliveries", Delivery.__table__, column="recipient_id", omit=("payload",)),
    Section("deliveries_about", Delivery.__table__, column="subject_id", omit=("payload",)),
    Section("access_log", ACCESS_LOG, column="record_id"),
)


def subject_part(session: Session, civil_servant_id: str) -> dict[str, list[dict]]:
    """Every row needs holds about the person, by section; each need with its priority reasons (stored once per
    set, in need_reason_sets) in place of the set's id."""
    out = collect(session, civil_servant_id, SECTIONS)
    ids = {row["reason_set_id"] for row in out["needs"]}
    sets = dict(session.execute(sa.select(NeedReasonSet.id, NeedReasonSet.reasons)
                                .where(NeedReasonSet.id.in_(sorted(ids)))).all()) if ids else {}
    for row in out["needs"]:
        row["reasons"] = sets.get(row.pop("reason_set_id"), [])
    return out


def person_exists(session: Session, civil_servant_id: str) -> bool:
    """Whether the registry knows the person (the report is about a registered civil servant)."""
    return session.get(CivilServant, civil_servant_id) is not None
