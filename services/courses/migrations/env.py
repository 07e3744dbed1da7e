"""Alembic environment of the courses service."""
from alembic import context

from services.courses.models import Base
from shared.migrate import run_env

run_env(context, Base.metadata)
