"""Operator endpoints of the evaluation service: response progress, running due jobs now, notification records
(listing and retrying jobs: shared.admin.jobs_blueprint, registered in app.py)."""
from __future__ import annotations

from services.evaluation import schemas, usecases
from services.evaluation.jobs import bound
from shared.admin import OPERATOR_DOC, operator_blueprint
from shared.web import ctx

blp = operator_blueprint("evaluation_admin", __name__, "/admin/evaluation", "Evaluation operator endpoints")


@blp.route("/progress")
@blp.response(200, schemas.ItemsSchema)
@blp.doc(**OPERATOR_DOC)
def progress():
    """Count requests and answers per course, with the window's state."""
    with ctx().transaction() as session:
        return {"items": usecases.list_progress(session)}


@blp.route("/jobs/run", methods=["POST"])
@blp.arguments(schemas.RunJobsCreateSchema)
@blp.response(200, schemas.RanSchema)
@blp.doc(**OPERATOR_DOC)
def run_jobs(args):
    """Run the due jobs now in this process (the worker's scheduler does this every second anyway)."""
    return {"ran": usecases.run_due_jobs(ctx().session_factory, bound(ctx().settings), limit=args["limit"])}


@blp.route("/notifications")
@blp.arguments(schemas.NotificationQueryArgsSchema, location="query")
@blp.response(200, schemas.ItemsSchema)
@blp.doc(**OPERATOR_DOC)
def notifications(args):
    """List notification records (what was sent to whom, by which link, until when)."""
    with ctx().transaction() as session:
        return {"items": usecases.list_notifications(session, args["course_id"], args["kind"], args["limit"])}
