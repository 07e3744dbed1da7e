"""A closed campaign's levels in the competency record are read from its assessments (issue 16), on both backends:
each by its campaign's frozen rule, merged with evaluation's stored levels, and revision 0010 moves a database
with the old copies to that reading and back without changing anyone's record."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from services.needs import domain, usecases
from services.needs.models import Assessment, Campaign, CompetencyRecord
from shared.db import make_engine, make_session_factory, transaction
from shared.migrate import alembic_config, upgrade


def _closed_district(url: str) -> tuple:
    upgrade("needs", url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        usecases.seed_reference_data(session)
        usecases.seed_civil_servants(session, 111)
        campaign_id = usecases.seed_survey(session, 2026)["campaign_id"]
        usecases.close_campaign(session, campaign_id)
    return engine, sessions, campaign_id


def _record(sessions) -> list[tuple]:
    with transaction(sessions) as session:
        return [(r.civil_servant_id, r.competency_code, r.level, r.source, r.source_ref)
                for r in usecases.competency_history(session)]


def test_revision_0010_removes_the_survey_copies_and_its_downgrade_writes_them_back(db_url_factory):
    url = db_url_factory("levels_mig")
    engine, sessions, campaign_id = _closed_district(url)
    try:
        expected = _record(sessions)
        assert len(expected) == 111 * 7 and {r[3] for r in expected} == {"survey"}
        with engine.connect() as conn:
            assert conn.scalar(sa.select(sa.func.count()).select_from(CompetencyRecord.__table__)) == 0
        engine.dispose()
        command.downgrade(alembic_config("needs", url), "0009")  # the copies the close used to append
        with engine.connect() as conn:
            copies = conn.execute(sa.select(CompetencyRecord.civil_servant_id, CompetencyRecord.competency_code,
                                            CompetencyRecord.level, CompetencyRecord.source,
                                            CompetencyRecord.source_ref)).all()
        assert sorted(map(tuple, copies)) == sorted(expected)
        engine.dispose()
        upgrade("needs", url)
        with engine.connect() as conn:
            assert conn.scalar(sa.select(sa.func.count()).select_from(CompetencyRecord.__table__)) == 0
        assert _record(sessions) == expected
    finally:
        engine.dispose()


def test_each_campaign_is_read_by_its_own_frozen_rule_and_evaluation_levels_follow_in_time(db_url_factory):
    engine, sessions, campaign_id = _closed_district(db_url_factory("levels_rule"))
    try:
        with transaction(sessions) as session:
            pairs = {(a.civil_servant_id, a.competency_code): (a.self_level, a.supervisor_level)
                     for a in session.scalars(sa.select(Assessment))}
            # the rule the campaign froze is what the record uses: change it (as a campaign closed under another
            # version of the rule would have it) and the levels follow
            session.get(Campaign, campaign_id).combination = {"method": "minimum"}
        with transaction(sessions) as session:
            levels = {(r.civil_servant_id, r.competency_code): r.level for r in usecases.survey_levels(session)}
        rule = domain.CombinationRule(method="minimum")
        assert levels == {k: domain.combine(s, p, rule) for k, (s, p) in pairs.items()
                          if domain.combine(s, p, rule) is not None}
        assert any(s is not None and p is not None and s != p for s, p in pairs.values())  # the rule mattered
        person = next(iter(levels))[0]
        with transaction(sessions) as session:
            closed_at = session.get(Campaign, campaign_id).closed_at
            usecases.record_assessed_levels(session, type("E", (), {"payload": {
                "course_id": "C-1", "evaluated_at": closed_at,  # the same time as the close: after the survey
                "assessed_levels": [{"civil_servant_id": person, "competency_code": "CM01", "level": 5}]}})())
        with transaction(sessions) as session:
            profile = usecases.competency_profile(session, person)
        cm01 = [(h.level, h.source) for h in profile["history"] if h.competency_code == "CM01"]
        assert cm01[-1] == (5, "evaluation") and [s for _, s in cm01] == ["survey", "evaluation"]
        assert next(c for c in profile["current"] if c["competency_code"] == "CM01")["level"] == 5
    finally:
        engine.dispose()
