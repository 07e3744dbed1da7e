"""Pooled PostgreSQL connections are pinged only after being idle (shared/db.py, issue 16): a connection whose server
side went away while it sat in the pool is replaced before the request uses it, and one used again at once is not
pinged — under load the ping was a round trip of its own on every checkout.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.db import make_engine
from tests.helpers import wait_until
from tools.isolation import PG_ADMIN_URL, create_pg_database, drop_pg_database


@pytest.fixture
def pg_url(postgres_available):
    url = create_pg_database("idle_ping")
    yield url
    drop_pg_database(url)


def _backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def _kill(pid: int) -> None:
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
            # the backend is gone once it no longer shows (pg_terminate_backend only signals it). Each poll is its
            # own statement in autocommit: pg_stat_activity is a snapshot kept for the whole transaction, so a loop
            # inside one statement (a DO block) would see the backend forever — it hung CI once.
            wait_until(lambda: not conn.execute(sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :p"),
                                                {"p": pid}).first(),
                       timeout=30, what=f"backend {pid} gone")
    finally:
        admin.dispose()


def _count_pings(engine) -> list[int]:
    """Count the dialect's pings on this engine (the real ping still runs)."""
    pings = []
    ping = engine.dialect.do_ping

    def counted(dbapi_conn):
        pings.append(1)
        return ping(dbapi_conn)
    engine.dialect.do_ping = counted
    return pings


def test_a_connection_dropped_while_idle_is_replaced_before_use(pg_url):
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_after_idle_s=0)  # every reuse counts as idle
    try:
        dead = _backend_pid(engine)
        _kill(dead)
        assert _backend_pid(engine) != dead  # pinged, found dead, replaced: the request saw no error
    finally:
        engine.dispose()


def test_a_connection_used_again_at_once_is_not_pinged(pg_url):
    for idle_s, expected in ((0, 3), (3600, 0)):
        engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_after_idle_s=idle_s)
        try:
            pings = _count_pings(engine)
            pids = {_backend_pid(engine) for _ in range(4)}  # a new connection (never pinged), then 3 reuses
            assert len(pids) == 1 and len(pings) == expected, (idle_s, len(pings))
        finally:
            engine.dispose()
    # and so a connection dropped meanwhile is not noticed before use: what the ping after idle is for
    engine = make_engine(pg_url, pool_size=1, max_overflow=0, ping_after_idle_s=3600)
    try:
        _kill(_backend_pid(engine))
        with pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    finally:
        engine.dispose()
