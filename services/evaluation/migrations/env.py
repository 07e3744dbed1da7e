"""Alembic environment of the evaluation service."""
from alembic import context

from services.evaluation.models import Base
from shared.migrate import run_env

run_env(context, Base.metadata)
