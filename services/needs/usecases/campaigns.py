"""Survey campaigns: open, answer, progress, and closing (inline or as chunks of a durable job)."""
from __future__ import annotations

import os
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import domain
from services.needs.models import JOBS_TABLE, Assessment, Campaign, CivilServant, CloseJob, CompetencyRecord, FrameworkVersion, Need, SurveyResponse
from services.needs.usecases.frameworks import _competency_topics, current_framework
from services.needs.usecases.gaps import insert_chunk_needs
from services.needs.usecases.rules import rule_value
from services.needs.usecases.scope import check_within
from services.needs.usecases.units import _commune_map, list_units
from shared import jobs
from shared.db import UTCDateTime, bulk_insert
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


CLOSE_KIND = "close_campaign"  # the shared.jobs kind of a campaign's close


def _close_key(campaign_id: str) -> str:
    return f"{CLOSE_KIND}:{campaign_id}"


def _close_job_view(job: CloseJob | None, queued) -> dict | None:
    """The close's progress (CloseJob) with its attempts, error type and failure from the shared job row."""
    if job is None:
        return None
    view = {a.key: getattr(job, a.key) for a in sa.inspect(CloseJob).column_attrs}
    if queued is not None:
        view["attempts"] = queued.attempts
        view["error"] = queued.last_error.split(" ", 1)[0] if queued.last_error else None  # the type, as before
        if queued.status == "failed":
            view["status"], view["finished_at"] = "failed", queued.finished_at
    return view


def _campaign_view(campaign: Campaign, queued) -> dict:
    return {**{a.key: getattr(campaign, a.key) for a in sa.inspect(Campaign).column_attrs},
            "close_job": _close_job_view(campaign.close_job, queued)}


def list_campaigns(session: Session) -> list[dict]:
    """Return every campaign, newest first, with the progress of its close."""
    queued = {r.dedupe_key: r for r in session.execute(
        sa.select(JOBS_TABLE).where(JOBS_TABLE.c.kind == CLOSE_KIND))}
    return [_campaign_view(c, queued.get(_close_key(c.id)))
            for c in session.scalars(sa.select(Campaign).order_by(Campaign.created_at.desc()))]


def get_campaign(session: Session, campaign_id: str) -> dict:
    """Return one campaign with the progress of its close."""
    campaign = _campaign(session, campaign_id)
    return _campaign_view(campaign, jobs.find(session, JOBS_TABLE, _close_key(campaign_id)))


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


def _combination_case(rule: domain.CombinationRule, self_col, sup_col):
    """The combination rule as a SQL CASE over every pair of levels, each result taken from domain.combine.

    The rule stays defined in one place (the domain); the database only looks the answer up.
    """
    if rule.method == "supervisor_else_self":  # the seeded rule: a plain COALESCE is far cheaper than 35 branches
        return sa.func.coalesce(sup_col, self_col)

    def value(v):
        return sa.null() if v is None else sa.literal(v, sa.Integer)
    levels = range(1, 6)
    whens = [(sa.and_(self_col == a, sup_col == b), value(domain.combine(a, b, rule))) for a in levels for b in levels]
    whens += [(sa.and_(self_col == a, sup_col.is_(None)), value(domain.combine(a, None, rule))) for a in levels]
    whens += [(sa.and_(self_col.is_(None), sup_col == b), value(domain.combine(None, b, rule))) for b in levels]
    return sa.case(*whens, else_=sa.null())


def _uuid4_strings(n: int) -> list[str]:
    """n random (version 4) UUIDs as text, from one read of the OS random source (uuid.uuid4 is slow per call)."""
    raw = bytearray(os.urandom(16 * n))
    out = []
    for i in range(0, 16 * n, 16):
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80
        h = raw[i:i + 16].hex()
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out


CLOSE_CHUNK = 5_000  # people per committed step of a close job: a few seconds of work, a bounded transaction


def _close_params(session: Session, today: date) -> dict:
    """Freeze the rules in force today, so every chunk of a (possibly resumed) close job uses the same ones."""
    return {"today": today.isoformat(), "combination": rule_value(session, "combination", today),
            "priority_weights": rule_value(session, "priority_weights", today),
            "standards": rule_value(session, "standards", today)["rules"]}


def _close_result(session: Session, campaign: Campaign, job: CloseJob) -> dict:
    return {"campaign_id": campaign.id, "status": campaign.status, "combination": campaign.combination,
            "people": job.people_done, "needs": job.needs, "competency_gap": job.competency_gap,
            "standard": job.standard, "job": _close_job_view(job, jobs.find(session, JOBS_TABLE, _close_key(campaign.id)))}


def request_close(session: Session, campaign_id: str, *, inline_limit: int | None = None,
                  chunk: int = CLOSE_CHUNK, now: datetime | None = None) -> tuple[dict, bool]:
    """Close a campaign: compute the needs now when it is small, else queue a durable job for the needs worker.

    Returns (result, queued). A campaign of at most `inline_limit` people (None = no limit) is closed in this
    transaction; a larger one becomes "closing" with a CloseJob the worker runs in committed chunks (a national
    campaign takes longer than an HTTP request may). Asking again for a campaign whose job failed re-queues it.
    """
    now = now or utcnow()
    campaign = session.get(Campaign, campaign_id, with_for_update=True)  # two clicks on «Đóng» make one job
    if campaign is None:
        raise NotFound("Không tìm thấy đợt khảo sát.", field="campaign_id")
    job = session.get(CloseJob, campaign_id)
    queued = jobs.find(session, JOBS_TABLE, _close_key(campaign_id))
    if campaign.status == "closing" and job is not None and queued is not None and queued.status == "failed":
        jobs.retry(session, JOBS_TABLE, queued.id, now)
        # Asking again starts the count of attempts afresh (the operator's /admin/needs/jobs retry keeps it).
        session.execute(sa.update(JOBS_TABLE).where(JOBS_TABLE.c.id == queued.id).values(attempts=0,
                                                                                         last_error=None))
        job.status = "queued"
        session.flush()
        return _close_result(session, campaign, job), True
    if campaign.status == "closing":
        raise Conflict("Đợt khảo sát đang được đóng; xem tiến độ ở thông tin đợt khảo sát.", field="campaign_id")
    if campaign.status != "open":
        raise Conflict("Đợt khảo sát đã đóng.", field="campaign_id")
    today = local_today(now)
    params = _close_params(session, today)
    people = session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse).join(
        CivilServant, CivilServant.id == SurveyResponse.civil_servant_id).where(
        SurveyResponse.campaign_id == campaign_id, CivilServant.employment_status != "left"))
    campaign.status, campaign.combination = "closing", params["combination"]
    job = CloseJob(campaign_id=campaign_id, status="queued", params=params, cursor="", people_total=people,
                   people_done=0, needs=0, competency_gap=0, standard=0, attempts=0, created_at=now)
    session.add(job)
    session.flush()
    if inline_limit is not None and people > inline_limit:
        jobs.enqueue(session, JOBS_TABLE, CLOSE_KIND, {"campaign_id": campaign_id}, dedupe_key=_close_key(campaign_id),
                     now=now)
        return _close_result(session, campaign, job), True
    while not close_campaign_step(session, campaign_id, chunk):
        pass
    return _close_result(session, campaign, job), False


def close_campaign(session: Session, campaign_id: str, chunk: int = CLOSE_CHUNK, now: datetime | None = None) -> dict:
    """Close a campaign in this transaction whatever its size (CLI, seeds and tests): see request_close."""
    return request_close(session, campaign_id, inline_limit=None, chunk=chunk, now=now)[0]


def close_campaign_step(session: Session, campaign_id: str, chunk: int = CLOSE_CHUNK) -> bool:
    """Compute the needs of the next `chunk` surveyed people after the job's cursor; return True when finished.

    Combines the assessments by the frozen rule, appends the levels to the competency record and stores the needs.
    Open needs of those people not in any plan are replaced by the new measurement; planned and met needs stay,
    and no new need is made for a (person, topic) already open in a plan or planned. The cursor moves in the same
    transaction as the rows it covers, so a job resumed after a crash neither repeats nor skips anyone.
    """
    job = session.get(CloseJob, campaign_id, with_for_update=True)
    if job is None or job.status == "done":
        return True
    campaign = session.get(Campaign, campaign_id)
    now = utcnow()
    params = job.params
    today = date.fromisoformat(params["today"])
    if job.status == "queued":
        job.status, job.started_at = "running", now
    job.heartbeat_at = now
    # The next `chunk` surveyed people by the primary key (a range read whatever the table statistics say); those
    # who left since the campaign opened get no need and do not count as done.
    ids = session.scalars(sa.select(SurveyResponse.civil_servant_id).where(
        SurveyResponse.campaign_id == campaign_id, SurveyResponse.civil_servant_id > job.cursor)
        .order_by(SurveyResponse.civil_servant_id).limit(chunk)).all()
    if not ids:
        job.status, job.finished_at = "done", now
        campaign.status, campaign.closed_at = "closed", now
        session.flush()
        return True
    first_id, last_id = ids[0], ids[-1]
    people = session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse).join(
        CivilServant, CivilServant.id == SurveyResponse.civil_servant_id).where(
        SurveyResponse.campaign_id == campaign_id, SurveyResponse.civil_servant_id.between(first_id, last_id),
        CivilServant.id.between(first_id, last_id), CivilServant.employment_status != "left"))
    in_chunk = sa.select(SurveyResponse.civil_servant_id).where(
        SurveyResponse.campaign_id == campaign_id, SurveyResponse.civil_servant_id.between(first_id, last_id))
    # Needs not yet in any plan are replaced by the new measurement; those in a plan line (draft or approved) stay.
    session.execute(sa.delete(Need).where(Need.status == "open", Need.plan_line_id.is_(None),
                                          Need.civil_servant_id.between(first_id, last_id),  # an index range
                                          Need.civil_servant_id.in_(in_chunk)))
    rule = domain.CombinationRule.from_data(params["combination"])
    # Set-based: the combined level is computed by the database (a CASE built from domain.combine), the survey
    # levels go to the competency record and the needs to their table with INSERT … SELECT, so neither the
    # ~1.5·10⁶ levels nor the needs of a national campaign pass through Python (usecases/gaps.py).
    level = _combination_case(rule, Assessment.self_level, Assessment.supervisor_level)
    chunk_assessments = sa.and_(
        Assessment.campaign_id == campaign_id, Assessment.civil_servant_id.between(first_id, last_id),
        CivilServant.id.between(first_id, last_id),  # said again for civil_servants: an index range, not a scan
        CivilServant.employment_status != "left")
    with_person = sa.select(Assessment).join(CivilServant, CivilServant.id == Assessment.civil_servant_id)
    session.execute(sa.insert(CompetencyRecord).from_select(
        ["civil_servant_id", "competency_code", "level", "source", "source_ref", "assessed_at", "recorded_at"],
        with_person.with_only_columns(
            Assessment.civil_servant_id, Assessment.competency_code, level, sa.literal("survey"),
            sa.literal(campaign_id), sa.literal(now, UTCDateTime()), sa.literal(now, UTCDateTime()))
        .where(chunk_assessments, level.is_not(None))))
    counts = insert_chunk_needs(
        session, campaign_id=campaign_id, year=campaign.year, framework_id=campaign.framework_id,
        first_id=first_id, last_id=last_id, combined_level=level,
        weights=domain.PriorityWeights.from_data(params["priority_weights"]),
        standards=[domain.StandardRule.from_data(r) for r in params["standards"]],
        communes=_commune_map(session, today), today=today, now=now)
    job.cursor = last_id
    job.people_done += people
    job.needs += counts["competency_gap"] + counts["standard"]
    job.competency_gap += counts["competency_gap"]
    job.standard += counts["standard"]
    session.flush()
    return False


def get_close_progress(session: Session, campaign_id: str) -> dict | None:
    """Return the progress of a campaign's close (None if it was never asked to close)."""
    return _close_job_view(session.get(CloseJob, campaign_id), jobs.find(session, JOBS_TABLE, _close_key(campaign_id)))
