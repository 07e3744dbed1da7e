"""Operator endpoints of the evaluation service: response progress, scheduled jobs, notification records."""
from __future__ import annotations

import sqlalchemy as sa
from marshmallow import Schema, fields, validate

from services.evaluation import usecases
from services.evaluation.models import EvaluatedCourse, FeedbackRequest
from services.evaluation.scheduler import run_due_jobs
from shared.admin import operator_blueprint
from shared.web import ctx

blp = operator_blueprint("evaluation_admin", __name__, "/admin/evaluation", "Evaluation operator endpoints")


class JobArgs(Schema):
    status = fields.String(load_default=None, validate=validate.OneOf(["pending", "done", "failed"]))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=2000))


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


@blp.route("/jobs")
@blp.arguments(JobArgs, location="query")
@blp.doc(security=[{"bearerAuth": []}])
def jobs(args):
    """List scheduled jobs (reminders, closing, follow-up), due first, with failures."""
    with ctx().transaction() as session:
        return {"items": _iso(usecases.list_jobs(session, args["status"], args["limit"]))}


@blp.route("/jobs/run", methods=["POST"])
@blp.arguments(RunJobsSchema)
@blp.doc(security=[{"bearerAuth": []}])
def run_jobs(args):
    """Run the due jobs now in this process (the worker's scheduler does this every second anyway)."""
    return {"ran": run_due_jobs(ctx().session_factory, ctx().settings.feedback_base_url, limit=args["limit"])}


@blp.route("/jobs/<job_id>/retry", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
def retry_job(job_id):
    """Make a failed or pending job due now."""
    with ctx().transaction() as session:
        return usecases.retry_job(session, job_id)


@blp.route("/notifications")
@blp.arguments(NotificationArgs, location="query")
@blp.doc(security=[{"bearerAuth": []}])
def notifications(args):
    """List notification records (what was sent to whom, by which link, until when)."""
    with ctx().transaction() as session:
        return {"items": _iso(usecases.list_notifications(session, args["course_id"], args["kind"], args["limit"]))}
