"""The competency record and needs met: reactions to courses.course_completed and evaluation.course_evaluated.

A person's competency record is the history of their level per competency, from two sources: every closed survey
campaign's levels — their self and supervisor assessments combined by the rule the campaign froze when it was
closed, dated at its close — and the post-training levels evaluation reports (evaluation.course_evaluated, stored as
CompetencyRecord rows). The survey levels are read from the assessments, not copied: a national close would
otherwise append 1.49 million rows (40 % of its database time, bench-needs) that say nothing the assessments and
the campaign's rule do not already say.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import domain
from services.needs.domain import OPEN_STATUSES
from services.needs.models import Assessment, Campaign, CivilServant, CompetencyRecord, Need
from services.needs.usecases.frameworks import _requirements, current_framework
from services.needs.usecases.registry import get_civil_servant
from shared.localtime import utcnow


@dataclass(frozen=True)
class LevelRecord:
    """One entry of a competency record (a CompetencyRecord row or a closed campaign's combined level)."""
    civil_servant_id: str
    competency_code: str
    level: int
    source: str  # survey | evaluation
    source_ref: str  # the campaign or the course
    assessed_at: datetime
    order: int = 0  # the stored row's id: the order of entries with the same time


def survey_levels(session: Session, cs_id: str | None = None) -> list[LevelRecord]:
    """Every closed campaign's combined levels (of one person, or everyone), each by its campaign's frozen rule."""
    stmt = (sa.select(Assessment.civil_servant_id, Assessment.competency_code, Assessment.self_level,
                      Assessment.supervisor_level, Campaign.id, Campaign.combination, Campaign.closed_at)
            .join(Campaign, Campaign.id == Assessment.campaign_id).where(Campaign.status == "closed"))
    if cs_id is not None:
        stmt = stmt.where(Assessment.civil_servant_id == cs_id)
    rules: dict[str, domain.CombinationRule] = {}
    out = []
    for person, code, own, supervisor, campaign_id, combination, closed_at in session.execute(stmt):
        rule = rules.get(campaign_id) or rules.setdefault(campaign_id, domain.CombinationRule.from_data(combination))
        level = domain.combine(own, supervisor, rule)
        if level is not None:
            out.append(LevelRecord(person, code, level, "survey", campaign_id, closed_at))
    return out


def competency_history(session: Session, cs_id: str | None = None) -> list[LevelRecord]:
    """The competency record (of one person, or everyone) in the order it was made: by assessment time, a survey's
    levels before an evaluation's of the same time, stored rows by their id."""
    stmt = sa.select(CompetencyRecord)
    if cs_id is not None:
        stmt = stmt.where(CompetencyRecord.civil_servant_id == cs_id)
    stored = [LevelRecord(r.civil_servant_id, r.competency_code, r.level, r.source, r.source_ref, r.assessed_at, r.id)
              for r in session.scalars(stmt)]
    return sorted(survey_levels(session, cs_id) + stored,
                  key=lambda r: (r.assessed_at, r.source != "survey", r.order))


def competency_profile(session: Session, cs_id: str, within: frozenset[str] | None = None) -> dict:
    """Return a civil servant's current level per competency (the latest record) and the full history."""
    cs, commune = get_civil_servant(session, cs_id, within)
    history = competency_history(session, cs_id)
    current: dict[str, LevelRecord] = {}
    for rec in history:
        current[rec.competency_code] = rec  # ordered by assessment time: the last one wins
    fw = current_framework(session)
    required = _requirements(session, fw.id).get(cs.position_code, {})
    return {"civil_servant_id": cs.id, "commune_code": commune, "position_code": cs.position_code,
            "current": [{"competency_code": c, "level": r.level, "required_level": required.get(c),
                         "gap": domain.gap(required.get(c), r.level), "source": r.source, "assessed_at": r.assessed_at}
                        for c, r in sorted(current.items())],
            "history": history}


def record_assessed_levels(session: Session, envelope) -> int:
    """evaluation.course_evaluated: append the post-training levels to the competency record (and its history).

    History rows are append-only and ordered by the evaluation time, so an older evaluation arriving late never
    becomes the current level. An assessed level never marks a need met (domain.meets_training_need): only a
    certified completion does, so the arrival order of course_completed and course_evaluated does not matter.
    """
    payload = envelope.payload
    at = payload["evaluated_at"]
    at = at if isinstance(at, datetime) else datetime.fromisoformat(at)
    known = set(session.scalars(sa.select(CivilServant.id).where(
        CivilServant.id.in_({a["civil_servant_id"] for a in payload.get("assessed_levels", [])}))))
    # Second guard beside the inbox: the same evaluation re-published under a new event id adds no history twice.
    recorded = set(session.execute(sa.select(CompetencyRecord.civil_servant_id, CompetencyRecord.competency_code)
                                   .where(CompetencyRecord.source == "evaluation",
                                          CompetencyRecord.source_ref == payload["course_id"],
                                          CompetencyRecord.assessed_at == at)).all())
    added = 0
    for item in payload.get("assessed_levels", []):
        if item["civil_servant_id"] not in known:
            continue  # not a civil servant of this registry (e.g. a guest trainee)
        if (item["civil_servant_id"], item["competency_code"]) in recorded:
            continue
        recorded.add((item["civil_servant_id"], item["competency_code"]))
        session.add(CompetencyRecord(civil_servant_id=item["civil_servant_id"], competency_code=item["competency_code"],
                                     level=item["level"], source="evaluation", source_ref=payload["course_id"],
                                     assessed_at=at, recorded_at=utcnow()))
        added += 1
    session.flush()
    return added


def record_course_completed(session: Session, envelope) -> int:
    """courses.course_completed: a certified participant's matching needs become met (by need_ids, else the plan
    line the course came from, else its topic). The certified participants' open needs are read in one statement
    and matched here, not queried per participant (issue 16: one or two statements per trainee before)."""
    payload = envelope.payload
    by_course = payload.get("plan_line_id") or payload.get("topic_code")  # else only named need ids can match
    certified = [p for p in payload["participants"] if (by_course or p.get("need_ids")) and domain.meets_training_need(
        domain.Evidence.CERTIFIED_COMPLETION, completed=p["completed"], certified=p.get("certified"))]
    if not certified:
        return 0  # nothing to match: not even the read
    open_needs: dict[str, list[Need]] = defaultdict(list)
    for need in session.scalars(sa.select(Need).where(
            Need.civil_servant_id.in_({p["civil_servant_id"] for p in certified}), Need.status.in_(OPEN_STATUSES))
            .order_by(Need.civil_servant_id, Need.id)):
        open_needs[need.civil_servant_id].append(need)
    met, now = 0, utcnow()
    for p in certified:
        mine = [n for n in open_needs[p["civil_servant_id"]] if n.status in OPEN_STATUSES]  # not met just now
        if p.get("need_ids"):
            named = set(p["need_ids"])
            matching = [n for n in mine if n.id in named]
        else:
            # The plan line the course came from names the needs best; the topic is the fallback.
            matching = [n for n in mine if n.plan_line_id == payload["plan_line_id"]] \
                if payload.get("plan_line_id") else []
            if not matching and payload.get("topic_code"):
                matching = [n for n in mine if n.topic_code == payload["topic_code"]]
        for need in matching:
            need.status, need.met_at, need.met_by = "met", now, payload["course_id"]
            met += 1
    session.flush()
    return met
