"""Alembic migrations per service: `python -m shared.migrate [service …]` upgrades each to head."""
from __future__ import annotations

import sys

from alembic import command
from alembic.config import Config

from shared.config import PROJECT_ROOT, SERVICES, load_settings


def alembic_config(service: str, url: str | None = None) -> Config:
    """Return the Alembic config of one service, pointed at its database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "services" / service / "migrations"))
    cfg.attributes["url"] = url or load_settings(service).database_url
    return cfg


def upgrade(service: str, url: str | None = None, revision: str = "head") -> None:
    """Bring one service's database to `revision`."""
    command.upgrade(alembic_config(service, url), revision)


def run_env(context, target_metadata) -> None:
    """Body of every service's migrations/env.py (online mode only: we always have the database)."""
    import sqlalchemy as sa
    from shared.db import make_engine

    url = context.config.attributes.get("url")
    connectable = context.config.attributes.get("connection")
    if connectable is None:
        engine = make_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as connection:
            _run(context, connection, target_metadata)
        engine.dispose()
    else:
        _run(context, connectable, target_metadata)


def _run(context, connection, target_metadata) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def main(argv: list[str]) -> int:
    for service in argv or SERVICES:
        upgrade(service)
        print(f"migrated {service}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
