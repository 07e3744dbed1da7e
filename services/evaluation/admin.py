"""Operator endpoints of the evaluation service: response progress per course."""
from __future__ import annotations

import sqlalchemy as sa
from flask_smorest import Blueprint

from services.evaluation.models import EvaluatedCourse, FeedbackRequest
from shared.web import check_bearer, ctx

blp = Blueprint("evaluation_admin", __name__, url_prefix="/admin/evaluation",
                description="Evaluation operator endpoints")


@blp.before_request
def _auth():
    check_bearer(ctx().settings.admin_token)


@blp.route("/progress")
@blp.doc(security=[{"bearerAuth": []}])
def progress():
    """Count requests and answers per course still collecting feedback."""
    r = FeedbackRequest
    with ctx().transaction() as session:
        rows = session.execute(
            sa.select(EvaluatedCourse.course_id, EvaluatedCourse.code, EvaluatedCourse.feedback_deadline,
                      sa.func.count(r.token), sa.func.count(r.submitted_at))
            .join(r, r.course_id == EvaluatedCourse.course_id, isouter=True)
            .group_by(EvaluatedCourse.course_id, EvaluatedCourse.code, EvaluatedCourse.feedback_deadline)
            .order_by(EvaluatedCourse.feedback_deadline.desc()).limit(200)).all()
    return {"items": [{"course_id": c, "code": code, "deadline": d.isoformat(), "requests": n, "answered": a}
                      for c, code, d, n, a in rows]}
