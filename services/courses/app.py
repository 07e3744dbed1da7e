"""Flask app factory of the courses service (gunicorn target: services.courses.app:create_app())."""
from datetime import datetime
from typing import Callable

from flask import Flask

import services.courses
from services.courses import admin, api, handlers, web
from services.courses.models import INBOX_TABLE, OUTBOX
from services.courses.settings import get_settings
from services.courses.usecases.subject import subject_part
from shared import access_log, subject_report
from shared.config import Settings
from shared.web import create_service_app


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None) -> Flask:
    """Build the courses web app (JSON API and the check-in API, admin, the HTML check-in pages outside /api/v1);
    `clock` (default: the real UTC now) is the now of the check-in windows and reviews."""
    app = create_service_app(
        settings or get_settings(), title="Course scheduling", outbox=OUTBOX, inbox=INBOX_TABLE,
        handlers=handlers.HANDLERS,
        description=services.courses.__doc__,
        blueprints=[api.blp, subject_report.part_blueprint(subject_part), web.blp],
        admin_blueprints=[admin.blp, access_log.retention_admin_blueprint()], clock=clock)
    app.register_blueprint(web.pages)
    return app
