"""Operator endpoints of the evaluation service: response progress, running due jobs now, notification records
(listing and retrying jobs: shared.admin.jobs_blueprint, registered in app.py)."""
from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from services.evaluation import usecases
from services.evaluation.models import EvaluatedCourse, FeedbackRequest
from services.evaluation.jobs import bound
from shared.admin import operator_blueprint
from shared.web import ctx

blp = operator_blueprint("evaluation_admin", __name__, "/admin/evaluation", "Evaluation operator endpoints")


class NotificationArgs(Schema):
    course_id = fields.String(load_default=None)
    kind = fields.String(load_default=None)
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=2000))


class RunJobsSchema(Schema):
    limit = fields.Integer(load_default=100, strict=True, validate=validate.Range(min=1, max=1000))


def _iso(rows):
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]


@blp.route("/progress")
@blp.doc(security=[{"bearerAuth": []}])
def progress():
    """Count requests and answers per course, with the window's state."""
    r = FeedbackRequest
    with ctx().transaction() as session:
        rows = session.execute(
            sa.select(EvaluatedCourse.course_id, EvaluatedCourse.code, EvaluatedCourse.feedback_deadline,
                      EvaluatedCourse.status, sa.func.count(r.token), sa.func.count(r.submitted_at))
            .join(r, r.course_id == EvaluatedCourse.course_id, isouter=True)
            .group_by(EvaluatedCourse.course_id, EvaluatedCourse.code, EvaluatedCourse.feedback_deadline,
                      EvaluatedCourse.status)
            .order_by(EvaluatedCourse.feedback_deadline.desc()).limit(200)).all()
    return {"items": [{"course_id": c, "code": code, "deadline": d.isoformat(), "status": st, "requests": n,
                       "answered": a} for c, code, d, st, n, a in rows]}


@blp.route("/jobs/run", methods=["POST"])
@blp.arguments(RunJobsSchema)
@blp.doc(security=[{"bearerAuth": []}])
def run_jobs(args):
    """Run the due jobs now in this process (the worker's scheduler does this every second anyway)."""
    return {"ran": usecases.run_due_jobs(ctx().session_factory, bound(ctx().settings), limit=args["limit"])}


@blp.route("/notifications")
@blp.arguments(NotificationArgs, location="query")
@blp.doc(security=[{"bearerAuth": []}])
def notifications(args):
    """List notification records (what was sent to whom, by which link, until when)."""
    with ctx().transaction() as session:
        return {"items": _iso(usecases.list_notifications(session, args["course_id"], args["kind"], args["limit"]))}
