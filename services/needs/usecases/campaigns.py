"""Survey campaigns: open, answer, progress (closing: usecases/closing.py)."""
from __future__ import annotations

import uuid
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import domain
from services.needs.models import JOBS_TABLE, Assessment, Campaign, CivilServant, FrameworkVersion, SurveyResponse
from services.needs.usecases.closing import CLOSE_KIND, _close_job_view, _close_rows
from services.needs.usecases.frameworks import _competency_topics, current_framework
from services.needs.usecases.scope import check_within
from services.needs.usecases.units import _commune_map, list_units
from shared.db import bulk_insert
from shared.errors import Conflict, Invalid, NotFound
from shared.localtime import local_today, utcnow


def open_campaign(session: Session, data: dict) -> Campaign:
    """Open a survey campaign over today's communes: every active civil servant there is expected to answer."""
    # The survey feeds the plan of `year`: it runs that year or the year before, never after the plan year ends.
    if not date(data["year"] - 1, 1, 1) <= data["deadline"] <= date(data["year"], 12, 31):
        raise Invalid(f"Hạn khảo sát phải trong năm {data['year'] - 1} hoặc {data['year']}.", field="deadline")
    communes = {c.code for c in list_units(session, local_today())}
    unknown = [c for c in data["unit_codes"] if c not in communes]
    if unknown:
        raise Invalid(f"Không phải xã đang có hiệu lực: {', '.join(unknown)}.", field="unit_codes")
    fw = session.get(FrameworkVersion, data["framework_id"]) if data.get("framework_id") else current_framework(session)
    if fw is None:
        raise Invalid("Không tìm thấy phiên bản khung năng lực.", field="framework_id")
    campaign = Campaign(id=str(uuid.uuid4()), year=data["year"], title=data["title"],
                        unit_codes=sorted(set(data["unit_codes"])), deadline=data["deadline"], framework_id=fw.id,
                        status="open", created_at=utcnow())
    session.add(campaign)
    session.flush()
    wanted = set(campaign.unit_codes)
    communes_of = _commune_map(session)
    rows = [{"campaign_id": campaign.id, "civil_servant_id": cs_id, "commune_code": communes_of[unit]}
            for cs_id, unit in session.execute(sa.select(CivilServant.id, CivilServant.unit_code)
                                               .where(CivilServant.employment_status == "active"))
            if communes_of[unit] in wanted]
    bulk_insert(session, SurveyResponse.__table__, rows)
    return campaign


def _campaign(session: Session, campaign_id: str) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("Không tìm thấy đợt khảo sát.", field="campaign_id")
    return campaign


def _campaign_view(campaign: Campaign, lanes: list) -> dict:
    return {**{a.key: getattr(campaign, a.key) for a in sa.inspect(Campaign).column_attrs},
            "close_job": _close_job_view(campaign.close_job, lanes)}


def list_campaigns(session: Session) -> list[dict]:
    """Return every campaign, newest first, with the progress of its close."""
    lanes: dict[str, list] = {}
    for r in session.execute(sa.select(JOBS_TABLE).where(JOBS_TABLE.c.kind == CLOSE_KIND).order_by(JOBS_TABLE.c.id)):
        lanes.setdefault(r.payload["campaign_id"], []).append(r)
    return [_campaign_view(c, lanes.get(c.id, []))
            for c in session.scalars(sa.select(Campaign).order_by(Campaign.created_at.desc()))]


def get_campaign(session: Session, campaign_id: str) -> dict:
    """Return one campaign with the progress of its close."""
    campaign = _campaign(session, campaign_id)
    return _campaign_view(campaign, _close_rows(session, campaign_id))


def submit_response(session: Session, campaign_id: str, data: dict,
                    within: frozenset[str] | None = None) -> SurveyResponse:
    """Record a self- or supervisor assessment (levels per competency) and, from the person, their wishes.
    `within`: the caller's units (a commune officer's); a person outside them is Forbidden (civil_servant_id)."""
    campaign = _campaign(session, campaign_id)
    if within is not None:
        person = session.get(CivilServant, data["civil_servant_id"])
        check_within(within, person.unit_code if person is not None else None, field="civil_servant_id")
    if campaign.status != "open":
        raise Conflict("Đợt khảo sát đã đóng.", field="campaign_id")
    response = session.get(SurveyResponse, (campaign_id, data["civil_servant_id"]))
    if response is None:
        raise Invalid("Công chức không thuộc đợt khảo sát này.", field="civil_servant_id")
    competencies = set(_competency_topics(session, campaign.framework_id))
    unknown = sorted(set(data["levels"]) - competencies)
    if unknown:
        raise Invalid(f"Năng lực không có trong khung: {', '.join(unknown)}.", field="levels")
    if not data["levels"]:
        raise Invalid("Cần ít nhất một mức năng lực.", field="levels")
    role = data["role"]
    current = {a.competency_code: a for a in session.scalars(sa.select(Assessment).where(
        Assessment.campaign_id == campaign_id, Assessment.civil_servant_id == data["civil_servant_id"]))}
    for code, level in data["levels"].items():
        row = current.get(code)
        if row is None:
            row = Assessment(campaign_id=campaign_id, civil_servant_id=data["civil_servant_id"], competency_code=code)
            session.add(row)
        setattr(row, "self_level" if role == "self" else "supervisor_level", level)
    now = utcnow()
    if role == "self":
        response.self_submitted_at = now
        for key in ("wished_topics", "wish_text", "preferred_form", "preferred_time"):
            if data.get(key) is not None:
                setattr(response, key, data[key])
    else:
        response.supervisor_submitted_at = now
    session.flush()
    return response


def campaign_progress(session: Session, campaign_id: str, within: frozenset[str] | None = None) -> dict:
    """Return answered / missing counts per commune and who has not answered yet; `within` (a commune officer's
    units): only the people registered in them are counted and named."""
    campaign = _campaign(session, campaign_id)
    scope = [CivilServant.unit_code.in_(sorted(within))] if within is not None else []
    rows = session.execute(sa.select(SurveyResponse.commune_code, SurveyResponse.civil_servant_id,
                                     SurveyResponse.self_submitted_at, SurveyResponse.supervisor_submitted_at,
                                     CivilServant.code, CivilServant.full_name)
                           .join(CivilServant, CivilServant.id == SurveyResponse.civil_servant_id)
                           .where(SurveyResponse.campaign_id == campaign_id, *scope)
                           .order_by(SurveyResponse.commune_code, CivilServant.code)).all()
    units: dict[str, dict] = {}
    for commune, cs_id, self_at, sup_at, code, name in rows:
        u = units.setdefault(commune, {"commune_code": commune, "expected": 0, "self_done": 0, "supervisor_done": 0,
                                       "complete": 0, "missing": []})
        u["expected"] += 1
        u["self_done"] += self_at is not None
        u["supervisor_done"] += sup_at is not None
        if self_at is not None and sup_at is not None:
            u["complete"] += 1
        else:
            u["missing"].append({"civil_servant_id": cs_id, "code": code, "full_name": name,
                                 "self_missing": self_at is None, "supervisor_missing": sup_at is None})
    for u in units.values():
        u["complete_share"] = round(u["complete"] / u["expected"], 4) if u["expected"] else None
    return {"campaign_id": campaign.id, "status": campaign.status, "deadline": campaign.deadline,
            "units": list(units.values())}


def _person(cs, position_leadership: dict[str, bool]) -> domain.Person:
    return domain.Person(
        id=cs.id, position_code=cs.position_code, leadership=position_leadership.get(cs.position_code, False),
        hard_area=bool(cs.hard_area), ethnic_minority=bool(cs.ethnic_minority),
        qualifications={"degree_level": cs.degree_level, "llct_level": cs.llct_level, "qlnn_level": cs.qlnn_level,
                        "it_level": cs.it_level, "foreign_language_level": cs.foreign_language_level},
        employed_from=cs.employed_from)
