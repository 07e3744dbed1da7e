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
