"""Flask app factory of the funding service (gunicorn target: services.funding.app:create_app())."""
from flask import Flask

import services.funding
from services.funding import admin, api, handlers
from services.funding.models import INBOX_TABLE, OUTBOX
from services.funding.settings import get_settings
from services.funding.usecases.subject import subject_part
from shared import access_log, subject_report
from shared.config import Settings
from shared.web import create_service_app


def create_app(settings: Settings | None = None) -> Flask:
    """Build the funding web app."""
    return create_service_app(
        settings or get_settings(), title="Funding", outbox=OUTBOX, inbox=INBOX_TABLE,
        handlers=handlers.HANDLERS,
        description=services.funding.__doc__,
        blueprints=[api.blp, subject_report.part_blueprint(subject_part)],
        admin_blueprints=[admin.blp, access_log.retention_admin_blueprint()])
