"""Closing a survey campaign: at once when small, else as lanes of a durable job that workers run side by side.

A national campaign (212,606 people × 7 competencies) is closed by the needs worker in committed chunks of people.
The people are split at request time into `lanes` key ranges of about the same size (NEEDS_CLOSE_LANES, 2 by
default on PostgreSQL, always 1 on SQLite, whose single writer would only take turns); each lane is its own
shared.jobs job, so two job threads (or two workers) compute two chunks at once on two database connections, and
each lane's cursor lives in its job's payload, committed with the chunk it covers: a lane resumed after a crash
neither repeats nor skips anyone. A chunk writes the close's counters last (one UPDATE adding its counts), so the
lanes wait on each other's row lock only for the length of a commit; the last lane to finish closes the campaign.
"""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.needs import domain
from services.needs.models import (
    JOBS_TABLE, Assessment, Campaign, CivilServant, CloseJob, Need, SurveyResponse,
)
from services.needs.usecases.gaps import insert_chunk_needs, store_reason_sets
from services.needs.usecases.rules import rule_value
from services.needs.usecases.units import _commune_map
from shared import jobs
from shared.db import UTCDateTime, is_postgres
from shared.errors import Conflict, NotFound
from shared.localtime import local_today, utcnow

CLOSE_KIND = "close_campaign"  # the shared.jobs kind of a campaign's close
CLOSE_CHUNK = 5_000  # people per committed step of a close job: a few seconds of work, a bounded transaction


def _close_key(campaign_id: str, lane: int = 0) -> str:
    """The dedupe key of a close's lane job (lane 0 keeps the key a close had before lanes)."""
    return f"{CLOSE_KIND}:{campaign_id}" + (f":{lane}" if lane else "")


def _close_rows(session: Session, campaign_id: str) -> list:
    """The shared.jobs rows of a close's lanes."""
    key = _close_key(campaign_id)
    t = JOBS_TABLE
    return list(session.execute(sa.select(t).where(
        t.c.kind == CLOSE_KIND, sa.or_(t.c.dedupe_key == key, t.c.dedupe_key.like(key + ":%"))).order_by(t.c.id)))


def _worst(rows: list):
    """The lane job that speaks for the close: a failed one if any, else the one with the most attempts."""
    if not rows:
        return None
    return max(rows, key=lambda r: (r.status == "failed", r.attempts))


def _close_job_view(job: CloseJob | None, lanes: list) -> dict | None:
    """The close's progress (CloseJob) with its lanes' attempts, error type and failure (shared job rows)."""
    if job is None:
        return None
    view = {a.key: getattr(job, a.key) for a in sa.inspect(CloseJob).column_attrs}
    queued = _worst(lanes)
    view["lanes"] = len(lanes)
    if queued is not None:
        view["attempts"] = queued.attempts
        view["error"] = queued.last_error.split(" ", 1)[0] if queued.last_error else None  # the type, as before
        if queued.status == "failed":
            view["status"], view["finished_at"] = "failed", queued.finished_at
    return view


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


def _close_params(session: Session, today: date) -> dict:
    """Freeze the rules in force today, so every chunk of a (possibly resumed) close job uses the same ones."""
    return {"today": today.isoformat(), "combination": rule_value(session, "combination", today),
            "priority_weights": rule_value(session, "priority_weights", today),
            "standards": rule_value(session, "standards", today)["rules"]}


def _close_result(session: Session, campaign: Campaign, job: CloseJob) -> dict:
    return {"campaign_id": campaign.id, "status": campaign.status, "combination": campaign.combination,
            "people": job.people_done, "needs": job.needs, "competency_gap": job.competency_gap,
            "standard": job.standard, "job": _close_job_view(job, _close_rows(session, campaign.id))}


def _lane_bounds(session: Session, campaign_id: str, lanes: int) -> list[tuple[str, str | None]]:
    """(after, up to) key ranges of the campaign's surveyed people, `lanes` of about the same size."""
    ids = sa.select(SurveyResponse.civil_servant_id).where(SurveyResponse.campaign_id == campaign_id).order_by(
        SurveyResponse.civil_servant_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(SurveyResponse).where(
        SurveyResponse.campaign_id == campaign_id))
    cuts = sorted({session.scalar(ids.offset(total * k // lanes - 1).limit(1)) for k in range(1, lanes)
                   if total * k // lanes > 0} - {None})
    starts = ["", *cuts]
    return [(after, cuts[k] if k < len(cuts) else None) for k, after in enumerate(starts)]


def request_close(session: Session, campaign_id: str, *, inline_limit: int | None = None,
                  chunk: int = CLOSE_CHUNK, lanes: int = 1, now: datetime | None = None) -> tuple[dict, bool]:
    """Close a campaign: compute the needs now when it is small, else queue a durable job for the needs worker.

    Returns (result, queued). A campaign of at most `inline_limit` people (None = no limit) is closed in this
    transaction; a larger one becomes "closing" with a CloseJob and `lanes` lane jobs (one on SQLite) the worker
    runs in committed chunks (a national campaign takes longer than an HTTP request may). Asking again for a
    campaign whose job failed re-queues its failed lanes.
    """
    now = now or utcnow()
    campaign = session.get(Campaign, campaign_id, with_for_update=True)  # two clicks on «Đóng» make one job
    if campaign is None:
        raise NotFound("Không tìm thấy đợt khảo sát.", field="campaign_id")
    job = session.get(CloseJob, campaign_id)
    failed = [r for r in _close_rows(session, campaign_id) if r.status == "failed"]
    if campaign.status == "closing" and job is not None and failed:
        for row in failed:
            jobs.retry(session, JOBS_TABLE, row.id, now)
            # Asking again starts the count of attempts afresh (the operator's /admin/needs/jobs retry keeps it).
            session.execute(sa.update(JOBS_TABLE).where(JOBS_TABLE.c.id == row.id).values(attempts=0,
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
        # committed with the lanes: their chunks then find the reason sets written and never wait on each other's
        store_reason_sets(session, domain.PriorityWeights.from_data(params["priority_weights"]), today,
                          campaign.framework_id)
        bounds = _lane_bounds(session, campaign_id, max(1, lanes) if is_postgres(session) else 1)
        jobs.enqueue_many(session, JOBS_TABLE, [
            {"kind": CLOSE_KIND, "payload": {"campaign_id": campaign_id, "lane": k, "after": after, "upto": upto},
             "dedupe_key": _close_key(campaign_id, k)} for k, (after, upto) in enumerate(bounds)], now=now)
        return _close_result(session, campaign, job), True
    after: str | None = ""
    while (after := close_campaign_step(session, campaign_id, chunk, after=after)) is not None:
        pass
    return _close_result(session, campaign, job), False


def close_campaign(session: Session, campaign_id: str, chunk: int = CLOSE_CHUNK, now: datetime | None = None) -> dict:
    """Close a campaign in this transaction whatever its size (CLI, seeds and tests): see request_close."""
    return request_close(session, campaign_id, inline_limit=None, chunk=chunk, now=now)[0]


def _finish_lane(session: Session, campaign_id: str, lane_job_id: str | None, now: datetime) -> None:
    """A lane has no one left: the last lane to finish (under the close's row lock) closes the campaign."""
    job = session.get(CloseJob, campaign_id, with_for_update=True, populate_existing=True)
    others = [r for r in _close_rows(session, campaign_id) if r.id != lane_job_id and r.status != "done"]
    if lane_job_id is not None and others:
        return
    campaign = session.get(Campaign, campaign_id)
    job.status, job.finished_at = "done", now
    job.started_at = job.started_at or now
    campaign.status, campaign.closed_at = "closed", now
    session.flush()


def close_campaign_step(session: Session, campaign_id: str, chunk: int = CLOSE_CHUNK, *, after: str | None = "",
                        upto: str | None = None, lane_job_id: str | None = None) -> str | None:
    """Compute the needs of the next `chunk` surveyed people after `after` (up to `upto`, inclusive, if given);
    return the new cursor, or None when no one is left in that range (the campaign closes with its last lane).
    `after` None: a job queued before lanes, resumed from the close's own cursor.

    Combines the assessments by the frozen rule and stores the needs.
    Open needs of those people not in any plan are replaced by the new measurement; planned and met needs stay,
    and no new need is made for a (person, topic) already open in a plan or planned. The caller commits the
    cursor with the rows it covers (a lane job's payload, or the request's own transaction).
    """
    job = session.get(CloseJob, campaign_id)
    if job is None or job.status == "done":
        return None
    if after is None:
        after = job.cursor or ""
    campaign = session.get(Campaign, campaign_id)
    now = utcnow()
    params = job.params
    today = date.fromisoformat(params["today"])
    # The next `chunk` surveyed people by the primary key (a range read whatever the table statistics say); those
    # who left since the campaign opened get no need and do not count as done.
    in_lane = [SurveyResponse.campaign_id == campaign_id, SurveyResponse.civil_servant_id > after]
    if upto is not None:
        in_lane.append(SurveyResponse.civil_servant_id <= upto)
    ids = session.scalars(sa.select(SurveyResponse.civil_servant_id).where(*in_lane)
                          .order_by(SurveyResponse.civil_servant_id).limit(chunk)).all()
    if not ids:
        _finish_lane(session, campaign_id, lane_job_id, now)
        return None
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
    # Set-based: the combined level is computed by the database (a CASE built from domain.combine) and the needs go
    # to their table with INSERT … SELECT, so neither the ~1.5·10⁶ levels nor the needs of a national campaign pass
    # through Python (usecases/gaps.py). The levels themselves are not copied: the competency record reads a closed
    # campaign's levels from its assessments by the same frozen rule (usecases/records.py).
    rule = domain.CombinationRule.from_data(params["combination"])
    level = _combination_case(rule, Assessment.self_level, Assessment.supervisor_level)
    counts = insert_chunk_needs(
        session, campaign_id=campaign_id, year=campaign.year, framework_id=campaign.framework_id,
        first_id=first_id, last_id=last_id, combined_level=level,
        weights=domain.PriorityWeights.from_data(params["priority_weights"]),
        standards=[domain.StandardRule.from_data(r) for r in params["standards"]],
        communes=_commune_map(session, today), today=today, now=now)
    # Last, so that lanes running side by side wait on this row's lock only for the length of a commit.
    c = CloseJob.__table__.c
    session.execute(sa.update(CloseJob.__table__).where(c.campaign_id == campaign_id).values(
        status="running", started_at=sa.func.coalesce(c.started_at, sa.literal(now, UTCDateTime())),
        heartbeat_at=now, people_done=c.people_done + people,
        needs=c.needs + counts["competency_gap"] + counts["standard"],
        competency_gap=c.competency_gap + counts["competency_gap"], standard=c.standard + counts["standard"]))
    session.expire(job)
    return last_id


def get_close_progress(session: Session, campaign_id: str) -> dict | None:
    """Return the progress of a campaign's close (None if it was never asked to close)."""
    return _close_job_view(session.get(CloseJob, campaign_id), _close_rows(session, campaign_id))
