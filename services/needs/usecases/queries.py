"""Read models of the needs service: needs lists, roll-ups, below-standard lists, plan coverage; never writes."""
from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy import orm
from sqlalchemy.orm import Session

from services.needs import domain
from services.needs.domain import OPEN_STATUSES
from services.needs.formats import ROLLUP_KEYS
from services.needs.models import CivilServant, Need, PlanLine, PlanTarget, Position
from services.needs.usecases.campaigns import _person
from services.needs.usecases.frameworks import _requirements, current_framework
from services.needs.usecases.plans import _plan
from services.needs.usecases.records import competency_history
from services.needs.usecases.rules import _standards
from services.needs.usecases.units import _commune_map
from shared.db import is_postgres

def list_needs(session: Session, *, civil_servant_id=None, commune_code=None, unit_code=None, topic_code=None,
               position_code=None, status=None, kind=None, page: int = 1,
               page_size: int = 50, within: frozenset[str] | None = None) -> dict:
    """Return one page of needs, highest priority first, with the total (`within`: the caller's units only)."""
    stmt = sa.select(Need)
    if within is not None:
        stmt = stmt.where(Need.unit_code.in_(sorted(within)))
    for column, value in ((Need.civil_servant_id, civil_servant_id), (Need.commune_code, commune_code),
                          (Need.unit_code, unit_code),
                          (Need.topic_code, topic_code), (Need.position_code, position_code),
                          (Need.status, status), (Need.kind, kind)):
        if value:
            stmt = stmt.where(column == value)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = list(session.scalars(stmt.order_by(Need.priority_score.desc(), Need.id)
                                .offset((page - 1) * page_size).limit(page_size)
                                .options(orm.selectinload(Need.reason_set))))  # the page's reasons, one query
    return {"total": total, "page": page, "page_size": page_size, "items": rows}




def needs_rollup(session: Session, *, group_by: list[str], province_code=None, commune_code=None, topic_code=None,
                 unit_code=None, statuses: tuple[str, ...] = OPEN_STATUSES) -> list[dict]:
    """Aggregate needs by any of topic / commune / former unit / position / province: counts, mandatory, priority."""
    keys = [k for k in ROLLUP_KEYS if k in group_by] or ["topic_code"]
    cols = [getattr(Need, k) for k in keys]
    stmt = sa.select(*cols, sa.func.count().label("needs"),
                     sa.func.sum(sa.case((Need.kind == "standard", 1), else_=0)).label("mandatory"),
                     sa.func.sum(sa.case((Need.status == "planned", 1), else_=0)).label("planned"),
                     sa.func.avg(Need.priority_score).label("mean_priority"),
                     sa.func.max(Need.priority_score).label("max_priority")).group_by(*cols).order_by(*cols)
    stmt = stmt.where(Need.status.in_(statuses))
    if province_code:
        stmt = stmt.where(Need.province_code == province_code)
    if commune_code:
        stmt = stmt.where(Need.commune_code == commune_code)
    if topic_code:
        stmt = stmt.where(Need.topic_code == topic_code)
    if unit_code:
        stmt = stmt.where(Need.unit_code == unit_code)
    if is_postgres(session):
        # A country-wide roll-up groups ~10⁶ needs: give the hash aggregate room instead of spilling to disk.
        session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
    names = (*keys, "needs", "mandatory", "planned", "mean_priority", "max_priority")
    n = len(keys)
    return [dict(zip(names, (*r[:n], r[n], int(r[n + 1] or 0), int(r[n + 2] or 0), round(float(r[n + 3] or 0), 2),
                             float(r[n + 4] or 0)))) for r in session.execute(stmt)]


def below_standard(session: Session, commune_code: str | None = None, unit_code: str | None = None,
                   within: frozenset[str] | None = None, format: str | None = None) -> list[dict]:  # noqa: A002
    """Civil servants not meeting their position's standard: unmet qualifications and competencies below required
    (`within`: of the caller's units only; `format`: the answer's, written by the caller, not read here)."""
    standards = _standards(session)
    fw = current_framework(session)
    required = _requirements(session, fw.id)
    leadership = {p.code: p.leadership for p in session.scalars(sa.select(Position))}
    communes = _commune_map(session)
    current: dict[str, dict[str, tuple]] = defaultdict(dict)
    for rec in competency_history(session):
        current[rec.civil_servant_id][rec.competency_code] = rec.level
    out = []
    people = sa.select(CivilServant).where(CivilServant.employment_status != "left").order_by(CivilServant.code)
    if unit_code:
        people = people.where(CivilServant.unit_code == unit_code)
    if within is not None:
        people = people.where(CivilServant.unit_code.in_(sorted(within)))
    for cs in session.scalars(people):
        commune = communes[cs.unit_code]
        if commune_code and commune != commune_code:
            continue
        unmet = domain.unmet_standards(_person(cs, leadership), standards)
        below = [c for c, lvl in sorted(required.get(cs.position_code, {}).items())
                 if (have := current[cs.id].get(c)) is not None and have < lvl]
        if unmet or below:
            out.append({"civil_servant_id": cs.id, "code": cs.code, "full_name": cs.full_name,
                        "unit_code": cs.unit_code, "commune_code": commune, "position_code": cs.position_code,
                        "unmet_standards": ", ".join(u.rule.code for u in unmet),
                        "deadline": min((u.deadline for u in unmet if u.deadline), default=None),
                        "competencies_below": ", ".join(below)})
    return out


def plan_coverage(session: Session, plan_id: str) -> list[dict]:
    """Coverage per commune: planned head-count vs people trained (needs of the plan met) vs the target share."""
    plan = _plan(session, plan_id)
    communes = _commune_map(session)
    active: dict[str, int] = defaultdict(int)
    for unit, n in session.execute(sa.select(CivilServant.unit_code, sa.func.count())
                                   .where(CivilServant.employment_status == "active").group_by(CivilServant.unit_code)):
        active[communes[unit]] += n
    planned: dict[str, int] = defaultdict(int)
    line_ids = []
    for line in session.scalars(sa.select(PlanLine).where(PlanLine.plan_id == plan.id)):
        planned[line.unit_code] += line.headcount
        line_ids.append(line.id)
    trained: dict[str, int] = defaultdict(int)
    if line_ids:
        for commune, n in session.execute(
                sa.select(Need.commune_code, sa.func.count(sa.distinct(Need.civil_servant_id)))
                .where(Need.plan_line_id.in_(line_ids), Need.status == "met").group_by(Need.commune_code)):
            trained[commune] += n
    targets = {t.commune_code: t.target_share for t in
               session.scalars(sa.select(PlanTarget).where(PlanTarget.plan_id == plan.id))}
    codes = sorted(set(planned) | set(targets) | {c for c in trained})
    return [{"commune_code": c, **domain.coverage(active.get(c, 0), planned.get(c, 0), trained.get(c, 0),
                                                  targets.get(c))} for c in codes]
