"""Yearly training plans: draft (from the open needs), lines, targets, submit / approve / return, read model."""
from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import domain, events
from services.needs.domain import SCHEME_CODE
from services.needs.models import OUTBOX, CivilServant, Need, Plan, PlanCandidate, PlanLine, PlanTarget, Position
from services.needs.usecases.units import _commune_map
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import utcnow

def _plan(session: Session, plan_id: str) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("Không tìm thấy kế hoạch.", field="plan_id")
    return plan


def create_plan(session: Session, data: dict, now: datetime | None = None) -> dict:
    """Draft a yearly plan; with from_needs, lines topic × commune × position are drafted from the open needs.
    Returns the plan's read model (get_plan)."""
    if not 2025 <= data["year"] <= 2030:
        raise Invalid("Năm kế hoạch phải trong giai đoạn đề án 2025–2030.", field="year")
    plan = Plan(id=str(uuid.uuid4()), year=data["year"], scheme_code=SCHEME_CODE, title=data["title"],
                status="draft", created_at=now or utcnow())
    session.add(plan)
    session.flush()
    if data.get("from_needs", True):
        stmt = sa.select(Need).where(Need.status == "open", Need.priority_score >= data.get("min_priority", 0))
        if data.get("commune_codes"):
            stmt = stmt.where(Need.commune_code.in_(data["commune_codes"]))
        if data.get("topic_codes"):
            stmt = stmt.where(Need.topic_code.in_(data["topic_codes"]))
        # A need already in another plan's line is not drafted again.
        stmt = stmt.where(Need.plan_line_id.is_(None))
        needs = [domain.OpenNeed(n.id, n.civil_servant_id, n.topic_code, n.competency_code, n.commune_code,
                                 n.position_code, n.priority_score) for n in session.scalars(stmt)]
        for line in domain.draft_lines(needs, class_size=data.get("class_size", 40),
                                       by_position=data.get("by_position", False)):
            _add_line(session, plan, line.topic_code, line.competency_codes, line.commune_code, line.position_code,
                      line.quarter, line.candidates)
    _check_targets(session, data.get("targets", []))
    session.add_all([PlanTarget(plan_id=plan.id, commune_code=t["commune_code"], target_share=t["target_share"])
                     for t in data.get("targets", [])])
    session.flush()
    return get_plan(session, plan.id)


def _check_targets(session: Session, targets: list[dict]) -> None:
    """A target is set once per commune in force today."""
    communes = set(_commune_map(session).values())
    seen = set()
    for t in targets:
        if t["commune_code"] not in communes:
            raise Invalid(f"Không phải xã đang có hiệu lực: {t['commune_code']}.", field="targets")
        if t["commune_code"] in seen:
            raise Invalid(f"Xã {t['commune_code']} có hai chỉ tiêu.", field="targets")
        seen.add(t["commune_code"])


def _add_line(session, plan, topic_code, competency_codes, commune_code, position_code, quarter, candidates,
              headcount=None) -> PlanLine:
    line = PlanLine(id=str(uuid.uuid4()), plan_id=plan.id, topic_code=topic_code, competency_codes=competency_codes,
                    unit_code=commune_code, position_code=position_code,
                    headcount=len(candidates) if headcount is None else headcount, quarter=quarter)
    session.add(line)
    session.flush()
    for c in candidates:
        session.add(PlanCandidate(line_id=line.id, civil_servant_id=c["civil_servant_id"],
                                  commune_code=c["commune_code"], priority_score=c["priority_score"],
                                  need_ids=list(c["need_ids"])))
    if candidates:
        need_ids = [n for c in candidates for n in c["need_ids"]]
        for start in range(0, len(need_ids), 500):
            session.execute(sa.update(Need).where(Need.id.in_(need_ids[start:start + 500]))
                            .values(plan_line_id=line.id))
    return line


def add_plan_line(session: Session, plan_id: str, data: dict) -> PlanLine:
    """Add a line by hand: topic × commune (× position), named civil servants and/or a head-count."""
    plan = _plan(session, plan_id)
    if plan.status != "draft":
        raise Conflict("Chỉ sửa được kế hoạch ở trạng thái dự thảo.", field="status")
    communes = _commune_map(session)
    if data["unit_code"] not in set(communes.values()):
        raise Invalid("Không phải xã đang có hiệu lực.", field="unit_code")
    if data.get("position_code") and session.get(Position, data["position_code"]) is None:
        raise Invalid("Vị trí việc làm không có trong danh mục.", field="position_code")
    ids = data.get("civil_servant_ids", [])
    if len(set(ids)) != len(ids):
        raise Invalid("Một công chức được kê hai lần.", field="civil_servant_ids")
    candidates = []
    for cs_id in ids:
        cs = session.get(CivilServant, cs_id)
        if cs is None or cs.employment_status == "left":
            raise Invalid(f"Không tìm thấy công chức đang làm việc «{cs_id}».", field="civil_servant_ids")
        needs = list(session.scalars(sa.select(Need).where(Need.civil_servant_id == cs_id,
                                                           Need.topic_code == data["topic_code"],
                                                           Need.status == "open",
                                                           Need.plan_line_id.is_(None))))  # not in another plan
        candidates.append({"civil_servant_id": cs_id, "commune_code": communes[cs.unit_code],
                           "priority_score": max((n.priority_score for n in needs), default=0.0),
                           "need_ids": [n.id for n in needs]})
    headcount = max(data.get("headcount") or 0, len(candidates))
    if headcount == 0:
        raise Invalid("Dòng kế hoạch phải có số lượng hoặc danh sách công chức.", field="headcount")
    return _add_line(session, plan, data["topic_code"], data.get("competency_codes", []), data["unit_code"],
                     data.get("position_code"), data.get("quarter"), candidates, headcount)


def delete_plan(session: Session, plan_id: str) -> None:
    """Discard a draft plan; the needs its lines held become free for another plan."""
    plan = _plan(session, plan_id)
    if plan.status != "draft":
        raise Conflict("Chỉ xóa được kế hoạch ở trạng thái dự thảo.", field="status")
    lines = sa.select(PlanLine.id).where(PlanLine.plan_id == plan_id)
    session.execute(sa.update(Need).where(Need.plan_line_id.in_(lines), Need.status == "open")
                    .values(plan_line_id=None))
    session.execute(sa.delete(PlanCandidate).where(PlanCandidate.line_id.in_(lines)))
    session.execute(sa.delete(PlanLine).where(PlanLine.plan_id == plan_id))
    session.execute(sa.delete(PlanTarget).where(PlanTarget.plan_id == plan_id))
    session.delete(plan)
    session.flush()


def set_plan_targets(session: Session, plan_id: str, targets: list[dict]) -> dict:
    """Set the per-commune targets (share of active civil servants trained) of a draft plan; return its read
    model (get_plan)."""
    plan = _plan(session, plan_id)
    if plan.status != "draft":
        raise Conflict("Chỉ sửa được kế hoạch ở trạng thái dự thảo.", field="status")
    _check_targets(session, targets)
    session.execute(sa.delete(PlanTarget).where(PlanTarget.plan_id == plan_id))
    session.add_all([PlanTarget(plan_id=plan_id, commune_code=t["commune_code"], target_share=t["target_share"])
                     for t in targets])
    session.flush()
    return get_plan(session, plan_id)


def _transition(session: Session, plan_id: str, action: str) -> tuple[Plan, list[PlanLine], str]:
    """The plan, its lines and the status `action` leads to (domain.PLAN_TRANSITIONS), else a Conflict."""
    plan = _plan(session, plan_id)
    try:
        target = domain.next_status(plan.status, action)
    except ValueError:
        raise Conflict(f"Kế hoạch đang ở trạng thái «{plan.status}», không thể thực hiện.", field="status") from None
    lines = list(session.scalars(sa.select(PlanLine).where(PlanLine.plan_id == plan_id).order_by(PlanLine.id)))
    return plan, lines, target


def submit_plan(session: Session, plan_id: str, now: datetime | None = None) -> Plan:
    """Submit a draft plan (with at least one line) for approval."""
    plan, lines, target = _transition(session, plan_id, "submit")
    if not lines:
        raise Conflict("Kế hoạch chưa có dòng nào.", field="lines")
    plan.status = target
    plan.submitted_at, plan.return_reason = now or utcnow(), None
    session.flush()
    return plan


def return_plan(session: Session, plan_id: str, data: dict | None = None) -> Plan:
    """Send a submitted plan back to draft with the reason."""
    plan, _, target = _transition(session, plan_id, "return")
    plan.status = target
    plan.return_reason = (data or {}).get("reason")
    session.flush()
    return plan


def approve_plan(session: Session, plan_id: str, data: dict | None = None, now: datetime | None = None) -> Plan:
    """Approve a submitted plan: its candidates' needs become planned (people who left since drafting drop out)
    and needs.plan_approved is published."""
    plan, lines, target = _transition(session, plan_id, "approve")
    plan.status = target
    now = now or utcnow()
    plan.approved_at, plan.decision_no = now, (data or {}).get("decision_no")
    candidates, left = defaultdict(list), defaultdict(int)
    gone = set(session.scalars(sa.select(CivilServant.id).where(CivilServant.employment_status == "left")))
    for c in session.scalars(sa.select(PlanCandidate).where(PlanCandidate.line_id.in_([ln.id for ln in lines]))):
        if c.civil_servant_id in gone:
            left[c.line_id] += 1  # left since drafting: no longer trained under this plan
            session.delete(c)
        else:
            candidates[c.line_id].append(c)
    for ln in lines:
        ln.headcount = max(len(candidates[ln.id]), ln.headcount - left[ln.id])
    need_ids = [n for cs in candidates.values() for c in cs for n in c.need_ids]
    for start in range(0, len(need_ids), 500):
        session.execute(sa.update(Need).where(Need.id.in_(need_ids[start:start + 500]), Need.status == "open")
                        .values(status="planned"))
    OUTBOX.emit(session, "needs.plan_approved", events.plan_approved(plan, lines, candidates, now))
    session.flush()
    return plan


def get_plan(session: Session, plan_id: str) -> dict:
    """Return a plan with its lines (and named candidates) and targets."""
    plan = _plan(session, plan_id)
    lines = list(session.scalars(sa.select(PlanLine).where(PlanLine.plan_id == plan_id)
                                 .order_by(PlanLine.quarter, PlanLine.topic_code, PlanLine.unit_code)))
    cands = defaultdict(list)
    for c in session.scalars(sa.select(PlanCandidate).where(PlanCandidate.line_id.in_([ln.id for ln in lines]))):
        cands[c.line_id].append(c)
    targets = list(session.scalars(sa.select(PlanTarget).where(PlanTarget.plan_id == plan_id)))
    return {"plan": plan, "targets": targets,
            "lines": [{"line": ln, "candidates": sorted(cands[ln.id], key=lambda c: -c.priority_score)}
                      for ln in lines]}


def list_plans(session: Session, year: int | None = None) -> list[Plan]:
    """Return plans, newest first."""
    stmt = sa.select(Plan).order_by(Plan.year.desc(), Plan.created_at.desc())
    if year:
        stmt = stmt.where(Plan.year == year)
    return list(session.scalars(stmt))
