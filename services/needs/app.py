"""Flask app factory of the needs service (gunicorn target: services.needs.app:create_app())."""
from datetime import datetime
from typing import Callable

from flask import Flask

import services.needs
from services.needs import admin, api, handlers
from services.needs.models import INBOX_TABLE, JOBS_TABLE, OUTBOX
from services.needs.settings import get_settings
from services.needs.usecases.subject import person_exists, subject_part
from shared import access_log, subject_report
from shared.admin import jobs_blueprint
from shared.auth import service_credentials
from shared.config import Settings
from shared.web import create_service_app


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None) -> Flask:
    """Build the needs web app (with the whole data-subject report: needs asks the three others for their parts)."""
    settings = settings or get_settings()
    credentials = service_credentials(settings, settings.oidc_client_id, settings.oidc_client_secret,
                                      settings.oidc_token_url)
    peers = subject_report.PeerClient(settings.peer_urls, credentials.bearer, settings.peer_timeout_seconds)
    return create_service_app(
        settings, title="Needs assessment", outbox=OUTBOX, inbox=INBOX_TABLE,
        handlers=handlers.HANDLERS,
        description=services.needs.__doc__,
        blueprints=[api.blp, subject_report.part_blueprint(subject_part),
                    subject_report.report_blueprint(subject_part, peers, person_exists)],
        admin_blueprints=[admin.blp, access_log.retention_admin_blueprint(),
                          jobs_blueprint(JOBS_TABLE, "/admin/needs")],
        clock=clock)
