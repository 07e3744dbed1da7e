"""JSON columns written by the bulk (COPY) path read back as the values written, on SQLite and PostgreSQL.

Regression for issue 10 defect 1: the needs service encoded `reasons` itself and `shared.db.bulk_insert` encoded
it again on PostgreSQL, so GET /api/v1/needs returned one reason per character.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from services.needs import usecases
from services.needs.models import CivilServant, Need
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
    stored = db.rows(sa.select(Need.reasons))
    assert stored
    for (reasons,) in stored:
        assert isinstance(reasons, list) and reasons and all(isinstance(r, dict) for r in reasons), reasons
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
        usecases.seed_reference_data(session)
        usecases.seed_civil_servants(session, 1)
        cs_id = session.scalar(sa.select(CivilServant.id))
        rows = [{"id": f"n-{i}", "civil_servant_id": cs_id, "campaign_id": None, "year": 2026, "kind": "standard",
                 "topic_code": f"T{i}", "competency_code": None, "standard_code": None, "required_level": None,
                 "assessed_level": None, "gap": 0, "deadline": None, "priority_score": 1.0,
                 "reasons": shared if i % 2 else [], "status": "open", "unit_code": "TB-X-TRILUC",
                 "commune_code": "CM-TRIPHAI", "province_code": "CM", "position_code": "TPHT", "plan_line_id": None,
                 "met_by": None, "created_at": usecases.utcnow(), "met_at": None} for i in range(4)]
        bulk_insert(session, Need.__table__, rows)
    got = dict(db.rows(sa.select(Need.id, Need.reasons).where(Need.id.like("n-%"))))
    assert got == {"n-0": [], "n-1": shared, "n-2": [], "n-3": shared}
