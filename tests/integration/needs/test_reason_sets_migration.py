"""Migration 0011 moves each need's stored reasons into need_reason_sets, one row per distinct set, named by the same
content hash the close uses; the downgrade writes them back into each need."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import command

from services.needs.usecases.gaps import reason_set_id
from shared.migrate import alembic_config, upgrade
from tests.helpers import query_rows

GAP = [{"code": "gap", "label": "Thiếu hụt 2 mức năng lực so với yêu cầu vị trí", "points": 20.0}]
MINORITY = GAP + [{"code": "ethnic_minority", "label": "Công chức là người dân tộc thiểu số", "points": 10.0}]
STORED = {"n-1": GAP, "n-2": MINORITY, "n-3": GAP, "n-4": []}


def _seed_0010(url: str) -> None:
    engine = sa.create_engine(url)
    needs = sa.Table("needs", sa.MetaData(), autoload_with=engine)
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(needs.insert(), [
            {"id": nid, "civil_servant_id": "cs-1", "campaign_id": "c-1", "year": 2026, "kind": "competency_gap",
             "topic_code": f"T{i}", "gap": 2, "priority_score": 20.0, "reasons": reasons, "status": "open",
             "unit_code": "U1", "commune_code": "U1", "province_code": "CM", "position_code": "VHXH",
             "created_at": now} for i, (nid, reasons) in enumerate(STORED.items())])
    engine.dispose()


def test_reasons_move_into_shared_sets_and_back(db_url_factory):
    url = db_url_factory("mig_reason_sets")
    upgrade("needs", url, "0010")
    _seed_0010(url)
    upgrade("needs", url, "0011")
    sets = {i: r for i, r in query_rows(url, "SELECT id, CAST(reasons AS TEXT) FROM need_reason_sets")}
    assert sorted(sets) == sorted({reason_set_id(r) for r in STORED.values()})  # the close's own ids: 3 sets
    named = dict(query_rows(url, "SELECT id, reason_set_id FROM needs"))
    assert {nid: reason_set_id(r) for nid, r in STORED.items()} == named
    command.downgrade(alembic_config("needs", url), "0010")
    back = {nid: json.loads(text) for nid, text in query_rows(url, "SELECT id, CAST(reasons AS TEXT) FROM needs")}
    assert back == STORED
