"""A training need is met by a certified completion only, whichever of course_completed / course_evaluated arrives
first (issue 10, defect 2), on SQLite and PostgreSQL.

A trainee who attended 3 of 4 buổi (no certificate) but scored high on the post-test reaches the required level
through evaluation.course_evaluated: the level goes to the competency record and its history, the need stays open,
and plan coverage does not count the trainee as trained.
"""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from services import get_settings
from services.needs import usecases
from services.needs.handlers import HANDLERS
from services.needs.models import CompetencyRecord, Need, PlanLine
from shared.db import transaction, utcnow
from shared.events import decode, new_event
from tools.bench_http import statements_of

pytestmark = [pytest.mark.postgres]


def _person(session, code: str) -> str:
    cs, _ = usecases.register_civil_servant(session, {
        "code": code, "full_name": "Người Học", "gender": "female", "birth_year": 1990, "ethnicity": "Kinh",
        "unit_code": "TB-X-TRILUC", "position_code": "TPHT", "llct_level": "none", "qlnn_level": "chuyen_vien",
        "degree_level": "bachelor"})
    return cs.id


def _planned(db) -> tuple[dict[str, str], str, str]:
    """Two surveyed trainees with an IT gap (CM06 at 1), both in one approved plan line for KN-CNTT."""
    with transaction(db.session_factory) as session:
        usecases.seed_reference_data(session)
        people = {"uncertified": _person(session, "T-UNCERT"), "certified": _person(session, "T-CERT")}
        campaign = usecases.open_campaign(session, {"year": 2026, "title": "Khảo sát", "unit_codes": ["CM-TRIPHAI"],
                                                    "deadline": date(2026, 4, 30)})
        for cs_id in people.values():
            usecases.submit_response(session, campaign.id, {"civil_servant_id": cs_id, "role": "supervisor",
                                                            "levels": {"CM06": 1}})
        usecases.close_campaign(session, campaign.id)
        plan = usecases.create_plan(session, {"year": 2026, "title": "Kế hoạch 2026",
                                              "topic_codes": ["KN-CNTT"]})["plan"]
        usecases.submit_plan(session, plan.id)
        usecases.approve_plan(session, plan.id, {"decision_no": "QĐ 1"})
        line_id = session.scalar(sa.select(PlanLine.id).where(PlanLine.plan_id == plan.id))
        needs = dict(session.execute(sa.select(Need.civil_servant_id, Need.id).where(Need.topic_code == "KN-CNTT")).all())
        assert set(needs) == set(people.values())
        return people, line_id, plan.id


def _events(people: dict[str, str], line_id: str) -> tuple[str, str]:
    course_id, start = str(uuid.uuid4()), date(2026, 5, 4)
    sessions = [{"session_id": f"s{i}", "date": start + timedelta(days=i // 2), "buoi": ("morning", "afternoon")[i % 2],
                 "lecturer_id": "L-1", "lecturer_tier": 2} for i in range(4)]
    _, completed = new_event("courses.course_completed", {
        "course_id": course_id, "code": "K-CNTT", "title": "Kỹ năng số", "organizer_unit_code": "CM-TRIPHAI",
        "start_date": start, "end_date": start + timedelta(days=1), "completed_at": utcnow(), "total_sessions": 4,
        "topic_code": "KN-CNTT", "plan_line_id": line_id, "sessions": sessions,
        "participants": [
            {"civil_servant_id": people["uncertified"], "commune_code": "CM-TRIPHAI", "sessions_attended": 3,
             "days_attended": 2, "completed": False, "certified": False},
            {"civil_servant_id": people["certified"], "commune_code": "CM-TRIPHAI", "sessions_attended": 4,
             "days_attended": 2, "completed": True, "certified": True}]}, producer="courses")
    _, evaluated = new_event("evaluation.course_evaluated", {
        "course_id": course_id, "evaluated_at": utcnow() + timedelta(days=10), "request_count": 2,
        "valid_responses": 2, "response_rate": 1.0, "general_index": 8.2, "band": "excellent",
        "assessed_levels": [{"civil_servant_id": people["uncertified"], "competency_code": "CM06", "level": 4},
                            {"civil_servant_id": people["certified"], "competency_code": "CM06", "level": 2}]},
        producer="evaluation")
    return completed, evaluated


def _deliver(db, body: str) -> None:
    env = decode(body)
    with transaction(db.session_factory) as session:
        HANDLERS[env.type](env, session, get_settings("needs"))


@pytest.mark.parametrize("order", ["completed_first", "evaluated_first"])
def test_only_the_certified_trainee_meets_the_need_and_counts_as_trained_in_either_order(service_db, order):
    db = service_db("needs")
    people, line_id, plan_id = _planned(db)
    completed, evaluated = _events(people, line_id)
    for body in ((completed, evaluated) if order == "completed_first" else (evaluated, completed)):
        _deliver(db, body)
    status = {cs_id: s for cs_id, s in db.rows(sa.select(Need.civil_servant_id, Need.status)
                                               .where(Need.topic_code == "KN-CNTT"))}
    assert status == {people["uncertified"]: "planned", people["certified"]: "met"}  # planned: still to be trained
    with db.session_factory() as session:
        coverage = usecases.plan_coverage(session, plan_id)
        profile = usecases.competency_profile(session, people["uncertified"])
    assert [(c["commune_code"], c["trained"]) for c in coverage] == [("CM-TRIPHAI", 1)]
    # the high score is recorded all the same: current level 4, history survey → evaluation
    cm06 = next(c for c in profile["current"] if c["competency_code"] == "CM06")
    assert (cm06["level"], cm06["source"], cm06["gap"]) == (4, "evaluation", 0)
    assert [(h.level, h.source) for h in profile["history"] if h.competency_code == "CM06"] == \
        [(1, "survey"), (4, "evaluation")]
    assert db.count(CompetencyRecord.__table__, CompetencyRecord.source == "evaluation") == 2


def _need(cs_id: str, topic: str, plan_line_id: str | None = None, status: str = "open") -> dict:
    return {"id": str(uuid.uuid4()), "civil_servant_id": cs_id, "campaign_id": None, "year": 2026, "kind": "standard",
            "topic_code": topic, "competency_code": None, "standard_code": "S", "required_level": None,
            "assessed_level": None, "gap": 1, "deadline": None, "priority_score": 1.0, "reason_set_id": 0, "status": status,
            "unit_code": "TB-X-TRILUC", "commune_code": "CM-TRIPHAI", "province_code": "CM", "position_code": "TPHT",
            "plan_line_id": plan_line_id, "met_by": None, "created_at": utcnow(), "met_at": None}


def test_meeting_the_needs_of_a_course_costs_the_same_statements_for_2_or_40_certified_trainees(service_db):
    """issue 16: the certified participants' open needs are read once and matched in process — before, one or two
    statements per trainee. The matching rules stay: the plan line's needs first, the topic's otherwise, none of
    another topic, none already met, and a trainee named twice meets a need once."""
    db = service_db("needs")

    def complete(trainees: list[str], plan_line_id: str | None, topic: str | None = "KN-CNTT") -> tuple[int, int]:
        _, body = new_event("courses.course_completed", {
            "course_id": str(uuid.uuid4()), "code": "K-1", "title": "Kỹ năng số", "organizer_unit_code": "CM-TRIPHAI",
            "start_date": date(2026, 5, 4), "end_date": date(2026, 5, 4), "completed_at": utcnow(),
            "total_sessions": 1, "topic_code": topic, "plan_line_id": plan_line_id, "sessions": [],
            "participants": [{"civil_servant_id": cs, "commune_code": "CM-TRIPHAI", "sessions_attended": 1,
                              "days_attended": 1, "completed": True, "certified": True} for cs in trainees]},
            producer="courses")
        env = decode(body)

        def apply() -> int:
            with transaction(db.session_factory) as session:
                return usecases.record_course_completed(session, env)
        met, statements = statements_of(db.engine, apply)
        return met, len(statements)

    people = [str(uuid.uuid4()) for _ in range(41)]
    rows = [_need(cs, "KN-CNTT") for cs in people] + [_need(cs, "KN-KHAC") for cs in people] + \
        [_need(people[0], "KN-CNTT", plan_line_id="L-1"), _need(people[1], "KN-CNTT", status="met")]
    with transaction(db.session_factory) as session:
        session.execute(sa.insert(Need.__table__), rows)
    assert complete(people, None, topic=None) == (0, 0)  # no topic, no plan line, no need ids: not even a read
    small = complete(people[:2], "L-1")  # people[0] meets its plan line's need only; people[1] the topic's
    large = complete(people[1:] + people[1:3], None)  # 40, two named twice; people[1]'s topic need is met already
    assert small[0] == 2 and large[0] == 39, (small, large)
    # one SELECT of the open needs and one UPDATE (executemany) of those met, whatever the course's size
    assert small[1] == large[1] <= 2, (small, large)
    with transaction(db.session_factory) as session:
        met = dict(session.execute(sa.select(Need.topic_code, sa.func.count()).where(Need.status == "met")
                                   .group_by(Need.topic_code)).all())
        plan_need = session.scalar(sa.select(Need.status).where(Need.plan_line_id == "L-1"))
        zero_topic = session.scalar(sa.select(Need.status).where(Need.civil_servant_id == people[0],
                                                                 Need.topic_code == "KN-CNTT", Need.plan_line_id.is_(None)))
    assert met == {"KN-CNTT": 1 + 1 + 1 + 39}  # the plan line's, the one met before, people[1]'s, 39 of the 40
    assert (plan_need, zero_topic) == ("met", "open")
