"""The needs consumers against the real broker and a real database (SQLite and PostgreSQL): closing the loop."""
from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from services.needs import usecases
from services.needs.handlers import HANDLERS
from services.needs.models import INBOX_TABLE, CompetencyRecord, Need
from shared.db import transaction, utcnow
from shared.events import new_event
from tests.events import make_course_completed
from tests.helpers import wait_until
from tests.integration.conftest import RETRY_DELAYS_MS, declare_topology

pytestmark = [pytest.mark.broker, pytest.mark.postgres]


def surveyed(db) -> tuple[str, dict[str, str]]:
    """A seeded needs database with one civil servant whose closed survey left needs; returns (id, topic → need id)."""
    with transaction(db.session_factory) as session:
        usecases.seed_reference_data(session)
        cs, _ = usecases.register_civil_servant(session, {
            "code": f"T-{uuid.uuid4().hex[:6]}", "full_name": "Trần Thị Hà", "gender": "female", "birth_year": 1990,
            "ethnicity": "Kinh", "unit_code": "TB-X-TRILUC", "position_code": "TPHT", "llct_level": "none",
            "qlnn_level": "chuyen_vien", "degree_level": "bachelor"})
        campaign = usecases.open_campaign(session, {"year": 2026, "title": "Khảo sát", "unit_codes": ["CM-TRIPHAI"],
                                                    "deadline": date(2026, 4, 30)})
        usecases.submit_response(session, campaign.id, {"civil_servant_id": cs.id, "role": "supervisor",
                                                        "levels": {"CM01": 3, "CM06": 1, "CM03": 2}})
        usecases.close_campaign(session, campaign.id)
        needs = {n.topic_code: n.id for n in session.scalars(sa.select(Need).where(Need.civil_servant_id == cs.id))}
        return cs.id, needs


def status_of(db, need_id: str) -> str:
    return db.scalar(sa.select(Need.status).where(Need.id == need_id))


def course_completed(cs_id: str, *, topic: str, need_ids=(), certified=None):
    start = date(2026, 5, 4)
    _, _, payload = make_course_completed(
        code="K-1", title="Bồi dưỡng", organizer_unit_code="CM-TRIPHAI", start=start, days=2, total_sessions=2,
        topic_code=topic,
        sessions=[{"session_id": "s1", "date": start, "buoi": "morning", "lecturer_id": "L-1", "lecturer_tier": 2}],
        participants=[{"civil_servant_id": cs_id, "commune_code": "CM-TRIPHAI", "sessions_attended": 2,
                       "days_attended": 2, "completed": True, "certified": certified, "need_ids": list(need_ids)}])
    return new_event("courses.course_completed", payload, producer="courses")


def course_evaluated(cs_id: str, levels: dict[str, int], at):
    return new_event("evaluation.course_evaluated", {
        "course_id": str(uuid.uuid4()), "evaluated_at": at, "request_count": 1, "valid_responses": 1,
        "response_rate": 1.0, "general_index": 8.2, "band": "excellent",
        "assessed_levels": [{"civil_servant_id": cs_id, "competency_code": c, "level": v} for c, v in levels.items()]},
        producer="evaluation")


@pytest.fixture
def needs_consumer(bus, broker, service_db, run_consumer):
    """A needs database and the real needs consumer on the real broker (in a thread)."""
    db = service_db("needs")
    settings = bus.settings("needs", database_url=db.url, retry_delays_ms=RETRY_DELAYS_MS)
    declare_topology(settings, HANDLERS)
    consumer = run_consumer(settings, db.session_factory, INBOX_TABLE, HANDLERS)
    return db, consumer, settings


def test_course_completed_marks_the_named_need_met_once_even_when_delivered_twice(needs_consumer, broker):
    db, consumer, settings = needs_consumer
    cs_id, needs = surveyed(db)
    env, body = course_completed(cs_id, topic="LLCT-SOCAP", need_ids=[needs["LLCT-SOCAP"]])
    broker.publish_event(env, body, copies=2)
    wait_until(lambda: status_of(db, needs["LLCT-SOCAP"]) == "met", timeout=20, what="the LLCT need met")
    wait_until(lambda: consumer.processed >= 2, timeout=20, what="both copies processed")
    assert status_of(db, needs["KN-CNTT"]) == "open"
    assert db.count(INBOX_TABLE) == 1
    assert broker.depth(settings.dead_letter_queue) == 0


def test_course_completed_without_need_ids_matches_by_topic_and_skips_the_uncertified(needs_consumer, broker):
    db, consumer, _ = needs_consumer
    cs_id, needs = surveyed(db)
    broker.publish_event(*course_completed(cs_id, topic="KN-VANBAN", certified=False))
    broker.publish_event(*course_completed(cs_id, topic="KN-CNTT"))
    wait_until(lambda: status_of(db, needs["KN-CNTT"]) == "met", timeout=20, what="the IT need met by topic")
    wait_until(lambda: consumer.processed >= 2, timeout=20, what="both events processed")
    assert status_of(db, needs["KN-VANBAN"]) == "open"


def test_course_evaluated_appends_levels_and_a_late_older_evaluation_does_not_become_current(needs_consumer, broker):
    db, consumer, _ = needs_consumer
    cs_id, needs = surveyed(db)
    newer, older = utcnow() + timedelta(days=60), utcnow() + timedelta(days=30)
    broker.publish_event(*course_evaluated(cs_id, {"CM06": 3}, newer))
    broker.publish_event(*course_evaluated(cs_id, {"CM06": 2}, older))
    wait_until(lambda: consumer.processed >= 2, timeout=20, what="both evaluations processed")
    rows = db.rows(sa.select(CompetencyRecord.level, CompetencyRecord.source)
                   .where(CompetencyRecord.civil_servant_id == cs_id, CompetencyRecord.competency_code == "CM06")
                   .order_by(CompetencyRecord.assessed_at))
    assert [tuple(r) for r in rows] == [(2, "evaluation"), (3, "evaluation")]  # stored: evaluation's levels
    with transaction(db.session_factory) as session:  # the record: the closed survey's level first, then those
        history = usecases.competency_history(session, cs_id)
    assert [(r.level, r.source) for r in history if r.competency_code == "CM06"] == [
        (1, "survey"), (2, "evaluation"), (3, "evaluation")]
    assert status_of(db, needs["KN-CNTT"]) == "open"  # a level is not training: only a certificate meets a need


def test_a_feedback_notice_delivered_twice_and_republished_claims_one_delivery(needs_consumer, broker):
    """Issue 13 through the real consumer: the same notice twice (a redelivery: the inbox drops it) and once more
    under a new event id (a replay: the deliveries key drops it) leave one delivery and one send job."""
    from services.needs.models import DELIVERY_JOBS, Delivery
    db, consumer, settings = needs_consumer
    cs_id, _ = surveyed(db)
    payload = {"course_id": "c-broker", "course_code": "K-1", "course_title": "Bồi dưỡng", "civil_servant_id": cs_id,
               "link": "http://127.0.0.1:8003/feedback/tok", "deadline": utcnow() + timedelta(days=7)}
    # v1 (one trainee a message), as a producer not yet upgraded sends it: still read (v2 names several trainees)
    env, body = new_event("evaluation.trainee_feedback_requested", payload, producer="evaluation", version=1)
    broker.publish_event(env, body, copies=2)
    broker.publish_event(*new_event("evaluation.trainee_feedback_requested", payload, producer="evaluation",
                                    version=1))
    wait_until(lambda: consumer.processed >= 3, timeout=20, what="the three copies processed")
    assert db.count(Delivery.__table__) == 1 and db.count(DELIVERY_JOBS) == 1
    assert db.count(INBOX_TABLE) == 2  # two event ids
    assert broker.depth(settings.dead_letter_queue) == 0
