"""Operator endpoints of the evaluation service: response progress per course."""
from __future__ import annotations

import sqlalchemy as sa

from services.evaluation.models import EvaluatedCourse, FeedbackRequest
from shared.admin import operator_blueprint
from shared.web import ctx

blp = operator_blueprint("evaluation_admin", __name__, "/admin/evaluation", "Evaluation operator endpoints")


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
