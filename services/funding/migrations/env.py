"""Alembic environment of the funding service."""
from alembic import context

from services.funding.models import Base
from shared.migrate import run_env

run_env(context, Base.metadata)
