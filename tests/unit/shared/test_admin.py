"""Operator endpoints that need no broker (SQLite app): pruning the outbox and the inbox."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from shared.db import utcnow
from tests.unit.apps import ADMIN_AUTH, build_app, sqlite_url


def test_inbox_prune_deletes_only_rows_older_than_the_window_and_refuses_a_window_under_30_days(tmp_path):
    app = build_app("courses", sqlite_url(tmp_path / "c.db"))
    inbox = app.extensions["service"].inbox
    now = utcnow()
    with app.extensions["service"].session_factory.begin() as s:
        s.execute(sa.insert(inbox), [
            {"consumer": "courses", "message_id": f"m{days}", "event_type": "x", "received_at": now - timedelta(days=days)}
            for days in (1, 89, 91, 400)])
    client = app.test_client()
    assert client.post("/admin/inbox/prune", json={"older_than_days": 29}, headers=ADMIN_AUTH).status_code == 422
    assert client.post("/admin/inbox/prune", json={}, headers={"Authorization": "Bearer t-api"}).status_code == 403
    assert client.post("/admin/inbox/prune", json={}, headers=ADMIN_AUTH).get_json() == {"deleted": 2}
    with app.extensions["service"].session_factory() as s:
        assert sorted(s.scalars(sa.select(inbox.c.message_id))) == ["m1", "m89"]


def test_plain_json_answers_show_dates_as_iso_8601_not_http_dates(tmp_path):
    from datetime import date, datetime, timezone

    from flask import jsonify

    app = build_app("needs", sqlite_url(tmp_path / "needs.db"), migrate=False)
    with app.app_context():
        body = jsonify({"day": date(2025, 7, 1), "at": datetime(2025, 7, 1, 1, 30, tzinfo=timezone.utc)}).get_json()
    assert body == {"day": "2025-07-01", "at": "2025-07-01T01:30:00+00:00"}
