"""Each service's Alembic history builds exactly the schema its models describe, on SQLite and PostgreSQL."""
from __future__ import annotations

import importlib

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.config import SERVICES
from shared.migrate import alembic_config, upgrade


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_at_head_match_the_models_and_downgrade_to_nothing(service, db_url_factory):
    url = db_url_factory(f"mig_{service}")
    upgrade(service, url)
    metadata = importlib.import_module(f"services.{service}.models").Base.metadata
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == [], f"models and migrations of {service} differ: {diff}"

    upgrade(service, url)  # running it again is a no-op
    command.downgrade(alembic_config(service, url), "base")
    with engine.connect() as conn:
        left = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert left == set()


@pytest.mark.parametrize("service", SERVICES)
def test_outbox_bodies_are_compressed_with_lz4_on_postgresql(service, db_url_factory):
    """Issue 16: a large event body (above the TOAST threshold) is compressed by LZ4, not pglz; SQLite has nothing
    to set."""
    url = db_url_factory(f"mig_lz4_{service}")
    upgrade(service, url)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            if conn.dialect.name != "postgresql":
                return
            if not conn.scalar(sa.text("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                                       "WHERE name = 'default_toast_compression'")):
                pytest.skip("this PostgreSQL is built without LZ4")
            assert conn.scalar(sa.text("SELECT attcompression FROM pg_attribute WHERE attrelid = 'outbox'::regclass "
                                       "AND attname = 'body'")) == "l"
            big = "x" * 3000 + "".join(f"{i:05d}" for i in range(2000))  # above the threshold, compressible
            conn.execute(sa.text("INSERT INTO outbox (message_id, event_type, routing_key, body, created_at, attempts) "
                                 "VALUES ('m-1', 't', 'r', :b, now(), 0)"), {"b": big})
            assert conn.scalar(sa.text("SELECT pg_column_compression(body) FROM outbox")) == "lz4"
    finally:
        engine.dispose()
