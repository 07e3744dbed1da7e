"""Closing a campaign builds its needs set-wise in SQL (usecases/gaps.py): the same needs, on PostgreSQL and on
SQLite, as the pure domain's per-person rule (domain.needs_of) gives for a generated registry.

The registry is the seeded district with its attributes scattered on purpose: every position, hard area or not,
ethnic minority or not, qualifications across their scales (and missing), hiring dates that put standard deadlines
in the past, within 12 or 24 months, later and on 29 February; levels from each role alone, both or neither;
wished topics; needs already planned, or open and left out of plans, from before; a person who left meanwhile.
"""
from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from datetime import date, datetime, timezone

import sqlalchemy as sa

from services.needs import domain, seed, usecases
from services.needs.models import (
    Assessment, CivilServant, Competency, Need, Position, PositionRequirement, SurveyResponse, Unit,
)
from services.needs.usecases.rules import rule_value
from services.needs.usecases.units import _commune_map
from shared.db import make_engine, make_session_factory, transaction
from shared.localtime import local_today

NOW = datetime(2026, 5, 4, 3, 0, tzinfo=timezone.utc)
PEOPLE = 160
# version 7 (time-ordered: new needs append to the primary key's last pages) on PostgreSQL, version 4 on SQLite
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def _scatter(session, rng: random.Random, campaign_id: str) -> None:
    """Give the surveyed people varied attributes, levels, wishes and earlier needs."""
    positions = [p.code for p in session.scalars(sa.select(Position))]
    today = local_today(NOW)
    topics = sorted({c.topic_code for c in session.scalars(sa.select(Competency))}
                    | {r["topic_code"] for r in rule_value(session, "standards", today)["rules"]})
    scales = {"degree_level": domain.DEGREE_SCALE, "llct_level": domain.LLCT_SCALE, "qlnn_level": domain.QLNN_SCALE,
              "it_level": domain.IT_SCALE, "foreign_language_level": domain.LANGUAGE_SCALE}
    hired = [date(2024, 2, 29), date(2020, 2, 29), date(today.year - 5, today.month, today.day),
             date(today.year - 6, 1, 1), date(today.year - 4, 3, 1), date(today.year - 4, 12, 1), date(today.year - 3, 9, 1), None]
    people = list(session.scalars(sa.select(CivilServant).join(
        SurveyResponse, SurveyResponse.civil_servant_id == CivilServant.id).where(
        SurveyResponse.campaign_id == campaign_id).order_by(CivilServant.code)))
    for i, cs in enumerate(people):
        cs.position_code = positions[i % len(positions)]
        cs.hard_area = rng.random() < 0.4
        cs.ethnic_minority = rng.random() < 0.3
        for name, scale in scales.items():
            setattr(cs, name, rng.choice([*scale, None]))
        cs.employed_from = rng.choice(hired) or cs.employed_from
    people[0].employment_status = "left"  # left after the campaign opened: no need
    for a in session.scalars(sa.select(Assessment).where(Assessment.campaign_id == campaign_id)):
        a.self_level, a.supervisor_level = rng.choice([
            (rng.randint(1, 5), rng.randint(1, 5)), (rng.randint(1, 5), None), (None, rng.randint(1, 5)),
            (None, None)])
    for r in session.scalars(sa.select(SurveyResponse).where(SurveyResponse.campaign_id == campaign_id)):
        r.wished_topics = rng.choice([None, [], rng.sample(topics, 2), rng.sample(topics, 1)])
    earlier = []
    for cs in rng.sample(people, 40):
        earlier.append(Need(id=f"{len(earlier):08d}-0000-4000-8000-000000000000", civil_servant_id=cs.id,
                            campaign_id=None, year=2025, kind="competency_gap", topic_code=rng.choice(topics),
                            gap=1, priority_score=1.0, reason_set_id=0, status=rng.choice(["open", "planned"]),
                            unit_code=cs.unit_code, commune_code=cs.unit_code, province_code="CM",
                            position_code=cs.position_code, created_at=NOW,
                            plan_line_id=rng.choice([None, "line-1"])))
    session.add_all(earlier)
    session.flush()


def _expected(session, campaign_id: str) -> list[tuple]:
    """The needs domain.needs_of gives, person by person, for what the database holds now."""
    campaign = usecases._campaign(session, campaign_id)
    today = local_today(NOW)
    rule = domain.CombinationRule.from_data(rule_value(session, "combination", today))
    weights = domain.PriorityWeights.from_data(rule_value(session, "priority_weights", today))
    standards = [domain.StandardRule.from_data(r) for r in rule_value(session, "standards", today)["rules"]]
    required: dict[str, dict[str, int]] = defaultdict(dict)
    for r in session.scalars(sa.select(PositionRequirement).where(
            PositionRequirement.framework_id == campaign.framework_id)):
        required[r.position_code][r.competency_code] = r.required_level
    topics = dict(session.execute(sa.select(Competency.code, Competency.topic_code).where(
        Competency.framework_id == campaign.framework_id)).all())
    leadership = {p.code: p.leadership for p in session.scalars(sa.select(Position))}
    communes = _commune_map(session, today)
    provinces = dict(session.execute(sa.select(Unit.code, Unit.province_code)).all())
    # needs that stay (in a plan line, or planned) and so block a new need of that (person, topic)
    kept = {(n.civil_servant_id, n.topic_code) for n in session.scalars(sa.select(Need).where(
        Need.status.in_(domain.OPEN_STATUSES), sa.or_(Need.status != "open", Need.plan_line_id.is_not(None))))}
    levels: dict[str, dict[str, int]] = defaultdict(dict)
    for a in session.scalars(sa.select(Assessment).where(Assessment.campaign_id == campaign_id)):
        level = domain.combine(a.self_level, a.supervisor_level, rule)
        if level is not None:
            levels[a.civil_servant_id][a.competency_code] = level
    out = []
    for cs, response in session.execute(sa.select(CivilServant, SurveyResponse).join(
            SurveyResponse, SurveyResponse.civil_servant_id == CivilServant.id).where(
            SurveyResponse.campaign_id == campaign_id, CivilServant.employment_status != "left")).all():
        person = domain.Person(
            id=cs.id, position_code=cs.position_code, leadership=leadership.get(cs.position_code, False),
            hard_area=bool(cs.hard_area), ethnic_minority=bool(cs.ethnic_minority),
            qualifications={f: getattr(cs, f) for f in domain.QUALIFICATION_FIELDS}, employed_from=cs.employed_from)
        commune = communes[cs.unit_code]
        for d in domain.needs_of(person, required.get(cs.position_code, {}), levels.get(cs.id, {}), topics,
                                 standards, weights, today, set(response.wished_topics or ())):
            if (cs.id, d.topic_code) in kept:
                continue
            out.append((cs.id, campaign.year, d.kind, d.topic_code, d.competency_code, d.standard_code,
                        d.required_level, d.assessed_level, d.gap, d.deadline, d.priority_score,
                        json.dumps(d.reasons, ensure_ascii=False), "open", cs.unit_code, commune,
                        provinces.get(commune, "CM"), cs.position_code))
    return sorted(out, key=repr)


def _stored(session, campaign_id: str) -> list[tuple]:
    rows = session.scalars(sa.select(Need).where(Need.campaign_id == campaign_id)).all()
    assert all(UUID.match(n.id) for n in rows)
    if session.get_bind().dialect.name == "postgresql":
        assert {n.id[14] for n in rows} == {"7"}
        # the 48-bit millisecond prefix never goes back: a close's ids sort in the order they were made
        stamps = [int(n.id[:8] + n.id[9:13], 16) for n in rows]
        assert max(stamps) - min(stamps) < 600_000  # made within the test's minutes, from the clock, not random
    assert len({n.id for n in rows}) == len(rows)
    return sorted(((n.civil_servant_id, n.year, n.kind, n.topic_code, n.competency_code, n.standard_code,
                    n.required_level, n.assessed_level, n.gap, n.deadline, n.priority_score,
                    json.dumps(n.reasons, ensure_ascii=False), n.status, n.unit_code, n.commune_code,
                    n.province_code, n.position_code) for n in rows), key=repr)


def test_the_set_wise_close_stores_the_needs_the_domain_gives_person_by_person(backend):
    engine = make_engine(backend.migrated("needs"))
    sessions = make_session_factory(engine)
    try:
        with transaction(sessions) as session:
            seed.seed_reference_data(session)
            seed.seed_civil_servants(session, PEOPLE)
            campaign_id = seed.seed_survey(session, 2026)["campaign_id"]
            _scatter(session, random.Random(16), campaign_id)
        with transaction(sessions) as session:
            expected = _expected(session, campaign_id)
            moved = sum(1 for u, c in _commune_map(session, local_today(NOW)).items() if u != c)
            # the generated registry reaches every branch: both kinds, every deadline reason, wishes, moved units
            kinds = {e[2] for e in expected}
            reasons = {r["code"] for e in expected for r in json.loads(e[11])}
            assert kinds == {"competency_gap", "standard"} and moved
            assert {"deadline_passed", "deadline_within_12_months", "deadline_within_24_months", "wished",
                    "leadership", "hard_area", "ethnic_minority"} <= reasons
            assert any(e[9] is not None and (e[9].month, e[9].day) == (2, 28) for e in expected)
        with transaction(sessions) as session:
            result = usecases.close_campaign(session, campaign_id, chunk=37, now=NOW)
        with transaction(sessions) as session:
            stored = _stored(session, campaign_id)
            assert stored == expected
            assert result["needs"] == len(expected)
            assert result["competency_gap"] == sum(1 for e in expected if e[2] == "competency_gap")
            # the earlier open needs outside plans were replaced; the planned and plan-line ones stay
            assert session.scalar(sa.select(sa.func.count()).select_from(Need).where(
                Need.campaign_id.is_(None), Need.status == "open", Need.plan_line_id.is_(None),
                Need.civil_servant_id != session.scalar(sa.select(CivilServant.id).where(
                    CivilServant.employment_status == "left")))) == 0
    finally:
        engine.dispose()
