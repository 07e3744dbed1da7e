"""Flask app factory of the evaluation service (gunicorn target: services.evaluation.app:create_app())."""
from flask import Flask

import services.evaluation
from services.evaluation import admin, api, handlers, web
from services.evaluation.models import INBOX_TABLE, JOBS_TABLE, OUTBOX
from services.evaluation.settings import get_settings
from services.evaluation.usecases.subject import subject_part
from shared import access_log, subject_report
from shared.admin import jobs_blueprint
from shared.config import Settings
from shared.web import create_service_app


def create_app(settings: Settings | None = None) -> Flask:
    """Build the evaluation web app: the JSON API, the operator endpoints and the trainees' HTML form."""
    app = create_service_app(
        settings or get_settings(), title="Evaluation", outbox=OUTBOX, inbox=INBOX_TABLE,
        handlers=handlers.HANDLERS,
        description=services.evaluation.__doc__,
        blueprints=[api.blp, subject_report.part_blueprint(subject_part)],
        admin_blueprints=[admin.blp, access_log.retention_admin_blueprint(),
                          jobs_blueprint(JOBS_TABLE, "/admin/evaluation")])
    app.register_blueprint(web.bp)
    return app
