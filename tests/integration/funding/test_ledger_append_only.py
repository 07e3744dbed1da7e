"""The ledger is append-only in the database itself: UPDATE and DELETE of an entry are refused on both engines."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from services.funding.models import Base, LedgerEntry
from shared.db import make_engine, make_session_factory, transaction
from shared.migrate import upgrade


def _entry() -> dict:
    return {"journal_id": "j-1", "account": "budget:1", "debit": 0, "credit": 150_000, "course_id": None,
            "cause": "request:test", "reverses": None, "memo": "thử", "created_at": datetime.now(timezone.utc)}


def _assert_append_only(engine: sa.Engine) -> None:
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        s.execute(sa.insert(LedgerEntry), [_entry()])
    for change in (sa.update(LedgerEntry).values(credit=1), sa.delete(LedgerEntry)):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with transaction(factory) as s:
                s.execute(change)
    with factory() as s:  # the entry is still there, unchanged
        assert s.scalars(sa.select(LedgerEntry.credit)).all() == [150_000]


def test_sqlite_schema_from_the_models_refuses_changing_or_deleting_a_ledger_entry(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'funding.db'}")
    Base.metadata.create_all(engine)
    _assert_append_only(engine)
    engine.dispose()


@pytest.mark.postgres
def test_postgres_schema_from_the_migrations_refuses_changing_or_deleting_a_ledger_entry(pg_url_factory):
    url = pg_url_factory("fund_ledger")
    upgrade("funding", url)
    engine = make_engine(url)
    _assert_append_only(engine)
    engine.dispose()
