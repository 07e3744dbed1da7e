"""JSON columns written by the bulk (COPY) path read back as the values written, on SQLite and PostgreSQL.

Regression for issue 10 defect 1: the needs service encoded `reasons` itself and `shared.db.bulk_insert` encoded
it again on PostgreSQL, so GET /api/v1/needs returned one reason per character.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.needs import usecases
from services.needs.models import Need, NeedReasonSet
from services.needs.usecases.subject import subject_part
from shared.db import bulk_insert, transaction
from tests.unit.apps import API_AUTH, build_app

pytestmark = [pytest.mark.postgres]


def test_needs_reasons_read_back_as_a_list_of_reasons_after_closing_a_campaign(service_db):
    db = service_db("needs")
    with transaction(db.session_factory) as session:
        usecases.seed_reference_data(session)
        usecases.seed_civil_servants(session, 30)
        campaign_id = usecases.seed_survey(session, 2026)["campaign_id"]
        usecases.close_campaign(session, campaign_id)
    # every need names a stored set of reasons (no foreign key: the close writes the sets first)
    stored = db.rows(sa.select(NeedReasonSet.reasons).select_from(Need).outerjoin(
        NeedReasonSet, NeedReasonSet.id == Need.reason_set_id))
    assert stored
    for (reasons,) in stored:
        assert isinstance(reasons, list) and reasons and all(isinstance(r, dict) for r in reasons), reasons
    named = db.rows(sa.select(sa.func.count(sa.distinct(Need.reason_set_id))))[0][0]
    assert named < len(stored)  # shared, not one per need
    app = build_app("needs", db.url, migrate=False)
    try:
        body = app.test_client().get("/api/v1/needs?page_size=5", headers=API_AUTH).get_json()
    finally:
        app.extensions["service"].engine.dispose()
    assert body["items"]
    for item in body["items"]:
        assert isinstance(item["reasons"], list) and all(isinstance(r, dict) for r in item["reasons"]), item


def test_bulk_insert_writes_each_json_value_once_even_when_rows_share_it(service_db):
    db = service_db("needs")
    shared = [{"code": "a", "note": "ổn"}]
    with transaction(db.session_factory) as session:
        rows = [{"id": i, "reasons": shared if i % 2 else []} for i in range(4)]
        bulk_insert(session, NeedReasonSet.__table__, rows)
    got = dict(db.rows(sa.select(NeedReasonSet.id, NeedReasonSet.reasons)))
    assert got == {0: [], 1: shared, 2: [], 3: shared}


def test_a_reason_set_id_holding_other_reasons_stops_the_close(service_db):
    """The set ids are hashes: should one already name other reasons (a collision, or a row changed by hand), the
    close refuses rather than lending its needs someone else's reasons."""
    db = service_db("needs")
    with transaction(db.session_factory) as session:
        usecases.seed_reference_data(session)
        usecases.seed_civil_servants(session, 20)
        campaign_id = usecases.seed_survey(session, 2026)["campaign_id"]
    with transaction(db.session_factory) as session:
        usecases.close_campaign(session, campaign_id)  # writes the sets
    with transaction(db.session_factory) as session:
        taken = session.scalar(sa.select(NeedReasonSet.id).limit(1))
        session.execute(sa.update(NeedReasonSet).where(NeedReasonSet.id == taken)
                        .values(reasons=[{"code": "other", "label": "khác", "points": 1.0}]))
        campaign_id = usecases.seed_survey(session, 2027)["campaign_id"]
    with pytest.raises(RuntimeError, match="hash collision"):
        with transaction(db.session_factory) as session:
            usecases.close_campaign(session, campaign_id)


def test_the_subject_report_shows_each_need_with_its_reasons(service_db):
    """needs' part of the data-subject report names no reason set: each need carries its reasons themselves."""
    db = service_db("needs")
    with transaction(db.session_factory) as session:
        usecases.seed_reference_data(session)
        usecases.seed_civil_servants(session, 20)
        usecases.close_campaign(session, usecases.seed_survey(session, 2026)["campaign_id"])
    person = db.rows(sa.select(Need.civil_servant_id).limit(1))[0][0]
    with transaction(db.session_factory) as session:
        needs = subject_part(session, person)["needs"]
        stored = {n.id: n.reasons for n in session.scalars(sa.select(Need).where(Need.civil_servant_id == person))}
    assert needs and all("reason_set_id" not in n for n in needs)
    assert {n["id"]: n["reasons"] for n in needs} == stored
    assert all(n["reasons"] for n in needs)
