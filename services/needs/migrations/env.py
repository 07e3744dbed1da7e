"""Alembic environment of the needs service."""
from alembic import context

from services.needs.models import Base
from shared.migrate import run_env

run_env(context, Base.metadata)
