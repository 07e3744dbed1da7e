"""Flask app factory of the needs service (gunicorn target: services.needs.app:create_app())."""
from datetime import datetime
from typing import Callable

from flask import Flask

import services.needs
from services.needs import admin, api, handlers
from services.needs.models import INBOX_TABLE, JOBS_TABLE, OUTBOX
from services.needs.settings import get_settings
from shared.admin import jobs_blueprint
from shared.config import Settings
from shared.web import create_service_app


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None) -> Flask:
    """Build the needs web app."""
    return create_service_app(
        settings or get_settings(), title="Needs assessment", outbox=OUTBOX, inbox=INBOX_TABLE,
        handlers=handlers.HANDLERS,
        description=services.needs.__doc__,
        blueprints=[api.blp], admin_blueprints=[admin.blp, jobs_blueprint(JOBS_TABLE, "/admin/needs")],
        clock=clock)
